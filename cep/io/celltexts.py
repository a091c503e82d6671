"""Records as JSON text made a column at a time, with no Python object per row.

A CSV or Arrow row's text in reports is its record as the one encoder of reports writes
it (`cep.runtime.match.encode`): `{"name":value,...}` over its present cells. Made
record by record, that costs a dict and an encoder call per row; here each column's
cells are written in bulk (`CellTexts`), by the same encoder where a value's text
depends on it: text as its distinct values encoded once (a column's values repeat:
users, statuses), floats as the encoder writes them (`float_texts`: most in numba, the
rest in one `encode_lines` call), integers as Arrow writes their digits (as JSON does),
booleans from two texts. `join_records` then puts each row's cells behind their names
in numba (`join_typed_cells`; `join_coded_cells` for cells given as entries of tables).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cep.io.batch import TextPieces, record_texts
from cep.io.columns import arrow_compute, arrow_core
from cep.jit import njit
from cep.runtime.match import encode

_BOOLS = np.frombuffer(b"truefalse", np.uint8)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def put_bytes(out: np.ndarray, q: int, data: np.ndarray, a: int, b: int) -> int:
    """`data[a:b]` copied to `out` at `q`; where it ends there."""
    # (a loop over two views, indexed from 0: LLVM makes it a vector copy, 5-10 times
    # the speed of a loop moving two indexes over pieces of a hundred bytes or more)
    n = b - a
    to, source = out[q : q + n], data[a:b]
    for k in range(n):
        to[k] = source[k]
    return q + n


class CellTexts:
    """One column's cell texts for `n` rows, put in by groups of rows (`put`): each
    row's text is `data()[starts[j]:ends[j]]`; a row with no cell (null, empty) has end
    -1."""

    __slots__ = ("buffers", "ends", "size", "starts")

    def __init__(self, n: int) -> None:
        self.buffers: list[np.ndarray] = []
        self.size = 0
        self.starts = np.full(n, -1, np.int64)
        self.ends = np.full(n, -1, np.int64)

    def put(self, rows: np.ndarray | slice, pieces: TextPieces) -> None:
        """The texts of the cells of `rows` (in order), pieces of one buffer."""
        data, starts, ends = pieces
        self.starts[rows] = starts + self.size
        self.ends[rows] = ends + self.size
        self.buffers.append(data)
        self.size += len(data)

    def data(self) -> np.ndarray:
        if len(self.buffers) == 1:
            return self.buffers[0]
        return np.concatenate(self.buffers) if self.buffers else np.zeros(0, np.uint8)


def string_texts(strings: Any) -> TextPieces:
    """A pyarrow string (or dictionary of strings) array's values as JSON strings: its
    distinct values encoded once, each row pointing at its value's text (a null row
    points anywhere: the caller leaves it out)."""
    if not arrow_core().types.is_dictionary(strings.type):
        strings = arrow_compute().dictionary_encode(strings)
    indices = strings.indices
    if indices.null_count:
        indices = indices.fill_null(0)
    indices = indices.to_numpy(zero_copy_only=False)
    data, starts, ends = record_texts(strings.dictionary.to_pylist())
    if not len(starts):  # (every row null)
        return data, np.zeros(len(indices), np.int64), np.zeros(len(indices), np.int64)
    return data, np.take(starts, indices), np.take(ends, indices)


def int_texts(values: Any) -> TextPieces:
    """Integers (a NumPy int64 array or a pyarrow integer array) as JSON numbers: their
    decimal digits, as Arrow writes them."""
    pa = arrow_core()
    array = pa.array(values) if isinstance(values, np.ndarray) else values
    text = array.cast(pa.string())
    _, offsets, data = text.buffers()
    n = len(text)
    at = np.frombuffer(offsets, np.int32, n + 1, text.offset * 4).astype(np.int64)
    return np.frombuffer(data, np.uint8) if data is not None else _BOOLS[:0], at[:-1], at[1:]


def float_texts(values: np.ndarray) -> TextPieces:
    """Floats as the encoder writes them (NaN and infinities as null): those of at most
    `_FIXED_DIGITS` significant digits from 1e-4 up to 1e15, and zeros, written here
    (`_fixed_floats`), the others by the encoder, in one call."""
    values = np.ascontiguousarray(values, np.float64)
    n = len(values)
    out = np.empty(n * _FIXED_WIDTH, np.uint8)
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    used = _fixed_floats(values, _POWERS, out, starts, ends)
    left = np.flatnonzero(ends < 0)
    if not len(left):
        return out[:used], starts, ends
    data, more_starts, more_ends = record_texts(values[left].tolist())
    starts[left] = more_starts + used
    ends[left] = more_ends + used
    return np.concatenate((out[:used], data)), starts, ends


#: the significant digits of the floats `_fixed_floats` writes: at most 15 (any decimal
#: of 15 digits reads back as itself, and a float has at most one such of the fewest
#: digits that reads back as it: the shortest text, as the encoder finds it)
_FIXED_DIGITS = 15
#: 10 ** 0 to 10 ** 22: exact as floats
_POWERS = 10.0 ** np.arange(23)
#: the most bytes `_fixed_floats` writes for a value (`-0.000` and 15 digits)
_FIXED_WIDTH = 24


@njit(cache=True, nogil=True, _nrt=False)
def _fixed_floats(values, powers, out, starts, ends):  # type: ignore[no-untyped-def]
    """Each value's text at `starts[i]:ends[i]` of `out`, as the encoder writes it
    (`1.5`, `100.0`, `0.0001`, `-0.0`), where it is zero or has at most `_FIXED_DIGITS`
    significant digits and a magnitude from 1e-4 up to 1e15 (fixed notation); else
    end -1 (left to the encoder). Returns the bytes written.

    The text is the integer `m` of the fewest decimals `d` for which `m / 10**d` is the
    value: float division rounds correctly, so that is the float the text reads back
    as; with at most 15 digits, no other decimal of `d` places does (they lie more than
    a float's spacing apart), so the text is the shortest that reads back."""
    limit = 10.0**_FIXED_DIGITS
    q = 0
    for i in range(len(values)):
        v = values[i]
        a = abs(v)
        ends[i] = -1
        if not (a == 0.0 or (1e-4 <= a < limit)):
            continue  # (NaN, infinities, the very small and large: the encoder's)
        d = 0
        m = 0.0
        found = a == 0.0
        while not found and d < len(powers):
            scaled = a * powers[d]
            if scaled >= limit:
                break
            m = np.floor(scaled + 0.5)
            if m / powers[d] == a:
                found = True
            else:
                d += 1
        if not found:
            continue
        starts[i] = q
        if math.copysign(1.0, v) < 0.0:
            out[q] = 45  # -
            q += 1
        digits = np.uint64(m)
        width = 1
        rest = digits // np.uint64(10)
        while rest:
            width += 1
            rest //= np.uint64(10)
        whole = width - d  # digits before the point (none or fewer: `0.` and zeros)
        if whole <= 0:
            out[q] = 48  # 0
            out[q + 1] = 46  # .
            q += 2
            for _ in range(-whole):
                out[q] = 48
                q += 1
            width_out = width
        else:
            width_out = width + (1 if d else 0)
        # the digits, from the last, with the point `d` digits from the right
        end = q + width_out
        k = end - 1
        for place in range(width):
            if d and place == d and whole > 0:
                out[k] = 46  # .
                k -= 1
            out[k] = 48 + digits % np.uint64(10)
            digits //= np.uint64(10)
            k -= 1
        q = end
        if d == 0:
            out[q] = 46  # .
            out[q + 1] = 48  # 0
            q += 2
        ends[i] = q
    return q


def bool_texts(values: np.ndarray) -> TextPieces:
    """Booleans as `true` and `false`."""
    values = np.asarray(values, np.bool_)
    return _BOOLS, np.where(values, 0, 4).astype(np.int64), np.where(values, 4, 9).astype(np.int64)


def join_records(names: list[str], columns: list[CellTexts]) -> TextPieces:
    """Each row's record: `{`, the present cells of `columns` behind their `names`
    (`"name":`), separated by commas, then `}`."""
    n = len(columns[0].starts) if columns else 0
    cell_starts = np.empty((len(columns), n), np.int64)
    cell_ends = np.empty((len(columns), n), np.int64)
    buffers, at = [], 0
    for c, column in enumerate(columns):
        present = column.ends >= 0
        cell_starts[c] = np.where(present, column.starts + at, -1)
        cell_ends[c] = np.where(present, column.ends + at, -1)
        data = column.data()
        buffers.append(data)
        at += len(data)
    key_texts = [encode(name) + b":" for name in names]
    keys = np.frombuffer(b"".join(key_texts), np.uint8)
    key_ends = np.cumsum([len(text) for text in key_texts], dtype=np.int64)
    cells = np.concatenate(buffers) if buffers else np.zeros(0, np.uint8)
    plain = np.zeros(len(columns), np.bool_)  # (no column of integers)
    return join_typed_cells(cells, cell_starts, cell_ends, plain, keys, key_ends)  # type: ignore[no-any-return]


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_decimal(out: np.ndarray, q: int, value: int) -> int:
    """`value` in decimal (as JSON writes an integer) at `q`; where it ends there."""
    magnitude = np.uint64(value)
    if value < 0:
        magnitude = np.uint64(0) - magnitude  # two's complement: right for -2**63 too
        out[q] = 45  # -
        q += 1
    digits = 1
    rest = magnitude // np.uint64(10)
    while rest:
        digits += 1
        rest //= np.uint64(10)
    for k in range(digits - 1, -1, -1):
        out[q + k] = 48 + magnitude % np.uint64(10)
        magnitude //= np.uint64(10)
    return q + digits


#: the most bytes `_put_decimal` writes (`-9223372036854775808`)
_DECIMAL_MAX = 20


@njit(cache=True, nogil=True)
def join_typed_cells(cells, cell_starts, cell_ends, integers, keys, key_ends):  # type: ignore[no-untyped-def]
    """Row j's object: `{` then, for each column whose cell is there (`cell_ends[c, j]`
    >= 0), its key text (`"name":`, `keys` up to `key_ends[c]`) and cell, separated by
    commas, then `}`. A cell is the text `cells[cell_starts[c, j]:cell_ends[c, j]]`,
    or in a column of integers (`integers[c]` true) the integer `cell_starts[c, j]`
    written in decimal."""
    columns, n = cell_starts.shape
    size = 0  # (at most: an integer's digits are counted as `_DECIMAL_MAX`)
    for j in range(n):
        size += 2
        for c in range(columns):
            if cell_ends[c, j] >= 0:
                key_start = key_ends[c - 1] if c else 0
                width = _DECIMAL_MAX if integers[c] else cell_ends[c, j] - cell_starts[c, j]
                size += 1 + key_ends[c] - key_start + width
    out = np.empty(size, np.uint8)
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    q = 0
    for j in range(n):
        starts[j] = q
        out[q] = 123  # {
        q += 1
        first = True
        for c in range(columns):
            if cell_ends[c, j] < 0:
                continue
            if not first:
                out[q] = 44  # ,
                q += 1
            first = False
            key_start = key_ends[c - 1] if c else 0
            q = put_bytes(out, q, keys, key_start, key_ends[c])
            if integers[c]:
                q = _put_decimal(out, q, cell_starts[c, j])
            else:
                q = put_bytes(out, q, cells, cell_starts[c, j], cell_ends[c, j])
        out[q] = 125  # }
        q += 1
        ends[j] = q
    return out[:q], starts, ends


@njit(cache=True, nogil=True)
def join_coded_cells(cells, present, integers, texts, starts, ends, keys, key_ends):  # type: ignore[no-untyped-def]
    """Row j's object, as `join_typed_cells` writes it, from cells given by number: for
    each column whose cell is there (`present[c, j]`), its key text and cell, where a
    cell is the text `cells[c, j]` of a table (`texts[starts[e]:ends[e]]` for entry
    `e`), or in a column of integers (`integers[c]`) the integer `cells[c, j]` written
    in decimal."""
    columns, n = cells.shape
    size = 0  # (at most: an integer's digits are counted as `_DECIMAL_MAX`)
    for j in range(n):
        size += 2
        for c in range(columns):
            if present[c, j]:
                key_start = key_ends[c - 1] if c else 0
                e = cells[c, j]
                width = _DECIMAL_MAX if integers[c] else ends[e] - starts[e]
                size += 1 + key_ends[c] - key_start + width
    out = np.empty(size, np.uint8)
    row_starts = np.empty(n, np.int64)
    row_ends = np.empty(n, np.int64)
    q = 0
    for j in range(n):
        row_starts[j] = q
        out[q] = 123  # {
        q += 1
        first = True
        for c in range(columns):
            if not present[c, j]:
                continue
            if not first:
                out[q] = 44  # ,
                q += 1
            first = False
            key_start = key_ends[c - 1] if c else 0
            q = put_bytes(out, q, keys, key_start, key_ends[c])
            if integers[c]:
                q = _put_decimal(out, q, cells[c, j])
            else:
                q = put_bytes(out, q, texts, starts[cells[c, j]], ends[cells[c, j]])
        out[q] = 125  # }
        q += 1
        row_ends[j] = q
    return out[:q], row_starts, row_ends
