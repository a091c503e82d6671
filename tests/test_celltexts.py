"""Records joined a column at a time (`cep.io.celltexts.join_records`): each row's
text is the record the encoder of reports writes for its present cells. Floats are
written as the encoder writes them (`float_texts`)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.batch import record_texts
from cep.io.celltexts import CellTexts, float_texts, join_records
from cep.runtime.match import encode

# cells of every length a copy loop treats alike or apart (short keys, long texts)
_CELL = st.none() | st.text(max_size=300)


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=4, unique=True),
    rows=st.integers(0, 12),
    data=st.data(),
)
def test_joined_records_are_the_encoded_records(names, rows, data) -> None:
    table = [[data.draw(_CELL) for _ in names] for _ in range(rows)]
    columns = []
    for c in range(len(names)):
        cells = CellTexts(rows)
        present = [j for j in range(rows) if table[j][c] is not None]
        if present:
            cells.put(np.array(present), record_texts([table[j][c] for j in present]))
        columns.append(cells)
    out, starts, ends = join_records(names, columns)
    got = [out[s:e].tobytes() for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    expected = [
        encode({name: cell for name, cell in zip(names, row, strict=True) if cell is not None})
        for row in table
    ]
    assert got == expected


#: floats the encoder writes in fixed notation and others: amounts of a few decimals,
#: the bounds of `float_texts`' own range, the shortest texts of 15 to 17 digits
_FLOATS = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(0, 6)
    .flatmap(lambda places: st.decimals(-(10**16), 10**16, places=places, allow_nan=False))
    .map(float)
    | st.integers(-(10**17), 10**17).map(lambda n: n / 100)
    | st.tuples(st.integers(-(10**16), 10**16), st.integers(0, 22)).map(lambda p: p[0] / 10 ** p[1])
    | st.sampled_from(
        [
            0.0,
            -0.0,
            1e-4,
            -1e-4,
            1e-4 - 1e-20,
            1e15,
            1e15 - 1,
            1e15 - 0.125,
            999999999999999.9,
            0.1 + 0.2,
            123456789012345.0,
            0.000123456789012345,
            5e-324,
            1.7976931348623157e308,
        ]
    )
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FLOATS, max_size=20))
def test_floats_are_written_as_the_encoder_writes_them(values: list[float]) -> None:
    array = np.array(values, np.float64)
    out, starts, ends = float_texts(array)
    got = [out[s:e].tobytes() for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    assert got == [encode(value) for value in array.tolist()]


def test_floats_of_a_batch_are_written_as_the_encoder_writes_them() -> None:
    """Many floats at once, from every part of the range (their bits drawn at random)."""
    rng = np.random.default_rng(7)
    values = np.concatenate(
        (
            np.frombuffer(rng.bytes(8 * 20_000), np.float64),
            np.round(rng.uniform(-3000, 3000, 20_000), 2),
            10.0 ** rng.uniform(-6, 17, 20_000) * rng.choice([-1, 1], 20_000),
        )
    )
    out, starts, ends = float_texts(values)
    got = [out[s:e].tobytes() for s, e in zip(starts.tolist(), ends.tolist(), strict=True)]
    assert got == [encode(value) for value in values.tolist()]
