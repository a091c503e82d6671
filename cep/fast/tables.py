"""The fast path's kernel state, by name: the tables runs, history cells, held matches,
timers and events live in (`KernelTables`, int64 arrays passed to every kernel function
as `T`), a rule's NFA as arrays (`NfaArrays`), what kernel functions read besides
(`Extras`, `X`), the counters in `T.sc`, and `KernelState`, which owns the tables and
grows them between kernel calls.

- runs: `r_state, r_cell, r_start, r_next` (+ a free stack `r_free`); a partition's runs
  are a linked list in creation order (`p_head`);
- history cells: `c_var, c_ev, c_parent` (a run's history is a chain of cells, shared by
  forks, as in the interpreter) and `c_depth` (the chain's length, which sizes the
  scratch rows a history's values and tie-break keys are written to);
- completed matches waiting to be released: `k_cell, k_start, k_step, k_ts, k_next`
  (+ `k_free`), one sorted list per partition (`p_comp`);
- timers: `(close, scheduling ts, scheduling seq, partition)` in `h_close, h_ts, h_seq,
  h_part` (cep/fast/timers.py);
- events: `e_ts, e_seq` by processing index (the order events reach the kernel, which
  is (time, arrival) order, so comparing indexes compares event keys);
- reports, with their release key: `o_kind, o_ts, o_cell, o_part, o_t, o_phase, o_a,
  o_b`;
- scratch space for one event (`w_*`), and counters (`sc`: how many rows of each table
  are in use, statistics, sizes needed).

The kernel never allocates (cep/fast/kernel.py): when a table lacks room it returns with
the sizes needed in `sc`, and `KernelState.grow` makes them.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from cep.jit import njit
from cep.runtime.budget import EVENT_COST, RUN_COST  # (the cost of live state)

# state kinds, edge actions, skip strategies (mirrors of cep/compile/nfa.py)
NORMAL, START, FINAL, STOP, PENDING = 0, 1, 2, 3, 4
TAKE, IGNORE, PROCEED = 0, 1, 2
SKIP_NONE, SKIP_PAST_LAST, SKIP_TO_NEXT, SKIP_TO_FIRST, SKIP_TO_LAST = 0, 1, 2, 3, 4

# Arguments of the kernel's functions as NumPy scalars, never Python literals: numba
# compiles a function once more for every literal value it is called with.
NONE = np.int64(-1)  # no cell, no event
ZERO = np.int64(0)
MATCH, TIMEOUT = np.int64(0), np.int64(1)  # report kinds
BY_WINDOW, BY_EVENT = np.int64(0), np.int64(1)  # what released a report (the phase)
YES, NO = np.bool_(True), np.bool_(False)

#: the kernel's state tables (`T`): int64 arrays by name, one tuple passed to every
#: function (numba reads a namedtuple's fields as statically as a tuple's items)
KernelTables = namedtuple(
    "KernelTables",
    [
        "r_state", "r_cell", "r_start", "r_next", "r_free", "r_work",
        "c_var", "c_ev", "c_parent", "c_depth",
        "k_cell", "k_start", "k_step", "k_ts", "k_next", "k_free",
        "p_head", "p_comp", "p_timer",
        "e_ts", "e_seq",
        "o_kind", "o_ts", "o_cell", "o_part", "o_t", "o_phase", "o_a", "o_b",
        "h_close", "h_ts", "h_seq", "h_part",
        "w_pot_cell", "w_pot_start", "w_kid_state", "w_kid_cell", "w_edges", "w_stack",
        "w_keys_a", "w_keys_b",
        "sc",
    ],
)  # fmt: skip
#: tables that grow together, and the counter slot giving the size they need
GROUPS = {
    "runs": ("r_state", "r_cell", "r_start", "r_next", "r_free", "r_work"),
    "cells": ("c_var", "c_ev", "c_parent", "c_depth"),
    "comps": ("k_cell", "k_start", "k_step", "k_ts", "k_next", "k_free"),
    "partitions": ("p_head", "p_comp", "p_timer"),
    "events": ("e_ts", "e_seq"),
    "out": ("o_kind", "o_ts", "o_cell", "o_part", "o_t", "o_phase", "o_a", "o_b"),
    "heap": ("h_close", "h_ts", "h_seq", "h_part"),
    "pot": ("w_pot_cell", "w_pot_start"),
    "depth": ("w_keys_a", "w_keys_b"),
}
#: a rule's NFA as arrays (`nfa`): states' kinds, plainness, proceeds-to-final, first
#: edge and edge count; edges' actions, targets, condition rows, variables, programs;
#: each variable's rank in binding order; the start state's take edges
NfaArrays = namedtuple(
    "NfaArrays",
    ["st_kind", "st_plain", "st_ptf", "st_e0", "st_en", "ed_act", "ed_tgt", "ed_cond",
     "ed_var", "rank", "start_takes", "ed_prog"],
)  # fmt: skip
#: what kernel functions read besides the state (`X`): the rule's programs (a tuple of
#: arrays: cep/compile/programs.py), the batch's slot values (`[slot, i]`), the stored
#: events' slot values (flat, `event * n_slots + slot`), the program stack, bits for
#: programs run outside a batch (none), a scratch row for a history's values
Extras = namedtuple(
    "Extras", ["programs", "batch_values", "stored_values", "stack", "no_bits", "scratch"]
)
# counter slots of `T.sc`: statistics, rows in use, sizes needed; the live state's
# cost (`S_COST`, docs/limits.md), whether it has been counted since the tables were
# filled (`S_COSTED`), runs dropped to keep within the budget (`S_BUDGET_DROPPED`), and
# whether the kernel stopped because the cost went over it (`S_OVER`)
(S_STEP, S_DROPPED, S_EXPIRED, S_MATCHES, S_TIMEOUTS,
 S_HEAP, S_RUNS, S_RFREE, S_CELLS, S_COMPS, S_KFREE, S_EVENTS, S_OUT, S_PARTS,
 S_NEED_RUNS, S_NEED_CELLS, S_NEED_COMPS, S_NEED_EVENTS, S_NEED_OUT, S_NEED_HEAP,
 S_NEED_POT, S_DEPTH, S_NEED_DEPTH, S_QUEUE,
 S_COST, S_COSTED, S_BUDGET_DROPPED, S_OVER) = range(28)  # fmt: skip
N_SCALARS = 28
NEEDS = {
    "runs": S_NEED_RUNS,
    "cells": S_NEED_CELLS,
    "comps": S_NEED_COMPS,
    "events": S_NEED_EVENTS,
    "out": S_NEED_OUT,
    "heap": S_NEED_HEAP,
    "pot": S_NEED_POT,
    "depth": S_NEED_DEPTH,
}
# indexes of `params`
(P_START_STATE, P_WINDOW, P_SKIP, P_SKIP_VAR, P_MAX_RUNS, P_TIMEOUTS,
 P_START_PLAIN, P_WHERE, P_FANOUT, P_BUDGET) = range(10)  # fmt: skip


def fan_out(first: list[int], count: list[int], actions: list[int], targets: list[int]) -> int:
    """The most edges a run can follow from one state for one event (every condition
    true): the length of its proceed closure walk, which also bounds the walk's stack."""
    most = 1
    for state in range(len(first)):
        stack, visits = [state], 0
        while stack:
            s = stack.pop()
            for e in range(first[s], first[s] + count[s]):
                visits += 1
                if actions[e] == PROCEED:
                    stack.append(targets[e])
            if visits > 1_000_000:
                raise ValueError("the NFA's proceed edges form a cycle")
        most = max(most, visits + 1)
    return most


@njit(cache=True)
def add_partitions(T, count):
    """`count` new partitions (room made by the caller): no runs, held matches, timer."""
    sc = T.sc
    for p in range(sc[S_PARTS], sc[S_PARTS] + count):
        T.p_head[p] = -1
        T.p_comp[p] = -1
        T.p_timer[p] = -(2**62)
    sc[S_PARTS] += count


@njit(cache=True)
def live_counts(T):
    """(open runs, held matches) over every partition."""
    runs = 0
    held = 0
    for p in range(T.sc[S_PARTS]):
        r = T.p_head[p]
        while r >= 0:
            runs += 1
            r = T.r_next[r]
        k = T.p_comp[p]
        while k >= 0:
            held += 1
            k = T.k_next[k]
    return runs, held


@njit(cache=True)
def live_cost(T):
    """The cost of every open run and held match (docs/limits.md), counted afresh."""
    total = 0
    for p in range(T.sc[S_PARTS]):
        r = T.p_head[p]
        while r >= 0:
            c = T.r_cell[r]
            total += RUN_COST + EVENT_COST * (T.c_depth[c] if c >= 0 else 0)
            r = T.r_next[r]
        k = T.p_comp[p]
        while k >= 0:
            c = T.k_cell[k]
            total += RUN_COST + EVENT_COST * (T.c_depth[c] if c >= 0 else 0)
            k = T.k_next[k]
    return total


@njit(cache=True)
def compact(T, EV, n_slots):
    """Drop the history cells and events no live run or held match refers to, keeping
    their order; returns the kept old event indexes (new index = position)."""
    sc = T.sc
    n_cells = sc[S_CELLS]
    n_events = sc[S_EVENTS]
    live_cell = np.zeros(n_cells, np.bool_)
    live_event = np.zeros(n_events, np.bool_)
    C_var = T.c_var
    C_ev = T.c_ev
    C_parent = T.c_parent
    R_start = T.r_start
    R_cell = T.r_cell
    R_next = T.r_next
    K_start = T.k_start
    K_cell = T.k_cell
    K_next = T.k_next
    n_parts = sc[S_PARTS]
    # the last cell of every run still listed in a partition, of every held match, and
    # of every report written but not yet collected (a compaction within a batch)
    for p in range(n_parts):
        r = T.p_head[p]
        while r >= 0:
            live_event[R_start[r]] = True
            if R_cell[r] >= 0:
                live_cell[R_cell[r]] = True
            r = R_next[r]
        k = T.p_comp[p]
        while k >= 0:
            live_event[K_start[k]] = True
            if K_cell[k] >= 0:
                live_cell[K_cell[k]] = True
            k = K_next[k]
    for j in range(sc[S_OUT]):
        if T.o_cell[j] >= 0:
            live_cell[T.o_cell[j]] = True
    # their histories: a cell's parent comes before it (cells are added after their
    # parents, and compaction keeps the order), so one backward sweep marks them all,
    # reading the tables in order rather than chasing each history through them
    ordered = True
    for c in range(n_cells - 1, -1, -1):
        if live_cell[c]:
            parent = C_parent[c]
            if parent >= c:
                ordered = False
            elif parent >= 0:
                live_cell[parent] = True
    while not ordered:  # (a restored state's cells in another order) until none is new
        ordered = True
        for c in range(n_cells - 1, -1, -1):
            if live_cell[c]:
                parent = C_parent[c]
                if parent >= 0 and not live_cell[parent]:
                    live_cell[parent] = True
                    ordered = False
    for c in range(n_cells):
        if live_cell[c]:
            live_event[C_ev[c]] = True
    new_cell = np.full(n_cells, -1, np.int64)
    at = 0
    for c in range(n_cells):
        if live_cell[c]:
            new_cell[c] = at
            at += 1
    new_event = np.full(n_events, -1, np.int64)
    kept = np.empty(int(live_event.sum()), np.int64)
    at = 0
    for g in range(n_events):
        if live_event[g]:
            new_event[g] = at
            kept[at] = g
            at += 1
    # rewrite the cells
    at = 0
    for c in range(n_cells):
        if live_cell[c]:
            C_var[at] = C_var[c]
            T.c_depth[at] = T.c_depth[c]
            C_ev[at] = new_event[C_ev[c]]
            parent = C_parent[c]
            C_parent[at] = new_cell[parent] if parent >= 0 else -1
            at += 1
    sc[S_CELLS] = at
    # rewrite the events
    E_ts = T.e_ts
    E_seq = T.e_seq
    for j in range(len(kept)):
        E_ts[j] = E_ts[kept[j]]
        E_seq[j] = E_seq[kept[j]]
        for f in range(n_slots):
            EV[j * n_slots + f] = EV[kept[j] * n_slots + f]
    sc[S_EVENTS] = len(kept)
    # runs and held matches point at the new indexes
    for p in range(n_parts):
        r = T.p_head[p]
        while r >= 0:
            R_start[r] = new_event[R_start[r]]
            c = R_cell[r]
            R_cell[r] = new_cell[c] if c >= 0 else -1
            r = R_next[r]
        k = T.p_comp[p]
        while k >= 0:
            K_start[k] = new_event[K_start[k]]
            K_cell[k] = new_cell[K_cell[k]]
            k = K_next[k]
    for j in range(sc[S_OUT]):
        c = T.o_cell[j]
        T.o_cell[j] = new_cell[c] if c >= 0 else -1
    return kept


@njit(cache=True)
def live_rows(T):
    """For a snapshot (cep/fast/snapshot.py): every live partition's runs (in list
    order) and held matches (release order) as (partition, row) pairs, and which
    history cells they reach."""
    runs, held = live_counts(T)
    run_part = np.empty(runs, np.int64)
    run_row = np.empty(runs, np.int64)
    held_part = np.empty(held, np.int64)
    held_row = np.empty(held, np.int64)
    live_cell = np.zeros(T.sc[S_CELLS], np.bool_)
    a = 0
    b = 0
    for p in range(T.sc[S_PARTS]):
        r = T.p_head[p]
        while r >= 0:
            run_part[a] = p
            run_row[a] = r
            a += 1
            c = T.r_cell[r]
            while c >= 0 and not live_cell[c]:
                live_cell[c] = True
                c = T.c_parent[c]
            r = T.r_next[r]
        k = T.p_comp[p]
        while k >= 0:
            held_part[b] = p
            held_row[b] = k
            b += 1
            c = T.k_cell[k]
            while c >= 0 and not live_cell[c]:
                live_cell[c] = True
                c = T.c_parent[c]
            k = T.k_next[k]
    return run_part, run_row, held_part, held_row, live_cell


@njit(cache=True)
def chain_depths(parents: np.ndarray) -> np.ndarray:
    """Each history cell's chain length (`c_depth`) from the cells' parents, in any
    order (a restored state's)."""
    n = len(parents)
    depth = np.zeros(n, np.int64)
    chain = np.empty(n + 1, np.int64)
    for c in range(n):
        if depth[c]:
            continue
        m = 0
        x = c
        while x >= 0 and depth[x] == 0:
            if m > n:
                raise ValueError("history cells form a cycle")
            chain[m] = x
            m += 1
            x = parents[x]
        base = 0 if x < 0 else depth[x]
        for j in range(m - 1, -1, -1):
            base += 1
            depth[chain[j]] = base
    return depth


@njit(cache=True)
def link_rows(heads: np.ndarray, nexts: np.ndarray, parts: np.ndarray) -> None:
    """Rows `0..len(parts)` linked into one list per partition (`heads`, `nexts`), each
    in row order (a restored state's runs or held matches)."""
    last = np.full(len(heads), -1, np.int64)
    for row in range(len(parts)):
        p = parts[row]
        if last[p] < 0:
            heads[p] = row
        else:
            nexts[last[p]] = row
        nexts[row] = -1
        last[p] = row


#: rows each growing table starts with (tests start with 1 to grow at every step)
INITIAL_ROWS = 64


class KernelState:
    """One rule's kernel state: the tables of `T`, the stored events' values and a
    scratch row for a history's values, grown (doubled, or to what the kernel asked for)
    between kernel calls."""

    def __init__(self, n_slots: int, fan_out: int) -> None:
        self.n_slots = n_slots
        rows = INITIAL_ROWS
        sizes = {"w_kid_state": 2 * fan_out, "w_kid_cell": 2 * fan_out, "w_edges": fan_out,
                 "w_stack": fan_out, "sc": N_SCALARS}  # fmt: skip
        self.tables = KernelTables(
            *(np.zeros(sizes.get(name, rows), dtype=np.int64) for name in KernelTables._fields)
        )
        self.values = np.zeros(rows * n_slots, dtype=np.float64)
        self.scratch = np.zeros(rows, dtype=np.float64)

    @property
    def scalars(self) -> np.ndarray:
        return self.tables.sc

    def count(self, slot: int) -> int:
        return int(self.tables.sc[slot])

    def add_partitions(self, count: int) -> None:
        need = self.count(S_PARTS) + count
        self._grow("partitions", need)
        add_partitions(self.tables, count)

    def grow(self) -> None:
        """Make the room the kernel asked for (`S_NEED_*`)."""
        for group, slot in NEEDS.items():
            self._grow(group, self.count(slot))

    def _grow(self, group: str, need: int) -> None:
        names = GROUPS[group]
        have = len(getattr(self.tables, names[0]))
        if need <= have:
            return
        size = max(need, 2 * have)
        grown = {}
        for name in names:
            grown[name] = np.zeros(size, dtype=np.int64)
            grown[name][:have] = getattr(self.tables, name)
        self.tables = self.tables._replace(**grown)
        if group == "events" and self.n_slots:
            values = np.zeros(size * self.n_slots, dtype=np.float64)
            values[: len(self.values)] = self.values
            self.values = values
        if group == "depth":
            self.scratch = np.zeros(size, dtype=np.float64)
