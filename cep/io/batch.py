"""The batch model of the fast path: events as NumPy columns, with their rejects and texts.

A `Batch` holds the events of some consecutive input lines (or rows): times, type codes,
line numbers, one `Column` per field asked for, and where each event's text is
(`LineTexts`: slices of a buffer of lines, or texts given). Strings are dictionary-encoded
(`Dictionary`: a code never changes within a run). `EventColumns` makes batches of events
already in memory (`FastEngine.push`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from cep.io.columns import EXACT_FLOAT, fast_part, generic_part, not_none
from cep.runtime.event import Event
from cep.runtime.match import JSON_SPACE, encode_lines

if TYPE_CHECKING:
    from cep.io.interning import Interner
    from cep.io.sources import Reject

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

    __slots__ = ("_arrow", "_codes", "_interner", "_known", "values")

    def __init__(self) -> None:
        self.values: list[str] = []
        self._codes = _Codes(self.values)
        #: the last pyarrow dictionary coded (`arrow_codes`) and its codes
        self._arrow: tuple[Any, np.ndarray] | None = None
        #: `values` as a pyarrow array (`string_codes`), made again when values are added
        self._known: Any = None
        #: the UTF-8 bytes of the strings `arrow_codes` met, looked up in numba
        self._interner: Interner | None = None

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
        codes = self._span_codes(strings)
        if codes is None:
            codes = self.encode(strings.to_pylist(), len(strings))
        self._arrow = (strings, codes)
        return codes

    def _span_codes(self, strings: Any) -> np.ndarray | None:
        """`arrow_codes` of a pyarrow string array with no null, its strings looked up
        by their UTF-8 bytes in numba (`Interner`): a Parquet row group's dictionary
        (thousands of strings, most known from the row groups before) makes a Python
        string only of those met first. None for other arrays."""
        width = _OFFSET_WIDTHS.get(str(strings.type))
        if width is None or strings.null_count or not len(strings):
            return None
        _, offsets_buffer, data = strings.buffers()
        start = strings.offset
        offsets = np.frombuffer(offsets_buffer, width, start + len(strings) + 1)[start:]
        if self._interner is None:
            from cep.io.interning import Interner

            self._interner = Interner([self], raw=True)
        spans = offsets[:-1].astype(np.int64), np.diff(offsets).astype(np.int64)
        return self._interner.codes(b"" if data is None else data, *spans)

    def string_codes(self, strings: Any) -> np.ndarray:
        """Codes of the strings of a pyarrow string array with no null (added if new):
        looked up in C where every one is known and the values are not many more than
        the strings (`pyarrow.compute.index_in`), else through the array's own
        dictionary (`arrow_codes`)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if self.values and len(self.values) <= 4 * len(strings) + 4096:
            known = self._known
            if known is None or len(known) != len(self.values):
                known = self._known = pa.array(self.values, pa.string())
            codes = pc.index_in(strings, value_set=known)
            if not codes.null_count:  # (a copy: pyarrow's own memory is read-only)
                return np.array(codes.to_numpy(zero_copy_only=False), np.int32)
        encoded = pc.dictionary_encode(strings)
        return self.arrow_codes(encoded.dictionary)[encoded.indices.to_numpy(zero_copy_only=False)]

    def __getitem__(self, code: int) -> str:
        return self.values[code]

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Dictionary({self.values!r})"


#: the offsets' dtype of the pyarrow string types (`Dictionary._span_codes`)
_OFFSET_WIDTHS = {"string": np.int32, "large_string": np.int64}


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


@dataclass(slots=True, eq=False, repr=False)
class Column:
    """One field's values for the events of a batch.

    `values[i]` holds event `i`'s value where `valid[i]`: int64 for `int`, `time` (epoch
    ms) and `duration`; float64; bool; int32 codes into `dictionary` for `str`; Python
    objects for `object`. Where the event lacks the field (or it is null), `valid[i]` is
    False. Where it has a value that is not of the column's kind (an event type whose
    schema does not declare the field as such, say), `valid[i]` is False and `other[i]`
    holds the value as read (typed like the row reader's `data`).
    """

    kind: str
    values: np.ndarray
    valid: np.ndarray
    dictionary: Dictionary | None = None
    other: dict[int, Any] = field(default_factory=dict)

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
        "_ahead", "columns", "line", "lines", "made_ahead", "position", "record_of",
        "rejects", "text_store", "ts", "type", "types",
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
        texts: LineTexts,
    ) -> None:
        self.ts = ts
        self.type = type
        self.types = types
        self.line = line
        self.columns = columns
        self.rejects = rejects
        self.lines = lines
        #: where the events' texts are (slices of a buffer of lines, or Arrow rows)
        self.text_store = texts
        #: texts made ahead (`make_record_pieces`): the rows, sorted, and their pieces
        self._ahead: tuple[np.ndarray, TextPieces] | None = None
        #: what work done ahead on the batch (on a reader's thread) left for its users, by
        #: who left it (`ColumnarRun.prepare`)
        self.made_ahead: dict[Any, Any] = {}
        #: where the input stands after this batch, set by the reader that made it (on
        #: its thread, so a checkpoint records exactly the batches fed): `(byte offset
        #: or None, the next line or row number)`; a Kafka batch's adds each
        #: partition's first offset not yet handed on (`cep.io.kafka`)
        self.position: tuple[Any, ...] | None = None
        #: an event's record (a dict of its fields, as the row reader reads it) from what
        #: `kept_of` gives: its text as JSON for JSON lines; CSV and Arrow readers set
        #: their own
        self.record_of: Callable[[Any], dict[str, Any]] = texts.record_of

    def __len__(self) -> int:
        return len(self.ts)

    def type_name(self, i: int) -> str:
        return self.types.values[self.type[i]]

    def text(self, i: int) -> str:
        """Event `i` as read: its line without the line ending (a CSV row's lines joined
        by newlines; for Parquet and Arrow, its record as JSON)."""
        return self.text_store.get(i)

    def kept_of(self, indexes: list[int]) -> list[Any]:
        """What to keep of some events so that `record_of` can rebuild their records
        later (their texts, or for Arrow rows their records), made in one go."""
        return self.text_store.kept(indexes)

    def record_pieces(self, indexes: np.ndarray) -> TextPieces | None:
        """Some events' texts as reports write them, made in one go: for CSV and Arrow
        rows their records encoded (`encode_lines`, as the interpreter encodes an event's
        record); None for JSON lines (their texts are their lines: `line_texts`). Taken
        from those made ahead when they hold every event asked for."""
        if self.record_of is json_record:
            return None
        ahead = self.ahead_texts(indexes)
        if ahead is not None:
            (data, starts, ends), at = ahead
            return data, starts[at], ends[at]
        store = self.text_store
        chosen = np.asarray(indexes, np.int64)
        rows = chosen.tolist()
        by_column = getattr(store, "record_texts", None)  # (CSV and Arrow rows)
        made = by_column(chosen) if by_column is not None else None
        if made is None:
            return record_texts(self.records_of(store.kept(rows)))
        missing = np.flatnonzero(made[2] < 0)  # (rows read as text: record by record)
        if not len(missing):
            return made
        data, starts, ends = made
        more, more_starts, more_ends = record_texts(
            self.records_of(self.text_store.kept([rows[i] for i in missing.tolist()]))
        )
        starts[missing] = more_starts + len(data)
        ends[missing] = more_ends + len(data)
        return np.concatenate((data, more)), starts, ends

    def ahead_texts(self, indexes: np.ndarray) -> tuple[TextPieces, np.ndarray] | None:
        """The texts made ahead (`make_record_pieces`) and where each of some events'
        is among them (text `at[i]` is event `indexes[i]`'s), when they hold every
        event asked for; else None. Their users copy the texts they need straight
        from there (`TextTable.put_picked`), with no pieces gathered between."""
        ahead = self._ahead
        if ahead is None or not len(ahead[0]):
            return None
        rows, pieces = ahead
        at = np.minimum(np.searchsorted(rows, indexes), len(rows) - 1)
        if not (rows[at] == indexes).all():
            return None
        return pieces, at

    def records_of(self, kept: list[Any]) -> list[dict[str, Any]]:
        """`record_of` of what `kept_of` gave of some events, in one go (CSV rows are
        split by one call of their reader's `records_of`)."""
        many = getattr(getattr(self.record_of, "__self__", None), "records_of", None)
        return many(kept) if many is not None else list(map(self.record_of, kept))

    def line_texts(self) -> tuple[bytes, np.ndarray, np.ndarray] | None:
        """Where the events' JSON lines are: the buffer, and each event's start and end in
        it (the line's object, which is the event's text in reports and which
        `json_record` rebuilds its record from); end -1 for a line read as text (`json_of`
        gives its text). None when the batch is not of JSON lines."""
        texts = self.text_store
        if self.record_of is not json_record or type(texts) is not LineTexts:
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


class LineTexts:
    """Event texts: slices of a buffer of UTF-8 lines, else given."""

    __slots__ = ("buf", "ends", "given", "starts")

    #: an event's record from what `kept` gives of it (a JSON line's text)
    record_of: Callable[[Any], dict[str, Any]] = staticmethod(json_record)

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


TextPieces = tuple[np.ndarray, np.ndarray, np.ndarray]


def record_texts(records: list[Any]) -> TextPieces:
    """Records (or any values) as reports write them (`encode`, the interpreter's
    encoder of an event's record), encoded in one call, as pieces of one buffer."""
    data = np.frombuffer(encode_lines(records), np.uint8)
    ends = np.flatnonzero(data == 10)  # (JSON text holds no raw newline)
    starts = np.zeros(len(ends), np.int64)
    starts[1:] = ends[:-1] + 1
    return data, starts, ends


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
        texts = LineTexts(b"", np.zeros(n, np.int64), np.zeros(n, np.int64), {})
        return Batch(ts, types, self.types, np.zeros(n, np.int64), columns, [], n, texts)

    def _column(self, name: str, values: list[Any]) -> Column:
        kinds = {*map(type, values)}
        if kinds <= _STR_KINDS:
            dictionary = self.dictionaries[name]
            part = fast_part("str", values, dictionary)
            return Column("str", part.values, part.valid, dictionary, {})
        if kinds <= _BOOL_KINDS:
            valid = not_none(values)
            array = np.fromiter((v is True for v in values), np.bool_, len(values))
            return Column("bool", array, valid, None, {})
        if kinds <= _FLOAT_KINDS or kinds <= _INT_KINDS:
            valid = not_none(values)
            plain = [v if v is not None else 0 for v in values]
            dtype = np.float64 if float in kinds else np.int64
            try:
                array = np.fromiter(plain, dtype, len(plain))
            except OverflowError:
                array = None
            if array is not None and (
                np.isfinite(array).all() if dtype is np.float64 else
                (np.abs(array) < EXACT_FLOAT).all()
            ):  # fmt: skip
                return Column("float" if dtype is np.float64 else "int", array, valid, None, {})
        part = generic_part("object", values, None)
        return Column("object", part.values, part.valid, None, part.other)
