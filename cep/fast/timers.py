"""The kernel's timers, in numba: `(close, scheduling ts, scheduling seq, partition)` in
`T.h_close, h_ts, h_seq, h_part`, earliest first. A queue while they come in order
(`sc[S_QUEUE]`: where it starts; a rule's window is one length and events come in time
order, so they do), else a binary heap (`sc[S_QUEUE]` -1) until it is empty again.
"""

from __future__ import annotations

import numpy as np

from cep.fast.tables import S_HEAP, S_QUEUE, ZERO
from cep.jit import njit


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
def first_timer(T):
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
def push_timer(T, close, ts, seq, part):
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
def pop_timer(T):
    """Remove and return the earliest timer (close, ts, seq, partition)."""
    sc = T.sc
    n = sc[S_HEAP] - 1
    first = first_timer(T)
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
