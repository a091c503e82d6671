"""A fast path rule's state as plain data and back (`cep.engine.state.RuleState`).

The kernel's tables (cep/fast/tables.py) are written as the interpreter would hold the
same state: only live partitions (with open runs or held matches), each one's runs in
creation order and held matches in release order, the history cells they reach (in
creation order, renumbered), and the timers of live partitions earliest first. Kernel
events become rows of the engine's one event table, numbered by sequence number so that
rules share them; on restore they are stored again in processing order ((time,
arrival) order, which is the order the kernel compares them in), with their slot values
recomputed from their typed data and their texts kept as reports write them.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np

from cep.compile.programs import NUM, STR
from cep.compile.rule import CompiledRule
from cep.engine.events import events_of
from cep.engine.restored import RestoredEvents
from cep.engine.state import (
    TEXT,
    EngineState,
    EventRows,
    RuleState,
    SnapshotError,
    array,
    checked_tables,
    distinct_rows,
    ints,
    lex_order,
)
from cep.fast import tables
from cep.fast.emit import EXACT_INTEGERS
from cep.fast.reports import KeptEvent, kept_json
from cep.fast.reporttext import OWN
from cep.fast.rule import FastRule
from cep.fast.storedtexts import OBJECT, RESTORED, TextRefs, event_table
from cep.io.batch import Batch, EventColumns
from cep.io.sources import SourceEvent
from cep.io.validation import Validator
from cep.runtime.event import Event

#: the counters a rule's state carries, by name
COUNTERS = (
    "matches", "timeouts", "dropped_runs", "expired_runs", "missing_key", "budget_dropped"
)  # fmt: skip
_SC = {
    "matches": tables.S_MATCHES,
    "timeouts": tables.S_TIMEOUTS,
    "dropped_runs": tables.S_DROPPED,
    "expired_runs": tables.S_EXPIRED,
    "budget_dropped": tables.S_BUDGET_DROPPED,
}
#: `p_timer` of a partition with no timer yet (`tables.add_partitions`)
NO_TIMER = -(2**62)


class SeqRows(EventRows):
    """`EventRows` by sequence number: one row per event of the engine, though each
    rule rebuilds its own object for it."""

    def row(self, event: Event) -> int:
        found = self.rows.get(event.seq)
        if found is None:
            found = self.rows[event.seq] = len(self.events)
            self.events.append(event)
        return found

    @classmethod
    def of(cls, events: list[Event]) -> SeqRows:
        """Rows numbered as a table's events already are."""
        rows = cls()
        for event in events:
            rows.row(event)
        return rows

    def sorted_rows(self) -> np.ndarray:
        """Renumber rows by sequence number (a snapshot's table does not depend on the
        order rules were written in); returns the new row of each old one."""
        order = sorted(range(len(self.events)), key=lambda i: self.events[i].seq)
        new = np.empty(len(order), np.int64)
        new[order] = np.arange(len(order))
        self.events = [self.events[i] for i in order]
        self.rows = {event.seq: i for i, event in enumerate(self.events)}
        return new


# ------------------------------------------------------------------------ snapshot


def rule_state(
    fast: FastRule,
    name: str,
    fingerprint: str,
    materialize: Callable[[KeptEvent], Event],
    refs: TextRefs,
) -> tuple[RuleState, np.ndarray, list[Event | None]]:
    """A rule's state, the kernel events it refers to and those as events; its tables
    refer to them by their place there (`engine_state` numbers them as the
    engine's table does, with `renumber`)."""
    T = fast.state.tables
    run_part, run_row, held_part, held_row, live_cell = tables.live_rows(T)
    cells = np.flatnonzero(live_cell)
    new_cell = np.full(len(live_cell) + 1, -1, np.int64)  # (index -1: no cell)
    new_cell[cells] = np.arange(len(cells))
    parents = T.c_parent[cells]
    kernel_events = np.concatenate([T.c_ev[cells], T.r_start[run_row], T.k_start[held_row]]).astype(
        np.int64
    )
    used = _marked(kernel_events, fast.state.count(tables.S_EVENTS))
    events = _events(fast, used, materialize, refs)
    row_of = np.full(max(fast.state.count(tables.S_EVENTS), 1), -1, np.int64)
    row_of[used] = np.arange(len(used))
    as_row = row_of.__getitem__
    # partitions with runs, held matches or a timer still to fire (a partition emptied
    # since keeps its timer: it fires on the runs the partition has by then), numbered
    # in the order the rule first saw them
    close, ts, seq, timed = _timers(T, fast.state.count(tables.S_HEAP))
    parts = _marked(np.concatenate([run_part, held_part, timed]), fast.state.count(tables.S_PARTS))
    part_of = np.full(max(fast.state.count(tables.S_PARTS), 1), -1, np.int64)
    part_of[parts] = np.arange(len(parts))
    sc = T.sc
    counters = {key: int(sc[slot]) for key, slot in _SC.items()}
    counters["missing_key"] = fast.missing_key
    several = len(fast.matcher.key_paths) != 1
    keys = fast.keys.keys_of(parts.tolist())
    if several:
        keys = [list(key) for key in keys]
    state = RuleState(
        name=name,
        fingerprint=fingerprint,
        step=int(sc[tables.S_STEP]),
        counters=counters,
        variables=list(fast.var_names),
        keys=keys,
        timer=ints(T.p_timer[parts]),
        cell_var=ints(T.c_var[cells]),
        cell_event=ints(as_row(T.c_ev[cells])),
        cell_parent=ints(new_cell[parents]),
        run_part=ints(part_of[run_part]),
        run_state=ints(T.r_state[run_row]),
        run_cell=ints(new_cell[T.r_cell[run_row]]),
        run_start=ints(as_row(T.r_start[run_row])),
        held_part=ints(part_of[held_part]),
        held_cell=ints(new_cell[T.k_cell[held_row]]),
        held_start=ints(as_row(T.k_start[held_row])),
        held_ts=ints(T.k_ts[held_row]),
        held_step=ints(T.k_step[held_row]),
        timer_close=ints(close),
        timer_ts=ints(ts),
        timer_seq=ints(seq),
        timer_part=ints(part_of[timed]),
    )
    return state, used, events


def _marked(values: np.ndarray, end: int) -> np.ndarray:
    """The distinct values of some integers in `[0, end)`, in increasing order."""
    marks = np.zeros(end, np.bool_)
    marks[values] = True
    return np.flatnonzero(marks)


def renumber(state: RuleState, new_row: np.ndarray) -> None:
    """A rule state's event rows renumbered (`SeqRows.sorted_rows`)."""
    for name in ("cell_event", "run_start", "held_start"):
        rows = array(getattr(state, name))
        setattr(state, name, ints(np.where(rows >= 0, new_row[rows], rows)))


def _timers(T: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rule's pending timers, earliest first: closing times, the time and sequence
    number of the event that scheduled each, partitions."""
    head = int(T.sc[tables.S_QUEUE])
    span = slice(head, head + n) if head >= 0 else slice(0, n)
    close, ts, seq, part = (
        np.asarray(c[span], np.int64) for c in (T.h_close, T.h_ts, T.h_seq, T.h_part)
    )
    order = lex_order((part, seq, ts, close))
    return close[order], ts[order], seq[order], part[order]


def _events(
    fast: FastRule, used: np.ndarray, materialize: Callable[[KeptEvent], Event], refs: TextRefs
) -> list[Event | None]:
    """Kernel events `used` as events, None for those kept only as text (a JSON line as
    read, in the rule's text table or a restore's table), which `refs` notes where they
    lie (their typed values left for a restore to make); a snapshot leaves the rule's
    memory as it was."""
    kept = fast.events
    found: list[Any] = list(map(kept.get, used.tolist())) if kept else [None] * len(used)
    if None not in found:
        refs.objects(len(used))
    elif found.count(None) == len(found):
        _text_refs(fast, used, np.arange(len(found)), refs)
    else:
        missing = np.array([j for j, event in enumerate(found) if event is None], np.int64)
        _text_refs(fast, used, missing, refs)
    if KeptEvent not in set(map(type, kept.values())):
        return found
    for j, event in enumerate(found):
        if type(event) is KeptEvent:
            if event.event is not None:
                found[j] = event.event
            elif type(event.payload) is str:
                text = _str(kept_json(event))
                found[j] = SourceEvent(event.type, event.ts, None, event.seq, event.line,
                                       json=text)  # type: ignore[arg-type]  # fmt: skip
            else:
                found[j] = materialize(event)
    return found


def _text_refs(fast: FastRule, used: np.ndarray, missing: np.ndarray, refs: TextRefs) -> None:
    """Kernel events `used[missing]`, kept as no object, noted in `refs` where their
    texts lie (the rule's text table, or the restore's table), or (restored ones not
    kept as text) as the restore's table holds them (`RESTORED`)."""
    source = np.full(len(used), OBJECT, np.int64)
    start, end, type_code, line = (np.zeros(len(used), np.int64) for _ in range(4))
    kind = np.full(len(used), TEXT, np.int64)
    rows = np.full(len(missing), -1, np.int64)
    restored = fast.restored_rows
    inside = used[missing] < len(restored)
    rows[inside] = restored[used[missing][inside]]
    events = fast.restored
    if (rows >= 0).any():  # restored ones: as the restore's table holds them
        made = rows >= 0
        stored = made.copy()
        stored[made] = events.kinds(rows[made]) != TEXT
        if stored.any():  # (records and values: as stored, no event made)
            at, here = missing[stored], rows[stored]
            source[at], kind[at] = RESTORED, events.kinds(here)
            start[at] = refs.restored(events.stored_values(here))
            type_code[at] = refs.name_codes(events.type_names())[events.type_codes(here)]
            line[at] = events.lines(here)
        missing, rows = missing[~stored], rows[~stored]
    table = fast._record_texts
    starts, ends, sources, info = table.held(used[missing])
    own = refs.buffer(table.data)
    lent = np.array([refs.buffer(data) for data in table.lent] or [own], np.int64)
    source[missing] = np.where(sources == OWN, own, lent[np.maximum(sources, 0)])
    start[missing], end[missing] = starts, ends
    kept = ends >= 0
    type_code[missing[kept]] = refs.name_codes(fast.type_names)[info[kept, 0]]
    line[missing] = info[:, 2]
    elsewhere = (ends < 0) & (rows >= 0)  # (restored, not in the text table)
    if elsewhere.any():
        at, here = missing[elsewhere], rows[elsewhere]
        blob, start[at], end[at] = events.text_pieces(here)
        source[at] = refs.buffer(blob)
        type_code[at] = refs.name_codes(events.type_names())[events.type_codes(here)]
        line[at] = events.lines(here)
    refs.add(source, start, end, type_code, line, kind)


def _str(text: str | bytes) -> str:
    return text if type(text) is str else text.decode()  # type: ignore[union-attr]


# ------------------------------------------------------------------------- restore


def check_rule(rule: CompiledRule, state: RuleState, n_events: int) -> None:
    """SnapshotError unless a rule's saved tables fit the rule and each other (done
    when restoring: the state goes into the rule when it is first fed)."""
    names = list(rule.binding_order)  # (as `EdgePlan` numbers variables)
    names += [s.var for s in rule.nfa.states if s.var not in names]
    _checked(state, names, len(rule.nfa.states), len(rule.key_fields), n_events)


def _checked(
    state: RuleState, var_names: list[str], n_states: int, n_keys: int, n_events: int
) -> dict[str, np.ndarray]:
    """A rule state's tables as arrays, by name, and `var_of` (the rule's variable
    index of each saved one); SnapshotError where they do not fit."""
    by_name = {name: v for v, name in enumerate(var_names)}
    try:
        var_of = np.array([by_name[name] for name in state.variables], np.int64)
    except KeyError as missing:
        raise SnapshotError(f"rule {state.name}: no variable {missing} to restore") from None
    t = checked_tables(state, len(var_of), n_states, n_events)
    t["var_of"] = var_of
    if (
        (len(t["run_start"]) and int(t["run_start"].min()) < 0)
        or (len(t["held_cell"]) and int(t["held_cell"].min()) < 0)
        or (n_keys != 1 and any(type(key) is not list or len(key) != n_keys
                                for key in state.keys))
    ):  # fmt: skip
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s tables)")
    return t


def restore_rule(fast: FastRule, state: RuleState, events: RestoredEvents) -> None:
    """Put a rule's saved state into a fresh `FastRule`; `events` are the snapshot's
    event table's (the rule makes each when it first needs it)."""
    kernel = fast.state
    if kernel.count(tables.S_PARTS) or kernel.count(tables.S_EVENTS):
        raise RuntimeError("restore into a rule that has matched nothing yet")
    n_keys = len(fast.matcher.key_paths)
    t = _checked(state, fast.var_names, len(fast.nfa.st_kind), n_keys, len(events))
    var_of = t["var_of"]
    cell_var, cell_event, cell_parent = t["cell_var"], t["cell_event"], t["cell_parent"]
    run_part, run_state, run_cell, run_start = (
        t["run_part"], t["run_state"], t["run_cell"], t["run_start"],
    )  # fmt: skip
    held_part, held_cell, held_start, held_ts, held_step = (
        t["held_part"], t["held_cell"], t["held_start"], t["held_ts"], t["held_step"],
    )  # fmt: skip
    timer_close, timer_ts, timer_seq, timer_part = (
        t["timer_close"], t["timer_ts"], t["timer_seq"], t["timer_part"],
    )  # fmt: skip
    n_parts, n_cells, n_runs, n_held = len(state.keys), len(cell_var), len(run_part), len(held_part)
    # the events the rule refers to, stored in processing order
    used = _marked(np.concatenate([cell_event, run_start, held_start]), len(events))
    ts, seq = events.ts[used], events.seq[used]
    order = lex_order((seq, ts))
    in_order = used[order]
    g_of = np.full(len(events), -1, np.int64)
    g_of[in_order] = np.arange(len(in_order))
    n_events = len(in_order)
    kernel._grow("events", n_events)
    kernel._grow("cells", n_cells)
    kernel._grow("runs", n_runs)
    kernel._grow("comps", n_held)
    kernel._grow("heap", len(timer_close))
    keys = state.keys if n_keys == 1 else [_fast_key(key, True) for key in state.keys]
    try:
        fresh = fast.keys.extend(keys)
    except TypeError:  # (a key that cannot be one)
        fresh = False
    if not fresh or len(fast.keys) != n_parts:
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s keys)")
    kernel.add_partitions(n_parts)
    T = kernel.tables
    sc = T.sc
    # events: times, sequence numbers, slot values, kept as events (and texts)
    T.e_ts[:n_events] = ts[order]
    T.e_seq[:n_events] = seq[order]
    n_slots = len(fast.slots)
    if n_slots and n_events:
        values = _slot_values(fast, events, in_order)
        kernel.values[: n_events * n_slots] = values.T.ravel()
        if fast.emit_plan is not None and (np.abs(values) >= EXACT_INTEGERS).any():
            fast.emit_exact = False
    sc[tables.S_EVENTS] = n_events
    fast.events = {}  # (each made from `events` when first needed: `restored_event`)
    fast.restored, fast.restored_rows = events, in_order
    if fast.as_text and n_events:
        _keep_texts(fast, events, in_order)
    fast._live_after_compaction = n_events
    # history cells
    T.c_var[:n_cells] = var_of[cell_var]
    T.c_ev[:n_cells] = g_of[cell_event]
    T.c_parent[:n_cells] = cell_parent
    depth = tables.chain_depths(cell_parent.astype(np.int64))
    T.c_depth[:n_cells] = depth
    sc[tables.S_CELLS] = n_cells
    sc[tables.S_DEPTH] = int(depth.max()) if n_cells else 0
    kernel._grow("depth", int(sc[tables.S_DEPTH]) + 2)
    # runs, each partition's a list in the order given
    T.r_state[:n_runs] = run_state
    T.r_cell[:n_runs] = run_cell
    T.r_start[:n_runs] = g_of[run_start]
    tables.link_rows(T.p_head, T.r_next, run_part)
    sc[tables.S_RUNS] = n_runs
    # held matches, each partition's in release order
    T.k_cell[:n_held] = held_cell
    T.k_start[:n_held] = g_of[held_start]
    T.k_step[:n_held] = held_step
    T.k_ts[:n_held] = held_ts
    tables.link_rows(T.p_comp, T.k_next, held_part)
    sc[tables.S_COMPS] = n_held
    # timers: a queue, earliest first
    T.p_timer[:n_parts] = t["timer"]
    order = lex_order((timer_seq, timer_ts, timer_close))
    n_timers = len(order)
    T.h_close[:n_timers] = timer_close[order]
    T.h_ts[:n_timers] = timer_ts[order]
    T.h_seq[:n_timers] = timer_seq[order]
    T.h_part[:n_timers] = timer_part[order]
    sc[tables.S_HEAP] = n_timers
    sc[tables.S_QUEUE] = 0
    # counters; steps go on after every restored one
    sc[tables.S_STEP] = max([state.step, *held_step.tolist()])
    for key, slot in _SC.items():
        sc[slot] = state.counters.get(key, 0)
    fast.missing_key = state.counters.get("missing_key", 0)


def _slot_values(fast: FastRule, events: RestoredEvents, rows: np.ndarray) -> np.ndarray:
    """`values[slot, i]`: the slots of some events (rows of the restore's), as
    `FastRule._event_values` makes them, a slot at a time."""
    out = np.empty((len(fast.slots), len(rows)), dtype=np.float64)
    data = None
    for f, slot in enumerate(fast.slots):
        name, kind = slot.name, slot.kind
        if name == "ts":
            found = events.ts[rows].tolist()
        elif name == "type":
            names = events.type_names()
            found = [names[code] for code in events.type_codes(rows).tolist()]
        else:
            if data is None:
                data = events.data(rows)
            found = list(map(dict.get, data, repeat(name)))
        if kind == NUM and set(map(type, found)) <= {int, float}:
            out[f] = found
        elif kind == NUM:
            out[f] = [float(v) if (t := type(v)) is int or t is float else _NAN for v in found]
        elif kind == STR:
            code = fast.strings.code
            out[f] = [float(code(v)) if type(v) is str else _NAN for v in found]
        else:
            out[f] = [(1.0 if v else 0.0) if type(v) is bool else _NAN for v in found]
    return out


_NAN = float("nan")


def _fast_key(key: Any, several: bool) -> Any:
    """A saved key as the rule's partitions hold it (a tuple for several fields)."""
    return tuple(key) if several else key


def _keep_texts(fast: FastRule, events: RestoredEvents, rows: np.ndarray) -> None:
    """With reports as text: each restored event's text (as reports write it) and
    information in the rule's table; stored texts taken as they lie, the others made
    from their events."""
    table = fast._record_texts
    at = np.arange(len(rows))
    is_text = events.kinds(rows) == TEXT
    if is_text.any():
        table.put(at[is_text], events.text_pieces(rows[is_text]))
    if not is_text.all():
        made = [kept_json(events[row]) for row in rows[~is_text].tolist()]
        table.put_texts(at[~is_text], [t if type(t) is bytes else t.encode() for t in made])  # type: ignore[union-attr]
    codes = fast._type_codes
    names = events.type_names()
    type_codes = np.array([codes.setdefault(name, len(codes)) for name in names], np.int64)
    if len(codes) > len(fast.type_names):
        fast.type_names = list(codes)
    table.info[at] = np.stack(
        [
            type_codes[events.type_codes(rows)],
            events.ts[rows],
            events.lines(rows),
            events.seq[rows],
        ],
        axis=1,
    )


# -------------------------------------------------------------------------- engine


def engine_state(
    rules: list[FastRule],
    names: list[str],
    fingerprints: list[str],
    clock: dict[str, Any],
    held: list[Event],
    materialize: Callable[[KeptEvent], Event],
) -> EngineState:
    """An engine's state: its rules', the clock (`EngineState`'s fields by name) and
    the events held back (in release order). Events are rows of one table by sequence
    number, each once however many rules refer to it."""
    seqs = [np.fromiter((event.seq for event in held), np.int64, len(held))]
    times = [np.fromiter((event.ts for event in held), np.int64, len(held))]
    events: list[Event | None] = list(held)
    refs = TextRefs()
    refs.objects(len(held))
    states = []
    for fast, name, fingerprint in zip(rules, names, fingerprints, strict=True):
        state, used, found = rule_state(fast, name, fingerprint, materialize, refs)
        states.append(state)
        seqs.append(fast.state.tables.e_seq[used].astype(np.int64))
        times.append(fast.state.tables.e_ts[used].astype(np.int64))
        events += found
    all_seqs = np.concatenate(seqs)
    first, row = distinct_rows(all_seqs)
    at = len(held)
    for state, used in zip(states, seqs[1:], strict=True):
        renumber(state, row[at : at + len(used)])
        at += len(used)
    return EngineState(
        engine="fast",
        held=ints(row[: len(held)]),
        events=event_table(
            list(map(events.__getitem__, first.tolist())),
            np.concatenate(times)[first],
            all_seqs[first],
            refs,
            first,
        ),
        rules=states,
        **clock,
    )


def held_events(waiting: list[tuple[Batch, np.ndarray, np.ndarray]], restored: list[Event],
                validator: Validator) -> list[Event]:  # fmt: skip
    """Held rows (`HeldRows.waiting`) and restored events as events, in release order."""
    from cep.engine.events import event_at

    out = list(restored)
    for batch, rows, seqs in waiting:
        for i, seq in zip(rows.tolist(), seqs.tolist(), strict=True):
            event = event_at(batch, i, validator)
            event.seq = seq
            out.append(event)
    out.sort(key=lambda e: (e.ts, e.seq))
    return out


def with_restored(
    released: tuple[Batch, np.ndarray] | None,
    restored: list[Event],
    validator: Validator,
    columns: EventColumns,
) -> tuple[tuple[Batch, np.ndarray], list[Event]]:
    """Restored held events released with held rows of batches: all of them as events
    in release order, and a batch made of them (matched as the fast path matches
    events in memory)."""
    events = list(restored)
    if released is not None:
        batch, seqs = released
        fresh = list(events_of(batch, validator))
        for event, seq in zip(fresh, seqs.tolist(), strict=True):
            event.seq = seq
        events = sorted(events + fresh, key=lambda e: (e.ts, e.seq))
    seqs = np.fromiter((e.seq for e in events), np.int64, len(events))
    return (columns.batch(events), seqs), events
