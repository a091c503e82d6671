"""The compiled fast path's engines: `FastEngine` over events in memory and
`ColumnarRun` over batches of columns, each running every rule as a `FastRule`
(cep/fast/rule.py) with the interpreter's meaning, reports merged across rules in the
order the interpreter releases them. Hosts use them through `cep.engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np

from cep.compile.rule import CompiledRule
from cep.fast.held import HeldRows
from cep.fast.order import in_time_order
from cep.fast.plan import fast_path_refusal
from cep.fast.reports import KeptEvent, Reports, kept_json
from cep.fast.reporttext import (
    ReportLines,
)
from cep.fast.rule import FastRule
from cep.io.batch import Batch, EventColumns
from cep.io.sources import SourceEvent
from cep.io.validation import Validator
from cep.runtime.budget import NO_BUDGET
from cep.runtime.engine import DEFAULT_MAX_RUNS_PER_KEY, Stats
from cep.runtime.event import Event
from cep.runtime.gcpause import gc_paused
from cep.runtime.match import Match
from cep.runtime.ordering import NO_TIME, EventOrderer

BATCH = 65_536
_SEQ = attrgetter("seq")
#: `ColumnarRun.prepare` makes event texts ahead for at most 1/AHEAD_SHARE of a batch
AHEAD_SHARE = 4


def _released(found: list[Any], indexes: Iterable[int]) -> list[tuple[tuple, Any]]:
    """Rules' reports (rule `indexes[k]`'s are `found[k]`) as (release key, report)
    pairs in release order: by key, then rule index, then each rule's own order."""
    keyed = []
    for index, reports in zip(indexes, found, strict=True):
        for order, (release, report) in enumerate(reports.pairs()):
            keyed.append(((*release, index, order), report))
    keyed.sort(key=lambda item: item[0])
    return keyed


class FastEngine:
    """Like `MatchingEngine`, for rules that are all eligible for the fast path; events
    are matched in batches (reports come out when a batch is matched)."""

    def __init__(
        self,
        rules: list[CompiledRule],
        *,
        allowed_delay_ms: int = 0,
        max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY,
        on_late: Any = None,
        batch_size: int = BATCH,
        as_text: bool = False,
        indexes: list[int] | None = None,
        budget: int = NO_BUDGET,
    ) -> None:
        """`budget`: each rule's share of the budget of live state (docs/limits.md)."""
        for rule in rules:
            reason = fast_path_refusal(rule)
            if reason is not None:
                raise ValueError(f"rule {rule.name} cannot run on the fast path: {reason}")
        self.rules = [FastRule(rule, max_runs_per_key, as_text, budget) for rule in rules]
        #: each rule's place among every rule of the run (for merging with others)
        self.indexes = list(range(len(rules))) if indexes is None else indexes
        self.orderer = EventOrderer(allowed_delay_ms)
        self._no_delay = allowed_delay_ms == 0
        self.on_late = on_late
        self._next_seq = 0
        self.pending: list[Event] = []
        #: whether the pending events came in the order they were pushed (else the
        #: orderer released some)
        self._pushed_order = True
        self.batch_size = batch_size
        self.late = 0
        #: columns for the term tests (keys and programs read the events they choose)
        self.columns = EventColumns(sorted(set().union(*(r.fields_tested() for r in self.rules))))

    def push(self, event: Event) -> list[Match]:
        event.seq = seq = self._next_seq
        self._next_seq = seq + 1
        orderer = self.orderer
        ts = event.ts
        on_time = ts >= orderer.max_seen and ts >= orderer.floor
        if self._no_delay and on_time and not orderer.waiting:
            # no allowed delay: an on-time event joins the batch at once
            orderer.max_seen = ts
            pending = self.pending
            pending.append(event)
            if len(pending) >= self.batch_size:
                return self._run(ts)
            return []
        if orderer.is_late(event):
            self.late += 1
            if self.on_late is not None:
                self.on_late(event)
            return []
        released = list(self.orderer.push(event))
        if released:
            self.pending.extend(released)
            self._pushed_order = False
        if len(self.pending) >= self.batch_size:
            return self._run(self.orderer.watermark)
        return []

    @property
    def events(self) -> int:
        """How many events were pushed (late ones included)."""
        return self._next_seq

    def feed(self, events: Iterable[Event]) -> list[Match]:
        out: list[Match] = []
        for event in events:
            out.extend(self.push(event))
        return out

    def finish(self, *, flush: bool = False) -> list[Match]:
        released = list(self.orderer.drain())
        if released:
            self.pending.extend(released)
            self._pushed_order = False
        out = self._run(self.orderer.max_seen)
        if flush:
            out.extend(self._run(2**62))
        return out

    def take_keyed(self, events: list[Event], fire_up_to: int) -> list[tuple[tuple, Match]]:
        """Match events already in time order and numbered (`seq`) by a caller that
        orders them itself (`cep.engine.fast`), then close the windows that end by
        `fire_up_to`; (release key, report) pairs, sorted."""
        if events:
            self.pending.extend(events)
            self._pushed_order = False
        return self._run_keyed(fire_up_to)

    def _run(self, fire_up_to: int) -> list[Match]:
        return [report for _, report in self._run_keyed(fire_up_to)]

    @gc_paused()
    def _run_keyed(self, fire_up_to: int) -> list[tuple[tuple, Match]]:
        events, self.pending = self.pending, []
        n = len(events)
        batch = self.columns.batch(events)
        first = events[0].seq if n else 0
        seqs: np.ndarray | int
        if self._pushed_order and n and events[-1].seq - first == n - 1:
            seqs = first  # rising, no gap: every one
        else:
            seqs = np.fromiter(map(_SEQ, events), np.int64, n)
        self._pushed_order = True

        def taken(batch: Batch, indexes: list[int], seqs: list[int]) -> list[Event]:
            return [events[i] for i in indexes]

        found = [
            rule.run_columns(batch, seqs, None, fire_up_to, taken, events)
            if n
            else rule.advance(fire_up_to)
            for rule in self.rules
        ]
        return _released(found, self.indexes)

    def stats(self) -> Stats:
        stats = Stats(self.events, self.late, self.orderer.held + len(self.pending))
        for rule in self.rules:
            stats.rules[rule.rule.name] = rule.stats()
        return stats


# ---------------------------------------------------------------------------- columns


class ColumnarRun:
    """Eligible rules over batches of columns (`cep.io.columnar`). An event older than
    the watermark (the latest time seen, less `allowed_delay_ms`) is late (handed to
    `on_late` with its batch and index). With an allowed delay, on-time events wait as
    rows of their batches until the watermark reaches them (`HeldRows`), then are
    matched in time order, several batches' rows as one batch where they interleave.
    Batches may come from several readers (of one format, with a delay). Matched events are kept as
    their lines and rebuilt as `SourceEvent`s when a report (a `LazyMatch`) is read; with
    `as_text`, reports are their JSON lines, written in bulk (events as read).

    A JSON lines batch's kept lines are not copied: each rule holds the batches they lie
    in, up to `LEND_LIMIT` bytes of them, then copies the lines it still needs and lets
    the batches go. A batch's `Reports` hold the batches of their events until they are
    dropped; a report made from them holds only its own events."""

    def __init__(
        self,
        rules: list[CompiledRule],
        schemas: Mapping[str, Any],
        *,
        max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY,
        on_late: Any = None,
        indexes: list[int] | None = None,
        as_text: bool = False,
        allowed_delay_ms: int = 0,
        hold_all: bool = False,
        budget: int = NO_BUDGET,
    ) -> None:
        if allowed_delay_ms < 0:
            raise ValueError("the allowed delay cannot be negative")
        #: each rule's place among every rule of the run (for merging with others)
        self.indexes = list(range(len(rules))) if indexes is None else indexes
        self.engine = FastEngine(
            rules, max_runs_per_key=max_runs_per_key, as_text=as_text, budget=budget
        )
        #: reports as JSON lines: kept events' texts are kept when they are
        self.as_text = as_text
        self.schemas = schemas
        self.validator = Validator(schemas)
        for fast in self.engine.rules:
            fast.materialize = self._materialize
        self.on_late = on_late
        self.allowed_delay_ms = allowed_delay_ms
        #: on-time events not yet matched (with an allowed delay): only those some term
        #: accepts where no rule needs the others, unless `hold_all` (for a caller that
        #: reads `released`)
        self.held = HeldRows()
        self.hold_all = hold_all
        #: with an allowed delay: the events the last batch (or `finish`) released, as
        #: a batch in the order matched, and their sequence numbers; None for none
        self.released: tuple[Batch, np.ndarray] | None = None
        #: the events of `released` where it was made of events (after a restore)
        self.released_events: list[Event] | None = None
        #: whether the last batch's events were held back (else matched as they came)
        self.holding = allowed_delay_ms > 0
        self.max_seen = NO_TIME
        #: the time `advance_to` declared the input complete up to
        self.floor = NO_TIME
        self.seq = 0
        self.events = 0
        self.late = 0

    def fields(self) -> dict[str, str]:
        """The fields the rules' terms and keys read, to ask the reader for."""
        types: set[str] = set()
        names: set[str] = set()
        for fast in self.engine.rules:
            for term in fast.rule.terms:
                types |= term.event_types or set()
            names |= fast.fields_read()
        wanted = dict.fromkeys(sorted(names), "object")
        for name in wanted:
            declared = {
                self.schemas[t].fields[name].type.kind
                for t in types
                if t in self.schemas and name in self.schemas[t].fields
            }
            if len(declared) == 1 and (kind := declared.pop()) in ("int", "float", "bool", "str"):
                wanted[name] = kind
        return wanted

    def prepare(self, batch: Batch) -> None:
        """Work on a batch that needs nothing of the run's state, done ahead by a reader
        on its own thread while the batch before is matched (`read_parquet_batches`'
        `prepare`): the term tests, and with `as_text` the texts (records encoded) of the
        events some term accepts, when they are at most a quarter of the batch (only
        those can be kept)."""
        if not len(batch):
            return
        accepted = np.zeros(len(batch), dtype=np.bool_)
        for fast in self.engine.rules:
            by_rule = fast.candidates(batch)
            if by_rule is None:
                return
            accepted |= by_rule
        rows = np.flatnonzero(accepted)
        if self.as_text and len(rows) <= len(batch) // AHEAD_SHARE:
            batch.make_record_pieces(rows)

    def run(self, batch: Batch) -> Sequence[Any]:
        """Match a batch; returns the reports it releases, in order: a `Reports`
        sequence (each report made when read), or with `as_text` a list of JSON lines."""
        if not self.as_text:
            return Reports(self._match(batch), self.indexes)
        return [report for _, report in self.run_keyed(batch)]

    @gc_paused()
    def run_keyed(self, batch: Batch) -> list[tuple[tuple, Any]]:
        """Match a batch; returns (release key, report) pairs, sorted."""
        return _released(self._match(batch), self.indexes)

    def run_lines(self, batch: Batch) -> ReportLines:
        """With `as_text`: match a batch; returns the report lines it releases, in order."""
        return ReportLines.merge(self._match(batch), self.indexes)

    @gc_paused()
    def _match(self, batch: Batch) -> list[Any]:
        """Match a batch; each rule's reports (`FastRule.run_columns`)."""
        n = len(batch)
        self.events += n
        first_seq = self.seq  # the batch's events are numbered from here on
        self.seq += n
        # (restored events held back under another delay: released in order first)
        self.holding = bool(self.allowed_delay_ms or self.held.restored)
        if self.holding:
            return self._held_back(batch, first_seq)
        self.released = self.released_events = None
        # late: older than every earlier event (no allowed delay)
        ts = batch.ts
        accepted = None  # (every event: in time order, the usual case)
        since = self.max_seen if self.max_seen >= self.floor else self.floor
        if in_time_order(ts, since):
            if n:
                self.max_seen = int(ts[-1])
        else:
            late = ts < np.maximum.accumulate(np.concatenate(([since], ts)))[:-1]
            self.max_seen = max(self.max_seen, int(ts.max()))
            self.late += int(late.sum())
            if self.on_late is not None:
                for i in np.nonzero(late)[0]:
                    self.on_late(batch, int(i))
            accepted = ~late
        return [
            fast.run_columns(batch, first_seq, accepted, self.max_seen, self._events)
            for fast in self.engine.rules
        ]

    def _held_back(self, batch: Batch, first_seq: int) -> list[Any]:
        """With an allowed delay: the batch's late events rejected, its others held, and
        the held events the watermark now reaches matched (or, none, the windows that
        close by the watermark closed)."""
        ts = batch.ts
        delay = self.allowed_delay_ms
        if len(ts):
            # each event's watermark: the latest time before it, less the delay
            before = np.maximum.accumulate(np.concatenate(([self.max_seen], ts[:-1])))
            late = ts < np.maximum(np.maximum(before, NO_TIME + delay) - delay, self.floor)
            self.max_seen = max(self.max_seen, int(ts.max()))
            self.late += int(late.sum())
            if self.on_late is not None:
                for i in np.flatnonzero(late).tolist():
                    self.on_late(batch, i)
            held = self._worth_holding(batch, np.flatnonzero(~late))
            self.held.hold(batch, held, held + first_seq)
        return self._released(self.watermark)

    @property
    def watermark(self) -> int:
        """The time up to which the input is complete: the latest time seen, less the
        allowed delay (`NO_TIME` before any event)."""
        if self.max_seen == NO_TIME:
            return self.floor
        return max(self.max_seen - self.allowed_delay_ms, self.floor)

    @gc_paused()
    def advance_keyed(self, ts: int) -> list[tuple[tuple, Any]]:
        """Declare the input complete up to `ts`: the held events up to it matched, the
        windows that end by then closed; (release key, report) pairs, sorted. An event
        older than `ts` read later is late."""
        if ts > self.floor:
            self.floor = ts
        return _released(self._released(self.watermark), self.indexes)

    def _worth_holding(self, batch: Batch, rows: np.ndarray) -> np.ndarray:
        """Of a batch's on-time rows, those a rule may use: the rows some term accepts,
        where every rule skips events no term accepts and tests its terms a batch at a
        time (`FastRule.candidates`); else (or with `hold_all`) every one."""
        if self.hold_all:
            return rows
        accepted = np.zeros(len(batch), np.bool_)
        for fast in self.engine.rules:
            if not fast.screen:
                return rows
            term_bits = batch.made_ahead.get(fast)  # (`prepare`, on a reader's thread)
            by_rule = fast.candidates(batch) if term_bits is None else term_bits.any(axis=0)
            if by_rule is None:
                return rows
            accepted |= by_rule
        return rows[accepted[rows]]

    def _released(self, watermark: int, fire_up_to: int | None = None) -> list[Any]:
        """The held events up to `watermark` matched, then the windows that close by
        `fire_up_to` (by default the watermark) closed; each rule's reports."""
        up_to = watermark if fire_up_to is None else fire_up_to
        released = self.held.release(watermark)
        events = self.held.release_restored(watermark) if self.held.restored else None
        if events:  # (held when a snapshot was taken: matched as events in memory)
            from cep.fast.snapshot import with_restored

            released, events = with_restored(released, events, self.validator, self.engine.columns)
        self.released, self.released_events = released, events or None
        if released is None:
            return [fast.advance(up_to) for fast in self.engine.rules]
        batch, seqs = released
        make = self._events if not events else (lambda _, rows, __: [events[i] for i in rows])
        return [
            fast.run_columns(batch, seqs, None, up_to, make, events or None)
            for fast in self.engine.rules
        ]

    def finish(self, *, flush: bool = False) -> Sequence[Any]:
        """End of input (with `flush`, every window closes); the reports released, as
        `run` gives them."""
        if not self.as_text:
            return Reports(self._finish(flush), self.indexes)
        return [report for _, report in self.finish_keyed(flush=flush)]

    @gc_paused()
    def finish_keyed(self, *, flush: bool = False) -> list[tuple[tuple, Any]]:
        return _released(self._finish(flush), self.indexes)

    def finish_lines(self, *, flush: bool = False) -> ReportLines:
        """With `as_text`: end of input; the report lines released, in order."""
        return ReportLines.merge(self._finish(flush), self.indexes)

    @gc_paused()
    def _finish(self, flush: bool) -> list[Any]:
        up_to = 2**62 if flush else self.max_seen
        if len(self.held):  # (held back for the allowed delay: matched now, in order)
            return self._released(self.max_seen, up_to)
        self.released = self.released_events = None
        return [fast.advance(up_to) for fast in self.engine.rules]

    def _events(self, batch: Batch, indexes: list[int], seqs: list[int]) -> list[KeptEvent]:
        """Taken events, kept as their lines (or records) until a report needs them
        (with `as_text`, only those whose texts are not kept in bulk:
        `FastRule._keep_texts`)."""
        payloads = batch.kept_of(indexes)
        names = batch.types.values
        type_names = [names[t] for t in batch.type[indexes].tolist()]
        times, lines = batch.ts[indexes].tolist(), batch.line[indexes].tolist()
        record_of = repeat(batch.record_of)
        return list(map(KeptEvent, payloads, type_names, times, lines, seqs, record_of))

    def _materialize(self, kept: KeptEvent) -> Event:
        payload, type_name = kept.payload, kept.type
        record = kept.record_of(payload)
        typed, _ = self.validator.validate(type_name, record)
        # the line as read (for a reject found later); a record's text stands in for it
        text = payload if type(payload) is str and kept.json is None else ""
        json = kept_json(kept) if type(payload) is str else None
        return SourceEvent(
            type_name, kept.ts, typed or record, kept.seq, kept.line, raw=record, text=text,
            json=json,
        )  # fmt: skip

    def stats(self) -> Stats:
        stats = self.engine.stats()
        stats.events = self.events
        stats.late = self.late
        stats.held_events = len(self.held)
        return stats
