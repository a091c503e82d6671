"""Whole-column passes of the Parquet and Arrow reader, in numba: one pass over a
column where NumPy would make several (and arrays between them).

A batch of half a million rows has columns of megabytes: NumPy's least and greatest
value read a column once each; a fancy index (`values[rows]`) walks its rows through
NumPy's general iterator and makes an array of its own.
"""

from __future__ import annotations

import numpy as np

from cep.jit import njit


@njit(cache=True, nogil=True, _nrt=False)
def int_bounds(values: np.ndarray) -> tuple[int, int]:
    """The least and greatest of some integers (at least one)."""
    lowest = highest = values[0]
    for i in range(1, len(values)):
        value = values[i]
        lowest = min(lowest, value)
        highest = max(highest, value)
    return lowest, highest


@njit(cache=True, nogil=True, _nrt=False)
def gather(values: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """`out[j] = values[rows[j]]` (rows within `values`; `out` may be of a wider type)."""
    for j in range(len(rows)):
        out[j] = values[rows[j]]
