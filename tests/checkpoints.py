"""Helpers of the checkpoint tests: `cep run` as a real process, killed and resumed."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = Path("/work/shared/bench/gen_payments.py")
PAYMENTS = str(ROOT / "rules" / "payments.cep")
EXAMPLE = ROOT / "examples" / "payments.jsonl"


def payments_feed(events: int, folder: Path) -> Path:
    """A feed of `events` payments: the shared benchmark generator's where this machine
    has it, else the bundled example's payments again and again, each copy later
    in time and with its own users (so a fresh checkout needs nothing else)."""
    target = folder / "payments.jsonl"
    if GENERATOR.is_file():
        subprocess.run([sys.executable, str(GENERATOR), str(events), str(folder / "payments")],
                       check=True)  # fmt: skip
        return target
    example = [json.loads(line) for line in EXAMPLE.read_text().splitlines()]
    span = example[-1]["ts"] - example[0]["ts"] + 1
    with target.open("w") as out:
        for i in range(events):
            copy, record = divmod(i, len(example))
            event = dict(example[record])
            event["ts"] += copy * span
            event["user"] = f"{event['user']}-{copy % 97}"
            out.write(json.dumps(event) + "\n")
    return target


def cep_run(*args: str) -> list[str]:
    return [sys.executable, "-m", "cep.cli", "run", *args]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@dataclass
class Outcome:
    code: int
    stderr: str


def run(command: list[str], stdin: bytes | None = None, cwd: Path | None = None) -> Outcome:
    done = subprocess.run(
        command, input=stdin, capture_output=True, env=environment(), timeout=300, cwd=cwd
    )
    return Outcome(done.returncode, done.stderr.decode())


def start(command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=environment()
    )


def during_write(process: subprocess.Popen[bytes], folder: Path, limit: float) -> bool:
    """Wait (up to `limit` seconds) until a checkpoint is being written; whether one was."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            names = []
        if any(name.endswith(".tmp") for name in names):
            return True
    return False


def new_checkpoint(process: subprocess.Popen[bytes], path: Path, limit: float = 120) -> None:
    """Wait until `process` wrote a checkpoint (or ended)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    deadline = time.monotonic() + limit
    while process.poll() is None and time.monotonic() < deadline:
        if path.exists() and path.stat().st_mtime_ns != before:
            return
        time.sleep(0.005)


def interrupted(
    command: list[str],
    folder: Path,
    stops: list[signal.Signals],
    rng: random.Random,
    window: tuple[float, float] = (0.5, 3.0),
) -> dict[str, int]:
    """Run `command` again and again, each time stopped by the next of `stops` (every
    third SIGKILL while a checkpoint is being written, the other SIGKILLs after a random
    time in `window`; SIGTERM and SIGINT up to `window[0]` after the run's first
    checkpoint, when its loop surely runs) until the list ends or a run ends by itself;
    how the stops went."""
    seen = {"SIGKILL": 0, "SIGTERM": 0, "SIGINT": 0, "in_write": 0, "finished": 0, "outside": 0}
    for k, sig in enumerate(stops):
        process = start(command)
        landed = False
        if sig == signal.SIGKILL and k % 3 == 2:
            time.sleep(window[0])
            # (a small checkpoint is written in a moment: watch for one write after
            # another until a kill lands in one or the run ends)
            while not landed and process.poll() is None:
                if during_write(process, folder, window[1] * 3):
                    process.send_signal(sig)
                    seen["in_write"] += 1
                    landed = True
        if not landed:
            if sig == signal.SIGKILL:
                time.sleep(rng.uniform(*window))
            else:
                new_checkpoint(process, folder / "checkpoint")
                time.sleep(rng.uniform(0, window[0]))
            if process.poll() is None:
                process.send_signal(sig)
                landed = True
        _, err = process.communicate(timeout=300)
        if sig != signal.SIGKILL and process.returncode == -sig:
            # (it came before the run loop's handlers were in place, or after they were
            # taken away at the end: the process died of it, as a process does)
            seen["outside"] += 1
            continue
        if landed and process.returncode != 0:
            expected = -signal.SIGKILL if sig == signal.SIGKILL else 128 + sig
            assert process.returncode == expected, err.decode()[-2000:]
            if sig != signal.SIGKILL:
                assert "run the same command to resume" in err.decode()
            seen[sig.name] += 1
        else:
            assert process.returncode == 0, err.decode()[-2000:]
            seen["finished"] += 1
            break
    return seen


def same_lines(a: Path, b: Path) -> None:
    """Two files of JSON lines hold the same values, line by line."""
    if a.read_bytes() == b.read_bytes():
        return
    left, right = a.read_text().splitlines(), b.read_text().splitlines()
    assert len(left) == len(right), f"{a}: {len(left)} lines, {b}: {len(right)}"
    for i, (x, y) in enumerate(zip(left, right, strict=True)):
        assert json.loads(x) == json.loads(y), f"line {i + 1} differs"


def summary_of(stderr: str) -> str:
    """The summary of a run's standard error (without the lines about stops and rule
    changes)."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("cep run:"))
