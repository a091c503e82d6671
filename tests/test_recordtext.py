"""Record texts made from JSON lines' bytes (cep/io/recordtext.py): where one is made, it
is exactly `json.dumps(json.loads(line), ensure_ascii=False)`, the text a report
writes for the event; plain lines always get one."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.recordtext import record_texts
from tests.test_jsonscan import _payments, written_lines


def _texts(lines: list[str | bytes]) -> list[str | None]:
    """`record_texts` of lines laid out in one buffer, as a batch holds them."""
    raw = [line.encode() if isinstance(line, str) else line for line in lines]
    starts, ends, at = [], [], 0
    for line in raw:
        starts.append(at)
        ends.append(at + len(line))
        at += len(line) + 1
    buf = b"\n".join(raw)
    return record_texts(buf, np.array(starts, np.int64), np.array(ends, np.int64))


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
