"""`--follow`: a file read on as it grows and across rotation, as `tail -F` reads it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cep.io.columnar import read_jsonl_batches
from cep.io.follow import Followed, follow_lines
from cep.service.positions import input_identity
from tests.checkpoints import cep_run, environment

T0 = 1_700_000_000_000
RULES = """
event Order { order: str }
event Shipment { order: str }
rule shipped { partition by order  pattern o = Order -> s = Shipment  within 1m }
"""


def _event(kind: str, name: str, at: int) -> str:
    return json.dumps({"type": kind, "ts": T0 + at, "order": name}) + "\n"


def _batches(path: Path) -> tuple[Followed, Iterator[Any]]:
    followed = Followed(str(path), interval=0.001)
    return followed, read_jsonl_batches(followed, poll=0.0)


def _orders(batch: Any) -> list[str]:
    return [json.loads(batch.text(i))["order"] for i in range(len(batch))]


def _read(batches: Iterator[Any], polls: int = 3, lines: list[int] | None = None) -> list[str]:
    """The orders of what the next batches hold, until `polls` empty ones in a row (their
    line numbers added to `lines`)."""
    found: list[str] = []
    empty = 0
    while empty < polls:
        batch = next(batches)
        empty = 0 if len(batch) else empty + 1
        found += _orders(batch)
        if lines is not None:
            lines += batch.line.tolist()
    return found


def test_appended_lines_are_read_and_a_partial_line_waits(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_event("Order", "a", 0))
    followed, batches = _batches(path)
    with followed:
        assert _read(batches) == ["a"]
        line = _event("Order", "b", 1)
        with path.open("a") as out:
            out.write(line[:10])
        assert _read(batches) == []  # (no newline yet: not a line)
        with path.open("a") as out:
            out.write(line[10:] + _event("Order", "c", 2))
        assert _read(batches) == ["b", "c"]


def test_rotation_reads_the_old_file_to_its_end_then_the_new(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_event("Order", "a", 0))
    followed, batches = _batches(path)
    with followed:
        assert _read(batches) == ["a"]
        os.rename(path, tmp_path / "in.jsonl.1")
        with (tmp_path / "in.jsonl.1").open("a") as old:  # (written after the rename)
            old.write(_event("Order", "b", 1) + _event("Order", "c", 2).rstrip("\n"))
        path.write_text(_event("Order", "d", 3))
        lines: list[int] = []
        assert _read(batches, 20, lines) == ["b", "c", "d"]  # (c, unfinished, ends there)
        assert lines == [2, 3, 4]  # (lines numbered on across files)
        assert followed.identity() == input_identity(str(path))


def test_truncation_reads_the_file_again_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_event("Order", "a", 0) + _event("Order", "b", 1))
    followed, batches = _batches(path)
    with followed:
        assert _read(batches) == ["a", "b"]
        with path.open("w") as out:  # (copytruncate: cut to nothing, then written on)
            out.write(_event("Order", "c", 2))
        assert _read(batches) == ["c"]


def test_positions_are_the_current_file_s(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    first = _event("Order", "a", 0)
    path.write_text(first)
    followed, batches = _batches(path)
    with followed:
        batch = next(batches)
        assert batch.position == (len(first), 2)
        os.rename(path, tmp_path / "old.jsonl")
        second = _event("Order", "b", 1)
        path.write_text(second)
        while (batch := next(batches)) is not None and not len(batch):
            pass
        assert batch.position == (len(second), 3)


def test_follow_lines_for_python(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("one\ntwo\n")
    lines = follow_lines(str(path), poll=0.0)
    assert next(lines) == [b"one", b"two"]
    assert next(lines) == []
    with path.open("a") as out:
        out.write("three\n")
    assert next(lines) == [b"three"]
    lines.close()


# ------------------------------------------------------------------ the command line


def _wait_for(check: Callable[[], bool], what: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _reports(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_followed_run_is_stopped_and_resumed(tmp_path: Path) -> None:
    rules = tmp_path / "r.cep"
    rules.write_text(RULES)
    feed, out, folder = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "ck"
    feed.write_text(_event("Order", "a", 0) + _event("Shipment", "a", 1))
    command = cep_run(str(rules), "--follow", "--input", str(feed), "--output", str(out),
                      "--checkpoint", str(folder), "--checkpoint-every", "1",
                      "--engine", "interpreter")  # fmt: skip

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, stderr=subprocess.PIPE, env=environment())

    process = start()
    _wait_for(lambda: len(_reports(out)) == 1, "the first match")
    with feed.open("a") as more:
        more.write(_event("Order", "b", 2))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert process.stderr is not None
    stopped = process.stderr.read().decode()
    assert "stopped by SIGTERM" in stopped and "run the same command to resume" in stopped
    with feed.open("a") as more:  # (written while the run was stopped)
        more.write(_event("Shipment", "b", 3))
    process = start()
    _wait_for(lambda: len(_reports(out)) == 2, "the match across the stop")
    os.rename(feed, tmp_path / "in.jsonl.1")
    feed.write_text(_event("Order", "c", 4) + _event("Shipment", "c", 5))
    _wait_for(lambda: len(_reports(out)) == 3, "the match in the new file")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert [r["key"]["order"] for r in _reports(out)] == ["a", "b", "c"]
    with feed.open("a") as more:  # (a resume after the rotation reads the new file on)
        more.write(_event("Order", "d", 6) + _event("Shipment", "d", 7))
    process = start()
    _wait_for(lambda: len(_reports(out)) == 4, "the match after the rotation")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert [r["key"]["order"] for r in _reports(out)] == ["a", "b", "c", "d"]
