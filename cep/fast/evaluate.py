"""Programs run against a run's history, in numba: the part of an edge condition that
depends on the run (iterative term conditions, `where`: cep/compile/programs.py compiles
them), `emit` values of reports, and term conditions run over a batch's events.

A program is a stack machine over float64 (NaN for null); it reads the candidate event's
slot values (`X.batch_values[slot, i]`) and the values of the events bound earlier in
the history, walking the history's cells (`T.c_var`, `T.c_ev`, `T.c_parent`).
"""

from __future__ import annotations

import math

import numpy as np

from cep.compile.programs import (
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
from cep.fast.tables import NONE, P_WHERE
from cep.jit import njit


@njit(cache=True, inline="always", no_cpython_wrapper=True, no_cfunc_wrapper=True)
def accepts(e, ed_cond, bits, i, ed_prog, cell, T, X):
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
    """Run program `p` (cep/compile/programs.py) for event `i` and history `cell`; its
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
def completes(params, cell, T, X):
    """Whether `where` holds for a finished history (no `where`: always)."""
    p = params[P_WHERE]
    return p < 0 or _eval(p, cell, NONE, X.no_bits, T, X)


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
