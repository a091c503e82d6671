"""The NFA step loop in numba: the interpreter's algorithm (cep/runtime/matcher.py) over
arrays.

Each edge condition is split in two: a row of bits (its part that depends only on the
event, evaluated for a whole batch beforehand) and a program (its part that depends on
the run: cep/fast/programs.py). The kernel moves runs. State lives in int64 arrays (the
tables of `T`, a `KernelTables` namedtuple; `KernelState` owns them) and persists across batches:

- runs: `r_state, r_cell, r_start, r_next` (+ a free stack `r_free`); a partition's runs
  are a linked list in creation order (`p_head`);
- history cells: `c_var, c_ev, c_parent` (a run's history is a chain of cells, shared by
  forks, as in the interpreter) and `c_depth` (the chain's length, which sizes the
  scratch rows a history's values and tie-break keys are written to);
- completed matches waiting to be released: `k_cell, k_start, k_step, k_ts, k_next`
  (+ `k_free`), one sorted list per partition (`p_comp`);
- timers: `(close, scheduling ts, scheduling seq, partition)` in `h_close, h_ts, h_seq,
  h_part`, a queue while they come in order (`sc[S_QUEUE]`: where it starts; a rule's
  window is one length and events come in time order, so they do), else a binary heap
  (`sc[S_QUEUE]` -1) until it is empty again;
- events: `e_ts, e_seq` by processing index (the order events reach the kernel, which
  is (time, arrival) order, so comparing indexes compares event keys);
- scratch space for one event (`w_*`), and counters (`sc`: how many rows of each table
  are in use, statistics).

The kernel never allocates: before each event it works out how many rows that event
can use at most (from the runs of its partition and the NFA's fan-out) and, when a
table lacks room, returns the event's index with the sizes needed in `sc`; the caller
grows the tables (`KernelState.grow`) and calls again from that event. With nothing
allocated, every function under `run_batch` is compiled with `_nrt=False` (numba's
option to leave out its reference counting): otherwise each call would increment and
decrement, atomically, the count of every array it is passed (the state tuple alone
holds dozens), which was half of the kernel's time.

Reports go to the `o_*` tables with their release key `(t, phase, a, b)`: `(ts, 1, ts,
seq)` for a report released by an event, `(close, 0, ts, seq of the scheduling event)`
for one released by a closing window; sorting by it (then rule, then order) gives the
order the interpreter reports in.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from cep.fast.programs import (
    AGG_AVG,
    AGG_COUNT,
    AGG_MAX,
    AGG_MIN,
    AGG_SUM,
    OP_ABS,
    OP_ADD,
    OP_AGG,
    OP_AND,
    OP_BIT,
    OP_CONST,
    OP_CUR,
    OP_DIV,
    OP_EQ,
    OP_EXISTS,
    OP_GT,
    OP_IN,
    OP_LE,
    OP_LT,
    OP_MAX2,
    OP_MIN2,
    OP_MOD,
    OP_MUL,
    OP_NE,
    OP_NEG,
    OP_NOT,
    OP_OR,
    OP_SUB,
    OP_VAR,
)
from cep.jit import njit

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
#: arrays: cep/fast/programs.py), the batch's slot values (`[slot, i]`), the stored
#: events' slot values (flat, `event * n_slots + slot`), the program stack, bits for
#: programs run outside a batch (none), a scratch row for a history's values
Extras = namedtuple(
    "Extras", ["programs", "batch_values", "stored_values", "stack", "no_bits", "scratch"]
)
# counter slots of `T.sc`: statistics, rows in use, sizes needed
(S_STEP, S_DROPPED, S_EXPIRED, S_MATCHES, S_TIMEOUTS,
 S_HEAP, S_RUNS, S_RFREE, S_CELLS, S_COMPS, S_KFREE, S_EVENTS, S_OUT, S_PARTS,
 S_NEED_RUNS, S_NEED_CELLS, S_NEED_COMPS, S_NEED_EVENTS, S_NEED_OUT, S_NEED_HEAP,
 S_NEED_POT, S_DEPTH, S_NEED_DEPTH, S_QUEUE) = range(24)  # fmt: skip
N_SCALARS = 24
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
 P_START_PLAIN, P_WHERE, P_FANOUT) = range(9)  # fmt: skip


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


@njit(cache=True, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _ok(e, ed_cond, bits, i, ed_prog, cell, T, X):
    """Whether edge `e` accepts event `i` of the batch in a run whose history is `cell`:
    its run-independent part from the bits, then its program (if any)."""
    c = ed_cond[e]
    if c >= 0 and bits[c, i] == 0:
        return False
    p = ed_prog[e]
    return p < 0 or _eval(p, cell, i, bits, T, X)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _truthy(x):
    return x == x and x != 0.0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _var_values(var, slot, extra, i, cell, T, X):
    """The values of `slot` of the events bound to `var`, oldest first (the candidate
    event last when `extra` names `var`), written to the scratch `X.scratch`; returns how
    many. Slot -1 gives zeros (for counting)."""
    cur = X.batch_values
    EV = X.stored_values
    F = cur.shape[0]
    C_var = T.c_var
    C_ev = T.c_ev
    C_parent = T.c_parent
    n = 1 if extra == var + 1 else 0
    c = cell
    while c >= 0:
        if C_var[c] == var:
            n += 1
        c = C_parent[c]
    out = X.scratch
    k = n - 1
    if extra == var + 1:
        if slot >= 0:
            out[k] = cur[slot, i]
        k -= 1
    c = cell
    while c >= 0:
        if C_var[c] == var:
            if slot >= 0:
                out[k] = EV[C_ev[c] * F + slot]
            k -= 1
        c = C_parent[c]
    return n


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _bound_value(var, slot, position, extra, i, cell, T, X):
    """The value of `slot` of the event bound to `var` at `position` (from the oldest
    when >= 0, from the newest when < 0); NaN when there is none."""
    cur = X.batch_values
    EV = X.stored_values
    F = cur.shape[0]
    if position == -1:
        if extra == var + 1:
            return cur[slot, i]
        C_var = T.c_var
        C_parent = T.c_parent
        c = cell
        while c >= 0:
            if C_var[c] == var:
                return EV[T.c_ev[c] * F + slot]
            c = C_parent[c]
        return np.nan
    n = _var_values(var, slot, extra, i, cell, T, X)
    at = position if position >= 0 else n + position
    if at < 0 or at >= n:
        return np.nan
    return X.scratch[at]


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _count(var, extra, cell, T):
    """How many events `var` has bound (the candidate included when `extra` names it)."""
    n = 1 if extra == var + 1 else 0
    C_var = T.c_var
    C_parent = T.c_parent
    c = cell
    while c >= 0:
        if C_var[c] == var:
            n += 1
        c = C_parent[c]
    return float(n)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _aggregate(kind, values, n):
    """An aggregate of `values[:n]` (nulls skipped)."""
    total = 0.0
    present = 0
    best = np.nan
    for j in range(n):
        v = values[j]
        if v != v:
            continue
        present += 1
        total += v
        if best != best or (kind == AGG_MIN and v < best) or (kind == AGG_MAX and v > best):
            best = v
    if kind == AGG_SUM:
        return total
    if present == 0:
        return np.nan
    if kind == AGG_AVG:
        return total / present
    return best


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _eval(p, cell, i, bits, T, X):
    """Whether program `p` holds for event `i` and history `cell`."""
    return _truthy(_value(p, cell, i, bits, T, X))


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _value(p, cell, i, bits, T, X):
    """Run program `p` (cep/fast/programs.py) for event `i` and history `cell`; its
    value (NaN: null)."""
    pg_start, pg_len, op, ia, ib, ic, idd, kc = X.programs
    stack = X.stack
    top = 0
    for x in range(pg_start[p], pg_start[p] + pg_len[p]):
        o = op[x]
        if o == OP_CONST:
            stack[top] = kc[x]
            top += 1
        elif o == OP_BIT:
            stack[top] = 1.0 if bits[ia[x], i] != 0 else 0.0
            top += 1
        elif o == OP_CUR:
            stack[top] = X.batch_values[ia[x], i]
            top += 1
        elif o == OP_VAR:
            stack[top] = _bound_value(ia[x], ib[x], ic[x], idd[x], i, cell, T, X)
            top += 1
        elif o == OP_AGG:
            if ic[x] == AGG_COUNT:
                stack[top] = _count(ia[x], idd[x], cell, T)
            else:
                n = _var_values(ia[x], ib[x], idd[x], i, cell, T, X)
                stack[top] = _aggregate(ic[x], X.scratch, n)
            top += 1
        elif o == OP_NEG:
            stack[top - 1] = -stack[top - 1]
        elif o == OP_ABS:
            stack[top - 1] = abs(stack[top - 1])
        elif o == OP_NOT:
            stack[top - 1] = 0.0 if _truthy(stack[top - 1]) else 1.0
        elif o == OP_IN:
            v = stack[top - 1]
            found = 0.0
            if v == v:
                values = X.scratch
                for j in range(_var_values(ia[x], ib[x], idd[x], i, cell, T, X)):
                    if values[j] == v:
                        found = 1.0
                        break
            stack[top - 1] = found
        elif o == OP_EXISTS:
            v = stack[top - 1]
            stack[top - 1] = 1.0 if v == v else 0.0
        else:
            b = stack[top - 1]
            a = stack[top - 2]
            top -= 1
            r = np.nan
            if o == OP_ADD:
                r = a + b
            elif o == OP_SUB:
                r = a - b
            elif o == OP_MUL:
                r = a * b
            elif o == OP_DIV:
                if b != 0.0:
                    r = a / b
            elif o == OP_MOD:
                if b != 0.0 and a == a and b == b:
                    r = np.fmod(a, b)
                    if r != 0.0:
                        if (b < 0.0) != (r < 0.0):
                            r += b
                    else:
                        r = math.copysign(0.0, b)
            elif o == OP_AND:
                r = 1.0 if _truthy(a) and _truthy(b) else 0.0
            elif o == OP_OR:
                r = 1.0 if _truthy(a) or _truthy(b) else 0.0
            elif o == OP_MIN2:
                r = b if a != a or (b == b and b < a) else a
            elif o == OP_MAX2:
                r = b if a != a or (b == b and b > a) else a
            elif a != a or b != b:
                r = 0.0  # a comparison with null is false
            elif o == OP_EQ:
                r = 1.0 if a == b else 0.0
            elif o == OP_NE:
                r = 1.0 if a != b else 0.0
            elif o == OP_LT:
                r = 1.0 if a < b else 0.0
            elif o == OP_LE:
                r = 1.0 if a <= b else 0.0
            elif o == OP_GT:
                r = 1.0 if a > b else 0.0
            else:
                r = 1.0 if a >= b else 0.0
            stack[top - 1] = r
    return stack[0]


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _completes(params, cell, T, X):
    """Whether `where` holds for a finished history (no `where`: always)."""
    p = params[P_WHERE]
    return p < 0 or _eval(p, cell, NONE, X.no_bits, T, X)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _path_keys(c, C_var, C_ev, C_parent, rank, keys):
    """A history's bound events keyed `rank * 2^40 + event`, sorted (pattern order),
    written to `keys`; returns how many."""
    j = 0
    x = c
    while x >= 0:
        keys[j] = rank[C_var[x]] * (1 << 40) + C_ev[x]
        j += 1
        x = C_parent[x]
    _heapsort(keys, j)
    return j


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _sift_down(keys, root, end):
    while 2 * root + 1 < end:
        child = 2 * root + 1
        if child + 1 < end and keys[child] < keys[child + 1]:
            child += 1
        if keys[root] >= keys[child]:
            return
        keys[root], keys[child] = keys[child], keys[root]
        root = child


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _heapsort(keys, n):
    """Sort `keys[:n]` in place (numba's sort allocates, which the kernel may not)."""
    for root in range(n // 2 - 1, -1, -1):
        _sift_down(keys, root, n)
    for end in range(n - 1, 0, -1):
        keys[0], keys[end] = keys[end], keys[0]
        _sift_down(keys, ZERO, end)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _tie_cmp(c1, c2, T, rank):
    """Compare two histories by their bound events in pattern order (-1, 0, 1)."""
    ka = T.w_keys_a
    kb = T.w_keys_b
    na = _path_keys(c1, T.c_var, T.c_ev, T.c_parent, rank, ka)
    nb = _path_keys(c2, T.c_var, T.c_ev, T.c_parent, rank, kb)
    mask = (1 << 40) - 1
    for j in range(min(na, nb)):
        ea = ka[j] & mask
        eb = kb[j] & mask
        if ea < eb:
            return -1
        if ea > eb:
            return 1
    if na < nb:
        return -1
    if na > nb:
        return 1
    return 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _comp_less(k1, k2, T, rank):
    K_start = T.k_start
    K_step = T.k_step
    if K_start[k1] != K_start[k2]:
        return K_start[k1] < K_start[k2]
    if K_step[k1] != K_step[k2]:
        return K_step[k1] < K_step[k2]
    return _tie_cmp(T.k_cell[k1], T.k_cell[k2], T, rank) < 0


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _final_after_proceed(s0, nfa, bits, i, cell, T, X):
    """Whether proceed edges lead from state `s0` to the final state for event `i`."""
    st_kind = nfa.st_kind
    st_e0 = nfa.st_e0
    st_en = nfa.st_en
    ed_act = nfa.ed_act
    ed_tgt = nfa.ed_tgt
    ed_cond = nfa.ed_cond
    ed_prog = nfa.ed_prog
    stack = T.w_stack
    stack[0] = s0
    top = 1
    while top > 0:
        top -= 1
        s = stack[top]
        for e in range(st_e0[s], st_e0[s] + st_en[s]):
            if ed_act[e] != PROCEED:
                continue
            if _ok(e, ed_cond, bits, i, ed_prog, cell, T, X):
                t = ed_tgt[e]
                if st_kind[t] == FINAL:
                    return True
                stack[top] = t
                top += 1
    return False


@njit(cache=True, _nrt=False, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _followed(state, nfa, bits, i, cell, T, X, only_takes):
    """The edges a run in `state` follows for event `i` (proceed edges walked through),
    written to `T.w_edges`; returns how many. `only_takes`: ignore edges left out."""
    st_plain = nfa.st_plain
    st_e0 = nfa.st_e0
    st_en = nfa.st_en
    ed_act = nfa.ed_act
    ed_tgt = nfa.ed_tgt
    ed_cond = nfa.ed_cond
    ed_prog = nfa.ed_prog
    edges = T.w_edges
    n = 0
    if st_plain[state] != 0:
        for e in range(st_e0[state], st_e0[state] + st_en[state]):
            if (not only_takes or ed_act[e] == TAKE) and _ok(
                e, ed_cond, bits, i, ed_prog, cell, T, X
            ):
                edges[n] = e
                n += 1
        return n
    stack = T.w_stack
    stack[0] = state
    top = 1
    while top > 0:
        top -= 1
        s = stack[top]
        for e in range(st_e0[s], st_e0[s] + st_en[s]):
            if _ok(e, ed_cond, bits, i, ed_prog, cell, T, X):
                if ed_act[e] == PROCEED:
                    stack[top] = ed_tgt[e]
                    top += 1
                elif not only_takes or ed_act[e] == TAKE:
                    edges[n] = e
                    n += 1
    return n


# ----------------------------------------------------------------- rows of the tables


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _take_row(sc, free, free_count, row_count):
    """A row of a table with a free list: a freed one, else the next unused one."""
    if sc[free_count] > 0:
        sc[free_count] -= 1
        return free[sc[free_count]]
    row = sc[row_count]
    sc[row_count] += 1
    return row


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _give_row(sc, free, free_count, row):
    free[sc[free_count]] = row
    sc[free_count] += 1


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _new_run(T, state, cell, start):
    r = _take_row(T.sc, T.r_free, S_RFREE, S_RUNS)
    T.r_state[r] = state
    T.r_cell[r] = cell
    T.r_start[r] = start
    T.r_next[r] = -1
    return r


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _free_run(T, r):
    _give_row(T.sc, T.r_free, S_RFREE, r)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _new_comp(T, cell, start, step, ts):
    k = _take_row(T.sc, T.k_free, S_KFREE, S_COMPS)
    T.k_cell[k] = cell
    T.k_start[k] = start
    T.k_step[k] = step
    T.k_ts[k] = ts
    T.k_next[k] = -1
    return k


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _free_comp(T, k):
    _give_row(T.sc, T.k_free, S_KFREE, k)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _new_cell(T, var, event, parent):
    sc = T.sc
    c = sc[S_CELLS]
    T.c_var[c] = var
    T.c_ev[c] = event
    T.c_parent[c] = parent
    depth = 1 if parent < 0 else T.c_depth[parent] + 1
    T.c_depth[c] = depth
    if depth > sc[S_DEPTH]:
        sc[S_DEPTH] = depth
    sc[S_CELLS] = c + 1
    return c


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _before(a1, a2, a3, b1, b2, b3):
    """(a1, a2, a3) < (b1, b2, b3)."""
    if a1 != b1:
        return a1 < b1
    if a2 != b2:
        return a2 < b2
    return a3 < b3


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _heap_less(T, x, y):
    return _before(T.h_close[x], T.h_ts[x], T.h_seq[x], T.h_close[y], T.h_ts[y], T.h_seq[y])


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _heap_swap(T, x, y):
    _swap(T.h_close, x, y)
    _swap(T.h_ts, x, y)
    _swap(T.h_seq, x, y)
    _swap(T.h_part, x, y)


@njit(cache=True, _nrt=False, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _swap(column, x, y):
    column[x], column[y] = column[y], column[x]


@njit(cache=True, _nrt=False, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _timer_first(T):
    """Where the earliest timer is (there must be one)."""
    head = T.sc[S_QUEUE]
    return head if head >= 0 else ZERO


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _queue_to_front(T, head, n):
    """The queue's `n` timers moved to the front of the tables."""
    for column in (T.h_close, T.h_ts, T.h_seq, T.h_part):
        for x in range(n):
            column[x] = column[head + x]


@njit(cache=True, _nrt=False, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _heap_push(T, close, ts, seq, part):
    """Add a timer (`sc[S_HEAP]` in use): at the queue's end when it is not before the
    last one, else into the heap (the queue, being in order, is one). Inlined: LLVM
    left it a call, and a call passes `T` flattened (~300 words pushed), which took
    longer than the rest of an event's step."""
    sc = T.sc
    n = sc[S_HEAP]
    head = sc[S_QUEUE]
    if head >= 0 and n > 0:
        last = head + n - 1
        if _before(close, ts, seq, T.h_close[last], T.h_ts[last], T.h_seq[last]):
            _queue_to_front(T, head, n)
            head = sc[S_QUEUE] = -1
    if head >= 0:
        if head + n >= len(T.h_close):
            _queue_to_front(T, head, n)
            head = sc[S_QUEUE] = 0
        k = head + n
    else:
        k = n
    T.h_close[k] = close
    T.h_ts[k] = ts
    T.h_seq[k] = seq
    T.h_part[k] = part
    sc[S_HEAP] = n + 1
    if head >= 0:
        return
    while k > 0:
        p = (k - 1) // 2
        if not _heap_less(T, k, p):
            break
        _heap_swap(T, k, p)
        k = p


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _heap_pop(T):
    """Remove and return the earliest timer (close, ts, seq, partition)."""
    sc = T.sc
    n = sc[S_HEAP] - 1
    first = _timer_first(T)
    close = T.h_close[first]
    ts = T.h_ts[first]
    seq = T.h_seq[first]
    part = T.h_part[first]
    sc[S_HEAP] = n
    if sc[S_QUEUE] >= 0 or n == 0:
        sc[S_QUEUE] = first + 1 if n > 0 else 0  # (empty: a queue again)
        return close, ts, seq, part
    _heap_swap(T, ZERO, n)
    # (from a literal 0, numba's first pass over the loop would type `k` as that
    # literal and compile `_heap_swap` and `_heap_less` once more for it)
    k = np.int64(0)
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        if c + 1 < n and _heap_less(T, c + 1, c):
            c += 1
        if not _heap_less(T, c, k):
            break
        _heap_swap(T, k, c)
        k = c
    return close, ts, seq, part


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _emit(T, kind, ts, cell, part, t, phase, a, b):
    sc = T.sc
    j = sc[S_OUT]
    T.o_kind[j] = kind
    T.o_ts[j] = ts
    T.o_cell[j] = cell
    T.o_part[j] = part
    T.o_t[j] = t
    T.o_phase[j] = phase
    T.o_a[j] = a
    T.o_b[j] = b
    sc[S_OUT] = j + 1
    if kind == 0:
        sc[S_MATCHES] += 1
    else:
        sc[S_TIMEOUTS] += 1


# ------------------------------------------------------------------- held matches


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _insert_comp(T, p, k, rank):
    K_next = T.k_next
    P_comp = T.p_comp
    head = P_comp[p]
    if head < 0 or _comp_less(k, head, T, rank):
        K_next[k] = head
        P_comp[p] = k
        return
    prev = head
    cur = K_next[head]
    while cur >= 0 and not _comp_less(k, cur, T, rank):
        prev = cur
        cur = K_next[cur]
    K_next[k] = cur
    K_next[prev] = k


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _prune(T, p, cell, params):
    skip = params[P_SKIP]
    C_ev = T.c_ev
    C_var = T.c_var
    C_parent = T.c_parent
    if skip == SKIP_PAST_LAST:
        pid = C_ev[cell]
        inclusive = True
    elif skip == SKIP_TO_NEXT:
        c = cell
        pid = C_ev[c]
        while c >= 0:
            pid = C_ev[c]
            c = C_parent[c]
        inclusive = True
    else:
        first = -1
        last = -1
        c = cell
        while c >= 0:
            if C_var[c] == params[P_SKIP_VAR]:
                if last < 0:
                    last = C_ev[c]
                first = C_ev[c]
            c = C_parent[c]
        if first < 0:
            return
        pid = first if skip == SKIP_TO_FIRST else last
        inclusive = False
    T.p_head[p] = _drop_pruned(T, T.p_head[p], YES, pid, inclusive)
    T.p_comp[p] = _drop_pruned(T, T.p_comp[p], NO, pid, inclusive)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _drop_pruned(T, head, runs, pid, inclusive):
    """Remove from a linked list (`runs`, else held matches) the entries whose start is
    at or before (`inclusive`) / before the pruning event; returns the new head."""
    starts = T.r_start if runs else T.k_start
    nexts = T.r_next if runs else T.k_next
    prev = -1
    item = head
    while item >= 0:
        nxt = nexts[item]
        start = starts[item]
        if start <= pid if inclusive else start < pid:
            if prev < 0:
                head = nxt
            else:
                nexts[prev] = nxt
            if runs:
                _free_run(T, item)
            else:
                _free_comp(T, item)
        else:
            prev = item
        item = nxt
    return head


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _release(T, p, params, rank, t, phase, a, b):
    holds = params[P_SKIP] != SKIP_NONE
    R_start = T.r_start
    R_next = T.r_next
    P_comp = T.p_comp
    while P_comp[p] >= 0:
        k = P_comp[p]
        if holds:
            r = T.p_head[p]
            if r >= 0:
                earliest = R_start[r]
                while r >= 0:
                    if R_start[r] < earliest:
                        earliest = R_start[r]
                    r = R_next[r]
                if T.k_start[k] > earliest:
                    break
        P_comp[p] = T.k_next[k]
        _free_comp(T, k)
        cell = T.k_cell[k]
        if holds:
            _prune(T, p, cell, params)
        _emit(T, MATCH, T.k_ts[k], cell, p, t, phase, a, b)


# ------------------------------------------------------------------------- windows


@njit(cache=True, _nrt=False, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _advance(T, nfa, params, p, now, t, a, b, X):
    """Close the windows of partition p that end at or before `now`."""
    window = params[P_WINDOW]
    if window < 0:
        return
    st_kind = nfa.st_kind
    rank = nfa.rank
    sc = T.sc
    sc[S_STEP] += 1
    step = sc[S_STEP]
    R_state = T.r_state
    R_cell = T.r_cell
    R_start = T.r_start
    R_next = T.r_next
    P_head = T.p_head
    E_ts = T.e_ts
    expired = T.r_work
    n = 0
    prev = -1
    r = P_head[p]
    while r >= 0:
        nxt = R_next[r]
        start_ts = E_ts[R_start[r]]
        if now - start_ts >= window:
            if prev < 0:
                P_head[p] = nxt
            else:
                R_next[prev] = nxt
            if st_kind[R_state[r]] == PENDING:
                if _completes(params, R_cell[r], T, X):
                    k = _new_comp(T, R_cell[r], R_start[r], step, start_ts + window)
                    _insert_comp(T, p, k, rank)
                # else `where` is false: the absence is no match
                _free_run(T, r)
            else:
                expired[n] = r
                n += 1
        else:
            prev = r
        r = nxt
    _release(T, p, params, rank, t, BY_WINDOW, a, b)
    sc[S_EXPIRED] += n
    if params[P_TIMEOUTS] != 0 and n > 0:
        # timeouts in order of first event, then bound events (insertion sort)
        for x in range(1, n):
            y = x
            while y > 0:
                r1 = expired[y]
                r0 = expired[y - 1]
                if R_start[r1] < R_start[r0] or (
                    R_start[r1] == R_start[r0] and _tie_cmp(R_cell[r1], R_cell[r0], T, rank) < 0
                ):
                    expired[y], expired[y - 1] = r0, r1
                    y -= 1
                else:
                    break
        for x in range(n):
            r = expired[x]
            _emit(T, TIMEOUT, E_ts[R_start[r]] + window, R_cell[r], p, t, BY_WINDOW, a, b)
    for x in range(n):
        _free_run(T, expired[x])


@njit(cache=True, _nrt=False, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _fire(T, nfa, params, up_to, X):
    """Close the windows that end at or before `up_to`, timer by timer; False when the
    tables lack room for the next one (the caller grows them and calls again)."""
    sc = T.sc
    fan_out = params[P_FANOUT]
    while sc[S_HEAP] > 0 and T.h_close[_timer_first(T)] <= up_to:
        p = T.h_part[_timer_first(T)]
        if T.p_head[p] < 0 and T.p_comp[p] < 0:
            _heap_pop(T)  # a partition with no runs and no held matches: nothing to close
            continue
        if not _room(T, p, fan_out, YES):
            return False
        close, ts, seq, p = _heap_pop(T)
        _advance(T, nfa, params, p, close, close, ts, seq, X)
    return True


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _room(T, p, fan_out, closing):
    """Whether every table has room for what partition `p` can add at most, for one
    event or (`closing`) for the closing of its windows; records in `sc` the sizes
    needed."""
    sc = T.sc
    runs = 0
    r = T.p_head[p]
    while r >= 0:
        runs += 1
        r = T.r_next[r]
    held = 0
    k = T.p_comp[p]
    while k >= 0:
        held += 1
        k = T.k_next[k]
    if closing:  # runs end: each as a timeout or a held match; held matches go out
        fan = 0
        sc[S_NEED_COMPS] = sc[S_COMPS] + runs
        sc[S_NEED_OUT] = sc[S_OUT] + runs + held
    else:
        fan = (runs + 1) * 2 * fan_out
        sc[S_NEED_COMPS] = sc[S_COMPS] + fan
        sc[S_NEED_OUT] = sc[S_OUT] + held + fan
    sc[S_NEED_RUNS] = sc[S_RUNS] + fan
    sc[S_NEED_CELLS] = sc[S_CELLS] + fan
    sc[S_NEED_EVENTS] = sc[S_EVENTS] + 1
    sc[S_NEED_HEAP] = 2 * sc[S_HEAP] + 1  # (a queue moves to the front when at the end)
    sc[S_NEED_POT] = fan
    sc[S_NEED_DEPTH] = sc[S_DEPTH] + 2
    return (
        sc[S_NEED_RUNS] <= len(T.r_state)
        and sc[S_NEED_CELLS] <= len(T.c_var)
        and sc[S_NEED_COMPS] <= len(T.k_cell)
        and sc[S_NEED_EVENTS] <= len(T.e_ts)
        and sc[S_NEED_OUT] <= len(T.o_kind)
        and sc[S_NEED_HEAP] <= len(T.h_close)
        and sc[S_NEED_POT] <= len(T.w_pot_cell)
        and sc[S_NEED_DEPTH] <= len(T.w_keys_a)
    )


# ----------------------------------------------------------------------- the batch


@njit(cache=True, _nrt=False)
def run_batch(nfa, params, b_ts, b_seq, b_part, bits, fire_up_to, T, X, begin):
    """Match events `begin:` of a batch (in processing order) of one rule, then close
    the windows that end at or before `fire_up_to`. Returns -1 when done, or the index
    of the event (the batch's length: the closing) that needs bigger tables.

    `X` carries the run-dependent conditions: (programs, the batch's field values
    `cur[slot, i]`, the stored events' values `EV[event * slots + slot]`, a stack, an
    empty bits array for `where` checks outside an event)."""
    st_kind = nfa.st_kind
    st_ptf = nfa.st_ptf
    ed_act = nfa.ed_act
    ed_tgt = nfa.ed_tgt
    ed_cond = nfa.ed_cond
    ed_var = nfa.ed_var
    rank = nfa.rank
    start_takes = nfa.start_takes
    ed_prog = nfa.ed_prog
    cur = X.batch_values
    EV = X.stored_values
    n_slots = cur.shape[0]
    start_state = params[P_START_STATE]
    window = params[P_WINDOW]
    max_runs = params[P_MAX_RUNS]
    start_plain = params[P_START_PLAIN] != 0
    fan_out = params[P_FANOUT]
    sc = T.sc
    R_state = T.r_state
    R_cell = T.r_cell
    R_start = T.r_start
    R_next = T.r_next
    P_head = T.p_head
    P_comp = T.p_comp
    P_timer = T.p_timer
    E_ts = T.e_ts
    E_seq = T.e_seq
    pot_cell = T.w_pot_cell
    pot_start = T.w_pot_start
    kid_state = T.w_kid_state
    kid_cell = T.w_kid_cell
    edges = T.w_edges
    for i in range(begin, len(b_ts)):
        ts = b_ts[i]
        seq = b_seq[i]
        p = b_part[i]
        # nothing changes for event i before its room is made: a call resumes at i
        if sc[S_HEAP] > 0 and T.h_close[_timer_first(T)] <= ts and not _fire(T, nfa, params, ts, X):
            return i
        if P_head[p] < 0 and P_comp[p] < 0 and start_plain:
            starts = False
            for e in start_takes:
                if _ok(e, ed_cond, bits, i, ed_prog, NONE, T, X):
                    starts = True
                    break
            if not starts:
                continue
        if not _room(T, p, fan_out, NO):
            return i
        g = sc[S_EVENTS]
        sc[S_EVENTS] = g + 1
        E_ts[g] = ts
        E_seq[g] = seq
        for f in range(n_slots):
            EV[g * n_slots + f] = cur[f, i]
        sc[S_STEP] += 1
        step = sc[S_STEP]
        n_pot = 0
        new_head = -1
        new_tail = -1
        count = 0
        # the runs of the partition, in order
        r = P_head[p]
        while r >= 0:
            nxt = R_next[r]
            state = R_state[r]
            cell = R_cell[r]
            start = R_start[r]
            n_edges = _followed(state, nfa, bits, i, cell, T, X, NO)
            stopped = False
            n_kids = 0
            reused = False
            for x in range(n_edges):
                e = edges[x]
                target = ed_tgt[e]
                if ed_act[e] == IGNORE:
                    if st_kind[target] == FINAL and not _completes(params, cell, T, X):
                        continue
                    kid_state[n_kids] = -1 if target == state else target  # -1: the run itself
                    kid_cell[n_kids] = cell
                    n_kids += 1
                    continue
                if st_kind[target] == STOP:
                    stopped = True
                    continue
                taken = _new_cell(T, ed_var[e], g, cell)
                kid_state[n_kids] = target
                kid_cell[n_kids] = taken
                n_kids += 1
                if (
                    st_ptf[target] != 0
                    and _final_after_proceed(target, nfa, bits, i, cell, T, X)
                    and _completes(params, taken, T, X)
                ):
                    kid_state[n_kids] = -2  # a completed match
                    kid_cell[n_kids] = taken
                    n_kids += 1
            for x in range(n_kids):
                ks = kid_state[x]
                kc = kid_cell[x]
                if ks == -2 or (ks >= 0 and st_kind[ks] == FINAL):
                    pot_cell[n_pot] = kc
                    pot_start[n_pot] = start
                    n_pot += 1
                    continue
                if stopped:
                    continue
                if ks == -1 and not reused:
                    kr = r
                    reused = True
                else:
                    kr = _new_run(T, ks if ks >= 0 else state, kc, start)
                R_next[kr] = -1
                if new_tail < 0:
                    new_head = kr
                else:
                    R_next[new_tail] = kr
                new_tail = kr
                count += 1
            if not reused:
                _free_run(T, r)
            r = nxt
        # the start run
        runs_before = count
        if start_plain:
            n_edges = 0
            for e in start_takes:
                if _ok(e, ed_cond, bits, i, ed_prog, NONE, T, X):
                    edges[n_edges] = e
                    n_edges += 1
        else:
            n_edges = _followed(start_state, nfa, bits, i, NONE, T, X, YES)
        start_tail_before = new_tail
        stopped = False
        for x in range(n_edges):
            e = edges[x]
            target = ed_tgt[e]
            if st_kind[target] == STOP:
                stopped = True
                continue
            taken = _new_cell(T, ed_var[e], g, NONE)
            if st_kind[target] == FINAL:
                pot_cell[n_pot] = taken
                pot_start[n_pot] = g
                n_pot += 1
                continue
            kr = _new_run(T, target, taken, g)
            if new_tail < 0:
                new_head = kr
            else:
                R_next[new_tail] = kr
            new_tail = kr
            count += 1
            if (
                st_ptf[target] != 0
                and _final_after_proceed(target, nfa, bits, i, NONE, T, X)
                and _completes(params, taken, T, X)
            ):
                pot_cell[n_pot] = taken
                pot_start[n_pot] = g
                n_pot += 1
        if stopped and count > runs_before:
            # a stop kills the start run's other children
            r = R_next[start_tail_before] if start_tail_before >= 0 else new_head
            while r >= 0:
                nxt = R_next[r]
                _free_run(T, r)
                r = nxt
            if start_tail_before >= 0:
                R_next[start_tail_before] = -1
            else:
                new_head = -1
            new_tail = start_tail_before
            count = runs_before
        started = count > runs_before
        if count > max_runs:
            # drop the newest runs beyond the cap
            r = new_head
            kept = 1
            while kept < max_runs:
                r = R_next[r]
                kept += 1
            extra = R_next[r]
            R_next[r] = -1
            new_tail = r
            while extra >= 0:
                nxt = R_next[extra]
                _free_run(T, extra)
                sc[S_DROPPED] += 1
                extra = nxt
        P_head[p] = new_head
        if started and window >= 0:
            close = ts + window
            if close > P_timer[p]:
                P_timer[p] = close
                _heap_push(T, close, ts, seq, p)
        if n_pot == 0 and P_comp[p] < 0:
            continue
        for x in range(n_pot):
            k = _new_comp(T, pot_cell[x], pot_start[x], step, ts)
            _insert_comp(T, p, k, rank)
        _release(T, p, params, rank, ts, BY_EVENT, ts, seq)
    if not _fire(T, nfa, params, fire_up_to, X):
        return len(b_ts)
    return -1


# -------------------------------------------------------------------- for the caller


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
def collect_paths(cells, C_var, C_ev, C_parent):
    """The histories of report cells, oldest first, flattened: `(offsets, vars, events)`
    where report j's cells are `offsets[j]:offsets[j + 1]`."""
    total = 0
    for j in range(len(cells)):
        c = cells[j]
        while c >= 0:
            total += 1
            c = C_parent[c]
    offsets = np.empty(len(cells) + 1, np.int64)
    variables = np.empty(total, np.int64)
    events = np.empty(total, np.int64)
    at = 0
    for j in range(len(cells)):
        offsets[j] = at
        length = 0
        c = cells[j]
        while c >= 0:
            length += 1
            c = C_parent[c]
        c = cells[j]
        k = at + length - 1
        while c >= 0:
            variables[k] = C_var[c]
            events[k] = C_ev[c]
            k -= 1
            c = C_parent[c]
        at += length
    offsets[len(cells)] = at
    return offsets, variables, events


@njit(cache=True, _nrt=False)
def report_values(programs, cells, T, X, out):
    """`out[j, f]`: the value of program `programs[f]` over the history `cells[j]` (the
    `emit` fields of reports, computed where their histories are)."""
    for j in range(cells.shape[0]):
        for f in range(programs.shape[0]):
            out[j, f] = _value(programs[f], cells[j], NONE, X.no_bits, T, X)


@njit(cache=True, _nrt=False)
def test_events(program, T, X, out):
    """`out[i]`: whether `program` (a term's own condition: it reads no history) holds
    for event `i` of the batch whose slot values are `X.batch_values`."""
    for i in range(len(out)):
        out[i] = _eval(program, NONE, i, X.no_bits, T, X)


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
    # every run still listed in a partition, every held match
    for p in range(n_parts):
        r = T.p_head[p]
        while r >= 0:
            live_event[R_start[r]] = True
            c = R_cell[r]
            while c >= 0 and not live_cell[c]:
                live_cell[c] = True
                c = C_parent[c]
            r = R_next[r]
        k = T.p_comp[p]
        while k >= 0:
            live_event[K_start[k]] = True
            c = K_cell[k]
            while c >= 0 and not live_cell[c]:
                live_cell[c] = True
                c = C_parent[c]
            k = K_next[k]
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
    return kept


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
