"""CSV rows' texts in reports, made a column at a time from their lines.

A CSV event's text in reports is its record (`csv_record`: each non-empty cell under its
header name, a declared field's cell converted to its type, the others inferred) as the
encoder of reports writes it. The fast path keeps that text for every event a run holds;
made record by record it costs a `csv.reader` row, a dict and an encoder call each. Here
the lines of the events asked for are split by pyarrow once, each column's cells typed
in bulk as the record's values (`CellReader`) and written in bulk (`cep.io.celltexts`).
Plain lines (most) are not split at all: their texts are written from the lines in one
compiled pass (`cep.io.csvlinetexts`), the rows it refuses made as above.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import numpy as np

from cep.io.batch import LineTexts, TextPieces, record_texts
from cep.io.celltexts import CellTexts, float_texts, int_texts, join_records, string_texts
from cep.io.columns import dictionary_indices, load_pyarrow, to_numpy
from cep.io.csvcells import CellReader, one_array, split_cells
from cep.io.csvlinetexts import INFER, REFUSE, TEXT, line_record_texts
from cep.io.sources import convert_cell
from cep.runtime.match import encode

if TYPE_CHECKING:
    from cep.lang.program import Schema

#: declared kinds whose cells the record holds as they are, and those it infers
_AS_TEXT = frozenset(("str",))
_CONVERTED = frozenset(("bool", "list"))


class CsvShape:
    """What a CSV row's record depends on besides its cells: the header (names unique),
    the type field, the default type, and each type's schema (`type_names`: the types
    that have one, where known)."""

    __slots__ = ("default_type", "header", "schema", "type_field", "type_names")

    def __init__(
        self,
        header: list[str],
        type_field: str,
        default_type: str | None,
        schema: Callable[[str], Schema | None],
        type_names: Collection[str] | None = None,
    ) -> None:
        self.header = header
        self.type_field = type_field
        self.default_type = default_type
        self.schema = schema
        self.type_names = type_names


class CsvTexts(LineTexts):
    """Event texts of CSV rows: their lines in a buffer (else given), and their records'
    texts made in bulk (`record_texts`) from the lines: written from them where they
    are plain, else split by pyarrow."""

    __slots__ = ("shape",)

    def __init__(self, texts: LineTexts, shape: CsvShape) -> None:
        super().__init__(texts.buf, texts.starts, texts.ends, texts.given)
        self.shape = shape

    def record_texts(self, indexes: np.ndarray) -> TextPieces | None:
        """The texts of some events' records as reports write them; end -1 for an event
        read by `csv.reader` (a quoted cell, say: given), or one pyarrow refuses, for
        its reader to make; None where none is made here."""
        rows = np.asarray(indexes, np.int64)
        if not len(rows):
            return None
        if not self.given:
            return self._made(rows)
        read = ~np.isin(rows, self.given_rows())
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
        """`record_texts` of rows none of which is given: those of plain lines written
        from their lines (`line_record_texts`), the others split by pyarrow (end -1
        where it refuses their lines)."""
        plan = _line_plan(self.shape)
        if plan is None:
            return self._split(rows)
        buf = np.frombuffer(self.buf, np.uint8)
        buf.flags.writeable = False  # (one type whatever holds the lines: one native signature)
        data, starts, ends = line_record_texts(buf, self.starts[rows], self.ends[rows], *plan)
        refused = np.flatnonzero(ends < 0)
        if not len(refused):
            return data, starts, ends
        made = self._split(rows[refused])
        if made is None:
            return data, starts, ends
        more, more_starts, more_ends = made
        starts[refused] = more_starts + len(data)
        ends[refused] = more_ends + len(data)
        return np.concatenate((data, more)), starts, ends

    def _split(self, rows: np.ndarray) -> TextPieces | None:
        """`record_texts` of rows none of which is given, split by pyarrow."""
        payload = _lines(self.buf, self.starts[rows], self.ends[rows])
        names = [f"c{i}" for i in range(len(self.shape.header))]
        table = split_cells(payload, names)
        if table is None or table.num_rows != len(rows):
            return None
        return csv_record_texts(self.shape, [one_array(column) for column in table.columns])


#: what `line_record_texts` takes besides the lines: the mode table, the type column,
#: the known types' names, their mode rows, the default and unknown types' mode rows,
#: and the keys' texts
LinePlan = tuple[
    np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, int, int, np.ndarray, np.ndarray
]


def _line_plan(shape: CsvShape) -> LinePlan | None:
    """`line_record_texts`' arguments for rows of this shape; None where the modes
    depend on types not known (a type column, `type_names` not given)."""
    has_type = shape.type_field in shape.header
    if has_type and shape.type_names is None:
        return None
    names = tuple(shape.type_names or ()) if has_type else ()
    return _plan(tuple(shape.header), shape.type_field, shape.default_type, names, shape.schema)


@functools.lru_cache(maxsize=16)
def _plan(
    header: tuple[str, ...],
    type_field: str,
    default_type: str | None,
    type_names: tuple[str, ...],
    schema: Callable[[str], Schema | None],
) -> LinePlan:
    """`_line_plan` of a shape (made once per reader: a batch's shape is new, its parts
    are not)."""
    seen: dict[tuple[int, ...], int] = {}

    def modes_of(type_name: str | None) -> int:
        found = schema(type_name) if type_name else None
        declared = found.fields if found is not None else {}
        row = []
        for name in header:
            info = declared.get(name)
            kind = info.type.kind if info is not None else None
            if name == type_field or kind in _AS_TEXT:
                row.append(TEXT)
            elif kind in _CONVERTED:
                row.append(REFUSE)
            else:
                row.append(INFER)
        return seen.setdefault(tuple(row), len(seen))

    default_modes = modes_of(default_type)
    unknown_modes = modes_of(None)
    name_modes = np.array([modes_of(name) for name in type_names], np.int64)
    table = np.array(list(seen), np.int8).reshape(len(seen), len(header))
    name_texts = [name.encode() for name in type_names]
    names = np.frombuffer(b"".join(name_texts), np.uint8)
    name_ends = np.cumsum([len(text) for text in name_texts], dtype=np.int64)
    key_texts = [encode(name) + b":" for name in header]
    keys = np.frombuffer(b"".join(key_texts), np.uint8)
    key_ends = np.cumsum([len(text) for text in key_texts], dtype=np.int64)
    type_column = header.index(type_field) if type_field in header else -1
    return (
        table, type_column, names, name_ends, name_modes, default_modes, unknown_modes,
        keys, key_ends,
    )  # fmt: skip


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
