"""The fast path behind the engine interface: rules the numba kernel can run
(`cep.fast.plan.fast_path_refusal`), over batches of columns (`ColumnarRun`) or over
events in memory (`FastEngine`, events ordered here within the allowed delay).

Besides the interface, it gives its reports with their release keys and the events it
matched last (`taken`), which is what the mixed engine needs to merge the interpreter's
reports in.

Snapshots (`snapshot`, `restore`) hold the state the interpreter would hold
(cep/fast/snapshot.py); a restore fills the rules at once and hands them, with the clock
and the held-back events, to the run made when the engine is first fed (batches or
events: which is not known before)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cep.compile.fingerprint import rule_fingerprint
from cep.compile.rule import CompiledRule
from cep.engine.events import event_at, events_of, json_lines
from cep.engine.protocol import EngineOptions
from cep.engine.state import (
    EngineState,
    RuleChanges,
    SnapshotBuffer,
    SnapshotError,
    array,
    match_rules,
)
from cep.fast.engine import ColumnarRun, FastEngine
from cep.fast.plan import fast_path_refusal
from cep.io.validation import Validator
from cep.runtime.engine import Stats
from cep.runtime.event import Event
from cep.runtime.gcpause import gc_paused
from cep.runtime.match import Match
from cep.runtime.ordering import EventOrderer

if TYPE_CHECKING:
    from cep.io.batch import Batch

Keyed = list[tuple[tuple, Any]]


class FastPathEngine:
    """Rules on the fast path. Fed batches, it holds events back for the allowed delay
    as rows of their batches; fed events, it orders them itself and matches each call's
    as one batch. With `json_lines`, reports are written in bulk as lines (no `Match`es).

    `indexes` are the rules' places among all the rules of a run, and `hold_all` holds
    back every on-time event (not only those a rule may use), both for the mixed engine."""

    kind = "fast"

    def __init__(
        self,
        rules: list[CompiledRule],
        schemas: Mapping[str, Any],
        options: EngineOptions = EngineOptions(),  # noqa: B008 (frozen)
        *,
        indexes: list[int] | None = None,
        hold_all: bool = False,
        budget: int | None = None,
    ) -> None:
        """`budget`: each rule's share of the budget of live state (by default
        `options.max_state` split between these rules)."""
        refused = [(rule.name, fast_path_refusal(rule)) for rule in rules]
        refused = [(name, why) for name, why in refused if why is not None]
        if refused:
            raise ValueError(
                "; ".join(f"rule {name} cannot run compiled: {why}" for name, why in refused)
            )
        self.options = options
        self.rules = rules
        self._schemas = schemas
        self._indexes = list(range(len(rules))) if indexes is None else indexes
        self._hold_all = hold_all
        self._budget = options.rule_budget(len(rules)) if budget is None else budget
        self._validator = Validator(schemas)
        self._snapshots = SnapshotBuffer()
        self._columns: ColumnarRun | None = None
        self._events: _EventRun | None = None
        #: a restored state, put into the run made when first fed (`_resume`)
        self._pending: EngineState | None = None
        #: the restored rules (a `FastEngine` the run made when first fed takes)
        self._restored: FastEngine | None = None
        #: the restored state's events, by row (until put into the run)
        self.restored_events: Sequence[Event] = []
        self._finished = False

    @property
    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    @property
    def watermark(self) -> int:
        if self._events is not None:
            return self._events.orderer.watermark
        return self._run().watermark

    @property
    def next_seq(self) -> int:
        """The sequence number the next event fed gets."""
        return self._events.next_seq if self._events is not None else self._run().seq

    def _run(self) -> ColumnarRun:
        """The run over batches (made when first needed)."""
        if self._columns is None:
            if self._events is not None:
                raise TypeError("this engine is fed events: feed it no batches")
            validator, on_late = self._validator, self.options.on_late
            self._columns = ColumnarRun(
                self.rules,
                self._schemas,
                max_runs_per_key=self.options.max_runs_per_key,
                budget=self._budget,
                on_late=None if on_late is None else (
                    lambda batch, i: on_late(event_at(batch, i, validator))
                ),
                indexes=self._indexes,
                as_text=self.options.json_lines,
                allowed_delay_ms=self.options.allowed_delay_ms,
                hold_all=self._hold_all,
            )  # fmt: skip
            self._resume()
        return self._columns

    def _event_run(self) -> _EventRun:
        """The run over events (made when first needed)."""
        if self._events is None:
            if self._columns is not None:
                raise TypeError("this engine is fed batches: feed it no events")
            if self.options.json_lines:
                raise TypeError("an engine made for JSON lines is fed batches")
            self._events = _EventRun(self.rules, self.options, self._indexes, self._budget)
            self._resume()
        return self._events

    def _matches(self) -> None:
        if self.options.json_lines:
            raise TypeError("this engine was made for JSON lines: use feed_lines")

    def fields(self) -> dict[str, str]:
        return self._run().fields()

    def prepare(self, batch: Batch) -> None:
        self._run().prepare(batch)

    def feed(self, batch: Batch) -> Sequence[Match]:
        self._matches()
        return self._run().run(batch)

    def feed_lines(self, batch: Batch) -> bytes | bytearray:
        if not self.options.json_lines:
            return json_lines(self.feed(batch))
        return self._run().run_lines(batch).joined()

    def feed_keyed(self, batch: Batch) -> Keyed:
        """`feed`, each report with its release key."""
        return self._run().run_keyed(batch)

    def feed_events(self, events: Iterable[Event]) -> list[Match]:
        return _reports(self.feed_events_keyed(events))

    def feed_events_keyed(self, events: Iterable[Event]) -> Keyed:
        return self._event_run().feed(events)

    def push(self, event: Event) -> list[Match]:
        return self.feed_events((event,))

    def advance_to(self, ts: int) -> list[Match]:
        self._matches()
        return _reports(self.advance_keyed(ts))

    def advance_lines(self, ts: int) -> bytes:
        if not self.options.json_lines:
            return json_lines(self.advance_to(ts))
        return json_lines(_reports(self._run().advance_keyed(ts)))

    def advance_keyed(self, ts: int) -> Keyed:
        if self._columns is not None or self.options.json_lines:
            return self._run().advance_keyed(ts)
        return self._event_run().advance_to(ts)

    def finish(self, *, flush: bool = False) -> Sequence[Match]:
        self._matches()
        self._finished = True
        if self._events is None and self._columns is not None:
            return self._columns.finish(flush=flush)
        return _reports(self.finish_keyed(flush=flush))

    def finish_lines(self, *, flush: bool = False) -> bytes | bytearray:
        if not self.options.json_lines:
            return json_lines(self.finish(flush=flush))
        self._finished = True
        return self._run().finish_lines(flush=flush).joined()

    def finish_keyed(self, *, flush: bool = False) -> Keyed:
        self._finished = True
        if self._events is not None:
            return self._events.finish(flush)
        return self._run().finish_keyed(flush=flush)

    def taken(self) -> list[Event] | None:
        """The events the last call matched, numbered, in the order matched, as the
        interpreter's events: those held back and released (an allowed delay), or fed
        as events; None when they were simply the batch's, in order."""
        if self._events is not None:
            return self._events.taken
        run = self._run()
        if run.released_events is not None:
            return run.released_events
        released = run.released
        if released is None:
            return [] if run.holding else None
        batch, seqs = released
        events = list(events_of(batch, self._validator))
        for event, seq in zip(events, seqs.tolist(), strict=True):
            event.seq = seq
        return events

    def stats(self) -> Stats:
        if self._events is not None:
            return self._events.stats()
        return self._run().stats()

    def fingerprints(self) -> list[str]:
        """Each rule's fingerprint (`cep.compile.fingerprint`)."""
        return [rule_fingerprint(rule, self._schemas) for rule in self.rules]

    @gc_paused()
    def snapshot(self) -> bytes | bytearray:
        return self._snapshots.dump(self.state())

    def state(self) -> EngineState:
        """The engine's state (`snapshot`'s, not yet encoded)."""
        from cep.fast import snapshot

        names, fingerprints = self.rule_names, self.fingerprints()
        clock: dict[str, Any] = {
            "allowed_delay_ms": self.options.allowed_delay_ms, "finished": self._finished,
        }  # fmt: skip
        materialize: Any = _no_kept_events
        if self._events is not None:
            run, orderer = self._events, self._events.orderer
            clock.update(events_seen=run.events, late=run.late, next_seq=run.next_seq,
                         max_seen=orderer.max_seen, floor=orderer.floor)  # fmt: skip
            held = [event for _, _, event in sorted(orderer.waiting, key=lambda w: w[:2])]
            fast_rules = run.engine.rules
        elif self._columns is not None:
            columns = self._columns
            clock.update(events_seen=columns.events, late=columns.late, next_seq=columns.seq,
                         max_seen=columns.max_seen, floor=columns.floor)  # fmt: skip
            held = snapshot.held_events(columns.held.waiting(), columns.held.restored,
                                        self._validator)  # fmt: skip
            fast_rules = columns.engine.rules
            materialize = columns._materialize
        else:  # fed nothing yet (maybe restored): the rules as a run will take them
            state = self._pending
            held = []
            if state is not None:
                clock.update(events_seen=state.events_seen, late=state.late,
                             next_seq=state.next_seq, max_seen=state.max_seen,
                             floor=state.floor)  # fmt: skip
                held = self._held_restored()
            fast_rules = (self._restored or self._rules_engine()).rules
        return snapshot.engine_state(fast_rules, names, fingerprints, clock, held, materialize)

    def _rules_engine(self) -> FastEngine:
        """Fresh rules (for a restore, which puts its state into them)."""
        return FastEngine(self.rules, max_runs_per_key=self.options.max_runs_per_key,
                          as_text=self.options.json_lines, indexes=self._indexes,
                          budget=self._budget)  # fmt: skip

    @gc_paused()
    def restore(self, state: EngineState) -> RuleChanges:
        """Take a snapshot's state: each kept rule's at once (into the rules the run
        made when first fed will use), the clock and held events then."""
        if self._events is not None or self._columns is not None or self._pending is not None:
            raise RuntimeError("restore into an engine that has been fed nothing")
        from cep.engine.restored import RestoredEvents
        from cep.fast.snapshot import check_rule, restore_rule

        saved, changes = match_rules(state, self.rule_names, self.fingerprints())
        # (SnapshotError: uneven tables; each event made when first needed)
        self.restored_events = events = RestoredEvents(state.events, self._validator)
        if _outside(array(state.held), len(events)):
            raise SnapshotError("the snapshot is damaged (a held event is missing)")
        for rule, rule_state in zip(self.rules, saved, strict=True):
            if rule_state is not None:
                check_rule(rule, rule_state, len(events))
        restored = self._rules_engine()
        for fast, rule_state in zip(restored.rules, saved, strict=True):
            if rule_state is not None:
                restore_rule(fast, rule_state, events)
        self._pending, self._restored = state, restored  # (a finished engine's goes on)
        return changes

    def _held_restored(self) -> list[Event]:
        """The restored held-back events, in release order."""
        assert self._pending is not None
        events = self.restored_events
        held = [events[row] for row in array(self._pending.held).tolist()]
        return sorted(held, key=lambda e: (e.ts, e.seq))

    def _resume(self) -> None:
        """The restored clock and held events put into the run just made, and the
        restored rules in place of its own."""
        state, restored = self._pending, self._restored
        if state is None or restored is None:
            return
        held = self._held_restored()
        if self._events is not None:
            run, orderer = self._events, self._events.orderer
            run.events, run.late, run.next_seq = state.events_seen, state.late, state.next_seq
            orderer.max_seen, orderer.floor = state.max_seen, state.floor
            orderer.waiting = [(event.ts, event.seq, event) for event in held]
            heapq.heapify(orderer.waiting)
            run.engine = restored
        else:
            columns = self._columns
            assert columns is not None
            columns.events, columns.late = state.events_seen, state.late
            columns.seq = state.next_seq
            columns.max_seen, columns.floor = state.max_seen, state.floor
            columns.held.restored = held
            columns.engine = restored
            for fast in restored.rules:
                fast.materialize = columns._materialize
        self._pending, self._restored, self.restored_events = None, None, []


class _EventRun:
    """Events in memory on the fast path: numbered and ordered within the allowed delay
    here (late ones to `on_late`), the released ones matched as one batch per call."""

    def __init__(
        self, rules: list[CompiledRule], options: EngineOptions, indexes: list[int], budget: int
    ) -> None:
        self.engine = FastEngine(
            rules, max_runs_per_key=options.max_runs_per_key, indexes=indexes, budget=budget
        )
        self.orderer = EventOrderer(options.allowed_delay_ms)
        self.on_late = options.on_late
        self.next_seq = 0
        self.events = 0
        self.late = 0
        #: the events the last call matched, in order
        self.taken: list[Event] = []

    def feed(self, events: Iterable[Event]) -> Keyed:
        orderer = self.orderer
        released: list[Event] = []
        for event in events:
            event.seq = self.next_seq
            self.next_seq += 1
            self.events += 1
            if orderer.is_late(event):
                self.late += 1
                if self.on_late is not None:
                    self.on_late(event)
                continue
            released.extend(orderer.push(event))
        return self._match(released, orderer.watermark)

    def advance_to(self, ts: int) -> Keyed:
        return self._match(list(self.orderer.advance(ts)), self.orderer.watermark)

    def finish(self, flush: bool) -> Keyed:
        keyed = self._match(list(self.orderer.drain()), self.orderer.max_seen)
        if flush:
            keyed.extend(self.engine.take_keyed([], 2**62))
        return keyed

    def _match(self, released: list[Event], fire_up_to: int) -> Keyed:
        self.taken = released
        return self.engine.take_keyed(released, fire_up_to)

    def stats(self) -> Stats:
        stats = self.engine.stats()
        stats.events, stats.late, stats.held_events = self.events, self.late, self.orderer.held
        return stats


def _outside(rows: Any, end: int) -> bool:
    return bool(len(rows)) and (int(rows.min()) < 0 or int(rows.max()) >= end)


def _no_kept_events(kept: Any) -> Event:
    raise TypeError("events fed in memory are kept as they are")


def _reports(keyed: Keyed) -> list[Match]:
    return [report for _, report in keyed]
