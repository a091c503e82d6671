"""CSV rows' record texts written from their lines (`cep.io.csvlinetexts` through
`CsvTexts.record_texts`): byte for byte the record the row reader makes
(`encode(csv_record(...))`) for every row written there, the others made the general
way; plain rows are written there."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cep.io.batch import LineTexts
from cep.io.csvlinetexts import line_record_texts
from cep.io.csvtexts import CsvShape, CsvTexts, _line_plan
from cep.io.sources import RecordMaker, csv_record, infer_cell
from cep.io.validation import Validator
from cep.lang.checker import check_sources
from cep.runtime.match import encode

SCHEMAS = check_sources(
    {
        "s.cep": "event E { a: str?, b: bool?, c: int?, d: float?, e: list[int]?, t: time? }\n"
        "event F { a: int?, c: str?, d: str? }\n"
        "event G { a: str?, c: int?, d: float? }"
    }
).schemas
VALIDATOR = Validator(SCHEMAS)
#: header names: declared in some schema or none, one the encoder escapes
NAMES = ["ts", "a", "b", "c", "d", "e", "t", "f", 'q"ü']
TYPES = ["E", "F", "G", "H", ""]

_SIGN = st.sampled_from(["", "", "-", "+"])
_ZEROS = st.sampled_from(["", "", "0", "00"])


@st.composite
def _int_cell(draw: st.DrawFn) -> str:
    digits = str(draw(st.integers(0, 10**21)))
    return draw(_SIGN) + draw(_ZEROS) + digits


@st.composite
def _float_cell(draw: st.DrawFn) -> str:
    x = draw(st.floats(allow_nan=False, allow_infinity=False))
    form = draw(st.sampled_from(["repr", "encode", "fixed", "exp", "g", "trail", "dot"]))
    if form == "repr":
        text = repr(x)
    elif form == "encode":
        text = encode(x).decode()
    elif form == "fixed":
        text = f"{x:.{draw(st.integers(0, 20))}f}"
    elif form == "exp":
        text = f"{x:.{draw(st.integers(0, 17))}{draw(st.sampled_from('eE'))}}"
    elif form == "g":
        text = f"{x:.{draw(st.integers(1, 17))}g}"
    elif form == "trail":
        text = f"{x:.{draw(st.integers(1, 6))}f}" + "0" * draw(st.integers(0, 2))
    else:
        text = draw(st.sampled_from([".5", "5.", "-.25", "+.0", "0.", "00.5", "-00.0"]))
    return draw(st.sampled_from(["", "+"])) + text if not text.startswith("-") else text


@st.composite
def _short_decimal(draw: st.DrawFn) -> str:
    """A decimal as the encoder writes a float of at most 15 significant digits in
    [1e-4, 1e16): written from the line as it is."""
    x = draw(st.floats(1e-4, 1e16, exclude_max=True))
    y = float(f"{x:.{draw(st.integers(1, 15))}g}")
    assume(1e-4 <= y < 1e16)
    return draw(st.sampled_from(["", "-"])) + encode(y).decode()


_PLAIN = st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\,')
_ANY = st.characters(exclude_characters="\n\r\x00", exclude_categories=("Cs",))
_TEXT = st.one_of(
    st.text(_PLAIN, min_size=1, max_size=6),
    st.text(_ANY, max_size=6),
    st.sampled_from(["nan", "inf", "-", "+", ".", "e5", "1e", "true", "False", "[1, 2]", "x y"]),
    st.sampled_from(['a"b', "x\\y", "café", "٣", "١٢.٥", "tab\there", "\x7f", "a,b"]),
)
CELL = st.one_of(st.just(""), _int_cell(), _float_cell(), _short_decimal(), _TEXT)
#: cells a plain line holds, each written from the line
PLAIN_CELL = st.one_of(
    st.just(""),
    st.integers(-(10**17), 10**17).map(str),
    _short_decimal(),
    st.just("0.0"),
    st.just("-0.0"),
    st.text(_PLAIN, min_size=1, max_size=6).filter(lambda text: infer_cell(text) == text),
)


def _line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def _store(lines: list[str], shape: CsvShape) -> CsvTexts:
    """The rows' lines in one buffer, with a line not asked for between each two; as
    the reader keeps them: a line with a quote given as text (read by `csv.reader`)."""
    buf = bytearray()
    starts, ends, given = [], [], {}
    for i, line in enumerate(lines):
        buf += b"x,y\n"
        if '"' in line:
            given[i] = line
        starts.append(len(buf))
        buf += line.encode("utf-8", "surrogatepass") if i not in given else b""
        ends.append(len(buf))
        buf += b"\n"
    texts = LineTexts(bytes(buf), np.array(starts, np.int64), np.array(ends, np.int64), given)
    return CsvTexts(texts, shape)


@st.composite
def _shapes(draw: st.DrawFn) -> tuple[CsvShape, RecordMaker]:
    header = draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=6, unique=True))
    if draw(st.booleans()):
        header.insert(draw(st.integers(0, len(header))), "type")
    default_type = draw(st.sampled_from(["E", "F", "G", "H", None]))
    validator = draw(st.sampled_from([VALIDATOR, None]))
    schema = validator.schema if validator is not None else (lambda name: None)
    type_names = list(SCHEMAS) if validator is not None else []
    shape = CsvShape(header, "type", default_type, schema, type_names)
    return shape, RecordMaker("type", "ts", default_type, validator)


def _expected(shape: CsvShape, maker: RecordMaker, row: list[str]) -> bytes:
    return encode(csv_record(shape.header, row, maker))


def _row(draw: st.DrawFn, shape: CsvShape, cell: Any) -> list[str]:
    return [draw(st.sampled_from(TYPES)) if name == "type" else draw(cell) for name in shape.header]


def _texts(
    made: tuple[np.ndarray, np.ndarray, np.ndarray] | None, n: int = 0
) -> list[bytes | None]:
    """Each row's text; None for one left to the row reader (every one: `made` None)."""
    if made is None:
        return [None] * n
    data, starts, ends = made
    return [
        bytes(data[start:end]) if end >= 0 else None
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_rows_written_from_their_lines_are_their_records(data: st.DataObject) -> None:
    shape, maker = data.draw(_shapes())
    rows = [_row(data.draw, shape, CELL) for _ in range(data.draw(st.integers(1, 8)))]
    store = _store([_line(row) for row in rows], shape)
    plan = _line_plan(shape)
    assert plan is not None
    buf = np.frombuffer(store.buf, np.uint8)
    written = _texts(line_record_texts(buf, store.starts, store.ends, *plan))
    for row, text in zip(rows, written, strict=True):
        if text is not None:
            assert text == _expected(shape, maker, row), row
    # the rows refused there are made the general way (or left to the row reader)
    every = _texts(store.record_texts(list(range(len(rows)))), len(rows))
    for row, text, direct in zip(rows, every, written, strict=True):
        assert text is None or text == _expected(shape, maker, row), row
        if direct is not None:
            assert text == direct


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_plain_rows_are_written_from_their_lines(data: st.DataObject) -> None:
    """Rows of plain cells are written there, the same as the row reader's records
    (bool and list cells aside: converted)."""
    shape, maker = data.draw(_shapes())
    rows = []
    for _ in range(data.draw(st.integers(1, 8))):
        row = _row(data.draw, shape, PLAIN_CELL)
        rows.append(
            [
                cell if name not in ("b", "e") else ""
                for name, cell in zip(shape.header, row, strict=True)
            ]
        )
    store = _store([_line(row) for row in rows], shape)
    made = store.record_texts(list(range(len(rows))))
    assert made is not None
    plan = _line_plan(shape)
    assert plan is not None
    buf = np.frombuffer(store.buf, np.uint8)
    written = _texts(line_record_texts(buf, store.starts, store.ends, *plan))
    for row, text, direct in zip(rows, _texts(made), written, strict=True):
        assert direct is not None, row
        assert text == direct == _expected(shape, maker, row), row


def test_refused_rows_come_out_in_their_places() -> None:
    """Rows a line cannot give (an escape, a converted cell, a number in another form,
    a short line) among plain ones: every row's text in its place."""
    shape = CsvShape(["type", "ts", "a", "b", "d"], "type", "E", VALIDATOR.schema, list(SCHEMAS))
    maker = RecordMaker("type", "ts", "E", VALIDATOR)
    rows = [
        ["E", "1", "u1", "", "2.5"],
        ["E", "2", "café", "", "1"],
        ["", "3", "u3", "true", "0.10"],
        ["F", "+04", "x\\y", "", "1e3"],
        ["G", "5", "u5", "", "-0.0"],
        ["H", "6", "7", "TRUE", ""],
    ]
    store = _store([_line(row) for row in rows], shape)
    plan = _line_plan(shape)
    assert plan is not None
    buf = np.frombuffer(store.buf, np.uint8)
    written = _texts(line_record_texts(buf, store.starts, store.ends, *plan))
    assert [text is not None for text in written] == [True, False, False, False, True, True]
    made = store.record_texts(list(range(len(rows))))  # type: ignore[arg-type]
    assert made is not None
    assert _texts(made) == [_expected(shape, maker, row) for row in rows]
    assert _texts(made)[3] == b'{"type":"F","ts":4,"a":"x\\\\y","d":"1e3"}'


def test_a_type_column_without_the_known_types_goes_the_general_way() -> None:
    shape = CsvShape(["type", "ts", "a"], "type", "E", VALIDATOR.schema)
    assert _line_plan(shape) is None
    store = _store(["F,1,007", "E,2,007"], shape)
    made = store.record_texts([0, 1])  # type: ignore[arg-type]
    assert made is not None
    assert _texts(made) == [b'{"type":"F","ts":1,"a":7}', b'{"type":"E","ts":2,"a":"007"}']
