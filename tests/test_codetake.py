"""A batch's dictionary indices mapped to a run's codes (`take_codes`) as NumPy's
`take` maps them, read from Arrow's memory or not, an index out of range included."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.codetake import take_codes


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=20),
    st.data(),
)
def test_codes_are_numpys_take(lookup: list[int], data: st.DataObject) -> None:
    codes = np.array(lookup, np.int32)
    index = st.integers(-len(lookup), len(lookup) - 1)
    chosen = data.draw(st.lists(index, max_size=30))
    from_arrow = pa.array(chosen, pa.int32()).to_numpy()  # (read only, as a batch's)
    assert not from_arrow.flags.writeable
    for indices in (from_arrow, np.array(chosen, np.int32), np.array(chosen, np.int64)):
        got = take_codes(codes, indices)
        assert got.dtype == np.int32
        assert got.tolist() == np.take(codes, indices).tolist()


def test_an_index_out_of_range_is_numpys_error() -> None:
    indices = pa.array([0, 3], pa.int32()).to_numpy()
    with pytest.raises(IndexError):
        take_codes(np.array([7, 8], np.int32), indices)
