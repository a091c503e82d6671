"""The interpreter's state as plain data and back (`cep.engine.state`): each rule's
partitions, runs, held matches and timers (`rule_state`, `restore_rule`), and a whole
`MatchingEngine` with its clock and held-back events (`engine_state`,
`restore_engine`). The mixed engine uses the per-rule pair for its interpreted rules."""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from cep.engine.state import (
    NONE,
    EngineState,
    EventRows,
    RuleChanges,
    RuleState,
    SnapshotError,
    array,
    events_of,
    ints,
    match_rules,
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
    held: list[tuple[int, int, int, int, int]] = []
    for key, part in matcher.partitions.items():
        p = part_of[key] = len(keys)
        keys.append(saved_key(key))
        timer.append(part.timer)
        for run in part.runs:  # (the loop a snapshot of many runs spends its time in)
            path, start = run.path, run.start
            cell = NONE if path is None else cells.get(id(path))
            if cell is None:
                cell = cell_of(path)
            first = NONE if start is None else stored.get(id(start))
            if first is None:
                first = rows.row(start)
            run_part.append(p)
            run_state.append(states[id(run.state)])
            run_cell.append(cell)
            run_start.append(first)
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

    def column(table: list[tuple], i: int) -> bytes:
        return ints([row[i] for row in table])

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
    cell_var = array(state.cell_var).tolist()
    cell_event = array(state.cell_event).tolist()
    cell_parent = array(state.cell_parent).tolist()
    paths: list[Any] = []
    for var, event, parent in zip(cell_var, cell_event, cell_parent, strict=True):
        if parent >= len(paths):
            raise SnapshotError("the snapshot is damaged (a history cell comes before its parent)")
        paths.append((variables[var], events[event], None if parent == NONE else paths[parent]))
    paths.append(None)  # row NONE (-1): no history
    starts = [*events, None]  # row NONE: no event
    keys = [_live_key(matcher, key) for key in state.keys]
    timer = array(state.timer).tolist()
    parts: list[Partition | None] = [None] * len(keys)

    def part(p: int) -> Partition:
        found = parts[p]
        if found is None:
            found = parts[p] = Partition(keys[p])
            found.timer = timer[p]
        return found

    for p, s, cell, start in _rows(state, "run_part", "run_state", "run_cell", "run_start"):
        found = parts[p]
        if found is None:
            found = part(p)
        found.runs.append(Run(states[s], paths[cell], starts[start]))
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


def _rows(state: RuleState, *names: str) -> list[tuple[int, ...]]:
    """The rows of a table stored as columns."""
    columns = [array(getattr(state, name)).tolist() for name in names]
    if any(len(column) != len(columns[0]) for column in columns):
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s tables are uneven)")
    return list(zip(*columns, strict=True))


def timers_by_rule(engine: MatchingEngine) -> list[list[Timer]]:
    """Each rule's pending window timers, earliest first (for `rule_state`)."""
    timers: list[list[Timer]] = [[] for _ in engine.matchers]
    for close, ts, seq, index, key in sorted(engine.timers, key=lambda t: t[:4]):
        timers[index].append((close, ts, seq, key))
    return timers


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
