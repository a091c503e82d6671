"""`cep run --watch` end to end: a real process reading standard input while its rule
file is edited. An edit that checks cleanly replaces the rules between batches and the
unchanged rules keep their state (a three-event pattern started before the edit
completes after it); a broken edit is reported and changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

RULES = """event E { v: int, k: str }
rule three { partition by k pattern a = E[v == 1] -> b = E[v == 2] -> c = E[v == 3] within 1h }
rule marker { partition by k pattern m = E[v == 9] }
"""


def _event(ts: int, v: int, k: str = "u") -> bytes:
    return (json.dumps({"type": "E", "ts": ts, "v": v, "k": k}) + "\n").encode()


def _edit(path: Path, text: str) -> None:
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))  # a visibly later change


def _wait_for(path: Path, count: int, process: subprocess.Popen) -> list[dict]:
    """The output's reports once it holds `count` of them (the run flushes each batch
    it reads from standard input)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            return [json.loads(line) for line in lines]
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        time.sleep(0.05)
    raise AssertionError(f"no {count} reports in {path}")


@pytest.mark.parametrize("engine", ["interpreter", "auto"])
def test_an_edit_keeps_the_state_of_the_rules_it_did_not_change(
    tmp_path: Path, engine: str
) -> None:
    rules = tmp_path / "rules.cep"
    rules.write_text(RULES)
    output = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "cep.cli", "run", str(rules), "--watch", "--engine", engine,
         "--output", str(output)],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stderr is not None
    try:
        # a run of `three` starts (1, 2); the marker shows the run has read them
        process.stdin.write(_event(1, 1) + _event(2, 2) + _event(3, 9))
        process.stdin.flush()
        assert [r["rule"] for r in _wait_for(output, 1, process)] == ["marker"]
        # the marker rule changes (9 becomes 8): `three` is untouched
        _edit(rules, RULES.replace("v == 9", "v == 8"))
        time.sleep(1.2)  # (rule files are looked at once a second at most)
        process.stdin.write(_event(4, 9) + _event(5, 8))
        process.stdin.flush()
        assert [r["rule"] for r in _wait_for(output, 2, process)] == ["marker"] * 2
        # a broken edit: reported, the rules in use go on
        _edit(rules, RULES.replace("v == 9", "v == "))
        time.sleep(1.2)
        process.stdin.write(_event(6, 8) + _event(7, 3))
        process.stdin.close()
        assert process.wait(timeout=60) == 0
        errors = process.stderr.read().decode()
    finally:
        process.kill()
    reports = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(r["rule"], r["ts"]) for r in reports] == [
        ("marker", 3), ("marker", 5), ("marker", 6), ("three", 7),
    ]  # fmt: skip
    assert "rules reloaded" in errors and "kept state: three" in errors
    assert "changed, started empty: marker" in errors
    assert "error" in errors and "the rules in use go on" in errors
    assert errors.count("rules reloaded") == 1


def test_watch_and_trace_do_not_go_together(tmp_path: Path) -> None:
    rules = tmp_path / "rules.cep"
    rules.write_text(RULES)
    done = subprocess.run(
        [sys.executable, "-m", "cep.cli", "run", str(rules), "--watch", "--trace", "three",
         "--input", os.devnull],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "--trace" in done.stderr and "Traceback" not in done.stderr


def test_new_rules_that_read_other_fields_read_the_file_again_from_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reload whose rules need columns the reader was not asked for: the input file
    is opened again at the position of the last batch fed, for the new engine."""
    from cep.cli import main
    from cep.lang.checker import check_sources
    from cep.service import watch

    rules = tmp_path / "rules.cep"
    rules.write_text(RULES)
    feed = tmp_path / "in.jsonl"
    feed.write_bytes(b"".join(
        json.dumps({"type": "E", "ts": t, "v": v, "k": "u", "w": w}).encode() + b"\n"
        for t, v, w in ((1, 1, "x"), (2, 9, "x"), (3, 2, "y"), (4, 3, "y"))
    ))  # fmt: skip
    edited = RULES.replace(
        "rule marker { partition by k pattern m = E[v == 9] }",
        'rule marker { partition by k pattern m = E[w == "y"] }',
    )
    edited = edited.replace("event E { v: int, k: str }", "event E { v: int, k: str, w: str }")
    checked = check_sources({str(rules): edited})
    from cep.api import load_rules

    calls = []

    def poll(self: watch.RuleWatcher, now: bool = False) -> watch.Reload | None:
        calls.append(1)
        return watch.Reload(checked, load_rules(checked)) if len(calls) == 1 else None

    monkeypatch.setattr(watch.RuleWatcher, "poll", poll)
    output = tmp_path / "out.jsonl"
    status = main(["run", str(rules), "--watch", "--engine", "fast", "--input", str(feed),
                   "--output", str(output)])  # fmt: skip
    assert status == 0, capsys.readouterr().err
    reports = [json.loads(line) for line in output.read_text().splitlines()]
    assert [(r["rule"], r["ts"]) for r in reports] == [("marker", 3), ("three", 4), ("marker", 4)]
    assert "rules reloaded (fast)" in capsys.readouterr().err
