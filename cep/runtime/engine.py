"""Several rules over one feed: event-time order, the watermark, window timers.

Every accepted event moves the watermark (largest time seen minus the allowed delay).
Events are matched in time order once the watermark reaches them; before an event at
time `T` is matched, every window closing at or before `T` is closed (timeouts and
absences first), across rules and partitions in order of closing time. Time moves only
with events: `finish()` matches the events still held back and stops there unless
`flush` is asked for.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cep.compile.rule import CompiledRule
from cep.runtime.budget import NO_BUDGET
from cep.runtime.event import Event
from cep.runtime.match import Match
from cep.runtime.matcher import RuleMatcher
from cep.runtime.ordering import EventOrderer

if TYPE_CHECKING:
    from cep.runtime.restored import RestoredTimers

DEFAULT_MAX_RUNS_PER_KEY = 10_000


@dataclass
class RuleStats:
    """Counters of one rule."""

    matches: int = 0
    timeouts: int = 0
    open_runs: int = 0
    held_matches: int = 0
    dropped_runs: int = 0
    expired_runs: int = 0
    missing_key: int = 0
    #: runs dropped to keep within the budget of live state (`--max-state`)
    budget_dropped: int = 0


@dataclass
class Stats:
    """Counters of a run: every event pushed is accepted or late."""

    events: int = 0
    late: int = 0
    held_events: int = 0
    rules: dict[str, RuleStats] = field(default_factory=dict)
    #: tests of `=~` whose pattern, read from event data, RE2 did not take (each false);
    #: filled in by `cep.Engine` and `cep run` (`cep.lang.regex.bad_data_patterns`)
    bad_patterns: int = 0

    @property
    def matches(self) -> int:
        return sum(r.matches for r in self.rules.values())

    @property
    def timeouts(self) -> int:
        return sum(r.timeouts for r in self.rules.values())

    @property
    def open_runs(self) -> int:
        return sum(r.open_runs for r in self.rules.values())

    @property
    def dropped_runs(self) -> int:
        return sum(r.dropped_runs for r in self.rules.values())

    @property
    def budget_dropped(self) -> int:
        return sum(r.budget_dropped for r in self.rules.values())


class MatchingEngine:
    """Runs compiled rules over events pushed one at a time, in any order within the
    allowed delay. `push`, `advance_to` and `finish` return the reports they release,
    in the order they are released."""

    def __init__(
        self,
        rules: list[CompiledRule],
        *,
        allowed_delay_ms: int = 0,
        max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY,
        on_late: Callable[[Event], None] | None = None,
        budget: int = NO_BUDGET,
    ) -> None:
        """`budget`: each rule's share of the budget of live state (docs/limits.md)."""
        if max_runs_per_key < 1:
            raise ValueError("the cap on runs per key must be at least 1")
        self.orderer = EventOrderer(allowed_delay_ms)
        self._no_delay = allowed_delay_ms == 0
        #: window closes to come: `(close, ts, seq, rule index, key)`, the time and
        #: number of the event that scheduled it breaking ties (the order scheduled)
        self.timers: list[tuple[int, int, int, int, Any]] = []
        #: a restore's timers not in `timers` yet, earliest first: the earliest of them
        #: is kept in `timers` (`_restored_next`), the next put in when it is taken
        self._restored: RestoredTimers | None = None
        self._restored_next: tuple | None = None
        self._current: Event | None = None
        self.matchers = [
            RuleMatcher(
                rule, max_runs_per_key=max_runs_per_key, schedule=self._schedule, budget=budget
            )
            for rule in rules
        ]
        self._index = {id(m): i for i, m in enumerate(self.matchers)}
        self.on_late = on_late
        self.next_seq = 0
        self.events = 0
        self.late = 0
        self.finished = False

    def restore_timers(self, timers: RestoredTimers) -> None:
        """A restore's timers, put into `timers` one at a time as they come due (a
        fresh engine's)."""
        self._restored = timers
        self._take_restored()

    def _take_restored(self) -> None:
        """The next restored timer into `timers`."""
        assert self._restored is not None
        found = self._restored_next = self._restored.next()
        if found is None:
            self._restored = None
        else:
            heapq.heappush(self.timers, found)

    def settle_timers(self) -> None:
        """Every restored timer into `timers` (for what reads them all: a snapshot)."""
        if self._restored is not None:
            self.timers.extend(self._restored.rest())
            heapq.heapify(self.timers)
            self._restored = self._restored_next = None

    def _schedule(self, close: int, matcher: RuleMatcher, key: Any) -> None:
        event = self._current
        assert event is not None
        heapq.heappush(self.timers, (close, event.ts, event.seq, self._index[id(matcher)], key))

    @property
    def watermark(self) -> int:
        return self.orderer.watermark

    @property
    def next_due(self) -> int | None:
        """The earliest time at which moving the watermark changes anything (a window
        closes or a held event is released); None when nothing waits for time."""
        times = [self.timers[0][0]] if self.timers else []
        if self.orderer.waiting:
            times.append(self.orderer.waiting[0][0])
        return min(times) if times else None

    def push(self, event: Event) -> list[Match]:
        """Accept one event; returns the reports it releases. A late event (older than
        the watermark) is counted and handed to `on_late`, never matched."""
        if self.finished:
            raise RuntimeError("the engine has finished; create a new one")
        event.seq = self.next_seq
        self.next_seq += 1
        self.events += 1
        orderer = self.orderer
        if self._no_delay and not orderer.waiting:
            # no allowed delay: an on-time event is matched at once
            ts = event.ts
            if ts >= orderer.max_seen and ts >= orderer.floor:
                orderer.max_seen = ts
                out = []
                if self.timers and self.timers[0][0] <= ts:
                    self._fire(ts, out)
                self._current = event
                for matcher in self.matchers:
                    found = matcher.process(event)
                    if found:
                        out.extend(found)
                return out
        if orderer.is_late(event):
            self.late += 1
            if self.on_late is not None:
                self.on_late(event)
            return []
        out: list[Match] = []
        for released in orderer.push(event):
            self._match(released, out)
        if self.timers and self.timers[0][0] <= orderer.watermark:
            self._fire(orderer.watermark, out)
        return out

    def advance_to(self, ts: int) -> list[Match]:
        """Declare the input complete up to `ts`: match held events up to it and close
        the windows that end at or before it."""
        out: list[Match] = []
        for released in self.orderer.advance(ts):
            self._match(released, out)
        self._fire(self.orderer.watermark, out)
        return out

    def finish(self, *, flush: bool = False) -> list[Match]:
        """End of input: match the events still held back (time moves to the largest
        time seen); with `flush`, time then moves to infinity, closing every window."""
        out: list[Match] = []
        for released in self.orderer.drain():
            self._match(released, out)
        self._fire(self.orderer.max_seen, out)
        if flush:
            self._fire(2**62, out)
        self.finished = True
        return out

    def _match(self, event: Event, out: list[Match]) -> None:
        if self.timers and self.timers[0][0] <= event.ts:
            self._fire(event.ts, out)
        self._current = event
        for matcher in self.matchers:
            out.extend(matcher.process(event))

    def _fire(self, up_to: int, out: list[Match]) -> None:
        timers = self.timers
        matchers = self.matchers
        while timers and timers[0][0] <= up_to:
            item = heapq.heappop(timers)
            if item is self._restored_next:
                self._take_restored()
            close, _, _, index, key = item
            out.extend(matchers[index].advance(key, close))

    def stats(self) -> Stats:
        """The counters so far."""
        stats = Stats(self.events, self.late, self.orderer.held)
        for matcher in self.matchers:
            stats.rules[matcher.rule.name] = RuleStats(
                matches=matcher.matches,
                timeouts=matcher.timeouts,
                open_runs=matcher.open_runs,
                held_matches=matcher.held_matches,
                dropped_runs=matcher.dropped_runs,
                expired_runs=matcher.expired_runs,
                missing_key=matcher.missing_key,
                budget_dropped=matcher.budget_dropped,
            )
        return stats


class KeyedEngine(MatchingEngine):
    """The interpreter for a run shared with the fast path: each report comes with its
    release key `(t, phase, a, b, rule, k)`, the key the fast path gives its own reports,
    so that merging both by key gives the order one interpreter would have released them
    in (see cep/fast/kernel.py). It takes events in time order: with an allowed delay,
    those the fast path releases, with their sequence numbers (`push_keyed`'s `seq`)."""

    def __init__(self, rules: list[CompiledRule], indexes: list[int], **options: Any) -> None:
        super().__init__(rules, **options)
        self.indexes = indexes

    def push_keyed(self, event: Event, seq: int | None = None) -> list[tuple[tuple, Match]]:
        """Accept one event (numbered `seq`, by default the next number); a late one is
        counted and dropped."""
        if seq is None:
            seq = self.next_seq
        event.seq = seq
        self.next_seq = seq + 1
        self.events += 1
        orderer = self.orderer
        if event.ts < orderer.max_seen or event.ts < orderer.floor:
            self.late += 1
            return []
        orderer.max_seen = event.ts
        out: list[tuple[tuple, Match]] = []
        self.fire_keyed(event.ts, out)
        self._current = event
        for i, matcher in enumerate(self.matchers):
            for k, report in enumerate(matcher.process(event)):
                out.append(((event.ts, 1, event.ts, event.seq, self.indexes[i], k), report))
        return out

    def fire_keyed(self, up_to: int, out: list[tuple[tuple, Match]]) -> None:
        """Close the windows that end at or before `up_to`."""
        timers = self.timers
        while timers and timers[0][0] <= up_to:
            item = heapq.heappop(timers)
            if item is self._restored_next:
                self._take_restored()
            close, ts, seq, index, key = item
            for k, report in enumerate(self.matchers[index].advance(key, close)):
                out.append(((close, 0, ts, seq, self.indexes[index], k), report))

    def advance_keyed(self, ts: int, out: list[tuple[tuple, Match]]) -> None:
        """Declare the input complete up to `ts`: an event older is late; the windows
        that end by then close."""
        if ts > self.orderer.floor:
            self.orderer.floor = ts
        self.fire_keyed(ts, out)

    def finish_keyed(self, *, flush: bool = False) -> list[tuple[tuple, Match]]:
        out: list[tuple[tuple, Match]] = []
        self.fire_keyed(self.orderer.max_seen, out)
        if flush:
            self.fire_keyed(2**62, out)
        self.finished = True
        return out
