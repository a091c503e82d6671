"""The JSON lines scanner's loop over lines, reading most lines by their layout.

The lines of a feed nearly always spell their keys alike, in the same order, with the
same spacing. What lies between two values of a line (`, "amount": `), before its first
value (`{"type": `) and after its last (`}`) is its layout. A good line's layout is
remembered (where each of its values starts and ends, and which wanted key each is);
the next line is first read by it: each piece between values compared whole with the
remembered line's, each value read as `cep.io.jsonscan.line` reads it. A piece that
differs, or a value the scanner does not take, and the line is read the general way
(`line`), which gives the answer; a good line read so becomes the layout.

A piece's bytes decide alone what the general way makes of them after a value (spaces,
a comma, a key in quotes without escapes, a colon, spaces; or the closing brace and
spaces to the line's end), and where the value after them starts: it is read by the
same code from the same place. The keys are the remembered good line's, one by one, so
none is given twice. So a line read by its layout has the tokens, and is good or not,
as the general way says.
"""

from __future__ import annotations

import numpy as np

from cep.io.interning import lookup, span_key
from cep.io.jsonscan import ABSENT, DECIMAL, STR, fits, line, value
from cep.jit import njit

#: values of a line whose places are remembered: a line with more is read the general way
LAYOUT_VALUES = 64


def layout_marks() -> np.ndarray:
    """Room for one line's layout (`cep.io.jsonscan.line`'s `marks`)."""
    return np.empty((3, LAYOUT_VALUES), np.int64)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _same_bytes(data: np.ndarray, a: int, b: int, n: int) -> bool:
    """Whether `data[a:a+n]` and `data[b:b+n]` are equal: no early exit, and unsigned
    positions (no wrap-around of negative ones), a loop the compiler widens."""
    ua = np.uint64(a)
    ub = np.uint64(b)
    diff = np.uint8(0)
    for k in range(np.uint64(n)):
        diff |= data[ua + k] ^ data[ub + k]
    return diff == 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _by_layout(
    data: np.ndarray, p: int, end: int, row: int, marks: np.ndarray, members: int,
    first: int, last: int, type_key: int, tag_blob: np.ndarray, tag_offsets: np.ndarray,
    kinds: np.ndarray, ints: np.ndarray, reals: np.ndarray, lens: np.ndarray,
    pow10: np.ndarray,
) -> bool:  # fmt: skip
    """Whether line `p:end` is read by the layout of line `first:last` (`marks`: its
    `members` values), its tokens stored; False: read it the general way."""
    for key in range(kinds.shape[0]):
        kinds[key, row] = ABSENT
    at = first  # where the remembered line's piece before the next value starts
    for k in range(members):
        n = marks[0, k] - at
        if p + n >= end or not _same_bytes(data, p, at, n):
            return False
        p = value(
            data, p + n, end, row, marks[2, k], type_key, tag_blob, tag_offsets,
            kinds, ints, reals, lens, pow10,
        )  # fmt: skip
        if p < 0:
            return False
        at = marks[1, k]
    n = last - at
    return p + n == end and _same_bytes(data, p, at, n)


@njit(cache=True, nogil=True, _nrt=False)
def scan_lines(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, lo: int, hi: int,
    blob: np.ndarray, offsets: np.ndarray, type_key: int, tag_blob: np.ndarray,
    tag_offsets: np.ndarray, good: np.ndarray, kinds: np.ndarray, ints: np.ndarray,
    reals: np.ndarray, lens: np.ndarray, pow10: np.ndarray,
    checked: bool, by_tag: bool, masks: np.ndarray, exact_floats: np.ndarray,
    marks: np.ndarray, spare: np.ndarray, text_keys: np.ndarray, entries: np.ndarray,
    slots: np.ndarray, entry_start: np.ndarray, entry_len: np.ndarray,
    entry_column: np.ndarray, pool: np.ndarray,
) -> int:  # fmt: skip
    """Tokens of lines lo..hi-1 (see `cep.io.jsonscan`); `good[i]` False where unsure,
    and with `checked` where its tokens do not fit (`Keys.check`). `marks` and `spare`:
    room for layouts (`layout_marks`). A good line's string of key `text_keys[c]` is
    looked up in column c of an `Interner`'s table (`slots`..`pool`), while the line is
    in cache: `entries[c, i]`, -1 where it is not there. Returns how many DECIMAL
    tokens the good lines hold.

    A line's strings are looked up once the next good line is read: their keys are made
    as their line ends (kept in `entries` meanwhile) and their slots fetched into the
    cache (`span_key`), which a table of many strings is out of, while that line is
    read."""
    decimals = 0
    pending = -1  # the good line whose strings are still to be looked up
    members = 0  # the values of the layout in use (in `marks`), 0: none yet
    first = 0  # the start and end of the line whose layout it is
    last = 0
    room = marks.shape[1]
    for row in range(lo, hi):
        p = starts[row]
        end = ends[row]
        ok = members > 0 and _by_layout(
            data, p, end, row, marks, members, first, last, type_key, tag_blob,
            tag_offsets, kinds, ints, reals, lens, pow10,
        )  # fmt: skip
        if not ok:
            found = line(
                data, p, end, row, blob, offsets, type_key, tag_blob, tag_offsets,
                kinds, ints, reals, lens, pow10, spare,
            )  # fmt: skip
            ok = found >= 0
            if 0 < found <= room:
                marks, spare = spare, marks
                members, first, last = found, p, end
        if ok and checked:
            ok = fits(row, type_key, by_tag, masks, exact_floats, kinds, ints)
        good[row] = ok
        if ok:
            for key in range(kinds.shape[0]):
                if kinds[key, row] == DECIMAL:
                    decimals += 1
            if pending >= 0:
                _look_up(
                    data, pending, text_keys, kinds, ints, lens, entries, slots,
                    entry_start, entry_len, entry_column, pool,
                )  # fmt: skip
            for c in range(len(text_keys)):
                key = text_keys[c]
                if kinds[key, row] == STR:
                    entries[c, row] = span_key(data, ints[key, row], lens[key, row], c, slots)
            pending = row
    if pending >= 0:
        _look_up(
            data, pending, text_keys, kinds, ints, lens, entries, slots, entry_start,
            entry_len, entry_column, pool,
        )  # fmt: skip
    return decimals


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _look_up(
    data: np.ndarray, row: int, text_keys: np.ndarray, kinds: np.ndarray, ints: np.ndarray,
    lens: np.ndarray, entries: np.ndarray, slots: np.ndarray, entry_start: np.ndarray,
    entry_len: np.ndarray, entry_column: np.ndarray, pool: np.ndarray,
) -> None:  # fmt: skip
    """`scan_lines`' look-up of line `row`'s strings, their keys in `entries`."""
    for c in range(len(text_keys)):
        key = text_keys[c]
        if kinds[key, row] == STR:
            entries[c, row] = lookup(
                data, ints[key, row], lens[key, row], c, entries[c, row], slots,
                entry_start, entry_len, entry_column, pool,
            )  # fmt: skip
