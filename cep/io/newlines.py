"""Where the newline bytes of a buffer are, found eight bytes at a time (numba).

A block of JSON lines or CSV is cut into lines by its newline bytes. NumPy's
`flatnonzero(data == 10)` makes a byte mask and reads it again; this loop reads the
buffer once as 64-bit words and looks at the bytes of a word only when the word holds
a newline (the usual "has a zero byte" test on the word xor eight newlines), then finds
those bytes by bit arithmetic on the word (bytes in a word little-end first, as on
the machines numba compiles for here).

Beside each newline the loop notes the bytes around it (`marks`): whether a carriage
return is before it, whether the byte before that is `}`, and whether the byte after
it is `{`, each where the buffer has that byte. A JSON line's shape (`braced_lines`)
is then known from the marks, without reading the block again once it is out of the
cache (a line's first and last bytes are a cache miss each, a line apart).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cep.jit import machine_code_ready, njit

_NEWLINES = np.uint64(0x0A0A0A0A0A0A0A0A)
_ONES = np.uint64(0x0101010101010101)
_HIGHS = np.uint64(0x8080808080808080)
_LOWS = np.uint64(0x7F7F7F7F7F7F7F7F)
_BYTE_INDEX = np.uint64(0x0001020304050607)
_ONE = np.uint64(1)
_SEVEN = np.uint64(7)
_FIFTY_SIX = np.uint64(56)

#: a newline's marks: a carriage return before it; the byte before the line's end (the
#: newline, or that carriage return) is `}`; both of these known (the buffer holds
#: the two bytes before the newline); the byte after it is `{`; that one known
CR, CLOSES, BEFORE_KNOWN, OPENS_NEXT, AFTER_KNOWN = 1, 2, 4, 8, 16


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _mark(data: np.ndarray, j: int) -> np.uint8:
    """The marks of the newline at `data[j]` (`CR`..`AFTER_KNOWN`)."""
    m = 0
    if j >= 2:
        cr = data[j - 1] == 13
        m = BEFORE_KNOWN | (CR if cr else 0)
        if data[j - 1 - cr] == 125:
            m |= CLOSES
    if j + 1 < len(data):
        m |= AFTER_KNOWN | (OPENS_NEXT if data[j + 1] == 123 else 0)
    return np.uint8(m)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _bytes(
    data: np.ndarray, lo: int, hi: int, out: np.ndarray, marks: np.ndarray, n: int,
    offset: int, high: np.ndarray,
) -> int:  # fmt: skip
    """`_fill` over the bytes `data[lo:hi]`, the first `n` of `out` taken."""
    for i in range(lo, hi):
        high[0] |= np.uint64(data[i])
        if data[i] == 10:
            if n == len(out):
                return -1
            out[n] = i + offset
            marks[n] = _mark(data, i)
            n += 1
    return n


@njit(cache=True, nogil=True, _nrt=False)
def _fill(
    data: np.ndarray, words: np.ndarray, head: int, out: np.ndarray, marks: np.ndarray,
    offset: int, high: np.ndarray,
) -> int:  # fmt: skip
    """Put the positions (plus `offset`) of the newlines of `data` into `out`, and their
    marks into `marks`; how many, or -1 if `out` is too short. `words` is `data[head:]`'s
    whole words. `high[0]`: the bits of all bytes read, or'ed together (the high bit
    set: not ASCII)."""
    high[0] = 0
    n = _bytes(data, 0, head, out, marks, 0, offset, high)
    if n < 0:
        return -1
    room = len(out)
    seen = np.uint64(0)
    for w in range(len(words)):
        seen |= words[w]
        x = words[w] ^ _NEWLINES
        if (x - _ONES) & ~x & _HIGHS:  # some byte of the word is a newline: which ones
            # (the high bit of each byte that is 0 in x, and of no other)
            found = ~(((x & _LOWS) + _LOWS) | x | _LOWS)
            at = head + 8 * w
            while found:
                lowest = found & (~found + _ONE)
                if n == room:
                    return -1
                # the byte of the lowest bit: the top byte of 1 << 8k times 0x0001..07
                j = at + np.int64(((lowest >> _SEVEN) * _BYTE_INDEX) >> _FIFTY_SIX)
                out[n] = j + offset
                marks[n] = _mark(data, j)
                n += 1
                found ^= lowest
    high[0] |= seen
    return _bytes(data, head + 8 * len(words), len(data), out, marks, n, offset, high)


def newlines(buf: Any, offset: int = 0, width: float = 32.0) -> np.ndarray:
    """The positions of the newline bytes of `buf` (bytes-like), plus `offset`. `width`
    is a guess of the bytes a line, to size the result (a wrong guess costs a second
    pass). NumPy finds them where compiled code would first need numba imported."""
    return newlines_ascii(buf, offset, width)[0]


def newlines_ascii(buf: Any, offset: int = 0, width: float = 32.0) -> tuple[np.ndarray, bool]:
    """`newlines`, and whether `buf` is found to be ASCII on the way (False where it is
    not, or where NumPy found the newlines: not looked at)."""
    nl, _, ascii = newlines_marked(buf, offset, width)
    return nl, ascii


def newlines_marked(
    buf: Any, offset: int = 0, width: float = 32.0
) -> tuple[np.ndarray, np.ndarray, bool]:
    """`newlines_ascii` and the newlines' marks (`CR`..`AFTER_KNOWN`; none known where
    NumPy found the newlines)."""
    data = np.frombuffer(buf, np.uint8)
    if not machine_code_ready():
        nl = np.flatnonzero(data == 10) + offset
        return nl, np.zeros(len(nl), np.uint8), False
    head = min(-data.ctypes.data % 8, len(data))
    whole = (len(data) - head) // 8 * 8
    words = data[head : head + whole].view(np.uint64)
    room = int(len(data) / max(width, 1.0) * 1.25) + 64
    out, marks = np.empty(room, np.int64), np.empty(room, np.uint8)
    high = np.zeros(1, np.uint64)
    n = _fill(data, words, head, out, marks, offset, high)
    if n < 0:
        room = int(np.count_nonzero(data == 10))
        out, marks = np.empty(room, np.int64), np.empty(room, np.uint8)
        n = _fill(data, words, head, out, marks, offset, high)
    ascii = not int(high[0]) & 0x8080808080808080
    if 2 * n >= len(out):
        return out[:n], marks[:n], ascii
    return out[:n].copy(), marks[:n].copy(), ascii


@njit(cache=True, nogil=True, _nrt=False)
def _braced_lines(
    data: np.ndarray, nl: np.ndarray, marks: np.ndarray, starts: np.ndarray,
    ends: np.ndarray, braced: np.ndarray,
) -> None:  # fmt: skip
    """`braced_lines`, reading `data` only where `marks` do not say."""
    for i in range(len(nl)):
        start = nl[i - 1] + 1 if i else 0
        end = nl[i]
        m = marks[i]
        if m & BEFORE_KNOWN:
            if end > start and m & CR:
                end -= 1
            closes = (m & CLOSES) != 0
        else:
            if end > start and data[end - 1] == 13:
                end -= 1
            closes = end > start and data[end - 1] == 125
        starts[i] = start
        ends[i] = end
        if end - start < 2 or not closes:
            braced[i] = False
        elif i and marks[i - 1] & AFTER_KNOWN:
            braced[i] = (marks[i - 1] & OPENS_NEXT) != 0
        else:
            braced[i] = data[start] == 123


def braced_lines(
    buf: Any, nl: np.ndarray, marks: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lines that end at the newlines `nl` of `buf`: their starts, their ends (before
    a carriage return that ends one), and whether each is at least `{}`, starting with
    `{` and ending with `}` (what a JSON line must be to be scanned). `marks`: the
    newlines' marks as found (`newlines_marked`), else `buf` is read for all."""
    n = len(nl)
    if n and not machine_code_ready():
        return _numpy_braced_lines(np.frombuffer(buf, np.uint8), nl)
    starts, ends = np.empty(n, np.int64), np.empty(n, np.int64)
    braced = np.empty(n, np.bool_)
    if n:
        if marks is None:
            marks = np.zeros(n, np.uint8)
        _braced_lines(np.frombuffer(buf, np.uint8), nl, marks, starts, ends, braced)
    return starts, ends, braced


def _numpy_braced_lines(data: np.ndarray, nl: np.ndarray) -> tuple[np.ndarray, ...]:
    """`braced_lines` in NumPy (for a process without numba, as `newlines`)."""
    starts = np.empty(len(nl), np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    ends = nl.astype(np.int64, copy=True)
    last = np.maximum(ends - 1, 0)  # (an empty line's "last byte" is never looked at)
    ends -= (ends > starts) & (data[last] == 13)
    braced = ends - starts >= 2
    braced &= data[np.minimum(starts, len(data) - 1)] == 123
    braced &= data[np.maximum(ends - 1, 0)] == 125
    return starts, ends, braced
