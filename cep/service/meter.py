"""A long run's progress on a terminal: one line on standard error, rewritten in place."""

from __future__ import annotations

import time
from typing import TextIO

#: nothing is shown for runs shorter than this (wall seconds), and then at most this often
SHOW_AFTER_S, EVERY_S = 2.0, 0.5


class ProgressMeter:
    """Records read, the rate, and matches written so far, for a person watching: only
    on a terminal (never in a pipe or a file); the line is cleared at the end so that
    the summary stands alone."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self._next = self.started + SHOW_AFTER_S
        self.shown = False

    def update(self, records: int, matches: int) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + EVERY_S
        rate = records / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r\x1b[Kcep run: {records:,} records read ({rate:,.0f}/s), {matches:,} matches"
        )
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False
