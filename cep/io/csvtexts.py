"""CSV rows' texts in reports, made a column at a time from their lines.

A CSV event's text in reports is its record (`csv_record`: each non-empty cell under its
header name, a declared field's cell converted to its type, the others inferred) as the
encoder of reports writes it. The fast path keeps that text for every event a run holds;
made record by record it costs a `csv.reader` row, a dict and an encoder call each. Here
the lines of the events asked for are split by pyarrow once, each column's cells typed
in bulk as the record's values (`CellReader`) and written in bulk (`cep.io.celltexts`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.io.batch import LineTexts, TextPieces, record_texts
from cep.io.celltexts import CellTexts, float_texts, int_texts, join_records, string_texts
from cep.io.columns import dictionary_indices, load_pyarrow, to_numpy
from cep.io.csvcells import CellReader, one_array, split_cells
from cep.io.sources import convert_cell

if TYPE_CHECKING:
    from cep.lang.program import Schema

#: declared kinds whose cells the record holds as they are, and those it infers
_AS_TEXT = frozenset(("str",))
_CONVERTED = frozenset(("bool", "list"))


class CsvShape:
    """What a CSV row's record depends on besides its cells: the header (names unique),
    the type field, the default type, and each type's schema."""

    __slots__ = ("default_type", "header", "schema", "type_field")

    def __init__(
        self,
        header: list[str],
        type_field: str,
        default_type: str | None,
        schema: Callable[[str], Schema | None],
    ) -> None:
        self.header = header
        self.type_field = type_field
        self.default_type = default_type
        self.schema = schema


class CsvTexts(LineTexts):
    """Event texts of CSV rows: their lines in a buffer (else given), and their records'
    texts made in bulk (`record_texts`) from the lines, split by pyarrow."""

    __slots__ = ("shape",)

    def __init__(self, texts: LineTexts, shape: CsvShape) -> None:
        super().__init__(texts.buf, texts.starts, texts.ends, texts.given)
        self.shape = shape

    def record_texts(self, indexes: list[int]) -> TextPieces | None:
        """The texts of some events' records as reports write them; end -1 for an event
        read by `csv.reader` (a quoted cell, say: given), for its reader to make; None
        where pyarrow refuses the lines."""
        if not indexes:
            return None
        rows = np.asarray(indexes, np.int64)
        if not self.given:
            return self._made(rows)
        read = np.fromiter((i not in self.given for i in indexes), np.bool_, len(indexes))
        if not read.any():
            return None
        made = self._made(rows[read])
        if made is None:
            return None
        data, starts, ends = made
        every_start = np.zeros(len(rows), np.int64)
        every_end = np.full(len(rows), -1, np.int64)
        every_start[read], every_end[read] = starts, ends
        return data, every_start, every_end

    def _made(self, rows: np.ndarray) -> TextPieces | None:
        """`record_texts` of rows none of which is given."""
        payload = _lines(self.buf, self.starts[rows], self.ends[rows])
        names = [f"c{i}" for i in range(len(self.shape.header))]
        table = split_cells(payload, names)
        if table is None or table.num_rows != len(rows):
            return None
        return csv_record_texts(self.shape, [one_array(column) for column in table.columns])


def _lines(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """The lines `buf[starts[i]:ends[i]]`, each followed by a newline."""
    data = np.frombuffer(buf, np.uint8)
    sizes = ends - starts + 1
    at = np.cumsum(sizes) - sizes
    source = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(starts - at, sizes)
    out = data[np.minimum(source, len(data) - 1)]
    out[at + sizes - 1] = 10
    return out.tobytes()


def csv_record_texts(shape: CsvShape, cells: list[Any]) -> TextPieces:
    """The records' texts of rows whose cells are `cells` (a pyarrow string array per
    header column, "" for an empty cell), as `encode(csv_record(...))` writes each."""
    header = shape.header
    n = len(cells[0]) if cells else 0
    columns = [CellTexts(n) for _ in header]
    for type_name, rows in _type_groups(shape, cells, n):
        schema = shape.schema(type_name) if type_name else None
        declared = schema.fields if schema is not None else {}
        every = len(rows) == n
        for c, name in enumerate(header):
            column = cells[c] if every else cells[c].take(rows)
            info = declared.get(name)
            if name == shape.type_field or (info is not None and info.type.kind in _AS_TEXT):
                _put_text(columns[c], rows, column)
            elif info is not None and info.type.kind in _CONVERTED:
                kind = info.type
                values = [convert_cell(cell, kind) if cell else None for cell in column.to_pylist()]
                _put_values(columns[c], rows, values)
            else:
                _put_inferred(columns[c], rows, column)
    return join_records(header, columns)


def _type_groups(shape: CsvShape, cells: list[Any], n: int) -> list[tuple[str | None, Any]]:
    """The rows of each event type (its cell, else the default type), in order of first
    appearance."""
    if shape.type_field not in shape.header:
        return [(shape.default_type, np.arange(n))]
    indices, names = dictionary_indices(cells[shape.header.index(shape.type_field)])
    type_names = [name or shape.default_type for name in names.to_pylist()]
    if len(set(type_names)) == 1:
        return [(type_names[0], np.arange(n))]
    named = np.array(type_names, object)[indices]
    firsts = dict.fromkeys(named.tolist())
    return [(name, np.flatnonzero(named == name)) for name in firsts]


def _put_text(texts: CellTexts, rows: np.ndarray, cells: Any) -> None:
    """Cells held as they are (text), the empty ones left out."""
    texts.put(rows, string_texts(cells))
    present = to_numpy(load_pyarrow().compute.not_equal(cells, ""))
    texts.ends[rows[~present]] = -1


def _put_values(texts: CellTexts, rows: np.ndarray, values: list[Any]) -> None:
    """Python values (None: no cell)."""
    present = np.fromiter((value is not None for value in values), np.bool_, len(values))
    texts.put(rows, record_texts(values))
    texts.ends[rows[~present]] = -1


def _put_inferred(texts: CellTexts, rows: np.ndarray, cells: Any) -> None:
    """Cells read as `infer_cell` reads them (`CellReader.inferred`)."""
    for typed in CellReader(cells).inferred():
        mask = typed.mask
        if not mask.any():
            continue
        if typed.kind == "int":
            pieces = int_texts(typed.values[mask])
        elif typed.kind == "float":
            pieces = float_texts(typed.values[mask])
        elif typed.kind == "str":
            pieces = string_texts(typed.values.filter(load_pyarrow().array(mask)))
        else:
            pieces = record_texts([v for v, m in zip(typed.values, mask, strict=True) if m])
        texts.put(rows[mask], pieces)
