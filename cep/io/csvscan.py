"""A numba scanner for plain CSV lines: cells found and typed in one pass, no strings.

A plain line holds no quote, carriage return (but the one before its newline) or NUL,
and as many cells as the header: `csv.reader` splits it at its commas, and so does
`scan_lines`. For each wanted column it records each cell's form as
`cep.io.csvcells.scan_cells` finds it (an ASCII `OTHER` cell apart from one that is
not ASCII), an integer's value, a number's value as a float where one correctly
rounded operation gives it (Clinger's fast path; NaN where it does not, for Python's
`float()`), and the cell's byte span, for its text (interned into a `Dictionary`'s
codes by `cep.io.interning.Interner`). The other lines are marked for the row reader.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cep.io.columns import INTISH, Typed, validated
from cep.io.csvcells import INT, NUMBER, inferred_cells
from cep.io.jsonscan import in_parallel
from cep.jit import njit

#: a cell of another form than a number's holding a byte of 128 or more
OTHER_HIGH = 5
#: what `scan_lines` finds a line to be
BLANK, PLAIN, NOT_PLAIN = 0, 1, 2
#: what it records of a column's cells (`modes`): their spans, their forms and integers'
#: values, their numbers' values
SPAN, FORM, REALS = 1, 2, 4

_TWO_53 = 2**53
_COMMAS = np.uint64(0x2C2C2C2C2C2C2C2C)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_HIGH_NIBBLES = np.uint64(0xF0F0F0F0F0F0F0F0)
_LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
_THREES = np.uint64(0x3030303030303030)
_SIXES = np.uint64(0x0606060606060606)
_PAIRS = np.uint64(0x00FF00FF00FF00FF)
_QUADS = np.uint64(0x0000FFFF0000FFFF)
#: (1 << 8 j) times this holds j in its top byte
_BYTE_INDEX = np.uint64(0x0001020304050607)
_NO_WORDS = np.zeros(0, np.uint64)
_POW10 = np.array([10.0**i for i in range(23)], np.float64)  # exact as float64
#: bytes a plain line may not hold (a quote, carriage return, NUL): 1; not ASCII: 2
_KINDS = np.zeros(256, np.uint8)
_KINDS[[0, 13, 34]] = 1
_KINDS[128:] = 2


class Scan:
    """Cells of a block's lines: per column read (`rows`: its row in the arrays, -1
    for a column not read) a value per line; `clean` where the lines scanned hold no
    odd byte (then none is not ASCII), `escapes` where they hold a backslash (which
    `Interner` reads as a JSON escape)."""

    __slots__ = (
        "clean", "escapes", "forms", "lens", "modes", "reals", "rows", "spans", "status", "values",
    )  # fmt: skip

    def __init__(self, modes: np.ndarray, n: int) -> None:
        self.modes = modes
        read = modes != 0
        self.rows = np.full(len(modes), -1, np.int64)
        self.rows[read] = np.arange(int(read.sum()))
        columns = int(read.sum())
        self.clean = True
        self.escapes = False
        self.status = np.empty(n, np.uint8)  # BLANK, PLAIN, NOT_PLAIN
        self.spans = np.empty((columns, n), np.int64)  # the cell's first byte
        self.lens = np.empty((columns, n), np.int64)  # its length in bytes
        self.forms = np.empty((columns, n), np.uint8)  # csvcells' forms, or OTHER_HIGH (FORM)
        self.values = np.empty((columns, n), np.int64)  # an INT cell's value (FORM)
        self.reals = np.empty((columns, n), np.float64)  # a number's value (REALS; NaN: inexact)


def scan(
    buf: Any, starts: np.ndarray, ends: np.ndarray, first: int, modes: np.ndarray, limit: int
) -> Scan:
    """Scan lines `first:` of `buf` (`starts[i]:ends[i]`, without line endings), lines
    of more than `limit` bytes not plain: `modes[c]` says what to record of header
    column `c`'s cells (`SPAN`, `FORM`, `REALS`; 0: nothing)."""
    data = np.frombuffer(buf, np.uint8)
    n = len(starts)
    out = Scan(modes, n)
    out.status[:first] = BLANK
    if first >= n:
        return out
    # (no quote, carriage return, NUL nor byte of 128 or more from the first line on)
    at = int(starts[first])
    out.clean = all(buf.find(odd, at) < 0 for odd in (b'"', b"\r", b"\0")) and buf.isascii()
    out.escapes = buf.find(b"\\", at) >= 0
    longest = min(int((ends[first:] - starts[first:]).max()), limit)

    words = _NO_WORDS
    if out.clean:  # (the buffer's whole 8-byte words, where they are aligned)
        words = np.frombuffer(buf, np.uint64, len(buf) // 8)
        if not words.flags.aligned:
            words = _NO_WORDS

    def part(lo: int, hi: int) -> None:
        scan_lines(
            data, words, starts, ends, first + lo, first + hi, out.rows, modes, limit,
            _POW10, out.clean, _KINDS, np.empty(longest + 1, np.int64), out.status,
            out.forms, out.values, out.reals, out.spans, out.lens,
        )  # fmt: skip

    in_parallel(part, n - first)
    return out


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _digit(c: np.uint8) -> bool:
    return np.uint8(c - np.uint8(48)) < np.uint8(10)


@njit(cache=True, nogil=True, _nrt=False)
def scan_lines(
    data, words, starts, ends, lo, hi, rows, modes, limit, pow10, clean, kinds, commas,
    status, forms, values, reals, spans, lens,
):  # type: ignore[no-untyped-def]  # fmt: skip
    """`scan`'s work for lines lo..hi-1 (`rows`: each column's row in the arrays, -1
    for none): a line's commas and odd bytes found in one pass with no branch per byte
    (`kinds`: 1 for a quote, carriage return or NUL, 2 for a byte of 128 or more; none
    where the lines are `clean`), then each cell read as its mode says (`FORM`: as a
    number as far as it reads as one). `commas`: room for the longest line's bytes."""
    columns = len(rows)
    for i in range(lo, hi):
        a = starts[i]
        e = ends[i]
        if a == e:
            status[i] = 0
            continue
        if e - a > limit:
            status[i] = 2
            continue
        m = 0
        odd = np.uint8(0)
        if clean and (e - 1) >> 3 < len(words):
            m = _commas(words, a, e, commas)
        elif clean:  # (no odd byte in the block: the commas alone)
            for k in range(a, e):
                commas[m] = k
                m += data[k] == 44
        else:
            for k in range(a, e):
                c = data[k]
                commas[m] = k
                m += c == 44
                odd |= kinds[c]
        if m != columns - 1 or odd & 1:
            status[i] = 2
            continue
        commas[m] = e
        status[i] = 1
        p = a
        for col in range(columns):
            q = commas[col]
            r = rows[col]
            if r >= 0:
                spans[r, i] = p
                lens[r, i] = q - p
                mode = modes[col]
                if mode & 2:
                    _cell(data, words, p, q, odd >= 2, mode & 4, pow10, r, i, forms, values, reals)
            p = q + 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _commas(words, a, e, commas):  # type: ignore[no-untyped-def]
    """The commas of bytes a..e-1 (into `commas`; their number), 8 bytes at a time:
    the aligned words that hold them, each comma byte marked by its high bit."""
    m = 0
    first = a >> 3
    last = (e - 1) >> 3
    for w in range(first, last + 1):
        x = words[w] ^ _COMMAS
        marks = ~(((x & _LOW7) + _LOW7) | x | _LOW7)  # (0x80 where a byte is a comma)
        if w == first:
            marks &= _ALL << np.uint64((a & 7) * 8)
        if w == last and e & 7:
            marks &= ~(_ALL << np.uint64((e & 7) * 8))
        while marks:
            lowest = (marks & (~marks + np.uint64(1))) >> np.uint64(7)  # (1 << 8 j)
            commas[m] = w * 8 + np.int64((lowest * _BYTE_INDEX) >> np.uint64(56))
            m += 1
            marks &= marks - np.uint64(1)
    return m


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _eight_digits(words, k):  # type: ignore[no-untyped-def]
    """The value of the 8 bytes from `k` on (in `words`, the buffer's aligned 8-byte
    words; the next word is there too) if all are digits, else -1."""
    shift = np.uint64((k & 7) * 8)
    w = words[k >> 3] >> shift
    if shift:
        w |= words[(k >> 3) + 1] << (np.uint64(64) - shift)
    # every byte 0x30-0x39: high nibble 3, and still 3 with 6 added
    if (w & _HIGH_NIBBLES) != _THREES or ((w + _SIXES) & _HIGH_NIBBLES) != _THREES:
        return -1
    w = ((w & _LOW_NIBBLES) * np.uint64(2561)) >> np.uint64(8)  # (the first digit is the low byte)
    w = ((w & _PAIRS) * np.uint64(6553601)) >> np.uint64(16)
    return np.int64(((w & _QUADS) * np.uint64(42949672960001)) >> np.uint64(32))


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _digits(data, k, b, value):  # type: ignore[no-untyped-def]
    """The position after the digits from `k` on, and the value of those digits
    behind `value`'s (while it fits)."""
    while k < b:
        d = np.int64(data[k]) - 48
        if np.uint64(d) > np.uint64(9):
            break
        value = value * 10 + d  # (wraps past 18 digits: then not used)
        k += 1
    return k, value


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _cell(data, words, a, b, high, want_real, pow10, r, i, forms, values, reals):  # type: ignore[no-untyped-def]
    """One cell's form (as `scan_cells` finds it), integer value and number's value."""
    k = a
    negative = False
    if k < b and (data[k] == 45 or data[k] == 43):
        negative = data[k] == 45
        k += 1
    start = k
    value = 0
    if k + 8 <= b and (k >> 3) + 1 < len(words):  # (8 digits at once, where they are)
        value = _eight_digits(words, k)
        if value >= 0:
            k += 8
        else:
            value = 0
    k, value = _digits(data, k, b, value)
    digits = k - start
    exponent = 0
    form = 4
    if k == b:
        if digits:
            form = 1 if digits <= 18 else 2
        elif k == a:
            form = 0
    else:
        if data[k] == 46:  # .
            k += 1
            start = k
            k, value = _digits(data, k, b, value)  # (going on from the integer's)
            digits += k - start
            exponent = start - k
        if digits:
            if k < b and (data[k] == 101 or data[k] == 69):  # e E
                k += 1
                negative_power = False
                if k < b and (data[k] == 43 or data[k] == 45):
                    negative_power = data[k] == 45
                    k += 1
                start = k
                power = 0
                while k < b and np.uint64(np.int64(data[k]) - 48) <= np.uint64(9):
                    if power < 100_000:
                        power = power * 10 + np.int64(data[k]) - 48
                    k += 1
                exponent += -power if negative_power else power
                if k > start and k == b:
                    form = 3
            elif k == b:
                form = 3
    if form == 4 and high:  # (the line has a byte of 128 or more: is it here?)
        for j in range(k, b):
            if data[j] >= 128:
                form = 5
                break
    forms[r, i] = form
    if form == 1:
        values[r, i] = -value if negative else value
    if want_real:
        if form == 1:  # (an integer's value as a float: "-0" is 0.0)
            reals[r, i] = float(-value if negative else value)
        elif form == 3:
            real = np.nan
            if digits <= 18 and value <= _TWO_53:
                if value == 0:
                    real = 0.0
                elif 0 <= exponent <= 22:
                    real = float(value) * pow10[exponent]
                elif -22 <= exponent < 0:
                    real = float(value) / pow10[-exponent]
            reals[r, i] = -real if negative else real
        elif form == 2:
            reals[r, i] = np.nan


class ScannedColumn:
    """One header column's cells of some plain lines (`lines` of a `Scan`): the
    `CellReader` answers, from the scan (forms where the scan read them: `FORM`)."""

    def __init__(self, buf: Any, scanned: Scan, column: int, lines: np.ndarray | slice) -> None:
        row = int(scanned.rows[column])
        mode = int(scanned.modes[column])
        self.buf = buf
        self.escapes = scanned.escapes
        self.spans = scanned.spans[row, lines]
        self.lens = scanned.lens[row, lines]
        self._present: np.ndarray | None = None
        self._forms = scanned.forms[row, lines] if mode & FORM else None
        self._values = scanned.values[row, lines]
        self._reals = scanned.reals[row, lines] if mode & REALS else None
        self._numbers: tuple[np.ndarray, np.ndarray] | None = None

    def take(self, rows: np.ndarray) -> ScannedColumn:
        """The cells of `rows` only."""
        out = ScannedColumn.__new__(ScannedColumn)
        out.buf = self.buf
        out.escapes = self.escapes
        for name in ("spans", "lens", "_present", "_forms", "_values", "_reals"):
            value = getattr(self, name)
            setattr(out, name, value if value is None else value[rows])
        out._numbers = None
        return out

    def __len__(self) -> int:
        return len(self.lens)

    @property
    def present(self) -> np.ndarray:
        """Cells that are not empty."""
        if self._present is None:
            self._present = self.lens != 0
        return self._present

    @property
    def forms(self) -> np.ndarray:
        assert self._forms is not None, "a column scanned without its forms"
        return self._forms

    def ints(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII integers of at most 18 digits, and their values (any
        value for the other cells)."""
        return self.forms == INT, self._values

    def ascii(self) -> np.ndarray:
        return self.forms != OTHER_HIGH

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII decimals, and their values (the nearest floats; read by
        Python's `float()` where the scan did not: NaN)."""
        if self._numbers is None:
            ok = (self.forms >= INT) & (self.forms <= NUMBER)
            reals = np.full(len(ok), np.nan) if self._reals is None else self._reals
            reals = np.where(ok, reals, 0.0)
            inexact = np.flatnonzero(np.isnan(reals))
            if len(inexact):
                view = memoryview(self.buf)
                starts, lens = self.spans[inexact].tolist(), self.lens[inexact].tolist()
                reals[inexact] = [float(view[a : a + k]) for a, k in zip(starts, lens, strict=True)]
            self._numbers = ok, reals
        return self._numbers

    def backslashed(self) -> np.ndarray:
        """Cells holding a backslash (none where the scan found none)."""
        if not self.escapes:
            return np.zeros(len(self.lens), np.bool_)
        found = np.flatnonzero(np.frombuffer(self.buf, np.uint8) == 92)
        after = np.minimum(np.searchsorted(found, self.spans), len(found) - 1)
        return (found[after] >= self.spans) & (found[after] < self.spans + self.lens)

    def texts(self, rows: np.ndarray) -> list[str]:
        """The cells of `rows` as text."""
        view = memoryview(self.buf)
        starts, lens = self.spans[rows].tolist(), self.lens[rows].tolist()
        return [str(view[a : a + k], "utf-8") for a, k in zip(starts, lens, strict=True)]


def declared(column: ScannedColumn, kind: str) -> tuple[np.ndarray, Typed | None]:
    """`CellReader.declared` of scanned cells, but for text (`kind` "str": stored by
    the caller, from the spans)."""
    present = column.present
    if kind == "bool":
        ok = present & column.ascii()
        true = np.zeros(len(present), np.bool_)
        rows = np.flatnonzero(ok)
        lowered = [text.lower() for text in column.texts(rows)]
        true[rows] = [text == "true" for text in lowered]
        ok[rows] = [text in ("true", "false") for text in lowered]
        typed = Typed("bool", true, ok)
    elif kind in INTISH:
        ints, values = column.ints()
        typed = Typed("int", values, ints & present)
    elif kind == "float":
        numbers, values = column.numbers()
        typed = Typed("float", values, numbers & present)
    else:
        return np.zeros(len(present), np.bool_), None
    return validated(typed, kind)


def inferred(column: ScannedColumn) -> list[Typed]:
    """`CellReader.inferred` of scanned cells: ints, floats, text ("span": the cells'
    spans, for the caller) and Python values."""
    return inferred_cells(column, ("span", column), column.texts)
