"""One rule on the fast path (`FastRule`): its NFA as arrays, its kernel state, its
partitions, the events its histories keep, and its reports.

A batch's events are tested a term at a time (`EdgePlan`'s tests), keyed to partitions
and run through the kernel (cep/fast/kernel.py); events that satisfy no term are dropped
before any per-run work when they cannot change a run. Reports are built from the
histories the kernel returns: a `MatchTable` whose `LazyMatch`es are made when read
(cep/fast/reports.py), or, for `cep run` (`as_text`), their JSON lines made in bulk
(cep/fast/rulelines.py; `emit` computed by the kernel: cep/fast/emit.py; each event
written as read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from cep.compile.conditions import (
    TermTest,
)
from cep.compile.nfa import FINAL, IGNORE, PENDING, PROCEED, START, STOP, TAKE
from cep.compile.programs import BOOL, NUM, STR
from cep.compile.rule import CompiledRule
from cep.fast import evaluate, histories, kernel, tables
from cep.fast.emit import EXACT_INTEGERS
from cep.fast.kept import new_kept_events, write_info
from cep.fast.partitions import (
    UNMAPPED,
    DictionaryTables,
    PartitionKeys,
    partition_codes,
    unnumbered,
)
from cep.fast.plan import EdgePlan, vectorize
from cep.fast.reports import HeldTexts, KeptEvent, MatchTable, kept_json
from cep.fast.reporttext import ReportLines, TextTable
from cep.fast.rulelines import ReportWriter
from cep.fast.vector import fields_used
from cep.io.batch import Batch, json_record
from cep.runtime.budget import NO_BUDGET
from cep.runtime.engine import RuleStats
from cep.runtime.event import Event
from cep.runtime.matcher import RuleMatcher

_KINDS = {
    "normal": tables.NORMAL,
    START: tables.START,
    FINAL: tables.FINAL,
    STOP: tables.STOP,
    PENDING: tables.PENDING,
}
_ACTIONS = {TAKE: tables.TAKE, IGNORE: tables.IGNORE, PROCEED: tables.PROCEED}
_SKIPS = {
    "none": tables.SKIP_NONE,
    "past_last": tables.SKIP_PAST_LAST,
    "to_next": tables.SKIP_TO_NEXT,
    "to_first": tables.SKIP_TO_FIRST,
    "to_last": tables.SKIP_TO_LAST,
}
#: column kinds whose values are a slot's values as they are
_DIRECT = {("int", NUM), ("float", NUM), ("time", NUM), ("duration", NUM), ("bool", BOOL)}
#: compact the kernel's history once this many events are stored (and it has doubled)
COMPACT_AT = 20_000
#: within a batch, compact the history cells instead of growing their table once this
#: many are in use and they have doubled since the last compaction
CELLS_COMPACT_AT = 1 << 20
#: the bytes of batches a rule holds for the lines of its kept events (`TextTable.lend`)
#: before it compacts and copies those still held
LEND_LIMIT = 64 << 20


class FastRule:
    """One eligible rule: its NFA as arrays, its kernel state, its partitions."""

    def __init__(
        self,
        rule: CompiledRule,
        max_runs_per_key: int,
        as_text: bool = False,
        budget: int = NO_BUDGET,
    ) -> None:
        self.rule = rule
        self.rule_resolutions = rule.resolutions
        self.term_nodes = rule.term_nodes
        self.matcher = RuleMatcher(rule, max_runs_per_key=max_runs_per_key)
        nfa = rule.nfa
        states = nfa.states
        index = {id(s): i for i, s in enumerate(states)}
        plan = EdgePlan(rule)
        names = self.var_names = plan.var_names
        var_index = plan.var_index
        rank = np.array(
            [rule.binding_order.index(n) if n in rule.binding_order else len(names) + i
             for i, n in enumerate(names)],
            dtype=np.int64,
        )  # fmt: skip
        kinds, plain, ptf, first, count = [], [], [], [], []
        act, tgt, var = [], [], []
        for state in states:
            kinds.append(_KINDS[state.kind])
            plain.append(1 if state.plain else 0)
            ptf.append(1 if state.proceeds_to_final else 0)
            first.append(len(act))
            count.append(len(state.edges))
            for edge in state.edges:
                act.append(_ACTIONS[edge.action])
                tgt.append(index[id(edge.target)])
                var.append(var_index[edge.source.var])
        self.conds = plan.conds
        #: the fields programs read (`emit`'s only when reports are written as text)
        self.slots = plan.programs.slots[: None if as_text else plan.emit_slots_from]
        self.strings = plan.strings
        self.program_arrays = plan.programs.arrays()
        self.emit_plan = plan.emit if as_text else None
        #: reports as JSON text (`ReportWriter`) instead of `LazyMatch`es
        self.as_text = as_text
        self.writer = ReportWriter(self)
        #: each kept event's text, beside its type code, time, line and sequence number:
        #: its JSON line as read, or with `as_text` a row's record as encoded (`stored`
        #: and `MatchTable` rebuild a `KeptEvent` from these)
        self._record_texts = TextTable(width=4)
        self._type_codes: dict[str, int] = {}
        self.type_names: list[str] = []  # by code
        #: cleared when a number an `emit` program reads is beyond float64's exact
        #: integers (then the interpreter evaluates `emit`)
        self.emit_exact = True
        self.stack = np.zeros(plan.programs.depth, dtype=np.float64)
        self._no_bits = np.zeros((0, 0), dtype=np.uint8)
        #: program string codes by a string column's dictionary codes
        self._string_tables = DictionaryTables(-1.0, np.float64)
        start = nfa.start
        start_takes = [
            first[index[id(start)]] + j for j, edge in enumerate(start.edges) if edge.action == TAKE
        ]
        as_array = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
        self.nfa = tables.NfaArrays(
            st_kind=as_array(kinds),
            st_plain=as_array(plain),
            st_ptf=as_array(ptf),
            st_e0=as_array(first),
            st_en=as_array(count),
            ed_act=as_array(act),
            ed_tgt=as_array(tgt),
            ed_cond=as_array(plan.edge_rows),
            ed_var=as_array(var),
            rank=rank,
            start_takes=as_array(start_takes),
            ed_prog=as_array(plan.edge_programs),
        )
        skip_var = var_index.get(rule.skip_var, -1) if rule.skip_var else -1
        fan = tables.fan_out(first, count, act, tgt)
        self.params = np.array(
            [
                index[id(start)],
                rule.window_ms if rule.window_ms is not None else -1,
                _SKIPS[rule.skip],
                skip_var,
                max_runs_per_key,
                1 if rule.timeout_emit is not None else 0,
                1 if start.plain else 0,
                plan.where_program,
                fan,
                budget,
            ],
            dtype=np.int64,
        )
        self.state = tables.KernelState(len(self.slots), fan)
        #: partition codes by key (the kernel's lists grow for new ones: `_run_kernel`)
        self.keys = PartitionKeys()
        self.events: dict[int, Event | KeptEvent] = {}  # by kernel event index
        #: a restore's events (`cep.engine.restored.RestoredEvents`) not yet in `events`,
        #: and the row there of each kernel event (-1, or past the end: none)
        self.restored: Any = None
        self.restored_rows = np.zeros(0, np.int64)
        self.screen = rule.nfa.skips_irrelevant
        self.term_types = self.matcher.term_types
        #: per run-independent term whose condition is a program: its index, run over a
        #: batch by `evaluate.test_events`
        self.term_programs = plan.term_programs
        self.tests = plan.tests
        self.missing_key = 0
        #: partition codes by a string key column's dictionary codes
        self._partition_tables = DictionaryTables(UNMAPPED, np.int64)
        self._live_after_compaction = 0
        self._cells_after_compaction = 0
        #: turns a `KeptEvent` into an `Event`
        self.materialize: Callable[[KeptEvent], Event] = _no_lazy_events

    def _count_missing_keys(self, batch: Batch, lacking: Iterable[int]) -> None:
        """Count the events (indexes) that lack the key, of a type a term tests."""
        for i in lacking:
            if self.term_types is None or batch.type_name(int(i)) in self.term_types:
                self.missing_key += 1

    def _run_kernel(
        self,
        ts,
        seq,
        codes,
        bits,
        fire_up_to: int,
        values: np.ndarray,
        keep: Callable[[], None] | None = None,
    ) -> None:
        """`kernel.run_batch`, the partitions of new keys added first; the tables grown
        whenever the kernel stops for room (the history compacted instead when most of
        it is dead, `keep` called first to keep the texts of the events the batch's
        cells so far hold); the oldest runs dropped whenever it stops over the budget of
        live state (`kernel.shed`)."""
        state = self.state
        new = len(self.keys) - state.count(tables.S_PARTS)
        if new:
            state.add_partitions(new)
        sc = state.scalars
        if not sc[tables.S_COSTED]:  # (new or restored tables)
            sc[tables.S_COST] = tables.live_cost(state.tables)
            sc[tables.S_COSTED] = 1
        begin = 0
        while True:
            begin = kernel.run_batch(
                self.nfa, self.params, ts, seq, codes, bits, fire_up_to, state.tables,
                self.extras(values), begin,
            )  # fmt: skip
            if begin < 0:
                return
            sc = state.scalars
            if sc[tables.S_OVER]:
                _, held = tables.live_counts(state.tables)
                state._grow("out", int(sc[tables.S_OUT]) + held)
                i = begin - 1
                kernel.shed(
                    state.tables, self.params, self.nfa.rank, np.int64(ts[i]), np.int64(seq[i])
                )
                continue
            if (
                keep is not None
                and sc[tables.S_NEED_CELLS] > len(state.tables.c_var)
                and sc[tables.S_CELLS] >= max(CELLS_COMPACT_AT, 2 * self._cells_after_compaction)
            ):
                keep()
                self._compact()
                keep()  # (nothing to keep: the batch's cells start after those kept)
                continue  # (the kernel asks again for what it still lacks)
            state.grow()

    def extras(self, values: np.ndarray) -> tables.Extras:
        """The kernel's `X` for a batch whose slot values are `values`."""
        state = self.state
        return tables.Extras(
            programs=self.program_arrays,
            batch_values=values,
            stored_values=state.values,
            stack=self.stack,
            no_bits=self._no_bits,
            scratch=state.scratch,
        )

    def candidates(self, batch: Batch) -> np.ndarray | None:
        """Which events of a batch some term's test accepts: the only ones the kernel can
        keep. None where a term is tested by a program (its strings are coded in the
        rule's table, which only the matching thread writes) or event by event. The
        tests' results are left with the batch for `run_columns`."""
        if self.term_programs or any(test is None for test in self.tests):
            return None
        term_bits = batch.made_ahead[self] = self._term_bits(batch, None, None)
        return term_bits.any(axis=0)

    def _term_bits(
        self,
        batch: Batch,
        event_at: Callable[[int], Event] | None,
        events: list[Event] | None,
    ) -> np.ndarray:
        """Each term's test over a batch (`term_bits[t, i]`): NumPy's, then a term
        program over the events of the term's type (`_programmed`); a condition outside
        both tested one event at a time (`event_at`)."""
        term_bits = np.zeros((len(self.tests), len(batch)), dtype=np.bool_)
        for t, (term, test) in enumerate(zip(self.rule.terms, self.tests, strict=True)):
            if test is not None:
                term_bits[t] = test(batch)
                program = self.term_programs.get(t)
                if program is not None:
                    assert event_at is not None
                    self._programmed(program, term, term_bits[t], batch, event_at, events)
            else:
                assert event_at is not None
                for i in range(len(batch)):
                    term_bits[t, i] = term.test(event_at(i), None)
        return term_bits

    def _programmed(
        self,
        program: int,
        term: TermTest,
        accepted: np.ndarray,
        batch: Batch,
        event_at: Callable[[int], Event],
        events: list[Event] | None,
    ) -> None:
        """`accepted` (the events of the term's type) narrowed to those its program
        accepts, in numba; where a value read is an integer beyond float64's exact ones,
        the interpreter's test instead, event by event."""
        rows = np.flatnonzero(accepted)
        if not len(rows):
            return
        if events is None:
            values = self._column_values(batch, rows)
        else:
            values = self._event_values([events[i] for i in rows.tolist()])
        if (np.abs(values) >= EXACT_INTEGERS).any():
            passed = np.array([term.test(event_at(i), None) for i in rows.tolist()], np.bool_)
        else:
            passed = np.empty(len(rows), np.bool_)
            state = self.state
            evaluate.test_events(program, state.tables, self.extras(values), passed)
        accepted[rows] = passed

    def fields_tested(self) -> set[str]:
        """The fields the rule's term tests read."""
        wanted: set[str] = set()
        for node in self.term_nodes:
            wanted |= fields_used(node.condition, self.rule_resolutions)
        return wanted - {"ts", "type"}

    def fields_read(self) -> set[str]:
        """The fields the rule's term tests, key and programs read."""
        wanted = self.fields_tested()
        wanted |= {parts[0] for _, parts in self.rule.key_fields}
        wanted |= {slot.name for slot in self.slots}
        return wanted - {"ts", "type"}

    def advance(self, fire_up_to: int) -> MatchTable | ReportLines:
        """Close the windows that end at or before `fire_up_to` (no new events); the
        reports released (`_reports`)."""
        none = np.zeros(0, dtype=np.int64)
        bits = np.zeros((max(len(self.conds), 1), 0), dtype=np.uint8)
        values = np.zeros((len(self.slots), 0), dtype=np.float64)
        self._run_kernel(none, none, none, bits, fire_up_to, values)
        return self._reports()

    def run_columns(
        self,
        batch: Batch,
        seqs: np.ndarray | int,
        accepted: np.ndarray | None,
        fire_up_to: int,
        make_events: Callable[[Batch, list[int], list[int]], list[Any]],
        events: list[Event] | None = None,
    ) -> MatchTable | ReportLines:
        """Match a batch of columns (events in time order; `accepted` masks late ones,
        None for none late); the reports released (`_reports`). `seqs`: the events'
        sequence numbers, or the first one where they follow each other. `events`, when
        the batch was made from events, are used where a test or a key needs a whole
        event."""

        def event_at(i: int) -> Event:
            if events is not None:
                return events[i]
            return Event(batch.type_name(i), int(batch.ts[i]), batch.values(i))

        n = len(batch)
        term_bits = batch.made_ahead.get(self)  # (`candidates`, on a reader's thread)
        if term_bits is None:
            term_bits = self._term_bits(batch, event_at, events)
        if not self.screen:
            mask = np.ones(n, np.bool_) if accepted is None else accepted.copy()
        elif accepted is None:
            mask = term_bits[0].copy() if len(term_bits) == 1 else term_bits.any(axis=0)
        else:
            mask = accepted & term_bits.any(axis=0)
        key_names = self.matcher.key_paths
        # one plain field as the key: from its column (batches made from events: from the
        # events, with the interpreter's own `partition_key`)
        single = len(key_names) == 1 and len(key_names[0]) == 1 and events is None
        column = batch.columns.get(key_names[0][0]) if single else None
        if column is not None and column.kind == "str" and not column.other:
            # string keys: partition codes straight from the dictionary codes
            if column.valid.all():
                chosen = np.flatnonzero(mask)
            else:
                self._count_missing_keys(batch, np.flatnonzero(mask & ~column.valid))
                chosen = np.flatnonzero(mask & column.valid)
            table = self._partition_tables.table(column.dictionary)
            new = unnumbered(chosen, column.values, table)
            if len(new):
                table[new] = self.keys.from_dictionary(column.dictionary, new)
            chosen_codes = partition_codes(chosen, column.values, table)
        else:
            codes = np.full(n, -1, dtype=np.int64)
            if single:
                for i in np.nonzero(mask)[0]:
                    value = column.get(int(i)) if column is not None else None
                    if value is None:
                        self._count_missing_keys(batch, [i])
                        mask[i] = False
                        continue
                    plain = value if not isinstance(value, list | dict) else repr(value)
                    codes[i] = self.keys.code(plain)
            elif not key_names:
                codes[mask] = self.keys.code(())
            else:
                for i in np.nonzero(mask)[0]:
                    event = event_at(int(i))
                    key = self.matcher.partition_key(event)
                    if key is None:
                        self._count_missing_keys(batch, [i])
                        mask[i] = False
                        continue
                    codes[i] = self.keys.code(key)
            chosen = np.nonzero(mask)[0]
            chosen_codes = codes[chosen]
        bits = np.zeros((max(len(self.conds), 1), len(chosen)), dtype=np.uint8)
        chosen_bits = term_bits[:, chosen]
        for c, cond in enumerate(self.conds):
            bits[c] = vectorize(cond, chosen_bits)
        state = self.state
        first_cell = state.count(tables.S_CELLS)
        ts = batch.ts[chosen].astype(np.int64)
        seq = chosen + seqs if isinstance(seqs, int) else seqs[chosen]
        if events is None:
            values = self._column_values(batch, chosen)
        else:
            values = self._event_values([events[i] for i in chosen.tolist()])
        if (
            self.emit_plan is not None
            and self.emit_exact
            and (np.abs(values) >= EXACT_INTEGERS).any()
        ):
            self.emit_exact = False  # float64 may round these: `emit` by the interpreter
        first = [first_cell]

        def keep() -> None:
            # the events new histories hold (all of this batch): kept for the reports
            n_cells = state.count(tables.S_CELLS)
            if n_cells > first[0]:
                wanted, positions = new_kept_events(
                    state.tables.c_ev[first[0] : n_cells], state.tables.e_seq, seq
                )
                rows = chosen[positions]
                kept_seqs = seq[positions]
                self._keep_texts(batch, rows, wanted, kept_seqs, make_events, events is None)
            first[0] = n_cells

        self._run_kernel(ts, seq, chosen_codes, bits, fire_up_to, values, keep)
        keep()
        return self._reports()

    def _keep_texts(
        self,
        batch: Batch,
        rows: np.ndarray,
        wanted: np.ndarray,
        seqs: np.ndarray,
        make_events: Callable[[Batch, list[int], list[int]], list[Any]],
        from_columns: bool,
    ) -> None:
        """Kept events' texts (what reports write of them), kept in bulk where the batch
        can: JSON lines as they lie in the batch's buffer (`Batch.line_texts`, lent), and
        with `as_text` CSV and Arrow rows' records encoded (`Batch.record_pieces`); the
        others are kept as events (`make_events`), and with `as_text` their texts made
        as the interpreter makes them (`event_json`)."""
        table = self._record_texts
        missing = None  # the k whose event has no text: all of them until one is made
        if from_columns and (lines := batch.line_texts()) is not None:
            # the batch's buffer held: no copy (`_compact_if_due`); copied at once with
            # `as_text` (reports are joined from the table's own buffer)
            missing = table.lend(wanted, *lines, rows)
            if self.as_text:
                table.settle()
        elif from_columns and self.as_text:
            if (ahead := batch.ahead_texts(rows)) is not None:
                table.put_picked(wanted, *ahead)  # (only the kept texts copied)
                missing = np.zeros(0, np.int64)
            elif (pieces := batch.record_pieces(rows)) is not None:
                table.put(wanted, pieces)
                missing = np.zeros(0, np.int64)
        no_entries = missing is None and not self.as_text  # (no room made for info)
        missing = np.arange(len(rows)) if missing is None else missing
        if len(missing):
            kept = make_events(batch, rows[missing].tolist(), seqs[missing].tolist())
            self.events.update(zip(wanted[missing].tolist(), kept, strict=True))
            if self.as_text:
                texts = [kept_json(event) for event in kept]
                table.put_texts(wanted[missing], [_utf8(text) for text in texts])
        if no_entries:
            return
        names, codes = batch.types.values, self._type_codes
        type_codes = np.array(
            [codes.setdefault(names[t], len(codes)) for t in range(len(names))], np.int64
        )
        if len(codes) > len(self.type_names):
            self.type_names = list(codes)
        # every wanted entry has its text now, so room for it
        write_info(table.info, wanted, rows, type_codes, batch.type, batch.ts, batch.line, seqs)

    def stored(self, g: int) -> Event | KeptEvent:
        """Kernel event `g` as kept: an event, or a `KeptEvent` (made from its text when
        only that was kept)."""
        event = self.events.get(g)
        if event is None and (event := self.restored_event(g)) is not None:
            self.events[g] = event
        elif event is None:
            table = self._record_texts
            type_code, ts, line, seq = table.info[g].tolist()
            text = table.text(g)
            event = KeptEvent(text, self.type_names[type_code], ts, line, seq, json_record, text)
            self.events[g] = event
        return event

    def restored_event(self, g: int) -> Event | None:
        """Kernel event `g` made from the restore's events (None: not one of them)."""
        rows = self.restored_rows
        row = int(rows[g]) if g < len(rows) else -1
        return self.restored[row] if row >= 0 else None

    def _compact_if_due(self) -> None:
        """Keep memory bounded by live state: drop history no run or held match needs,
        once the history has doubled since the last time, or the batches whose lines the
        kept events are (lent, not copied) hold more than `LEND_LIMIT` bytes (then the
        lines of the events still held are copied, and the batches let go)."""
        state = self.state
        stored = state.count(tables.S_EVENTS)
        lent_over = self._record_texts.lent_bytes > LEND_LIMIT
        cells = state.count(tables.S_CELLS)
        cells_due = cells >= max(CELLS_COMPACT_AT, 2 * self._cells_after_compaction)
        if not cells_due and (
            stored < 2 * self._live_after_compaction or (stored < COMPACT_AT and not lent_over)
        ):
            if lent_over:  # too soon to compact again: every lent line copied
                self._record_texts.settle()
            return
        self._compact()

    def _compact(self) -> None:
        """Drop the history no run, held match or report written needs."""
        state = self.state
        kept = tables.compact(state.tables, state.values, len(self.slots))
        events = self.events
        self.events = {new: events[old] for new, old in enumerate(kept.tolist()) if old in events}
        rows = self.restored_rows
        if len(rows):
            rows = np.where(kept < len(rows), rows[np.minimum(kept, len(rows) - 1)], -1)
            live = np.flatnonzero(rows >= 0)
            self.restored_rows = rows[: int(live[-1]) + 1] if len(live) else rows[:0]
            if not len(live):
                self.restored = None
        self._record_texts.keep(kept)
        self._live_after_compaction = len(kept)
        self._cells_after_compaction = state.count(tables.S_CELLS)

    def _convert(self, value: Any, kind: str) -> float:
        """A field's value as a program sees it (NaN: null or not of the slot's kind)."""
        if value is None:
            return np.nan
        if kind == NUM:
            kind_of = type(value)
            return float(value) if kind_of is int or kind_of is float else np.nan
        if kind == STR:
            return float(self.strings.code(value)) if type(value) is str else np.nan
        return (1.0 if value else 0.0) if type(value) is bool else np.nan

    def _event_values(self, events: list[Event]) -> np.ndarray:
        """`values[slot, i]`: the slots of some events."""
        out = np.empty((len(self.slots), len(events)), dtype=np.float64)
        for f, slot in enumerate(self.slots):
            name, kind = slot.name, slot.kind
            out[f] = [self._convert(event.get(name), kind) for event in events]
        return out

    def _column_values(self, batch: Batch, chosen: np.ndarray) -> np.ndarray:
        """`values[slot, i]`: the slots of the chosen events of a batch of columns."""
        out = np.full((len(self.slots), len(chosen)), np.nan, dtype=np.float64)
        for f, slot in enumerate(self.slots):
            if slot.name == "ts":
                out[f] = batch.ts[chosen]
                continue
            column = batch.columns.get(slot.name)
            if column is None:
                continue
            valid = column.valid[chosen]
            if column.kind == "str" and slot.kind == STR:
                codes = np.where(valid, column.values[chosen], 0)
                table = self._string_codes(column, codes[valid])
                out[f] = np.where(valid, table[codes], np.nan)
            elif (column.kind, slot.kind) in _DIRECT:
                out[f] = np.where(valid, column.values[chosen], np.nan)
            else:  # objects: one by one
                out[f] = [
                    self._convert(column.values[i] if column.valid[i] else None, slot.kind)
                    for i in chosen.tolist()
                ]
            if column.other:
                position = {int(i): j for j, i in enumerate(chosen.tolist())}
                for i, value in column.other.items():
                    if i in position:
                        out[f, position[i]] = self._convert(value, slot.kind)
        return out

    def _string_codes(self, column: Any, codes: np.ndarray) -> np.ndarray:
        """The rule's string codes by a column's dictionary codes, made for the
        dictionary codes in `codes` that have none yet (-1: not made)."""
        dictionary = column.dictionary
        table = self._string_tables.table(dictionary)
        values = dictionary.values
        code = self.strings.code
        # (return_index: np.unique without it imports numpy.ma, 20 ms of a short run)
        for at in np.unique(codes[table[codes] < 0], return_index=True)[0].tolist():
            table[at] = code(values[at])
        return table

    def _reports(self) -> MatchTable | ReportLines:
        """The reports the kernel wrote since the last call: a `MatchTable`, or with
        `as_text` their JSON lines (`ReportLines`); then history compacted when due."""
        state = self.state
        count = state.count(tables.S_OUT)
        out: MatchTable | ReportLines
        if not count:
            out = ReportLines.empty() if self.as_text else MatchTable.empty(self)
        else:
            t = state.tables
            columns = [getattr(t, name)[:count] for name in tables.GROUPS["out"]]
            paths = histories.collect_paths(columns[2], t.c_var, t.c_ev, t.c_parent)
            if self.as_text:
                out = self.writer.lines(columns, paths)
            else:
                out = MatchTable(self, columns, paths, *self._captured(paths[2]))
            state.scalars[tables.S_OUT] = 0
        self._compact_if_due()
        return out

    def _captured(self, events: np.ndarray) -> tuple[HeldTexts, dict[int, Any]]:
        """What a `MatchTable` keeps of the kernel events of its histories (`events`, by
        history cell): their kept texts (the buffer as it is, each cell's start, end and
        info), and the events kept as objects by cell position."""
        table = self._record_texts
        starts, ends, source, info = table.held(events)
        missing = np.flatnonzero(ends < 0).tolist()
        kept, restored = self.events, self.restored_event
        objects = {k: kept[g] if g in kept else restored(g)
                   for k, g in zip(missing, events[missing].tolist(), strict=True)}  # fmt: skip
        return HeldTexts(table.data, tuple(table.lent), starts, ends, source, info), objects

    def content(self, path: Any, kind: str, key: dict[str, Any] | None) -> tuple[dict, dict]:
        """A report's fields and events (`LazyMatch`), its kept events rebuilt first."""
        events = []
        while path is not None:
            name, event, path = path
            if type(event) is KeptEvent:
                if event.event is None:
                    event.event = self.materialize(event)
                event = event.event
            events.append((name, event))
        for name, event in reversed(events):
            path = (name, event, path)
        return self.matcher.content(path, kind, key)

    def key_record(self, part: int) -> Any:
        return self.matcher.key_record(self.keys[part])

    def stats(self) -> RuleStats:
        sc = self.state.scalars
        open_runs, held = tables.live_counts(self.state.tables)
        return RuleStats(
            matches=int(sc[tables.S_MATCHES]),
            timeouts=int(sc[tables.S_TIMEOUTS]),
            open_runs=open_runs,
            held_matches=held,
            dropped_runs=int(sc[tables.S_DROPPED]),
            budget_dropped=int(sc[tables.S_BUDGET_DROPPED]),
            expired_runs=int(sc[tables.S_EXPIRED]),
            missing_key=self.missing_key,
        )


def _utf8(text: str | bytes) -> bytes:
    return text if type(text) is bytes else text.encode()  # type: ignore[union-attr]


def _no_lazy_events(kept: KeptEvent) -> Event:
    raise TypeError("this rule keeps no events as lines")
