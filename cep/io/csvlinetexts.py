"""CSV rows' record texts written in one pass over their lines, for plain lines.

A kept CSV row's text in reports is its record as the encoder of reports writes it
(`encode(csv_record(...))`). For most rows that text follows from the line's bytes
alone: a line of printable ASCII with no quote or backslash splits at its commas, a
text cell is written between quotes as it is, an integer cell as its decimal value, and
a decimal cell already in the form the encoder writes its float in as it is. Here those
rows' texts are written straight from the block's buffer (`line_record_texts`), each
column in a mode that its header name and the row's event type give (`TEXT`, `INFER`,
`REFUSE`); a row this cannot write the same (a quoted cell, an escape, a number in
another form, a cell of a declared bool or list) is refused, for the caller to make its
text the general way.
"""

from __future__ import annotations

import numpy as np

from cep.io.celltexts import put_bytes
from cep.jit import njit

#: a column's mode: its cell written as text; read as `infer_cell` reads it; a row with
#: a cell there refused (a declared bool or list: converted)
TEXT, INFER, REFUSE = 0, 1, 2

#: the most digits of an integer cell written here (a longer one: refused)
_INT_DIGITS = 18
#: the most significant digits of a decimal cell written as it is: any two decimals of
#: at most 15 digits are different floats, so such a decimal is its float's shortest text
_FLOAT_DIGITS = 15
#: the most digits before the point of a decimal cell written as it is (below 1e16,
#: where the encoder turns to exponents)
_FLOAT_INT_DIGITS = 16
#: the most zeros after the point of a decimal cell below 1 written as it is (at least
#: 1e-4 in magnitude)
_FLOAT_ZEROS = 3

#: what a line's byte is: plain (printable ASCII but `"` and `\`), a comma, another
#: (a row holding one is refused)
_PLAIN, _COMMA, _ODD = 0, 1, 2
_BYTE_KINDS = np.full(256, _ODD, np.uint8)
_BYTE_KINDS[32:127] = _PLAIN
_BYTE_KINDS[[34, 92]] = _ODD  # " \
_BYTE_KINDS[44] = _COMMA

#: what `_cell_form` finds a cell to be
_TEXT_CELL, _INT_CELL, _FLOAT_CELL, _OTHER_NUMBER = 0, 1, 2, 3


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _is_digit(b: int) -> bool:
    return 48 <= b <= 57


@njit(cache=True, nogil=True, _nrt=False)
def _cell_form(buf: np.ndarray, a: int, b: int) -> int:
    """What the non-empty cell `buf[a:b]` (printable ASCII) reads as for `infer_cell`:
    text (not a number); an integer (`[-+]?\\d+`) of at most `_INT_DIGITS` digits; a
    decimal (`[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?`) whose float the encoder writes
    as the cell's own text (`-?(0|[1-9]\\d*)\\.\\d+`, no trailing zero but in `X.0`, at
    most `_FLOAT_DIGITS` significant digits, below 1e16, not below 1e-4 unless zero); or
    another number."""
    p = a
    sign = buf[p]
    if sign == 43 or sign == 45:  # + -
        p += 1
    int_start = p
    while p < b and _is_digit(buf[p]):
        p += 1
    int_digits = p - int_start
    if p == b:
        if int_digits == 0:
            return _TEXT_CELL  # (a sign alone)
        return _INT_CELL if int_digits <= _INT_DIGITS else _OTHER_NUMBER
    frac_start = frac_end = p
    if buf[p] == 46:  # .
        p += 1
        frac_start = p
        while p < b and _is_digit(buf[p]):
            p += 1
        frac_end = p
    frac_digits = frac_end - frac_start
    if int_digits == 0 and frac_digits == 0:
        return _TEXT_CELL
    if p < b:
        if buf[p] != 69 and buf[p] != 101:  # E e
            return _TEXT_CELL
        p += 1
        if p < b and (buf[p] == 43 or buf[p] == 45):
            p += 1
        exp_start = p
        while p < b and _is_digit(buf[p]):
            p += 1
        if p != b or p == exp_start:
            return _TEXT_CELL
        return _OTHER_NUMBER  # (an exponent)
    # a decimal with a point: written as it is when already the encoder's text
    if sign == 43 or int_digits == 0 or frac_digits == 0:
        return _OTHER_NUMBER
    if buf[int_start] == 48 and int_digits > 1:  # (a leading zero)
        return _OTHER_NUMBER
    if buf[frac_end - 1] == 48 and frac_digits > 1:  # (a trailing zero)
        return _OTHER_NUMBER
    if int_digits > _FLOAT_INT_DIGITS:
        return _OTHER_NUMBER
    # significant digits: those from the first non-zero to the last non-zero
    first = -1
    last = -1
    count = 0
    for q in range(int_start, frac_end):
        d = buf[q]
        if d == 46:
            continue
        if d != 48:
            if first < 0:
                first = count
            last = count
        count += 1
    if first < 0:
        return _FLOAT_CELL  # (zero: 0.0, -0.0)
    if last - first + 1 > _FLOAT_DIGITS:
        return _OTHER_NUMBER
    if buf[int_start] == 48 and first - 1 > _FLOAT_ZEROS:  # (below 1e-4)
        return _OTHER_NUMBER
    return _FLOAT_CELL


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_int(out: np.ndarray, q: int, buf: np.ndarray, a: int, b: int) -> int:
    """The integer cell `buf[a:b]` (`[-+]?\\d+`) as JSON writes its value: no `+`, no
    leading zero, no sign on zero."""
    negative = buf[a] == 45
    if buf[a] == 43 or negative:
        a += 1
    while a < b - 1 and buf[a] == 48:
        a += 1
    if negative and not (b - a == 1 and buf[a] == 48):
        out[q] = 45
        q += 1
    return put_bytes(out, q, buf, a, b)


@njit(cache=True, nogil=True, _nrt=False)
def _row_modes(
    buf: np.ndarray,
    a: int,
    b: int,
    names: np.ndarray,
    name_ends: np.ndarray,
    name_modes: np.ndarray,
    unknown_modes: int,
) -> int:
    """The modes (a row of the mode table) of an event type named `buf[a:b]`."""
    n = b - a
    for k in range(len(name_ends)):
        start = name_ends[k - 1] if k else 0
        if name_ends[k] - start != n:
            continue
        same = True
        for i in range(n):
            if names[start + i] != buf[a + i]:
                same = False
                break
        if same:
            return name_modes[k]
    return unknown_modes


@njit(cache=True, nogil=True)
def line_record_texts(  # type: ignore[no-untyped-def]
    buf,
    starts,
    ends,
    modes,
    type_column,
    names,
    name_ends,
    name_modes,
    default_modes,
    unknown_modes,
    keys,
    key_ends,
):
    """The record texts of the rows whose lines are `buf[starts[j]:ends[j]]`, as one
    buffer and each row's start and end in it; end -1 for a row refused (not a plain
    line of as many cells as there are columns, a cell that is not printable ASCII or
    holds `"` or `\\`, a number not written as the encoder writes it, a cell in a
    `REFUSE` column).

    Column c's cell is written in mode `modes[m, c]`, where m is the row's mode row: by
    its event type's name, the cell in `type_column` (-1: none), `name_modes[k]` for the
    k-th of `names` (up to `name_ends[k]`), `unknown_modes` for another name,
    `default_modes` where the cell is empty or there is no type column. A present cell
    comes behind its key text (`"name":`, `keys` up to `key_ends[c]`)."""
    columns = modes.shape[1]
    n = len(starts)
    keys_size = key_ends[columns - 1] if columns else 0
    size = n * (2 + 3 * columns + keys_size)
    for j in range(n):
        size += ends[j] - starts[j]
    out = np.empty(size, np.uint8)
    out_starts = np.empty(n, np.int64)
    out_ends = np.empty(n, np.int64)
    cell_starts = np.empty(columns, np.int64)
    cell_ends = np.empty(columns, np.int64)
    q = 0
    for j in range(n):
        out_starts[j] = q
        out_ends[j] = -1
        a, b = starts[j], ends[j]
        # the cells' bounds, and a check that every other byte is plain
        cell = 0
        cell_starts[0] = a
        plain = True
        for p in range(a, b):
            kind = _BYTE_KINDS[buf[p]]
            if kind:
                if kind == _ODD:
                    plain = False
                    break
                cell_ends[cell] = p
                cell += 1
                if cell == columns:
                    plain = False
                    break
                cell_starts[cell] = p + 1
        if not plain or cell != columns - 1:
            continue
        cell_ends[cell] = b
        m = default_modes
        if type_column >= 0:
            ta, tb = cell_starts[type_column], cell_ends[type_column]
            if tb > ta:
                m = _row_modes(buf, ta, tb, names, name_ends, name_modes, unknown_modes)
        r = q
        out[r] = 123  # {
        r += 1
        first = True
        for c in range(columns):
            ca, cb = cell_starts[c], cell_ends[c]
            if ca == cb:
                continue
            mode = modes[m, c]
            form = _TEXT_CELL
            if mode == REFUSE:
                plain = False
                break
            if mode == INFER:
                form = _cell_form(buf, ca, cb)
                if form == _OTHER_NUMBER:
                    plain = False
                    break
            if not first:
                out[r] = 44  # ,
                r += 1
            first = False
            r = put_bytes(out, r, keys, key_ends[c - 1] if c else 0, key_ends[c])
            if form == _INT_CELL:
                r = _put_int(out, r, buf, ca, cb)
            elif form == _FLOAT_CELL:
                r = put_bytes(out, r, buf, ca, cb)
            else:
                out[r] = 34
                r = put_bytes(out, r + 1, buf, ca, cb)
                out[r] = 34
                r += 1
        if not plain:
            continue
        out[r] = 125  # }
        q = r + 1
        out_ends[j] = q
    return out[:q], out_starts, out_ends
