"""`--idle D`: on a quiet live feed, event time moves on with the wall clock.

Event time rules a run: the watermark is the largest event time seen minus the allowed
delay, so on a feed that goes quiet no window closes and no absence fires until the
next event. With `--idle D`, once no event has arrived for D of wall time, the
watermark moves on as the wall clock does: the largest time seen, plus the wall time
since the event that brought it arrived, minus the allowed delay. The next event that
arrives takes over again (one older than the watermark reached is late, as ever).

The clock is the host's: readers of a live input hand on empty batches when nothing
arrived within `poll_s` (`cep.io.lines.ByteLines`, `cep.io.follow`, a Kafka source's
poll timeout), and the loop asks `advance` after each batch, empty or not. A source
that knows idleness better (per Kafka partition, say) calls `arrived` and `due` itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cep.runtime.ordering import NO_TIME

#: how often, at most and at least, a quiet reader hands on an empty batch (a quarter
#: of the idle time between these bounds): the watermark moves in steps of about this
MAX_POLL_S = 0.5
MIN_POLL_S = 0.01


class IdleClock:
    """When and how far the watermark moves on a quiet feed: `arrived` notes events,
    `due` says the time to advance to (None while the feed is not quiet for `idle_ms`
    or the wall clock has not passed the watermark)."""

    def __init__(
        self,
        idle_ms: int,
        allowed_delay_ms: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if idle_ms < 0:
            raise ValueError("the idle time cannot be negative")
        self.idle_ms = idle_ms
        self.allowed_delay_ms = allowed_delay_ms
        self.clock = clock
        now = clock()
        #: the largest event time seen, and the wall time the event with it arrived
        self.max_ts: int | None = None
        self.max_at = now
        #: the wall time the last event arrived (or the clock started)
        self.last_at = now
        #: a watermark to move on from before any event arrived (a resumed run's)
        self.floor: int | None = None
        self.floor_at = now
        #: a source holds events back for their time (a Kafka partition waits for the
        #: others): the feed is not quiet, and the source's own idleness moves time
        self.held = False

    @property
    def poll_s(self) -> float:
        """How long a reader may wait for input before it hands on an empty batch."""
        return min(MAX_POLL_S, max(MIN_POLL_S, self.idle_ms / 4000))

    def start(self, watermark: int) -> None:
        """Start from an engine's watermark (a resumed run's): until an event arrives,
        the wall clock moves it on from there."""
        now = self.clock()
        self.last_at = now
        if watermark != NO_TIME and self.max_ts is None:
            self.floor, self.floor_at = watermark, now

    def arrived(self, max_ts: int, count: int = 1) -> None:
        """`count` events arrived now, the latest of them at event time `max_ts`."""
        if count <= 0:
            return
        now = self.clock()
        self.last_at = now
        if self.max_ts is None or max_ts > self.max_ts:
            self.max_ts, self.max_at = max_ts, now
            self.floor = None

    def arrived_batch(self, batch: Any) -> None:
        """A batch's events arrived (`batch.ts`: their times)."""
        if len(batch):
            self.arrived(int(batch.ts.max()), len(batch))

    def due(self, watermark: int) -> int | None:
        """The time to advance the watermark to now, or None: no event for `idle_ms`
        and a wall clock past `watermark`."""
        now = self.clock()
        if self.held or (now - self.last_at) * 1000 < self.idle_ms:
            return None
        if self.max_ts is not None:
            target = self.max_ts + int((now - self.max_at) * 1000) - self.allowed_delay_ms
        elif self.floor is not None:
            target = self.floor + int((now - self.floor_at) * 1000)
        else:
            return None  # (no event yet: no time to move on from)
        return target if target > watermark else None

    def advance(self, engine: Any) -> bytes:
        """Move an engine's watermark when `due`; the reports that releases, as JSON
        lines (`RuleEngine.advance_lines`)."""
        target = self.due(engine.watermark)
        if target is None:
            return b""
        return engine.advance_lines(target)  # type: ignore[no-any-return]
