"""CSV into batches: plain lines split and typed by a numba scan, `csv.reader` for the rest.

`cep.io.csvscan` splits the lines where that is exactly `csv.reader`'s split (no quote,
NUL or lone carriage return, the header's number of cells) and reads each cell's form
and value as it goes; cells are typed as the row reader's code types them, text coded
from its bytes (`Interner`); any other row goes through `csv.reader` and the row
reader's code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import numpy as np

from cep.io.batch import Batch, Dictionary
from cep.io.batchreader import BatchReader, FastRows
from cep.io.columns import (
    INTISH,
    ColumnPart,
    Typed,
    empty_part,
    load_pyarrow,
    put_typed,
    rows_by_type,
)
from cep.io.csvscan import BLANK, FORM, PLAIN, REALS, SPAN, Scan, ScannedColumn, scan
from cep.io.csvscan import declared as scanned_declared
from cep.io.csvscan import inferred as scanned_inferred
from cep.io.csvtexts import CsvShape, CsvTexts
from cep.io.interning import Interner
from cep.io.lines import Block, ByteLines, ItemLines, bad_utf8_lines
from cep.io.sources import (
    Reject,
    SourceEvent,
    convert_cell,
    csv_reason,
    csv_record,
    csv_row,
    infer_cell,
    line_text,
)
from cep.io.time import event_ms, ints_to_ms, window_mask

_MAX_CSV = 100_000  # longer lines take csv.reader (its field size limit)
#: the most lines one CSV record may span (a quoted cell holding line breaks); a record
#: open past them, or to the end of the input, is an unclosed quote
MAX_RECORD_LINES = 100
UNCLOSED_QUOTE = "unclosed quote"


class _NeedMore(Exception):
    """A CSV record goes on past the lines at hand."""


class _Unclosed(Exception):
    """A quoted cell goes on past `MAX_RECORD_LINES` lines or to the end of the input."""


class _CsvFeed:
    """Lines from `i` on for `csv.reader`, as `sources._Feed` gives them."""

    def __init__(self, block: Block, i: int) -> None:
        self.block = block
        self.i = i
        self.taken: list[str] = []
        self.ok = True

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        # csv.reader asks for a line past a record's first only inside a quoted cell
        block = self.block
        if len(self.taken) >= MAX_RECORD_LINES:
            raise _Unclosed
        if self.i >= len(block):
            if block.eof:
                if self.taken:
                    raise _Unclosed
                raise StopIteration
            raise _NeedMore
        text, ok = line_text(block.first + self.i, block.item(self.i))
        self.i += 1
        self.taken.append(text)
        self.ok = self.ok and ok
        return text + "\n"


_NUMBER_START = frozenset("0123456789+-.")


def _inferred(cell: str) -> Any:
    """`infer_cell` of a cell that is not empty, quicker for the usual ones: ASCII
    digits, text no number starts with, and ASCII decimals (which `float` reads as
    `infer_cell`'s pattern does, once a sign, digit or point starts them and a digit or
    point ends them, with no `_`)."""
    if cell.isascii():
        if cell.isdigit() and len(cell) <= 18:
            return int(cell)
        if cell[0] not in _NUMBER_START:
            return cell
        last = cell[-1]
        if (
            ("." in cell or "e" in cell or "E" in cell)
            and (last.isdigit() or last == ".")
            and "_" not in cell
        ):
            try:
                return float(cell)
            except ValueError:
                return cell
    return infer_cell(cell)


class CsvReader(BatchReader):
    """CSV: plain lines split and typed by a numba scan, `csv.reader` for the rest."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.header: list[str] | None = None
        self.names: dict[str, int] = {}
        self.unique = False
        self.lines: ByteLines | ItemLines | None = None
        #: text fields' codes from the cells' bytes, and the type names'
        self._interners: dict[str, Interner] = {}
        self._type_names: Interner | None = None
        self._type_lookup: list[int] = []

    def emulate(self, block: Block, i: int, slow: list[SourceEvent | Reject]) -> int:
        """One record from line `i` as the row reader's code reads it (`csv_row`); the
        index after its lines. An unclosed quote is a reject of line `i` alone: reading
        resumes on the next line, so one stray quote does not swallow the rest."""
        feed = _CsvFeed(block, i)
        number = block.first + i
        try:
            row = next(csv.reader(feed))
        except StopIteration:
            return len(block)
        except _Unclosed:
            slow.append(Reject(number, UNCLOSED_QUOTE, feed.taken[0]))
            return i + 1
        except csv.Error as error:
            slow.append(Reject(number, csv_reason(error), "\n".join(feed.taken)))
            return feed.i
        text = "\n".join(feed.taken)
        if not text or text.isspace():
            return feed.i
        made = csv_row(self.maker, self.header, row, number, text, feed.ok)
        if made is None:
            self.use_header(row)
        else:
            slow.append(made)
        return feed.i

    def record_of(self, text: str) -> dict[str, Any]:
        """The record of one row, from its text (as `csv_record` makes it)."""
        assert self.header is not None
        row = next(csv.reader(io.StringIO(text)))
        return csv_record(self.header, row, self.maker)

    def records_of(self, texts: list[str]) -> list[dict[str, Any]]:
        """`record_of` of several rows (`csv_record`'s records), split by one
        `csv.reader`, each made by its event type's function (`_record_maker`)."""
        assert self.header is not None
        header, maker = self.header, self.maker
        at = self.names.get(maker.type_field, -1) if self.unique else -2
        if at == -2:  # (a header naming a field twice: the last cell wins)
            return [csv_record(header, row, maker) for row in csv.reader(texts)]
        makers: dict[str | None, Callable[[list[str]], dict[str, Any]]] = {}
        records = []
        for row in csv.reader(texts):
            type_name = (row[at] if at >= 0 else "") or maker.default_type
            make = makers.get(type_name)
            if make is None:
                make = makers[type_name] = self._record_maker(type_name)
            records.append(make(row))
        return records

    def _record_maker(self, type_name: str | None) -> Callable[[list[str]], dict[str, Any]]:
        """A function from a row's cells to its record as `csv_record` makes it for
        the type: each non-empty cell under its header name, converted as the type's
        schema says. Written out per header (no loop or call per text cell: kept rows
        are made ~1 us each)."""
        assert self.header is not None
        schema = self.schema(type_name) if type_name else None
        declared = schema.fields if schema is not None else {}
        cells = ", ".join(f"c{i}" for i in range(len(self.header)))
        code = [f"def make(row):\n    {cells}, = row\n    record = {{}}"]
        convert: dict[str, Any] = {"_inferred": _inferred}
        for i, name in enumerate(self.header):
            info = declared.get(name)
            if name == self.maker.type_field or (info is not None and info.type.kind == "str"):
                value = f"c{i}"
            elif info is None or info.type.kind not in ("bool", "list"):
                value = f"_inferred(c{i})"
            else:
                convert[f"t{i}"] = info.type
                value = f"convert_cell(c{i}, t{i})"
            code.append(f"    if c{i}:\n        record[{name!r}] = {value}")
        code.append("    return record")
        namespace = {"convert_cell": convert_cell, **convert}
        exec("\n".join(code), namespace)  # (header names written as literals: `repr`)
        return namespace["make"]

    def use_header(self, header: list[str]) -> None:
        """Read on with this header row (the first row read, or a read resumed past it)."""
        self.header = header
        self.names = {name: i for i, name in enumerate(header)}
        self.unique = len(self.names) == len(header) and len(header) > 1

    def batch(self, block: Block) -> Batch:
        batch = self._batch(block)
        if self.unique and self.header is not None:  # (texts made in bulk: CsvTexts)
            types = self.validator.schemas if self.validator is not None else ()
            shape = CsvShape(self.header, self.type_field, self.default_type, self.schema, types)
            batch.text_store = CsvTexts(batch.text_store, shape)
        return batch

    def _batch(self, block: Block) -> Batch:
        n = len(block)
        slow: list[SourceEvent | Reject] = []
        i = 0
        try:
            while self.header is None and i < n:
                i = self.emulate(block, i, slow)
        except _NeedMore:
            self.lines.push_back(block, i)  # type: ignore[union-attr]
            return self.assemble(None, slow, i, buf=block.buf)
        first = i
        if first >= n:
            return self.assemble(None, slow, n, buf=block.buf)
        nl = block.nl
        starts = block.starts()
        ends = nl
        returns = block.buf.find(b"\r") >= 0
        if returns:  # (a line may end with a carriage return)
            data = np.frombuffer(block.buf, np.uint8)
            ends = nl - ((nl > starts) & (data[np.maximum(nl - 1, 0)] == 13))
        if not self.unique:  # (a header naming a field twice: the row reader reads all)
            return self._emulated_batch(block, first, slow)
        return self._scanned_batch(block, first, starts, ends, slow)

    def _emulated_batch(self, block: Block, first: int, slow: list[SourceEvent | Reject]) -> Batch:
        """The batch of a block read by the row reader's code alone."""
        limit = len(block)
        j = first
        for i in range(first, len(block)):
            if i < j:
                continue
            try:
                j = self.emulate(block, i, slow)
            except _NeedMore:
                self.lines.push_back(block, i)  # type: ignore[union-attr]
                limit = i
                break
        return self.assemble(None, slow, limit, buf=block.buf)

    def _scanned_batch(
        self,
        block: Block,
        first: int,
        starts: np.ndarray,
        ends: np.ndarray,
        slow: list[SourceEvent | Reject],
    ) -> Batch:
        """The batch of a block whose plain lines `scan` reads; the row reader reads
        the others (with the lines their records take)."""
        n = len(block)
        scanned = scan(block.buf, starts, ends, first, self._modes(), _MAX_CSV)
        fast = scanned.status == PLAIN
        fast[:first] = False
        if block.forced:
            fast[list(block.forced)] = False
        if not scanned.clean:
            fast[bad_utf8_lines(block, fast)] = False
        other = np.flatnonzero((scanned.status[first:] != BLANK) & ~fast[first:]) + first
        j = first
        limit = n
        for i in other.tolist():
            if i < j:
                continue
            try:
                j = self.emulate(block, i, slow)
            except _NeedMore:
                fast[i:] = False
                limit = i
                self.lines.push_back(block, limit)  # type: ignore[union-attr]
                break
            fast[i + 1 : j] = False
        rows = np.flatnonzero(fast)
        part = None
        if len(rows):
            part, demoted = self._typed_scanned(scanned, rows, block, starts, ends)
            for index in demoted.tolist():
                self.emulate(block, index, slow)
        return self.assemble(part, slow, limit, buf=block.buf)

    def _modes(self) -> np.ndarray:
        """What the scan records of each header column (`csvscan.SPAN`, `FORM`,
        `REALS`): the fields a batch reads are the type, the time, those asked for and
        those of the schemas (validated); the type's cells are coded, the time's read
        as integers; where the rows' type is known (no type column), a field its
        schema declares as text needs no form, one it declares as an integer no float."""
        assert self.header is not None
        modes = np.zeros(len(self.header), np.int64)
        wanted = {self.type_field, self.time_field, *(name for name, _ in self.fields)}
        schemas = self.validator.schemas.values() if self.validator is not None else ()
        for schema in schemas:
            wanted.update(schema.fields)
        for name in wanted:
            if name in self.names:
                modes[self.names[name]] = SPAN | FORM | REALS
        declared = {}
        if self.type_field not in self.names and self.default_type:
            schema = self.schema(self.default_type)
            declared = schema.fields if schema is not None else {}
        for name, info in declared.items():
            if name in self.names:
                kind = info.type.kind
                if kind == "str":
                    modes[self.names[name]] = SPAN
                elif kind in INTISH:
                    modes[self.names[name]] = SPAN | FORM
        if self.type_field in self.names:
            modes[self.names[self.type_field]] = SPAN
        if self.time_field in self.names:
            modes[self.names[self.time_field]] = SPAN | FORM
        return modes

    def _typed_scanned(
        self,
        scanned: Scan,
        lines: np.ndarray,
        block: Block,
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> tuple[FastRows, np.ndarray]:
        """Typed columns of the plain lines `lines` from their scan, and the lines left
        to the row reader."""
        k = len(lines)
        whole = int(lines[-1]) - int(lines[0]) + 1 == k
        at: np.ndarray | slice = slice(int(lines[0]), int(lines[-1]) + 1) if whole else lines

        def column(name: str) -> ScannedColumn | None:
            index = self.names.get(name)
            if index is None or scanned.rows[index] < 0:
                return None
            return ScannedColumn(block.buf, scanned, index, at)

        keep = np.ones(k, np.bool_)
        default = self.types.code(self.default_type) if self.default_type else -1
        type_cells = column(self.type_field)
        if type_cells is None:
            codes = np.full(k, default, np.int32)
        else:
            codes = self._type_codes(type_cells, default)
        keep &= codes >= 0

        ts = np.zeros(k, np.int64)
        time_cells = column(self.time_field)
        if time_cells is None:
            keep[:] = False
        else:
            ok, values = time_cells.ints()
            if ok.all():  # (the usual column: every time an integer; no cell left over)
                ts = ints_to_ms(values, self.time_unit)
            else:
                ts[ok] = ints_to_ms(values[ok], self.time_unit)
                keep &= time_cells.present
                odd = np.flatnonzero(time_cells.present & ~ok)
                for i, cell in zip(odd.tolist(), time_cells.texts(odd), strict=True):
                    ms = event_ms(infer_cell(cell), self.time_unit)
                    if ms is None:
                        keep[i] = False
                    else:
                        ts[i] = ms

        keep &= window_mask(ts)  # the row reader gives the reason (`time out of range`)
        parts = {name: empty_part(kind, k) for name, kind in self.fields}
        columns: dict[str, ScannedColumn | None] = {}
        for code, rows in rows_by_type(codes, keep):
            self._group_scanned(column, columns, code, rows, keep, parts)
        fast = FastRows(lines + block.first, ts, codes, parts, starts[at], ends[at])
        return fast.keep(keep), lines[~keep]

    def _type_codes(self, cells: ScannedColumn, default: int) -> np.ndarray:
        """The type codes of the type cells (the default type's for an empty one),
        type names coded in order of first appearance (by `Interner`, where no cell
        holds a backslash, which it reads as a JSON escape)."""
        if cells.escapes:
            texts = cells.texts(np.arange(len(cells)))
            lookup = {t: self.types.code(t) if t else default for t in dict.fromkeys(texts)}
            return np.fromiter(map(lookup.__getitem__, texts), np.int32, len(texts))
        if self._type_names is None:
            self._type_names = Interner([Dictionary()])
            self._type_lookup = []
        entries = self._type_names.codes(cells.buf, cells.spans, cells.lens)
        names = self._type_names.dictionaries[0].values
        for name in names[len(self._type_lookup) :]:
            self._type_lookup.append(self.types.code(name) if name else default)
        return np.array(self._type_lookup, np.int32)[entries]

    def _group_scanned(
        self,
        column: Callable[[str], ScannedColumn | None],
        columns: dict[str, ScannedColumn | None],
        code: int,
        rows: np.ndarray,
        keep: np.ndarray,
        parts: dict[str, ColumnPart],
    ) -> None:
        """Validate and type the fields of the rows of one event type, from their scanned
        cells (`_type_group`'s callbacks): text is stored here, coded from the cells'
        spans (`Interner`) as `put_typed` would code it, so `declared_as` gives no typed
        values for it; `field` notes whose cells the calls after it type."""
        every = len(rows) == len(keep)
        kinds = dict(self.fields)
        current: list[str] = []

        def field(name: str) -> ScannedColumn | None:
            if name not in columns:
                columns[name] = column(name)
            cells = columns[name]
            current[:] = [name]
            return cells if cells is None or every else cells.take(rows)

        def put_text(cells: ScannedColumn, mask: np.ndarray) -> None:
            name = current[0]
            kind = kinds.get(name)
            if kind is None or not mask.any():
                return
            dictionary = self.dictionaries.get(name)
            part = parts[name]
            if kind == "str" and dictionary is not None:
                interner = self._interners.get(name)
                if interner is None:
                    interner = self._interners[name] = Interner([dictionary])
                if not cells.escapes and every and mask.all():  # (the part's values)
                    part.values = interner.codes(cells.buf, cells.spans, cells.lens)
                    part.valid = np.ones(len(mask), np.bool_)
                    return
                chosen = np.flatnonzero(mask)
                codes = _codes(interner, cells, chosen)
                if codes is not None:
                    part.values[rows[chosen]] = codes
                    part.valid[rows[chosen]] = True
                    return
            texts = [""] * len(mask)
            chosen = np.flatnonzero(mask)
            for i, text in zip(chosen.tolist(), cells.texts(chosen), strict=True):
                texts[i] = text
            pa = load_pyarrow()
            typed = Typed("str", pa.array(texts, pa.string()), mask)
            put_typed(part, kind, rows, typed, dictionary)

        def declared_as(cells: ScannedColumn, kind: str) -> tuple[np.ndarray, np.ndarray, Any]:
            present = cells.present
            if kind == "str":
                put_text(cells, present)
                return present, present, None
            ok, typed = scanned_declared(cells, kind)
            return present, ok, typed

        def inferred(cells: ScannedColumn) -> list[Typed]:
            out = []
            for typed in scanned_inferred(cells):
                if typed.kind == "span":
                    put_text(cells, typed.mask)
                else:
                    out.append(typed)
            return out

        self._type_group(code, rows, keep, parts, field, declared_as, inferred)


#: text cells holding a backslash one column of a batch may have and still be coded
#: mostly by `Interner` (which reads a backslash as a JSON escape): they are coded one
#: by one between its calls
_BACKSLASHED = 64


def _codes(interner: Interner, cells: ScannedColumn, rows: np.ndarray) -> np.ndarray | None:
    """The run codes of the cells of `rows`, in order of first appearance; None where
    more than `_BACKSLASHED` of them hold a backslash."""
    buf, spans, lens = cells.buf, cells.spans, cells.lens
    odd = np.flatnonzero(cells.backslashed()[rows])
    if not len(odd):
        return interner.codes(buf, spans[rows], lens[rows])
    if len(odd) > _BACKSLASHED:
        return None
    codes = np.empty(len(rows), np.int32)
    texts = cells.texts(rows[odd])
    start = 0
    for at, text in zip(odd.tolist(), texts, strict=True):
        if at > start:
            plain = rows[start:at]
            codes[start:at] = interner.codes(buf, spans[plain], lens[plain])
        codes[at] = interner.dictionaries[0].code(text)
        start = at + 1
    if start < len(rows):
        plain = rows[start:]
        codes[start:] = interner.codes(buf, spans[plain], lens[plain])
    return codes
