"""A first run waits for no compiler: `cep run` (`--engine auto` by default) on a machine
whose numba cache holds no fast path starts a background compile, runs on the
interpreter meanwhile, and moves to the fast path when the compile is done, with the
reports of one engine from start to end. Timing-free: what ran and what was printed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cep.cli import main
from cep.fast import cache, warmup
from cep.service import promote

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules" / "payments.cep")
FEED = str(ROOT / "examples" / "payments.jsonl")


def _values(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


class ColdCache:
    """numba's cache as a first run meets it: no kernel; a background compile that
    reports itself done after `polls` looks (or never)."""

    def __init__(self, monkeypatch, polls: int | None) -> None:
        self.started: list[tuple] = []
        self.polls, self.looks = polls, 0
        monkeypatch.setattr(cache, "kernel_cached", self.kernel_cached)
        monkeypatch.setattr(warmup, "compiling", self.compiling)
        monkeypatch.setattr(warmup, "start_background_compile", self.start)
        monkeypatch.setattr(promote, "CHECK_EVERY_S", 0.0)

    def start(self, *args: object) -> bool:
        self.started.append(args)
        return True

    def compiling(self) -> bool:
        if not self.started:
            return False
        self.looks += 1
        return self.polls is None or self.looks <= self.polls

    def kernel_cached(self) -> bool:
        return bool(self.started) and self.polls is not None and self.looks > self.polls


def _run(tmp_path: Path, name: str, *extra: str) -> tuple[int, str, str]:
    out = tmp_path / f"{name}.jsonl"
    rejects = tmp_path / f"{name}.rejects"
    code = main(["run", RULES, "--input", FEED, "--output", str(out), "--rejects",
                 str(rejects), "--flush", *extra])  # fmt: skip
    return code, out.read_text(), rejects.read_text()


def _interpreted(tmp_path: Path, capsys) -> tuple[list[dict], str, str]:
    code, out, rejects = _run(tmp_path, "interpreter", "--engine", "interpreter")
    assert code == 0
    return _values(out), rejects, capsys.readouterr().err


@pytest.mark.parametrize("polls", [1, 4])
def test_a_first_run_moves_to_the_fast_path_when_the_compile_is_done(
    tmp_path: Path, capsys, monkeypatch, polls: int
) -> None:
    expected, expected_rejects, expected_err = _interpreted(tmp_path, capsys)
    cold = ColdCache(monkeypatch, polls)
    # checkpoints every 1,000 records make batches of 1,024: the move happens mid-run
    code, out, rejects = _run(tmp_path, "first", "--checkpoint", str(tmp_path / "state"),
                              "--checkpoint-every", "1000")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    sample = {"input": FEED, "time_unit": "ms", "allowed_delay_ms": 0}
    assert cold.started == [([RULES], None, "jsonl", "type", "ts", sample)]
    lines = err.splitlines()
    assert lines[0].startswith("cep run: compiling the fast path in the background")
    assert "moves to it when it is ready" in lines[0]
    assert lines[1] == "cep run: the fast path is compiled; the run goes on with it"
    assert _values(out) == expected and rejects == expected_rejects
    assert "\n".join(lines[2:]) + "\n" == expected_err  # (the summary)


def test_a_first_run_stays_on_the_interpreter_while_the_compile_goes_on(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    expected, _, _ = _interpreted(tmp_path, capsys)
    ColdCache(monkeypatch, None)
    code, out, _ = _run(tmp_path, "first", "--quiet")
    assert code == 0
    assert capsys.readouterr().err == ""  # (--quiet: not even the line about compiling)
    assert _values(out) == expected


def test_after_the_background_compile_a_run_compiles_nothing(tmp_path: Path) -> None:
    """In an empty cache: the background compile (kernel, readers, and the rules over
    the input's first records, which reach reports and real partition keys) leaves
    nothing for the run after it to compile (numba says when it saves new code)."""
    env = {**os.environ, "CEP_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_CACHE_DIR": ""}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    job = {"paths": [RULES], "rules": None, "format": "jsonl", "type_field": "type",
           "time_field": "ts", "background": True, "sample": {"input": FEED}}  # fmt: skip
    compile_all = subprocess.run(
        [sys.executable, "-m", "cep.fast.warmup", json.dumps(job)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert compile_all.returncode == 0, compile_all.stderr
    done = subprocess.run(
        [sys.executable, "-m", "cep", "run", RULES, "--input", FEED, "--output",
         str(tmp_path / "out.jsonl")],
        capture_output=True, text=True, env={**env, "NUMBA_DEBUG_CACHE": "1"}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "compiling the fast path" not in done.stderr  # (it ran on the fast path)
    assert "data saved" not in done.stdout + done.stderr  # (and compiled nothing)
    assert "data loaded" in done.stdout + done.stderr


def test_a_first_run_on_standard_input_stays_on_the_interpreter(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    expected, _, _ = _interpreted(tmp_path, capsys)
    cold = ColdCache(monkeypatch, 0)
    with open(FEED, encoding="utf-8") as feed:
        monkeypatch.setattr(sys, "stdin", feed)
        code = main(["run", RULES, "--input", "-", "--output", str(tmp_path / "o"), "--flush"])
    err = capsys.readouterr().err
    assert code == 0 and cold.started
    assert "this run reads standard input on the interpreter" in err.splitlines()[0]
    assert "goes on with it" not in err
    assert _values((tmp_path / "o").read_text()) == expected


def test_a_run_with_the_fast_path_compiled_starts_no_compile(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    started: list[tuple] = []
    monkeypatch.setattr(cache, "kernel_cached", lambda: True)
    monkeypatch.setattr(warmup, "compiling", lambda: False)
    monkeypatch.setattr(warmup, "start_background_compile", lambda *a: started.append(a))
    code, _, _ = _run(tmp_path, "warm")
    assert code == 0 and not started
    assert "compiling" not in capsys.readouterr().err


def test_the_background_compile_is_a_real_detached_process(tmp_path: Path) -> None:
    """With an empty cache folder: the run finishes on the interpreter at once, leaving a
    detached process compiling under a lock (stopped here: the rest of the suite
    compiles the same code in its own cache)."""
    env = {**os.environ, "CEP_CACHE_DIR": str(tmp_path / "cache"), "NUMBA_CACHE_DIR": ""}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "cep", "run", RULES, "--input", FEED, "--output",
         str(tmp_path / "out.jsonl")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "compiling the fast path in the background" in done.stderr
    locks = list((tmp_path / "cache").glob("numba-*/compiling.lock"))
    deadline = time.monotonic() + 30
    while not locks and time.monotonic() < deadline:  # (the process takes the lock)
        time.sleep(0.2)
        locks = list((tmp_path / "cache").glob("numba-*/compiling.lock"))
    assert len(locks) == 1
    pid = int(locks[0].read_text())
    os.kill(pid, 0)  # alive
    assert os.getsid(pid) != os.getsid(0)  # detached: a Ctrl-C of the run leaves it
    os.killpg(os.getsid(pid), signal.SIGKILL)
    assert len(_values((tmp_path / "out.jsonl").read_text())) == 25
