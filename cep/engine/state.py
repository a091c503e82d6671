"""An engine's state as plain data, the same for every engine: what `snapshot()` writes
and a restore reads (docs/state.md).

Everything that decides future output is here: the clock (events counted, the next
sequence number, the largest time seen, the floor `advance_to` set, the events held
back for the allowed delay), and for each rule its partitions, open runs, held matches,
window timers and counters. Runs' histories are tables, as the fast path keeps them: a
history is a chain of cells `(variable, event, parent cell)`, shared by forks; events
are rows of one table that every rule and the held-back queue refer to by row.

A snapshot is `MAGIC`, the format number, a checksum of the body (XXH3-64: a 64-bit
hash several times cheaper than zlib's CRC-32 over a body of hundreds of megabytes)
and the body in msgpack (msgspec), integer tables as little-endian int64 bytes. Format
2, whose header has a CRC-32 instead and whose body is the same, is still read.
Nothing in it is code: loading one runs no pickle. States are numbered as in the
rule's compiled NFA, which the rule's fingerprint (`cep.compile.fingerprint`) pins
down: state is only ever restored into a rule with the same fingerprint."""

from __future__ import annotations

import struct
import sys
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import xxhash

from cep.runtime.event import Event
from cep.runtime.gcpause import gc_paused
from cep.runtime.ordering import NO_TIME

if TYPE_CHECKING:
    from cep.io.validation import Validator

MAGIC = b"CEPSTATE"
#: bumped whenever the header's or the body's layout or meaning changes; other formats
#: are refused, but for `_CRC_FORMAT`
FORMAT = 3
_HEAD = struct.Struct("<8sIQ")  # magic, format, XXH3-64 of the body
#: the format before `FORMAT`: the same body, its header's checksum a CRC-32
_CRC_FORMAT = 2
_CRC_HEAD = struct.Struct("<8sII")  # magic, format, CRC-32 of the body
NONE = -1  # no cell, no line


class SnapshotError(ValueError):
    """A snapshot that cannot be loaded: damaged, of another format, or not one."""


def ints(values: Any, *, fresh: bool = False) -> bytes:
    """Integers as the body stores them (little-endian int64). `fresh`: `values` are
    an array (or a list) that nothing else holds or changes, whose bytes are taken as
    they lie (a view: no copy of a table of millions); else they are copied."""
    if not fresh:
        return np.asarray(values, dtype="<i8").tobytes()
    found = np.ascontiguousarray(values, dtype="<i8")
    return memoryview(found).cast("B")  # type: ignore[return-value]  # (bytes-like)


def array(data: bytes) -> np.ndarray:
    """A stored integer table as an int64 array (read-only)."""
    if len(data) % 8:
        raise SnapshotError("the snapshot is damaged (a table has a partial row)")
    return np.frombuffer(data, dtype="<i8")


def distinct(values: np.ndarray) -> np.ndarray:
    """`np.unique` of integers, by sorting (NumPy's hashing `unique` is many times
    slower on a million)."""
    found = np.sort(values)
    if len(found) > 1:
        found = found[np.concatenate(([True], found[1:] != found[:-1]))]
    return found


def distinct_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct integers' first places in `values`, in increasing order of value,
    and the row of each value among the distinct ones."""
    if len(values) < 2 or bool((values[1:] > values[:-1]).all()):  # (in order already)
        return np.arange(len(values)), np.arange(len(values))
    order = np.argsort(values, kind="stable")
    found = values[order]
    new = np.ones(len(found), np.bool_)
    new[1:] = found[1:] != found[:-1]
    rows = np.empty(len(values), np.int64)
    rows[order] = np.cumsum(new) - 1
    return order[new], rows


def lex_order(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """`np.lexsort(keys)` (the last key first), found without sorting where the rows
    are in that order already (as a million timers or events usually are)."""
    return np.arange(len(keys[0])) if in_lex_order(keys) else np.lexsort(keys)


def in_lex_order(keys: tuple[np.ndarray, ...]) -> bool:
    """Whether rows are in `np.lexsort(keys)`'s order already (no order to apply)."""
    n = len(keys[0])
    if n > 1:
        after, tied = np.zeros(n - 1, np.bool_), np.ones(n - 1, np.bool_)
        for key in reversed(keys):  # (is each row after the one before it, or tied?)
            after |= tied & (key[1:] > key[:-1])
            tied &= key[1:] == key[:-1]
        return bool((after | tied).all())
    return True


class EventTable(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """Events that state refers to, by row: `type` (index into `names`), `ts`, `seq`,
    `line` (int64 tables) and `kind` (one byte each) saying what makes each again:

    - `TEXT` (0): its text as reports write it (a JSON line's as read), the next of
      `text` (UTF-8, each text followed by a newline; `text_end`: where each ends). A
      restore reads and validates it against the schemas, as a reader did, so that a
      snapshot never has to (the fast path keeps most events as text only);
    - `RECORD` (1): its record as read (validation changed it), the next of `values`,
      validated again on restore;
    - `DATA` (2): the values expressions see (events made in Python), the next of
      `values`, as they are."""

    names: list[str] = msgspec.field(default_factory=list)
    type: bytes = b""
    ts: bytes = b""
    seq: bytes = b""
    line: bytes = b""
    kind: bytes = b""
    text: bytes = b""
    text_end: bytes = b""
    values: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.kind)


#: `EventTable.kind`s
TEXT, RECORD, DATA = 0, 1, 2


class RuleState(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """One rule's matching state; tables by row, partitions numbered by `keys`.

    - partitions: `keys` (a key as the rule's `partition by` gives it, a list for
      several fields), `timer` (the latest window close scheduled for it);
    - cells: `cell_var` (index into `variables`), `cell_event`, `cell_parent`;
    - open runs, each partition's in creation order: `run_part`, `run_state` (index
      into the NFA's states), `run_cell` (its history's last cell), `run_start` (the
      event that started it);
    - held matches, each partition's in release order: `held_part`, `held_cell`,
      `held_start`, `held_ts` (the time it completed at), `held_step` (the step it
      completed at, the third part of its release order);
    - window timers not yet fired: `timer_close`, `timer_ts` and `timer_seq` (the event
      that scheduled it), `timer_part`;
    - `step`: the rule's step counter; `counters`: its statistics by name."""

    name: str
    fingerprint: str
    step: int = 0
    counters: dict[str, int] = msgspec.field(default_factory=dict)
    variables: list[str] = msgspec.field(default_factory=list)
    keys: list[Any] = msgspec.field(default_factory=list)
    timer: bytes = b""
    cell_var: bytes = b""
    cell_event: bytes = b""
    cell_parent: bytes = b""
    run_part: bytes = b""
    run_state: bytes = b""
    run_cell: bytes = b""
    run_start: bytes = b""
    held_part: bytes = b""
    held_cell: bytes = b""
    held_start: bytes = b""
    held_ts: bytes = b""
    held_step: bytes = b""
    timer_close: bytes = b""
    timer_ts: bytes = b""
    timer_seq: bytes = b""
    timer_part: bytes = b""

    @property
    def open_runs(self) -> int:
        return len(self.run_part) // 8


class EngineState(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """A whole engine: the clock, the held-back events (rows of `events`, in release
    order) and every rule's state, rules in load order. `engine` says which engine
    wrote it (for messages only: any engine restores any snapshot)."""

    engine: str
    allowed_delay_ms: int = 0
    events_seen: int = 0
    late: int = 0
    next_seq: int = 0
    max_seen: int = NO_TIME
    floor: int = NO_TIME
    finished: bool = False
    held: bytes = b""
    events: EventTable = msgspec.field(default_factory=EventTable)
    rules: list[RuleState] = msgspec.field(default_factory=list)


class _RawValueTable(EventTable, array_like=True, forbid_unknown_fields=True):
    """`EventTable` as `load(raw_values=True)` reads it: each of `values` its msgpack,
    read when needed (`raw_values`)."""

    values: list[msgspec.Raw] = msgspec.field(default_factory=list)  # type: ignore[assignment]


class _RawValueState(EngineState, array_like=True, forbid_unknown_fields=True):
    events: _RawValueTable = msgspec.field(default_factory=_RawValueTable)  # type: ignore[assignment]


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(EngineState)
_RAW_DECODER = msgspec.msgpack.Decoder(_RawValueState)


def dump(state: EngineState, into: bytearray | None = None) -> bytearray:
    """A snapshot's bytes: the body encoded after room left for the header, which is
    then written in place (a header added in front would copy the whole body); in
    `into` where given (its bytes replaced, its memory reused: `SnapshotBuffer`)."""
    data = bytearray(_HEAD.size) if into is None else into
    _ENCODER.encode_into(state, data, _HEAD.size)
    _HEAD.pack_into(
        data, 0, MAGIC, FORMAT, xxhash.xxh3_64_intdigest(memoryview(data)[_HEAD.size :])
    )
    return data


class SnapshotBuffer:
    """Where an engine encodes its snapshots: the bytearray of its last one again when
    nothing else holds that any more (a checkpoint written and let go), else a new one.

    A new buffer's memory is mapped a page at a time as it is written, some 45,000
    page faults for a snapshot of 180 MB (about a tenth of a second of the kernel's
    time, more than the encoding itself); a reused one's pages are in place. The
    engine keeps its last snapshot's memory between snapshots for it (the peak is the
    same: a snapshot needs that memory anyway)."""

    def __init__(self) -> None:
        self._last: bytearray | None = None

    def dump(self, state: EngineState) -> bytearray:
        """`dump(state)`, in the last snapshot's buffer where it is free."""
        data = self._last
        # (free: held only by `_last`, `data` and getrefcount's argument; a caller
        # that keeps it, or a memoryview or array of it, holds it too: never written over)
        if data is not None and sys.getrefcount(data) > 3:
            data = None
        self._last = None
        found = dump(state, data)
        if 4 * len(found) < sys.getsizeof(found):  # (far smaller than the last one:
            found = bytearray(found)  # its memory let go, not kept for the next)
        self._last = found
        return found


@gc_paused()
def load(data: bytes | bytearray | memoryview, *, raw_values: bool = False) -> EngineState:
    """A snapshot's state; SnapshotError when it is not one, is damaged, or is of
    another format. With `raw_values`, the event table's `values` stay msgpack, each
    read when needed (`raw_values`: for a restore that may need few of them)."""
    body = intact_body(data)
    try:
        return (_RAW_DECODER if raw_values else _DECODER).decode(body)
    except msgspec.DecodeError as error:
        raise SnapshotError(f"the snapshot is damaged ({error})") from None


def intact_body(data: bytes | bytearray | memoryview) -> memoryview:
    """A snapshot's body, its checksum checked (no copy); SnapshotError when it is not a
    snapshot, is damaged, or is of another format."""
    data = memoryview(data).cast("B")  # (no copy of a bytearray's body)
    if len(data) < _CRC_HEAD.size or data[: len(MAGIC)] != MAGIC:
        raise SnapshotError("not a cep snapshot")
    version = _CRC_HEAD.unpack_from(data)[1]
    if version == FORMAT and len(data) >= _HEAD.size:
        body = data[_HEAD.size :]
        intact = xxhash.xxh3_64_intdigest(body) == _HEAD.unpack_from(data)[2]
    elif version == _CRC_FORMAT:
        body = data[_CRC_HEAD.size :]
        intact = zlib.crc32(body) == _CRC_HEAD.unpack_from(data)[2]
    elif version == FORMAT:
        raise SnapshotError("the snapshot is damaged (it is cut short)")
    else:
        raise SnapshotError(
            f"the snapshot is of format {version}; this cep reads formats {_CRC_FORMAT} "
            f"and {FORMAT} only"
        )
    if not intact:
        raise SnapshotError("the snapshot is damaged (its checksum does not match)")
    return body


def values_of(values: list[Any]) -> list[Any]:
    """Values of an event table, read where `load(raw_values=True)` left them msgpack
    (all at once)."""
    if not values or type(values[0]) is not msgspec.Raw:
        return values
    head = b"\xdd" + len(values).to_bytes(4, "big")  # (a msgpack array of them all)
    try:
        return _VALUES.decode(head + b"".join(values))
    except msgspec.DecodeError as error:
        raise SnapshotError(f"the snapshot is damaged ({error})") from None


def check_values(values: list[Any]) -> None:
    """SnapshotError unless every value `load(raw_values=True)` left msgpack is a map
    with string keys (as `load` without it checks them), read in one pass whose
    objects hold nothing."""
    if not values or type(values[0]) is not msgspec.Raw:
        return
    try:
        _MAPS.decode(b"\xdd" + len(values).to_bytes(4, "big") + b"".join(values))
    except msgspec.DecodeError as error:
        raise SnapshotError(f"the snapshot is damaged ({error})") from None


class _Map(msgspec.Struct):
    """Any msgpack map with string keys (its fields skipped)."""


_MAPS = msgspec.msgpack.Decoder(list[_Map])


def value_of(value: Any) -> Any:
    """One of an event table's values, read where `load(raw_values=True)` left it."""
    if type(value) is not msgspec.Raw:
        return value
    try:
        return _VALUE.decode(value)
    except msgspec.DecodeError as error:
        raise SnapshotError(f"the snapshot is damaged ({error})") from None


_VALUES = msgspec.msgpack.Decoder(list[dict[str, Any]])
_VALUE = msgspec.msgpack.Decoder(dict[str, Any])


class EventRows:
    """Builds an `EventTable`: each distinct event object once, by identity (`rows`:
    row by `id`, complete once `indexed`)."""

    def __init__(self) -> None:
        self.rows: dict[int, int] = {}
        self.events: list[Event] = []
        #: events added in bulk not in `rows` yet: their ids (None: not taken yet), the
        #: first one's row and how many
        self._unindexed: list[tuple[list[int] | None, int, int]] = []
        #: every event's sequence number and time, where known without a pass over them
        self._seq: np.ndarray | None = None
        self._ts: np.ndarray | None = None

    def row(self, event: Event) -> int:
        """The event's row (added when new)."""
        if self._unindexed:
            self.indexed()
        found = self.rows.get(id(event))
        if found is None:
            found = self.rows[id(event)] = len(self.events)
            self.events.append(event)
        return found

    def indexed(self) -> dict[int, int]:
        """`rows`, every event added in bulk in it."""
        for ids, base, count in self._unindexed:
            if ids is None:
                ids = list(map(id, self.events[base : base + count]))
            self.rows.update(zip(ids, range(base, base + count), strict=True))
        self._unindexed.clear()
        return self.rows

    def add_new(
        self, events: list[Event], ids: list[int] | None = None, seq: np.ndarray | None = None
    ) -> int:
        """Events not among the rows yet, each once, added in order (put in `rows`
        when next needed: a snapshot's last rule needs none; `ids`: theirs, where
        known); the first one's row. `seq`: their sequence numbers, where known (the
        table takes them when these are all its events)."""
        base = len(self.events)
        if base == 0 and not self.rows:  # (the first: taken as it is, not copied)
            self.events = events
        else:
            self.events.extend(events)
        self._unindexed.append((ids, base, len(events)))
        if base == 0 and seq is not None:
            self._seq = seq
        return base

    def times(self, ts: np.ndarray | None) -> None:
        """Every event's time, where known another way (None: not known)."""
        self._ts = ts if ts is not None and len(ts) == len(self.events) else None

    def table(self) -> EventTable:
        """The events as a table (`table_of`)."""
        n = len(self.events)
        seq, ts = self._seq, self._ts
        return table_of(  # (unless others were added since)
            self.events,
            ts=ts if ts is not None and len(ts) == n else None,
            seq=seq if seq is not None and len(seq) == n else None,
            fresh=True,
        )


def table_of(
    events: list[Event],
    ts: np.ndarray | None = None,
    seq: np.ndarray | None = None,
    *,
    fresh: bool = False,
) -> EventTable:
    """Events as a table, each by what makes it again with the least: its text where
    reports have one for it (a restore reads and validates it), else its record as read
    where validation changed it, else its values. `ts` and `seq`: their times and
    sequence numbers, where known already (`fresh`: arrays that nothing else holds or
    changes, taken as they lie, as `ints` takes them)."""
    names = list(set(map(_TYPE, events)))  # (one, mostly: no list of every type)
    if len(names) > 1:
        types = list(map(_TYPE, events))
        names = list(dict.fromkeys(types))
        code = {name: i for i, name in enumerate(names)}
        codes = ints([code[name] for name in types])
    else:
        codes = bytes(8 * len(events))
    lines: Any
    try:
        lines = np.fromiter(map(_LINE, events), np.int64, len(events))
    except TypeError:  # (some have no line: None)
        lines = list(map(_LINE, events))
        if lines.count(None) == len(lines):
            lines = np.full(len(lines), NONE, np.int64)
        else:
            lines = [NONE if n is None else n for n in lines]
    texts: list[str | bytes] = []
    # (every one with a JSON text, as read from JSON lines: TEXT, the others' loop
    # below would find; no pass to look first, the first `Event` refuses at once)
    blob = None if not events or type(events[0]) is Event else _json_blob(events)
    if blob is not None:
        kinds, values = bytes(len(events)), []
    elif set(map(type, events)) <= {Event}:  # (made in Python: values only)
        kinds = np.full(len(events), DATA, np.uint8).tobytes()
        values = list(map(_DATA, events))
    else:
        found = bytearray(len(events))
        values, texts = [], []
        for i, event in enumerate(events):
            text = getattr(event, "json", None)
            if text is not None:
                texts.append(text)
                continue
            raw = getattr(event, "raw", None)
            if raw is not None and raw is not event.data:
                found[i] = RECORD
                values.append(raw)
            else:
                found[i] = DATA
                values.append(event.data)
        kinds = bytes(found)
    text, ends = blob or text_blob(texts)
    return EventTable(
        names=names, type=codes,
        ts=ints(_column(_TS, events), fresh=True) if ts is None else ints(ts, fresh=fresh),
        seq=ints(_column(_SEQ, events), fresh=True) if seq is None else ints(seq, fresh=fresh),
        line=ints(lines, fresh=True),
        kind=kinds, text=text,
        text_end=ends, values=values,
    )  # fmt: skip


_TYPE, _TS, _SEQ, _LINE, _DATA = (
    attrgetter(name) for name in ("type", "ts", "seq", "line", "data")
)

_JSON = attrgetter("json")


def _column(getter: attrgetter[int], events: list[Event]) -> np.ndarray:
    """An integer attribute of every event, as an array (no list in between)."""
    return np.fromiter(map(getter, events), np.int64, len(events))


def text_blob(texts: list[str | bytes]) -> tuple[bytes, bytes]:
    """`EventTable.text` and `text_end` of some texts."""
    strs = [t if type(t) is str else t.decode("utf-8", "surrogatepass") for t in texts]  # type: ignore[union-attr]
    return _joined(strs, len(strs), lambda: strs)


def _json_blob(events: list[Any]) -> tuple[bytes, bytes] | None:
    """`text_blob` of events' JSON texts, where each is a `str` (as a JSON line's is);
    None where one is not (no pass over them to find out: the join refuses it)."""
    try:
        return _joined(map(_JSON, events), len(events), lambda: list(map(_JSON, events)))
    except (TypeError, AttributeError):  # (one is None or bytes, or has no text)
        return None


def _joined(
    texts: Iterable[str], count: int, again: Callable[[], list[str]]
) -> tuple[bytes, bytes]:
    """`count` texts joined, each followed by a newline, and where each ends (`again`:
    the texts once more, where one has a newline of its own).

    Joined and encoded `_TEXTS_AT_ONCE` at a time, into one buffer, each part's
    newlines found as it is added: the whole text made a `str` first, then encoded,
    would be two copies of tens of megabytes, and a search for its newlines a third,
    each in memory new to the process (a page fault for every 4 KiB); a part's are
    reused, and still in the cache when searched."""
    if not count:
        return b"", b""
    blob = bytearray()
    ends = np.empty(count, np.int64)
    found = 0  # (newlines found so far; more than `count`: a text has one of its own)
    texts = iter(texts)
    for _ in range(0, count, _TEXTS_AT_ONCE):
        part = "\n".join(islice(texts, _TEXTS_AT_ONCE)).encode("utf-8", "surrogatepass")
        at = len(blob)
        blob += part
        blob += b"\n"
        lines = np.flatnonzero(np.frombuffer(part, np.uint8) == 10)
        if found + len(lines) < count:
            ends[found : found + len(lines)] = lines + at
            ends[found + len(lines)] = at + len(part)
        found += len(lines) + 1
    if found != count:  # (a text with a newline of its own)
        sizes = [len(t.encode("utf-8", "surrogatepass")) + 1 for t in again()]
        ends = np.cumsum(sizes) - 1
    return blob, ints(ends, fresh=True)  # type: ignore[return-value]  # (bytes-like)


#: texts `_joined` joins at a time (a few hundred KiB of JSON lines)
_TEXTS_AT_ONCE = 8192


def text_bounds(table: EventTable) -> tuple[np.ndarray, np.ndarray]:
    """Where each of a table's texts starts and ends in `text` (SnapshotError where they
    do not tile it)."""
    ends = array(table.text_end)
    if not len(ends):
        if table.text:
            raise SnapshotError("the snapshot is damaged (its event texts are uneven)")
        return ends, ends
    starts = np.empty(len(ends), np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    if (ends < starts).any() or int(ends[-1]) != len(table.text) - 1:
        raise SnapshotError("the snapshot is damaged (its event texts are uneven)")
    return starts, ends


def texts_of(table: EventTable) -> list[str]:
    """The texts of a table's `TEXT` events, in row order."""
    starts, ends = text_bounds(table)
    blob = table.text
    if not len(ends):
        return []
    try:
        whole = blob.decode("utf-8", "surrogatepass")
        if len(whole) == len(blob) and whole.count("\n") == len(ends):  # (ASCII)
            return whole.split("\n")[:-1]
        return [blob[a:b].decode("utf-8", "surrogatepass")
                for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]  # fmt: skip
    except UnicodeDecodeError:
        raise SnapshotError("the snapshot is damaged (an event's text is not UTF-8)") from None


def checked_columns(
    table: EventTable,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A table's `type`, `ts`, `seq`, `line` and `kind` as arrays; SnapshotError where
    they do not hold together (its texts are `text_bounds`')."""
    n = len(table.kind)
    codes, ts, seq, line = (array(t) for t in (table.type, table.ts, table.seq, table.line))
    kinds = np.frombuffer(table.kind, np.uint8)
    n_text = int(np.count_nonzero(kinds == TEXT))
    if (
        not (len(codes) == len(ts) == len(seq) == len(line) == n)
        or outside(codes, len(table.names)) or bool((kinds > DATA).any())
        or len(table.values) != n - n_text
    ):  # fmt: skip
        raise SnapshotError("the snapshot is damaged (its event table is uneven)")
    if len(table.text_end) != 8 * n_text:
        raise SnapshotError("the snapshot is damaged (its event texts are uneven)")
    return codes, ts, seq, line, kinds


class StoredEvents(list[Any]):
    """A table's events by row (`events_of`), with their times and sequence numbers as
    arrays (`ts`, `seq`)."""

    ts: np.ndarray
    seq: np.ndarray


def events_of(table: EventTable, validator: Validator | None = None) -> StoredEvents:
    """A table's events as the interpreter's events: `SourceEvent`s for those kept as
    text or record (reports write each as read), validated with `validator` (without
    one they stay as stored, `data` None: for a table made again), and `Event`s for
    values."""
    from cep.io.sources import SourceEvent

    codes, ts, seq, line, kinds = checked_columns(table)
    n, n_text = len(kinds), len(table.text_end) // 8
    texts = texts_of(table)
    names = table.names
    types = [names[0]] * n if len(names) == 1 else [names[c] for c in codes.tolist()]
    ts_list, seq_list = ts.tolist(), seq.tolist()
    if not (line == NONE).any():
        lines: list[int | None] = line.tolist()
    elif (line == NONE).all():
        lines = [None] * n
    else:
        lines = [None if n == NONE else n for n in line.tolist()]
    values = table.values
    if n_text == 0 and not (kinds == RECORD).any():  # values only: as they are
        out = StoredEvents(map(Event, types, ts_list, values, seq_list, lines))
    else:
        records = text_records(texts) if validator is not None else texts
        out = StoredEvents()
        add = out.append
        t = v = 0
        for i, kind in enumerate(kinds.tolist()):
            text = None
            if kind == TEXT:
                text = texts[t]
                record = records[t] if validator is not None else None
                t += 1
                data = None
            elif kind == DATA:  # (as made in Python)
                add(Event(types[i], ts_list[i], values[v], seq_list[i], lines[i]))
                v += 1
                continue
            else:
                record = values[v]
                data = None
                v += 1
            if data is None and validator is not None:
                typed, _ = validator.validate(types[i], record)
                data = typed or record
                if kind == RECORD and data is record:  # (kept apart, as they were)
                    data = dict(record)
            add(SourceEvent(types[i], ts_list[i], data, seq_list[i], lines[i],  # type: ignore[arg-type]
                            raw=data if record is None else record, json=text))  # fmt: skip
    out.ts, out.seq = ts, seq
    return out


def text_records(texts: list[str]) -> list[dict[str, Any]]:
    """Texts' records: read in one pass where that gives one object each."""
    try:
        found = msgspec.json.decode("[" + ",".join(texts) + "]")
    except (msgspec.DecodeError, UnicodeEncodeError):
        found = None
    if type(found) is list and len(found) == len(texts) and all(type(r) is dict for r in found):
        return found
    return [text_record(text) for text in texts]


def text_record(text: str | None) -> dict[str, Any]:
    """A stored text's record (SnapshotError where it is not a JSON object)."""
    try:
        found = msgspec.json.decode(text or "")
    except (msgspec.DecodeError, UnicodeEncodeError):
        found = None
    if not isinstance(found, dict):
        raise SnapshotError("the snapshot is damaged (an event's text is not a JSON object)")
    return found


@dataclass
class RuleChanges:
    """What a restore did with each rule: `kept` (unchanged, state restored), `changed`
    and `new` (start empty), `removed` (in the snapshot, not in the rules); the open
    runs of changed and removed rules are dropped (`dropped_runs`)."""

    kept: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dropped_runs: dict[str, int] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.changed or self.new or self.removed)

    def describe(self) -> str:
        """One line for standard error: which rules kept their state and which not."""
        parts = []
        if self.kept:
            parts.append(f"kept state: {', '.join(self.kept)}")
        if self.changed:
            changed = ", ".join(f"{n} ({self.dropped_runs.get(n, 0)} open runs dropped)"
                                for n in self.changed)  # fmt: skip
            parts.append(f"changed, started empty: {changed}")
        if self.new:
            parts.append(f"new: {', '.join(self.new)}")
        if self.removed:
            dropped = ", ".join(f"{n} ({self.dropped_runs.get(n, 0)} open runs dropped)"
                                for n in self.removed)  # fmt: skip
            parts.append(f"removed: {dropped}")
        return "; ".join(parts) if parts else "no rules"


def match_rules(
    state: EngineState, names: list[str], fingerprints: list[str]
) -> tuple[list[RuleState | None], RuleChanges]:
    """Each rule's saved state (None: it starts empty), rules given by name and
    fingerprint in load order, and what happened to each."""
    saved = {rule.name: rule for rule in state.rules}
    changes = RuleChanges()
    found: list[RuleState | None] = []
    for name, fingerprint in zip(names, fingerprints, strict=True):
        rule = saved.pop(name, None)
        if rule is None:
            changes.new.append(name)
            found.append(None)
        elif rule.fingerprint != fingerprint:
            changes.changed.append(name)
            changes.dropped_runs[name] = rule.open_runs
            found.append(None)
        else:
            changes.kept.append(name)
            found.append(rule)
    for name, rule in saved.items():
        changes.removed.append(name)
        changes.dropped_runs[name] = rule.open_runs
    return found, changes


#: a rule state's int64 tables, by name (checked alike by both engines' restores)
RULE_TABLES = (
    "timer", "cell_var", "cell_event", "cell_parent", "run_part", "run_state", "run_cell",
    "run_start", "held_part", "held_cell", "held_start", "held_ts", "held_step",
    "timer_close", "timer_ts", "timer_seq", "timer_part",
)  # fmt: skip


def uneven(tables: dict[str, np.ndarray], *names: str) -> bool:
    """Whether tables that go together differ in length (a damaged snapshot)."""
    return len({len(tables[name]) for name in names}) > 1


def outside(values: np.ndarray, end: int, low: int = 0) -> bool:
    """Whether an index table points outside `low..end-1` (a damaged snapshot)."""
    return bool(len(values)) and (int(values.min()) < low or int(values.max()) >= end)


def checked_tables(
    state: RuleState, n_vars: int, n_states: int, n_events: int
) -> dict[str, np.ndarray]:
    """A rule state's tables as arrays, by name (`RULE_TABLES`); SnapshotError where
    they do not fit each other, the rule (`n_vars` variables, `n_states` NFA states) or
    the event table (`n_events` rows). What every engine's restore checks: a run may
    have no start or history and a held match no history (`NONE`); an engine that
    needs them refuses them on top."""
    t = {name: array(getattr(state, name)) for name in RULE_TABLES}
    n_parts, n_cells = len(state.keys), len(t["cell_var"])
    if (
        len(t["timer"]) != n_parts
        or uneven(t, "cell_var", "cell_event", "cell_parent")
        or uneven(t, "run_part", "run_state", "run_cell", "run_start")
        or uneven(t, "held_part", "held_cell", "held_start", "held_ts", "held_step")
        or uneven(t, "timer_close", "timer_ts", "timer_seq", "timer_part")
        or outside(t["cell_var"], n_vars) or outside(t["cell_event"], n_events)
        or outside(t["cell_parent"], n_cells, NONE) or outside(t["run_part"], n_parts)
        or outside(t["run_state"], n_states) or outside(t["run_cell"], n_cells, NONE)
        or outside(t["run_start"], n_events, NONE) or outside(t["held_part"], n_parts)
        or outside(t["held_cell"], n_cells, NONE) or outside(t["held_start"], n_events)
        or outside(t["timer_part"], n_parts)
    ):  # fmt: skip
        raise SnapshotError(f"the snapshot is damaged (rule {state.name}'s tables)")
    return t
