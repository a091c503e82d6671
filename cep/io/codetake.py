"""A batch's dictionary indices mapped to a run's string codes, in numba.

A Parquet string column comes as indices into its row group's dictionary (int32); the
reader maps each to the run's code of its string through a lookup by dictionary
index. NumPy's `take` first copies int32 indices to int64 (a batch's worth of memory,
every batch); the loop here reads them as they are.
"""

from __future__ import annotations

import numpy as np

from cep.jit import njit


@njit(cache=True, nogil=True, _nrt=False)
def _take_into(lookup: np.ndarray, indices: np.ndarray, out: np.ndarray) -> bool:
    """`out[i] = lookup[indices[i]]`; False (out unfinished) at an index out of range."""
    n = len(lookup)
    for i in range(len(indices)):
        at = indices[i]
        if at < 0 or at >= n:
            return False
        out[i] = lookup[at]
    return True


def take_codes(lookup: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """`np.take(lookup, indices)`: int32 codes by int32 indices read from Arrow's memory
    (read only) in numba, any other by NumPy (as is an index out of range: NumPy's
    error, or its negative index from the end)."""
    if (
        lookup.dtype == np.int32
        and indices.dtype == np.int32
        and lookup.flags.writeable
        and not indices.flags.writeable
        and lookup.flags.c_contiguous
        and indices.flags.c_contiguous
    ):
        out = np.empty(len(indices), np.int32)
        if _take_into(lookup, indices, out):
            return out
    return np.take(lookup, indices)
