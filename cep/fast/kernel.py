"""The NFA step loop in numba: the interpreter's algorithm (cep/runtime/matcher.py) over
arrays.

Each edge condition is split in two: a row of bits (its part that depends only on the
event, evaluated for a whole batch beforehand) and a program (its part that depends on
the run: cep/compile/programs.py, run by cep/fast/evaluate.py). The kernel moves runs over
the tables of `T` (cep/fast/tables.py), which persist across batches.

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

import numpy as np

from cep.fast.evaluate import accepts, completes
from cep.fast.histories import comp_less, tie_cmp
from cep.fast.tables import (
    BY_EVENT,
    BY_WINDOW,
    EVENT_COST,
    FINAL,
    IGNORE,
    MATCH,
    NO,
    NONE,
    P_BUDGET,
    P_FANOUT,
    P_MAX_RUNS,
    P_SKIP,
    P_SKIP_VAR,
    P_START_PLAIN,
    P_START_STATE,
    P_TIMEOUTS,
    P_WINDOW,
    PENDING,
    PROCEED,
    RUN_COST,
    S_BUDGET_DROPPED,
    S_CELLS,
    S_COMPS,
    S_COST,
    S_DEPTH,
    S_DROPPED,
    S_EVENTS,
    S_EXPIRED,
    S_HEAP,
    S_KFREE,
    S_MATCHES,
    S_NEED_CELLS,
    S_NEED_COMPS,
    S_NEED_DEPTH,
    S_NEED_EVENTS,
    S_NEED_HEAP,
    S_NEED_OUT,
    S_NEED_POT,
    S_NEED_RUNS,
    S_OUT,
    S_OVER,
    S_PARTS,
    S_RFREE,
    S_RUNS,
    S_STEP,
    S_TIMEOUTS,
    SKIP_NONE,
    SKIP_PAST_LAST,
    SKIP_TO_FIRST,
    SKIP_TO_NEXT,
    STOP,
    TAKE,
    TIMEOUT,
    YES,
)
from cep.fast.timers import first_timer, pop_timer, push_timer
from cep.jit import njit


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
            if accepts(e, ed_cond, bits, i, ed_prog, cell, T, X):
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
            if (not only_takes or ed_act[e] == TAKE) and accepts(
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
            if accepts(e, ed_cond, bits, i, ed_prog, cell, T, X):
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


@njit(cache=True, _nrt=False, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _cost(T, cell):
    """The cost of a run or held match whose history ends at `cell` (docs/limits.md)."""
    return RUN_COST + EVENT_COST * (T.c_depth[cell] if cell >= 0 else 0)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _new_run(T, state, cell, start):
    r = _take_row(T.sc, T.r_free, S_RFREE, S_RUNS)
    T.r_state[r] = state
    T.r_cell[r] = cell
    T.r_start[r] = start
    T.r_next[r] = -1
    T.sc[S_COST] += _cost(T, cell)
    return r


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _free_run(T, r):
    T.sc[S_COST] -= _cost(T, T.r_cell[r])
    _give_row(T.sc, T.r_free, S_RFREE, r)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _new_comp(T, cell, start, step, ts):
    k = _take_row(T.sc, T.k_free, S_KFREE, S_COMPS)
    T.k_cell[k] = cell
    T.k_start[k] = start
    T.k_step[k] = step
    T.k_ts[k] = ts
    T.k_next[k] = -1
    T.sc[S_COST] += _cost(T, cell)
    return k


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _free_comp(T, k):
    T.sc[S_COST] -= _cost(T, T.k_cell[k])
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
    if head < 0 or comp_less(k, head, T, rank):
        K_next[k] = head
        P_comp[p] = k
        return
    prev = head
    cur = K_next[head]
    while cur >= 0 and not comp_less(k, cur, T, rank):
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
                if completes(params, R_cell[r], T, X):
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
                    R_start[r1] == R_start[r0] and tie_cmp(R_cell[r1], R_cell[r0], T, rank) < 0
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
    while sc[S_HEAP] > 0 and T.h_close[first_timer(T)] <= up_to:
        p = T.h_part[first_timer(T)]
        if T.p_head[p] < 0 and T.p_comp[p] < 0:
            pop_timer(T)  # a partition with no runs and no held matches: nothing to close
            continue
        if not _room(T, p, fan_out, YES):
            return False
        close, ts, seq, p = pop_timer(T)
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
        if sc[S_HEAP] > 0 and T.h_close[first_timer(T)] <= ts and not _fire(T, nfa, params, ts, X):
            return i
        if P_head[p] < 0 and P_comp[p] < 0 and start_plain:
            starts = False
            for e in start_takes:
                if accepts(e, ed_cond, bits, i, ed_prog, NONE, T, X):
                    starts = True
                    break
            if not starts:
                continue
        if not _room(T, p, fan_out, NO):
            return i
        cost_before = sc[S_COST]
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
                    if st_kind[target] == FINAL and not completes(params, cell, T, X):
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
                    and completes(params, taken, T, X)
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
                if accepts(e, ed_cond, bits, i, ed_prog, NONE, T, X):
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
                and completes(params, taken, T, X)
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
                push_timer(T, close, ts, seq, p)
        if n_pot != 0 or P_comp[p] >= 0:
            for x in range(n_pot):
                k = _new_comp(T, pot_cell[x], pot_start[x], step, ts)
                _insert_comp(T, p, k, rank)
            _release(T, p, params, rank, ts, BY_EVENT, ts, seq)
        if sc[S_COST] > params[P_BUDGET] and sc[S_COST] > cost_before:
            # over the budget of live state: the caller drops the oldest runs
            # (`shed`), then calls again from the next event
            sc[S_OVER] = 1
            return i + 1
    if not _fire(T, nfa, params, fire_up_to, X):
        return len(b_ts)
    return -1


# -------------------------------------------------------------------- for the caller


@njit(cache=True)
def shed(T, params, rank, ts, seq):
    """Over the budget of live state after the event `(ts, seq)`: drop the rule's
    oldest open runs (by the event that started them, then by their place in their
    partition's list), across partitions, until the cost is at most 7/8 of the budget;
    then release what the partitions that lost runs no longer hold back, in the order
    of their first dropped run (docs/limits.md). The caller makes room for every held
    match in the report tables. Returns how many runs were dropped."""
    sc = T.sc
    n_parts = sc[S_PARTS]
    count = 0
    for p in range(n_parts):
        r = T.p_head[p]
        while r >= 0:
            count += 1
            r = T.r_next[r]
    starts = np.empty(count, np.int64)
    places = np.empty(count, np.int64)
    rows = np.empty(count, np.int64)
    parts = np.empty(count, np.int64)
    j = 0
    for p in range(n_parts):
        r = T.p_head[p]
        place = 0
        while r >= 0:
            starts[j] = T.r_start[r]
            places[j] = place
            rows[j] = r
            parts[j] = p
            j += 1
            place += 1
            r = T.r_next[r]
    order = np.argsort(places, kind="mergesort")
    order = order[np.argsort(starts[order], kind="mergesort")]
    low = params[P_BUDGET] - params[P_BUDGET] // 8
    drop = np.zeros(len(T.r_state), np.bool_)
    touched = np.zeros(n_parts, np.bool_)
    touched_order = np.empty(n_parts, np.int64)
    n_touched = 0
    cost = sc[S_COST]
    dropped = 0
    for x in range(count):
        if cost <= low:
            break
        j = order[x]
        r = rows[j]
        drop[r] = True
        cost -= _cost(T, T.r_cell[r])
        dropped += 1
        p = parts[j]
        if not touched[p]:
            touched[p] = True
            touched_order[n_touched] = p
            n_touched += 1
    for y in range(n_touched):
        p = touched_order[y]
        prev = -1
        r = T.p_head[p]
        while r >= 0:
            nxt = T.r_next[r]
            if drop[r]:
                if prev < 0:
                    T.p_head[p] = nxt
                else:
                    T.r_next[prev] = nxt
                _free_run(T, r)
            else:
                prev = r
            r = nxt
    for y in range(n_touched):
        p = touched_order[y]
        if T.p_comp[p] >= 0:
            _release(T, p, params, rank, ts, BY_EVENT, ts, seq)
    sc[S_BUDGET_DROPPED] += dropped
    sc[S_OVER] = 0
    return dropped
