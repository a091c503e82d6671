"""Columnar sources: the events of a file as batches of NumPy columns, for the fast path.

`read_jsonl_batches`, `read_csv_batches`, `read_parquet_batches` and `read_arrow_batches`
yield `Batch`es: for the events of about `batch_size` input lines (rows), their times
(int64 epoch ms), type codes, 1-based line numbers, one `Column` per field the caller
asks for, and the rejects of those lines. They accept and reject exactly what the row
readers of `cep.io.sources` accept and reject, with the same typed values and reasons:

- JSONL is read by a numba scanner (`cep.io.jsonscan`) straight from the bytes where it
  is sure of a line (one JSON object whose wanted keys hold values that fit the event
  type's fields). The rest is decoded with msgspec into structs built at run time, one
  per event type with a schema (its declared fields typed as `cep.io.validation` checks
  them) or seen without one (only the fields asked for); the scanner takes of a field
  what those structs take and its column holds as a valid value, nothing more. A line
  msgspec refuses, or that a check after decoding
  refuses (a bad time, say), is read again by the row reader's code (`_Maker`,
  `Validator`), which gives its reason; so does a line that does not look like one JSON
  object (blank, a BOM, trailing spaces, very long).
- CSV is split with pyarrow where that is exactly `csv.reader`'s split: lines with no
  quote, NUL or lone carriage return. Cells are typed as `read_csv` types them
  (`convert_cell`, `infer_cell`) with vectorized checks for the common forms (ASCII
  integers, decimals, true/false); any other row, and every row with a quote (a quoted
  cell may span lines), goes through `csv.reader` and the row reader's code.
- Parquet and Arrow IPC are read with pyarrow; a row is the record of its non-null cells
  (timestamps as epoch ms), treated as a JSON object would be. Such inputs have no lines:
  `line` is the 1-based row number and an event's text is that record as JSON.

Strings are dictionary-encoded: each str column has one `Dictionary` for the whole run,
so a string keeps its code across batches. The text of an event (for output, exactly as
read, without its line ending) comes from `Batch.text(i)`: a batch keeps the bytes of its
lines and decodes a line only when asked.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat
from operator import attrgetter, is_not
from typing import IO, TYPE_CHECKING, Annotated, Any, Optional, Union

import msgspec
import numpy as np

from cep.io.jsonscan import COLUMN_TYPES, ClassPlan, Interner, ScanPlan, field_mask
from cep.io.newlines import braced_lines, newlines
from cep.io.prefetch import read_ahead
from cep.io.sources import (
    _DECODER,
    _INT_TEXT,
    Reject,
    SourceError,
    SourceEvent,
    _csv_record,
    _Maker,
    convert_cell,
    csv_reason,
    infer_cell,
    json_reason,
    line_text,
)
from cep.io.time import MAX_MS, MIN_MS, BadTime, parse_time
from cep.io.validation import Validator
from cep.lang.types import Type
from cep.runtime.event import Event
from cep.runtime.match import JSON_SPACE, encode, encode_lines

if TYPE_CHECKING:
    import pyarrow as pa

    from cep.lang.program import Schema

FORMATS = ("jsonl", "csv", "parquet", "arrow")
BATCH_SIZE = 65_536
#: Parquet and Arrow rows per batch: larger, since their columns come decoded (per-batch
#: costs weigh more; JSON lines' scanning is fastest on batches of `BATCH_SIZE`)
ARROW_BATCH_SIZE = 262_144
KINDS = ("int", "float", "bool", "str", "time", "duration", "object")

_INTISH = frozenset(("int", "time", "duration"))
_DTYPES: dict[str, Any] = {
    "int": np.int64,
    "time": np.int64,
    "duration": np.int64,
    "float": np.float64,
    "bool": np.bool_,
    "str": np.int32,
    "object": object,
}
_EXACT_FLOAT = 2.0**53  # ints below this in magnitude are exact as floats
_LONG_JSON = 256  # longer lines are checked for depth and huge ints before msgspec reads them
_MAX_DEPTH = 128
_MAX_CSV = 100_000  # longer lines take csv.reader (its field size limit)
_PAUSE = 16_384  # a read shorter than this: the input is trickling, hand on what we have
_MAX_CLASSES = 1024


# ------------------------------------------------------------------------------ batches

_ANY_JSON = msgspec.json.Decoder()


def json_record(text: str) -> Any:
    """`json.loads(text)` for a line the JSONL reader accepted, decoded by msgspec (several
    times faster) unless msgspec refuses it (NaN, lone surrogates, out-of-range floats)."""
    try:
        return _ANY_JSON.decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


class Dictionary:
    """Strings and their int32 codes, in order of first appearance; a code never changes."""

    __slots__ = ("_arrow", "_codes", "values")

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes = _Codes(self.values)
        #: the last pyarrow dictionary coded (`arrow_codes`) and its codes
        self._arrow: tuple[Any, np.ndarray] | None = None

    def code(self, value: str) -> int:
        """The code of `value`, added if new."""
        return self._codes[value]

    def find(self, value: str) -> int:
        """The code of `value`, or -1 if it has none (yet)."""
        return self._codes.get(value, -1)

    def encode(self, values: Iterable[str | None], count: int = -1) -> np.ndarray:
        """Codes of strings (added if new); -1 for None."""
        return np.fromiter(map(self._codes.__getitem__, values), np.int32, count)

    def arrow_codes(self, strings: Any) -> np.ndarray:
        """Codes of the strings of a pyarrow string array (a dictionary array's
        dictionary); remembered for the last one, since a Parquet file's batches of one
        row group share their dictionaries."""
        last = self._arrow
        if last is not None and len(last[0]) == len(strings) and last[0].equals(strings):
            return last[1]
        codes = self.encode(strings.to_pylist(), len(strings))
        self._arrow = (strings, codes)
        return codes

    def __getitem__(self, code: int) -> str:
        return self.values[code]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Dictionary({self.values!r})"


class _Codes(dict[Any, int]):
    __slots__ = ("values",)

    def __init__(self, values: list[str]) -> None:
        super().__init__({None: -1})
        self.values = values

    def __missing__(self, key: str) -> int:
        code = len(self.values)
        self.values.append(key)
        self[key] = code
        return code


class Column:
    """One field's values for the events of a batch.

    `values[i]` holds event `i`'s value where `valid[i]`: int64 for `int`, `time` (epoch
    ms) and `duration`; float64; bool; int32 codes into `dictionary` for `str`; Python
    objects for `object`. Where the event lacks the field (or it is null), `valid[i]` is
    False. Where it has a value that is not of the column's kind (an event type whose
    schema does not declare the field as such, say), `valid[i]` is False and `other[i]`
    holds the value as read (typed like the row reader's `data`).
    """

    __slots__ = ("dictionary", "kind", "other", "valid", "values")

    def __init__(
        self,
        kind: str,
        values: np.ndarray,
        valid: np.ndarray,
        dictionary: Dictionary | None = None,
        other: dict[int, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.values = values
        self.valid = valid
        self.dictionary = dictionary
        self.other: dict[int, Any] = {} if other is None else other

    def get(self, i: int) -> Any:
        """Event `i`'s value as a Python value (a string for a code); None if missing."""
        if self.valid[i]:
            value = self.values[i]
            if self.dictionary is not None:
                return self.dictionary.values[value]
            return value if self.kind == "object" else value.item()
        return self.other.get(i)

    def to_pylist(self) -> list[Any]:
        return [self.get(i) for i in range(len(self.values))]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Column({self.kind}, {self.to_pylist()!r})"


class Batch:
    """The events of some consecutive input lines (or rows), as columns, and their rejects.

    `ts` (int64 epoch ms), `type` (int32 codes into `types`, one `Dictionary` per run) and
    `line` (int64, 1-based; a CSV row's first line) have one entry per event, in input
    order; `columns` maps each field asked for to its `Column`. `rejects` are the lines of
    this stretch that did not become events, in order. `lines` counts the lines (rows) the
    batch covers: its events, its rejects and its blank lines (and a CSV header).
    """

    __slots__ = (
        "_ahead", "_texts", "columns", "line", "lines", "made_ahead", "record_of", "rejects",
        "ts", "type", "types",
    )  # fmt: skip

    def __init__(
        self,
        ts: np.ndarray,
        type: np.ndarray,
        types: Dictionary,
        line: np.ndarray,
        columns: dict[str, Column],
        rejects: list[Reject],
        lines: int,
        texts: _Texts,
    ) -> None:
        self.ts = ts
        self.type = type
        self.types = types
        self.line = line
        self.columns = columns
        self.rejects = rejects
        self.lines = lines
        self._texts = texts
        #: texts made ahead (`make_record_pieces`): the rows, sorted, and their pieces
        self._ahead: tuple[np.ndarray, TextPieces] | None = None
        #: what work done ahead on the batch (on a reader's thread) left for its users, by
        #: who left it (`ColumnarRun.prepare`)
        self.made_ahead: dict[Any, Any] = {}
        #: an event's record (a dict of its fields, as the row reader reads it) from what
        #: `kept_of` gives: its text as JSON for JSON lines; CSV and Arrow readers set
        #: their own
        self.record_of: Callable[[Any], dict[str, Any]] = json_record
        if isinstance(texts, _RowTexts):
            self.record_of = exact_arrow_record_of if texts.exact else arrow_record_of

    def __len__(self) -> int:
        return len(self.ts)

    def type_name(self, i: int) -> str:
        return self.types.values[self.type[i]]

    def text(self, i: int) -> str:
        """Event `i` as read: its line without the line ending (a CSV row's lines joined
        by newlines; for Parquet and Arrow, its record as JSON)."""
        return self._texts.get(i)

    def texts(self) -> list[str]:
        return [self._texts.get(i) for i in range(len(self.ts))]

    def kept_of(self, indexes: list[int]) -> list[Any]:
        """What to keep of some events so that `record_of` can rebuild their records
        later (their texts, or for Arrow rows their records), made in one go."""
        return self._texts.kept(indexes)

    def record_pieces(self, indexes: np.ndarray) -> TextPieces | None:
        """Some events' texts as reports write them, made in one go: for CSV and Arrow
        rows their records encoded (`encode_lines`, as the interpreter encodes an event's
        record); None for JSON lines (their texts are their lines: `line_texts`). Taken
        from those made ahead when they hold every event asked for."""
        if self.record_of is json_record:
            return None
        ahead = self._ahead
        if ahead is not None and len(ahead[0]):
            rows, (data, starts, ends) = ahead
            at = np.minimum(np.searchsorted(rows, indexes), len(rows) - 1)
            if (rows[at] == indexes).all():
                return data, starts[at], ends[at]
        kept = self._texts.kept(np.asarray(indexes, np.int64).tolist())
        records_of = getattr(self.record_of, "__self__", None)
        if isinstance(records_of, _CsvReader):  # (CSV rows: split in one call)
            records = records_of.records_of(kept)
        else:
            records = list(map(self.record_of, kept))
        return record_texts(records)

    def line_texts(self) -> tuple[bytes, np.ndarray, np.ndarray] | None:
        """Where the events' JSON lines are: the buffer, and each event's start and end in
        it (the line's object, which is the event's text in reports and which
        `json_record` rebuilds its record from); end -1 for a line read as text (`json_of`
        gives its text). None when the batch is not of JSON lines."""
        texts = self._texts
        if self.record_of is not json_record or type(texts) is not _Texts:
            return None
        ends = texts.ends
        if texts.given:
            ends = ends.copy()
            ends[texts.given_rows()] = -1
        return texts.buf, texts.starts, ends

    def json_of(self, kept: Any) -> str | None:
        """An event's text in reports from what `kept_of` gives of it: a JSON line's
        object as read; None for a CSV or Arrow row (its record is encoded)."""
        if self.record_of is json_record and type(kept) is str:
            return kept.strip(JSON_SPACE)
        return None

    def make_record_pieces(self, rows: np.ndarray) -> None:
        """Make the texts of some events (sorted indexes) ahead of `record_pieces`: work
        a reader's thread can do while the caller matches the batch before."""
        pieces = self.record_pieces(rows)
        self._ahead = None if pieces is None else (rows, pieces)

    def values(self, i: int) -> dict[str, Any]:
        """Event `i`'s fields asked for, as Python values (missing ones left out)."""
        out = {}
        for name, column in self.columns.items():
            value = column.get(i)
            if value is not None:
                out[name] = value
        return out

    def __repr__(self) -> str:
        return f"Batch({len(self)} events, {len(self.rejects)} rejects, {self.lines} lines)"


class _Texts:
    """Event texts: slices of a buffer of UTF-8 lines, else given."""

    __slots__ = ("buf", "ends", "given", "starts")

    def __init__(self, buf: bytes, starts: np.ndarray, ends: np.ndarray, given: dict[int, str]):
        self.buf = buf
        self.starts = starts
        self.ends = ends
        self.given = given

    def get(self, i: int) -> str:
        text = self.given.get(i)
        if text is None:
            start, end = int(self.starts[i]), int(self.ends[i])
            text = self.buf[start:end].decode("utf-8", "surrogatepass")
        return text

    def kept(self, indexes: list[int]) -> list[Any]:
        """The texts of some events, made in one go."""
        buf, given = self.buf, self.given
        starts, ends = self.starts[indexes].tolist(), self.ends[indexes].tolist()
        return [
            given[i] if i in given else buf[start:end].decode("utf-8", "surrogatepass")
            for i, start, end in zip(indexes, starts, ends, strict=True)
        ]

    def given_rows(self) -> np.ndarray:
        """The events read as text (`given`), not cut from the buffer."""
        return np.fromiter(self.given, np.int64, len(self.given))


class _RowTexts(_Texts):
    """Event texts of Arrow rows: the record of a row as JSON, made when asked for."""

    __slots__ = ("batch", "exact")

    def __init__(self, batch: pa.RecordBatch, rows: np.ndarray, given: dict[int, str]):
        super().__init__(b"", rows, rows, given)
        self.batch = batch
        #: whether every column's values go through JSON text unchanged
        self.exact = all(_json_exact(field.type) for field in batch.schema)

    def get(self, i: int) -> str:
        text = self.given.get(i)
        if text is None:
            record = _arrow_records(self.batch, [int(self.starts[i])])[0]
            text = _record_text(record)
        return text

    def kept(self, indexes: list[int]) -> list[Any]:
        """Records of rows (no JSON text made); texts for rows read as text."""
        missing = [i for i in indexes if i not in self.given]
        records = _arrow_records(self.batch, [int(self.starts[i]) for i in missing])
        made = dict(zip(missing, records, strict=True))
        return [self.given[i] if i in self.given else made[i] for i in indexes]


def _json_exact(kind: Any) -> bool:
    """Whether an Arrow type's values (as `_arrow_records` gives them) are JSON's."""
    types = _pa().types
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


def _record_text(record: dict[str, Any]) -> str:
    """A record as JSON text: the encoder of reports (`cep.runtime.match.encode`)."""
    return encode(record).decode()


#: texts in one buffer: `data[starts[i]:ends[i]]`
TextPieces = tuple[np.ndarray, np.ndarray, np.ndarray]


def record_texts(records: list[dict[str, Any]]) -> TextPieces:
    """Records as reports write them (`encode`, the interpreter's encoder of an event's
    record), encoded in one call, as pieces of one buffer."""
    data = np.frombuffer(encode_lines(records), np.uint8)
    ends = np.flatnonzero(data == 10)  # (JSON text holds no raw newline)
    starts = np.zeros(len(ends), np.int64)
    starts[1:] = ends[:-1] + 1
    return data, starts, ends


#: value types a record keeps as they are through JSON text and back
_JSON_EXACT = frozenset((str, int, float, bool))


def exact_arrow_record_of(kept: str | dict[str, Any]) -> dict[str, Any]:
    """`arrow_record_of` for rows whose columns all hold JSON's types (`_json_exact`)."""
    if type(kept) is str:
        return json.loads(kept)
    return kept


def arrow_record_of(kept: str | dict[str, Any]) -> dict[str, Any]:
    """The record an Arrow row's text would give (`_RowTexts.kept`), made without the
    text when every value goes through JSON unchanged."""
    if type(kept) is str:
        return json.loads(kept)
    assert isinstance(kept, dict)
    if {*map(type, kept.values())} <= _JSON_EXACT:
        return kept
    return json.loads(_record_text(kept))


# ------------------------------------------------------------------------------ columns


class _Part:
    """A column's values for some rows (before a batch is put together)."""

    __slots__ = ("other", "valid", "values")

    def __init__(
        self, values: np.ndarray, valid: np.ndarray, other: dict[int, Any] | None = None
    ) -> None:
        self.values = values
        self.valid = valid
        self.other: dict[int, Any] = {} if other is None else other


def _rows_by_type(codes: np.ndarray, keep: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """The type codes of the rows kept (codes >= 0 there), each with the rows of that
    code, in order; every row when there is only one."""
    found = np.flatnonzero(np.bincount(codes[keep])).tolist()
    if len(found) == 1:
        return [(found[0], np.arange(len(codes)))]
    return [(code, np.flatnonzero(codes == code)) for code in found]


def _empty(kind: str, n: int) -> _Part:
    if kind == "str":
        values = np.full(n, -1, np.int32)
    elif kind == "object":
        values = np.full(n, None, object)
    else:
        values = np.zeros(n, _DTYPES[kind])
    return _Part(values, np.zeros(n, np.bool_))


def _fit(kind: str, value: Any) -> tuple[bool, Any]:
    """Whether a (non-null) value is of a column's kind, and the value as stored."""
    cls = value.__class__
    if kind in _INTISH:
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


def _generic(kind: str, values: list[Any], dictionary: Dictionary | None) -> _Part:
    """A part from Python values of any type, one at a time."""
    part = _empty(kind, len(values))
    for i, value in enumerate(values):
        if value is None:
            continue
        fits, stored = _fit(kind, value)
        if fits:
            part.values[i] = dictionary.code(stored) if dictionary is not None else stored
            part.valid[i] = True
        else:
            part.other[i] = value
    return part


def _not_none(values: list[Any]) -> np.ndarray:
    return np.fromiter(map(is_not, values, repeat(None)), np.bool_, len(values))


def _fast(kind: str, values: list[Any], dictionary: Dictionary | None) -> _Part:
    """A part from Python values known to be of the column's kind (or None); a float
    column may get ints."""
    n = len(values)
    if kind == "str":
        assert dictionary is not None
        codes = dictionary.encode(values, n)
        return _Part(codes, codes >= 0)
    if kind == "float":
        try:
            array = np.fromiter(values, np.float64, n)
        except (OverflowError, TypeError, ValueError):
            return _generic(kind, values, dictionary)
        part = _Part(array, ~np.isnan(array))
        for i in np.flatnonzero(np.abs(array) >= _EXACT_FLOAT).tolist():
            value = values[i]
            if value.__class__ is int and float(value) != value:
                part.valid[i] = False
                part.other[i] = value
        return part
    if kind in _INTISH:
        try:
            return _Part(np.fromiter(values, np.int64, n), np.ones(n, np.bool_))
        except TypeError:
            valid = _not_none(values)
            objects = np.array(values, dtype=object)
            objects[~valid] = 0
            return _Part(objects.astype(np.int64), valid)
    if kind == "bool":
        return _Part(np.fromiter(values, np.bool_, n), _not_none(values))
    array = np.empty(n, object)
    for i, value in enumerate(values):
        array[i] = value
    return _Part(array, _not_none(values))


def _time_ms(value: Any) -> int | None:
    """A time value as epoch ms, as the row reader reads it; None if it is not a time."""
    if value.__class__ is int and MIN_MS <= value <= MAX_MS:
        return value  # type: ignore[no-any-return]
    try:
        return parse_time(value)
    except BadTime:
        return None


def _kind_of(declared: Type | str) -> str:
    kind = declared if isinstance(declared, str) else declared.kind
    return kind if kind in KINDS else "object"


# ------------------------------------------------------------------------ from events

_NONE = type(None)
_STR_KINDS = frozenset((str, _NONE))
_BOOL_KINDS = frozenset((bool, _NONE))
_FLOAT_KINDS = frozenset((float, _NONE))
_INT_KINDS = frozenset((int, _NONE))


class EventColumns:
    """Batches of columns made from events already in memory (`FastEngine.push`).

    Each column's kind comes from the values of the batch: text (dictionary codes, the
    dictionaries kept across batches), booleans, finite floats, integers within 2^53,
    else Python objects (compared one by one with the interpreter's own comparisons)."""

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields = [name for name in fields if name not in ("ts", "type")]
        self.types = Dictionary()
        self.dictionaries = {name: Dictionary() for name in self.fields}

    def batch(self, events: list[Event]) -> Batch:
        n = len(events)
        ts = np.fromiter(map(attrgetter("ts"), events), np.int64, n)
        types = self.types.encode(map(attrgetter("type"), events), n)
        datas = list(map(attrgetter("data"), events))
        columns = {}
        for name in self.fields:
            values = list(map(dict.get, datas, repeat(name)))
            columns[name] = self._column(name, values)
        texts = _Texts(b"", np.zeros(n, np.int64), np.zeros(n, np.int64), {})
        return Batch(ts, types, self.types, np.zeros(n, np.int64), columns, [], n, texts)

    def _column(self, name: str, values: list[Any]) -> Column:
        kinds = {*map(type, values)}
        if kinds <= _STR_KINDS:
            dictionary = self.dictionaries[name]
            part = _fast("str", values, dictionary)
            return Column("str", part.values, part.valid, dictionary, {})
        if kinds <= _BOOL_KINDS:
            valid = _not_none(values)
            array = np.fromiter((v is True for v in values), np.bool_, len(values))
            return Column("bool", array, valid, None, {})
        if kinds <= _FLOAT_KINDS or kinds <= _INT_KINDS:
            valid = _not_none(values)
            plain = [v if v is not None else 0 for v in values]
            dtype = np.float64 if float in kinds else np.int64
            try:
                array = np.fromiter(plain, dtype, len(plain))
            except OverflowError:
                array = None
            if array is not None and (
                np.isfinite(array).all() if dtype is np.float64 else
                (np.abs(array) < _EXACT_FLOAT).all()
            ):  # fmt: skip
                return Column("float" if dtype is np.float64 else "int", array, valid, None, {})
        part = _generic("object", values, None)
        return Column("object", part.values, part.valid, None, part.other)


# ------------------------------------------------------------------------------ context


class _Reader:
    """What every reader shares: the fields asked for, dictionaries, the row reader's code."""

    def __init__(
        self,
        fields: Mapping[str, Type | str] | Iterable[tuple[str, Type | str]],
        type_field: str,
        time_field: str,
        default_type: str | None,
        validator: Validator | None,
    ) -> None:
        items = fields.items() if isinstance(fields, Mapping) else fields
        self.fields = [
            (name, _kind_of(t)) for name, t in items if name not in (type_field, time_field)
        ]
        self.type_field = type_field
        self.time_field = time_field
        self.default_type = default_type or None
        self.validator = validator
        self.maker = _Maker(type_field, time_field, default_type, validator)
        self.types = Dictionary()
        self.dictionaries = {name: Dictionary() for name, kind in self.fields if kind == "str"}

    def schema(self, type_name: str) -> Schema | None:
        return self.validator.schema(type_name) if self.validator is not None else None

    def _type_group(
        self,
        code: int,
        rows: np.ndarray,
        keep: np.ndarray,
        parts: dict[str, _Part],
        field: Callable[[str], Any],
        declared_as: Callable[[Any, str], tuple[np.ndarray, np.ndarray, Any]],
        inferred: Callable[[Any], Iterable[Any]],
    ) -> None:
        """Validate and type the fields of the rows of one event type (`keep` cleared
        where the row reader must decide): `field(name)` gives a field's cells for those
        rows (None where the source lacks it), `declared_as(cells, kind)` which cells are
        present, which pass as `kind`, and their typed values, `inferred(cells)` the
        typed parts of a field the schema does not declare."""
        schema = self.schema(self.types.values[code])
        declared = schema.fields if schema is not None else {}
        if self.type_field in declared or self.time_field in declared:
            keep[rows] = False
            return
        used = dict(self.fields)
        for name, info in declared.items():
            cells = field(name)
            if cells is None:
                if not info.optional:
                    keep[rows] = False
                    return
                continue
            present, ok, typed = declared_as(cells, info.type.kind)
            if not info.optional:
                keep[rows[~present]] = False
            keep[rows[present & ~ok]] = False
            if name in used and typed is not None:
                _put(parts[name], used[name], rows, typed, self.dictionaries.get(name))
        for name, kind in self.fields:
            if name not in declared and (cells := field(name)) is not None:
                for typed in inferred(cells):
                    _put(parts[name], kind, rows, typed, self.dictionaries.get(name))

    def slow_part(self, events: list[SourceEvent]) -> tuple[dict[str, _Part], np.ndarray]:
        parts = {}
        for name, kind in self.fields:
            values = [event.data.get(name) for event in events]
            parts[name] = _generic(kind, values, self.dictionaries.get(name))
        codes = np.fromiter((self.types.code(e.type) for e in events), np.int32, len(events))
        return parts, codes

    def assemble(
        self,
        fast: _FastRows | None,
        slow: list[SourceEvent | Reject],
        lines: int,
        buf: bytes = b"",
        arrow: pa.RecordBatch | None = None,
    ) -> Batch:
        """A batch from the rows read fast and the events and rejects of the row reader."""
        rejects = sorted((r for r in slow if isinstance(r, Reject)), key=attrgetter("line"))
        events = sorted((e for e in slow if isinstance(e, SourceEvent)), key=_LINE)
        parts, codes = self.slow_part(events)
        count = len(events)
        ts = np.fromiter((e.ts for e in events), np.int64, count)
        line = np.fromiter(map(_LINE, events), np.int64, count)
        given = {i: e.text for i, e in enumerate(events)}
        minus = np.full(count, -1, np.int64)
        starts, ends = minus, minus
        if fast is not None and len(fast.line) and not count:
            line, ts, codes = fast.line, fast.ts, fast.type
            starts, ends, parts = fast.starts, fast.ends, fast.parts
        elif fast is not None and len(fast.line):
            k = len(fast.line)
            line = np.concatenate((fast.line, line))
            ts = np.concatenate((fast.ts, ts))
            codes = np.concatenate((fast.type, codes))
            starts = np.concatenate((fast.starts, starts))
            ends = np.concatenate((fast.ends, ends))
            for name, part in parts.items():
                first = fast.parts[name]
                other = dict(first.other)
                other.update((k + i, v) for i, v in part.other.items())
                parts[name] = _Part(
                    np.concatenate((first.values, part.values)),
                    np.concatenate((first.valid, part.valid)),
                    other,
                )
            given = {k + i: text for i, text in given.items()}
            if count:
                order = np.argsort(line, kind="stable")
                back = np.empty_like(order)
                back[order] = np.arange(len(order))
                line, ts, codes = line[order], ts[order], codes[order]
                starts, ends = starts[order], ends[order]
                given = {int(back[i]): text for i, text in given.items()}
                for name, part in parts.items():
                    other = {int(back[i]): v for i, v in part.other.items()}
                    parts[name] = _Part(part.values[order], part.valid[order], other)
        columns = {
            name: Column(
                kind,
                parts[name].values,
                parts[name].valid,
                self.dictionaries.get(name),
                parts[name].other,
            )
            for name, kind in self.fields
        }
        texts = _Texts(buf, starts, ends, given)
        if arrow is not None:
            texts = _RowTexts(arrow, starts, given)
        return Batch(ts, codes, self.types, line, columns, rejects, lines, texts)


_LINE = attrgetter("line")


class _FastRows:
    """Rows read on the fast path, in input order: their lines, times, types, fields and
    where their text is (byte offsets, or Arrow row numbers as `starts`)."""

    __slots__ = ("ends", "line", "parts", "starts", "ts", "type")

    def __init__(
        self,
        line: np.ndarray,
        ts: np.ndarray,
        type: np.ndarray,
        parts: dict[str, _Part],
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> None:
        self.line = line
        self.ts = ts
        self.type = type
        self.parts = parts
        self.starts = starts
        self.ends = ends

    def merge(self, other: _FastRows) -> _FastRows:
        """These rows and `other`'s, in line order."""
        if not len(other.line):
            return self
        if not len(self.line):
            return other
        line = np.concatenate((self.line, other.line))
        order = np.argsort(line, kind="stable")
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        k = len(self.line)
        parts = {}
        for name, part in self.parts.items():
            second = other.parts[name]
            values = np.concatenate((part.values, second.values))[order]
            valid = np.concatenate((part.valid, second.valid))[order]
            moved = {int(back[i]): v for i, v in part.other.items()}
            moved.update((int(back[k + i]), v) for i, v in second.other.items())
            parts[name] = _Part(values, valid, moved)

        def both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return np.concatenate((a, b))[order]

        return _FastRows(
            line[order],
            both(self.ts, other.ts),
            both(self.type, other.type),
            parts,
            both(self.starts, other.starts),
            both(self.ends, other.ends),
        )

    def keep(self, mask: np.ndarray) -> _FastRows:
        """Only the rows where `mask` is True."""
        if mask.all():
            return self
        index = np.flatnonzero(mask)
        new = np.full(len(mask), -1, np.int64)
        new[index] = np.arange(len(index))
        parts = {}
        for name, part in self.parts.items():
            other = {int(new[i]): v for i, v in part.other.items() if mask[i]}
            parts[name] = _Part(part.values[index], part.valid[index], other)
        return _FastRows(
            self.line[index],
            self.ts[index],
            self.type[index],
            parts,
            self.starts[index],
            self.ends[index],
        )


# ------------------------------------------------------------------------------ lines


class _Block:
    """Whole lines of input: `buf` (each line ends with a newline), `nl` (the offset of
    each newline), `first` (the first line's number), `items` (the lines as given, for
    an iterable of lines, else None) and `forced` (lines only the row reader may read)."""

    __slots__ = ("buf", "eof", "first", "forced", "items", "nl")

    def __init__(
        self,
        buf: bytes,
        first: int,
        eof: bool,
        items: list[str | bytes] | None = None,
        forced: set[int] | None = None,
        nl: np.ndarray | None = None,
    ) -> None:
        self.buf = buf
        self.first = first
        self.eof = eof
        self.items = items
        self.forced = forced or set()
        self.nl = newlines(buf) if nl is None else nl

    def __len__(self) -> int:
        return len(self.nl)

    def starts(self) -> np.ndarray:
        starts = np.empty(len(self.nl), np.int64)
        if len(starts):
            starts[0] = 0
            starts[1:] = self.nl[:-1] + 1
        return starts

    def item(self, i: int) -> str | bytes:
        """Line `i` as given (bytes without the newline, or the iterable's item)."""
        if self.items is not None:
            return self.items[i]
        start = int(self.nl[i - 1]) + 1 if i else 0
        return bytes(self.buf[start : int(self.nl[i])])


class _ByteLines:
    """Blocks of about `size` whole lines from a binary stream."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.readinto = getattr(stream, "readinto1", None) or getattr(stream, "readinto", None)
        self.read = getattr(stream, "read1", None) or stream.read
        self.size = size
        self.carry = b""  # bytes read but not yet in a block
        self.carried = 0  # newlines in carry
        self.width = 128.0  # bytes a line, as seen so far
        self.first = 1
        self.eof = False
        self.need = 0  # lines the next block must have (more than were pushed back)

    def _fill(self, buf: bytearray, start: int) -> int:
        """Read into `buf[start:]`; how many bytes came."""
        if self.readinto is not None:
            with memoryview(buf) as view:
                return self.readinto(view[start:]) or 0  # type: ignore[no-any-return]
        chunk = self.read(len(buf) - start)
        buf[start : start + len(chunk)] = chunk
        return len(chunk)

    def next_block(self) -> _Block | None:
        size = max(self.size, self.need)
        self.need = 0
        carry = self.carry
        count = self.carried
        buf = bytearray(carry)
        pieces = [newlines(buf, 0, self.width)] if count else []
        filled = len(buf)
        while not self.eof and count < size:
            want = min(max(4096, int(self.width * (size - count) * 1.02)), 1 << 26)
            if filled == len(carry):  # the first read: one buffer for the carry and it
                buf = bytearray(filled + want)
                buf[:filled] = carry
            else:
                buf.extend(bytes(want))
            got = self._fill(buf, filled)
            if not got:
                self.eof = True
                break
            found = newlines(memoryview(buf)[filled : filled + got], filled, self.width)
            pieces.append(found)
            count += len(found)
            filled += got
            del buf[filled:]
            if got < min(want, _PAUSE) and count:
                break
        del buf[filled:]
        if self.eof and buf and not buf.endswith(b"\n"):
            buf += b"\n"
            pieces.append(np.array([len(buf) - 1], np.int64))
            count += 1
        nl = np.concatenate(pieces) if pieces else np.zeros(0, np.int64)
        if not len(nl):
            self.carry, self.carried = bytes(buf), 0
            return None
        if len(nl) > size:
            nl = nl[:size]
        cut = int(nl[-1]) + 1
        self.carry = bytes(buf[cut:])
        self.carried = count - len(nl)
        del buf[cut:]
        block = _Block(buf, self.first, self.eof and not self.carry, nl=nl)  # type: ignore[arg-type]
        self.width = cut / len(nl)
        self.first += len(nl)
        return block

    def push_back(self, block: _Block, i: int) -> None:
        """Read block's lines from `i` on again, with the next block."""
        start = int(block.nl[i - 1]) + 1 if i else 0
        self.carry = bytes(block.buf[start:]) + self.carry
        self.carried += len(block) - i
        self.first = block.first + i
        self.need = len(block) - i + 1


class _ItemLines:
    """Blocks of `size` lines from an iterable of lines (text or bytes)."""

    def __init__(self, lines: Iterable[str] | Iterable[bytes], size: int) -> None:
        self.lines = iter(lines)
        self.size = size
        self.pending: list[str | bytes] = []
        self.first = 1
        self.eof = False
        self.need = 0

    def next_block(self) -> _Block | None:
        items = self.pending
        self.pending = []
        size = max(self.size, self.need)
        self.need = 0
        if not self.eof and len(items) < size:
            for item in self.lines:
                items.append(item)
                if len(items) >= size:
                    break
            else:
                self.eof = True
        if not items:
            return None
        pieces = []
        forced = set()
        for i, item in enumerate(items):
            line = item[:-1] if item[-1:] in ("\n", b"\n") else item
            try:
                data = line.encode("utf-8") if isinstance(line, str) else line
            except UnicodeEncodeError:
                data = b""
                forced.add(i)
            if b"\n" in data:
                data = b""
                forced.add(i)
            pieces.append(data)
        pieces.append(b"")
        block = _Block(b"\n".join(pieces), self.first, self.eof, items, forced)
        self.first += len(items)
        return block

    def push_back(self, block: _Block, i: int) -> None:
        assert block.items is not None
        self.pending = block.items[i:] + self.pending
        self.first = block.first + i
        self.need = len(self.pending) + 1


def _line_source(source: Any, size: int) -> _ByteLines | _ItemLines:
    if isinstance(source, io.TextIOBase):
        buffer = getattr(source, "buffer", None)
        if buffer is None:
            return _ItemLines(source, size)
        source = buffer
    if hasattr(source, "read"):
        return _ByteLines(source, size)
    return _ItemLines(source, size)


def _bad_utf8_lines(block: _Block, lines: np.ndarray) -> np.ndarray:
    """Among `lines`, those that are not UTF-8 (all of them are when the block is ASCII)."""
    data = block.buf
    if data.isascii():
        return np.zeros(0, np.int64)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return np.zeros(0, np.int64)
    high = np.flatnonzero(np.frombuffer(data, np.uint8) >= 128)
    suspects = np.unique(np.searchsorted(block.nl, high))
    bad = []
    for i in suspects.tolist():
        item = block.item(i)
        if isinstance(item, bytes):
            try:
                item.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(i)
    return np.intersect1d(np.array(bad, np.int64), lines)


# ------------------------------------------------------------------------------ JSONL

_FMAX = sys.float_info.max
_I64 = Annotated[int, msgspec.Meta(ge=MIN_MS, le=MAX_MS)]
_F64 = Annotated[float, msgspec.Meta(ge=-_FMAX, le=_FMAX)]
_ANY_TIME = Union[int, float, str]  # noqa: UP007 - a runtime type for msgspec
_NOT_EXPRESSIBLE = object()
_DECLARED: dict[str, Any] = {
    "int": _I64,
    "duration": _I64,
    "float": _F64,
    "str": str,
    "bool": bool,
    "time": Union[_I64, float, str],  # noqa: UP007
}
_UNDECLARED: dict[str, Any] = {
    "int": _I64,
    "duration": _I64,
    "time": _I64,
    "float": Union[int, float],  # noqa: UP007
    "str": str,
    "bool": bool,
    "object": Any,
}
# the Python types a field's values have after decoding (and converting times)
_PY_DECLARED = {
    "int": {"int"},
    "duration": {"int"},
    "time": {"int"},
    "float": {"float"},
    "str": {"str"},
    "bool": {"bool"},
}
_PY_UNDECLARED = COLUMN_TYPES  # an undeclared field is decoded as its column's kind takes
_NO_TYPE_TAG = "\x00cep: no such type"
_CODE = attrgetter("_code")
_T = attrgetter("t")
_LOCATION = re.compile(r"`\$\[(\d+)\]")
_BYTE = re.compile(r"\(byte (\d+)\)")


@functools.cache
def _digit_run(digits: int) -> re.Pattern[bytes]:
    return re.compile(rb"[0-9]{%d}" % (digits + 1))


def _msgspec_type(declared: Type) -> Any:
    """The msgspec type accepting what validation accepts unchanged (or converts as
    msgspec does); `_NOT_EXPRESSIBLE` for lists of times."""
    if declared.kind == "list":
        if declared.elem is None:
            return list
        if declared.elem.kind == "time":
            return _NOT_EXPRESSIBLE
        elem = _msgspec_type(declared.elem)
        return _NOT_EXPRESSIBLE if elem is _NOT_EXPRESSIBLE else list[elem]  # type: ignore[valid-type]
    return _DECLARED.get(declared.kind, Any)


class _JsonlReader(_Reader):
    """JSONL: blocks of lines decoded by msgspec, the row reader for the rest."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.attrs = {name: f"u{j}" for j, (name, _) in enumerate(self.fields)}
        self.classes: dict[str, Any] = {}
        self.known: set[str] = set()
        self.decoder: Any = None
        self.default_ok: set[str | None] = {None, ""}
        self.interners = {name: Interner(d) for name, d in self.dictionaries.items()}
        self.plan: ScanPlan | None = None  # the scanner's, where it may read lines
        if self.default_type is not None:
            self.default_ok.add(self.default_type)
            self.known.add(self.default_type)
            cls = self._struct(self.default_type, self.schema(self.default_type), tagged=False)
            if cls is not None:
                self.decoder = msgspec.json.Decoder(cls)
                self._plan([cls], [], [self.default_type, ""])
        else:
            none = msgspec.defstruct(
                "_NoType",
                [],
                tag_field=self.type_field,
                tag=_NO_TYPE_TAG,
                namespace={"_code": -1},
            )
            self.classes[_NO_TYPE_TAG] = none
            if self.validator is not None:
                for name, schema in self.validator.schemas.items():
                    self._learn(name, schema)

    # -- structs

    def _struct(self, name: str, schema: Schema | None, tagged: bool) -> Any:
        fields: list[Any] = [("t", _ANY_TIME)]
        rename = {"t": self.time_field}
        times = []
        pytypes: dict[str, set[str]] = {}
        declared = schema.fields if schema is not None else {}
        used = dict(self.fields)
        masks: dict[str, int | None] = {self.time_field: field_mask("int", True, False, None)}
        for i, (field_name, info) in enumerate(declared.items()):
            if field_name in (self.type_field, self.time_field):
                return None
            mtype = _msgspec_type(info.type)
            if mtype is _NOT_EXPRESSIBLE:
                return None
            masks[field_name] = field_mask(
                info.type.kind, True, info.optional, used.get(field_name)
            )
            attr = self.attrs.get(field_name, f"d{i}")
            rename[attr] = field_name
            if info.type.kind == "time":
                times.append(attr)
            if info.optional:
                fields.append((attr, Optional[mtype], None))  # noqa: UP045
            else:
                fields.append((attr, mtype))
            pytypes[attr] = _PY_DECLARED.get(info.type.kind, {"any"})
        for field_name, kind in self.fields:
            if field_name in declared:
                continue
            attr = self.attrs[field_name]
            rename[attr] = field_name
            fields.append((attr, Optional[_UNDECLARED[kind]], None))  # noqa: UP045
            pytypes[attr] = _PY_UNDECLARED.get(kind, {"any"})
            masks[field_name] = field_mask(kind, False, True, kind)
        scan = None if None in masks.values() else masks
        if not tagged:
            fields.append(("y", Optional[str], None))  # noqa: UP045
            rename["y"] = self.type_field
        return msgspec.defstruct(
            f"_Event{len(self.classes)}",
            fields,
            kw_only=True,
            gc=False,
            rename=rename,
            tag_field=self.type_field if tagged else None,
            tag=name if tagged else None,
            namespace={
                "_code": self.types.code(name),
                "_times": tuple(times),
                "_py": pytypes,
                "_scan": scan,
            },
        )

    def _plan(self, classes: list[Any], tags: list[str], default: list[str]) -> None:
        """Let the scanner read the lines of these structs' types (see `cep.io.jsonscan`)."""
        if self.type_field == self.time_field or all(cls._scan is None for cls in classes):
            self.plan = None
            return
        plans = [ClassPlan(cls._code, cls._scan) for cls in classes]
        self.plan = ScanPlan(
            self.type_field, self.time_field, plans, tags, default, self.fields, self.interners
        )

    def _learn(self, name: str, schema: Schema | None) -> None:
        """Decode events of type `name` on the fast path from now on, if they can be."""
        self.known.add(name)
        if self.default_type is not None or len(self.classes) > _MAX_CLASSES:
            return
        cls = self._struct(name, schema, tagged=True)
        if cls is None:
            return
        self.classes[name] = cls
        self.decoder = msgspec.json.Decoder(Union[tuple(self.classes.values())])  # noqa: UP007
        tagged = {tag: c for tag, c in self.classes.items() if tag != _NO_TYPE_TAG}
        self._plan(list(tagged.values()), list(tagged), [])

    # -- the row reader

    def row(self, number: int, item: str | bytes) -> SourceEvent | Reject | None:
        """Exactly `read_jsonl`'s reading of one line (None for a blank line)."""
        text, ok = line_text(number, item)
        if not text or text.isspace():
            return None
        if not ok:
            return Reject(number, "not UTF-8", text)
        try:
            record = _DECODER.decode(text)
        except (ValueError, RecursionError):
            return Reject(number, json_reason(text), text)
        if not isinstance(record, dict):
            return Reject(number, "not an object", text)
        result = self.maker.make(record, number, text)
        if isinstance(result, SourceEvent) and result.type not in self.known:
            self._learn(result.type, self.schema(result.type))
        return result

    # -- a block

    def batch(self, block: _Block) -> Batch:
        n = len(block)
        nl = block.nl
        starts, ends, ok = braced_lines(block.buf, nl)
        length = ends - starts
        digits = sys.get_int_max_str_digits()
        for i in np.flatnonzero(ok & (length > _LONG_JSON)).tolist():
            # what Python's json refuses and msgspec may take: deep nesting, huge ints
            line = bytes(block.buf[starts[i] : ends[i]])
            if line.count(b"[") + line.count(b"{") > _MAX_DEPTH or (
                digits and len(line) > digits and _digit_run(digits).search(line)
            ):
                ok[i] = False
        if block.forced:
            ok[list(block.forced)] = False
        ok[_bad_utf8_lines(block, np.flatnonzero(ok))] = False

        slow: list[SourceEvent | Reject] = []
        structs: list[Any] = []
        rows: list[range] = []  # the lines of `structs`, run by run
        candidates = np.flatnonzero(ok)
        scanned = None
        if self.plan is not None and len(candidates):
            scanned, candidates = self._scan(self.plan, block, candidates, starts, ends)
        if len(candidates):
            breaks = np.flatnonzero(np.diff(candidates) != 1) + 1
            bounds = np.concatenate(([0], breaks, [len(candidates)]))
            view = memoryview(block.buf)
            for r in range(len(bounds) - 1):
                a, b = int(candidates[bounds[r]]), int(candidates[bounds[r + 1] - 1])
                self._decode_run(view, block, starts, a, b, structs, rows, slow)
        for i in np.flatnonzero(~ok).tolist():
            self._slow(block, i, slow)

        fast = None
        if structs:
            lines = np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in rows])
            fast, demoted = self._columns(structs, lines, block, starts, ends)
            for i in demoted.tolist():
                self._slow(block, i, slow)
        if scanned is not None:
            fast = scanned if fast is None else scanned.merge(fast)
        return self.assemble(fast, slow, n, buf=block.buf)

    @staticmethod
    def _scan(
        plan: ScanPlan, block: _Block, candidates: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> tuple[_FastRows, np.ndarray]:
        """The candidate lines the scanner reads, as fast rows, and the others."""
        read, ts, codes, columns = plan.read(block.buf, starts[candidates], ends[candidates])
        lines = candidates[read]
        parts = {name: _Part(values, valid) for name, (values, valid) in columns.items()}
        rows = _FastRows(lines + block.first, ts, codes, parts, starts[lines], ends[lines])
        rest = np.ones(len(candidates), np.bool_)
        rest[read] = False
        return rows, candidates[rest]

    def _slow(self, block: _Block, i: int, slow: list[SourceEvent | Reject]) -> None:
        result = self.row(block.first + i, block.item(i))
        if result is not None:
            slow.append(result)

    def _decode_run(
        self,
        view: memoryview,
        block: _Block,
        starts: np.ndarray,
        a: int,
        b: int,
        structs: list[Any],
        rows: list[range],
        slow: list[SourceEvent | Reject],
    ) -> None:
        """Decode lines a..b (each one object, by their looks) at once where they decode."""
        nl = block.nl
        while a <= b:
            decoder = self.decoder
            if decoder is None:
                self._slow(block, a, slow)
                a += 1
                continue
            try:
                items = decoder.decode_lines(view[starts[a] : nl[b]])
            except msgspec.DecodeError as error:
                last = self._locate(str(error), starts, a, b)
                if last is None:
                    self._each(view, block, starts, a, b, structs, rows, slow)
                    return
                if last > a:
                    self._exact(view, block, starts, a, last - 1, structs, rows, slow)
                self._each(view, block, starts, last, last, structs, rows, slow)
                a = last + 1
                continue
            if len(items) != b - a + 1:  # a line held more than one value
                self._each(view, block, starts, a, b, structs, rows, slow)
                return
            structs.extend(items)
            rows.append(range(a, b + 1))
            return

    @staticmethod
    def _locate(message: str, starts: np.ndarray, a: int, b: int) -> int | None:
        """A line at or after the one an error is in (the error names a value or a byte)."""
        found = _LOCATION.search(message)
        if found is not None:
            return min(a + int(found.group(1)), b)
        found = _BYTE.search(message)
        if found is not None:
            offset = int(starts[a]) + int(found.group(1))
            return min(int(np.searchsorted(starts, offset, side="right")) - 1, b)
        return None

    def _exact(
        self,
        view: memoryview,
        block: _Block,
        starts: np.ndarray,
        a: int,
        b: int,
        structs: list[Any],
        rows: list[range],
        slow: list[SourceEvent | Reject],
    ) -> None:
        """Lines a..b at once if they all decode, one value a line; else one by one."""
        try:
            items = self.decoder.decode_lines(view[starts[a] : block.nl[b]])
        except msgspec.DecodeError:
            items = None
        if items is None or len(items) != b - a + 1:
            self._each(view, block, starts, a, b, structs, rows, slow)
            return
        structs.extend(items)
        rows.append(range(a, b + 1))

    def _each(
        self,
        view: memoryview,
        block: _Block,
        starts: np.ndarray,
        a: int,
        b: int,
        structs: list[Any],
        rows: list[range],
        slow: list[SourceEvent | Reject],
    ) -> None:
        for i in range(a, b + 1):
            if self.decoder is not None:
                try:
                    item = self.decoder.decode(view[starts[i] : block.nl[i]])
                except msgspec.DecodeError:
                    pass
                else:
                    structs.append(item)
                    rows.append(range(i, i + 1))
                    continue
            self._slow(block, i, slow)

    def _columns(
        self,
        structs: list[Any],
        rows: np.ndarray,
        block: _Block,
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> tuple[_FastRows, np.ndarray]:
        """Columns of decoded lines, and the lines the row reader must read again."""
        m = len(structs)
        codes = np.fromiter(map(_CODE, structs), np.int32, m)
        keep = codes >= 0
        if self.default_type is not None:
            ys = map(attrgetter("y"), structs)
            keep &= np.fromiter(map(self.default_ok.__contains__, ys), np.bool_, m)
        if not keep.all():
            demoted = rows[~keep]
            structs = [s for s, k in zip(structs, keep.tolist(), strict=True) if k]
            rows, codes = rows[keep], codes[keep]
            m = len(structs)
        else:
            demoted = np.zeros(0, np.int64)
        keep = np.ones(m, np.bool_)

        times = list(map(_T, structs))
        ts = np.array(times) if m else np.zeros(0, np.int64)
        if ts.dtype != np.int64:
            ts = np.zeros(m, np.int64)
            for i, value in enumerate(times):
                ms = _time_ms(value)
                if ms is None:
                    keep[i] = False
                else:
                    ts[i] = ms

        if m and codes.min() == codes.max():
            present = [structs[0].__class__]
        else:
            present = [structs[int(i)].__class__ for i in np.unique(codes, return_index=True)[1]]
        patches: dict[str, dict[int, int]] = {}
        for cls in present:
            if not cls._times:
                continue
            members = np.flatnonzero(codes == cls._code).tolist() if len(present) > 1 else None
            for attr in cls._times:
                patch = patches.setdefault(attr, {})
                for i in members if members is not None else range(m):
                    value = getattr(structs[i], attr)
                    if value is None:
                        continue
                    ms = _time_ms(value)
                    if ms is None:
                        keep[i] = False  # the row reader gives the reason
                    patch[i] = ms

        parts = {}
        for name, kind in self.fields:
            attr = self.attrs[name]
            values = list(map(attrgetter(attr), structs))
            for i, value in patches.get(attr, {}).items():
                values[i] = value
            accepts = COLUMN_TYPES.get(kind)
            simple = accepts is None or all(cls._py[attr] <= accepts for cls in present)
            dictionary = self.dictionaries.get(name)
            if simple:
                parts[name] = _fast(kind, values, dictionary)
            else:
                parts[name] = _generic(kind, values, dictionary)
        fast = _FastRows(rows + block.first, ts, codes, parts, starts[rows], ends[rows]).keep(keep)
        return fast, np.concatenate((demoted, rows[~keep]))


# ------------------------------------------------------------------------------ CSV

_INT_RE = r"^[-+]?[0-9]{1,18}$"
_NUMBER_RE = r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"


class _NeedMore(Exception):
    """A CSV record goes on past the lines at hand."""


class _CsvFeed:
    """Lines from `i` on for `csv.reader`, as `sources._Feed` gives them."""

    def __init__(self, block: _Block, i: int) -> None:
        self.block = block
        self.i = i
        self.taken: list[str] = []
        self.ok = True

    def __iter__(self) -> _CsvFeed:
        return self

    def __next__(self) -> str:
        block = self.block
        if self.i >= len(block):
            if block.eof:
                raise StopIteration
            raise _NeedMore
        text, ok = line_text(block.first + self.i, block.item(self.i))
        self.i += 1
        self.taken.append(text)
        self.ok = self.ok and ok
        return text + "\n"


def _np(array: Any) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]


class _Typed:
    """Typed values of some cells: `kind` (int, float, bool, str, py), the values (NumPy,
    a pyarrow string array, or a list) and where they are (`mask`)."""

    __slots__ = ("kind", "mask", "values")

    def __init__(self, kind: str, values: Any, mask: np.ndarray) -> None:
        self.kind = kind
        self.values = values
        self.mask = mask


def _encode(strings: Any) -> tuple[np.ndarray, Any]:
    """A pyarrow string (or dictionary) array as indices into a pyarrow string array."""
    pa = _pa()
    if not pa.types.is_dictionary(strings.type):
        strings = pa.compute.dictionary_encode(strings)
    indices = _np(strings.indices.fill_null(0))
    return indices, strings.dictionary


def _pa() -> Any:
    try:
        import pyarrow
        import pyarrow.compute
        import pyarrow.csv
        import pyarrow.ipc
        import pyarrow.parquet
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise SourceError("reading CSV, Parquet or Arrow in batches needs pyarrow") from error
    return pyarrow


def _put(
    part: _Part,
    kind: str,
    rows: np.ndarray,
    typed: _Typed,
    dictionary: Dictionary | None,
) -> None:
    """Store typed values at `rows[typed.mask]` of a column part of kind `kind` (`rows`
    sorted, no row twice)."""
    mask = typed.mask
    if not mask.any():
        return
    pa = _pa()
    values = typed.values
    # every row of the part, in order: stored as a slice, a plain copy
    every = len(rows) == len(part.values) and bool(mask.all())
    where = rows if every else rows[mask]
    at = slice(None) if every else where
    vkind = typed.kind
    if vkind == "py":
        for i, value in zip(
            where.tolist(), [v for v, m in zip(values, mask, strict=True) if m], strict=True
        ):
            fits, stored = _fit(kind, value)
            if fits:
                part.values[i] = dictionary.code(stored) if dictionary is not None else stored
                part.valid[i] = True
            else:
                part.other[i] = value
        return
    if kind == "object" or not (
        vkind == kind
        or (vkind == "int" and kind in _INTISH)
        or (vkind == "int" and kind == "float")
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
        indices, strings = _encode(values if mask.all() else values.filter(pa.array(mask)))
        _store(part, at, dictionary.arrow_codes(strings)[indices])
        return
    chosen = values[mask]
    if vkind == "int" and kind == "float":
        as_float = chosen.astype(np.float64)
        part.values[at] = as_float
        part.valid[at] = True
        for j in np.flatnonzero(np.abs(chosen) >= _EXACT_FLOAT).tolist():
            value = int(chosen[j])
            if float(value) != value:
                part.valid[where[j]] = False
                part.other[int(where[j])] = value
        return
    _store(part, at, chosen)


def _store(part: _Part, at: slice | np.ndarray, values: np.ndarray) -> None:
    """`values` (an array of the caller's own) as a part's values at `at`: as they are
    where they are every value of the part (a slice) and of its type (no copy)."""
    if isinstance(at, slice) and values.dtype == part.values.dtype:
        part.values = values
        part.valid = np.ones(len(values), np.bool_)
        return
    part.values[at] = values
    part.valid[at] = True


class _CellReader:
    """Vectorized typing of CSV cells (a pyarrow string array, "" for an empty cell)."""

    def __init__(self, cells: Any) -> None:
        self.pa = _pa()
        self.pc = self.pa.compute
        self.cells = cells
        self.present = _np(self.pc.not_equal(cells, ""))
        self._ints: tuple[np.ndarray, np.ndarray] | None = None
        self._numbers: tuple[np.ndarray, np.ndarray] | None = None

    def ints(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII integers of at most 18 digits, and their values."""
        if self._ints is None:
            pc = self.pc
            cells = self.cells
            ok = _np(pc.ascii_is_decimal(cells)) & (_np(pc.binary_length(cells)) <= 18)
            if ok.all():
                self._ints = ok, _np(pc.cast(cells, self.pa.int64()))
                return self._ints
            if not ok[self.present].all():
                ok = _np(pc.match_substring_regex(cells, _INT_RE))
            texts = pc.if_else(self.pa.array(ok), pc.utf8_ltrim(cells, "+"), "0")
            self._ints = ok, _np(pc.cast(texts, self.pa.int64()))
        return self._ints

    def numbers(self) -> tuple[np.ndarray, np.ndarray]:
        """Cells that are ASCII decimals (`[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?`), and
        their values as floats."""
        if self._numbers is None:
            pc = self.pc
            cells = self.cells
            dots = pc.replace_substring(cells, ".", "", max_replacements=1)
            ok = _np(pc.ascii_is_decimal(dots))
            if not ok[self.present].all():
                ok = _np(pc.match_substring_regex(cells, _NUMBER_RE))
            if not ok.all():
                cells = pc.if_else(self.pa.array(ok), cells, "0")
            self._numbers = ok, _np(pc.cast(cells, self.pa.float64()))
        return self._numbers

    def ascii(self) -> np.ndarray:
        return _np(self.pc.string_is_ascii(self.cells))

    def declared(self, kind: str) -> tuple[np.ndarray, _Typed | None]:
        """Present cells that validation accepts as `kind` (in their common forms), and
        their typed values; the other present cells are left to the row reader."""
        present = self.present
        if kind == "str":
            return present, _Typed("str", self.cells, present)
        if kind == "bool":
            lower = self.pc.utf8_lower(self.cells)
            true = _np(self.pc.equal(lower, "true"))
            ok = (true | _np(self.pc.equal(lower, "false"))) & self.ascii()
            return ok, _Typed("bool", true, ok)
        if kind in _INTISH:
            ok, values = self.ints()
            ok = ok & present
            return ok, _Typed("int", values, ok)
        if kind == "float":
            # an integer's text is read as an int, then made a float: the same float,
            # except that "-0" is 0.0 (and one too long for Python is left to it)
            numbers, values = self.numbers()
            ok = numbers & present & np.isfinite(values)
            negative_zero = np.flatnonzero(ok & (values == 0) & np.signbit(values))
            if len(negative_zero):
                values = values.copy()
                cells = self.cells
                for i in negative_zero.tolist():
                    if _INT_TEXT.fullmatch(cells[i].as_py()):
                        values[i] = 0.0
            return ok, _Typed("float", values, ok)
        return np.zeros(len(present), np.bool_), None

    def long_ints(self) -> np.ndarray:
        """Integer text too long for the fast path (or any, where the fast path refused)."""
        ints, _ = self.ints()
        return _np(self.pc.match_substring_regex(self.cells, r"^[-+]?[0-9]+$")) & ~ints

    def inferred(self) -> list[_Typed]:
        """Present cells as `infer_cell` reads them: ints, floats, text and (where a
        Python look is needed: long or non-ASCII numbers) Python values."""
        present = self.present
        ascii_ = self.ascii()
        ints, int_values = self.ints()
        ints = ints & present
        numbers, float_values = self.numbers()
        long_int = self.long_ints()
        floats = numbers & present & ~ints & ~long_int & ascii_
        text = present & ascii_ & ~numbers & ~long_int
        other = present & ~ints & ~floats & ~text
        out = [
            _Typed("int", int_values, ints),
            _Typed("float", float_values, floats),
            _Typed("str", self.cells, text),
        ]
        if other.any():
            cells = self.cells.to_pylist()
            py = [infer_cell(cells[i]) if other[i] else None for i in range(len(cells))]
            out.append(_Typed("py", py, other))
        return out


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


class _CsvReader(_Reader):
    """CSV: quote-free lines split and typed by pyarrow, `csv.reader` for the rest."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.header: list[str] | None = None
        self.names: dict[str, int] = {}
        self.unique = False
        self.lines: _ByteLines | _ItemLines | None = None

    def emulate(self, block: _Block, i: int, slow: list[SourceEvent | Reject]) -> int:
        """One record from line `i` as `read_csv` reads it; the index after its lines."""
        feed = _CsvFeed(block, i)
        number = block.first + i
        try:
            row = next(csv.reader(feed))
        except StopIteration:
            return len(block)
        except csv.Error as error:
            slow.append(Reject(number, csv_reason(error), "\n".join(feed.taken)))
            return feed.i
        text = "\n".join(feed.taken)
        if not text or text.isspace():
            return feed.i
        if not feed.ok:
            slow.append(Reject(number, "not UTF-8", text))
            return feed.i
        if self.header is None:
            self._set_header(row)
            return feed.i
        header = self.header
        if len(row) != len(header):
            slow.append(
                Reject(number, f"bad csv: {len(row)} cells, the header has {len(header)}", text)
            )
            return feed.i
        result = self.maker.make(_csv_record(header, row, self.maker), number, text)
        slow.append(result)
        return feed.i

    def record_of(self, text: str) -> dict[str, Any]:
        """The record of one row, from its text (as `read_csv` makes it)."""
        assert self.header is not None
        row = next(csv.reader(io.StringIO(text)))
        return _csv_record(self.header, row, self.maker)

    def records_of(self, texts: list[str]) -> list[dict[str, Any]]:
        """`record_of` of several rows (`_csv_record`'s records), split by one
        `csv.reader`, each made by its event type's function (`_record_maker`)."""
        assert self.header is not None
        header, maker = self.header, self.maker
        at = self.names.get(maker.type_field, -1) if self.unique else -2
        if at == -2:  # (a header naming a field twice: the last cell wins)
            return [_csv_record(header, row, maker) for row in csv.reader(texts)]
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
        """A function from a row's cells to its record as `_csv_record` makes it for
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

    def _set_header(self, header: list[str]) -> None:
        self.header = header
        self.names = {name: i for i, name in enumerate(header)}
        self.unique = len(self.names) == len(header) and len(header) > 1

    def batch(self, block: _Block) -> Batch:
        n = len(block)
        slow: list[SourceEvent | Reject] = []
        i = 0
        try:
            while self.header is None and i < n:
                i = self.emulate(block, i, slow)
        except _NeedMore:
            return self._cut(block, i, slow)
        first = i
        if first >= n:
            return self.assemble(None, slow, n, buf=block.buf)
        nl = block.nl
        starts = block.starts()
        data = np.frombuffer(block.buf, np.uint8)
        ends = nl - ((nl > starts) & (data[np.maximum(nl - 1, 0)] == 13))
        length = ends - starts
        fast = np.zeros(n, np.bool_)
        fast[first:] = length[first:] > 0
        rest = block.buf[int(starts[first]) :]
        simple = (
            self.unique
            and not block.forced
            and b'"' not in rest
            and b"\x00" not in rest
            and (b"\r" not in rest or rest.count(b"\r") == rest.count(b"\r\n"))
            and not len(_bad_utf8_lines(block, np.flatnonzero(fast)))
            and int(length.max()) <= _MAX_CSV
        )
        table = None
        if simple:
            table = self._parse(block, starts, fast, contiguous=True)
        limit = n
        if table is None:
            fast, limit = self._screen(block, starts, ends, first, slow)
            if limit < n:
                self.lines.push_back(block, limit)  # type: ignore[union-attr]
            if self.unique and fast.any():
                table = self._parse(block, starts, fast, contiguous=False)
            if table is None:
                j = first
                for index in np.flatnonzero(fast).tolist():
                    if index >= j:
                        j = self.emulate(block, index, slow)
                fast[:] = False
        rows = np.flatnonzero(fast)
        part = None
        if len(rows):
            part, demoted = self._typed(table, rows, block, starts, ends)
            for index in demoted.tolist():
                self.emulate(block, index, slow)
        return self.assemble(part, slow, limit, buf=block.buf)

    def _cut(self, block: _Block, i: int, slow: list[SourceEvent | Reject]) -> Batch:
        self.lines.push_back(block, i)  # type: ignore[union-attr]
        return self.assemble(None, slow, i, buf=block.buf)

    def _screen(
        self,
        block: _Block,
        starts: np.ndarray,
        ends: np.ndarray,
        first: int,
        slow: list[SourceEvent | Reject],
    ) -> tuple[np.ndarray, int]:
        """Per line: whether pyarrow splits it as csv.reader does; the other lines are read
        by csv.reader (with the lines their records take). Returns the fast lines and where
        this block's records end (a record may go on into the next block)."""
        n = len(block)
        data = np.frombuffer(block.buf, np.uint8)
        table = np.zeros(256, np.int64)
        table[44] = 1
        table[[0, 13, 34]] = 1 << 20
        table[128:] = 1 << 40
        sums = np.zeros(n, np.int64)
        step = 16_384
        for a in range(first, n, step):
            b = min(a + step, n)
            lo, hi = int(starts[a]), int(block.nl[b - 1]) + 1
            sums[a:b] = np.add.reduceat(table[data[lo:hi]], starts[a:b] - lo)
        sums -= (ends < block.nl) * (1 << 20)  # a carriage return before the newline
        assert self.header is not None
        fast = np.zeros(n, np.bool_)
        fast[first:] = (sums[first:] & ((1 << 40) - 1)) == len(self.header) - 1
        fast &= (ends - starts) <= _MAX_CSV
        if block.forced:
            fast[list(block.forced)] = False
        fast[_bad_utf8_lines(block, np.flatnonzero(fast & (sums >= 1 << 40)))] = False
        j = first
        for i in np.flatnonzero(~fast[first:]).tolist():
            i += first
            if i < j:
                continue
            try:
                j = self.emulate(block, i, slow)
            except _NeedMore:
                fast[i:] = False
                return fast, i
            fast[i + 1 : j] = False
        return fast, n

    def _parse(self, block: _Block, starts: np.ndarray, fast: np.ndarray, contiguous: bool) -> Any:
        """The fast lines split by pyarrow into string columns (None if it refuses)."""
        pa = _pa()
        assert self.header is not None
        rows = np.flatnonzero(fast)
        if not len(rows):
            return None
        if contiguous:
            payload = block.buf[int(starts[rows[0]]) :]
        else:
            sizes = block.nl - starts + 1
            payload = np.frombuffer(block.buf, np.uint8)[np.repeat(fast, sizes)].tobytes()
        names = [f"c{i}" for i in range(len(self.header))]
        wanted = {self.type_field, self.time_field, *(name for name, _ in self.fields)}
        if self.validator is not None:
            for schema in self.validator.schemas.values():
                wanted.update(schema.fields)
        include = [f"c{self.names[name]}" for name in wanted if name in self.names]
        try:
            table = pa.csv.read_csv(
                pa.py_buffer(payload),
                read_options=pa.csv.ReadOptions(column_names=names, block_size=1 << 22),
                parse_options=pa.csv.ParseOptions(
                    delimiter=",",
                    quote_char=False,
                    double_quote=False,
                    escape_char=False,
                    newlines_in_values=False,
                    ignore_empty_lines=True,
                ),
                convert_options=pa.csv.ConvertOptions(
                    column_types=dict.fromkeys(include, pa.string()),
                    include_columns=include,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    null_values=[],
                    check_utf8=False,
                ),
            )
        except pa.ArrowInvalid:
            return None
        if table.num_rows != len(rows):  # pragma: no cover - a safety net
            return None
        return table

    def _column(self, table: Any, name: str) -> Any:
        index = self.names.get(name)
        if index is None:
            return None
        return table.column(f"c{index}").combine_chunks()

    def _typed(
        self,
        table: Any,
        lines: np.ndarray,
        block: _Block,
        starts: np.ndarray,
        ends: np.ndarray,
    ) -> tuple[_FastRows, np.ndarray]:
        """Typed columns of the rows pyarrow split, and the lines left to the row reader."""
        pa = _pa()
        pc = pa.compute
        k = table.num_rows
        keep = np.ones(k, np.bool_)
        codes = np.full(k, -1, np.int32)
        type_cells = self._column(table, self.type_field)
        default = self.types.code(self.default_type) if self.default_type else -1
        if type_cells is None:
            codes[:] = default
        else:
            encoded = pc.dictionary_encode(type_cells)
            lookup = np.array(
                [self.types.code(v) if v else default for v in encoded.dictionary.to_pylist()],
                np.int32,
            )
            codes = lookup[_np(encoded.indices)] if len(lookup) else codes
        keep &= codes >= 0

        ts = np.zeros(k, np.int64)
        time_cells = self._column(table, self.time_field)
        if time_cells is None:
            keep[:] = False
        else:
            reader = _CellReader(time_cells)
            ok, values = reader.ints()
            ts[ok] = values[ok]
            keep &= reader.present
            for i in np.flatnonzero(reader.present & ~ok).tolist():
                ms = _time_ms(infer_cell(time_cells[i].as_py()))
                if ms is None:
                    keep[i] = False
                else:
                    ts[i] = ms

        parts = {name: _empty(kind, k) for name, kind in self.fields}
        for code, rows in _rows_by_type(codes, keep):
            self._group(table, code, rows, keep, parts)
        fast = _FastRows(lines + block.first, ts, codes, parts, starts[lines], ends[lines])
        return fast.keep(keep), lines[~keep]

    def _group(
        self,
        table: Any,
        code: int,
        rows: np.ndarray,
        keep: np.ndarray,
        parts: dict[str, _Part],
    ) -> None:
        """Validate and type the fields of the rows of one event type."""
        indices = None if len(rows) == table.num_rows else _pa().array(rows)

        def field(name: str) -> Any:
            cells = self._column(table, name)
            return cells if cells is None or indices is None else cells.take(indices)

        def declared_as(cells: Any, kind: str) -> tuple[np.ndarray, np.ndarray, Any]:
            reader = _CellReader(cells)
            ok, typed = reader.declared(kind)
            return reader.present, ok, typed

        inferred = lambda cells: _CellReader(cells).inferred()  # noqa: E731
        self._type_group(code, rows, keep, parts, field, declared_as, inferred)


# ------------------------------------------------------------------------------ Arrow


def _arrow_values(column: Any) -> _Typed:
    """An Arrow array as typed values: int (timestamps as epoch ms), float, bool, str or
    py (Python values), masked where not null."""
    pa = _pa()
    pc = pa.compute
    types = pa.types
    kind = column.type
    mask = np.ones(len(column), np.bool_) if not column.null_count else _np(column.is_valid())
    if types.is_dictionary(kind):
        if types.is_string(kind.value_type) or types.is_large_string(kind.value_type):
            return _Typed("str", column, mask)
        column = column.dictionary_decode()
        kind = column.type
    if types.is_timestamp(kind):
        raw = _np(column.cast(pa.int64()).fill_null(0))
        per_ms = {"s": None, "ms": 1, "us": 1000, "ns": 1_000_000}[kind.unit]
        values = raw * 1000 if per_ms is None else raw // per_ms
        return _Typed("int", values, mask)
    if types.is_integer(kind):
        if kind == pa.uint64() and len(column) and (pc.max(column).as_py() or 0) > MAX_MS:
            return _Typed("py", column.to_pylist(), mask)
        return _Typed("int", _np(column.cast(pa.int64()).fill_null(0)), mask)
    if types.is_floating(kind):
        return _Typed("float", _np(column.cast(pa.float64()).fill_null(0.0)), mask)
    if types.is_boolean(kind):
        return _Typed("bool", _np(column.fill_null(False)), mask)
    if types.is_string(kind) or types.is_large_string(kind):
        return _Typed("str", column.cast(pa.string()).fill_null(""), mask)
    return _Typed("py", column.to_pylist(), mask)


def _arrow_records(batch: Any, rows: list[int]) -> list[dict[str, Any]]:
    """The records of some rows: their non-null cells, timestamps as epoch ms."""
    pa = _pa()
    records: list[dict[str, Any]] = [{} for _ in rows]
    taken = batch.take(pa.array(rows, pa.int64()))
    for name, column in zip(taken.schema.names, taken.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_timestamp(column.type):  # epoch ms
            typed = _arrow_values(column)
            values = [
                v if m else None
                for v, m in zip(typed.values.tolist(), typed.mask.tolist(), strict=True)
            ]
        else:
            values = column.to_pylist()
        for record, value in zip(records, values, strict=True):
            if value is not None:
                record[name] = value
    return records


class _ArrowReader(_Reader):
    """Parquet and Arrow IPC record batches: vectorized checks, `_Maker` for the rest."""

    def batch(self, batch: Any, first: int) -> Batch:
        k = batch.num_rows
        names = batch.schema.names
        index = {name: i for i, name in enumerate(names)}
        keep = np.ones(k, np.bool_)
        codes = np.full(k, -1, np.int32)
        ts = np.zeros(k, np.int64)
        parts = {name: _empty(kind, k) for name, kind in self.fields}
        default = self.types.code(self.default_type) if self.default_type else -1
        if len(index) != len(names):
            keep[:] = False
        elif self.type_field not in index:
            codes[:] = default
        else:
            typed = _arrow_values(batch.column(index[self.type_field]))
            if typed.kind != "str":
                keep &= ~typed.mask
                codes[:] = default
            else:
                indices, strings = _encode(typed.values)
                lookup = np.array(
                    [self.types.code(v) if v else default for v in strings.to_pylist()] or [0],
                    np.int32,
                )
                # one type name (the usual case): no lookup per row
                codes = np.full(k, lookup[0], np.int32) if len(lookup) == 1 else lookup[indices]
                if typed.values.null_count:
                    codes[~typed.mask] = default
        keep &= codes >= 0
        if self.time_field not in index:
            keep[:] = False
        else:
            typed = _arrow_values(batch.column(index[self.time_field]))
            keep &= typed.mask
            ok, ts = _times(typed)
            keep &= ok
        for code, rows in _rows_by_type(codes, keep):
            self._group(batch, index, code, rows, keep, parts)
        rows = np.arange(k, dtype=np.int64)  # an Arrow row's text is made from its row number
        fast = _FastRows(rows + first, ts, codes, parts, rows, rows).keep(keep)
        demoted = np.flatnonzero(~keep).tolist()
        slow: list[SourceEvent | Reject] = []
        if demoted:  # (taking no rows still costs a pass over the columns)
            for i, record in zip(demoted, _arrow_records(batch, demoted), strict=True):
                slow.append(self.maker.make(record, first + i, _record_text(record)))
        return self.assemble(fast, slow, k, arrow=batch)

    def _group(
        self,
        batch: Any,
        index: dict[str, int],
        code: int,
        rows: np.ndarray,
        keep: np.ndarray,
        parts: dict[str, _Part],
    ) -> None:
        indices = None if len(rows) == batch.num_rows else _pa().array(rows)

        def field(name: str) -> _Typed | None:
            if name not in index:
                return None
            array = batch.column(index[name])
            return _arrow_values(array if indices is None else array.take(indices))

        def declared_as(typed: _Typed, kind: str) -> tuple[np.ndarray, np.ndarray, Any]:
            ok, converted = _validated(typed, kind)
            return typed.mask, ok, converted

        self._type_group(code, rows, keep, parts, field, declared_as, lambda typed: (typed,))


def _times(typed: _Typed) -> tuple[np.ndarray, np.ndarray]:
    """Which typed values are times, and their epoch ms."""
    n = len(typed.mask)
    if typed.kind == "int":
        return typed.mask.copy(), typed.values
    ok = np.zeros(n, np.bool_)
    ts = np.zeros(n, np.int64)
    if typed.kind == "float":
        values = typed.values
        whole = typed.mask & np.isfinite(values)
        whole[whole] = (np.floor(values[whole]) == values[whole]) & (
            np.abs(values[whole]) < 2.0**63
        )
        ok = whole
        ts[whole] = values[whole].astype(np.int64)
        return ok, ts
    values = typed.values.to_pylist() if typed.kind == "str" else typed.values
    for i in np.flatnonzero(typed.mask).tolist():
        ms = _time_ms(values[i])
        if ms is not None:
            ok[i] = True
            ts[i] = ms
    return ok, ts


def _validated(typed: _Typed, kind: str) -> tuple[np.ndarray, _Typed | None]:
    """Which present values validation accepts as `kind` unchanged or converted (in the
    forms checked here; the rest go to the row reader), and the converted values."""
    vkind = typed.kind
    mask = typed.mask
    none = np.zeros(len(mask), np.bool_)
    if kind in ("int", "duration"):
        if vkind == "int":
            return mask, typed
        if vkind == "float":
            values = typed.values
            ok = mask & np.isfinite(values)
            ok[ok] = (np.floor(values[ok]) == values[ok]) & (np.abs(values[ok]) < 2.0**63)
            ints = np.zeros(len(mask), np.int64)
            ints[ok] = values[ok].astype(np.int64)
            return ok, _Typed("int", ints, ok)
        return none, None
    if kind == "float":
        if vkind == "float":
            ok = mask & np.isfinite(typed.values)
            return ok, _Typed("float", typed.values, ok)
        if vkind == "int":
            return mask, _Typed("float", typed.values.astype(np.float64), mask)
        return none, None
    if kind in ("str", "bool"):
        return (mask, typed) if vkind == kind else (none, None)
    if kind == "time":
        if vkind in ("int", "float", "str"):
            ok, ts = _times(typed)
            ok &= mask
            return ok, _Typed("int", ts, ok)
        return none, None
    return none, None


# ------------------------------------------------------------------------------ readers


def read_jsonl_batches(
    source: IO[bytes] | IO[str] | Iterable[str] | Iterable[bytes] | str | os.PathLike[str],
    *,
    fields: Mapping[str, Type | str] | Iterable[tuple[str, Type | str]] = (),
    type_field: str = "type",
    time_field: str = "ts",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[Batch]:
    """Batches of JSON Lines: the events and rejects `read_jsonl` gives, as columns.

    `source` is a path, a binary or text stream (standard input works: a batch ends early
    when the input pauses) or an iterable of lines. `fields` maps the names of the fields
    wanted as columns to their types (a `Type` or a kind name: int, float, bool, str,
    time, duration; anything else gives an object column). Other options as `read_jsonl`.
    A file is read and decoded on a thread one batch ahead of the caller (`read_ahead`).
    """
    reader = _JsonlReader(fields, type_field, time_field, default_type, validator)

    def batches() -> Iterator[Batch]:
        with _opened(source) as opened:
            lines = _line_source(opened, batch_size)
            while (block := lines.next_block()) is not None:
                yield reader.batch(block)

    yield from read_ahead(batches()) if _a_file(source) else batches()


def _a_file(source: Any) -> bool:
    """Whether a source is a file (a path, or a stream that can seek): read ahead on a
    thread. A pipe or a terminal is read only when asked, so that nothing waits on it
    after its reader stops."""
    if isinstance(source, str | os.PathLike):
        if os.fspath(source) != "-":
            return True
        source = getattr(sys.stdin, "buffer", sys.stdin)
    seekable = getattr(source, "seekable", None)
    try:
        return bool(seekable is not None and seekable())
    except (OSError, ValueError):
        return False


def read_csv_batches(
    source: IO[bytes] | IO[str] | Iterable[str] | Iterable[bytes] | str | os.PathLike[str],
    *,
    fields: Mapping[str, Type | str] | Iterable[tuple[str, Type | str]] = (),
    type_field: str = "type",
    time_field: str = "ts",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = BATCH_SIZE,
) -> Iterator[Batch]:
    """Batches of CSV with a header row: the events and rejects `read_csv` gives, as
    columns. A batch may end a little before `batch_size` lines so that a record never
    straddles two batches. Otherwise as `read_jsonl_batches` (a file read ahead too)."""
    reader = _CsvReader(fields, type_field, time_field, default_type, validator)

    def batches() -> Iterator[Batch]:
        with _opened(source) as opened:
            lines = _line_source(opened, batch_size)
            reader.lines = lines
            while (block := lines.next_block()) is not None:
                batch = reader.batch(block)
                batch.record_of = reader.record_of
                yield batch

    yield from read_ahead(batches()) if _a_file(source) else batches()


def read_parquet_batches(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    fields: Mapping[str, Type | str] | Iterable[tuple[str, Type | str]] = (),
    type_field: str = "type",
    time_field: str = "ts",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = ARROW_BATCH_SIZE,
    prepare: Callable[[Batch], None] | None = None,
) -> Iterator[Batch]:
    """Batches of a Parquet file: each row is the record of its non-null cells. Batches
    are decoded and put together on a thread one ahead of the caller (`read_ahead`; the
    reader alone adds to the run's `Dictionary`s, a caller only reads them); `prepare`,
    when given, is called there on each batch but the first (which the caller awaits):
    `ColumnarRun.prepare`."""
    pa = _pa()
    reader = _ArrowReader(fields, type_field, time_field, default_type, validator)
    try:
        schema = pa.parquet.ParquetFile(source).schema_arrow
        strings = [f.name for f in schema if pa.types.is_string(f.type)]
        if hasattr(source, "seek"):
            source.seek(0)
        parquet = pa.parquet.ParquetFile(source, read_dictionary=strings)
    except (OSError, pa.ArrowException) as error:
        raise SourceError(f"cannot read {source}: {error}") from error

    def batches() -> Iterator[Batch]:
        first = 1
        for record_batch in parquet.iter_batches(batch_size=batch_size):
            yield _prepared(reader.batch(record_batch, first), first, prepare)
            first += record_batch.num_rows

    yield from read_ahead(batches())


def _prepared(batch: Batch, first: int, prepare: Callable[[Batch], None] | None) -> Batch:
    """`batch` after `prepare(batch)`, unless it is the first of its source."""
    if prepare is not None and first > 1:
        prepare(batch)
    return batch


def read_arrow_batches(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    fields: Mapping[str, Type | str] | Iterable[tuple[str, Type | str]] = (),
    type_field: str = "type",
    time_field: str = "ts",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = ARROW_BATCH_SIZE,
    prepare: Callable[[Batch], None] | None = None,
) -> Iterator[Batch]:
    """Batches of an Arrow IPC file or stream (a stream can be standard input), put
    together on a thread one ahead of the caller (`read_ahead`), `prepare` called there
    as for `read_parquet_batches`."""
    pa = _pa()
    reader = _ArrowReader(fields, type_field, time_field, default_type, validator)
    with _opened(source) as opened:
        try:
            record_batches: Iterable[Any]
            seekable = getattr(opened, "seekable", None)
            if seekable is not None and seekable():
                try:
                    ipc = pa.ipc.open_file(opened)
                    record_batches = (ipc.get_batch(i) for i in range(ipc.num_record_batches))
                except pa.ArrowInvalid:
                    opened.seek(0)
                    record_batches = pa.ipc.open_stream(opened)
            else:
                record_batches = pa.ipc.open_stream(opened)
        except (OSError, pa.ArrowException) as error:
            raise SourceError(f"cannot read Arrow input: {error}") from error

        def batches() -> Iterator[Batch]:
            first = 1
            for record_batch in record_batches:
                for start in range(0, max(record_batch.num_rows, 1), batch_size):
                    piece = record_batch.slice(start, batch_size)
                    if piece.num_rows:
                        yield _prepared(reader.batch(piece, first), first, prepare)
                        first += piece.num_rows

        yield from read_ahead(batches())


def read_batches(source: Any, format: str, **options: Any) -> Iterator[Batch]:
    """`read_jsonl_batches`, `read_csv_batches`, `read_parquet_batches` or
    `read_arrow_batches`, by `format`."""
    readers = {
        "jsonl": read_jsonl_batches,
        "csv": read_csv_batches,
        "parquet": read_parquet_batches,
        "arrow": read_arrow_batches,
    }
    if format not in readers:
        raise SourceError(f"cannot read {format!r} input (formats: {', '.join(FORMATS)})")
    return readers[format](source, **options)


class _opened:
    """A path opened for binary reading (`-`: standard input), else the source itself."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.file: IO[bytes] | None = None

    def __enter__(self) -> Any:
        source = self.source
        if isinstance(source, str | os.PathLike):
            if os.fspath(source) == "-":
                return getattr(sys.stdin, "buffer", sys.stdin)
            try:
                self.file = open(source, "rb")
            except OSError as error:
                raise SourceError(f"cannot read {source}: {error.strerror or error}") from error
            return self.file
        return source

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()
