"""The interpreter's state as plain data and back (`cep.engine.state`): each rule's
partitions, runs, held matches and timers (`rule_state`, `restore_rule`), and a whole
`MatchingEngine` with its clock and held-back events (`engine_state`,
`restore_engine`). The mixed engine uses the per-rule pair for its interpreted rules."""

from __future__ import annotations

import heapq
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.engine.state import (
    NONE,
    RULE_TABLES,
    EngineState,
    EventRows,
    RuleChanges,
    RuleState,
    SnapshotError,
    array,
    distinct_rows,
    events_of,
    ints,
    match_rules,
    outside,
    uneven,
)
from cep.runtime.engine import MatchingEngine
from cep.runtime.event import Event
from cep.runtime.gcpause import gc_paused
from cep.runtime.matcher import Completed, Partition, RuleMatcher, Run

if TYPE_CHECKING:
    from cep.io.validation import Validator

#: a timer of one rule: `(close, ts, seq, key)`, the event `(ts, seq)` that scheduled it
Timer = tuple[int, int, int, Any]
_COUNTERS = (
    "matches", "timeouts", "dropped_runs", "expired_runs", "missing_key", "budget_dropped"
)  # fmt: skip


def saved_key(key: Any) -> Any:
    """A partition key as state keeps it: a tuple (several fields) as a list."""
    return list(key) if isinstance(key, tuple) else key


def _live_key(matcher: RuleMatcher, key: Any) -> Any:
    if len(matcher.key_names) == 0:
        return ()
    if len(matcher.key_names) > 1:
        if not isinstance(key, list) or len(key) != len(matcher.key_names):
            raise SnapshotError("the snapshot is damaged (a partition key has the wrong shape)")
        return tuple(key)
    return key


def rule_state(
    matcher: RuleMatcher, fingerprint: str, rows: EventRows, timers: list[Timer]
) -> RuleState:
    """One rule's state; its events are added to `rows`."""
    states = {id(state): i for i, state in enumerate(matcher.nfa.states)}
    variables: dict[str, int] = {}
    cells: dict[int, int] = {}
    cell_var: list[int] = []
    cell_event: list[int] = []
    cell_parent: list[int] = []

    def cell_of(path: Any) -> int:
        """The row of a history's last cell, adding the cells not yet stored."""
        chain = []
        while path is not None and id(path) not in cells:
            chain.append(path)
            path = path[2]
        parent = NONE if path is None else cells[id(path)]
        for cell in reversed(chain):
            var = variables.setdefault(cell[0], len(variables))
            cells[id(cell)] = row = len(cell_var)
            cell_var.append(var)
            cell_event.append(rows.row(cell[1]))
            cell_parent.append(parent)
            parent = row
        return parent

    keys: list[Any] = []
    timer: list[int] = []
    part_of: dict[Any, int] = {}
    run_part: list[int] = []
    run_state: list[int] = []
    run_cell: list[int] = []
    run_start: list[int] = []
    stored = rows.rows
    event_row = rows.row
    held: list[tuple[int, int, int, int, int]] = []
    add_part, add_state, add_cell, add_start = (
        run_part.append, run_state.append, run_cell.append, run_start.append,
    )  # fmt: skip
    add_var, add_event, add_parent = cell_var.append, cell_event.append, cell_parent.append
    bulk = _runs_in_bulk(matcher, rows, states, variables)
    if bulk is not None:  # (every run's history one cell of its own: no loop)
        cell_var, cell_event, cell_parent, run_part, run_state, run_cell, run_start = bulk
        part_of = dict(zip(matcher.partitions, range(len(matcher.partitions)), strict=True))
        keys = [list(key) if isinstance(key, tuple) else key for key in matcher.partitions]
        timer = list(map(_TIMER, matcher.partitions.values()))
    for key, part in () if bulk is not None else matcher.partitions.items():
        p = part_of[key] = len(keys)
        keys.append(list(key) if isinstance(key, tuple) else key)  # (`saved_key`)
        timer.append(part.timer)
        for run in part.runs:  # (the loop a snapshot of many runs spends its time in)
            path, start = run.path, run.start
            if path is None:
                cell = NONE
            else:
                cell = cells.get(id(path))
                if cell is None:
                    parent = path[2]
                    if parent is None:  # (a history of one cell: added here)
                        event = path[1]
                        found = stored.get(id(event))
                        cells[id(path)] = cell = len(cell_var)
                        add_var(variables.setdefault(path[0], len(variables)))
                        add_event(event_row(event) if found is None else found)
                        add_parent(NONE)
                    else:
                        cell = cell_of(path)
            first = NONE if start is None else stored.get(id(start))
            if first is None:
                first = event_row(start)
            add_part(p)
            add_state(states[id(run.state)])
            add_cell(cell)
            add_start(first)
        for done in part.completed:
            held.append((p, cell_of(done.path), rows.row(done.start), done.ts, done.sort_key[2]))
    timer_rows = []
    for close, ts, seq, key in timers:
        p = part_of.get(key)
        if p is None:  # a partition gone since: its timer still fires (and finds nothing)
            p = part_of[key] = len(keys)
            keys.append(saved_key(key))
            timer.append(NONE)
        timer_rows.append((close, ts, seq, p))

    held_columns = list(zip(*held, strict=True)) or [()] * 5
    timer_columns = list(zip(*timer_rows, strict=True)) or [()] * 4

    def column(table: list[tuple], i: int) -> bytes:
        return ints((held_columns if table is held else timer_columns)[i])

    return RuleState(
        name=matcher.rule.name,
        fingerprint=fingerprint,
        step=matcher.step,
        counters={name: getattr(matcher, name) for name in _COUNTERS},
        variables=list(variables),
        keys=keys,
        timer=ints(timer),
        cell_var=ints(cell_var),
        cell_event=ints(cell_event),
        cell_parent=ints(cell_parent),
        run_part=ints(run_part),
        run_state=ints(run_state),
        run_cell=ints(run_cell),
        run_start=ints(run_start),
        held_part=column(held, 0),
        held_cell=column(held, 1),
        held_start=column(held, 2),
        held_ts=column(held, 3),
        held_step=column(held, 4),
        timer_close=column(timer_rows, 0),
        timer_ts=column(timer_rows, 1),
        timer_seq=column(timer_rows, 2),
        timer_part=column(timer_rows, 3),
    )


_TIMER, _COMPLETED, _RUNS = attrgetter("timer"), attrgetter("completed"), attrgetter("runs")
_PATH, _START, _STATE = attrgetter("path"), attrgetter("start"), attrgetter("state")
_VAR, _EVENT, _PARENT = itemgetter(0), itemgetter(1), itemgetter(2)


def _runs_in_bulk(
    matcher: RuleMatcher, rows: EventRows, states: dict[int, int], variables: dict[str, int]
) -> tuple[Any, ...] | None:
    """`rule_state`'s cells and runs made a table at a time, as its loop would make
    them, where that is simple: no held matches, each run with a start and a history
    of one cell its own (a rule holding many runs that have bound one event). None
    otherwise."""
    if type(rows) is not EventRows:
        return None
    parts = list(matcher.partitions.values())
    if any(map(_COMPLETED, parts)):
        return None
    per_part = list(map(_RUNS, parts))
    runs = list(chain.from_iterable(per_part))
    paths = list(map(_PATH, runs))
    starts = list(map(_START, runs))
    if None in paths or None in starts or any(map(_PARENT, paths)):
        return None
    if len(set(map(id, paths))) != len(paths):
        return None
    names = list(map(_VAR, paths))
    for name in dict.fromkeys(names):
        variables.setdefault(name, len(variables))
    cell_var = list(map(variables.__getitem__, names))
    found = _rows_of(rows, list(chain.from_iterable(zip(map(_EVENT, paths), starts, strict=True))))
    run_state = list(map(states.__getitem__, map(id, map(_STATE, runs))))
    run_part = np.repeat(np.arange(len(parts)), list(map(len, per_part)))
    n = len(runs)
    return (cell_var, found[0::2], np.full(n, NONE), run_part, run_state, np.arange(n),
            found[1::2])  # fmt: skip


def _rows_of(rows: EventRows, events: list[Event]) -> np.ndarray:
    """The rows of some events, those not in `rows` yet added in order (`EventRows.row`
    of each in turn, in bulk)."""
    known = rows.rows
    ids = list(map(id, events))
    found = np.fromiter(map(known.get, ids, repeat(-1)), np.int64, len(ids))
    new = np.flatnonzero(found < 0)
    if len(new):
        first, distinct = distinct_rows(np.array(ids, np.uint64)[new])
        in_order = np.argsort(first)  # (the distinct events, in the order met)
        base = len(rows.events)
        row = np.empty(len(first), np.int64)
        row[in_order] = np.arange(base, base + len(first))
        found[new] = row[distinct]
        met = new[first[in_order]].tolist()
        rows.events.extend(map(events.__getitem__, met))
        known.update(zip(map(ids.__getitem__, met), range(base, base + len(met)), strict=True))
    return found


def restore_rule(matcher: RuleMatcher, state: RuleState, events: list[Event]) -> list[Timer]:
    """Put a rule's saved state into a fresh matcher; returns its timers, for the host
    to schedule. `events` are the snapshot's events by row."""
    try:
        return _restore_rule(matcher, state, events)
    except (IndexError, KeyError, TypeError) as error:
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}: {error})") from None


def _restore_rule(matcher: RuleMatcher, state: RuleState, events: list[Event]) -> list[Timer]:
    states = matcher.nfa.states
    variables = state.variables
    t = _checked(state, len(variables), len(events), len(states))
    cell_var, cell_event, cell_parent = t["cell_var"], t["cell_event"], t["cell_parent"]
    n_cells = len(cell_var)
    paths: list[Any]
    if (cell_parent == NONE).all():  # (histories of one cell: made at once)
        paths = list(zip(map(variables.__getitem__, cell_var.tolist()),
                         map(events.__getitem__, cell_event.tolist()),
                         repeat(None, n_cells), strict=True))  # fmt: skip
    else:
        paths = []
        for var, event, parent in zip(cell_var.tolist(), cell_event.tolist(),
                                      cell_parent.tolist(), strict=True):  # fmt: skip
            if parent >= len(paths):
                raise SnapshotError(
                    "the snapshot is damaged (a history cell comes before its parent)"
                )
            paths.append((variables[var], events[event], None if parent == NONE else paths[parent]))
    paths.append(None)  # row NONE (-1): no history
    starts = [*events, None]  # row NONE: no event
    if len(matcher.key_names) == 1:
        keys = list(state.keys)
    else:
        keys = [_live_key(matcher, key) for key in state.keys]
    timer = t["timer"].tolist()
    parts: list[Partition | None] = [None] * len(keys)

    def part(p: int) -> Partition:
        found = parts[p]
        if found is None:
            found = parts[p] = Partition(keys[p])
            found.timer = timer[p]
        return found

    run_part = t["run_part"]
    runs = list(map(Run, map(states.__getitem__, t["run_state"].tolist()),
                    map(paths.__getitem__, t["run_cell"].tolist()),
                    map(starts.__getitem__, t["run_start"].tolist())))  # fmt: skip
    steps = np.diff(run_part)
    if runs and (steps >= 0).all():  # each partition's runs together (as written): a slice each
        bounds = np.flatnonzero(steps) + 1
        firsts = [0, *bounds.tolist()]
        ends = [*bounds.tolist(), len(runs)]
        for p, a, b in zip(run_part[firsts].tolist(), firsts, ends, strict=True):
            part(p).runs = runs[a:b]
    else:
        for p, run in zip(run_part.tolist(), runs, strict=True):
            part(p).runs.append(run)
    held = _rows(state, "held_part", "held_cell", "held_start", "held_ts", "held_step")
    for p, cell, start, ts, step in held:
        history = paths[cell]
        first = events[start]
        sort_key = (first.ts, first.seq, step, matcher._tie_key(history))
        part(p).completed.append(Completed(history, first, ts, sort_key))
    for found in parts:
        if found is not None:
            found.completed.sort(key=lambda c: c.sort_key)
            matcher.partitions[found.key] = found
    steps = array(state.held_step)
    matcher.step = max(state.step, int(steps.max()) if len(steps) else 0)
    for name in _COUNTERS:
        setattr(matcher, name, int(state.counters.get(name, 0)))
    timers = _rows(state, "timer_close", "timer_ts", "timer_seq", "timer_part")
    return [(close, ts, seq, keys[p]) for close, ts, seq, p in timers]


def _checked(state: RuleState, n_vars: int, n_events: int, n_states: int) -> dict[str, Any]:
    """A rule state's tables as arrays, by name; SnapshotError where they do not fit
    each other, the rule or the events."""
    t = {name: array(getattr(state, name)) for name in RULE_TABLES}
    n_parts, n_cells = len(state.keys), len(t["cell_var"])
    if (
        len(t["timer"]) != n_parts
        or uneven(t, "cell_var", "cell_event", "cell_parent")
        or uneven(t, "run_part", "run_state", "run_cell", "run_start")
        or uneven(t, "held_part", "held_cell", "held_start", "held_ts", "held_step")
        or uneven(t, "timer_close", "timer_ts", "timer_seq", "timer_part")
        or outside(t["cell_var"], n_vars) or outside(t["cell_event"], n_events)
        or outside(t["cell_parent"], n_cells, NONE) or outside(t["run_part"], n_parts)
        or outside(t["run_state"], n_states) or outside(t["run_cell"], n_cells, NONE)
        or outside(t["run_start"], n_events, NONE) or outside(t["held_part"], n_parts)
        or outside(t["held_cell"], n_cells, NONE) or outside(t["held_start"], n_events)
        or outside(t["timer_part"], n_parts)
    ):  # fmt: skip
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s tables)")
    return t


def _rows(state: RuleState, *names: str) -> list[tuple[int, ...]]:
    """The rows of a table stored as columns."""
    columns = [array(getattr(state, name)).tolist() for name in names]
    if any(len(column) != len(columns[0]) for column in columns):
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s tables are uneven)")
    return list(zip(*columns, strict=True))


def timers_by_rule(engine: MatchingEngine) -> list[list[Timer]]:
    """Each rule's pending window timers, earliest first (for `rule_state`)."""
    timers: list[list[Timer]] = [[] for _ in engine.matchers]
    if len(timers) == 1:  # (one rule: its timers as they are, in order)
        timers[0] = [t[:3] + t[4:] for t in sorted(engine.timers, key=_FIRST_FOUR)]
        return timers
    for close, ts, seq, index, key in sorted(engine.timers, key=_FIRST_FOUR):
        timers[index].append((close, ts, seq, key))
    return timers


_FIRST_FOUR = itemgetter(0, 1, 2, 3)


@gc_paused()
def engine_state(engine: MatchingEngine, fingerprints: list[str], kind: str) -> EngineState:
    """A `MatchingEngine`'s whole state."""
    rows = EventRows()
    held = [rows.row(event) for _, _, event in sorted(engine.orderer.waiting, key=_order)]
    timers = timers_by_rule(engine)
    rules = [
        rule_state(matcher, fingerprint, rows, timers[i])
        for i, (matcher, fingerprint) in enumerate(zip(engine.matchers, fingerprints, strict=True))
    ]
    orderer = engine.orderer
    return EngineState(
        engine=kind,
        allowed_delay_ms=orderer.allowed_delay_ms,
        events_seen=engine.events,
        late=engine.late,
        next_seq=engine.next_seq,
        max_seen=orderer.max_seen,
        floor=orderer.floor,
        finished=engine.finished,
        held=ints(held),
        events=rows.table(),
        rules=rules,
    )


def _order(item: tuple[int, int, Event]) -> tuple[int, int]:
    return item[0], item[1]


@gc_paused()
def restore_engine(
    engine: MatchingEngine,
    state: EngineState,
    fingerprints: list[str],
    validator: Validator | None = None,
) -> RuleChanges:
    """Put a snapshot's state into a fresh `MatchingEngine` (its allowed delay is its
    own: a resumed run may change it). A finished engine's state goes on unfinished."""
    if engine.events or engine.next_seq:
        raise RuntimeError("restore a snapshot into a fresh engine, before feeding it")
    names = [matcher.rule.name for matcher in engine.matchers]
    saved, changes = match_rules(state, names, fingerprints)
    events = events_of(state.events, validator)
    try:
        held = [events[row] for row in array(state.held).tolist()]
    except IndexError:
        raise SnapshotError("the snapshot is damaged (a held event is missing)") from None
    for index, (matcher, rule) in enumerate(zip(engine.matchers, saved, strict=True)):
        if rule is None:
            continue
        for close, ts, seq, key in restore_rule(matcher, rule, events):
            engine.timers.append((close, ts, seq, index, key))
    heapq.heapify(engine.timers)
    orderer = engine.orderer
    orderer.max_seen, orderer.floor = state.max_seen, state.floor
    orderer.waiting = [(event.ts, event.seq, event) for event in held]
    heapq.heapify(orderer.waiting)
    engine.events, engine.late, engine.next_seq = state.events_seen, state.late, state.next_seq
    return changes


__all__ = [
    "Timer",
    "engine_state",
    "restore_engine",
    "restore_rule",
    "rule_state",
    "saved_key",
    "timers_by_rule",
]
