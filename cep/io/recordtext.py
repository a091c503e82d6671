"""An event's record as reports write it, made straight from its JSON line's bytes.

A report (`Match.to_json`) writes each event as `json.dumps(record, ensure_ascii=False)`
of the record its line decodes to: `", "` and `": "` between items, strings as the
JSON text `json` writes, numbers as Python writes the `int` or `float` they decode to.
`canonical_lines` (numba, no Python object per line) rewrites a line into that text when
the answer is certain from the bytes alone:

- keys and string values without escapes (a raw JSON string holds no `"`, `\\` or
  control character, so `json` writes it back unchanged); valid UTF-8 only, no
  surrogates;
- `true`, `false`, `null`;
- integers of up to 18 digits (`-0` is written `0`);
- floats written as `repr` writes them: no exponent, at most 15 significant digits (so
  the digits are the shortest that give the float back), no trailing zero after the
  first decimal, and at least 1e-4 unless zero.

Anything else (an escape, a nested value, a key given twice, another number form) leaves
the line to Python (`json_record` and the encoder), which gives the same text slower.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cep.io.jsonscan import _FALSE, _NULL, _TRUE, _keyword_end, _same, _skip
from cep.jit import njit

_MAX_KEYS = 64  # more members than this: the line goes the Python way
_SIGNIFICANT = 15  # float64 gives back every decimal of this many significant digits


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _utf8_end(data: np.ndarray, p: int, end: int) -> int:
    """The position after the UTF-8 sequence whose lead byte (>= 0x80) is at `p`, or -1
    if it is not valid UTF-8 (overlong forms, surrogates and code points past U+10FFFF
    included)."""
    c = data[p]
    if 0xC2 <= c <= 0xDF:
        n, lo, hi = 1, 0x80, 0xBF
    elif c == 0xE0:
        n, lo, hi = 2, 0xA0, 0xBF
    elif 0xE1 <= c <= 0xEC or c == 0xEE or c == 0xEF:
        n, lo, hi = 2, 0x80, 0xBF
    elif c == 0xED:
        n, lo, hi = 2, 0x80, 0x9F
    elif c == 0xF0:
        n, lo, hi = 3, 0x90, 0xBF
    elif 0xF1 <= c <= 0xF3:
        n, lo, hi = 3, 0x80, 0xBF
    elif c == 0xF4:
        n, lo, hi = 3, 0x80, 0x8F
    else:
        return -1
    if p + n >= end:
        return -1
    if not lo <= data[p + 1] <= hi:
        return -1
    for k in range(2, n + 1):
        if not 0x80 <= data[p + k] <= 0xBF:
            return -1
    return p + n + 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _plain_text_end(data: np.ndarray, p: int, end: int) -> int:
    """Where text from `p` that `json` writes as it is (no backslash or control
    character, valid UTF-8) stops: at a quote, or `end`; -1 where it holds anything
    else first."""
    while p < end:
        c = data[p]
        if c == 34:
            return p
        if c < 32 or c == 92:
            return -1
        if c >= 128:
            p = _utf8_end(data, p, end)
            if p < 0:
                return -1
        else:
            p += 1
    return end


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _plain_string_end(data: np.ndarray, p: int, end: int) -> int:
    """The position of the closing quote of a string starting at `p` (after its opening
    quote) that holds no escape and only valid UTF-8; -1 otherwise."""
    close = _plain_text_end(data, p, end)
    return close if close < end else -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _number_end(data: np.ndarray, p: int, end: int) -> int:
    """The position after a number at `p` that Python writes back byte for byte (bar
    `-0`, handled by the caller), or -1."""
    if data[p] == 45:
        p += 1
    if p >= end or not 48 <= data[p] <= 57:
        return -1
    leading_zero = data[p] == 48
    int_digits = 0
    while p < end and 48 <= data[p] <= 57:
        int_digits += 1
        p += 1
    if leading_zero and int_digits > 1:
        return -1  # not JSON
    if p < end and (data[p] == 101 or data[p] == 69):
        return -1  # an exponent: `repr` may write it otherwise
    if p >= end or data[p] != 46:
        return p if int_digits <= 18 else -1  # an integer: msgspec reads up to 18 digits alike
    p += 1
    first = p
    while p < end and 48 <= data[p] <= 57:
        p += 1
    frac_digits = p - first
    if frac_digits == 0:
        return -1
    if p < end and (data[p] == 101 or data[p] == 69):
        return -1
    if frac_digits > 1 and data[p - 1] == 48:
        return -1  # a trailing zero `repr` drops
    if leading_zero:
        zeros = 0
        while zeros < frac_digits and data[first + zeros] == 48:
            zeros += 1
        if zeros == frac_digits:
            return p  # 0.0 (or -0.0)
        if zeros > 3:
            return -1  # below 1e-4: `repr` writes an exponent
        significant = frac_digits - zeros
    else:
        significant = int_digits + frac_digits
    return p if significant <= _SIGNIFICANT else -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put(out: np.ndarray, q: int, data: np.ndarray, a: int, b: int) -> int:
    for k in range(a, b):
        out[q] = data[k]
        q += 1
    return q


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put2(out: np.ndarray, q: int, c1: int, c2: int) -> int:
    out[q] = c1
    out[q + 1] = c2
    return q + 2


@njit(cache=True, nogil=True, _nrt=False)
def _canonical(
    data: np.ndarray, p: int, end: int, out: np.ndarray, q: int, keys: np.ndarray
) -> int:
    """Write the record text of the line `data[p:end]` at `out[q:]`; the position after
    it, or -1 where Python must write it."""
    p = _skip(data, p, end)
    if p >= end or data[p] != 123:
        return -1
    out[q] = 123
    q += 1
    p = _skip(data, p + 1, end)
    if p < end and data[p] == 125:
        out[q] = 125
        return q + 1 if _skip(data, p + 1, end) == end else -1
    count = 0
    while True:
        if p >= end or data[p] != 34:
            return -1
        close = _plain_string_end(data, p + 1, end)
        if close < 0 or count == _MAX_KEYS:
            return -1
        n = close - p - 1
        for k in range(count):
            if _same(data, keys[2 * k], keys[2 * k + 1], data, p + 1, n):
                return -1  # a key given twice: the last value, at the first key's place
        keys[2 * count] = p + 1
        keys[2 * count + 1] = n
        count += 1
        q = _put(out, q, data, p, close + 1)
        q = _put2(out, q, 58, 32)  # ": "
        p = _skip(data, close + 1, end)
        if p >= end or data[p] != 58:
            return -1
        p = _skip(data, p + 1, end)
        if p >= end:
            return -1
        c = data[p]
        if c == 34:
            close = _plain_string_end(data, p + 1, end)
            if close < 0:
                return -1
            after = close + 1
        elif c == 116 or c == 102 or c == 110:
            after = _keyword_end(data, p, end)
        elif c == 45 or 48 <= c <= 57:
            after = _number_end(data, p, end)
            if after == p + 2 and c == 45 and data[p + 1] == 48:
                p += 1  # -0 is the integer 0
        else:
            return -1  # nested, NaN, Infinity, not JSON
        if after < 0:
            return -1
        q = _put(out, q, data, p, after)
        p = _skip(data, after, end)
        if p >= end:
            return -1
        if data[p] == 44:
            q = _put2(out, q, 44, 32)  # ", "
            p = _skip(data, p + 1, end)
            continue
        if data[p] == 125:
            out[q] = 125
            return q + 1 if _skip(data, p + 1, end) == end else -1
        return -1


@njit(cache=True, nogil=True, _nrt=False)
def canonical_lines(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray,
    out_starts: np.ndarray, out_ends: np.ndarray, keys: np.ndarray,
) -> int:  # fmt: skip
    """The record texts of lines `data[starts[i]:ends[i]]`, one after another in `out`
    (room: twice the lines' bytes); line i's at `out[out_starts[i]:out_ends[i]]`, or
    `out_ends[i] == -1` where Python must write it. Returns the bytes used."""
    q = np.int64(0)  # (from a literal 0, numba would compile `_canonical` for it too)
    for i in range(len(starts)):
        out_starts[i] = q
        after = _canonical(data, starts[i], ends[i], out, q, keys)
        out_ends[i] = after
        if after >= 0:
            q = after
    return q


#: texts in one buffer: `data[starts[i]:ends[i]]`, not made where `ends[i]` is -1
TextPieces = tuple[np.ndarray, np.ndarray, np.ndarray]


def record_text_pieces(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> TextPieces:
    """The record texts (as reports write them) of the JSON lines `buf[starts[i]:ends[i]]`,
    as UTF-8 pieces of one buffer; not made (end -1) for a line Python must write."""
    n = len(starts)
    data = np.frombuffer(buf, np.uint8)
    starts = np.ascontiguousarray(starts, np.int64)
    ends = np.ascontiguousarray(ends, np.int64)
    room = 2 * int((ends - starts).sum()) + 2 * n
    out = np.empty(room, np.uint8)
    out_starts = np.empty(n, np.int64)
    out_ends = np.empty(n, np.int64)
    keys = np.empty(2 * _MAX_KEYS, np.int64)
    used = canonical_lines(data, starts, ends, out, out_starts, out_ends, keys) if n else 0
    return out[:used], out_starts, out_ends


@njit(cache=True, nogil=True, _nrt=False)
def gather_texts(data: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> int:
    """Texts moved to `out` one after another (`starts`, `ends` updated; those whose end
    is negative left as they are); bytes used."""
    q = 0
    for i in range(len(ends)):
        if ends[i] < 0:
            continue
        end = _put(out, q, data, starts[i], ends[i])
        starts[i] = q
        ends[i] = end
        q = end
    return q


def piece_texts(pieces: TextPieces) -> list[str | None]:
    """Text pieces as strings (None where not made)."""
    data, starts, ends = pieces
    return _pieces(data.tobytes(), starts.tolist(), ends.tolist())


def _pieces(written: bytes, starts: list[int], ends: list[int]) -> list[Any]:
    """`written[starts[i]:ends[i]]` as text (None where `ends[i]` is -1), sliced from one
    decoded string when the bytes are ASCII (a character a byte)."""
    if written.isascii():
        text = written.decode("ascii")
        return [text[s:e] if e >= 0 else None for s, e in zip(starts, ends, strict=True)]
    return [written[s:e].decode() if e >= 0 else None for s, e in zip(starts, ends, strict=True)]


# ------------------------------------------------------------------------------ columns

#: how a column's cells become text in `column_rows`
PIECE = 0  # cell value: an index into the column's pieces of text
DIGITS = 1  # cell value: an integer, written in decimal
TRUTH = 2  # cell value: 0 or 1, written false or true


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_int(out: np.ndarray, q: int, value: int) -> int:
    magnitude = np.uint64(value)
    if value < 0:
        out[q] = 45
        q += 1
        magnitude = np.uint64(0) - magnitude  # two's complement: right for -2**63 too
    digits = 1
    rest = magnitude // np.uint64(10)
    while rest:
        digits += 1
        rest //= np.uint64(10)
    for k in range(digits - 1, -1, -1):
        out[q + k] = 48 + magnitude % np.uint64(10)
        magnitude //= np.uint64(10)
    return q + digits


@njit(cache=True, nogil=True, _nrt=False)
def column_rows(
    kinds: np.ndarray, valid: np.ndarray, values: np.ndarray, bases: np.ndarray,
    keys: np.ndarray, blob: np.ndarray, starts: np.ndarray, ends: np.ndarray,
    out: np.ndarray, out_ends: np.ndarray, nulls: bool,
) -> None:  # fmt: skip
    """Row r's record text `{"name": value, ...}` (its valid cells, columns in order; with
    `nulls`, every cell, `null` where not valid) at `out[out_ends[r - 1]:out_ends[r]]`.
    Column c's `"name": ` is piece `keys[c]`; a PIECE cell's text is piece
    `bases[c] + values[c, r]`; piece i is `blob[starts[i]:ends[i]]`. `out` has room for
    every row."""
    q = 0
    for r in range(valid.shape[1]):
        out[q] = 123
        q += 1
        first = True
        for c in range(len(kinds)):
            if not valid[c, r] and not nulls:
                continue
            if not first:
                q = _put2(out, q, 44, 32)
            first = False
            k = keys[c]
            q = _put(out, q, blob, starts[k], ends[k])
            kind = kinds[c]
            if not valid[c, r]:
                q = _put(out, q, _NULL, 0, 4)
            elif kind == PIECE:
                i = bases[c] + values[c, r]
                q = _put(out, q, blob, starts[i], ends[i])
            elif kind == DIGITS:
                q = _put_int(out, q, values[c, r])
            elif values[c, r]:
                q = _put(out, q, _TRUE, 0, 4)
            else:
                q = _put(out, q, _FALSE, 0, 5)
        out[q] = 125
        q += 1
        out_ends[r] = q


def split_pieces(blob: bytes, separator: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the pieces of `blob` are, each ended by byte `separator` (a JSON value
    holds no raw newline; numbers no comma): their starts and ends."""
    ends = np.flatnonzero(np.frombuffer(blob, np.uint8) == separator)
    starts = np.empty(len(ends), np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts, ends


class ColumnTexts:
    """Builds the record texts of rows from their columns (`column_rows`): add each
    column in order (`pieces`, `spans`, `integers`, `truths`), then `row_pieces()`. With
    `nulls`, a cell that is not valid is written `null` (else left out)."""

    def __init__(self, rows: int, *, nulls: bool = False) -> None:
        self.n = rows
        self.nulls = nulls
        self.kinds: list[int] = []
        self.valid: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.bases: list[int] = []
        self.keys: list[int] = []
        self.blobs: list[bytes] = []
        self.starts: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []
        self.size = 0  # bytes in blobs
        self.count = 0  # pieces in blobs
        self.widths: list[int] = []  # the most bytes a cell's text takes (-1: its piece's)

    def _blob(self, blob: bytes, starts: np.ndarray, ends: np.ndarray) -> int:
        """Add pieces; the index of the first."""
        first = self.count
        self.blobs.append(blob)
        self.starts.append(starts + self.size)
        self.ends.append(ends + self.size)
        self.size += len(blob)
        self.count += len(starts)
        return first

    def _add(self, key: str, kind: int, valid: np.ndarray, values: np.ndarray, width: int) -> None:
        text = key.encode()
        self.keys.append(self._blob(text, np.zeros(1, np.int64), np.full(1, len(text))))
        self.kinds.append(kind)
        self.valid.append(valid)
        self.values.append(values)
        self.widths.append(width)

    def pieces(
        self, key: str, valid: np.ndarray, index: np.ndarray, blob: bytes, separator: int
    ) -> None:
        """A column whose cell r is piece `index[r]` of `blob` (`split_pieces`) where
        valid."""
        self._add(key, PIECE, valid, np.where(valid, index, 0), -1)
        starts, ends = split_pieces(blob, separator)
        if not len(starts):
            starts = ends = np.zeros(1, np.int64)
        self.bases.append(self._blob(blob, starts, ends))

    def spans(
        self, key: str, valid: np.ndarray, index: np.ndarray, data: np.ndarray,
        starts: np.ndarray, ends: np.ndarray,
    ) -> None:  # fmt: skip
        """A column whose cell r is `data[starts[index[r]]:ends[index[r]]]` where valid."""
        self._add(key, PIECE, valid, np.where(valid, index, 0), -1)
        if not len(starts):
            starts = ends = np.zeros(1, np.int64)
        self.bases.append(self._blob(data.tobytes(), starts, np.maximum(ends, starts)))

    def integers(self, key: str, valid: np.ndarray, values: np.ndarray) -> None:
        self._add(key, DIGITS, valid, values, 20)
        self.bases.append(0)

    def truths(self, key: str, valid: np.ndarray, values: np.ndarray) -> None:
        self._add(key, TRUTH, valid, values, 5)
        self.bases.append(0)

    def row_pieces(self) -> TextPieces:
        """Each row's record text, as pieces of one buffer (row after row)."""
        n = self.n
        if n == 0 or not self.kinds:
            data = np.frombuffer(b"{}" * n, np.uint8)
            return data, np.arange(0, 2 * n, 2, dtype=np.int64), np.arange(2, 2 * n + 2, 2)
        starts = np.concatenate(self.starts)
        ends = np.concatenate(self.ends)
        blob = np.frombuffer(b"".join(self.blobs), np.uint8)
        valid = np.stack(self.valid)
        values = np.stack(self.values).astype(np.int64, copy=False)
        lengths = ends - starts
        room = 2 * n
        for c, width in enumerate(self.widths):
            cells = lengths[self.bases[c] + values[c]] if width < 0 else np.full(n, width)
            cell_room = lengths[self.keys[c]] + 2 + (np.maximum(cells, 4) if self.nulls else cells)
            room += int((cell_room if self.nulls else cell_room * valid[c]).sum())
        out = np.empty(room, np.uint8)
        row_ends = np.empty(n, np.int64)
        column_rows(
            np.array(self.kinds, np.int64), valid, values, np.array(self.bases, np.int64),
            np.array(self.keys, np.int64), blob, starts, ends, out, row_ends, self.nulls,
        )  # fmt: skip
        row_starts = np.empty(n, np.int64)
        row_starts[0] = 0
        row_starts[1:] = row_ends[:-1]
        return out[: row_ends[-1]], row_starts, row_ends
