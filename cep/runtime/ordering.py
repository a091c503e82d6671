"""Event-time order: holding events back for an allowed delay, and the watermark.

The watermark is the largest time seen minus the allowed delay; every accepted event
moves it (spec, settled details "Time"). An event older than the watermark is late.
Events are released in time order, equal times in arrival order, once the watermark
has reached them.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from cep.runtime.event import Event

NO_TIME = -(2**63)


class EventOrderer:
    """Reorders events within an allowed delay and tracks the watermark."""

    def __init__(self, allowed_delay_ms: int = 0) -> None:
        if allowed_delay_ms < 0:
            raise ValueError("the allowed delay cannot be negative")
        self.allowed_delay_ms = allowed_delay_ms
        self.max_seen = NO_TIME
        self.floor = NO_TIME
        #: the events waiting for the watermark, a heap by (time, arrival); hosts test it
        #: for emptiness on their per-event path (cheaper than `held`)
        self.waiting: list[tuple[int, int, Event]] = []

    @property
    def watermark(self) -> int:
        """The time up to which input is complete (`NO_TIME` before any event)."""
        if self.max_seen == NO_TIME:
            return self.floor
        return max(self.max_seen - self.allowed_delay_ms, self.floor)

    @property
    def held(self) -> int:
        """How many events are waiting for the watermark."""
        return len(self.waiting)

    def is_late(self, event: Event) -> bool:
        """Whether `event` is older than the watermark (it must be rejected as `late`)."""
        return event.ts < self.watermark

    def push(self, event: Event) -> Iterator[Event]:
        """Accept an on-time event and yield the events it releases, in order.

        The caller checks `is_late` first; a late event must not be pushed.
        """
        if self.is_late(event):
            raise ValueError(f"late event pushed: {event!r}")
        heapq.heappush(self.waiting, (event.ts, event.seq, event))
        if event.ts > self.max_seen:
            self.max_seen = event.ts
        yield from self._release(self.watermark)

    def advance(self, ts: int) -> Iterator[Event]:
        """Move the watermark to at least `ts` (input is complete up to it) and yield
        the events it releases."""
        if ts > self.floor:
            self.floor = ts
        yield from self._release(self.watermark)

    def drain(self) -> Iterator[Event]:
        """At the end of input: release every held event (the watermark moves to the
        largest time seen)."""
        yield from self._release(max(self.max_seen, self.floor))

    def _release(self, up_to: int) -> Iterator[Event]:
        held = self.waiting
        while held and held[0][0] <= up_to:
            yield heapq.heappop(held)[2]
