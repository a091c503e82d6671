"""Records joined a column at a time (`cep.io.celltexts.join_records`): each row's
text is the record the encoder of reports writes for its present cells."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.batch import record_texts
from cep.io.celltexts import CellTexts, join_records
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
