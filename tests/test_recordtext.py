"""Record texts made from JSON lines' bytes (cep/io/recordtext.py): where one is made, it
is exactly `json.dumps(json.loads(line), ensure_ascii=False)`, the text a report
writes for the event; plain lines always get one."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.recordtext import piece_texts, record_text_pieces
from tests.test_jsonscan import _payments, written_lines


def _texts(lines: list[str | bytes]) -> list[str | None]:
    """The record texts of lines laid out in one buffer, as a batch holds them (None
    where Python must write one)."""
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    starts, ends, at = [], [], 0
    for line in raw:
        starts.append(at)
        ends.append(at + len(line))
        at += len(line) + 1
    buf = b"\n".join(raw)
    return piece_texts(
        record_text_pieces(buf, np.array(starts, np.int64), np.array(ends, np.int64))
    )


def _expected(line: str | bytes) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return json.dumps(record, ensure_ascii=False) if isinstance(record, dict) else None


@settings(max_examples=250, deadline=None)
@given(written_lines())
def test_a_record_text_is_what_json_writes(lines: list[str | bytes]) -> None:
    for line, text in zip(lines, _texts(lines), strict=True):
        if text is not None:
            assert text == _expected(line), line


@settings(max_examples=250, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 20),
    st.sampled_from(["repr", "fixed", "exp"]),
)
def test_floats_are_copied_only_when_repr_writes_them_so(
    value: float, digits: int, form: str
) -> None:
    written = {"repr": repr(value), "fixed": f"{value:.{digits}f}", "exp": f"{value:.{digits}e}"}
    line = '{"x": ' + written[form] + "}"
    (text,) = _texts([line])
    if text is not None:
        assert text == _expected(line)
    significant = written[form].lstrip("-").replace(".", "").lstrip("0")
    if form == "repr" and "e" not in written[form] and len(significant) <= 15:
        assert text == _expected(line)  # repr's own text is always copied


def test_plain_lines_get_their_record_texts_in_bulk() -> None:
    lines = _payments(500).decode().splitlines()
    lines += [
        '{"a" : -0 ,"b":true,\t"c":null, "d":false}  ',
        '{"name": "Zoë 日本", "tiny": 0.0001, "zero": -0.0, "round": 100.0, "n": -12}',
        "{}",
        '{"big": 123456789012345678, "x": 0.5}',
    ]
    texts = _texts(lines)
    assert None not in texts
    assert texts == [_expected(line) for line in lines]


def test_lines_left_to_python() -> None:
    lines: list[str | bytes] = [
        '{"a": "x\\n"}',  # an escape
        '{"a\\u0062": 1}',  # an escaped key
        '{"a": [1, 2]}',  # nested
        '{"a": {"b": 1}}',
        '{"a": 1, "a": 2}',  # a key given twice
        '{"a": 1e5}',  # number forms repr writes otherwise
        '{"a": 1.50}',
        '{"a": 0.00001}',
        '{"a": 101.08999999999999}',  # 17 significant digits
        '{"a": 1234567890123456789}',  # 19 digits
        '{"a": NaN}',
        b'{"a": "\xed\xa0\x80"}',  # a surrogate written as UTF-8
        b'{"a": "\xc0\xaf"}',  # an overlong form
        b'{"a": "\xff"}',
        '{"a": 1} x',  # not JSON
        '{"a": 01}',
        '["a"]',
        "",
    ]
    assert _texts(lines) == [None] * len(lines)


# ------------------------------------------------------------------------------ Arrow

_SUPPORTED = ["int8", "int64", "uint64", "float64", "bool", "string", "dict", "large", "ts"]


@st.composite
def arrow_columns(draw: st.DrawFn) -> tuple[Any, bool]:
    """A record batch of columns of several Arrow types (with nulls), and whether every
    column is of a type whose texts are made in bulk (uint64 only while its values fit
    int64)."""

    n = draw(st.integers(1, 12))
    kinds = draw(st.lists(st.sampled_from([*_SUPPORTED, "date", "f32"]), max_size=6))
    names = draw(
        st.lists(st.text(max_size=4), min_size=len(kinds), max_size=len(kinds), unique=True)
    )
    texts = st.text(st.characters(codec="utf-8"), max_size=5)
    floats = st.one_of(
        st.floats(), st.sampled_from([-0.0, 1e16, 1e-5, 0.0001, 123456789.125, float("nan")])
    )
    cells = {
        "int8": (st.integers(-128, 127), pa.int8()),
        "int64": (st.integers(-(2**63), 2**63 - 1), pa.int64()),
        "uint64": (st.integers(0, 2**64 - 1), pa.uint64()),
        "float64": (floats, pa.float64()),
        "bool": (st.booleans(), pa.bool_()),
        "string": (texts, pa.string()),
        "dict": (texts, pa.dictionary(pa.int32(), pa.string())),
        "large": (texts, pa.large_string()),
        "ts": (
            st.integers(-(2**40), 2**40),
            pa.timestamp(draw(st.sampled_from(["s", "ms", "us", "ns"]))),
        ),
        "date": (st.integers(0, 20000), pa.date32()),
        "f32": (st.floats(width=32, allow_nan=False), pa.float32()),
    }
    arrays = []
    beyond_int64 = False
    for kind in kinds:
        values, arrow_type = cells[kind]
        column = draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n))
        beyond_int64 |= kind == "uint64" and any(v is not None and v >= 2**63 for v in column)
        if kind == "dict":
            arrays.append(pa.array(column, pa.string()).dictionary_encode())
        elif kind == "ts":
            arrays.append(pa.array(column, pa.int64()).cast(arrow_type))
        else:
            arrays.append(pa.array(column, arrow_type))
    batch = (
        pa.RecordBatch.from_arrays(arrays, names=names)
        if kinds
        else pa.record_batch({"x": [None] * n})
    )
    return batch, bool(kinds) and set(kinds) <= set(_SUPPORTED) and not beyond_int64


@settings(max_examples=250, deadline=None)
@given(arrow_columns(), st.data())
def test_arrow_record_texts_are_what_reports_write(batch_supported: Any, data: Any) -> None:
    from cep.io.columnar import _arrow_record_pieces, _arrow_records
    from cep.runtime.match import json_value

    batch, supported = batch_supported
    rows = data.draw(st.lists(st.integers(0, batch.num_rows - 1), max_size=8))
    texts = piece_texts(_arrow_record_pieces(batch, np.array(rows, np.int64)))
    records = _arrow_records(batch, rows)
    for text, record in zip(texts, records, strict=True):
        expected = json.dumps(json_value(record), ensure_ascii=False, default=str)
        finite = all(
            v == v and v not in (float("inf"), float("-inf"))
            for v in record.values()
            if isinstance(v, float)
        )
        if supported and finite:
            assert text == expected
            assert json.loads(text) == record  # kept in place of the record
        elif text is not None:
            assert text == expected


@pytest.mark.parametrize("extra", [0, 50])  # a dictionary near the rows' size, or larger
def test_arrow_dictionary_columns_with_null_values(extra: int) -> None:
    """A dictionary may hold a null value: a cell pointing at it is left out, as a null
    cell is."""
    from cep.io.columnar import _arrow_record_pieces, _arrow_records

    dictionary = pa.array([None, "x", "é\n", *(f"v{i}" for i in range(extra))])
    indices = pa.array([0, 1, 2, None, 1], pa.int32())
    column = pa.DictionaryArray.from_arrays(indices, dictionary)
    batch = pa.RecordBatch.from_arrays([column, pa.array(range(5))], names=["s", "i"])
    rows = np.arange(5, dtype=np.int64)
    texts = piece_texts(_arrow_record_pieces(batch, rows))
    assert [json.loads(t) for t in texts] == _arrow_records(batch, rows.tolist())
    assert texts[0] == '{"i": 0}' and texts[2] == '{"s": "é\\n", "i": 2}'
