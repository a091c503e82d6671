"""CSV lines split and typed by numba (`cep.io.csvscan`): a line is plain exactly when
`csv.reader` reads it as a split at commas into the header's number of cells; each cell
read is `csv.reader`'s, its form and values those `CellReader` finds in the same text
(`scan_cells`, pyarrow's casts); and batches read through the scan give the row
reader's events and rejects."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.io.columnar import read_csv_batches
from cep.io.csvcells import CellReader
from cep.io.csvscan import BLANK, FORM, OTHER_HIGH, PLAIN, REALS, SPAN, ScannedColumn, scan
from cep.lang.types import Type
from tests.row_readers import read_csv
from tests.test_columnar import VALIDATOR, batch_view, row_view, same

#: pieces of lines: cells, separators and the bytes that make a line not plain
_PIECES = st.sampled_from(
    [b"", b"a", b"u1", b"12", b"-1.5", b" ", b",", b",", b",", b'"', b"\x00", b"\r", b"\xc3\xa9",
     b"\\", b"x" * 7, b"1e5", b"."]
)  # fmt: skip
_LINES = st.lists(st.lists(_PIECES, max_size=12).map(b"".join), min_size=1, max_size=40)


def _layout(lines: list[bytes]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """The lines one after another, each with a newline: bytes, starts and ends."""
    data = b"".join(line + b"\n" for line in lines)
    sizes = np.array([len(line) + 1 for line in lines], np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    return data, starts, starts + sizes - 1


@settings(max_examples=300, deadline=None)
@given(_LINES, st.integers(1, 5), st.sampled_from([6, 100_000]), st.integers(0, 7))
def test_lines_are_plain_where_csv_reader_splits_them_at_commas(
    lines: list[bytes], cells: int, longest: int, mode: int
) -> None:
    data, starts, ends = _layout(lines)
    modes = np.full(cells, mode | SPAN, np.int64)
    scanned = scan(data, starts, ends, 0, modes, longest)
    for i, line in enumerate(lines):
        if not line:
            assert scanned.status[i] == BLANK
            continue
        plain = (
            not any(c in line for c in b'"\x00\r')
            and line.count(b",") == cells - 1
            and len(line) <= longest
        )
        assert (scanned.status[i] == PLAIN) == plain, line
        if plain:
            text = line.decode("latin-1")
            split = next(csv.reader([text]))
            assert split == text.split(",")
            for c, cell in enumerate(split):
                a, k = scanned.spans[c, i], scanned.lens[c, i]
                assert data[a : a + k] == cell.encode("latin-1"), line


#: cells of the forms numbers take, near and past the limits of the quick readings
_NUMBERS = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=False).map(repr),
    st.floats(allow_nan=False).map(lambda x: f"{x:.17e}"),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.6f}"),
    st.decimals(allow_nan=False, allow_infinity=False, places=4).map(str),
    st.text(alphabet="0123456789+-.eE x\u0663\u00e9", max_size=24),
    st.sampled_from(["-0", "+0", "-0.0", "0e5", ".5", "5.", "1e22", "1e23", "9007199254740993",
                     "9007199254740993.0", "123456789012345678", "1234567890123456789", "0.1",
                     "1e-22", "1e-23", "000000000000000000001.5", "1" + "0" * 30, "+.5e-3",
                     "", "1e", "1e+", "e5", "+", "-", ".", "1.5e400", "1e-400", "0.000"]),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_NUMBERS.filter(lambda t: "," not in t), min_size=1, max_size=30))
def test_cells_are_read_as_the_cell_reader_reads_them(texts: list[str]) -> None:
    """Forms, ASCII, integers' values and numbers' floats of the scan are those
    `CellReader` finds in the same cells (`scan_cells`, pyarrow's float cast)."""
    lines = [f"{text},x".encode() for text in texts]
    data, starts, ends = _layout(lines)
    scanned = scan(data, starts, ends, 0, np.array([SPAN | FORM | REALS, 0]), 100_000)
    assert (scanned.status == PLAIN).all()
    mine = ScannedColumn(data, scanned, 0, slice(None))
    theirs = CellReader(pa.array(texts, pa.string()))
    assert mine.present.tolist() == theirs.present.tolist()
    assert np.minimum(mine.forms, 4).tolist() == theirs.forms.tolist()
    assert mine.ascii().tolist() == theirs.ascii().tolist()
    assert ((mine.forms == OTHER_HIGH) == ~theirs.ascii()).all()
    ok, values = mine.ints()
    their_ok, their_values = theirs.ints()
    assert ok.tolist() == their_ok.tolist()
    assert values[ok].tolist() == their_values[ok].tolist()
    ok, reals = mine.numbers()
    their_ok, their_reals = theirs.numbers()
    assert ok.tolist() == their_ok.tolist()
    for i in np.flatnonzero(ok).tolist():
        expected = float(their_reals[i])
        if texts[i].lstrip("+-").isdigit() and float(texts[i]) == 0:
            expected = 0.0  # ("-0" as an integer made a float, as `declared` reads it)
        assert repr(float(reals[i])) == repr(expected), texts[i]


def _cell(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            _NUMBERS.filter(lambda t: "," not in t),
            st.sampled_from(["u1", "ok", "failed", "US", "é", "a\\nb", "\\", "true", "FALSE"]),
            st.sampled_from(['"a,b"', '"x"', "a\rb", "\x00", '"open']),
        )
    )


@st.composite
def _csv(draw: st.DrawFn) -> bytes:
    header = draw(
        st.sampled_from(
            [
                ["ts", "user", "amount", "status", "country"],
                ["type", "ts", "user", "amount", "status", "country"],
                ["type", "ts", "id", "total", "paid", "placed", "wait", "note"],
                ["ts", "amount", "extra", "user"],
            ]
        )
    )
    rows = [",".join(header)]
    for _ in range(draw(st.integers(0, 30))):
        if draw(st.integers(0, 15)) == 0:
            rows.append(draw(st.sampled_from(["", " ", "a,b", ",,,,,,,,,,"])))
            continue
        cells = []
        for name in header:
            if name == "type":
                cells.append(draw(st.sampled_from(["Payment", "Order", "Other", "", "P\\x"])))
            elif name == "ts" and draw(st.booleans()):
                cells.append(str(draw(st.integers(0, 2**41))))
            else:
                cells.append(_cell(draw))
        rows.append(",".join(cells))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    return (end.join(rows) + end).encode()


_FIELDS: dict[str, Type | str] = {
    "user": "str",
    "amount": "float",
    "status": "str",
    "country": "object",
    "id": "int",
    "total": "str",
    "paid": "bool",
    "placed": "time",
    "wait": "duration",
    "note": "str",
    "extra": "int",
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_csv(), st.sampled_from([None, "Payment", "Order"]), st.sampled_from([2, 7, 65_536]))
def test_batches_read_through_the_scan_are_the_row_readers(
    data: bytes, default_type: str | None, size: int
) -> None:
    common: dict[str, Any] = {"default_type": default_type, "validator": VALIDATOR}
    expected = row_view(read_csv(io.BytesIO(data), **common), _FIELDS)
    got = batch_view(
        read_csv_batches(io.BytesIO(data), fields=_FIELDS, batch_size=size, **common), _FIELDS
    )
    same(expected, got)


def test_text_is_coded_in_order_of_first_appearance() -> None:
    """Text cells get their run codes as they first appear, backslashes and all."""
    rows = ["ts,user,amount,status,country"]
    users = ["u2", "u\\1", "u1", "u2", "é", "u\\1", "u3"]
    rows += [f"{i},{user},1.5,ok,US" for i, user in enumerate(users)]
    data = ("\n".join(rows) + "\n").encode()
    for size in (2, 65_536):
        batches = list(
            read_csv_batches(
                io.BytesIO(data),
                fields={"user": "str", "status": "str"},
                default_type="Payment",
                validator=VALIDATOR,
                batch_size=size,
            )
        )
        column = batches[0].columns["user"]
        assert column.dictionary.values == ["u2", "u\\1", "u1", "é", "u3"]
        texts = [column.dictionary[c] for b in batches for c in b.columns["user"].values]
        assert texts == users
