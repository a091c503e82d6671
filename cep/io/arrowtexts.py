"""Arrow rows' texts in reports, made from the record batch's buffers in one pass.

An Arrow row's text is its record (`cep.io.arrow.arrow_records`: its non-null cells,
timestamps as epoch ms) as the one encoder of reports writes it
(`cep.runtime.match.encode`). Made for the rows a batch's matches may keep (a few in a
hundred), each column's cells of those rows are read where they lie: integers and
times straight from the values buffer, written in decimal in numba (as JSON writes
them); dictionary strings as their dictionary's values encoded once, by the encoder (a
Parquet row group's batches share one dictionary per column: `DictionaryTexts`); floats
by the encoder, in one call; booleans from two texts. `join_typed_cells` then writes
each row's object. Other columns (plain strings, say) go through `cep.io.arrow`'s
column-at-a-time texts of the rows taken.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cep.io.batch import TextPieces, record_texts
from cep.io.celltexts import bool_texts, float_texts, join_typed_cells
from cep.io.columns import arrow_core
from cep.runtime.match import encode

#: a dictionary column's cells: its values' texts, and each row's index into them
_Cells = tuple[np.ndarray, np.ndarray, np.ndarray] | np.ndarray


class DictionaryTexts:
    """The texts of a string dictionary's values, by column, made once while the
    batches of a column share their dictionary."""

    __slots__ = ("_last",)

    #: columns remembered at most (their last dictionary each)
    LIMIT = 64

    def __init__(self) -> None:
        self._last: dict[str, tuple[Any, TextPieces]] = {}

    def texts(self, name: str, dictionary: Any) -> TextPieces:
        last = self._last.get(name)
        if last is not None and len(last[0]) == len(dictionary) and last[0].equals(dictionary):
            return last[1]
        made = record_texts(dictionary.to_pylist())
        if len(self._last) >= self.LIMIT:
            self._last.clear()
        self._last[name] = (dictionary, made)
        return made


def row_record_texts(
    batch: Any, rows: Any, dictionaries: DictionaryTexts | None = None
) -> TextPieces:
    """The texts of some rows' records, as `encode` writes the records `arrow_records`
    makes, for a batch whose columns all go through JSON unchanged (`_json_exact`)."""
    rows = np.ascontiguousarray(rows, np.int64)
    if dictionaries is None:
        dictionaries = DictionaryTexts()
    names = batch.schema.names
    n, m = len(rows), len(names)
    cell_starts = np.empty((m, n), np.int64)
    cell_ends = np.empty((m, n), np.int64)
    integers = np.zeros(m, np.bool_)
    buffers, at = [], 0
    for c, (name, column) in enumerate(zip(names, batch.columns, strict=True)):
        cells = _column_cells(column, rows, name, dictionaries)
        if isinstance(cells, np.ndarray):  # integers
            integers[c] = True
            cell_starts[c] = cells
            cell_ends[c] = 0
        else:
            data, starts, ends = cells
            cell_starts[c] = starts + at
            cell_ends[c] = ends + at
            buffers.append(data)
            at += len(data)
        if column.null_count:
            cell_ends[c][~_valid_at(column, rows)] = -1
    key_texts = b"".join(encode(name) + b":" for name in names)
    keys = np.frombuffer(bytearray(key_texts), np.uint8)
    key_ends = np.cumsum([len(encode(name)) + 1 for name in names], dtype=np.int64)
    data = np.concatenate(buffers) if buffers else np.zeros(0, np.uint8)
    return join_typed_cells(data, cell_starts, cell_ends, integers, keys, key_ends)  # type: ignore[no-any-return]


def _column_cells(
    column: Any, rows: np.ndarray, name: str, dictionaries: DictionaryTexts
) -> _Cells:
    """One column's cells of `rows`: integers (an int64 array), else texts (pieces of
    one buffer); a null row's cell is anything (the caller leaves it out)."""
    pa = arrow_core()
    types = pa.types
    kind = column.type
    if types.is_dictionary(kind):
        if not (types.is_string(kind.value_type) or types.is_large_string(kind.value_type)):
            return _column_cells(column.dictionary_decode(), rows, name, dictionaries)
        index_type = kind.index_type
        indices = _fixed(column.indices, _int_dtype(index_type))[rows]
        data, starts, ends = dictionaries.texts(name, column.dictionary)
        if not len(starts):  # (every row null)
            return data, np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
        mode = "clip" if column.null_count else "raise"  # (a null's index is anything)
        return data, np.take(starts, indices, mode=mode), np.take(ends, indices, mode=mode)
    if types.is_integer(kind) and kind != pa.uint64():
        return _fixed(column, _int_dtype(kind))[rows].astype(np.int64)
    if types.is_timestamp(kind):  # epoch ms, as `arrow_values` makes them
        raw = _fixed(column, np.dtype(np.int64))[rows]
        per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[kind.unit]
        return raw * 1000 if per_ms is None else raw // per_ms
    if types.is_float64(kind):
        return float_texts(_fixed(column, np.dtype(np.float64))[rows])
    if types.is_boolean(kind):
        return bool_texts(_bits_at(column.buffers()[1], column.offset, rows))
    from cep.io.arrow import _cell_texts  # (plain strings, uint64: the rows taken)

    return _cell_texts(column.take(pa.array(rows, pa.int64())))


def _int_dtype(kind: Any) -> np.dtype[Any]:
    signed = arrow_core().types.is_signed_integer(kind)
    return np.dtype(f"{'i' if signed else 'u'}{kind.bit_width // 8}")


def _fixed(array: Any, dtype: np.dtype[Any]) -> np.ndarray:
    """A fixed-width array's values buffer as NumPy values, from its offset (no copy;
    nulls' values are anything)."""
    if not len(array):
        return np.zeros(0, dtype)
    start = array.offset
    return np.frombuffer(array.buffers()[1], dtype, start + len(array))[start:]


def _bits_at(bitmap: Any, offset: int, rows: np.ndarray) -> np.ndarray:
    """Bits `offset + rows` of an Arrow bitmap (least significant bit first)."""
    if not len(rows):
        return np.zeros(0, np.bool_)
    at = rows + offset
    data = np.frombuffer(bitmap, np.uint8)
    return ((data[at >> 3] >> (at & 7).astype(np.uint8)) & 1).astype(np.bool_)


def _valid_at(column: Any, rows: np.ndarray) -> np.ndarray:
    """Which of `rows` are not null (for a column with nulls)."""
    bitmap = column.buffers()[0]
    if bitmap is None:  # (a null type, or nulls held otherwise: asked of pyarrow)
        return np.asarray(column.is_valid().to_numpy(zero_copy_only=False))[rows]
    return _bits_at(bitmap, column.offset, rows)
