"""Columnar batch sources: the same events, values, lines and rejects as the row readers."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.io.batch import Batch, Dictionary
from cep.io.columnar import (
    read_arrow_batches,
    read_batches,
    read_csv_batches,
    read_jsonl_batches,
    read_parquet_batches,
)
from cep.io.sources import RecordMaker, Reject, SourceError, SourceEvent
from cep.io.validation import Validator
from cep.lang.program import load_sources
from cep.lang.types import Type, list_of
from cep.runtime.match import encode
from tests.row_readers import read_csv, read_jsonl

SCHEMAS = """
event Payment {
  user: str
  amount: float
  status: str
  country: str
  card: str?
  merchant: str?
  currency: str?
}
event Order {
  id: int
  total: float
  paid: bool
  placed: time
  wait: duration
  tags: list[str]?
  note: str?
}
event Scores { points: list[int], weights: list[float]? }
event Stamps { seen: list[time]? }
"""

#: fields of the schemas above, typed as declared (JSON lines and CSV tests add others)
TYPED_FIELDS: dict[str, Type | str] = {
    "user": "str",
    "amount": "float",
    "status": "str",
    "id": "int",
    "paid": "bool",
    "placed": "time",
    "wait": "duration",
    "tags": list_of(Type("str")),
}
FIELDS: dict[str, Type | str] = {**TYPED_FIELDS, "note": Type("str"), "extra": "dynamic"}

JAN_1_2024 = 1_704_067_200_000


@pytest.fixture(scope="module")
def validator() -> Validator:
    program = load_sources({"schemas.cep": SCHEMAS})
    assert not program.diagnostics
    return Validator(program.schemas)


VALIDATOR = Validator(load_sources({"schemas.cep": SCHEMAS}).schemas)


# ------------------------------------------------------------------------------ views


def _norm(kind: str, value: Any) -> Any:
    """A value compared strictly by type, an int in a float column as that float."""
    if value is None:
        return None
    if kind == "float" and value.__class__ is int and float(value) == value:
        value = float(value)
    return (value.__class__.__name__, value)


def _kind(t: Type | str) -> str:
    kind = t if isinstance(t, str) else t.kind
    return kind if kind in ("int", "float", "bool", "str", "time", "duration") else "object"


def row_view(items: Iterable[SourceEvent | Reject], fields: dict[str, Any]) -> tuple[list, list]:
    events, rejects = [], []
    for item in items:
        if isinstance(item, Reject):
            rejects.append((item.line, item.reason, item.raw))
        else:
            values = tuple(_norm(_kind(k), item.data.get(n)) for n, k in fields.items())
            events.append((item.line, item.type, item.ts, values, item.text))
    return events, rejects


def batch_view(batches: Iterable[Batch], fields: dict[str, Any]) -> tuple[list, list]:
    events, rejects = [], []
    for batch in batches:
        assert batch.ts.dtype == np.int64 and batch.line.dtype == np.int64
        assert batch.type.dtype == np.int32
        rejects.extend((r.line, r.reason, r.raw) for r in batch.rejects)
        for i in range(len(batch)):
            values = tuple(_norm(_kind(k), batch.columns[n].get(i)) for n, k in fields.items())
            line, ts = int(batch.line[i]), int(batch.ts[i])
            events.append((line, batch.type_name(i), ts, values, batch.text(i)))
    return events, rejects


def same(expected: tuple[list, list], got: tuple[list, list]) -> None:
    assert got[1] == expected[1]
    assert len(got[0]) == len(expected[0])
    for mine, theirs in zip(got[0], expected[0], strict=True):
        assert repr(mine) == repr(theirs)  # NaN equals itself, -0.0 is not 0.0


# ------------------------------------------------------------------------------ JSONL

_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**66), 2**66),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 2.0, -0.0, 1e300, 2**53 + 1, 12.5, 7]),
    st.text(max_size=4),
    st.sampled_from(["ok", "failed", "u1", "é", "日本", "\u2028", "x\\y"]),
)
_JSON_VALUES = st.one_of(
    _JSON_SCALARS,
    st.lists(_JSON_SCALARS, max_size=3),
    st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=2), _JSON_SCALARS, max_size=2),
)
_TIMES = st.one_of(
    st.integers(-(2**64), 2**64),
    st.integers(0, 2_000_000_000_000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1.7e12, 2.5, "2024-01-01T00:00:00Z", "2024-01-01", "2024-13-01", "", "soon"]),
    st.sampled_from(["2024-01-01T00:00:00.1239+02:00", True, None, [1], 2**63, -(2**63)]),
)
_GOOD = {
    "user": st.sampled_from(["u1", "u2", "ü", "u3"]),
    "amount": st.one_of(st.floats(-1e6, 1e6), st.integers(-(2**60), 2**60)),
    "status": st.sampled_from(["ok", "failed"]),
    "country": st.sampled_from(["US", "DE"]),
    "card": st.sampled_from(["visa", None]),
    "id": st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([3.0, -0.0, 1e20])),
    "total": st.one_of(st.floats(-100, 100), st.integers(-10, 10)),
    "paid": st.booleans(),
    "placed": st.one_of(st.integers(0, 2**41), st.sampled_from(["2024-01-01T00:00:00Z", 5.0])),
    "wait": st.integers(0, 10**6),
    "tags": st.one_of(st.lists(st.sampled_from(["a", "b"]), max_size=2), st.none()),
    "note": st.sampled_from(["n", None]),
    "points": st.lists(st.integers(-5, 5), max_size=3),
    "weights": st.lists(st.one_of(st.floats(-1, 1), st.integers(-3, 3)), max_size=2),
    "seen": st.lists(st.sampled_from([1, "2024-01-01", "bad"]), max_size=2),
    "extra": _JSON_VALUES,
}
_TYPES = st.sampled_from(["Payment", "Payment", "Order", "Other", "Scores", "Stamps", "", None, 5])


@st.composite
def json_records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        record["type"] = draw(_TYPES)
    if draw(st.integers(0, 9)):
        record["ts"] = draw(st.one_of(st.integers(0, 2**41), _TIMES))
    for name in draw(st.lists(st.sampled_from(sorted(_GOOD)), max_size=9, unique=True)):
        good = draw(st.integers(0, 5))
        record[name] = draw(_GOOD[name] if good else _JSON_VALUES)
    if draw(st.booleans()):  # the common, valid shapes
        kind = draw(st.sampled_from(["Payment", "Order", "Other"]))
        record["type"] = kind
        record["ts"] = draw(st.integers(0, 2**41))
        names = {
            "Payment": ["user", "amount", "status", "country"],
            "Order": ["id", "total", "paid", "placed", "wait"],
            "Other": ["user", "amount", "id"],
        }[kind]
        for name in names:
            record[name] = draw(_GOOD[name])
    return record


RAW_LINES = st.sampled_from(
    [
        "",
        "   ",
        "\t",
        "not json",
        "[1, 2]",
        "42",
        '"text"',
        "null",
        '{"type": "Payment", ',
        '{"type":"Payment","ts":1,"user":"u","amount":NaN,"status":"s","country":"c"}',
        '{"type":"Payment","ts":1,"user":"u","amount":1e400,"status":"s","country":"c"}',
        '{"type":"Payment","ts":1,"user":"u","amount":1,"status":"s","country":"c"} ',
        '{"type":"Payment","type":"Order","ts":1,"user":"u","amount":1,"status":"s","country":"c"}',
        '{"type":"Order","type":"Payment","ts":1,"user":"u","amount":1,"status":"s","country":"c"}',
        '{"type":"Payment","ts":1,"user":"u","user":5,"amount":1,"status":"s","country":"c"}',
        '{"type":"Payment","ts":1,"user":5,"user":"u","amount":1,"status":"s","country":"c"}',
        '{"t\\u0079pe":"Payment","ts":1,"user":"\\u00fc","amount":1,"status":"s","country":"c"}',
        '{"type":"Payment","ts":1,"user":"\\ud800","amount":1,"status":"s","country":"c"}',
        '{"type":"Other","ts":1,"x":"\\udc00"}',
        '{"type":"Other","ts":1} {"type":"Other","ts":2}',
        '{"type":"Other","ts":1}{"type":"Other","ts":2}',
        '{"type":"Other","ts":1,"x":"a\tb"}',
        '{"type":"Other","ts":01}',
        '{"type":"Other","ts":1,"x":[' + "[" * 300 + "]" * 300 + "]}",
        '{"type":"Other","ts":1,"x":' + "9" * 5000 + "}",
        '{"type":"Other","ts":1,"pad":"' + "p" * 600 + '"}',
        '{"type":"Other","ts":1,"user":"' + "q" * 700 + '","n":[[[[1]]]]}',
        "\ufeff" + '{"type":"Other","ts":1}',
        '{"type":"Other","ts":1}\r',
        '{"type":"Other","ts":3,"amount":9007199254740993}',
        '{"type":"Other","ts":3,"amount":123456789012345678901234567890}',
        '{"type":"Order","ts":1,"id":1,"total":2,"paid":true,"placed":"2024-01-01","wait":5}',
        '{"type":"Order","ts":1,"id":1.5,"total":2,"paid":true,"placed":1,"wait":5}',
        '{"type":"Order","ts":1,"id":1,"total":2,"paid":true,"placed":"nope","wait":5}',
        '{"type":"Order","ts":"2024-02-30","id":1,"total":2,"paid":true,"placed":1,"wait":5}',
    ]
)


@st.composite
def json_lines(draw: st.DrawFn) -> list[str | bytes]:
    lines: list[str | bytes] = []
    for _ in range(draw(st.integers(0, 30))):
        choice = draw(st.integers(0, 9))
        if choice == 0:
            lines.append(draw(RAW_LINES))
        elif choice == 1:
            lines.append(
                draw(st.sampled_from([b"\xff\xfe", b'{"type":"Other","ts":1,"x":"\xc3"}']))
            )
        else:
            record = draw(json_records())
            compact = draw(st.booleans())
            text = json.dumps(
                record,
                ensure_ascii=draw(st.booleans()),
                separators=(",", ":") if compact else None,
            )
            lines.append(text)
    return lines


def encode_lines_of(lines: list[str | bytes], crlf: bool, last_newline: bool) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    parts = [
        line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass") for line in lines
    ]
    data = end.join(parts)
    return data + end if (last_newline and parts) else data


OPTIONS = st.fixed_dictionaries(
    {
        "default_type": st.sampled_from([None, None, "Payment", "Other"]),
        "batch_size": st.sampled_from([1, 2, 3, 7, 65_536]),
        "crlf": st.booleans(),
        "last_newline": st.booleans(),
    }
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_lines(), OPTIONS)
def test_jsonl_batches_read_what_the_row_reader_reads(
    lines: list[str | bytes], options: dict[str, Any]
) -> None:
    data = encode_lines_of(lines, options["crlf"], options["last_newline"])
    common = {"default_type": options["default_type"], "validator": VALIDATOR}
    expected = row_view(read_jsonl(io.BytesIO(data), **common), FIELDS)
    size = options["batch_size"]
    got = batch_view(
        read_jsonl_batches(io.BytesIO(data), fields=FIELDS, batch_size=size, **common), FIELDS
    )
    same(expected, got)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_lines(), st.sampled_from([1, 4, 1000]))
def test_jsonl_batches_from_lines_of_text_or_bytes(lines: list[str | bytes], size: int) -> None:
    texts = [
        (line.decode("utf-8", "replace") if isinstance(line, bytes) else line) + "\n"
        for line in lines
    ]
    expected = row_view(read_jsonl(texts, validator=VALIDATOR), FIELDS)
    got = batch_view(
        read_jsonl_batches(texts, fields=FIELDS, validator=VALIDATOR, batch_size=size), FIELDS
    )
    same(expected, got)
    raw = [
        line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass") for line in lines
    ]
    expected = row_view(read_jsonl(raw), FIELDS)
    got = batch_view(read_jsonl_batches(raw, fields=FIELDS, batch_size=size), FIELDS)
    same(expected, got)


@settings(max_examples=150, deadline=None)
@given(json_records())
def test_jsonl_without_a_validator(record: dict[str, Any]) -> None:
    data = (json.dumps(record) + "\n").encode() * 3
    expected = row_view(read_jsonl(io.BytesIO(data)), FIELDS)
    got = batch_view(read_jsonl_batches(io.BytesIO(data), fields=FIELDS, batch_size=2), FIELDS)
    same(expected, got)


def test_jsonl_odd_lines_and_their_reasons(validator: Validator) -> None:
    lines = [
        b"\xef\xbb\xbf"
        + b'{"type":"Payment","ts":5,"user":"a","amount":1,"status":"ok","country":"US"}',
        b"",
        b'{"type":"Payment","ts":6,"user":"b","amount":"x","status":"ok","country":"US"}',
        b'{"type":"Payment","ts":7,"amount":2,"status":"ok","country":"US"}',
        b'{"type":"Payment","user":"c","amount":2,"status":"ok","country":"US"}',
        b'{"type":"Payment","ts":true,"user":"c","amount":2,"status":"ok","country":"US"}',
        b'{"ts":9}',
        b'{"type":7,"ts":9}',
        b"[1]",
        b"{oops",
        b'{"type":"Other","ts":1,"x":"\xff"}',
        b'{"type":"Payment","ts":"2024-01-01T00:00:00Z","user":"d","amount":3,"status":"ok","country":"US"}',
    ]
    data = b"\n".join(lines) + b"\n"
    batches = list(read_jsonl_batches(io.BytesIO(data), fields=FIELDS, validator=validator))
    assert [(r.line, r.reason) for b in batches for r in b.rejects] == [
        (3, 'invalid: field "amount": expected a number, got "x"'),
        (4, 'invalid: missing field "user"'),
        (5, "missing time"),
        (6, "bad time"),
        (7, "no type"),
        (8, "bad type"),
        (9, "not an object"),
        (10, "bad json: a key is not a quoted string at character 2"),
        (11, "not UTF-8"),
    ]
    (batch,) = batches
    assert batch.line.tolist() == [1, 12]
    assert batch.ts.tolist() == [5, JAN_1_2024]
    assert batch.columns["amount"].values.tolist() == [1.0, 3.0]
    assert batch.text(0).startswith('{"type":"Payment","ts":5')  # without the BOM
    assert batch.lines == 12
    same(
        row_view(read_jsonl(io.BytesIO(data), validator=validator), FIELDS),
        batch_view(batches, FIELDS),
    )


def test_jsonl_columns_are_typed_with_masks_and_stable_dictionaries(validator: Validator) -> None:
    lines = [
        {"type": "Payment", "ts": 1, "user": "a", "amount": 2, "status": "ok", "country": "U"},
        {
            "type": "Order",
            "ts": 2,
            "id": 3.0,
            "total": 1,
            "paid": True,
            "placed": "2024-01-01",
            "wait": 5,
            "tags": ["x"],
        },
        {"type": "Other", "ts": 3, "user": 7, "amount": "lots", "id": 1.5, "paid": "yes"},
        {"type": "Payment", "ts": 4, "user": "b", "amount": 2.5, "status": "ok", "country": "U"},
        {
            "type": "Payment",
            "ts": 5,
            "user": "a",
            "amount": 1e9,
            "status": "failed",
            "country": "U",
            "card": None,
        },
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    batches = list(
        read_jsonl_batches(io.BytesIO(data), fields=FIELDS, validator=validator, batch_size=2)
    )
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(not b.rejects for b in batches)
    user = [b.columns["user"] for b in batches]
    assert user[0].dictionary is user[2].dictionary
    assert [c.values.tolist() for c in user] == [[0, -1], [-1, 1], [0]]
    assert user[1].other == {0: 7}
    amount = batches[0].columns["amount"]
    assert amount.values.dtype == np.float64 and amount.values.tolist() == [2.0, 0.0]
    assert amount.valid.tolist() == [True, False]
    order = batches[0]
    assert order.columns["id"].get(1) == 3
    assert order.columns["placed"].get(1) == JAN_1_2024
    assert order.columns["paid"].values.dtype == np.bool_
    assert order.columns["tags"].get(1) == ["x"]
    other = batches[1]
    assert other.columns["amount"].other == {0: "lots"}
    assert other.columns["id"].other == {0: 1.5}
    assert other.columns["paid"].other == {0: "yes"}
    assert [b.type_name(i) for b in batches for i in range(len(b))] == [
        "Payment",
        "Order",
        "Other",
        "Payment",
        "Payment",
    ]
    assert batches[2].values(0) == {"user": "a", "amount": 1e9, "status": "failed"}
    assert isinstance(batches[0].types, Dictionary)


class Trickle(io.RawIOBase):
    """A stream that gives a few bytes a read, like a pipe fed slowly."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data = data
        self.at = 0
        self.step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self.data[self.at : self.at + min(self.step, len(buffer))]
        buffer[: len(chunk)] = chunk
        self.at += len(chunk)
        return len(chunk)


def test_jsonl_from_a_trickling_stream_hands_on_what_it_has(validator: Validator) -> None:
    line = b'{"type":"Payment","ts":1,"user":"a","amount":1,"status":"ok","country":"U"}\n'
    data = line * 50
    batches = list(
        read_jsonl_batches(
            io.BufferedReader(Trickle(data, 100)), fields=FIELDS, validator=validator
        )
    )
    assert len(batches) > 1
    assert sum(len(b) for b in batches) == 50
    assert [int(n) for b in batches for n in b.line] == list(range(1, 51))


def test_jsonl_memory_is_bounded_by_batches(validator: Validator) -> None:
    line = b'{"type":"Payment","ts":1,"user":"a","amount":1,"status":"ok","country":"U"}\n'
    batches = read_jsonl_batches(
        io.BytesIO(line * 1000), fields=FIELDS, validator=validator, batch_size=100
    )
    sizes = [len(b) for b in batches]
    assert sizes == [100] * 10


def test_a_file_path_and_read_batches(tmp_path: Any, validator: Validator) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type":"Payment","ts":1,"user":"a","amount":1,"status":"ok","country":"U"}')
    (batch,) = read_batches(str(path), "jsonl", fields={"user": "str"}, validator=validator)
    assert batch.columns["user"].get(0) == "a"
    with pytest.raises(SourceError):
        list(read_batches(str(tmp_path / "missing.jsonl"), "jsonl"))
    with pytest.raises(SourceError):
        read_batches(str(path), "xml")


# ------------------------------------------------------------------------------ CSV

_CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            "",
            "u1",
            "ok",
            "failed",
            "US",
            "12",
            "+12",
            "-0",
            "007",
            "1.5",
            "-2.",
            ".5",
            "1e3",
            "1E-2",
            "1e400",
            "abc",
            "true",
            "FALSE",
            "True ",
            "yes",
            "٣",
            "1.5.2",
            "12345678901234567890",
            "9223372036854775807",
            "nan",
            "inf",
            "2024-01-01T00:00:00Z",
            "2024-01-01",
            "[]",
            '["a"]',
            "[1, 2]",
            " 5",
            "é",
            "Payment",
            "Order",
            "Other",
            "0x10",
            "1_0",
        ]
    ),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters='\r\n\x00,"'), max_size=4
    ),
)
_QUOTED = st.sampled_from(
    [
        '"a,b"',
        '"line\nbreak"',
        '"say ""hi"""',
        '"12"',
        'a"b',
        '"x"y',
        '""',
        '"unterminated',
        "\x00",
        "a\rb",
    ]
)
_HEADERS = st.sampled_from(
    [
        ["type", "ts", "user", "amount", "status", "country"],
        ["ts", "user", "amount", "status", "country"],
        ["type", "ts", "id", "total", "paid", "placed", "wait", "tags", "note"],
        ["type", "ts", "user", "amount", "id", "paid", "extra"],
        ["ts", "user", "user"],
        ["ts"],
        ["type", "ts", "user", "amount", "status", "country", "card", "points"],
    ]
)


@st.composite
def csv_text(draw: st.DrawFn) -> bytes:
    header = draw(_HEADERS)
    rows = [",".join(header)]
    for _ in range(draw(st.integers(0, 25))):
        choice = draw(st.integers(0, 12))
        if choice == 0:
            rows.append(draw(st.sampled_from(["", "  ", "\t", "a,b", ",,,,,,,,"])))
            continue
        cells = []
        for name in header:
            if name == "type":
                cell = draw(st.sampled_from(["Payment", "Order", "Other", "", "Payment"]))
            elif name == "ts":
                cell = draw(st.one_of(st.integers(0, 2**41).map(str), _CELLS))
            else:
                cell = draw(_CELLS)
            if choice == 1 and draw(st.integers(0, 3)) == 0:
                cell = draw(_QUOTED)
            cells.append(cell)
        rows.append(",".join(cells))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    data = end.join(rows) + draw(st.sampled_from([end, ""]))
    encoded = data.encode()
    if draw(st.integers(0, 9)) == 0:
        encoded = encoded.replace(b"u1", b"u\xff", 1)
    if draw(st.integers(0, 9)) == 0:
        encoded = b"\xef\xbb\xbf" + encoded
    return encoded


CSV_FIELDS: dict[str, Type | str] = {
    **TYPED_FIELDS,
    "country": "object",
    "extra": "int",
    "total": "str",
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(csv_text(), st.sampled_from([None, "Payment", "Other"]), st.sampled_from([1, 3, 65_536]))
def test_csv_batches_read_what_the_row_reader_reads(
    data: bytes, default_type: str | None, size: int
) -> None:
    common = {"default_type": default_type, "validator": VALIDATOR}
    expected = row_view(read_csv(io.BytesIO(data), **common), CSV_FIELDS)
    got = batch_view(
        read_csv_batches(io.BytesIO(data), fields=CSV_FIELDS, batch_size=size, **common),
        CSV_FIELDS,
    )
    same(expected, got)


@settings(max_examples=50, deadline=None)
@given(csv_text())
def test_csv_batches_from_lines_and_without_a_validator(data: bytes) -> None:
    lines = data.decode("utf-8", "replace").splitlines(keepends=True)
    expected = row_view(read_csv(lines, default_type="Payment"), CSV_FIELDS)
    got = batch_view(
        read_csv_batches(lines, fields=CSV_FIELDS, default_type="Payment", batch_size=2),
        CSV_FIELDS,
    )
    same(expected, got)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=False)),
            st.booleans(),
        ),
        max_size=20,
    )
)
def test_csv_numbers_are_read_as_python_reads_them(numbers: list[tuple[Any, bool]]) -> None:
    rows = ["ts,amount,extra"]
    for number, plus in numbers:
        text = repr(number)
        rows.append(f"1,{'+' if plus and text[0] != '-' else ''}{text},{text}")
    data = ("\n".join(rows) + "\n").encode()
    fields: dict[str, Type | str] = {"amount": "float", "extra": "float"}
    common = {"default_type": "Payment", "validator": VALIDATOR}
    expected = row_view(read_csv(io.BytesIO(data), **common), fields)
    got = batch_view(read_csv_batches(io.BytesIO(data), fields=fields, **common), fields)
    same(expected, got)


def test_csv_rows_typed_as_read_csv_types_them(validator: Validator) -> None:
    data = (
        b"type,ts,id,total,paid,placed,wait,user,amount\n"
        b"Order,1,7,2,TRUE,2024-01-01,5,,\n"
        b"Order,2,7.0,2,true,1,5,,\n"
        b"Order,3,x,2,true,1,5,,\n"
        b"Other,4,1.5,,yes,1,,u,12\n"
        b'Other,5,,,,,,"quoted, with a comma",1e2\n'
        b'Other,6,,,,,,"two\n'
        b'lines",3\n'
        b"Order,7,1,2,true,1\n"
    )
    batches = list(read_csv_batches(io.BytesIO(data), fields=CSV_FIELDS, validator=validator))
    (batch,) = batches
    assert batch.line.tolist() == [2, 3, 5, 6, 7]
    assert batch.columns["placed"].values[0] == JAN_1_2024
    assert batch.columns["paid"].get(0) is True
    assert batch.columns["id"].get(1) == 7
    assert batch.columns["id"].other == {2: 1.5}
    assert batch.columns["user"].get(3) == "quoted, with a comma"
    assert batch.columns["amount"].get(3) == 100.0
    assert batch.text(4) == 'Other,6,,,,,,"two\nlines",3'
    assert [(r.line, r.reason) for r in batch.rejects] == [
        (4, 'invalid: field "id": expected an integer, got "x"'),
        (9, "bad csv: 6 cells, the header has 9"),
    ]
    same(
        row_view(read_csv(io.BytesIO(data), validator=validator), CSV_FIELDS),
        batch_view(batches, CSV_FIELDS),
    )


def test_csv_record_across_a_batch_boundary(validator: Validator) -> None:
    rows = ["ts,user,amount,status,country"] + [f"{i},u{i},1,ok,US" for i in range(10)]
    rows[5] = '4,"a long\ncell\nover lines",1,ok,US'
    data = ("\n".join(rows) + "\n").encode()
    common = {"default_type": "Payment", "validator": validator}
    for size in (1, 2, 3, 4, 5, 6):
        batches = list(
            read_csv_batches(io.BytesIO(data), fields=CSV_FIELDS, batch_size=size, **common)
        )
        assert sum(b.lines for b in batches) == len(rows) + 2
        same(
            row_view(read_csv(io.BytesIO(data), **common), CSV_FIELDS),
            batch_view(batches, CSV_FIELDS),
        )


# ------------------------------------------------------------------------------ Parquet, Arrow


def _reference(table: pa.Table, validator: Validator | None, default_type: str | None = None):
    """What the batches must hold: each row's non-null cells as a record, through `RecordMaker`
    (its text: the record as reports write it, by the one encoder)."""
    maker = RecordMaker("type", "ts", default_type, validator)
    out = []
    for number, row in enumerate(table.to_pylist(), 1):
        record = {k: v for k, v in row.items() if v is not None}
        for name, value in record.items():
            if hasattr(value, "timestamp"):
                record[name] = int(value.timestamp() * 1000)
        out.append(maker.make(record, number, encode(record).decode()))
    return out


def _payments(n: int) -> pa.Table:
    return pa.table(
        {
            "type": ["Payment" if i % 7 else "Other" for i in range(n)],
            "ts": pa.array([1_700_000_000_000 + i for i in range(n)], pa.int64()),
            "user": pa.array([f"u{i % 5}" for i in range(n)]).dictionary_encode(),
            "amount": [float(i) / 4 if i % 11 else None for i in range(n)],
            "status": ["failed" if i % 3 == 0 else "ok" for i in range(n)],
            "country": ["US" if i % 13 else None for i in range(n)],
        }
    )


@pytest.mark.parametrize("fmt", ["parquet", "arrow-file", "arrow-stream"])
def test_columnar_files_round_trip(fmt: str, validator: Validator) -> None:
    table = _payments(1000)
    sink = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(table, sink, row_group_size=300)
        reader = read_parquet_batches
    else:
        write = pa.ipc.new_file if fmt == "arrow-file" else pa.ipc.new_stream
        with write(sink, table.schema) as writer:
            for piece in table.to_batches(max_chunksize=256):
                writer.write_batch(piece)
        reader = read_arrow_batches
    sink.seek(0)
    fields = {"user": "str", "amount": "float", "status": "str"}
    batches = list(reader(sink, fields=fields, validator=validator, batch_size=200))
    assert all(len(b) + len(b.rejects) <= 200 for b in batches)
    expected = _reference(table, validator)
    same(row_view(expected, fields), batch_view(batches, fields))
    # some rows lack a country or an amount: a Payment must have both
    assert {r.reason for b in batches for r in b.rejects} == {
        'invalid: missing field "country"',
        'invalid: missing field "amount"',
    }
    got = [
        (int(b.ts[i]), b.columns["user"].get(i), b.columns["amount"].get(i))
        for b in batches
        for i in range(len(b))
    ]
    rows = table.to_pylist()
    assert got == [
        (row["ts"], row["user"], row["amount"])
        for row in rows
        if row["type"] == "Other" or None not in (row["country"], row["amount"])
    ]


def test_parquet_types_checked_and_converted(tmp_path: Any, validator: Validator) -> None:
    n = 12
    table = pa.table(
        {
            "type": ["Order"] * (n - 2) + [None, "Other"],
            "ts": pa.array([JAN_1_2024 * 1000 + i for i in range(n)], pa.timestamp("us")),
            "id": [1.0, 2.5, 3.0, None, 5.0, 6.0, 7.0, 8.0, 9.0, 1e19, 1.0, 2.0],
            "total": pa.array(list(range(n)), pa.int32()),
            "paid": [True, False] * (n // 2),
            "placed": ["2024-01-01", "2024-01-02", "x", "1", *["2024-01-01"] * (n - 4)],
            "wait": pa.array(list(range(n)), pa.uint8()),
            "tags": [["a"], None, ["b", "c"], *[None] * (n - 3)],
            "amount": [float("nan"), 1.0, *[None] * (n - 2)],
        }
    )
    path = tmp_path / "orders.parquet"
    pq.write_table(table, path)
    fields = {
        "id": "int",
        "total": "float",
        "placed": "time",
        "tags": "object",
        "amount": "float",
        "wait": "duration",
        "paid": "bool",
    }
    for default in (None, "Other"):
        batches = list(
            read_parquet_batches(
                path, fields=fields, validator=validator, default_type=default, batch_size=5
            )
        )
        expected = _reference(table, validator, default)
        same(row_view(expected, fields), batch_view(batches, fields))
    reasons = [r.reason for b in batches for r in b.rejects]
    assert any(reason.startswith('invalid: field "id"') for reason in reasons)
    assert any(reason.startswith('invalid: field "placed"') for reason in reasons)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Payment", "Other", "", None]),
            st.one_of(st.none(), st.integers(-(2**40), 2**40)),
            st.one_of(st.none(), st.sampled_from(["a", "b", ""])),
            st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        ),
        max_size=30,
    ),
    st.sampled_from([None, "Payment"]),
)
def test_arrow_rows_as_records(rows: list[tuple[Any, ...]], default: str | None) -> None:
    table = pa.table(
        {
            "type": pa.array([r[0] for r in rows], pa.string()),
            "ts": pa.array([r[1] for r in rows], pa.int64()),
            "user": pa.array([r[2] for r in rows], pa.string()),
            "amount": pa.array([r[3] for r in rows], pa.float64()),
            "status": pa.array(["ok"] * len(rows), pa.string()),
            "country": pa.array(["US"] * len(rows), pa.string()),
        }
    )
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    fields = {"user": "str", "amount": "float"}
    batches = read_arrow_batches(
        io.BytesIO(sink.getvalue()),
        fields=fields,
        validator=VALIDATOR,
        default_type=default,
        batch_size=7,
    )
    expected = _reference(table, VALIDATOR, default)
    same(row_view(expected, fields), batch_view(batches, fields))


def test_standard_input_is_read_in_batches(tmp_path: Any) -> None:
    import subprocess
    import sys

    line = '{"type":"Payment","ts":1,"user":"a","amount":1,"status":"ok","country":"U"}\n'
    script = (
        "from cep.io.columnar import read_jsonl_batches\n"
        "batches = list(read_jsonl_batches('-', fields={'user': 'str'}, batch_size=100))\n"
        "print(sum(len(b) for b in batches), len(batches))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=line * 250,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["250", "3"]


def test_dictionary_codes_of_arrow_strings_follow_each_dictionary() -> None:
    """Codes of pyarrow dictionaries: the same dictionary again gives the same codes,
    another of the same length its own."""
    from cep.io.batch import Dictionary

    dictionary = Dictionary()
    assert dictionary.arrow_codes(pa.array(["a", "b"])).tolist() == [0, 1]
    assert dictionary.arrow_codes(pa.array(["a", "b"])).tolist() == [0, 1]
    assert dictionary.arrow_codes(pa.array(["b", "c"])).tolist() == [1, 2]
    assert dictionary.arrow_codes(pa.array(["c", "a", "d"])).tolist() == [2, 0, 3]
    assert dictionary.values == ["a", "b", "c", "d"]


#: strings as Arrow holds them: any text (NULs, backslashes, quotes, non-ASCII), short
#: and long (numba's table keys short ones by their bytes, hashes the others)
_ARROW_STRINGS = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.lists(st.one_of(_ARROW_STRINGS, st.sampled_from(["a", "bé", "\0x", "\\n"]))),
            st.sampled_from(["string", "large_string", "slice", "with null"]),
            st.lists(_ARROW_STRINGS, max_size=3),  # strings coded by other paths between
        ),
        max_size=6,
    )
)
def test_dictionary_codes_of_arrow_strings_are_the_codes_of_the_strings(steps: list) -> None:
    """`Dictionary.arrow_codes` (strings looked up by their bytes in numba) gives each
    string of a pyarrow string array the code `Dictionary.encode` gives it, new ones in
    the array's order, whatever other paths coded before."""
    from cep.io.batch import Dictionary

    dictionary, expected = Dictionary(), Dictionary()
    for strings, kind, others in steps:
        array: Any
        if kind == "slice":
            array = pa.array(["pad", *strings, "end"]).slice(1, len(strings))
        elif kind == "with null":
            array = pa.array([*strings, None])
        else:
            array = pa.array(strings, getattr(pa, kind)())
        got = dictionary.arrow_codes(array).tolist()
        assert got == expected.encode(array.to_pylist()).tolist()
        assert dictionary.values == expected.values
        assert [dictionary.code(s) for s in others] == [expected.code(s) for s in others]


def test_csv_rows_texts_are_strict_json_of_their_records() -> None:
    """Whatever a cell holds, a kept CSV row's text in reports (`record_pieces`) is strict
    JSON that reads back as its record (an infinite float as null)."""
    from cep.fast.reporttext import piece_texts

    data = (
        b"type,ts,v,w\n"
        b"Other,1,1e400,99999999999999999999999\n"
        b'Other,2,"[1, 2.5, ""x"", [true, null, {""k"": -0.0}]]",TRUE\n'
        b"Other,3,-0,\xc3\xa9\n"
        b"Other,4,nan,Infinity\n"
    )
    (batch,) = read_csv_batches(io.BytesIO(data), fields={"v": "object"})
    records = [batch.record_of(batch.text(i)) for i in range(len(batch))]
    assert records[0]["v"] == float("inf") and records[0]["w"] == 10**23 - 1
    texts = piece_texts(batch.record_pieces(np.arange(len(batch))))

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not strict JSON")

    read = [json.loads(text, parse_constant=refuse) for text in texts]
    assert read[0] == {"type": "Other", "ts": 1, "v": None, "w": 10**23 - 1}
    assert read[1:] == records[1:]


def test_record_texts_made_ahead_serve_later_asks(validator: Validator) -> None:
    """`make_record_pieces` (a reader's thread making texts ahead) changes no text: events
    made ahead come from there, in the order asked, and others are still made."""
    from cep.fast.reporttext import piece_texts

    table = _payments(60)
    sink = io.BytesIO()
    pq.write_table(table, sink)

    def batch() -> Any:
        sink.seek(0)
        return next(iter(read_parquet_batches(sink, fields={"user": "str"}, validator=validator)))

    everything = np.arange(len(batch()))
    expected = piece_texts(batch().record_pieces(everything))
    assert all(expected[i] is not None for i in (1, 3, 4, 9))
    ahead = batch()
    ahead.make_record_pieces(np.array([1, 3, 4, 9]))
    for asked in ([4, 1], [9, 3, 1, 4], [0, 3], [2], []):
        pieces = ahead.record_pieces(np.array(asked, np.int64))
        assert piece_texts(pieces) == [expected[i] for i in asked]
        found = ahead.ahead_texts(np.array(asked, np.int64))
        if not {*asked} <= {1, 3, 4, 9}:
            assert found is None
            continue
        (data, starts, ends), at = found
        assert piece_texts((data, starts[at], ends[at])) == [expected[i] for i in asked]
    assert batch().ahead_texts(np.array([1])) is None  # (none made ahead)


def test_parquet_reader_prepares_every_batch_but_the_first(validator: Validator) -> None:
    """`prepare` runs on the reader's thread for each batch after the first (which its
    caller awaits) before the batch is handed over."""
    import threading

    sink = io.BytesIO()
    pq.write_table(_payments(1000), sink, row_group_size=300)
    prepared: list[tuple[int, str]] = []

    def prepare(batch: Any) -> None:
        prepared.append((int(batch.line[0]), threading.current_thread().name))

    sink.seek(0)
    batches = []
    for batch in read_parquet_batches(sink, validator=validator, batch_size=200, prepare=prepare):
        batches.append(batch)
        assert len(prepared) >= len(batches) - 1  # handed over prepared
    assert [line for line, _ in prepared] == [int(b.line[0]) for b in batches[1:]]
    assert {name for _, name in prepared} == {"cep-read-ahead"}


def test_jsonl_files_are_read_ahead_and_pipes_when_asked(tmp_path: Any, monkeypatch: Any) -> None:
    """A JSON Lines file is read and decoded on a thread one batch ahead; a stream that
    cannot seek (a pipe, a terminal) is read only as batches are asked for, so nothing
    is left waiting on it once its reader stops."""
    import threading

    from cep.io.jsonl import JsonlReader

    path = tmp_path / "feed.jsonl"
    line = '{"type":"Payment","ts":1,"user":"a","amount":1,"status":"ok","country":"U"}\n'
    path.write_text(line * 300)
    made_on: list[str] = []
    make = JsonlReader.batch

    def recorded(reader: Any, block: Any) -> Any:
        made_on.append(threading.current_thread().name)
        return make(reader, block)

    monkeypatch.setattr(JsonlReader, "batch", recorded)

    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    def threads(source: Any) -> set[str]:
        made_on.clear()
        batches = read_jsonl_batches(source, fields={"user": "str"}, batch_size=100)
        assert sum(len(b) for b in batches) == 300
        return set(made_on)

    assert threads(str(path)) == {"cep-read-ahead"}
    with open(path, "rb") as opened:
        assert threads(opened) == {"cep-read-ahead"}
    assert threads(Pipe(path.read_bytes())) == {threading.current_thread().name}


@pytest.mark.parametrize("asked", [None, "system"])
@pytest.mark.parametrize("program", [True, False])
def test_parquet_reader_allocates_from_jemalloc_in_the_program(
    tmp_path: Any, asked: str | None, program: bool
) -> None:
    """In the `cep` program, reading Parquet makes jemalloc pyarrow's pool where pyarrow
    has it (freed pages reused, not zeroed afresh); a pool named in
    ARROW_DEFAULT_MEMORY_POOL stays, and a process using cep as a library keeps its own."""
    import os
    import subprocess
    import sys

    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"type": ["E"] * 3, "ts": [1, 2, 3], "v": [1.0, 2.0, 3.0]}), path)
    script = (
        "import sys, pyarrow as pa\n"
        + ("import cep.cli\ncep.cli.use_jemalloc()\n" if program else "")
        + "from cep.io.columnar import read_parquet_batches\n"
        "n = sum(len(b) for b in read_parquet_batches(sys.argv[1], fields={'v': 'float'}))\n"
        "print(n, pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if asked:
        env["ARROW_DEFAULT_MEMORY_POOL"] = asked
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    own = asked or pa.default_memory_pool().backend_name
    expected = own
    if program and not asked:
        try:
            pa.jemalloc_memory_pool()
            expected = "jemalloc"
        except NotImplementedError:
            pass
    assert done.stdout.split() == ["3", expected]


@pytest.mark.parametrize("asked", [None, "system"])
def test_the_program_loads_pyarrow_with_jemalloc_as_arrows_own_default(
    tmp_path: Any, asked: str | None
) -> None:
    """In the `cep` program, pyarrow is loaded with jemalloc as Arrow's C++ default
    pool too (the Parquet reader's own buffers: column chunks read, pages
    decompressed), where pyarrow's build has jemalloc (told apart from mimalloc, the
    default, where the build has that too); the variable that asks for it is not left
    set (child processes keep theirs), and a pool the user named stays."""
    import os
    import subprocess
    import sys

    from cep.io.arrowpool import POOL_VARIABLE, _built_with_jemalloc

    try:
        pa.mimalloc_memory_pool()
        has_mimalloc = True
    except NotImplementedError:  # (the pools' use is not told apart then; the rest is)
        has_mimalloc = False
    path = tmp_path / "e.parquet"
    table = pa.table({"type": ["E"] * 5000, "ts": range(5000), "s": ["x", "y"] * 2500})
    pq.write_table(table, path)
    script = (
        "import os, sys\nimport cep.cli\ncep.cli.use_jemalloc()\n"
        "from cep.io.columnar import read_parquet_batches\n"
        "n = sum(len(b) for b in read_parquet_batches(sys.argv[1], fields={'s': 'str'}))\n"
        "import pyarrow as pa\n"
        "try:\n    used = pa.mimalloc_memory_pool().max_memory() > 0\n"
        "except NotImplementedError:\n    used = None\n"
        f"print(n, used, os.environ.get({POOL_VARIABLE!r}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != POOL_VARIABLE}
    if asked:
        env[POOL_VARIABLE] = asked
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "Unsupported backend" not in done.stderr
    mimalloc_used = str(not asked and not _built_with_jemalloc()) if has_mimalloc else "None"
    # (mimalloc untouched where the reader's buffers come from jemalloc or the user's pool)
    assert done.stdout.split() == ["5000", mimalloc_used, asked or "None"]


def test_the_program_asks_for_jemalloc() -> None:
    """`cep`'s entry point opts in before it runs a command (the reader then chooses)."""
    import subprocess
    import sys

    script = (
        "import sys, cep.cli\nfrom cep.io import arrowpool\n"
        "sys.argv = ['cep', '--help']\n"
        "try:\n    cep.cli.console()\nexcept SystemExit:\n    pass\n"
        "print(arrowpool._wanted, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "True", done.stderr
