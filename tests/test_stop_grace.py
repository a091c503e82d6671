"""A stop asked for while a batch takes very long: the run ends once the grace period
is over (cep/service/stopping.py), rather than only after the batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# a process that asks itself to stop, then works on its "batch" for up to 60 s, and
# reads `requested` (the batch boundary) after `work` seconds
PROGRAM = """
import os, signal, sys, time
from cep.service.stopping import StopSignals
signals = StopSignals(grace_s=float(sys.argv[1]))
signals.install()
os.kill(os.getpid(), signal.SIGTERM)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    sum(range(1000))
print("boundary, stop seen:", signals.requested, flush=True)
time.sleep(float(sys.argv[1]) + 1)  # (past the grace: no stop)
signals.restore()
print("stopped cleanly", flush=True)
"""


def _run(grace: float, work: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, str(grace), str(work)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_a_batch_longer_than_the_grace_ends_the_process() -> None:
    done = _run(grace=0.5, work=60)
    assert done.returncode == 128 + signal.SIGTERM
    assert "boundary" not in done.stdout
    assert done.stderr.startswith("cep run: stopped by SIGTERM: the batch in hand was not done")
    assert done.stderr.count("\n") == 1


def test_a_batch_done_within_the_grace_stops_at_the_boundary() -> None:
    done = _run(grace=3, work=0.1)
    assert done.returncode == 0
    assert done.stdout.splitlines() == ["boundary, stop seen: True", "stopped cleanly"]
    assert done.stderr == ""
