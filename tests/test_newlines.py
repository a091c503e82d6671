"""Newline positions found a word at a time (cep/io/newlines.py) are NumPy's byte by byte,
wherever the buffer starts (aligned or not) and whatever the guess of a line's width; a
process without numba (`machine_code_ready` false) finds the same with NumPy alone."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io import newlines as newlines_module
from cep.io.lines import ByteLines, bad_utf8_lines
from cep.io.newlines import braced_lines, newlines, newlines_ascii

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


@settings(deadline=None)
@given(data=st.binary(max_size=100), cut=st.integers(0, 9))
def test_a_buffer_is_said_to_be_ascii_only_where_it_is(data: bytes, cut: int) -> None:
    view = memoryview(bytearray(b"x" * 9 + data))[cut:]
    found, ascii = newlines_ascii(view, 0, 32.0)
    assert ascii == bytes(view).isascii()
    assert found.tolist() == np.flatnonzero(np.frombuffer(view, np.uint8) == 10).tolist()


@settings(deadline=None)
@given(
    lines=st.lists(st.sampled_from([b"ab", b"\xff", b"\xc3\xa9", b"x" * 40, b""]), max_size=30),
    size=st.integers(1, 4),
)
def test_blocks_find_the_lines_that_are_not_utf8(lines: list[bytes], size: int) -> None:
    """Whatever blocks the lines fall into (a line read in one block, handed on in the
    next), the lines that are not UTF-8 are found: a block said to be ASCII is."""
    import io

    reader = ByteLines(io.BytesIO(b"\n".join(lines)), size)
    bad = []
    while (block := reader.next_block()) is not None:
        if block.ascii:
            assert bytes(block.buf).isascii()
        ok = np.ones(len(block), np.bool_)
        bad += [block.first - 1 + int(i) for i in bad_utf8_lines(block, ok)]
    assert bad == [i for i, line in enumerate(lines) if b"\xff" in line]


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


_LINES = st.sampled_from(["{}", "{", "}", "", "\r", "{\r", "}\r", "{}\r", '{"a": 1}', "x}", "{x"])


@settings(deadline=None)
@given(lines=st.lists(_LINES), piece=st.integers(1, 12), size=st.integers(1, 5))
def test_blocks_know_their_lines_shape_from_the_newlines_marks(
    lines: list[str], piece: int, size: int
) -> None:
    """Wherever the reads cut the lines (a newline a piece's first or last byte, a
    carriage return in the piece before), a block's lines have the shape read from its
    bytes: what the newlines' marks say, and where they cannot, the bytes."""
    import io

    from cep.io import lines as lines_module

    text = "".join(line + "\n" for line in lines).encode()
    with mock.patch.object(lines_module, "_PIECE", piece):
        reader = ByteLines(io.BytesIO(text), size)
        shapes = []
        while (block := reader.next_block()) is not None:
            marked = braced_lines(block.buf, block.nl, block.marks)
            for found, unmarked in zip(marked, braced_lines(block.buf, block.nl), strict=True):
                assert found.tolist() == unmarked.tolist()
            shapes += marked[2].tolist()
    assert shapes == [len(t) >= 2 and t[0] == "{" and t[-1] == "}" for t in
                      (line.removesuffix("\r") for line in lines)]  # fmt: skip
