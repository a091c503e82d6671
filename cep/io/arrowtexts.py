"""Arrow rows' texts in reports, made from the record batch's buffers in one pass.

An Arrow row's text is its record (`cep.io.arrow.arrow_records`: its non-null cells,
timestamps as epoch ms) as the one encoder of reports writes it
(`cep.runtime.match.encode`). Made for the rows a batch's matches may keep (a few in a
hundred), each column's cells of those rows are read where they lie (`gather`, in
numba): integers and times straight from the values buffer, written in decimal (as
JSON writes them); dictionary strings as entries of their dictionary's values encoded
once, by the encoder (a Parquet row group's batches share one dictionary per column:
`DictionaryTexts`); floats as `float_texts` writes them; booleans as one of two texts.
`join_coded_cells` then writes each row's object, looking each cell's text up in its
column's table. Other columns (plain strings, say) go through `cep.io.arrow`'s
column-at-a-time texts of the rows taken.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cep.io.batch import TextPieces, record_texts
from cep.io.celltexts import float_texts, join_coded_cells
from cep.io.columnpass import gather, int_bounds
from cep.io.columns import arrow_core
from cep.runtime.match import encode


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
    cells = np.empty((m, n), np.int64)
    present = np.ones((m, n), np.bool_)
    integers = np.zeros(m, np.bool_)
    tables: list[TextPieces] = []
    entries = at = 0  # (the tables' entries and bytes before the next one's)
    for c, (name, column) in enumerate(zip(names, batch.columns, strict=True)):
        values, table = _column_cells(column, rows, name, dictionaries)
        cells[c] = values
        if table is None:
            integers[c] = True
        else:
            data, starts, ends = table
            if entries:
                cells[c] += entries
            tables.append((data, starts + at, ends + at))
            entries += len(starts)
            at += len(data)
        if column.null_count:
            present[c] = _valid_at(column, rows)
    key_texts = [encode(name) + b":" for name in names]
    keys = np.frombuffer(bytearray(b"".join(key_texts)), np.uint8)
    key_ends = np.cumsum([len(text) for text in key_texts], dtype=np.int64)
    texts, starts, ends = (
        _joined([table[i] for table in tables], dtype) for i, dtype in enumerate(_TABLE_DTYPES)
    )
    return join_coded_cells(cells, present, integers, texts, starts, ends, keys, key_ends)  # type: ignore[no-any-return]


#: the dtypes of a table of texts: its bytes, starts and ends
_TABLE_DTYPES = (np.uint8, np.int64, np.int64)


def _joined(arrays: list[np.ndarray], dtype: Any) -> np.ndarray:
    """Arrays end to end, in a new array (of one type, writable: one compiled form)."""
    return np.concatenate(arrays, dtype=dtype) if arrays else np.zeros(0, dtype)


def _column_cells(
    column: Any, rows: np.ndarray, name: str, dictionaries: DictionaryTexts
) -> tuple[np.ndarray, TextPieces | None]:
    """One column's cells of `rows`: integers (int64) and None, else each row's entry
    in a table of texts and that table; a null row's cell is anything (the caller
    leaves it out)."""
    pa = arrow_core()
    types = pa.types
    kind = column.type
    if types.is_dictionary(kind):
        if not (types.is_string(kind.value_type) or types.is_large_string(kind.value_type)):
            return _column_cells(column.dictionary_decode(), rows, name, dictionaries)
        indices = _taken(_fixed(column.indices, _int_dtype(kind.index_type)), rows)
        table = dictionaries.texts(name, column.dictionary)
        if len(indices) and not column.null_count:  # (a null's index is anything)
            lowest, highest = int_bounds(indices)
            if lowest < 0 or highest >= len(table[1]):
                raise IndexError(f"dictionary index {highest} out of range of {name!r}")
        return indices, table
    if types.is_integer(kind) and kind != pa.uint64():
        return _taken(_fixed(column, _int_dtype(kind)), rows), None
    if types.is_timestamp(kind):  # epoch ms, as `arrow_values` makes them
        raw = _taken(_fixed(column, np.dtype(np.int64)), rows)
        per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[kind.unit]
        return (raw * 1000 if per_ms is None else raw // per_ms), None
    if types.is_boolean(kind):
        return _bits_at(column.buffers()[1], column.offset, rows), _BOOL_TEXTS
    if types.is_float64(kind):
        texts = float_texts(_taken(_fixed(column, np.dtype(np.float64)), rows))
    else:
        from cep.io.arrow import _cell_texts  # (plain strings, uint64: the rows taken)

        texts = _cell_texts(column.take(pa.array(rows, pa.int64())))
    return np.arange(len(rows)), texts


#: `false` and `true`, by a boolean as a number
_BOOL_TEXTS = (np.frombuffer(b"falsetrue", np.uint8), np.array([0, 5]), np.array([5, 9]))


def _taken(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`values[rows]` as int64 (any integers) or float64: taken in numba from the usual
    columns (int32 dictionary indices, int64, float64), by NumPy from the others (no
    compiled form for each of them)."""
    out_type = np.float64 if values.dtype.kind == "f" else np.int64
    if values.dtype not in _GATHERED:
        return values[rows].astype(out_type)
    out = np.empty(len(rows), out_type)
    gather(values, rows, out)
    return out


_GATHERED = frozenset((np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.float64)))


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
