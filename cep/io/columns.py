"""A column's values as readers build them: parts per stretch of rows, typed values.

A reader types a field's values for some rows into a `ColumnPart` (values, which are
valid, and values of another kind than the column's), from Python values (`fast_part`,
`generic_part`) or from vectorized `Typed` values (`put_typed`, pyarrow string arrays
coded into a run's `Dictionary`). `validated` applies the validation rules
(`cep.io.validation.RULES`) to typed values a column at a time, for CSV cells and Arrow
columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import repeat
from operator import is_not
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from cep.io.arrowpool import import_pyarrow
from cep.io.codetake import take_codes
from cep.io.time import MAX_MS, MIN_MS
from cep.io.validation import AS_FLOAT, EPOCH_MS, FINITE, RULES, SAME, TIME, WHOLE, time_ms
from cep.lang.types import Type

if TYPE_CHECKING:
    from cep.io.batch import Dictionary

#: the kinds of columns; a field of any other type gets an `object` column
KINDS = ("int", "float", "bool", "str", "time", "duration", "object")
#: kinds whose values are int64
INTISH = frozenset(("int", "time", "duration"))
_DTYPES: dict[str, Any] = {**dict.fromkeys(INTISH, np.int64), "float": np.float64, "bool": np.bool_}
#: ints below this in magnitude are exact as floats
EXACT_FLOAT = 2.0**53


@dataclass(slots=True, eq=False)
class ColumnPart:
    """A column's values for some rows (before a batch is put together)."""

    values: np.ndarray
    valid: np.ndarray
    other: dict[int, Any] = field(default_factory=dict)

    def put(self, i: int, value: Any, kind: str, dictionary: Dictionary | None) -> None:
        """Row `i`'s (non-null) value: stored where it is of the column's kind (`fit`;
        text as its dictionary code), else kept as it is in `other`."""
        fits, stored = fit(kind, value)
        if fits:
            self.values[i] = dictionary.code(stored) if dictionary is not None else stored
            self.valid[i] = True
        else:
            self.other[i] = value


def rows_by_type(
    codes: np.ndarray, keep: np.ndarray, every: np.ndarray | None = None
) -> list[tuple[int, np.ndarray]]:
    """The type codes of the rows kept (codes >= 0 there), each with the rows of that
    code, in order; every row when there is only one (`every`, where the caller has
    the numbers of every row made: 0 to n - 1)."""
    if not len(codes):
        return []
    lowest, highest = int(codes.min()), int(codes.max())
    if lowest == highest:  # (one type: the usual case)
        if lowest < 0 or not keep.any():
            return []
        found = [lowest]
    else:
        found = np.flatnonzero(np.bincount(codes[keep])).tolist()
    if len(found) == 1:
        return [(found[0], np.arange(len(codes)) if every is None else every)]
    return [(code, np.flatnonzero(codes == code)) for code in found]


def empty_part(kind: str, n: int) -> ColumnPart:
    if kind == "str":
        values = np.full(n, -1, np.int32)
    elif kind == "object":
        values = np.full(n, None, object)
    else:
        values = np.zeros(n, _DTYPES[kind])
    return ColumnPart(values, np.zeros(n, np.bool_))


def fit(kind: str, value: Any) -> tuple[bool, Any]:
    """Whether a (non-null) value is of a column's kind, and the value as stored."""
    cls = value.__class__
    if kind in INTISH:
        return cls is int and MIN_MS <= value <= MAX_MS, value
    if kind == "float":
        if cls is float:
            return True, value
        if cls is int:
            try:
                as_float = float(value)
            except OverflowError:
                return False, value
            return as_float == value, as_float
        return False, value
    if kind == "str":
        return cls is str, value
    if kind == "bool":
        return cls is bool, value
    return True, value


def generic_part(kind: str, values: list[Any], dictionary: Dictionary | None) -> ColumnPart:
    """A part from Python values of any type, one at a time."""
    part = empty_part(kind, len(values))
    for i, value in enumerate(values):
        if value is not None:
            part.put(i, value, kind, dictionary)
    return part


def not_none(values: list[Any]) -> np.ndarray:
    return np.fromiter(map(is_not, values, repeat(None)), np.bool_, len(values))


def fast_part(kind: str, values: list[Any], dictionary: Dictionary | None) -> ColumnPart:
    """A part from Python values known to be of the column's kind (or None); a float
    column may get ints."""
    n = len(values)
    if kind == "str":
        assert dictionary is not None
        codes = dictionary.encode(values, n)
        return ColumnPart(codes, codes >= 0)
    if kind == "float":
        try:
            array = np.fromiter(values, np.float64, n)
        except (OverflowError, TypeError, ValueError):
            return generic_part(kind, values, dictionary)
        part = ColumnPart(array, ~np.isnan(array))
        for i in np.flatnonzero(np.abs(array) >= EXACT_FLOAT).tolist():
            value = values[i]
            if value.__class__ is int and float(value) != value:
                part.valid[i] = False
                part.other[i] = value
        return part
    if kind in INTISH:
        try:
            return ColumnPart(np.fromiter(values, np.int64, n), np.ones(n, np.bool_))
        except TypeError:
            valid = not_none(values)
            objects = np.array(values, dtype=object)
            objects[~valid] = 0
            return ColumnPart(objects.astype(np.int64), valid)
    if kind == "bool":
        return ColumnPart(np.fromiter(values, np.bool_, n), not_none(values))
    array = np.empty(n, object)
    for i, value in enumerate(values):
        array[i] = value
    return ColumnPart(array, not_none(values))


def kind_of(declared: Type | str) -> str:
    kind = declared if isinstance(declared, str) else declared.kind
    return kind if kind in KINDS else "object"


def to_numpy(array: Any) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


class Typed(NamedTuple):
    """Typed values of some cells: `kind` (int, float, bool, str, py), the values (NumPy,
    a pyarrow string array, or a list) and where they are (`mask`)."""

    kind: str
    values: Any
    mask: np.ndarray


_ALL_VALID = np.ones(0, np.bool_)


def all_valid(n: int) -> np.ndarray:
    """n Trues, read only: the mask of a column with no null (made once for batches of
    one size, and known to be all True: `all_true`)."""
    global _ALL_VALID
    mask = _ALL_VALID
    if len(mask) != n:
        mask = np.ones(n, np.bool_)
        mask.flags.writeable = False
        _ALL_VALID = mask
    return mask


def all_true(mask: np.ndarray) -> bool:
    """`mask.all()`, with no pass over the mask `all_valid` gives."""
    return mask is _ALL_VALID or bool(mask.all())


def dictionary_indices(strings: Any) -> tuple[np.ndarray, Any]:
    """A pyarrow string (or dictionary) array as indices into a pyarrow string array."""
    if not arrow_core().types.is_dictionary(strings.type):
        strings = arrow_compute().dictionary_encode(strings)
    indices = strings.indices
    return to_numpy(indices.fill_null(0) if indices.null_count else indices), strings.dictionary


def load_pyarrow() -> Any:
    """pyarrow, with every submodule the readers use loaded (`compute`, `csv`, `ipc`,
    `parquet`)."""
    arrow_core()  # (first: pyarrow loaded with the program's pool)
    import pyarrow.compute
    import pyarrow.csv

    return pyarrow


def arrow_core() -> Any:
    """pyarrow with its Parquet and IPC readers loaded: what the Parquet and Arrow
    readers need to start. `pyarrow.compute` is loaded when first called for
    (`arrow_compute`): its import writes every function's docstring (~20 ms a run)."""
    import_pyarrow()  # (first: pyarrow loaded with the program's pool)
    import pyarrow.ipc
    import pyarrow.parquet

    return pyarrow


def arrow_compute() -> Any:
    """`pyarrow.compute`, loaded when first asked for."""
    import pyarrow.compute

    return pyarrow.compute


def put_typed(
    part: ColumnPart, kind: str, rows: np.ndarray, typed: Typed, dictionary: Dictionary | None
) -> None:
    """Store typed values at `rows[typed.mask]` of a column part of kind `kind` (`rows`
    sorted, no row twice)."""
    mask = typed.mask
    whole = all_true(mask)
    if not len(mask) or not (whole or mask.any()):
        return
    pa = arrow_core()
    values = typed.values
    # every row of the part, in order: stored as a slice, a plain copy
    every = whole and len(rows) == len(part.values)
    where = rows if every else rows[mask]
    at = slice(None) if every else where
    vkind = typed.kind
    if vkind == "py":
        for i, value in zip(
            where.tolist(), [v for v, m in zip(values, mask, strict=True) if m], strict=True
        ):
            part.put(i, value, kind, dictionary)
        return
    if kind == "object" or not (
        vkind == kind or (vkind == "int" and kind in INTISH) or (vkind == "int" and kind == "float")
    ):
        if vkind == "str":
            python = values.filter(pa.array(mask)).to_pylist()
        else:
            python = values[mask].tolist()
        if kind == "object":
            for i, value in zip(where.tolist(), python, strict=True):
                part.values[i] = value
            part.valid[where] = True
        else:
            for i, value in zip(where.tolist(), python, strict=True):
                part.other[i] = value
        return
    if vkind == "str":
        assert dictionary is not None
        chosen = values if whole else values.filter(pa.array(mask))
        _store(part, at, _string_codes(chosen, dictionary))
        return
    chosen = values.copy() if whole else values[mask]
    if vkind == "int" and kind == "float":
        as_float = chosen.astype(np.float64)
        part.values[at] = as_float
        part.valid[at] = True
        for j in np.flatnonzero(np.abs(chosen) >= EXACT_FLOAT).tolist():
            value = int(chosen[j])
            if float(value) != value:
                part.valid[where[j]] = False
                part.other[int(where[j])] = value
        return
    _store(part, at, chosen)


class Parts(dict[str, ColumnPart]):
    """A batch's column parts by field, each made when first asked for: empty, or
    (`put_field`) straight from the values of a group of every row, which would
    replace an empty part whole."""

    def __init__(self, fields: list[tuple[str, str]], n: int) -> None:
        super().__init__()
        self.kinds = dict(fields)
        #: the batch's rows
        self.n = n

    def __missing__(self, name: str) -> ColumnPart:
        part = self[name] = empty_part(self.kinds[name], self.n)
        return part

    def every(self) -> dict[str, ColumnPart]:
        """Every field's part, in the order of the fields."""
        return {name: self[name] for name in self.kinds}


def put_field(
    parts: dict[str, ColumnPart],
    name: str,
    kind: str,
    rows: np.ndarray,
    typed: Typed,
    dictionary: Dictionary | None,
) -> None:
    """`put_typed` into `parts[name]`; a field of `Parts` not yet made whose values
    are every row's, of the column's kind, becomes a part of those values as they are
    (no copy: a reader's own, or read only)."""
    if isinstance(parts, Parts) and name not in parts and len(rows) == parts.n:
        part = _whole_part(kind, typed, dictionary)
        if part is not None:
            parts[name] = part
            return
    put_typed(parts[name], kind, rows, typed, dictionary)


def _whole_part(kind: str, typed: Typed, dictionary: Dictionary | None) -> ColumnPart | None:
    """The part of typed values present in every row, as `put_typed` would fill an empty
    part with them; None where it would not store them all as they are."""
    mask = typed.mask
    if not len(mask) or not all_true(mask):
        return None
    vkind = typed.kind
    if vkind == "str" and kind == "str":
        assert dictionary is not None
        return ColumnPart(_string_codes(typed.values, dictionary), np.ones(len(mask), np.bool_))
    values = typed.values
    same = vkind == kind or (vkind == "int" and kind in INTISH)
    if not same or kind == "object" or values.dtype != _DTYPES[kind]:
        return None
    return ColumnPart(values, np.ones(len(mask), np.bool_))


def _string_codes(strings: Any, dictionary: Dictionary) -> np.ndarray:
    """A run's codes of a pyarrow string (or dictionary) array's strings, none null."""
    if arrow_core().types.is_dictionary(strings.type) or strings.null_count:
        indices, values = dictionary_indices(strings)
        return take_codes(dictionary.arrow_codes(values), indices)
    return dictionary.string_codes(strings)


def _store(part: ColumnPart, at: slice | np.ndarray, values: np.ndarray) -> None:
    """`values` (an array of the caller's own) as a part's values at `at`: as they are
    where they are every value of the part (a slice) and of its type (no copy)."""
    if isinstance(at, slice) and values.dtype == part.values.dtype:
        part.values = values
        part.valid = np.ones(len(values), np.bool_)
        return
    part.values[at] = values
    part.valid[at] = True


# ------------------------------------------------------------------------ validated


def validated(typed: Typed, kind: str) -> tuple[np.ndarray, Typed | None]:
    """Which present values `RULES` accept as `kind`, and their typed values: the rule's
    action on the class of `typed`'s values, done a column at a time as the action's
    function does (where that is sure); the other present values are left to the row
    reader, where validation decides."""
    cls = _CLASSES.get(typed.kind)
    action = RULES.get(kind, {}).get(cls) if cls is not None else None
    vectorized = _VECTORIZED.get(action) if action is not None else None
    if vectorized is None:
        return np.zeros(len(typed.mask), np.bool_), None
    return vectorized(typed)


#: the class of the values of each kind of `Typed` ("py": Python values, of any class)
_CLASSES: dict[str, type] = {"int": int, "float": float, "str": str, "bool": bool}


def _same(typed: Typed) -> tuple[np.ndarray, Typed | None]:
    return typed.mask, typed  # (int64 values are within `EPOCH_MS`'s range too)


def _finite(typed: Typed) -> tuple[np.ndarray, Typed | None]:
    values = typed.values
    # (a NaN makes the least and greatest NaN: two quick passes where all are finite)
    if len(values) and math.isfinite(values.min()) and math.isfinite(values.max()):
        return typed.mask, typed
    ok = typed.mask & np.isfinite(values)
    return ok, Typed("float", values, ok)


def _as_float(typed: Typed) -> tuple[np.ndarray, Typed | None]:
    return typed.mask, Typed("float", typed.values.astype(np.float64), typed.mask)


def _whole(typed: Typed) -> tuple[np.ndarray, Typed | None]:
    """Floats with no fraction within int64 (a time's range too) as ints."""
    values = typed.values
    ok = typed.mask & np.isfinite(values)
    ok[ok] = (np.floor(values[ok]) == values[ok]) & (np.abs(values[ok]) < 2.0**63)
    ints = np.zeros(len(ok), np.int64)
    ints[ok] = values[ok].astype(np.int64)
    return ok, Typed("int", ints, ok)


def _time(typed: Typed) -> tuple[np.ndarray, Typed | None]:
    """Floats as `_whole`; text (ISO-8601) one value at a time, by `time_ms`."""
    if typed.kind == "float":
        return _whole(typed)
    ok = np.zeros(len(typed.mask), np.bool_)
    ts = np.zeros(len(typed.mask), np.int64)
    values = typed.values.to_pylist() if typed.kind == "str" else typed.values
    for i in np.flatnonzero(typed.mask).tolist():
        ms = time_ms(values[i])
        if ms is not None:
            ok[i] = True
            ts[i] = ms
    return ok, Typed("int", ts, ok)


_VECTORIZED = {
    SAME: _same,
    FINITE: _finite,
    AS_FLOAT: _as_float,
    WHOLE: _whole,
    EPOCH_MS: _same,
    TIME: _time,
}
