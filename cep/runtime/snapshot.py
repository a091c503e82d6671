"""The interpreter's state as plain data and back (`cep.engine.state`): each rule's
partitions, runs, held matches and timers (`rule_state`, `restore_rule`), and a whole
`MatchingEngine` with its clock and held-back events (`engine_state`,
`restore_engine`). The mixed engine uses the per-rule pair for its interpreted rules.

A snapshot reads the runs a column at a time where it can (`_runs_in_bulk`: one pass
per attribute over every run), and the timers likewise. A restore checks every table
at once and leaves each rule's partitions to be made when first needed
(cep/runtime/restored.py), each event made when first used (`RestoredEvents`)."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from itertools import chain, repeat
from operator import attrgetter, is_, itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.engine.restored import RestoredEvents
from cep.engine.state import (
    NONE,
    EngineState,
    EventRows,
    RuleChanges,
    RuleState,
    SnapshotError,
    array,
    checked_tables,
    distinct_rows,
    in_lex_order,
    ints,
    match_rules,
    outside,
)
from cep.runtime.budget import EVENT_COST, RUN_COST
from cep.runtime.engine import MatchingEngine
from cep.runtime.event import Event
from cep.runtime.gcpause import gc_paused
from cep.runtime.matcher import RuleMatcher
from cep.runtime.restored import PendingPartitions, RestoredTimers, RuleTimers

if TYPE_CHECKING:
    from cep.io.validation import Validator

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
    matcher: RuleMatcher, fingerprint: str, rows: EventRows, timers: Timers
) -> RuleState:
    """One rule's state; its events are added to `rows`."""
    matcher.make_pending()
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
    timer: Any = []
    part_of: dict[Any, int] = {}
    run_part: list[int] = []
    run_state: list[int] = []
    run_cell: list[int] = []
    run_start: list[int] = []
    stored = rows.indexed() if type(rows) is EventRows else rows.rows
    event_row = rows.row
    held: list[tuple[int, int, int, int, int]] = []
    add_part, add_state, add_cell, add_start = (
        run_part.append, run_state.append, run_cell.append, run_start.append,
    )  # fmt: skip
    add_var, add_event, add_parent = cell_var.append, cell_event.append, cell_parent.append
    bulk = _runs_in_bulk(matcher, rows, states, variables)
    by_seq = None
    if bulk is not None:  # (every run's history one cell of its own: no loop)
        cell_var, cell_event, cell_parent, run_part, run_state, run_cell, run_start, by_seq = bulk
        part_of = _KeyRows(list(matcher.partitions))
        # (a key that is a tuple stays one: msgpack writes it as the list `saved_key`
        # makes of it; copied before `_parts_of` adds keys)
        keys = part_of.keys
        timer = np.fromiter(map(_TIMER, matcher.partitions.values()), np.int64, len(keys))
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
    timer_close, timer_ts, timer_seq, timer_keys = timers
    added: list[int] = timer if type(timer) is list else []  # (partitions `_parts_of` adds)
    if by_seq is None:
        if keys is getattr(part_of, "keys", None):
            keys = keys.copy()
        timer_part = _parts_of(part_of, keys, added, timer_keys)
    else:  # (most timers found by the run their event started, the others by key)
        run_of = by_seq.places(timer_seq)
        timer_part = _parts_by_start(run_of, run_part)
        rows.times(_start_times(run_of, timer_ts, len(run_part)))
        missed = np.flatnonzero(timer_part == NONE)
        if len(missed):
            keys = keys.copy()
            timer_part[missed] = _parts_of(
                part_of, keys, added, list(map(timer_keys.__getitem__, missed.tolist()))
            )
    if added is not timer and added:
        timer = np.concatenate((timer, np.array(added, np.int64)))
    held_columns = list(zip(*held, strict=True)) or [()] * 5
    return RuleState(
        name=matcher.rule.name,
        fingerprint=fingerprint,
        step=matcher.step,
        counters={name: getattr(matcher, name) for name in _COUNTERS},
        variables=list(variables),
        keys=keys,
        timer=ints(timer, fresh=True),
        cell_var=ints(cell_var, fresh=True),
        cell_event=ints(cell_event, fresh=True),
        cell_parent=ints(cell_parent, fresh=True),
        run_part=ints(run_part, fresh=True),
        run_state=ints(run_state, fresh=True),
        run_cell=ints(run_cell, fresh=True),
        run_start=ints(run_start, fresh=True),
        held_part=ints(held_columns[0], fresh=True),
        held_cell=ints(held_columns[1], fresh=True),
        held_start=ints(held_columns[2], fresh=True),
        held_ts=ints(held_columns[3], fresh=True),
        held_step=ints(held_columns[4], fresh=True),
        timer_close=ints(timer_close, fresh=True),
        timer_ts=ints(timer_ts, fresh=True),
        timer_seq=ints(timer_seq, fresh=True),
        timer_part=ints(timer_part, fresh=True),
    )


_TIMER, _COMPLETED, _RUNS = attrgetter("timer"), attrgetter("completed"), attrgetter("runs")
_PATH, _START, _STATE = attrgetter("path"), attrgetter("start"), attrgetter("state")
_VAR, _EVENT, _PARENT = itemgetter(0), itemgetter(1), itemgetter(2)
_SEQ = attrgetter("seq")


def _runs_in_bulk(
    matcher: RuleMatcher, rows: EventRows, states: dict[int, int], variables: dict[str, int]
) -> tuple[Any, ...] | None:
    """`rule_state`'s cells and runs made a table at a time, as its loop would make
    them, where that is simple: no held matches, each run with a start and a history
    of one cell its own (a rule holding many runs that have bound one event). None
    otherwise.

    Each pass over a million runs costs a few hundredths of a second, so the checks
    lean on each other: a history of more than one cell, or none (None), shows in the
    pass over the cells' parents; a run's start that is its bound event is not None;
    runs whose bound events are distinct (rows in increasing order, as new events get)
    cannot share a history, so the histories' identities are compared only otherwise."""
    if type(rows) is not EventRows:
        return None
    parts = matcher.partitions.values()  # (no list: each partition touched once less)
    runs: list[Any] = []  # (each partition's runs added, and the count so far read:
    # one pass over the partitions gives both the runs and where each one's runs end)
    ends = np.fromiter(map(len, map(runs.__iadd__, map(_RUNS, parts))), np.int64, len(parts))
    paths = list(map(_PATH, runs))
    try:
        if any(map(_PARENT, paths)):  # (a history of more than one cell)
            return None
    except TypeError:  # (a run with no history: None)
        return None
    if not _none_held(matcher, len(runs)):
        return None
    cell_var = _numbered(paths, variables)
    bound = list(map(_EVENT, paths))
    by_seq = None
    starts = list(map(_START, runs))
    if starts == bound:  # (each run started by the event it bound: `Event`s compare by
        # identity, and a list comparison takes identical items as equal without a call)
        if not rows.events:  # (the table's first events: distinct where their numbers are)
            seq = np.fromiter(map(_SEQ, bound), np.int64, len(bound))
            by_seq = _SeqIndex.of(seq)
        if by_seq is not None:
            base = rows.add_new(bound, seq=seq)
            cell_event = run_start = np.arange(base, base + len(bound))
        else:
            cell_event = run_start = _rows_of(rows, bound, list(map(id, bound)))
    else:
        if any(map(is_, starts, repeat(None))):  # (a run with no start)
            return None
        events = list(chain.from_iterable(zip(bound, starts, strict=True)))
        found = _rows_of(rows, events, list(map(id, events)))
        cell_event, run_start = found[0::2], found[1::2]
    if len(cell_event) > 1 and not bool((cell_event[1:] > cell_event[:-1]).all()):
        ids = np.sort(np.fromiter(map(id, paths), np.uint64, len(paths)))
        if bool((ids[1:] == ids[:-1]).any()):  # (a history two runs share)
            return None
    in_states = set(map(_STATE, runs))
    if len(in_states) == 1:
        run_state = np.full(len(runs), states[id(in_states.pop())], np.int64)
    else:
        run_state = list(map(states.__getitem__, map(id, map(_STATE, runs))))
    run_part = np.repeat(np.arange(len(parts)), np.diff(ends, prepend=0))
    n = len(runs)
    return (cell_var, cell_event, np.full(n, NONE), run_part, run_state, np.arange(n),
            run_start, by_seq)  # fmt: skip


def _none_held(matcher: RuleMatcher, runs: int) -> bool:
    """Whether a rule whose `runs` open runs each bound one event holds no match.

    Known from what its runs and held matches cost (`cep.runtime.budget`, kept up to
    date as they change, once counted: `RuleMatcher.recount`) where that is what its
    runs alone cost, as each held match adds to it; else by a pass over the
    partitions."""
    if matcher._costed and matcher.cost == (RUN_COST + EVENT_COST) * runs:
        return True  # (RUN_COST > 0: a held match costs something)
    return not any(map(_COMPLETED, matcher.partitions.values()))


class _SeqIndex:
    """Where each of some distinct integers (sequence numbers) is among them: by a table
    indexed by value where they lie close together, as sequence numbers do (no sort),
    else by sorting them."""

    def __init__(self, low: int, table: np.ndarray | None, sorted_: Any = None) -> None:
        self.low, self.table, self.sorted = low, table, sorted_

    @classmethod
    def of(cls, values: np.ndarray) -> _SeqIndex | None:
        """The index of `values`; None where two are equal."""
        n = len(values)
        if n == 0:
            return cls(0, np.zeros(0, np.int64))
        low, high = int(values.min()), int(values.max())
        if high - low < 4 * n + 64:
            table = np.full(high - low + 1, NONE, np.int64)
            places = values - low
            at = np.arange(n)
            table[places] = at
            if not bool((table[places] == at).all()):  # (a value met twice: the last kept)
                return None
            return cls(low, table)
        order = np.argsort(values)
        found = values[order]
        if bool((found[1:] == found[:-1]).any()):
            return None
        return cls(0, None, (found, order))

    def places(self, wanted: np.ndarray) -> np.ndarray:
        """Each wanted value's place among the values, NONE where it is not one."""
        found = np.full(len(wanted), NONE, np.int64)
        if self.table is not None:
            at = wanted - self.low
            hit = (at >= 0) & (at < len(self.table))
            found[hit] = self.table[at[hit]]
            return found
        seqs, order = self.sorted
        if len(seqs) and len(wanted):
            at = np.minimum(np.searchsorted(seqs, wanted), len(seqs) - 1)
            hit = seqs[at] == wanted
            found[hit] = order[at[hit]]
        return found


def _parts_by_start(run_of: np.ndarray, run_part: np.ndarray) -> np.ndarray:
    """The partition of each timer scheduled by an event that started an open run
    (`run_of`: that run, NONE for the others: `_SeqIndex.places` of the timers'
    sequence numbers among the runs' start events'), NONE for the others. The event
    that scheduled a timer went to the timer's partition, and so did every run it
    started: runs never change partition."""
    found = np.full(len(run_of), NONE, np.int64)
    hit = run_of != NONE
    found[hit] = np.asarray(run_part)[run_of[hit]]
    return found


def _start_times(run_of: np.ndarray, timer_ts: np.ndarray, runs: int) -> np.ndarray | None:
    """The times of the runs' start events (`runs` of them), from the timers these
    scheduled, where each scheduled one (a timer keeps its event's time: no pass over
    the events for it); None otherwise. `run_of`: as `_parts_by_start` takes it."""
    hit = run_of != NONE
    if int(np.count_nonzero(hit)) < runs:
        return None
    at = run_of[hit]
    covered = np.zeros(runs, np.bool_)
    covered[at] = True
    if not bool(covered.all()):
        return None
    found = np.empty(runs, np.int64)
    found[at] = timer_ts[hit]
    return found


def _numbered(paths: list[Any], variables: dict[str, int]) -> Any:
    """The numbers of the variables of some histories' last cells, those not numbered
    yet numbered in the order met."""
    distinct = set(map(_VAR, paths))
    if len(distinct) == 1:  # (one variable bound first, as usual: no list of names)
        name = distinct.pop()
        variables.setdefault(name, len(variables))
        return np.full(len(paths), variables[name], np.int64)
    names = list(map(_VAR, paths))
    for name in dict.fromkeys(names):
        variables.setdefault(name, len(variables))
    return list(map(variables.__getitem__, names))


def _rows_of(rows: EventRows, events: list[Event], ids: list[int]) -> np.ndarray:
    """The rows of some events (`ids`: theirs), those not in `rows` yet added in order
    (`EventRows.row` of each in turn, in bulk)."""
    known = rows.indexed()
    if known:
        found = np.fromiter(map(known.get, ids, repeat(-1)), np.int64, len(ids))
        new = np.flatnonzero(found < 0)
    else:
        found = np.full(len(ids), -1, np.int64)
        new = np.arange(len(ids))
    if len(new):
        first, distinct = distinct_rows(np.array(ids, np.uint64)[new])
        if len(first) == len(new):  # (each a new event once: rows in order)
            if len(new) == len(ids):
                base = rows.add_new(events, ids)
            else:
                met = new.tolist()
                base = rows.add_new(list(map(events.__getitem__, met)),
                                    list(map(ids.__getitem__, met)))  # fmt: skip
            found[new] = np.arange(base, base + len(new))
            return found
        in_order = np.argsort(first)  # (the distinct events, in the order met)
        met = new[first[in_order]].tolist()
        base = rows.add_new(list(map(events.__getitem__, met)), list(map(ids.__getitem__, met)))
        row = np.empty(len(first), np.int64)
        row[in_order] = np.arange(base, base + len(first))
        found[new] = row[distinct]
    return found


def restore_rule(matcher: RuleMatcher, state: RuleState, events: Sequence[Event]) -> RuleTimers:
    """Put a rule's saved state into a fresh matcher, every table checked at once and
    each partition made when first needed (`PendingPartitions`); returns its timers,
    for the engine (`RestoredTimers`). `events`: the snapshot's events by row (made
    when first used: `RestoredEvents`)."""
    try:
        return _restore_rule(matcher, state, events)
    except (IndexError, KeyError, TypeError) as error:
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}: {error})") from None


def _restore_rule(matcher: RuleMatcher, state: RuleState, events: Sequence[Event]) -> RuleTimers:
    t = checked_tables(state, len(state.variables), len(matcher.nfa.states), len(events))
    close, ts = t["timer_close"], t["timer_ts"]
    if len(close) and (matcher.window is None or bool((close != ts + matcher.window).any())):
        # (each timer closes the window the event that scheduled it opened: a snapshot
        # takes the closes to be so, `timers_by_rule`)
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s timers)")
    if len(matcher.key_names) == 1:
        keys = state.keys
    else:
        keys = [_live_key(matcher, key) for key in state.keys]
    if len(t["run_part"]) or len(t["held_part"]):
        matcher.pending = PendingPartitions(matcher, state, t, events, keys)
    steps = t["held_step"]
    matcher.step = max(state.step, int(steps.max()) if len(steps) else 0)
    for name in _COUNTERS:
        setattr(matcher, name, int(state.counters.get(name, 0)))
    return t["timer_close"], t["timer_ts"], t["timer_seq"], t["timer_part"], keys


class _KeyRows(dict[Any, int]):
    """Partitions' rows by key (`keys`, in order), made a dict only when a key is
    looked up that is not one of `keys` itself (`_parts_of` finds those by identity)."""

    def __init__(self, keys: list[Any]) -> None:
        super().__init__()
        self.keys = keys

    def __missing__(self, key: Any) -> int:
        if len(self) < len(self.keys):  # (made once)
            self.update(zip(self.keys, range(len(self.keys)), strict=True))
            if key in self:
                return self[key]
        raise KeyError(key)


def _parts_of(
    part_of: dict[Any, int], keys: list[Any], timer: list[int], timer_keys: Sequence[Any]
) -> np.ndarray:
    """The partition of each timer, by key; a partition gone since a timer was set is
    added (its timer still fires, and finds nothing)."""
    n = len(timer_keys)
    if type(part_of) is _KeyRows and part_of.keys:  # (the same key objects, mostly)
        ids = np.fromiter(map(id, part_of.keys), np.uint64, len(part_of.keys))
        order = np.argsort(ids)
        ids = ids[order]
        wanted = np.fromiter(map(id, timer_keys), np.uint64, n)
        at = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
        found = np.where(ids[at] == wanted, order[at], NONE)
    else:
        found = np.fromiter(map(part_of.get, timer_keys, repeat(NONE)), np.int64, n)
    for i in np.flatnonzero(found == NONE).tolist():
        key = timer_keys[i]
        try:
            p = part_of[key]
        except KeyError:
            p = part_of[key] = len(keys)
            keys.append(saved_key(key))
            timer.append(NONE)
        found[i] = p
    return found


class _TimerKeys(Sequence[Any]):
    """The keys of timers (the engine's, in order), each read when wanted: a snapshot
    looks up by key only the timers it cannot place by the event that set them."""

    def __init__(self, timers: list[tuple[int, int, int, int, Any]]) -> None:
        self.timers = timers

    def __len__(self) -> int:
        return len(self.timers)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return list(map(_KEY, self.timers[i]))
        return self.timers[i][4]

    def __iter__(self) -> Iterator[Any]:
        return map(_KEY, self.timers)


#: a timer's scheduling event's time and number, and its rule's index
_TIMER_COLUMNS = [itemgetter(i) for i in range(1, 4)]
_KEY = itemgetter(4)
#: a rule's pending timers, earliest first: closes, the times and sequence numbers of
#: the events that scheduled them, and their partitions' keys
Timers = tuple[np.ndarray, np.ndarray, np.ndarray, Sequence[Any]]


def timers_by_rule(engine: MatchingEngine) -> list[Timers]:
    """Each rule's pending window timers, earliest first (for `rule_state`), taken a
    column at a time. A timer closes its rule's window after the event that scheduled
    it: its close is that event's time plus the window (`RuleMatcher._process`; a
    restore checks it, `_restore_rule`), found so rather than read (a pass fewer)."""
    engine.settle_timers()
    n = len(engine.matchers)
    if not engine.timers:
        empty = np.zeros(0, np.int64)
        return [(empty, empty, empty, []) for _ in range(n)]
    timers = engine.timers
    getters = _TIMER_COLUMNS if n > 1 else _TIMER_COLUMNS[:2]  # (one rule: its index is 0)
    columns = [np.fromiter(map(getter, timers), np.int64, len(timers)) for getter in getters]
    windows = np.array([matcher.window or 0 for matcher in engine.matchers], np.int64)
    columns.insert(0, columns[0] + (windows[columns[2]] if n > 1 else windows[0]))
    keys: Sequence[Any] = _TimerKeys(timers)
    if in_lex_order(tuple(reversed(columns))):  # (as they usually are)
        close, ts, seq, *index = columns
    else:
        order = np.lexsort(tuple(reversed(columns)))
        close, ts, seq, *index = (column[order] for column in columns)
        keys = list(map(keys.__getitem__, order.tolist()))
    if n == 1:
        return [(close, ts, seq, keys)]
    found = []
    for i in range(n):
        mine = np.flatnonzero(index[0] == i)
        found.append((close[mine], ts[mine], seq[mine], list(map(keys.__getitem__, mine.tolist()))))
    return found


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
    engine: MatchingEngine, state: EngineState, fingerprints: list[str], validator: Validator
) -> RuleChanges:
    """Put a snapshot's state into a fresh `MatchingEngine` (its allowed delay is its
    own: a resumed run may change it). A finished engine's state goes on unfinished.
    Events are made when first used, validated with `validator` (`RestoredEvents`);
    each rule's partitions when first needed."""
    if engine.events or engine.next_seq:
        raise RuntimeError("restore a snapshot into a fresh engine, before feeding it")
    names = [matcher.rule.name for matcher in engine.matchers]
    saved, changes = match_rules(state, names, fingerprints)
    events = RestoredEvents(state.events, validator)
    rows = array(state.held)
    if outside(rows, len(events)):
        raise SnapshotError("the snapshot is damaged (a held event is missing)")
    held = [events[row] for row in rows.tolist()]
    timers = [
        (index, restore_rule(matcher, rule, events))
        for index, (matcher, rule) in enumerate(zip(engine.matchers, saved, strict=True))
        if rule is not None
    ]
    engine.restore_timers(RestoredTimers(timers))
    orderer = engine.orderer
    orderer.max_seen, orderer.floor = state.max_seen, state.floor
    orderer.waiting = [(event.ts, event.seq, event) for event in held]
    heapq.heapify(orderer.waiting)
    engine.events, engine.late, engine.next_seq = state.events_seen, state.late, state.next_seq
    return changes


__all__ = [
    "Timers",
    "engine_state",
    "restore_engine",
    "restore_rule",
    "rule_state",
    "saved_key",
    "timers_by_rule",
]
