"""Arrow rows' texts in reports, made a column at a time (`arrow_record_texts`), are
what the one encoder writes of the records `arrow_records` makes (oracle: `encode`)."""

from __future__ import annotations

import math

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.arrow import arrow_record_texts, arrow_records
from cep.io.arrowtexts import DictionaryTexts
from cep.runtime.match import encode

_COLUMNS = {
    "i": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "f": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "s": (pa.string(), st.text(max_size=8)),
    "b": (pa.bool_(), st.booleans()),
    "t": (pa.timestamp("us"), st.integers(0, 2**50)),
    "T": (pa.timestamp("s"), st.integers(-(2**40), 2**40)),
    "n": (pa.timestamp("ns"), st.integers(-(2**62), 2**62)),
    "8": (pa.int8(), st.integers(-128, 127)),
    "u": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "U": (pa.uint32(), st.integers(0, 2**32 - 1)),
    "d": (pa.dictionary(pa.int8(), pa.string()), st.sampled_from(["a", "é", 'q"', ""])),
    "D": (pa.dictionary(pa.int32(), pa.large_string()), st.text(max_size=3)),
    "e": (pa.dictionary(pa.int16(), pa.int64()), st.integers(-5, 5)),
}


@st.composite
def _tables(draw: st.DrawFn) -> pa.RecordBatch:
    n = draw(st.integers(0, 12))
    names = draw(st.lists(st.sampled_from(sorted(_COLUMNS)), unique=True, max_size=5))
    arrays = []
    for name in names:
        kind, values = _COLUMNS[name]
        cells = draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n))
        arrays.append(pa.array(cells, kind.value_type if hasattr(kind, "index_type") else kind))
        if hasattr(kind, "index_type"):
            arrays[-1] = arrays[-1].dictionary_encode().cast(kind)
    batch = pa.RecordBatch.from_arrays(arrays, names=[f'{name} "x"é' for name in names])
    # a slice of the batch: its columns read from an offset into their buffers
    start = draw(st.integers(0, n))
    return batch.slice(start) if draw(st.booleans()) else batch


@settings(max_examples=300, deadline=None)
@given(_tables(), st.data())
def test_rows_are_written_as_the_encoder_writes_their_records(
    batch: pa.RecordBatch, data: st.DataObject
) -> None:
    rows = data.draw(st.lists(st.integers(0, max(batch.num_rows - 1, 0)), max_size=8))
    if not batch.num_rows:
        rows = []
    out, starts, ends = arrow_record_texts(batch, rows)
    texts = [bytes(out[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    assert texts == [encode(record) for record in arrow_records(batch, rows)]


@settings(max_examples=100, deadline=None)
@given(st.lists(_tables(), min_size=1, max_size=3), st.data())
def test_batches_that_share_dictionary_texts_get_their_own_values(
    batches: list[pa.RecordBatch], data: st.DataObject
) -> None:
    """Batches read one after another keep their dictionaries' texts (`DictionaryTexts`):
    a batch whose dictionary differs under the same column name gets its own texts."""
    dictionaries = DictionaryTexts()
    for batch in batches:
        rows = data.draw(st.lists(st.integers(0, max(batch.num_rows - 1, 0)), max_size=8))
        if not batch.num_rows:
            rows = []
        out, starts, ends = arrow_record_texts(batch, rows, dictionaries)
        texts = [bytes(out[a:b]) for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
        assert texts == [encode(record) for record in arrow_records(batch, rows)]


def test_a_nan_cell_is_written_as_null() -> None:
    batch = pa.RecordBatch.from_arrays([pa.array([math.nan, None, 1.5])], names=["x"])
    out, starts, ends = arrow_record_texts(batch, [0, 1, 2])
    assert [bytes(out[a:b]) for a, b in zip(starts, ends, strict=True)] == [
        b'{"x":null}',
        b"{}",
        b'{"x":1.5}',
    ]
