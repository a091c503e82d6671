"""Newline positions found a word at a time (cep/io/newlines.py) are NumPy's byte by byte,
wherever the buffer starts (aligned or not) and whatever the guess of a line's width; a
process without numba (`machine_code_ready` false) finds the same with NumPy alone."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io import newlines as newlines_module
from cep.io.newlines import braced_lines, newlines

_BYTES = st.binary(max_size=200).map(lambda b: b.replace(b"\x00", b"\n"))


@settings(deadline=None)  # the first call compiles
@given(
    data=_BYTES,
    cut=st.integers(0, 9),
    offset=st.integers(0, 1000),
    width=st.sampled_from([1.0, 3.0, 32.0, 10_000.0]),
)
def test_newlines_are_numpys_at_any_alignment(
    data: bytes, cut: int, offset: int, width: float
) -> None:
    buf = bytearray(b"x" * 9 + data)
    view = memoryview(buf)[cut:]
    expected = np.flatnonzero(np.frombuffer(view, np.uint8) == 10) + offset
    found = newlines(view, offset, width)
    assert found.dtype == np.int64
    assert found.tolist() == expected.tolist()


def test_newlines_of_bytes_and_of_nothing() -> None:
    assert newlines(b"").tolist() == []
    assert newlines(b"a\nbc\n\n", 10).tolist() == [11, 14, 15]
    assert newlines(b"\n" * 100, 0, 50.0).tolist() == list(range(100))  # guess too low


@settings(deadline=None)
@given(st.lists(st.sampled_from(["{}", "{", "}", "", "\r", "{\r", "{}\r", '{"a": 1}', "x}", "{x"])))
def test_braced_lines_are_json_objects_shape(lines: list[str]) -> None:
    buf = "".join(line + "\n" for line in lines).encode()
    compiled = newlines(buf)
    starts, ends, braced = braced_lines(buf, compiled)
    with mock.patch.object(newlines_module, "machine_code_ready", lambda: False):
        nl = newlines(buf)
        by_numpy = braced_lines(buf, nl)
    assert nl.dtype == np.int64 and nl.tolist() == compiled.tolist()
    for found, numpys in zip((starts, ends, braced), by_numpy, strict=True):
        assert found.dtype == numpys.dtype and found.tolist() == numpys.tolist()
    texts = [buf[a:b].decode() for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    assert texts == [line.removesuffix("\r") for line in lines]
    assert braced.tolist() == [len(t) >= 2 and t.startswith("{") and t.endswith("}") for t in texts]
