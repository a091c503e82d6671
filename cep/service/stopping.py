"""Clean stops: SIGINT or SIGTERM asks the run to stop at the next batch boundary.

The handler only sets a flag while the run works on a batch (so a batch is matched,
written and checkpointed whole); while the run waits for input it raises `Stop` there,
since waiting on a quiet feed could last forever. A second signal ends the process at
once, with the same exit status, and so does the first when the batch in hand is still
not done `GRACE_S` seconds after it (a rule with very many open runs can take minutes
over one batch, longer than a service manager waits before it kills the process)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: the exit status of a run stopped by each signal (128 + its number)
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
#: how long the batch in hand may go on after a stop is asked for
GRACE_S = 10.0


def quiet_stdout() -> None:
    """After a `BrokenPipeError` on standard output (`cep ... | head -1`): what is still
    buffered goes to the null device, so the flush at exit raises no second error
    ("Exception ignored ... BrokenPipeError")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # (no file under it: drop it)
        sys.stdout = None  # type: ignore[assignment]


class Stop(Exception):
    """Raised where the run waits for input when a stop is asked for."""


class StopSignals:
    """SIGINT and SIGTERM handlers for one run (`install`, `restore`); `signal` is the
    first one received, None while none came."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.signal: signal.Signals | None = None
        self.grace_s = grace_s
        self._waiting = False
        self._old: dict[signal.Signals, Any] = {}
        self._overdue: threading.Timer | None = None

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for. The run reads it at batch boundaries: once it
        has seen the stop, the batch is done and the grace period is over."""
        if self.signal is None:
            return False
        self._end_grace()
        return True

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS.get(self.signal, 1) if self.signal is not None else 0

    def install(self) -> None:
        for number in EXIT_STATUS:
            self._old[number] = signal.signal(number, self._handle)

    def restore(self) -> None:
        self._end_grace()
        for number, handler in self._old.items():
            signal.signal(number, handler)
        self._old.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.signal is not None:  # the second: stop now
            sys.stderr.flush()
            os._exit(EXIT_STATUS.get(signal.Signals(number), 1))
        self.signal = signal.Signals(number)
        if self._waiting:
            self._waiting = False
            raise Stop
        self._overdue = threading.Timer(self.grace_s, self._stop_now)
        self._overdue.daemon = True
        self._overdue.start()

    def _stop_now(self) -> None:
        """The batch in hand outlasted the grace period: end the process, as a second
        signal would (a run with `--checkpoint` resumes from its last checkpoint)."""
        sig = self.signal
        name = sig.name if sig is not None else "a signal"
        print(
            f"cep run: stopped by {name}: the batch in hand was not done {self.grace_s:g} s "
            "later; its reports are not all written (with --checkpoint, run the same "
            "command to resume from the last checkpoint)",
            file=sys.stderr,
            flush=True,
        )
        os._exit(self.exit_status)

    def _end_grace(self) -> None:
        if self._overdue is not None:
            self._overdue.cancel()
            self._overdue = None

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait for input: a stop asked for before or during it raises `Stop`."""
        if self.signal is not None:
            raise Stop
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False
