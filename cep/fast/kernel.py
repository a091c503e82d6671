"""The NFA step loop in numba: the interpreter's algorithm (cep/runtime/matcher.py) over
arrays, for rules whose conditions do not depend on runs.

Every edge condition of such a rule is a boolean function of the event alone, so a
batch arrives with one row of bits per distinct condition; the kernel then only moves
runs. State lives in numba typed lists (they grow as needed) and persists across
batches:

- runs: `R_state, R_cell, R_start, R_next` (+ free list `R_free`); a partition's runs
  are a linked list in creation order (`P_head`);
- history cells: `C_var, C_ev, C_parent` (a run's history is a chain of cells, shared by
  forks, as in the interpreter);
- completed matches waiting to be released: `K_cell, K_start, K_step, K_ts, K_next`
  (+ `K_free`), one sorted list per partition (`P_comp`);
- timers: a binary heap of `(close, scheduling ts, scheduling seq, partition)` in the
  columns of one int64 array (`X[4][0]`, grown by doubling);
- events: `E_ts, E_seq` by processing index (the order events reach the kernel, which
  is (time, arrival) order, so comparing indexes compares event keys).

Reports go to `O_*` lists with their release key `(t, phase, a, b)`: `(ts, 1, ts, seq)`
for a report released by an event, `(close, 0, ts, seq of the scheduling event)` for one
released by a closing window; sorting by it (then rule, then order) gives the order the
interpreter reports in.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

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

# state kinds, edge actions, skip strategies (mirrors of cep/compile/nfa.py)
NORMAL, START, FINAL, STOP, PENDING = 0, 1, 2, 3, 4
TAKE, IGNORE, PROCEED = 0, 1, 2
SKIP_NONE, SKIP_PAST_LAST, SKIP_TO_NEXT, SKIP_TO_FIRST, SKIP_TO_LAST = 0, 1, 2, 3, 4
# scalar slots
S_STEP, S_DROPPED, S_EXPIRED, S_MATCHES, S_TIMEOUTS, S_HEAP = 0, 1, 2, 3, 4, 5


@njit(cache=True, inline="always")
def _ok(e, ed_cond, bits, i, ed_prog, cell, L, X):
    """Whether edge `e` accepts event `i` of the batch in a run whose history is `cell`:
    its run-independent part from the bits, then its program (if any)."""
    c = ed_cond[e]
    if c >= 0 and bits[c, i] == 0:
        return False
    p = ed_prog[e]
    return p < 0 or _eval(p, cell, i, bits, L, X)


@njit(cache=True)
def _truthy(x):
    return x == x and x != 0.0


@njit(cache=True)
def _var_values(var, slot, extra, i, cell, L, X):
    """The values of `slot` of the events bound to `var`, oldest first (the candidate
    event last when `extra` names `var`); slot -1 gives zeros (for counting)."""
    cur = X[1]
    EV = X[2]
    F = cur.shape[0]
    C_var = L[C_VAR]
    C_ev = L[C_EV]
    C_parent = L[C_PARENT]
    n = 1 if extra == var + 1 else 0
    c = cell
    while c >= 0:
        if C_var[c] == var:
            n += 1
        c = C_parent[c]
    out = np.zeros(n, np.float64)
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
    return out


@njit(cache=True)
def _bound_value(var, slot, position, extra, i, cell, L, X):
    """The value of `slot` of the event bound to `var` at `position` (from the oldest
    when >= 0, from the newest when < 0); NaN when there is none."""
    cur = X[1]
    EV = X[2]
    F = cur.shape[0]
    if position == -1:
        if extra == var + 1:
            return cur[slot, i]
        C_var = L[C_VAR]
        C_parent = L[C_PARENT]
        c = cell
        while c >= 0:
            if C_var[c] == var:
                return EV[L[C_EV][c] * F + slot]
            c = C_parent[c]
        return np.nan
    values = _var_values(var, slot, extra, i, cell, L, X)
    n = len(values)
    at = position if position >= 0 else n + position
    if at < 0 or at >= n:
        return np.nan
    return values[at]


@njit(cache=True)
def _count(var, extra, cell, L):
    """How many events `var` has bound (the candidate included when `extra` names it)."""
    n = 1 if extra == var + 1 else 0
    C_var = L[C_VAR]
    C_parent = L[C_PARENT]
    c = cell
    while c >= 0:
        if C_var[c] == var:
            n += 1
        c = C_parent[c]
    return float(n)


@njit(cache=True)
def _aggregate(kind, values):
    total = 0.0
    present = 0
    best = np.nan
    for v in values:
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


@njit(cache=True)
def _eval(p, cell, i, bits, L, X):
    """Run program `p` (cep/fast/programs.py) for event `i` and history `cell`."""
    pg_start, pg_len, op, ia, ib, ic, idd, kc = X[0]
    stack = X[3]
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
            stack[top] = X[1][ia[x], i]
            top += 1
        elif o == OP_VAR:
            stack[top] = _bound_value(ia[x], ib[x], ic[x], idd[x], i, cell, L, X)
            top += 1
        elif o == OP_AGG:
            if ic[x] == AGG_COUNT:
                stack[top] = _count(ia[x], idd[x], cell, L)
            else:
                values = _var_values(ia[x], ib[x], idd[x], i, cell, L, X)
                stack[top] = _aggregate(ic[x], values)
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
                for w in _var_values(ia[x], ib[x], idd[x], i, cell, L, X):
                    if w == v:
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
    return _truthy(stack[0])


@njit(cache=True)
def _completes(params, cell, L, X):
    """Whether `where` holds for a finished history (no `where`: always)."""
    p = params[P_WHERE]
    return p < 0 or _eval(p, cell, -1, X[5], L, X)


@njit(cache=True)
def _tie_cmp(c1, c2, C_var, C_ev, C_parent, rank):
    """Compare two histories by their bound events in pattern order (-1, 0, 1)."""
    a_rank = []
    a_ev = []
    c = c1
    while c >= 0:
        a_rank.append(rank[C_var[c]])
        a_ev.append(C_ev[c])
        c = C_parent[c]
    b_rank = []
    b_ev = []
    c = c2
    while c >= 0:
        b_rank.append(rank[C_var[c]])
        b_ev.append(C_ev[c])
        c = C_parent[c]
    na = len(a_ev)
    nb = len(b_ev)
    ka = np.empty(na, np.int64)
    kb = np.empty(nb, np.int64)
    # key = rank * 2^40 + event index; events of one var are chronological
    for j in range(na):
        ka[j] = a_rank[j] * (1 << 40) + a_ev[j]
    for j in range(nb):
        kb[j] = b_rank[j] * (1 << 40) + b_ev[j]
    ka.sort()
    kb.sort()
    n = min(na, nb)
    for j in range(n):
        ea = ka[j] & ((1 << 40) - 1)
        eb = kb[j] & ((1 << 40) - 1)
        if ea < eb:
            return -1
        if ea > eb:
            return 1
    if na < nb:
        return -1
    if na > nb:
        return 1
    return 0


@njit(cache=True)
def _comp_less(k1, k2, K_cell, K_start, K_step, C_var, C_ev, C_parent, rank):
    if K_start[k1] != K_start[k2]:
        return K_start[k1] < K_start[k2]
    if K_step[k1] != K_step[k2]:
        return K_step[k1] < K_step[k2]
    return _tie_cmp(K_cell[k1], K_cell[k2], C_var, C_ev, C_parent, rank) < 0


@njit(cache=True)
def _final_after_proceed(s0, st_e0, st_en, ed_act, ed_tgt, ed_cond, st_kind, bits, i, ed_prog,
                         cell, L, X):  # fmt: skip
    stack = [s0]
    while len(stack) > 0:
        s = stack.pop()
        for e in range(st_e0[s], st_e0[s] + st_en[s]):
            if ed_act[e] != PROCEED:
                continue
            if _ok(e, ed_cond, bits, i, ed_prog, cell, L, X):
                t = ed_tgt[e]
                if st_kind[t] == FINAL:
                    return True
                stack.append(t)
    return False


@njit(cache=True)
def _new_run(state, cell, start, R_state, R_cell, R_start, R_next, R_free):
    if len(R_free) > 0:
        r = R_free.pop()
        R_state[r] = state
        R_cell[r] = cell
        R_start[r] = start
        R_next[r] = -1
        return r
    R_state.append(state)
    R_cell.append(cell)
    R_start.append(start)
    R_next.append(-1)
    return len(R_state) - 1


@njit(cache=True)
def _new_comp(cell, start, step, ts, K_cell, K_start, K_step, K_ts, K_next, K_free):
    if len(K_free) > 0:
        k = K_free.pop()
        K_cell[k] = cell
        K_start[k] = start
        K_step[k] = step
        K_ts[k] = ts
        K_next[k] = -1
        return k
    K_cell.append(cell)
    K_start.append(start)
    K_step.append(step)
    K_ts.append(ts)
    K_next.append(-1)
    return len(K_cell) - 1


@njit(cache=True)
def _before(a1, a2, a3, b1, b2, b3):
    """(a1, a2, a3) < (b1, b2, b3)."""
    if a1 != b1:
        return a1 < b1
    if a2 != b2:
        return a2 < b2
    return a3 < b3


@njit(cache=True)
def _heap_push(H, scalars, close, ts, seq, part):
    """Push a timer onto the heap `H[0]` (rows: close, ts, seq, partition; `SC[S_HEAP]`
    entries in use), growing it by doubling."""
    heap = H[0]
    n = scalars[S_HEAP]
    if n == heap.shape[1]:
        grown = np.empty((4, max(2 * n, 64)), np.int64)
        grown[:, :n] = heap[:, :n]
        H[0] = grown
        heap = grown
    heap[0, n] = close
    heap[1, n] = ts
    heap[2, n] = seq
    heap[3, n] = part
    scalars[S_HEAP] = n + 1
    k = n
    while k > 0:
        p = (k - 1) // 2
        if not _before(heap[0, k], heap[1, k], heap[2, k], heap[0, p], heap[1, p], heap[2, p]):
            break
        for row in range(4):
            heap[row, p], heap[row, k] = heap[row, k], heap[row, p]
        k = p


@njit(cache=True)
def _heap_pop(H, scalars):
    """Remove and return the earliest timer (close, ts, seq, partition)."""
    heap = H[0]
    n = scalars[S_HEAP] - 1
    close = heap[0, 0]
    ts = heap[1, 0]
    seq = heap[2, 0]
    part = heap[3, 0]
    for row in range(4):
        heap[row, 0] = heap[row, n]
    scalars[S_HEAP] = n
    k = 0
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        if c + 1 < n and _before(
            heap[0, c + 1], heap[1, c + 1], heap[2, c + 1], heap[0, c], heap[1, c], heap[2, c]
        ):
            c += 1
        if not _before(heap[0, c], heap[1, c], heap[2, c], heap[0, k], heap[1, k], heap[2, k]):
            break
        for row in range(4):
            heap[row, k], heap[row, c] = heap[row, c], heap[row, k]
        k = c
    return close, ts, seq, part


# indexes of the typed lists in the state tuple `L`
(R_STATE, R_CELL, R_START, R_NEXT, R_FREE, C_VAR, C_EV, C_PARENT, K_CELL, K_START, K_STEP,
 K_TS, K_NEXT, K_FREE, P_HEAD, P_COMP, P_TIMER, E_TS, E_SEQ,
 O_KIND, O_TS, O_CELL, O_PART, O_T, O_PHASE, O_A, O_B, SC) = range(28)  # fmt: skip
N_LISTS = 28
#: how many scalar slots `L[SC]` has
N_SCALARS = 6
# indexes of the static arrays in `nfa`
(ST_KIND, ST_PLAIN, ST_PTF, ST_E0, ST_EN, ED_ACT, ED_TGT, ED_COND, ED_VAR, RANK,
 START_TAKES, ED_PROG) = range(12)  # fmt: skip
# indexes of `params`
(P_START_STATE, P_WINDOW, P_SKIP, P_SKIP_VAR, P_MAX_RUNS, P_TIMEOUTS,
 P_START_PLAIN, P_WHERE) = range(8)  # fmt: skip


@njit(cache=True)
def _emit(L, kind, ts, cell, part, t, phase, a, b):
    L[O_KIND].append(kind)
    L[O_TS].append(ts)
    L[O_CELL].append(cell)
    L[O_PART].append(part)
    L[O_T].append(t)
    L[O_PHASE].append(phase)
    L[O_A].append(a)
    L[O_B].append(b)
    if kind == 0:
        L[SC][S_MATCHES] += 1
    else:
        L[SC][S_TIMEOUTS] += 1


@njit(cache=True)
def _insert_comp(L, p, k, rank):
    K_next = L[K_NEXT]
    head = L[P_COMP][p]
    if head < 0 or _comp_less(
        k, head, L[K_CELL], L[K_START], L[K_STEP], L[C_VAR], L[C_EV], L[C_PARENT], rank
    ):
        K_next[k] = head
        L[P_COMP][p] = k
        return
    prev = head
    cur = K_next[head]
    while cur >= 0 and not _comp_less(
        k, cur, L[K_CELL], L[K_START], L[K_STEP], L[C_VAR], L[C_EV], L[C_PARENT], rank
    ):
        prev = cur
        cur = K_next[cur]
    K_next[k] = cur
    K_next[prev] = k


@njit(cache=True)
def _prune(L, p, cell, params):
    skip = params[P_SKIP]
    C_ev = L[C_EV]
    C_var = L[C_VAR]
    C_parent = L[C_PARENT]
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
    L[P_HEAD][p] = _drop_pruned(L[P_HEAD][p], L[R_START], L[R_NEXT], L[R_FREE], pid, inclusive)
    L[P_COMP][p] = _drop_pruned(L[P_COMP][p], L[K_START], L[K_NEXT], L[K_FREE], pid, inclusive)


@njit(cache=True)
def _drop_pruned(head, starts, nexts, free, pid, inclusive):
    """Remove from a linked list (runs or held matches) the entries whose start is at or
    before (`inclusive`) / before the pruning event; returns the new head."""
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
            free.append(item)
        else:
            prev = item
        item = nxt
    return head


@njit(cache=True)
def _release(L, p, params, rank, t, phase, a, b):
    holds = params[P_SKIP] != SKIP_NONE
    R_start = L[R_START]
    R_next = L[R_NEXT]
    while L[P_COMP][p] >= 0:
        k = L[P_COMP][p]
        if holds:
            r = L[P_HEAD][p]
            if r >= 0:
                earliest = R_start[r]
                while r >= 0:
                    if R_start[r] < earliest:
                        earliest = R_start[r]
                    r = R_next[r]
                if L[K_START][k] > earliest:
                    break
        L[P_COMP][p] = L[K_NEXT][k]
        L[K_FREE].append(k)
        cell = L[K_CELL][k]
        if holds:
            _prune(L, p, cell, params)
        _emit(L, 0, L[K_TS][k], cell, p, t, phase, a, b)


@njit(cache=True)
def _advance(L, nfa, params, p, now, t, a, b, X):
    """Close the windows of partition p that end at or before `now`."""
    window = params[P_WINDOW]
    if window < 0:
        return
    st_kind = nfa[ST_KIND]
    rank = nfa[RANK]
    L[SC][S_STEP] += 1
    step = L[SC][S_STEP]
    R_state = L[R_STATE]
    R_start = L[R_START]
    R_next = L[R_NEXT]
    E_ts = L[E_TS]
    expired = []
    prev = -1
    r = L[P_HEAD][p]
    while r >= 0:
        nxt = R_next[r]
        start_ts = E_ts[R_start[r]]
        if now - start_ts >= window:
            if prev < 0:
                L[P_HEAD][p] = nxt
            else:
                R_next[prev] = nxt
            if st_kind[R_state[r]] == PENDING:
                if not _completes(params, L[R_CELL][r], L, X):
                    L[R_FREE].append(r)  # `where` is false: the absence is no match
                    r = nxt
                    continue
                k = _new_comp(
                    L[R_CELL][r], R_start[r], step, start_ts + window, L[K_CELL],
                    L[K_START], L[K_STEP], L[K_TS], L[K_NEXT], L[K_FREE],
                )  # fmt: skip
                _insert_comp(L, p, k, rank)
                L[R_FREE].append(r)
            else:
                expired.append(r)
        else:
            prev = r
        r = nxt
    _release(L, p, params, rank, t, 0, a, b)
    L[SC][S_EXPIRED] += len(expired)
    if params[P_TIMEOUTS] != 0 and len(expired) > 0:
        # timeouts in order of first event, then bound events
        n = len(expired)
        order = np.arange(n)
        for x in range(1, n):
            y = x
            while y > 0:
                r1 = expired[order[y]]
                r0 = expired[order[y - 1]]
                if R_start[r1] < R_start[r0] or (
                    R_start[r1] == R_start[r0]
                    and _tie_cmp(L[R_CELL][r1], L[R_CELL][r0], L[C_VAR], L[C_EV], L[C_PARENT],
                                 rank) < 0
                ):  # fmt: skip
                    order[y], order[y - 1] = order[y - 1], order[y]
                    y -= 1
                else:
                    break
        for x in range(n):
            r = expired[order[x]]
            _emit(L, 1, E_ts[R_start[r]] + window, L[R_CELL][r], p, t, 0, a, b)
    for r in expired:
        L[R_FREE].append(r)


@njit(cache=True)
def _fire(L, nfa, params, up_to, X):
    H = X[4]
    scalars = L[SC]
    while scalars[S_HEAP] > 0 and H[0][0, 0] <= up_to:
        close, ts, seq, p = _heap_pop(H, scalars)
        _advance(L, nfa, params, p, close, close, ts, seq, X)


@njit(cache=True)
def run_batch(nfa, params, b_ts, b_seq, b_part, bits, fire_up_to, L, X):
    """Match a batch of events (in processing order) of one rule.

    `X` carries the run-dependent conditions and the timers: (programs, the batch's
    field values `cur[slot, i]`, the stored events' values `EV`, a stack, the timer
    heap, an empty bits array for `where` checks outside an event)."""
    st_kind = nfa[ST_KIND]
    st_plain = nfa[ST_PLAIN]
    st_ptf = nfa[ST_PTF]
    st_e0 = nfa[ST_E0]
    st_en = nfa[ST_EN]
    ed_act = nfa[ED_ACT]
    ed_tgt = nfa[ED_TGT]
    ed_cond = nfa[ED_COND]
    ed_var = nfa[ED_VAR]
    rank = nfa[RANK]
    start_takes = nfa[START_TAKES]
    ed_prog = nfa[ED_PROG]
    cur = X[1]
    EV = X[2]
    n_slots = cur.shape[0]
    start_state = params[P_START_STATE]
    window = params[P_WINDOW]
    max_runs = params[P_MAX_RUNS]
    start_plain = params[P_START_PLAIN] != 0
    R_state = L[R_STATE]
    R_cell = L[R_CELL]
    R_start = L[R_START]
    R_next = L[R_NEXT]
    R_free = L[R_FREE]
    C_var = L[C_VAR]
    C_ev = L[C_EV]
    C_parent = L[C_PARENT]
    P_head = L[P_HEAD]
    for i in range(len(b_ts)):
        ts = b_ts[i]
        seq = b_seq[i]
        p = b_part[i]
        if L[SC][S_HEAP] > 0 and X[4][0][0, 0] <= ts:
            _fire(L, nfa, params, ts, X)
        if P_head[p] < 0 and L[P_COMP][p] < 0 and start_plain:
            starts = False
            for e in start_takes:
                if _ok(e, ed_cond, bits, i, ed_prog, -1, L, X):
                    starts = True
                    break
            if not starts:
                continue
        g = len(L[E_TS])
        L[E_TS].append(ts)
        L[E_SEQ].append(seq)
        for f in range(n_slots):
            EV.append(cur[f, i])
        L[SC][S_STEP] += 1
        step = L[SC][S_STEP]
        pot_cell = [np.int64(0) for _ in range(0)]
        pot_start = [np.int64(0) for _ in range(0)]
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
            edges = [np.int64(0) for _ in range(0)]
            if st_plain[state] != 0:
                for e in range(st_e0[state], st_e0[state] + st_en[state]):
                    if _ok(e, ed_cond, bits, i, ed_prog, cell, L, X):
                        edges.append(e)
            else:
                stack = [state]
                while len(stack) > 0:
                    s = stack.pop()
                    for e in range(st_e0[s], st_e0[s] + st_en[s]):
                        if _ok(e, ed_cond, bits, i, ed_prog, cell, L, X):
                            if ed_act[e] == PROCEED:
                                stack.append(ed_tgt[e])
                            else:
                                edges.append(e)
            stopped = False
            kid_state = [np.int64(0) for _ in range(0)]
            kid_cell = [np.int64(0) for _ in range(0)]
            reused = False
            for e in edges:
                target = ed_tgt[e]
                if ed_act[e] == IGNORE:
                    if st_kind[target] == FINAL and not _completes(params, cell, L, X):
                        continue
                    if target == state:
                        kid_state.append(-1)  # the run itself, unchanged
                        kid_cell.append(cell)
                    else:
                        kid_state.append(target)
                        kid_cell.append(cell)
                    continue
                if st_kind[target] == STOP:
                    stopped = True
                    continue
                C_var.append(ed_var[e])
                C_ev.append(g)
                C_parent.append(cell)
                taken = len(C_ev) - 1
                kid_state.append(target)
                kid_cell.append(taken)
                if (
                    st_ptf[target] != 0
                    and _final_after_proceed(target, st_e0, st_en, ed_act, ed_tgt, ed_cond,
                                             st_kind, bits, i, ed_prog, cell, L, X)
                    and _completes(params, taken, L, X)
                ):  # fmt: skip
                    kid_state.append(-2)  # a completed match
                    kid_cell.append(taken)
            for x in range(len(kid_state)):
                ks = kid_state[x]
                kc = kid_cell[x]
                if ks == -2 or (ks >= 0 and st_kind[ks] == FINAL):
                    pot_cell.append(kc)
                    pot_start.append(start)
                    continue
                if stopped:
                    continue
                if ks == -1 and not reused:
                    kr = r
                    reused = True
                else:
                    kr = _new_run(ks if ks >= 0 else state, kc, start, R_state, R_cell,
                                  R_start, R_next, R_free)  # fmt: skip
                R_next[kr] = -1
                if new_tail < 0:
                    new_head = kr
                else:
                    R_next[new_tail] = kr
                new_tail = kr
                count += 1
            if not reused:
                R_free.append(r)
            r = nxt
        # the start run
        runs_before = count
        start_edges = [np.int64(0) for _ in range(0)]
        if start_plain:
            for e in start_takes:
                if _ok(e, ed_cond, bits, i, ed_prog, -1, L, X):
                    start_edges.append(e)
        else:
            stack = [start_state]
            while len(stack) > 0:
                s = stack.pop()
                for e in range(st_e0[s], st_e0[s] + st_en[s]):
                    if _ok(e, ed_cond, bits, i, ed_prog, -1, L, X):
                        if ed_act[e] == PROCEED:
                            stack.append(ed_tgt[e])
                        elif ed_act[e] == TAKE:
                            start_edges.append(e)
        start_tail_before = new_tail
        stopped = False
        for e in start_edges:
            target = ed_tgt[e]
            if st_kind[target] == STOP:
                stopped = True
                continue
            C_var.append(ed_var[e])
            C_ev.append(g)
            C_parent.append(-1)
            taken = len(C_ev) - 1
            if st_kind[target] == FINAL:
                pot_cell.append(taken)
                pot_start.append(g)
                continue
            kr = _new_run(target, taken, g, R_state, R_cell, R_start, R_next, R_free)
            if new_tail < 0:
                new_head = kr
            else:
                R_next[new_tail] = kr
            new_tail = kr
            count += 1
            if (
                st_ptf[target] != 0
                and _final_after_proceed(target, st_e0, st_en, ed_act, ed_tgt, ed_cond, st_kind,
                                         bits, i, ed_prog, -1, L, X)
                and _completes(params, taken, L, X)
            ):  # fmt: skip
                pot_cell.append(taken)
                pot_start.append(g)
        if stopped and count > runs_before:
            # a stop kills the start run's other children
            r = R_next[start_tail_before] if start_tail_before >= 0 else new_head
            while r >= 0:
                nxt = R_next[r]
                R_free.append(r)
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
                R_free.append(extra)
                L[SC][S_DROPPED] += 1
                extra = nxt
        P_head[p] = new_head
        if started and window >= 0:
            close = ts + window
            if close > L[P_TIMER][p]:
                L[P_TIMER][p] = close
                _heap_push(X[4], L[SC], close, ts, seq, p)
        if len(pot_cell) == 0 and L[P_COMP][p] < 0:
            continue
        for x in range(len(pot_cell)):
            k = _new_comp(pot_cell[x], pot_start[x], step, ts, L[K_CELL], L[K_START],
                          L[K_STEP], L[K_TS], L[K_NEXT], L[K_FREE])  # fmt: skip
            _insert_comp(L, p, k, rank)
        _release(L, p, params, rank, ts, 1, ts, seq)
    _fire(L, nfa, params, fire_up_to, X)


@njit(cache=True)
def add_partitions(L, count):
    """`count` new partitions: no runs, no held matches, no timer."""
    for _ in range(count):
        L[P_HEAD].append(-1)
        L[P_COMP].append(-1)
        L[P_TIMER].append(-(2**62))


@njit(cache=True)
def to_array(values, start, stop):
    """Items `start:stop` of a typed list, as an array (one call instead of many)."""
    out = np.empty(max(stop - start, 0), np.int64)
    for j in range(start, stop):
        out[j - start] = values[j]
    return out


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


@njit(cache=True)
def compact(L, EV, n_slots):
    """Drop the history cells and events no live run or held match refers to, keeping
    their order; returns the kept old event indexes (new index = position)."""
    n_cells = len(L[C_EV])
    n_events = len(L[E_TS])
    live_cell = np.zeros(n_cells, np.bool_)
    live_event = np.zeros(n_events, np.bool_)
    C_parent = L[C_PARENT]
    # every run still listed in a partition, every held match
    for p in range(len(L[P_HEAD])):
        r = L[P_HEAD][p]
        while r >= 0:
            live_event[L[R_START][r]] = True
            c = L[R_CELL][r]
            while c >= 0 and not live_cell[c]:
                live_cell[c] = True
                c = C_parent[c]
            r = L[R_NEXT][r]
        k = L[P_COMP][p]
        while k >= 0:
            live_event[L[K_START][k]] = True
            c = L[K_CELL][k]
            while c >= 0 and not live_cell[c]:
                live_cell[c] = True
                c = C_parent[c]
            k = L[K_NEXT][k]
    for c in range(n_cells):
        if live_cell[c]:
            live_event[L[C_EV][c]] = True
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
    C_var = L[C_VAR]
    C_ev = L[C_EV]
    at = 0
    for c in range(n_cells):
        if live_cell[c]:
            C_var[at] = C_var[c]
            C_ev[at] = new_event[C_ev[c]]
            parent = C_parent[c]
            C_parent[at] = new_cell[parent] if parent >= 0 else -1
            at += 1
    while len(C_ev) > at:
        C_var.pop()
        C_ev.pop()
        C_parent.pop()
    # rewrite the events
    E_ts = L[E_TS]
    E_seq = L[E_SEQ]
    for j in range(len(kept)):
        E_ts[j] = E_ts[kept[j]]
        E_seq[j] = E_seq[kept[j]]
    while len(E_ts) > len(kept):
        E_ts.pop()
        E_seq.pop()
    if n_slots > 0:
        for j in range(len(kept)):
            for f in range(n_slots):
                EV[j * n_slots + f] = EV[kept[j] * n_slots + f]
        while len(EV) > len(kept) * n_slots:
            EV.pop()
    # runs and held matches point at the new indexes
    for p in range(len(L[P_HEAD])):
        r = L[P_HEAD][p]
        while r >= 0:
            L[R_START][r] = new_event[L[R_START][r]]
            c = L[R_CELL][r]
            L[R_CELL][r] = new_cell[c] if c >= 0 else -1
            r = L[R_NEXT][r]
        k = L[P_COMP][p]
        while k >= 0:
            L[K_START][k] = new_event[L[K_START][k]]
            L[K_CELL][k] = new_cell[L[K_CELL][k]]
            k = L[K_NEXT][k]
    return kept
