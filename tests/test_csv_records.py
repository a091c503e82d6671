"""Kept CSV rows' texts in reports (`Batch.record_pieces`, made in one go for the fast
path): the row reader's record of each row (what `read_csv` reads, the interpreter's
event), encoded by the one encoder, whatever the cells."""

from __future__ import annotations

import io
import json

import msgspec
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.fast.reporttext import piece_texts
from cep.io.columnar import read_csv_batches
from cep.io.sources import SourceEvent
from cep.io.validation import Validator
from cep.lang.checker import check_sources
from cep.runtime.match import encode
from tests.row_readers import read_csv

SCHEMAS = check_sources(
    {"s.cep": "event E { a: str?, b: bool?, c: int?, d: float?, e: list[int]?, t: time? }"}
).schemas
HEADER = ["type", "ts", "a", "b", "c", "d", "e", "t", "f"]
#: a header of declared fields only: the texts are made from the cells the reader split
#: (with `f`, a field no schema declares, from the rows' lines split again)
DECLARED = HEADER[:-1]

CELLS = [
    "", "0", "7", "-0", "+0", "007", "-12", "+3", "123456789012345678", "1234567890123456789",
    "2.5", "-0.0", "0.0001", "0.00001", "1.50", ".5", "5.", "1e5", "1E-3", "+2.5",
    "12345.678901234", "1234567890.1234567", "true", "FALSE", "True ", "yes", "nan", "inf",
    "café", "٣", "١٢.٥", "x\\y", "tab\there", "-", "+", ".", "e", "2024-01-02T03:04:05Z",
    "[1, 2]", "[]", "a b", "u1", "\u2028", "\x7f",
]  # fmt: skip


def _csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    return "".join(",".join(row[: len(header)]) + "\n" for row in [header, *rows]).encode()


def _texts(data: bytes) -> list[str | None]:
    """Each event's text as the fast path keeps it, batch by batch."""
    out: list[str | None] = []
    batches = read_csv_batches(
        io.BytesIO(data), validator=Validator(SCHEMAS), default_type="E", batch_size=7
    )
    for batch in batches:
        pieces = batch.record_pieces(np.arange(len(batch)))
        assert pieces is not None
        out.extend(piece_texts(pieces))
    return out


def _records(data: bytes) -> list[dict]:
    """The row reader's record of each event (what the interpreter writes)."""
    read = read_csv(io.StringIO(data.decode()), validator=Validator(SCHEMAS), default_type="E")
    return [event.raw for event in read if isinstance(event, SourceEvent)]


@st.composite
def _rows(draw: st.DrawFn) -> list[list[str]]:
    rows = []
    for k in range(draw(st.integers(1, 12))):
        type_cell = draw(st.sampled_from(["E", "F", ""]))
        cells = [draw(st.sampled_from(CELLS)) for _ in HEADER[2:]]
        rows.append([type_cell, str(1000 + k), *cells])
    return rows


@settings(max_examples=200, deadline=None)
@given(_rows(), st.sampled_from([HEADER, DECLARED]))
def test_a_rows_text_is_its_record_as_the_row_reader_reads_it(
    rows: list[list[str]], header: list[str]
) -> None:
    data = _csv(rows, header)
    texts = _texts(data)
    records = _records(data)
    assert len(texts) == len(records)
    for text, record in zip(texts, records, strict=True):
        assert text is not None
        assert msgspec.json.decode(text) == json.loads(json.dumps(record))
        assert text == encode(record).decode()  # (byte for byte: the one encoder's)


def test_cells_typed_by_the_schema_and_empty_cells_left_out() -> None:
    rows = [
        ["E", "1000", "u1", "TRUE", "-007", "61.56", "[1]", "1700000000000", "ok"],
        ["F", "1001", "café", "false", "+3", "1e5", "", "", "2.25"],
        ["", "1002", "7", "", "12", "-0.0", "", "", "٣"],
    ]
    assert _texts(_csv(rows)) == [
        '{"type":"E","ts":1000,"a":"u1","b":true,"c":-7,"d":61.56,"e":[1],'
        '"t":1700000000000,"f":"ok"}',
        '{"type":"F","ts":1001,"a":"café","b":"false","c":3,"d":100000.0,"f":2.25}',
        '{"ts":1002,"a":"7","c":12,"d":-0.0,"f":3}',
    ]


def test_header_names_of_any_text() -> None:
    """Header names with quotes, backslashes, spaces or other scripts, or named twice
    (the last cell wins), key the records as the row reader keys them."""
    for header in (["type", "ts", 'a"b', "x\\y", "1 st", "é", "ts "], ["type", "ts", "a", "a"]):
        data = (
            ",".join(f'"{name}"'.replace('a"b', 'a""b') for name in header)
            + "\nE,1000,"
            + ",".join(str(k) for k in range(len(header) - 2))
            + "\n"
        ).encode()
        texts = _texts(data)
        assert [msgspec.json.decode(text) for text in texts] == _records(data), header
