"""Run histories (chains of cells, newest first) as the kernel and its caller need them:
compared by their bound events in pattern order (the interpreter's tie-break between
runs and completions that start and step alike), and flattened oldest first for reports.

Everything the kernel calls here is compiled without numba's reference counting and
allocates nothing (`cep.fast.kernel`); `collect_paths`, called from Python per batch of
reports, allocates its result.
"""

from __future__ import annotations

import numpy as np

from cep.fast.tables import ZERO
from cep.jit import njit


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def path_keys(c, C_var, C_ev, C_parent, rank, keys):
    """A history's bound events keyed `rank * 2^40 + event`, sorted (pattern order),
    written to `keys`; returns how many."""
    j = 0
    x = c
    while x >= 0:
        keys[j] = rank[C_var[x]] * (1 << 40) + C_ev[x]
        j += 1
        x = C_parent[x]
    heapsort(keys, j)
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
def heapsort(keys, n):
    """Sort `keys[:n]` in place (numba's sort allocates, which the kernel may not)."""
    for root in range(n // 2 - 1, -1, -1):
        _sift_down(keys, root, n)
    for end in range(n - 1, 0, -1):
        keys[0], keys[end] = keys[end], keys[0]
        _sift_down(keys, ZERO, end)


@njit(cache=True, _nrt=False, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def tie_cmp(c1, c2, T, rank):
    """Compare two histories by their bound events in pattern order (-1, 0, 1)."""
    ka = T.w_keys_a
    kb = T.w_keys_b
    na = path_keys(c1, T.c_var, T.c_ev, T.c_parent, rank, ka)
    nb = path_keys(c2, T.c_var, T.c_ev, T.c_parent, rank, kb)
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
def comp_less(k1, k2, T, rank):
    K_start = T.k_start
    K_step = T.k_step
    if K_start[k1] != K_start[k2]:
        return K_start[k1] < K_start[k2]
    if K_step[k1] != K_step[k2]:
        return K_step[k1] < K_step[k2]
    return tie_cmp(T.k_cell[k1], T.k_cell[k2], T, rank) < 0


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
