"""The numba scanner of flat JSON lines (cep/io/jsonscan.py) reads what the row reader reads.

The scanner only reads lines it is sure of and leaves the rest to msgspec and the row
reader; these tests hold its lines to `read_jsonl` (the row reader) over lines written in
many ways: numbers in every JSON form, escapes, repeated keys, nesting, odd spacing."""

from __future__ import annotations

import io
import json
import math
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.io import jsonscan
from cep.io.batch import Dictionary
from cep.io.columnar import read_jsonl_batches
from cep.io.interning import Interner
from cep.io.jsonl import JsonlReader
from tests.row_readers import read_jsonl
from tests.test_columnar import (
    RAW_LINES,
    VALIDATOR,
    batch_view,
    encode_lines_of,
    json_records,
    row_view,
    same,
)

#: fields the scanner can read: declared ones, and others the schemas do not declare
SCAN_FIELDS: dict[str, Any] = {
    "user": "str",
    "amount": "float",
    "status": "str",
    "id": "int",
    "total": "float",
    "paid": "bool",
    "placed": "time",
    "wait": "duration",
    "note": "str",
    "count": "int",
    "score": "float",
    "flag": "bool",
    "label": "str",
}
#: the same fields as columns of other kinds than declared
ODD_FIELDS: dict[str, Any] = {"amount": "int", "id": "float", "user": "float", "paid": "str"}

_NUMBERS = st.one_of(
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -0.0, 0.1, 1e22, 1e23, 2**53, 2**53 + 1, 9007199254740993.0]),
)
_EXTRA = {
    "count": st.one_of(st.integers(-(10**20), 10**20), st.sampled_from([None, 1.0, "3", True])),
    "score": st.one_of(_NUMBERS, st.sampled_from([None, "1.5", False])),
    "flag": st.sampled_from([True, False, None, 0, "true"]),
    "label": st.sampled_from(["a", "b\\c", 'q"', "é", "", "\u2028", None, 5, "a\u0000"]),
}


def _number_text(value: float | int, draw: st.DrawFn) -> str:
    if isinstance(value, int):
        return "-0" if value == 0 and draw(st.booleans()) else str(value)
    style = draw(st.integers(0, 4))
    if style == 1:
        return f"{value:.17g}".replace("inf", "1e999")
    if style == 2:
        return f"{value:E}"
    if style == 3:
        return f"{value:.{draw(st.integers(0, 25))}e}"
    if style == 4 and abs(value) < 1e30:
        return f"{value:.{draw(st.integers(1, 30))}f}"
    return json.dumps(value)


def _written(value: Any, draw: st.DrawFn) -> str:
    """A JSON text of `value`, its numbers in one of several forms."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        text = _number_text(value, draw)
        return text if _is_json_number(text) else json.dumps(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    return json.dumps(value)


def _is_json_number(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return "inf" not in text.lower() and "nan" not in text.lower()


_PLAIN = {
    "Payment": {
        "user": st.sampled_from(["u1", "u2", "ü", 'u"3', "\u00fc", "日本"]),
        "amount": _NUMBERS,
        "status": st.sampled_from(["ok", "failed"]),
        "country": st.sampled_from(["US", "DE"]),
        "card": st.sampled_from(["visa", None]),
    },
    "Order": {
        "id": st.integers(-(2**63), 2**63 - 1),
        "total": _NUMBERS,
        "paid": st.booleans(),
        "placed": st.integers(0, 2**41),
        "wait": st.integers(0, 10**6),
        "note": st.sampled_from(["n", None, "\n"]),
    },
}


@st.composite
def plain_records(draw: st.DrawFn) -> dict[str, Any]:
    """Records of a declared type with values of their declared types (mostly)."""
    kind = draw(st.sampled_from(["Payment", "Order", "Other"]))
    record: dict[str, Any] = {"type": kind, "ts": draw(st.integers(-(2**63), 2**63 - 1))}
    for name, values in _PLAIN.get(kind, _PLAIN["Payment"]).items():
        if draw(st.integers(0, 19)):
            record[name] = draw(values)
    return record


@st.composite
def written_lines(draw: st.DrawFn) -> list[str | bytes]:
    """JSON lines as people and tools write them (spacing, number forms, key order)."""
    lines: list[str | bytes] = []
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(RAW_LINES))
            continue
        plain = draw(st.integers(0, 4)) < 3
        record = draw(plain_records() if plain else json_records())
        for name in draw(st.lists(st.sampled_from(sorted(_EXTRA)), max_size=3, unique=True)):
            record[name] = draw(_EXTRA[name])
        items = [f"{json.dumps(k)}{{s}}:{{s}}{_written(v, draw)}" for k, v in record.items()]
        if items and not plain and draw(st.integers(0, 4)) == 0:  # a key given twice
            items.append(draw(st.sampled_from(items)))
        space = draw(st.sampled_from(["", " ", "\t", "  ", "\r"]))
        body = ("," + draw(st.sampled_from(["", " "]))).join(items).replace("{s}", space)
        lines.append("{" + draw(st.sampled_from(["", " "])) + body + space + "}")
    return lines


_OPTIONS = st.fixed_dictionaries(
    {
        "default_type": st.sampled_from([None, None, "Payment", "Order"]),
        "batch_size": st.sampled_from([1, 3, 65_536]),
        "crlf": st.booleans(),
        "fields": st.sampled_from([SCAN_FIELDS, SCAN_FIELDS, SCAN_FIELDS, ODD_FIELDS]),
        "validator": st.sampled_from([VALIDATOR, VALIDATOR, None]),
    }
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(written_lines(), _OPTIONS)
def test_scanned_lines_read_what_the_row_reader_reads(
    lines: list[str | bytes], options: dict[str, Any]
) -> None:
    data = encode_lines_of(lines, options["crlf"], True)
    fields = options["fields"]
    common = {"default_type": options["default_type"], "validator": options["validator"]}
    expected = row_view(read_jsonl(io.BytesIO(data), **common), fields)
    got = batch_view(
        read_jsonl_batches(
            io.BytesIO(data), fields=fields, batch_size=options["batch_size"], **common
        ),
        fields,
    )
    same(expected, got)


def _payments(n: int) -> bytes:
    lines = [
        json.dumps(
            {
                "type": "Payment",
                "ts": 1000 + i,
                "user": f"u{i % 7}",
                "amount": i / 4,
                "status": "failed" if i % 3 else "ok",
                "country": "DE",
                "count": i,
            }
        )
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("default_type", [None, "Payment"])
@pytest.mark.parametrize("parallel_from", [2, 100_000])
def test_plain_lines_are_read_by_the_scanner_alone(
    monkeypatch: pytest.MonkeyPatch, default_type: str | None, parallel_from: int
) -> None:
    monkeypatch.setattr(jsonscan, "PARALLEL_FROM", parallel_from)  # 2: on several threads
    data = _payments(500)
    expected = row_view(
        read_jsonl(io.BytesIO(data), validator=VALIDATOR, default_type=default_type), SCAN_FIELDS
    )

    def refuse(*args: Any) -> None:
        raise AssertionError("a plain line went to msgspec")

    batches = read_jsonl_batches(
        io.BytesIO(data), fields=SCAN_FIELDS, validator=VALIDATOR, batch_size=64,
        default_type=default_type,
    )  # fmt: skip
    first = next(batches)  # the first line of a new type goes to the row reader
    monkeypatch.setattr(JsonlReader, "decode_run", refuse)
    monkeypatch.setattr(JsonlReader, "by_row_reader", refuse)
    same(expected, batch_view([first, *batches], SCAN_FIELDS))


@pytest.mark.parametrize("default_type", [None, "Payment"])
def test_batches_without_columns_are_read_without_the_scanner(
    monkeypatch: pytest.MonkeyPatch, default_type: str | None
) -> None:
    """Where no column is wanted (the interpreter's batches) the scanner is not used, so
    its machine code is never compiled for them, and the batches hold what it reads."""
    data = _payments(500) + b'{"type": "Payment", "ts": 2}\nnot json\n'
    scanned = batch_view(
        list(read_jsonl_batches(io.BytesIO(data), validator=VALIDATOR, batch_size=64,
                                fields=SCAN_FIELDS, default_type=default_type)),
        {},
    )  # fmt: skip

    def refuse(*args: Any) -> None:
        raise AssertionError("the scanner read lines no column was wanted of")

    monkeypatch.setattr(JsonlReader, "scan", refuse)
    plain = list(
        read_jsonl_batches(
            io.BytesIO(data), validator=VALIDATOR, batch_size=64, default_type=default_type
        )
    )
    same(scanned, batch_view(plain, {}))


@pytest.mark.parametrize(
    ("amount", "scanned"),
    [
        ("0.1000000000000000055511151231257827", True),  # Python's float() reads it
        ("1e400", False),  # no float64 holds it: the row reader says what it is
        ("-1e400", False),
        ("9007199254740993", False),  # an integer a float64 does not hold exactly
        ("9007199254740992", True),
    ],
)
def test_amounts_the_scanner_cannot_settle_alone(
    monkeypatch: pytest.MonkeyPatch, amount: str, scanned: bool
) -> None:
    odd = ('{"type": "Payment", "ts": 5, "user": "u1", "amount": ' + amount
           + ', "status": "failed", "country": "DE", "count": 1}\n').encode()  # fmt: skip
    data = _payments(3) + odd + _payments(3)
    expected = row_view(read_jsonl(io.BytesIO(data), validator=VALIDATOR), SCAN_FIELDS)
    read: list[int] = []  # lines the scanner read
    original = JsonlReader.scan

    def scan(*args: Any) -> Any:
        rows, rest = original(*args)
        read.extend(rows.line.tolist())
        return rows, rest

    monkeypatch.setattr(JsonlReader, "scan", scan)
    batches = read_jsonl_batches(io.BytesIO(data), fields=SCAN_FIELDS, validator=VALIDATOR)
    same(expected, batch_view(list(batches), SCAN_FIELDS))
    assert (4 in read) == scanned


def _scan_one(text: str, names: list[str]) -> jsonscan.Scanned:
    data = text.encode()
    keys = jsonscan.Keys(names, 0, ["T"])
    return jsonscan.scan(data, np.array([0]), np.array([len(data)]), keys)


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_numbers_are_python_floats_or_left_alone(data: st.DataObject) -> None:
    value = data.draw(_NUMBERS)
    text = _number_text(value, data.draw)
    if not _is_json_number(text):
        return
    s = _scan_one('{"type":"T","v":' + text + "}", ["type", "v"])
    assert s.good[0]
    kind = int(s.kinds[1, 0])
    python = json.loads(text)
    if kind == jsonscan.INT:
        assert isinstance(python, int) and int(s.ints[1, 0]) == python
    elif kind == jsonscan.FLOAT:
        got = float(s.reals[1, 0])
        assert isinstance(python, float)
        assert got == python and math.copysign(1, got) == math.copysign(1, python)
    else:
        assert kind == jsonscan.OTHER
        assert abs(python) >= 10**18 if isinstance(python, int) else True


@pytest.mark.parametrize(
    "text",
    [
        '{"type":"T","v":1,"v":2}',
        '{"type":"T","v":[1,]}',
        '{"type":"T","v":{"a":1,}}',
        '{"type":"T","v":{"a" 1}}',
        '{"type":"T","v":{1:1}}',
        '{"type":"T","v":[[1]}',
        '{"type":"T","v":' + "[" * 64 + "]" * 64 + "}",  # 65 levels: deeper than MAX_DEPTH
        '{"type":"\\u0054","v":1}',
        '{"type":"T","v":NaN}',
        '{"type":"T","\\u0076":1}',
        '{"type":"T","v":01}',
        '{"type":"T","v":1.}',
        '{"type":"T","v":.5}',
        '{"type":"T","v":1e}',
        '{"type":"T","v":-}',
        '{"type":"T","v":tru}',
        '{"type":"T","v":1,}',
        '{"type":"T" "v":1}',
        '{"type":"T","v":1} x',
        '{"type":"T","v":"a\tb"}',
        '{"type":"T","other":"\\x"}',
    ],
)
def test_lines_the_scanner_is_not_sure_of(text: str) -> None:
    assert not _scan_one(text, ["type", "v"]).good[0]


def test_other_keys_may_hold_anything() -> None:
    text = '{ "type" : "T" , "w":"a\\"\\u00e9\\n", "x": [null, {"y": [1.5e3, {}]}, []],"v" :\t-12 }'
    s = _scan_one(text, ["type", "v", "x"])
    assert s.good[0]
    assert int(s.kinds[1, 0]) == jsonscan.INT and int(s.ints[1, 0]) == -12
    assert int(s.kinds[2, 0]) == jsonscan.NESTED
    assert int(s.ints[0, 0]) == 0  # the type key holds the first type name
    deep = '{"type":"T","x":' + "[{}," * 62 + "1" + "]" * 62 + "}"  # 64 levels
    assert _scan_one(deep, ["type", "v"]).good[0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.text(max_size=6), max_size=300), max_size=5))
def test_interned_strings_get_the_dictionarys_codes(batches: list[list[str]]) -> None:
    """Spans are JSON string bodies; one string written raw or escaped gets one code."""
    dictionary = Dictionary()
    interner = Interner([dictionary])
    dictionary.code("already there")
    for number, strings in enumerate([*batches, ["already there"]]):
        pieces = [json.dumps(s, ensure_ascii=number % 2 == 1)[1:-1].encode() for s in strings]
        buf = b"".join(pieces)
        lens = np.array([len(p) for p in pieces], np.int64)
        starts = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
        codes = interner.codes(buf, starts[: len(strings)], lens)
        assert [dictionary[int(c)] for c in codes] == strings
    assert len(dictionary) == len({"already there", *(s for b in batches for s in b)})


def _codes_into(found: list[Any], interner: Interner, *spans: Any) -> None:
    found.append(interner.codes(*spans))


def test_a_call_that_finds_the_table_half_full_grows_it() -> None:
    """A call whose first new string comes when an earlier call left the table exactly
    half full (its first 1,024 slots hold 512 strings) grows the table and goes on: a
    million distinct keys, read block by block, come to this."""
    dictionary = Dictionary()
    interner = Interner([dictionary])
    half = len(interner.slots) // 2
    for number, count in enumerate((half, 1, 3 * half, half + 7)):
        strings = [f"k{number}-{i}" for i in range(count)]
        buf = "".join(strings).encode()
        lens = np.array([len(t) for t in strings], np.int64)
        starts = np.concatenate(([0], np.cumsum(lens)[:-1])).astype(np.int64)
        found: list[Any] = []
        worker = threading.Thread(
            target=_codes_into, args=(found, interner, buf, starts, lens), daemon=True
        )
        worker.start()
        worker.join(60)  # (it used to loop for ever here)
        assert found, f"call {number} did not finish"
        assert [dictionary[int(c)] for c in found[0]] == strings
    assert len(dictionary) == half + 1 + 3 * half + half + 7


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["", "a", "ab", "abcdef", "abcdefg",
       "é", "\\", "a" * 40, "b" * 40]))))  # fmt: skip
def test_each_column_has_its_own_codes(items: list[tuple[int, str]]) -> None:
    """One string in several columns gets each column's dictionary's code; codes are given
    in the order strings first appear in their column, whatever their length."""
    dictionaries = [Dictionary() for _ in range(3)]
    interner = Interner(dictionaries)
    for column, text in items:
        piece = json.dumps(text)[1:-1].encode()
        code = interner.codes(piece, np.array([0]), np.array([len(piece)]), column)
        assert dictionaries[column][int(code[0])] == text
    for column, dictionary in enumerate(dictionaries):
        assert dictionary.values == list(dict.fromkeys(t for c, t in items if c == column))
