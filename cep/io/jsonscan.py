"""A numba scanner for JSON lines: the tokens of the fields a reader wants, no objects.

`line` reads a line of a block as one JSON object (`cep.io.jsonlayout.scan_lines` reads
most lines by the layout of one read before). For each wanted key (`Keys`) it records
the value's token kind and payload: an integer literal's value, a float
literal's value, a string's byte span (for the type key: which of the known type names it
is), NESTED for an array or object (checked and skipped, as are the values of other keys).
Float literals that one correctly rounded operation does not give are read by Python's
`float()`, strings holding escapes by `json`, once per distinct string (`cep.io.interning`).

A line the scanner is not sure of is marked not good, and read the usual way (msgspec,
then the row reader): bad JSON (and NaN or Infinity, which Python's json reads), nesting
deeper than the readers' limit (`cep.io.validation.MAX_DEPTH`: 64 levels, the line's object
being the first), a wanted key written with escapes or given twice, a type name
written with escapes. Whether a good line's tokens fit its event type's fields is decided
as it is scanned (`fits`; `cep.io.scanplan.ScanPlan` sets the checks: `Keys.check`): an
integer of 19 or more digits, a float beyond float64, a nested value where a scalar is wanted,
and any value of another type than the field's send the line the usual way too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.jit import njit

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from cep.io.interning import Interner

# token kinds
ABSENT = 0
NULL = 1
INT = 2
FLOAT = 3
STR = 4
TRUE = 5
FALSE = 6
OTHER = 7  # an integer of 19 or more digits (or a float no float64 holds, once converted)
DECIMAL = 8  # a float literal the scanner did not convert: its span, for Python's float()
NESTED = 9  # an array or an object
#: the levels a value of the line's object may open: `MAX_DEPTH` less the object's own
#: level (a literal, as numba freezes it into machine code; a test holds them equal).
#: Deeper values: the line is read the usual way, which rejects it
_MAX_NESTING = 63

_TWO_53 = 2**53
_POW10 = np.array([10.0**i for i in range(23)], np.float64)  # exact as float64
_TRUE = np.frombuffer(b"true", np.uint8)
_FALSE = np.frombuffer(b"false", np.uint8)
_NULL = np.frombuffer(b"null", np.uint8)
_ESCAPED = np.zeros(256, np.bool_)  # the characters `\` escapes, but `u`
_ESCAPED[list(b'"\\/bfnrt')] = True


class Keys:
    """The wanted keys of a scan (UTF-8, no escapes) and the names the type key may hold."""

    def __init__(self, names: list[str], type_key: int, tags: list[str]) -> None:
        self.names = names
        self.type_key = type_key
        self.blob, self.offsets = _pack([name.encode() for name in names])
        self.tag_blob, self.tag_offsets = _pack([tag.encode() for tag in tags])
        #: checks of a good line's tokens (`ScanPlan`): none unless `check` is set
        self.checked = False
        self.by_tag = False
        self.masks = np.zeros((1, len(names)), np.int64)
        self.exact_floats = np.zeros(len(names), np.bool_)

    def check(self, by_tag: bool, masks: np.ndarray, exact_floats: np.ndarray) -> None:
        """Lines are good only if their tokens fit: the type key holds one of the tags
        (`by_tag`; else it may also be absent or null, and the type is the first),
        then each key's token kind is a bit of `masks[type, key]` (-1: any), and an
        integer for a key of `exact_floats` is one a float64 holds exactly."""
        self.checked = True
        self.by_tag = by_tag
        self.masks = masks
        self.exact_floats = exact_floats


def _pack(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(items) + 1, np.int64)
    offsets[1:] = np.cumsum([len(item) for item in items])
    blob = np.frombuffer(b"".join(items) or b"\0", np.uint8).copy()
    return blob, offsets


class Scanned:
    """Tokens of the scanned lines: an array per key (rows) holding a value per line."""

    __slots__ = ("entries", "good", "ints", "kinds", "lens", "reals")

    def __init__(self, keys: int, n: int, texts: int = 0) -> None:
        self.good = np.empty(n, np.bool_)
        self.kinds = np.empty((keys, n), np.int8)  # a token kind, set for every line
        self.ints = np.empty((keys, n), np.int64)  # INT value, STR start, type key: tag index
        self.reals = np.empty((keys, n), np.float64)  # FLOAT value
        self.lens = np.empty((keys, n), np.int64)  # STR length in bytes
        #: a good line's STR of each text key (`scan`'s `texts`): its `Interner` entry
        #: where the table had it, else -1
        self.entries = np.empty((texts, n), np.int64)

    def first(self, n: int) -> Scanned:
        """The first `n` lines' tokens (views)."""
        view = Scanned.__new__(Scanned)
        view.good = self.good[:n]
        for name in ("kinds", "ints", "reals", "lens", "entries"):
            setattr(view, name, getattr(self, name)[:, :n])
        return view


def scan(
    buf: Any,
    starts: np.ndarray,
    ends: np.ndarray,
    keys: Keys,
    scratch: Scanned | None = None,
    texts: tuple[np.ndarray, Interner] | None = None,
) -> Scanned:
    """Scan lines `starts[i]:ends[i]` of `buf` (bytes without their line endings), into
    `scratch` if it has room (what an earlier scan into it returned is then gone).
    `texts`: keys whose strings are looked up in an `Interner` (the key of each of its
    columns, in order), for `Scanned.entries`."""
    from cep.io.jsonlayout import layout_marks, scan_lines  # (it reads lines with `line`)

    data = np.frombuffer(buf, np.uint8)
    n = len(starts)
    text_keys, tables = (texts[0], texts[1].tables()) if texts is not None else _no_texts()
    out = scratch
    if out is None or len(out.good) < n or len(out.entries) != len(text_keys):
        out = Scanned(len(keys.names), n, len(text_keys))

    decimals = []

    def part(lo: int, hi: int) -> None:
        decimals.append(
            scan_lines(
                data, starts, ends, lo, hi, keys.blob, keys.offsets, keys.type_key,
                keys.tag_blob, keys.tag_offsets,
                out.good, out.kinds, out.ints, out.reals, out.lens, _POW10,
                keys.checked, keys.by_tag, keys.masks, keys.exact_floats,
                layout_marks(), layout_marks(), text_keys, out.entries, *tables,
            )
        )  # fmt: skip

    in_parallel(part, n)
    scanned = out.first(n)
    if sum(decimals):  # (only good lines' tokens are used)
        _convert_decimals(buf, scanned, keys)
    return scanned


@functools.cache
def _no_texts() -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """No text keys, and a table (never looked at) for `scan_lines`' arguments."""
    ints = np.zeros(1, np.int64)
    return np.zeros(0, np.int64), (np.full((1, 2), -1, np.int64), ints, ints, ints,
                                   np.zeros(1, np.uint8))  # fmt: skip


_THREADS = min(os.cpu_count() or 1, 4)
#: rows: fewer are scanned (or interned) in one piece, on the calling thread
PARALLEL_FROM = 4096


def in_parallel(part: Callable[[int, int], None], n: int) -> None:
    """`part(lo, hi)` over pieces of range(n), on threads (numba's code here drops the GIL)."""
    if n < PARALLEL_FROM or _THREADS == 1:
        if n:
            part(0, n)
        return
    bounds = np.linspace(0, n, _THREADS + 1).astype(np.int64).tolist()
    in_parallel_each(lambda j: part(bounds[j], bounds[j + 1]), _THREADS, n)


def in_parallel_each(job: Callable[[int], None], jobs: int, rows: int) -> None:
    """`job(j)` for j in range(jobs), on threads if there are `rows` enough to pay."""
    if jobs < 2 or rows < PARALLEL_FROM or _THREADS == 1:
        for j in range(jobs):
            job(j)
        return
    from concurrent.futures import wait

    # (the calling thread takes the first job: one thread fewer to wake and wait for)
    futures = [_threads().submit(job, j) for j in range(1, jobs)]
    try:
        job(0)
    finally:
        wait(futures)
    for future in futures:
        future.result()


@functools.cache
def _threads() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # (and `logging`: when first needed)

    return ThreadPoolExecutor(_THREADS, thread_name_prefix="cep-scan")


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _space(c: int) -> bool:
    return c == 32 or c == 9 or c == 13 or c == 10


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _skip(data: np.ndarray, p: int, end: int) -> int:
    while p < end and _space(data[p]):
        p += 1
    return p


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _same(data: np.ndarray, a: int, n: int, blob: np.ndarray, b: int, m: int) -> bool:
    if n != m:
        return False
    for k in range(n):  # noqa: SIM110 - a loop numba compiles
        if data[a + k] != blob[b + k]:
            return False
    return True


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _find(data: np.ndarray, a: int, n: int, blob: np.ndarray, offsets: np.ndarray) -> int:
    for k in range(len(offsets) - 1):
        if _same(data, a, n, blob, offsets[k], offsets[k + 1] - offsets[k]):
            return k
    return -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _literal(data: np.ndarray, p: int, end: int, word: np.ndarray) -> int:
    """The position after `word` at `p`, or -1."""
    n = len(word)
    if p + n > end:
        return -1
    for k in range(n):
        if data[p + k] != word[k]:
            return -1
    return p + n


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _keyword_end(data: np.ndarray, p: int, end: int) -> int:
    """The position after the `true`, `false` or `null` at `p` (whose first byte is t, f
    or n), or -1."""
    c = data[p]
    if c == 116:
        return _literal(data, p, end, _TRUE)
    if c == 102:
        return _literal(data, p, end, _FALSE)
    return _literal(data, p, end, _NULL)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _hex(c: int) -> bool:
    return (48 <= c <= 57) or (65 <= c <= 70) or (97 <= c <= 102)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _string_end(data: np.ndarray, p: int, end: int, plain: bool) -> int:
    """The position of the closing quote of the string whose first byte is at `p` (after
    its opening quote); -1 if it is not a valid JSON string, or if `plain` and it holds an
    escape."""
    while p < end:
        c = data[p]
        if c == 34:
            return p
        if c < 32:
            return -1
        if c == 92:
            if plain or p + 1 >= end:
                return -1
            e = data[p + 1]
            if e == 117:
                if p + 5 >= end:
                    return -1
                for k in range(2, 6):
                    if not _hex(data[p + k]):
                        return -1
                p += 6
                continue
            if not _ESCAPED[e]:
                return -1
            p += 2
            continue
        p += 1
    return -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _number(
    data: np.ndarray, p: int, end: int, pow10: np.ndarray, key: int, row: int,
    kinds: np.ndarray, ints: np.ndarray, reals: np.ndarray, lens: np.ndarray,
) -> int:  # fmt: skip
    """Parse a JSON number at `p` (storing it for `key` if it is wanted); the position
    after it, or -1 if it is not a JSON number."""
    start = p
    negative = data[p] == 45
    if negative:
        p += 1
    if p >= end or not 48 <= data[p] <= 57:
        return -1
    value = 0  # the digits read so far, while there are at most 18 significant ones
    significant = 0  # digits from the first non-zero one on
    digits = 0  # digits of the integer part
    if data[p] == 48:
        p += 1
        digits = 1
        if p < end and 48 <= data[p] <= 57:
            return -1
    else:
        while p < end and 48 <= data[p] <= 57:
            if significant < 18:
                value = value * 10 + (data[p] - 48)
            significant += 1
            p += 1
        digits = significant
    integral = True
    exponent = 0
    if p < end and data[p] == 46:
        integral = False
        p += 1
        if p >= end or not 48 <= data[p] <= 57:
            return -1
        while p < end and 48 <= data[p] <= 57:
            d = data[p] - 48
            if significant < 18:
                value = value * 10 + d
                exponent -= 1
                if value:
                    significant += 1
            else:
                significant += 1
            p += 1
    if p < end and (data[p] == 101 or data[p] == 69):
        integral = False
        p += 1
        sign = 1
        if p < end and (data[p] == 43 or data[p] == 45):
            sign = -1 if data[p] == 45 else 1
            p += 1
        if p >= end or not 48 <= data[p] <= 57:
            return -1
        power = 0
        while p < end and 48 <= data[p] <= 57:
            if power < 100_000:
                power = power * 10 + (data[p] - 48)
            p += 1
        exponent += sign * power
    if key < 0:
        return p
    if integral:
        if digits <= 18:
            kinds[key, row] = INT
            ints[key, row] = -value if negative else value
        else:
            kinds[key, row] = OTHER
        return p
    exact = significant <= 18 and value <= _TWO_53
    if exact and value == 0:
        real = 0.0
    elif exact and 0 <= exponent <= 22:
        real = float(value) * pow10[exponent]
    elif exact and -22 <= exponent < 0:
        real = float(value) / pow10[-exponent]
    else:
        kinds[key, row] = DECIMAL
        ints[key, row] = start
        lens[key, row] = p - start
        return p
    kinds[key, row] = FLOAT
    reals[key, row] = -real if negative else real
    return p


@njit(cache=True, nogil=True, _nrt=False)
def _nested(
    data: np.ndarray, p: int, end: int, pow10: np.ndarray,
    kinds: np.ndarray, ints: np.ndarray, reals: np.ndarray, lens: np.ndarray,
) -> int:  # fmt: skip
    """The position after the array or object at `p`, or -1 if it is not valid JSON (or
    nests deeper than `_MAX_NESTING`). `objects` has a bit per open level: 1 an object."""
    objects = np.uint64(0)
    depth = 0
    while True:  # p is at a value
        c = data[p]
        if c == 91 or c == 123:
            if depth == _MAX_NESTING:
                return -1
            is_object = c == 123
            objects = (objects << np.uint64(1)) | np.uint64(1 if is_object else 0)
            depth += 1
            p = _skip(data, p + 1, end)
            if p >= end:
                return -1
            if data[p] == (125 if is_object else 93):
                p += 1
                depth -= 1
                objects = objects >> np.uint64(1)
            elif is_object:
                p = _member_key(data, p, end)
                if p < 0:
                    return -1
                continue
            else:
                continue
        elif c == 34:
            close = _string_end(data, p + 1, end, False)
            if close < 0:
                return -1
            p = close + 1
        elif c == 116 or c == 102 or c == 110:
            p = _keyword_end(data, p, end)
        elif c == 45 or 48 <= c <= 57:
            p = _number(data, p, end, pow10, -1, 0, kinds, ints, reals, lens)
        else:
            return -1
        # after a value: close levels, or go on to the next element
        while True:
            if p < 0:
                return -1
            if depth == 0:
                return p
            p = _skip(data, p, end)
            if p >= end:
                return -1
            in_object = (objects & np.uint64(1)) == np.uint64(1)
            if data[p] == 44:
                p = _skip(data, p + 1, end)
                if in_object:
                    p = _member_key(data, p, end)
                if p < 0 or p >= end:
                    return -1
                break
            if data[p] == (125 if in_object else 93):
                p += 1
                depth -= 1
                objects = objects >> np.uint64(1)
                continue
            return -1


@njit(cache=True, nogil=True, _nrt=False)
def _member_key(data: np.ndarray, p: int, end: int) -> int:
    """The position of the value after an object's `"key":` at `p`, or -1."""
    if p >= end or data[p] != 34:
        return -1
    close = _string_end(data, p + 1, end, False)
    if close < 0:
        return -1
    p = _skip(data, close + 1, end)
    if p >= end or data[p] != 58:
        return -1
    p = _skip(data, p + 1, end)
    return p if p < end else -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def value(
    data: np.ndarray, p: int, end: int, row: int, key: int, type_key: int,
    tag_blob: np.ndarray, tag_offsets: np.ndarray,
    kinds: np.ndarray, ints: np.ndarray, reals: np.ndarray, lens: np.ndarray,
    pow10: np.ndarray,
) -> int:  # fmt: skip
    """Read the member value at `p` (`p` < `end`), storing its token for `key` if it is
    wanted (>= 0); the position after it, or -1 if it is not one the scanner takes."""
    c = data[p]
    if c == 34:
        close = _string_end(data, p + 1, end, key == type_key)
        if close < 0:
            return -1
        if key >= 0:
            kinds[key, row] = STR
            if key == type_key:
                ints[key, row] = _find(data, p + 1, close - p - 1, tag_blob, tag_offsets)
            else:
                ints[key, row] = p + 1
                lens[key, row] = close - p - 1
        return close + 1
    if c == 116 or c == 102 or c == 110:
        if key >= 0:
            kinds[key, row] = TRUE if c == 116 else FALSE if c == 102 else NULL
        return _keyword_end(data, p, end)
    if c == 45 or 48 <= c <= 57:
        return _number(data, p, end, pow10, key, row, kinds, ints, reals, lens)
    if c == 91 or c == 123:
        if key >= 0:
            kinds[key, row] = NESTED
        return _nested(data, p, end, pow10, kinds, ints, reals, lens)
    return -1  # not JSON (or NaN, Infinity: Python's json reads those)


@njit(cache=True, nogil=True, _nrt=False)
def line(
    data: np.ndarray, p: int, end: int, row: int, blob: np.ndarray, offsets: np.ndarray,
    type_key: int, tag_blob: np.ndarray, tag_offsets: np.ndarray,
    kinds: np.ndarray, ints: np.ndarray, reals: np.ndarray, lens: np.ndarray,
    pow10: np.ndarray, marks: np.ndarray,
) -> int:  # fmt: skip
    """Read the line `p:end`: the number of members of its object if it is good, else -1.
    Of the first `marks.shape[1]` members, `marks` gets where each value starts and ends
    and its wanted key's number (-1: not wanted): the line's layout."""
    for key in range(kinds.shape[0]):
        kinds[key, row] = ABSENT
    p = _skip(data, p, end)
    if p >= end or data[p] != 123:
        return -1
    p = _skip(data, p + 1, end)
    if p < end and data[p] == 125:
        return 0 if _skip(data, p + 1, end) == end else -1
    room = marks.shape[1]
    members = 0
    while True:
        if p >= end or data[p] != 34:
            return -1
        close = _string_end(data, p + 1, end, True)
        if close < 0:
            return -1
        key = _find(data, p + 1, close - p - 1, blob, offsets)
        if key >= 0 and kinds[key, row] != ABSENT:
            return -1  # a wanted key given twice
        p = _skip(data, close + 1, end)
        if p >= end or data[p] != 58:
            return -1
        p = _skip(data, p + 1, end)
        if p >= end:
            return -1
        start = p
        p = value(
            data, p, end, row, key, type_key, tag_blob, tag_offsets, kinds, ints, reals,
            lens, pow10,
        )  # fmt: skip
        if p < 0:
            return -1
        if members < room:
            marks[0, members] = start
            marks[1, members] = p
            marks[2, members] = key
        members += 1
        p = _skip(data, p, end)
        if p >= end:
            return -1
        if data[p] == 44:
            p = _skip(data, p + 1, end)
            continue
        if data[p] == 125:
            return members if _skip(data, p + 1, end) == end else -1
        return -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def fits(
    row: int, type_key: int, by_tag: bool, masks: np.ndarray, exact_floats: np.ndarray,
    kinds: np.ndarray, ints: np.ndarray,
) -> bool:  # fmt: skip
    type_kind = kinds[type_key, row]
    tag = ints[type_key, row] if type_kind == STR else -1
    if by_tag:
        if tag < 0:
            return False
        which = tag
    else:
        if type_kind > NULL and tag < 0:
            return False
        which = 0
    for key in range(kinds.shape[0]):
        kind = kinds[key, row]
        if kind == DECIMAL:  # a float (`_convert_decimals` says where it is not)
            kind = FLOAT
        mask = masks[which, key]
        if mask >= 0 and (mask >> kind) & 1 == 0:
            return False
        if exact_floats[key] and kind == INT and abs(ints[key, row]) > _TWO_53:
            return False
    return True


def _convert_decimals(buf: Any, s: Scanned, checks: Keys) -> None:
    """Float literals the scanner left as text, read by Python's float() (FLOAT, or OTHER
    where no finite float64 holds them: a line `checks` took as fitting is then not good
    if that key's kind is checked)."""
    keys, rows = np.nonzero(s.kinds == DECIMAL)
    if not len(keys):
        return
    view = memoryview(buf)
    starts = s.ints[keys, rows].tolist()
    ends = (s.ints[keys, rows] + s.lens[keys, rows]).tolist()
    reals = np.array([float(view[a:b]) for a, b in zip(starts, ends, strict=True)], np.float64)
    s.reals[keys, rows] = reals
    finite = np.isfinite(reals)
    s.kinds[keys, rows] = np.where(finite, FLOAT, OTHER)
    if checks.checked:  # the scanner took them for floats (`fits`): not so where OTHER
        for key, row in zip(keys[~finite].tolist(), rows[~finite].tolist(), strict=True):
            if s.good[row]:
                which = int(s.ints[checks.type_key, row]) if checks.by_tag else 0
                if checks.masks[which, key] >= 0:
                    s.good[row] = False
