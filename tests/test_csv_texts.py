"""Record texts of CSV rows made from their bytes (`cep.io.csvtext`): each one made is
the text a report writes for the row's record (`json.dumps` of what `read_csv` reads),
and the common forms are made."""

from __future__ import annotations

import io
import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.columnar import read_csv_batches
from cep.io.recordtext import piece_texts
from cep.io.validation import Validator
from cep.lang.checker import check_sources

SCHEMAS = check_sources(
    {"s.cep": "event E { a: str?, b: bool?, c: int?, d: float?, e: list[int]?, t: time? }"}
).schemas
HEADER = ["type", "ts", "a", "b", "c", "d", "e", "t", "f"]

CELLS = [
    "", "0", "7", "-0", "+0", "007", "-12", "+3", "123456789012345678", "1234567890123456789",
    "2.5", "-0.0", "0.0001", "0.00001", "1.50", ".5", "5.", "1e5", "1E-3", "+2.5",
    "12345.678901234", "1234567890.1234567", "true", "FALSE", "True ", "yes", "nan", "inf",
    "café", "٣", "١٢.٥", "x\\y", "tab\there", "-", "+", ".", "e", "2024-01-02T03:04:05Z",
    "[1, 2]", "[]", "a b", "u1", "\u2028", "\x7f",
]  # fmt: skip


#: cells whose text is made (most rows are of these)
PLAIN = ["", "0", "7", "-0", "+3", "007", "2.5", "-0.0", "true", "FALSE", "café", "u1", "a b"]


def _csv(rows: list[list[str]]) -> bytes:
    return "".join(",".join(row) + "\n" for row in [HEADER, *rows]).encode()


def _made(data: bytes, default_type: str | None = "E") -> list[tuple[str | None, str]]:
    """(made text or None, the text a report writes) for each event read."""
    out = []
    batches = read_csv_batches(
        io.BytesIO(data), validator=Validator(SCHEMAS), default_type=default_type, batch_size=7
    )
    for batch in batches:
        rows = np.arange(len(batch))
        pieces = batch.record_pieces(rows)
        assert pieces is not None
        made = piece_texts(pieces)
        for i in rows.tolist():
            record = batch.record_of(batch.kept_of([i])[0])
            out.append((made[i], json.dumps(record, ensure_ascii=False)))
    return out


@st.composite
def _rows(draw: st.DrawFn) -> list[list[str]]:
    rows = []
    for k in range(draw(st.integers(1, 12))):
        type_cell = draw(st.sampled_from(["E", "F", ""]))
        cells = [draw(st.sampled_from(PLAIN * 4 + CELLS)) for _ in HEADER[2:]]
        rows.append([type_cell, str(1000 + k), *cells])
    return rows


@settings(max_examples=200, deadline=None)
@given(_rows())
def test_a_record_text_made_is_the_one_a_report_writes(rows: list[list[str]]) -> None:
    for made, expected in _made(_csv(rows)):
        if made is not None:
            assert made == expected


def test_plain_rows_are_made() -> None:
    rows = [
        ["E", "1000", "u1", "TRUE", "-007", "61.56", "", "1700000000000", "ok"],
        ["F", "1001", "café", "false", "+3", "0.5", "", "", "2.25"],
        ["", "1002", "x y", "", "12", "-0.0", "", "", "DE"],
    ]
    found = _made(_csv(rows))
    assert [made for made, _ in found] == [expected for _, expected in found]
    assert found[0][1] == (
        '{"type": "E", "ts": 1000, "a": "u1", "b": true, "c": -7, "d": 61.56,'
        ' "t": 1700000000000, "f": "ok"}'
    )


def test_forms_python_writes_otherwise_are_left_to_it() -> None:
    """An exponent, a float `repr` writes otherwise, a list, a long integer, digits of
    another script, an escape: not made (the report still gets the right text)."""
    for cell, column in [("1e5", 5), ("1.50", 5), (".5", 8), ("[1]", 6),
                         ("1234567890123456789", 4), ("٣", 8), ("x\\y", 2)]:  # fmt: skip
        row = ["E", "1000", "u", "true", "1", "2.5", "", "", "z"]
        row[column] = cell
        (made, expected), = _made(_csv([row]))  # fmt: skip
        assert made is None, (cell, expected)
