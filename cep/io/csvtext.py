r"""An event's record as reports write it, made straight from its CSV row's bytes.

A CSV row's record holds its non-empty cells by header name, in header order, each
typed as `cep.io.sources.convert_cell` types it for the declared kind of the field in
the row's event type (the type column's cell stays text); a report writes it as
`json.dumps(record, ensure_ascii=False)` does. `csv_record_lines` (numba) writes that
text for rows without quotes (the rows pyarrow splits) where the bytes settle it:

- text cells without a backslash or control character (valid UTF-8, as such rows are);
- `bool` cells `true` / `false` in any case (ASCII), else text;
- cells of any other kind, or undeclared: ASCII integers of up to 18 digits after the
  leading zeros (`+` dropped, `-0` written `0`), decimals already in `repr`'s form
  (`cep.io.recordtext`), text where neither pattern of `infer_cell` can match (an ASCII
  byte no number holds).

A row with a `list` cell, a longer integer, another number form (an exponent, `.5`,
`1.50`) or non-ASCII bytes in a cell that might be a number (`infer_cell`'s `\d`
matches digits of any script) is left to Python.
"""

from __future__ import annotations

import numpy as np

from cep.io.recordtext import _number_end, _plain_text_end, _put, _put2
from cep.jit import njit

#: how a cell is written, by the declared kind of its field (`convert_cell`)
TEXT, BOOL, INFER, PYTHON = 0, 1, 2, 3

_COMMA, _QUOTE, _MINUS, _PLUS, _DOT, _ZERO = 44, 34, 45, 43, 46, 48


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _digits_end(data: np.ndarray, p: int, end: int) -> int:
    while p < end and 48 <= data[p] <= 57:
        p += 1
    return p


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _is_int(data: np.ndarray, a: int, b: int) -> bool:
    """`[-+]?[0-9]+`, the whole cell."""
    if data[a] == _MINUS or data[a] == _PLUS:
        a += 1
    return a < b and _digits_end(data, a, b) == b


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _is_float(data: np.ndarray, a: int, b: int) -> bool:
    r"""`[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?`, the whole cell."""
    p = a
    if data[p] == _MINUS or data[p] == _PLUS:
        p += 1
    whole_end = _digits_end(data, p, b)
    whole = whole_end - p
    p = whole_end
    fraction = 0
    if p < b and data[p] == _DOT:
        fraction_end = _digits_end(data, p + 1, b)
        fraction = fraction_end - p - 1
        p = fraction_end
    if whole == 0 and fraction == 0:
        return False
    if p < b and (data[p] == 101 or data[p] == 69):
        p += 1
        if p < b and (data[p] == _MINUS or data[p] == _PLUS):
            p += 1
        exponent_end = _digits_end(data, p, b)
        if exponent_end == p:
            return False
        p = exponent_end
    return p == b


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _number_like(data: np.ndarray, a: int, b: int) -> bool:
    """Whether every ASCII byte of the cell is one a number can hold (else it is text,
    whatever else it holds)."""
    for p in range(a, b):
        c = data[p]
        if c < 128 and not (48 <= c <= 57 or c in (_PLUS, _MINUS, _DOT, 101, 69)):
            return False
    return True


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_int(out: np.ndarray, q: int, data: np.ndarray, a: int, b: int) -> int:
    """The integer cell `data[a:b]` as Python writes `int` of it; -1 past 18 digits."""
    negative = data[a] == _MINUS
    if data[a] == _MINUS or data[a] == _PLUS:
        a += 1
    while a < b - 1 and data[a] == _ZERO:
        a += 1
    if b - a > 18:
        return -1
    if negative and not (b - a == 1 and data[a] == _ZERO):
        out[q] = _MINUS
        q += 1
    return _put(out, q, data, a, b)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_text(out: np.ndarray, q: int, data: np.ndarray, a: int, b: int) -> int:
    """The cell as a JSON string; -1 where `json` would escape something."""
    if _plain_text_end(data, a, b) != b:
        return -1
    out[q] = _QUOTE
    q = _put(out, q + 1, data, a, b)
    out[q] = _QUOTE
    return q + 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _same_word(data: np.ndarray, a: int, b: int, word: np.ndarray) -> bool:
    """Whether the cell is `word` (lower-case ASCII letters) in any case."""
    if b - a != len(word):
        return False
    for k in range(len(word)):  # noqa: SIM110 - a loop numba compiles
        if data[a + k] | 32 != word[k]:
            return False
    return True


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_value(
    out: np.ndarray, q: int, data: np.ndarray, a: int, b: int, kind: int, words: np.ndarray
) -> int:
    """Cell `data[a:b]` (not empty) as its record writes it; -1 where Python must."""
    if kind == PYTHON:
        return -1
    if kind == BOOL:
        if _same_word(data, a, b, words[:4]):
            return _put(out, q, words, 0, 4)
        if _same_word(data, a, b, words[4:]):
            return _put(out, q, words, 4, 9)
    elif kind == INFER and _number_like(data, a, b):
        for p in range(a, b):
            if data[p] >= 128:
                return -1  # maybe digits of another script, which Python reads as numbers
        if _is_int(data, a, b):
            return _put_int(out, q, data, a, b)
        if _is_float(data, a, b):
            if _number_end(data, a, b) != b:
                return -1  # a float `repr` writes otherwise
            return _put(out, q, data, a, b)
    return _put_text(out, q, data, a, b)


@njit(cache=True, nogil=True, _nrt=False)
def csv_record_lines(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, plans: np.ndarray,
    kinds: np.ndarray, keys: np.ndarray, key_starts: np.ndarray, key_ends: np.ndarray,
    words: np.ndarray, out: np.ndarray, out_starts: np.ndarray, out_ends: np.ndarray,
) -> int:  # fmt: skip
    """The record texts of the quote-free CSV rows `data[starts[i]:ends[i]]` one after
    another in `out`, row i's cells written by `kinds[plans[i], j]` under the JSON key
    `keys[key_starts[j]:key_ends[j]]`; `out_ends[i] == -1` where Python must write it
    (or where `ends[i]` or `plans[i]` is negative). Returns the bytes used."""
    q = np.int64(0)
    n_cells = kinds.shape[1]
    for i in range(len(starts)):
        out_starts[i] = q
        out_ends[i] = -1
        end = ends[i]
        plan = plans[i]
        if end < 0 or plan < 0:
            continue
        p = starts[i]
        w = q
        out[w] = 123
        w += 1
        first = True
        cell_end = p
        for j in range(n_cells):
            cell_end = p
            while cell_end < end and data[cell_end] != _COMMA:
                cell_end += 1
            if cell_end > p:
                if not first:
                    w = _put2(out, w, 44, 32)  # ", "
                first = False
                w = _put(out, w, keys, key_starts[j], key_ends[j])
                w = _put2(out, w, 58, 32)  # ": "
                w = _put_value(out, w, data, p, cell_end, kinds[plan, j], words)
                if w < 0:
                    break
            p = cell_end + 1
        if w < 0 or cell_end != end:
            continue  # (or a cell more or fewer than the header's)
        out[w] = 125
        out_ends[i] = w + 1
        q = w + 1
    return q
