"""Crash tests of `cep run --checkpoint`: a run killed at random moments (SIGKILL, a
checkpoint write included) or stopped (SIGTERM), and started again each time with the
same command, ends with the output, rejects and summary of a run never interrupted."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.checkpoints import (
    PAYMENTS,
    cep_run,
    interrupted,
    new_checkpoint,
    payments_feed,
    run,
    same_lines,
    start,
    summary_of,
)


@pytest.fixture(scope="session")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated feed of 1M payments, its first 8,000 lines, and those shuffled a
    little in time (for --allowed-delay)."""
    folder = tmp_path_factory.mktemp("feeds")
    big = payments_feed(1_000_000, folder)
    lines = big.read_bytes().splitlines(keepends=True)
    small = folder / "small.jsonl"
    small.write_bytes(b"".join(lines[:8_000]))
    rng = random.Random(5)
    order = sorted(range(8_000), key=lambda i: i + rng.uniform(0, 40))
    shuffled = folder / "shuffled.jsonl"
    shuffled.write_bytes(b"".join(lines[i] for i in order))
    return {"big": big, "small": small, "shuffled": shuffled}


def _compare(tmp: Path, feed: Path, extra: list[str], every: str,
             stops: list[signal.Signals], seed: int, window: tuple[float, float],
             relative: bool = False) -> dict[str, int]:  # fmt: skip
    """An uninterrupted run and an interrupted one over `feed`: the same outputs.
    `relative`: `window` is in parts of the uninterrupted run's wall time, so that the
    stops leave work to the end on a fast machine as on a slow one (timed on a second
    run: a first one may compile the fast path, which the interrupted runs then load)."""
    base = [PAYMENTS, "--input", str(feed), *extra]
    reference_command = cep_run(*base, "--output", str(tmp / "ref.jsonl"),
                                "--rejects", str(tmp / "ref.rej"))  # fmt: skip
    if relative:
        assert run(reference_command).code == 0
    began = time.monotonic()
    reference = run(reference_command)
    assert reference.code == 0, reference.stderr
    if relative:
        took = time.monotonic() - began
        window = (window[0] * took, window[1] * took)
    folder = tmp / "state"
    command = cep_run(*base, "--output", str(tmp / "out.jsonl"), "--rejects",
                      str(tmp / "out.rej"), "--checkpoint", str(folder),
                      "--checkpoint-every", every)  # fmt: skip
    seen = interrupted(command, folder, stops, random.Random(seed), window)
    last = run(command)  # (the run to the end, or a rerun of the finished one)
    assert last.code == 0, last.stderr
    same_lines(tmp / "out.jsonl", tmp / "ref.jsonl")
    same_lines(tmp / "out.rej", tmp / "ref.rej")
    assert summary_of(last.stderr) == summary_of(reference.stderr)
    assert not [p for p in folder.iterdir() if p.name != "checkpoint"]
    return seen


KILL, TERM, INT = signal.SIGKILL, signal.SIGTERM, signal.SIGINT


def test_sigkill_interpreter(tmp_path: Path, feeds: dict[str, Path]) -> None:
    """Each run is killed 0.4-0.8 s after it starts (the interpreter starts in ~0.3 s),
    so that ten runs cover only part of the feed's ~5 s of work (as below)."""
    seen = _compare(tmp_path, feeds["small"], ["--engine", "interpreter"], "1024", [KILL] * 10,
                    1, (0.4, 0.8))  # fmt: skip
    assert seen["SIGKILL"] >= 9 and seen["in_write"] >= 2, seen


def test_allowed_delay_shuffled(tmp_path: Path, feeds: dict[str, Path]) -> None:
    """The interpreter on a feed out of time order: held-back events and lates are in
    the checkpoint; SIGKILL, SIGTERM and SIGINT in turn."""
    extra = ["--allowed-delay", "20ms", "--engine", "interpreter"]
    seen = _compare(tmp_path, feeds["shuffled"], extra, "1024", [KILL, TERM, KILL, INT] * 2,
                    3, (0.4, 0.8))  # fmt: skip
    assert seen["SIGKILL"] >= 3 and seen["SIGTERM"] + seen["SIGINT"] >= 2, str(seen)
    assert (tmp_path / "ref.rej").stat().st_size  # (some events were late)


def test_million_events_fast(tmp_path: Path, feeds: dict[str, Path]) -> None:
    """1M events on the fast path, killed 10 times (some during checkpoint writes) and
    stopped 3 times by SIGTERM, on the way to the end. A checkpoint every tenth of the
    feed; a kill 7-15% of an uninterrupted run's time after a start (a stop keeps at
    most a checkpoint or two of work: all of them together leave work to the end)."""
    stops = [KILL, KILL, KILL, TERM] * 3 + [KILL]
    extra = ["--engine", "fast"]
    seen = _compare(tmp_path, feeds["big"], extra, "100000", stops, 4, (0.07, 0.15), True)
    assert seen["SIGKILL"] >= 9 and seen["SIGTERM"] >= 2 and seen["in_write"] >= 2, seen


def test_engines_take_over_each_other(tmp_path: Path, feeds: dict[str, Path]) -> None:
    """A checkpoint of one engine resumes on another: interpreter, fast, auto in turn,
    each stopped by SIGTERM once it took a checkpoint of its own."""
    base = [PAYMENTS, "--input", str(feeds["small"])]
    reference = run(cep_run(*base, "--output", str(tmp_path / "ref.jsonl")))
    path = tmp_path / "state" / "checkpoint"
    stopped = []
    for engine in ("interpreter", "fast", "auto", "interpreter"):
        command = cep_run(*base, "--output", str(tmp_path / "out.jsonl"), "--engine",
                          engine, "--checkpoint", str(path.parent),
                          "--checkpoint-every", "1024")  # fmt: skip
        process = start(command)
        new_checkpoint(process, path)
        if process.poll() is None:
            process.send_signal(TERM)
        _, err = process.communicate(timeout=120)
        assert process.returncode in (0, 143), err.decode()
        stopped.append(process.returncode == 143)
    last = run(command)
    assert last.code == 0, last.stderr
    assert sum(stopped) >= 2, stopped
    same_lines(tmp_path / "out.jsonl", tmp_path / "ref.jsonl")
    assert summary_of(last.stderr) == summary_of(reference.stderr)
