"""Parquet and Arrow IPC record batches into batches: vectorized checks, the row reader
for the rest.

A row is the record of its non-null cells (timestamps as epoch ms), treated as a JSON
object would be; its text is that record as JSON, made when asked for (`RowTexts`).

Nesting: a row is level 1 and each list, struct or map level of a column one more, as in
its JSON text. Arrow IPC holds no type nested more than 63 levels (pyarrow refuses to
write or read one) and Parquet fewer, so files never reach `MAX_DEPTH`; a batch whose
column types could (made in memory) has its rows looked at, and a row nested deeper than
`MAX_DEPTH` is rejected with the reason `nested deeper than 64 levels` (`TOO_DEEP`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.io.arrowtexts import DictionaryTexts, row_record_texts
from cep.io.batch import Batch, LineTexts, TextPieces
from cep.io.batchreader import BatchReader, FastRows
from cep.io.celltexts import bool_texts, float_texts, int_texts, string_texts
from cep.io.codetake import take_codes
from cep.io.columnpass import int_bounds
from cep.io.columns import (
    ColumnPart,
    Parts,
    Typed,
    all_true,
    all_valid,
    arrow_compute,
    arrow_core,
    dictionary_indices,
    rows_by_type,
    to_numpy,
    validated,
)
from cep.io.sources import Reject, SourceEvent
from cep.io.time import MAX_MS, MIN_MS, TIME_UNITS, TIME_WINDOW, ints_to_ms, window_mask
from cep.io.validation import MAX_DEPTH, TOO_DEEP, too_deep_value
from cep.runtime.match import encode

if TYPE_CHECKING:
    import pyarrow as pa


class RowTexts(LineTexts):
    """Event texts of Arrow rows: the record of a row as JSON, made when asked for."""

    __slots__ = ("batch", "dictionaries", "exact", "record_of")

    def __init__(
        self,
        batch: pa.RecordBatch,
        rows: np.ndarray,
        given: dict[int, str],
        dictionaries: DictionaryTexts | None = None,
    ):
        super().__init__(b"", rows, rows, given)
        self.batch = batch
        #: the texts of string dictionaries' values, shared by a reader's batches
        self.dictionaries = dictionaries
        #: whether every column's values go through JSON text unchanged
        self.exact = all(_json_exact(field.type) for field in batch.schema)
        self.record_of = exact_arrow_record_of if self.exact else arrow_record_of

    def get(self, i: int) -> str:
        text = self.given.get(i)
        if text is None:
            record = arrow_records(self.batch, [int(self.starts[i])])[0]
            text = record_text(record)
        return text

    def record_texts(self, indexes: np.ndarray) -> TextPieces | None:
        """The texts of some events as reports write them, made from the batch's
        buffers (`arrow_record_texts`); None where a row was read as text or a column's
        values do not go through JSON unchanged (then record by record)."""
        given = self.given
        if not self.exact or (given and any(i in given for i in indexes.tolist())):
            return None
        return arrow_record_texts(self.batch, self.starts[indexes], self.dictionaries)

    def kept(self, indexes: list[int]) -> list[Any]:
        """Records of rows (no JSON text made); texts for rows read as text."""
        missing = [i for i in indexes if i not in self.given]
        records = arrow_records(self.batch, [int(self.starts[i]) for i in missing])
        made = dict(zip(missing, records, strict=True))
        return [self.given[i] if i in self.given else made[i] for i in indexes]


def _json_exact(kind: Any) -> bool:
    """Whether an Arrow type's values (as `arrow_records` gives them) are JSON's."""
    types = arrow_core().types
    if types.is_dictionary(kind):
        kind = kind.value_type
    return (
        types.is_string(kind)
        or types.is_large_string(kind)
        or types.is_integer(kind)
        or types.is_float64(kind)
        or types.is_boolean(kind)
        or types.is_timestamp(kind)
    )


def record_text(record: dict[str, Any]) -> str:
    """A record as JSON text: the encoder of reports (`cep.runtime.match.encode`)."""
    return encode(record).decode()


_JSON_EXACT = frozenset((str, int, float, bool))


def exact_arrow_record_of(kept: str | dict[str, Any]) -> dict[str, Any]:
    """`arrow_record_of` for rows whose columns all hold JSON's types (`_json_exact`)."""
    if type(kept) is str:
        return json.loads(kept)
    return kept


def arrow_record_of(kept: str | dict[str, Any]) -> dict[str, Any]:
    """The record an Arrow row's text would give (`RowTexts.kept`), made without the
    text when every value goes through JSON unchanged."""
    if type(kept) is str:
        return json.loads(kept)
    assert isinstance(kept, dict)
    if {*map(type, kept.values())} <= _JSON_EXACT:
        return kept
    return json.loads(record_text(kept))


# ------------------------------------------------------------------------------ columns


def _in_unit(typed: Typed, unit: str) -> Typed:
    """Numeric event times read in `unit` (`--time-unit`), as epoch ms (floored); other
    values as they are (the row reader gives their reason)."""
    if typed.kind == "int":
        return Typed("int", ints_to_ms(typed.values, unit), typed.mask)
    if typed.kind != "float":
        return typed
    multiply, divide = TIME_UNITS[unit]
    scaled = typed.values * (multiply / divide)
    fits = np.isfinite(scaled) & (np.abs(scaled) < 2.0**62)
    ms = np.floor(np.where(fits, scaled, 0.0)).astype(np.int64)
    return Typed("int", np.where(fits, ms, MIN_MS), typed.mask)


def arrow_values(column: Any) -> Typed:
    """An Arrow array as typed values: int (timestamps as epoch ms), float, bool, str or
    py (Python values), masked where not null."""
    pa = arrow_core()
    types = pa.types
    kind = column.type
    mask = all_valid(len(column)) if not column.null_count else to_numpy(column.is_valid())
    if types.is_dictionary(kind):
        if types.is_string(kind.value_type) or types.is_large_string(kind.value_type):
            return Typed("str", column, mask)
        column = column.dictionary_decode()
        kind = column.type
    if types.is_timestamp(kind):
        raw = to_numpy(_filled(_as(column, pa.int64()), 0))
        per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[kind.unit]
        values = raw * 1000 if per_ms is None else raw // per_ms
        return Typed("int", values, mask)
    if types.is_integer(kind):
        if kind == pa.uint64() and len(column) and (_largest(column) or 0) > MAX_MS:
            return Typed("py", column.to_pylist(), mask)
        return Typed("int", to_numpy(_filled(_as(column, pa.int64()), 0)), mask)
    if types.is_floating(kind):
        return Typed("float", to_numpy(_filled(_as(column, pa.float64()), 0.0)), mask)
    if types.is_boolean(kind):
        return Typed("bool", to_numpy(column.fill_null(False)), mask)
    if types.is_string(kind) or types.is_large_string(kind):
        return Typed("str", column.cast(pa.string()).fill_null(""), mask)
    return Typed("py", column.to_pylist(), mask)


def _in_window(ts: np.ndarray) -> bool:
    """Whether every time lies in `TIME_WINDOW` (one pass, no mask, where all do)."""
    if not len(ts):
        return True
    lowest, highest = int_bounds(ts)
    return bool(lowest >= TIME_WINDOW[0] and highest < TIME_WINDOW[1])


def _largest(column: Any) -> Any:
    return arrow_compute().max(column).as_py()


def _as(column: Any, kind: Any) -> Any:
    """A column cast to `kind` (itself where it is of that type: no `pyarrow.compute`)."""
    return column if column.type == kind else column.cast(kind)


def _filled(column: Any, value: Any) -> Any:
    """A column with its nulls as `value` (itself, not a copy, where it has none)."""
    return column.fill_null(value) if column.null_count else column


def _cell_values(column: Any) -> list[Any]:
    """An Arrow column's values as records hold them (timestamps as epoch ms; None for
    null)."""
    types = arrow_core().types
    if types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if types.is_timestamp(column.type):  # epoch ms
        typed = arrow_values(column)
        values, mask = typed.values.tolist(), typed.mask.tolist()
        return [v if m else None for v, m in zip(values, mask, strict=True)]
    return column.to_pylist()


def arrow_records(batch: Any, rows: list[int]) -> list[dict[str, Any]]:
    """The records of some rows: their non-null cells, timestamps as epoch ms."""
    pa = arrow_core()
    records: list[dict[str, Any]] = [{} for _ in rows]
    taken = batch.take(pa.array(rows, pa.int64()))
    for name, column in zip(taken.schema.names, taken.columns, strict=True):
        for record, value in zip(records, _cell_values(column), strict=True):
            if value is not None:
                record[name] = value
    return records


def arrow_record_texts(
    batch: Any, rows: list[int] | np.ndarray, dictionaries: DictionaryTexts | None = None
) -> TextPieces:
    """The records `arrow_records` makes of some rows, as `encode` writes them, made
    from the batch's buffers (`cep.io.arrowtexts`), where a dict per row would cost a
    microsecond. For columns whose values go through JSON unchanged (`_json_exact`);
    `dictionaries` keeps string dictionaries' texts from one batch to the next."""
    return row_record_texts(batch, rows, dictionaries)


def _cell_texts(column: Any) -> TextPieces:
    """A column's cells (of a `_json_exact` type) as `encode` writes the values
    `_cell_values` gives (null rows: any text)."""
    types = arrow_core().types
    kind = column.type
    if types.is_dictionary(kind) and not (
        types.is_string(kind.value_type) or types.is_large_string(kind.value_type)
    ):
        column = column.dictionary_decode()
        kind = column.type
    if types.is_dictionary(kind) or types.is_string(kind) or types.is_large_string(kind):
        return string_texts(column)
    if types.is_integer(kind):
        return int_texts(column)
    if types.is_timestamp(kind):
        return int_texts(arrow_values(column).values)
    if types.is_boolean(kind):
        return bool_texts(to_numpy(column.fill_null(False)))
    return float_texts(to_numpy(column.fill_null(0.0)))


def _type_depth(kind: Any) -> int:
    """The levels an Arrow type's values nest (a scalar: 0; a list of ints: 1; a map: 2,
    as its values are lists of key-value pairs), looked at without recursion."""
    deepest, todo = 0, [(kind, 0)]
    while todo:
        kind, depth = todo.pop()
        children = [kind.field(i).type for i in range(kind.num_fields)]
        if children:
            todo.extend((child, depth + 1) for child in children)
        deepest = max(deepest, depth)
    return deepest


def _deep_text(record: dict[str, Any]) -> str:
    """A reject's text of a row nested too deep: its record as JSON where the encoder
    can write it."""
    try:
        return record_text(record)
    except RecursionError:
        return ""


class ArrowReader(BatchReader):
    """Parquet and Arrow IPC record batches: vectorized checks, `RecordMaker` for the rest."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: string dictionaries' texts, kept while batches share a dictionary
        self.dictionary_texts = DictionaryTexts()
        #: 0, 1, ... up to a batch's size (read only): its rows' numbers
        self._row_numbers = np.zeros(0, np.int64)

    def row_numbers(self, k: int) -> np.ndarray:
        """0 to k - 1 (read only), made once for batches of one size."""
        if len(self._row_numbers) != k:
            self._row_numbers = np.arange(k, dtype=np.int64)
            self._row_numbers.flags.writeable = False
        return self._row_numbers

    def batch(self, batch: Any, first: int) -> Batch:
        k = batch.num_rows
        names = batch.schema.names
        index = {name: i for i, name in enumerate(names)}
        keep = np.ones(k, np.bool_)
        parts = Parts(self.fields, k)
        default = self.types.code(self.default_type) if self.default_type else -1
        codes, one_type = self._type_codes(batch, index, keep, default)
        if not one_type:
            keep &= codes >= 0
        if self.time_field not in index:
            keep[:] = False
            ts = np.zeros(k, np.int64)
        else:
            column = batch.column(index[self.time_field])
            typed = arrow_values(column)
            if not all_true(typed.mask):
                keep &= typed.mask
            if self.time_unit != "ms" and not arrow_core().types.is_timestamp(column.type):
                typed = _in_unit(typed, self.time_unit)
            ok, times = validated(typed, "time")  # (the event time: read as a time field)
            if not all_true(ok):
                keep &= ok
            ts = times.values if times is not None else np.zeros(k, np.int64)
            if not _in_window(ts):  # the row reader gives the reason (`time out of range`)
                keep &= window_mask(ts)
        if any(_type_depth(kind) >= MAX_DEPTH for kind in batch.schema.types):
            keep[:] = False  # every row's record looked at by the row reader
        rows = self.row_numbers(k)  # (read only) an Arrow row's text is made from its number
        for code, group in rows_by_type(codes, keep, rows):
            self._group(batch, index, code, group, keep, parts)
        lines = np.arange(first, first + k, dtype=np.int64)
        fast = FastRows(lines, ts, codes, parts.every(), rows, rows).keep(keep)
        demoted = [] if keep.all() else np.flatnonzero(~keep).tolist()
        slow: list[SourceEvent | Reject] = []
        if demoted:  # (taking no rows still costs a pass over the columns)
            for i, record in zip(demoted, arrow_records(batch, demoted), strict=True):
                if too_deep_value(record):
                    slow.append(Reject(first + i, TOO_DEEP, _deep_text(record)))
                else:
                    slow.append(self.maker.make(record, first + i, record_text(record)))
        return self.assemble(
            fast,
            slow,
            k,
            row_texts=lambda starts, given: RowTexts(batch, starts, given, self.dictionary_texts),
        )

    def _type_codes(
        self, batch: Any, index: dict[str, int], keep: np.ndarray, default: int
    ) -> tuple[np.ndarray, bool]:
        """Each row's type code (-1: none; `keep` cleared where the type is not text),
        and whether every row has one code, not -1 (the usual case)."""
        k = batch.num_rows
        if len(index) != len(batch.schema.names):
            keep[:] = False
            return np.full(k, -1, np.int32), False
        if self.type_field not in index:
            return np.full(k, default, np.int32), default >= 0
        typed = arrow_values(batch.column(index[self.type_field]))
        if typed.kind != "str":
            keep &= ~typed.mask
            return np.full(k, default, np.int32), False
        indices, strings = dictionary_indices(typed.values)
        lookup = np.array(
            [self.types.code(v) if v else default for v in strings.to_pylist()] or [0],
            np.int32,
        )
        # one type name (the usual case): no lookup per row
        one = len(lookup) == 1
        codes = np.full(k, lookup[0], np.int32) if one else take_codes(lookup, indices)
        if typed.values.null_count:
            codes[~typed.mask] = default
            return codes, False
        return codes, one and lookup[0] >= 0

    def _group(
        self,
        batch: Any,
        index: dict[str, int],
        code: int,
        rows: np.ndarray,
        keep: np.ndarray,
        parts: dict[str, ColumnPart],
    ) -> None:
        indices = None if len(rows) == batch.num_rows else arrow_core().array(rows)

        def field(name: str) -> Typed | None:
            if name not in index:
                return None
            array = batch.column(index[name])
            return arrow_values(array if indices is None else array.take(indices))

        def declared_as(typed: Typed, kind: str) -> tuple[np.ndarray, np.ndarray, Any]:
            ok, converted = validated(typed, kind)
            return typed.mask, ok, converted

        self._type_group(code, rows, keep, parts, field, declared_as, lambda typed: (typed,))
