"""An engine's state as plain data, the same for every engine: what `snapshot()` writes
and a restore reads (docs/state.md).

Everything that decides future output is here: the clock (events counted, the next
sequence number, the largest time seen, the floor `advance_to` set, the events held
back for the allowed delay), and for each rule its partitions, open runs, held matches,
window timers and counters. Runs' histories are tables, as the fast path keeps them: a
history is a chain of cells `(variable, event, parent cell)`, shared by forks; events
are rows of one table that every rule and the held-back queue refer to by row.

A snapshot is `MAGIC`, the format number, a CRC-32 of the body and the body in
msgpack (msgspec), integer tables as little-endian int64 bytes. Nothing in it is code:
loading one runs no pickle. States are numbered as in the rule's compiled NFA, which
the rule's fingerprint (`cep.compile.fingerprint`) pins down: state is only ever
restored into a rule with the same fingerprint."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from cep.runtime.event import Event
from cep.runtime.ordering import NO_TIME

if TYPE_CHECKING:
    from cep.io.validation import Validator

MAGIC = b"CEPSTATE"
#: bumped whenever the body's layout or meaning changes; other formats are refused
FORMAT = 1
_HEAD = struct.Struct("<8sII")  # magic, format, CRC-32 of the body
NONE = -1  # no cell, no line


class SnapshotError(ValueError):
    """A snapshot that cannot be loaded: damaged, of another format, or not one."""


def ints(values: Any) -> bytes:
    """Integers as the body stores them (little-endian int64)."""
    return np.asarray(values, dtype="<i8").tobytes()


def array(data: bytes) -> np.ndarray:
    """A stored integer table as an int64 array (read-only)."""
    if len(data) % 8:
        raise SnapshotError("the snapshot is damaged (a table has a partial row)")
    return np.frombuffer(data, dtype="<i8")


class EventTable(msgspec.Struct, array_like=True, forbid_unknown_fields=True):
    """Events that state refers to, by row: `json`, its text as reports write it (a
    JSON line's as read), where there is one; else `record`, the event as read, where
    validation changed it; else `data`, the values expressions see. A restore reads and
    validates the text or the record against the schemas, as a reader did, so that a
    snapshot never has to (the fast path keeps most events as text only)."""

    type: list[str] = msgspec.field(default_factory=list)
    ts: bytes = b""
    seq: bytes = b""
    line: bytes = b""
    data: list[dict[str, Any] | None] = msgspec.field(default_factory=list)
    record: list[dict[str, Any] | None] = msgspec.field(default_factory=list)
    json: list[str | None] = msgspec.field(default_factory=list)


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


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(EngineState)


def dump(state: EngineState) -> bytes:
    """A snapshot's bytes."""
    body = _ENCODER.encode(state)
    return _HEAD.pack(MAGIC, FORMAT, zlib.crc32(body)) + body


def load(data: bytes | bytearray | memoryview) -> EngineState:
    """A snapshot's state; SnapshotError when it is not one, is damaged, or is of
    another format."""
    data = bytes(data)
    if len(data) < _HEAD.size or not data.startswith(MAGIC):
        raise SnapshotError("not a cep snapshot")
    _, version, crc = _HEAD.unpack_from(data)
    if version != FORMAT:
        raise SnapshotError(
            f"the snapshot is of format {version}; this cep reads format {FORMAT} only"
        )
    body = memoryview(data)[_HEAD.size :]
    if zlib.crc32(body) != crc:
        raise SnapshotError("the snapshot is damaged (its checksum does not match)")
    try:
        return _DECODER.decode(body)
    except msgspec.DecodeError as error:
        raise SnapshotError(f"the snapshot is damaged ({error})") from None


class EventRows:
    """Builds an `EventTable`: each distinct event object once, by identity."""

    def __init__(self) -> None:
        self.rows: dict[int, int] = {}
        self.events: list[Event] = []

    def row(self, event: Event) -> int:
        """The event's row (added when new)."""
        found = self.rows.get(id(event))
        if found is None:
            found = self.rows[id(event)] = len(self.events)
            self.events.append(event)
        return found

    def table(self) -> EventTable:
        """The events as a table, each by what makes it again with the least: its text
        where reports have one for it (a restore reads and validates it), else its
        record as read where validation changed it, else its values."""
        events = self.events
        data: list[dict[str, Any] | None] = []
        records: list[dict[str, Any] | None] = []
        texts: list[str | None] = []
        for event in events:
            text = getattr(event, "json", None)
            raw = getattr(event, "raw", None)
            if text is not None:
                data.append(None)
                records.append(None)
            elif raw is not None and raw is not event.data:
                data.append(None)
                records.append(raw)
            else:
                data.append(event.data)
                records.append(None)
            texts.append(text)
        return EventTable(
            type=[e.type for e in events],
            ts=ints([e.ts for e in events]),
            seq=ints([e.seq for e in events]),
            line=ints([NONE if e.line is None else e.line for e in events]),
            data=data,
            record=records,
            json=texts,
        )


def events_of(table: EventTable, validator: Validator | None = None) -> list[Event]:
    """A table's events as the interpreter's events (`SourceEvent`s: reports write each
    as read). Events kept as text are validated with `validator` (without one they stay
    text, `data` None: for a table made again)."""
    from cep.io.sources import SourceEvent

    ts, seq, line = array(table.ts).tolist(), array(table.seq).tolist(), array(table.line)
    n = len(table.type)
    if not (len(ts) == len(seq) == len(line) == len(table.data) == n):
        raise SnapshotError("the snapshot is damaged (its event table is uneven)")
    lines = line.tolist()
    out = []
    for i in range(n):
        data = table.data[i]
        record = table.record[i]
        if data is None and validator is not None:
            stored = record is not None
            if record is None:
                record = _record(table.json[i])
            typed, _ = validator.validate(table.type[i], record)
            data = typed or record
            if stored and data is record:  # (kept apart, as they were: written alike again)
                data = dict(record)
        out.append(
            SourceEvent(
                table.type[i], ts[i], data, seq[i], None if lines[i] == NONE else lines[i],
                raw=data if record is None else record, json=table.json[i],
            )
        )  # fmt: skip
    return out


def _record(text: str | None) -> dict[str, Any]:
    try:
        found = msgspec.json.decode(text or "")
    except msgspec.DecodeError:
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
