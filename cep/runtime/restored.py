"""A restored rule's state kept as the snapshot's tables, each partition made when the
rule first needs it: what lets the interpreter restore a million open runs without
making a million runs, histories and events first.

A restore checks every table at once (as making them would: `restore_rule` in
cep/runtime/snapshot.py), then leaves `PendingPartitions` with the rule. A partition
is made, with its runs, held matches and the events they bound, when an event for its
key comes, when one of its window timers fires, or when something goes through every
partition (a snapshot, `--max-state` shedding, `--trace`'s end, `flush`); then it is
exactly what a restore making them all at once gives. Made one at a time, a partition
costs more per run than made with the others in one pass over the tables, so once a
share of a rule's partitions came back (`BULK_SHARE`: a resumed run mostly comes back
to most keys) the rest are made in that one pass. Their cost (`--max-state`) is
counted from the tables. Window timers wait as sorted columns too (`RestoredTimers`),
handed to the engine's heap one at a time, so that a key never touched again still
times out at the right watermark."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from cep.engine.state import NONE, RuleState, SnapshotError, in_lex_order
from cep.runtime.budget import EVENT_COST, RUN_COST
from cep.runtime.gcpause import gc_paused
from cep.runtime.matcher import Completed, Partition, RuleMatcher, Run, _cost_of


class PendingPartitions:
    """One rule's restored partitions not made yet (`take`, `take_all`), with their
    open runs, held matches and cost counted."""

    def __init__(
        self,
        matcher: RuleMatcher,
        state: RuleState,
        tables: dict[str, np.ndarray],
        events: Sequence[Any],
        keys: list[Any],
    ) -> None:
        """`tables`: the state's tables, checked (`checked_tables`); `events`: the
        snapshot's events by row (made when first used); `keys`: the partitions' keys
        as the matcher holds them."""
        self._matcher, self._events, self._keys = matcher, events, keys
        self._variables = state.variables
        try:
            self._index = dict(zip(keys, range(len(keys)), strict=True))
        except TypeError:
            raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s keys)") from None
        self._left = bytearray(b"\x01") * len(keys)
        #: after how many partitions made one at a time the rest are made at once
        self._bulk_after = max(1, int(len(keys) * BULK_SHARE))
        self._run_part = tables["run_part"]
        self._timer = tables["timer"]
        self._cell_var, self._cell_event = tables["cell_var"], tables["cell_event"]
        parent = self._cell_parent = tables["cell_parent"]
        if bool((parent >= np.arange(len(parent))).any()):
            raise SnapshotError("the snapshot is damaged (a history cell comes before its parent)")
        self._depth = np.append(_depths(parent), 0)  # (row NONE, -1: no history)
        n_parts = len(keys)
        self._runs = _grouped(tables["run_part"], n_parts)
        self._run_state, self._run_cell, self._run_start = (
            tables["run_state"], tables["run_cell"], tables["run_start"],
        )  # fmt: skip
        self._held = _grouped(tables["held_part"], n_parts)
        self._held_cell, self._held_start = tables["held_cell"], tables["held_start"]
        self._held_ts, self._held_step = tables["held_ts"], tables["held_step"]
        #: open runs and held matches not made yet, and what they cost
        self.open_runs, self.held_matches = len(self._run_state), len(self._held_cell)
        sizes = int(self._depth[self._run_cell].sum()) + int(self._depth[self._held_cell].sum())
        self.cost = RUN_COST * (self.open_runs + self.held_matches) + EVENT_COST * sizes
        self._paths: dict[int, Any] = {}
        self._taken: dict[int, Partition] = {}
        #: the run and cell columns as lists (made when the first partition is: a
        #: partition at a time, list slices cost less than array ones)
        self._run_lists: tuple[list[int], ...] | None = None
        self._cell_lists: tuple[list[int], ...] | None = None

    def take(self, key: Any) -> Partition | None:
        """Key `key`'s partition, made and put into the rule's; None where the
        snapshot holds no runs nor held matches for it (or it was made already)."""
        p = self._index.pop(key, None)
        if p is None:
            return None
        part = self._make(p)
        if part is not None:
            self._matcher.partitions[part.key] = part
            self._taken[p] = part
        self._bulk_after -= 1
        if self._bulk_after <= 0 or (not self.open_runs and not self.held_matches):
            self._matcher.make_pending()  # (many keys come back, or the last: the rest at once)
        return part

    @gc_paused()
    def take_all(self) -> None:
        """Every partition made: the rule's partitions in the order a restore making
        them at once leaves them (restored ones still there in the snapshot's order,
        then the others in the order they came)."""
        partitions = self._matcher.partitions
        made = self._make_rest()
        placed = set()
        for p, part in self._taken.items():
            if partitions.get(part.key) is part:
                made[p] = part
                placed.add(id(part))
        rest = [part for part in partitions.values() if id(part) not in placed]
        partitions.clear()
        partitions.update((part.key, part) for part in made if part is not None)
        partitions.update((part.key, part) for part in rest)
        self._index.clear()

    def _make(self, p: int) -> Partition | None:
        """Partition `p` as a restore making it at once makes it."""
        self._left[p] = 0
        runs, held = self._runs[0], self._held[0]
        a, b, c, d = runs[p], runs[p + 1], held[p], held[p + 1]
        if a == b and c == d:
            return None
        matcher, events, path = self._matcher, self._events, self._path
        part = Partition(self._keys[p])
        part.timer = self._timer.item(p)
        if a < b:
            lists = self._run_lists
            if lists is None:
                lists = self._run_lists = self._as_lists(self._runs[1])
            run_state, run_cell, run_start, run_size = lists
            states = matcher.nfa.states
            part.runs = [
                Run(states[state], path(cell), None if start == NONE else events[start], size)
                for state, cell, start, size in zip(
                    run_state[a:b], run_cell[a:b], run_start[a:b], run_size[a:b], strict=True
                )
            ]
        if c < d:
            part.completed = self._completed(c, d)
        part.cost = _cost_of(part)
        self.open_runs -= len(part.runs)
        self.held_matches -= len(part.completed)
        self.cost -= part.cost
        return part

    def _completed(
        self, c: int, d: int, path: Callable[[int], Any] | None = None
    ) -> list[Completed]:
        """Held matches `c` to `d` (in partition order), made and in release order;
        `path` gives a history cell's path (default `_path`)."""
        at = slice(c, d) if self._held[1] is None else self._held[1][c:d]
        cells = self._held_cell[at]
        matcher, events = self._matcher, self._events
        path = self._path if path is None else path
        completed = []
        for cell, start, ts, step, size in zip(
            cells.tolist(), self._held_start[at].tolist(), self._held_ts[at].tolist(),
            self._held_step[at].tolist(), self._depth[cells].tolist(), strict=True,
        ):  # fmt: skip
            history, first = path(cell), events[start]
            sort_key = (first.ts, first.seq, step, matcher._tie_key(history))
            completed.append(Completed(history, first, ts, sort_key, size))
        completed.sort(key=lambda held: held.sort_key)
        return completed

    def _make_rest(self) -> list[Partition | None]:
        """Every partition not made yet (by row; None: made, or nothing to make), as
        `_make` makes each but in one pass over the tables: each column read at once,
        the events and histories made together."""
        n_parts = len(self._keys)
        made: list[Partition | None] = [None] * n_parts
        left = np.frombuffer(self._left, np.uint8).astype(bool)
        if not left.any():
            return made
        order = self._runs[1]
        rows = np.arange(len(self._run_part)) if order is None else order
        rows = rows[left[self._run_part[rows]]]  # (the runs left, by partition)
        counts = np.bincount(self._run_part[rows], minlength=n_parts)
        held_bounds = np.asarray(self._held[0], np.int64)
        has_held = left & (held_bounds[1:] > held_bounds[:-1])
        todo = np.flatnonzero((counts > 0) | has_held)
        state_of, cell_of, start_of = (
            column[rows] for column in (self._run_state, self._run_cell, self._run_start)
        )
        sizes = self._depth[cell_of]
        self._make_events(start_of, self._held_start)
        paths = self._all_paths()
        events = self._events
        states = self._matcher.nfa.states
        if len(start_of) and bool((start_of == NONE).any()):
            starts = [None if row == NONE else events[row] for row in start_of.tolist()]
        else:
            starts = list(map(events.__getitem__, start_of.tolist()))
        runs = list(map(Run, map(states.__getitem__, state_of.tolist()),
                        map(paths.__getitem__, cell_of.tolist()), starts,
                        sizes.tolist()))  # fmt: skip
        ends = np.cumsum(counts)
        size_ends = np.cumsum(np.append(0, sizes))
        run_ends, keys, timer = ends.tolist(), self._keys, self._timer
        n_runs = counts.tolist()
        run_cost = RUN_COST * counts + EVENT_COST * (size_ends[ends] - size_ends[ends - counts])
        costs = run_cost.tolist()
        held_cost = 0
        held = self._held[0]
        for p, timer_at in zip(todo.tolist(), timer[todo].tolist(), strict=True):
            part = made[p] = Partition(keys[p])
            part.timer = timer_at
            b = run_ends[p]
            part.runs = runs[b - n_runs[p] : b]
            part.cost = costs[p]
            if held[p] < held[p + 1]:  # (histories a run shares are the same paths)
                part.completed = self._completed(held[p], held[p + 1], paths.__getitem__)
                cost = _cost_of(part)
                held_cost += cost - part.cost
                part.cost = cost
        self.open_runs -= len(runs)
        self.held_matches -= int((held_bounds[1:] - held_bounds[:-1])[left].sum())
        self.cost -= int(run_cost[todo].sum()) + held_cost
        self._left[:] = bytes(n_parts)
        return made

    def _make_events(self, *rows: np.ndarray) -> None:
        """The events of every history cell and of rows `rows`, made in one pass."""
        make = getattr(self._events, "make", None)
        if make is not None:
            wanted = np.zeros(len(self._events) + 1, bool)  # (the last: row NONE)
            for column in (self._cell_event, *rows):
                wanted[column] = True
            make(np.flatnonzero(wanted[:-1]))

    def _all_paths(self) -> list[Any]:
        """Every history cell as a path, by cell, and None last (row NONE); those made
        already are those held."""
        variables, events, cell_parent = self._variables, self._events, self._cell_parent
        if not bool((cell_parent != NONE).any()):  # (histories of one cell, as most are)
            found: list[Any] = list(zip(
                map(variables.__getitem__, self._cell_var.tolist()),
                map(events.__getitem__, self._cell_event.tolist()),
                repeat(None, len(cell_parent)), strict=True,
            ))  # fmt: skip
            for cell, path in self._paths.items():
                found[cell] = path
        else:
            found = list(map(self._path, range(len(cell_parent))))
        found.append(None)
        return found

    def _as_lists(self, order: np.ndarray | None) -> tuple[list[int], ...]:
        """The runs' states, last cells, starts and sizes as lists, each partition's
        together."""
        columns = (self._run_state, self._run_cell, self._run_start)
        if order is not None:
            columns = tuple(column[order] for column in columns)
        return (*(column.tolist() for column in columns), self._depth[columns[1]].tolist())

    def _path(self, cell: int) -> Any:
        """History cell `cell` as a path `(variable, event, parent path)`, made once
        (forks share their cells)."""
        if cell == NONE:
            return None
        paths = self._paths
        found = paths.get(cell)
        if found is not None:
            return found
        lists = self._cell_lists
        if lists is None:
            lists = self._cell_lists = tuple(
                column.tolist() for column in (self._cell_var, self._cell_event, self._cell_parent)
            )
        cell_var, cell_event, cell_parent = lists
        if cell_parent[cell] == NONE:  # (a history of one cell, as most are)
            found = paths[cell] = (self._variables[cell_var[cell]], self._events[cell_event[cell]],
                                   None)  # fmt: skip
            return found
        chain = []
        while cell != NONE and cell not in paths:
            chain.append(cell)
            cell = cell_parent[cell]
        found = None if cell == NONE else paths[cell]
        variables, events = self._variables, self._events
        for row in reversed(chain):
            found = (variables[cell_var[row]], events[cell_event[row]], found)
            paths[row] = found
        return found


def _grouped(parts: np.ndarray, n_parts: int) -> tuple[list[int], np.ndarray | None]:
    """Rows by partition: where each partition's rows begin (and the end), and the
    order of the rows by partition (None: in that order already, as written)."""
    order = None
    if len(parts) > 1 and not bool((parts[1:] >= parts[:-1]).all()):
        order = np.argsort(parts, kind="stable")
    counts = np.bincount(parts, minlength=n_parts)
    bounds = np.zeros(n_parts + 1, np.int64)
    np.cumsum(counts, out=bounds[1:])
    return bounds.tolist(), order


def _depths(parent: np.ndarray) -> np.ndarray:
    """Each history cell's chain length, from the cells' parents (`NONE`: none), by
    pointer jumping: a table pass per doubling of the longest chain."""
    depth = np.ones(len(parent), np.int64)
    up = parent.copy()
    linked = np.flatnonzero(up >= 0)
    while len(linked):
        above = up[linked]
        depth[linked] += depth[above]
        up[linked] = up[above]
        linked = linked[up[linked] >= 0]
    return depth


#: a rule's restored timers: closes, the times and sequence numbers of the events that
#: scheduled them, partitions (rows of `keys`), and the keys
RuleTimers = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[Any]]


class RestoredTimers:
    """Restored window timers of every rule, earliest first (as the engine's heap
    orders them: close, then the scheduling event's time and number, then the rule),
    each an engine timer `(close, ts, seq, rule index, key)` when taken."""

    def __init__(self, by_rule: list[tuple[int, RuleTimers]]) -> None:
        columns = [
            (close, ts, seq, np.full(len(close), index, np.int64), part)
            for index, (close, ts, seq, part, _) in by_rule
        ]
        close, ts, seq, index, part = (
            np.concatenate(column) if column else np.zeros(0, np.int64)
            for column in zip(*columns, strict=True)
        ) if columns else (np.zeros(0, np.int64),) * 5  # fmt: skip
        if not in_lex_order((index, seq, ts, close)):
            order = np.lexsort((index, seq, ts, close))
            close, ts, seq, index, part = (c[order] for c in (close, ts, seq, index, part))
        self._columns = (close, ts, seq, index, part)
        self._keys = {index: timers[4] for index, timers in by_rule}
        self._at = 0  # (the next one's row)
        self._chunk: list[tuple[int, int, int, int, Any]] = []  # (rows `_at`... as tuples)
        self._chunk_at = 0

    def __len__(self) -> int:
        return len(self._columns[0]) - self._at

    def next(self) -> tuple[int, int, int, int, Any] | None:
        """The earliest timer not taken yet (None: none left)."""
        if self._chunk_at == len(self._chunk):
            self._chunk, self._chunk_at = self._tuples(self._at, self._at + _CHUNK), 0
            if not self._chunk:
                return None
        found = self._chunk[self._chunk_at]
        self._chunk_at += 1
        self._at += 1
        return found

    def _tuples(self, a: int, b: int) -> list[tuple[int, int, int, int, Any]]:
        """Rows `a` to `b` as engine timers."""
        keys = self._keys
        close, ts, seq, index, part = (column[a:b].tolist() for column in self._columns)
        return [(c, t, s, i, keys[i][p])
                for c, t, s, i, p in zip(close, ts, seq, index, part, strict=True)]  # fmt: skip

    def rest(self) -> list[tuple[int, int, int, int, Any]]:
        """Every timer not taken yet, earliest first."""
        found = self._tuples(self._at, len(self._columns[0]))
        self._at, self._chunk, self._chunk_at = len(self._columns[0]), [], 0
        return found


#: the share of a rule's restored partitions made one at a time (as their keys come
#: back) after which the rest are made at once: the cheaper way per run, when most
#: keys come back, as a resumed run's mostly do
BULK_SHARE = 1 / 16

#: how many restored timers are made tuples at a time
_CHUNK = 1024
