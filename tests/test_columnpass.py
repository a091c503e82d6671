"""Whole-column passes of the Arrow reader (`cep.io.columnpass`) give what NumPy gives:
the least and greatest of a column, and its values at some rows, read from Arrow's
memory or not."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.columnpass import gather, int_bounds

_INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=100, deadline=None)
@given(st.lists(_INT64, min_size=1, max_size=200))
def test_bounds_are_the_least_and_greatest(values: list[int]) -> None:
    from_arrow = pa.array(values, pa.int64()).to_numpy()  # (read only, as a batch's times)
    for array in (from_arrow, np.array(values, np.int64)):
        lowest, highest = int_bounds(array)
        assert (lowest, highest) == (min(values), max(values))


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([np.int8, np.int32, np.uint32, np.int64, np.float64]),
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=50),
    st.data(),
)
def test_gathered_rows_are_numpys_fancy_index(dtype, values: list[int], data) -> None:
    array = np.array(values).astype(dtype)  # (wrapped where the type is narrower)
    rows = np.array(data.draw(st.lists(st.integers(0, len(values) - 1), max_size=30)), np.int64)
    out = np.empty(len(rows), np.float64 if array.dtype.kind == "f" else np.int64)
    gather(array, rows, out)
    assert out.tolist() == array[rows].astype(out.dtype).tolist()
