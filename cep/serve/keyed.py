"""One engine per key, its state in the Quix Streams state store.

Each message of a group's repartition topic carries one event of one key. The key's
engine (the interpreter: it matches one event at a time, which is what a per-message
host does) is held in memory while the key has open runs, and the snapshot
(`cep.engine.state`) of each key that changed is written to the store when the
checkpoint commits, in the same commit as the offsets, so what the store holds after
a crash is exactly what the committed offsets say was read. A key whose runs have all
ended is dropped from memory and from the store: a key that never returns costs
nothing.

Time is per Kafka partition, as Quix Streams' own windows have it: the partition's
watermark is the largest event time seen in that partition minus the allowed delay,
moved by every event of every key in it. Keys whose windows close (absences,
timeouts) or whose held events fall due are woken by a timer index (`due`, also in the
store) when the watermark passes them, so a quiet key's absence fires when other keys
of its partition move time on, not only at its own next event.

With `--idle D` a partition that has had no event for D of wall time moves its time
on with the wall clock (`cep.service.idle.IdleClock`, one per partition, as `cep run
--idle` moves its watermark), when the application's run loop asks (`on_idle`)."""

from __future__ import annotations

import heapq
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cep.engine import EngineOptions, InterpreterEngine, resume_engine
from cep.io.sources import RecordMaker, SourceEvent, json_line
from cep.io.validation import Validator
from cep.runtime.event import Event
from cep.runtime.match import Match
from cep.runtime.ordering import NO_TIME
from cep.serve.keying import RuleGroup
from cep.service.idle import IdleClock

#: the prefix of the partition's own entries in the store (message keys are JSON text,
#: which never starts with a NUL byte)
META = b"\x00cep"
#: under META: the largest event time seen in the partition
MAX_SEEN = b"max-seen"
#: the prefix of the timer index: one entry per key that waits for time, its due time
DUE = b"\x00cep-due"
#: under a key's own prefix: its engine's snapshot
ENGINE = b"engine"


@dataclass(frozen=True, slots=True)
class Output:
    """A record for an output topic: a report line (`kind` "report") or a reject."""

    kind: str
    value: Any
    key: bytes | None


@dataclass
class PartitionState:
    """What this process holds of one Kafka partition of a group's topic, rebuilt from
    the store when the partition is (re)assigned (`store` changes then)."""

    store: object
    max_seen: int
    engines: dict[bytes, InterpreterEngine] = field(default_factory=dict)
    #: keys whose engine changed since the store transaction began (`_write_dirty`)
    dirty: set[bytes] = field(default_factory=set)
    #: the store transaction the partition's writes go to (a new one each checkpoint)
    tx: object = None
    due_at: dict[bytes, int] = field(default_factory=dict)
    due: list[tuple[int, bytes]] = field(default_factory=list)
    #: `--idle`: when the partition's time moves on with the wall clock
    idle: IdleClock | None = None

    def watermark(self, delay: int) -> int:
        """The partition's watermark (NO_TIME before its first event)."""
        return NO_TIME if self.max_seen == NO_TIME else self.max_seen - delay


class KeyedRules:
    """A group's rules, one engine per key, over the partitions this process holds."""

    def __init__(
        self,
        group: RuleGroup,
        schemas: Mapping[str, Any],
        *,
        allowed_delay_ms: int,
        max_runs_per_key: int,
        type_field: str,
        time_field: str,
        time_unit: str,
        default_type: str | None,
        idle_ms: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.group = group
        self.rules = list(group.rules)
        self.schemas = schemas
        self.delay = allowed_delay_ms
        self._late: list[Event] = []
        self.options = EngineOptions(
            allowed_delay_ms=allowed_delay_ms,
            max_runs_per_key=max_runs_per_key,
            on_late=self._late.append,
            max_state=None,  # (a budget is per process; one key's engine holds one key)
        )
        validator = Validator(schemas) if schemas else None
        self._maker = RecordMaker(type_field, time_field, default_type, validator, time_unit)
        self._partitions: dict[int, PartitionState] = {}
        self._told: set[str] = set()
        self.idle_ms = idle_ms
        self._clock = clock

    # ------------------------------------------------------------------ per message

    def process(
        self, tx: Any, partition: int, key: bytes, value: Mapping[str, Any]
    ) -> list[Output]:
        """One event (a message `value` from the input stage: its line and where it was
        read) of one key: the reports and rejects it releases, for any key."""
        state = self._partition(tx, partition)
        made = json_line(self._maker, 0, value["line"])
        if not isinstance(made, SourceEvent):  # (the input stage let only events by)
            return [Output("reject", _reject(value, made.reason if made else "blank"), None)]
        made.line = None
        if state.idle is not None:
            state.idle.arrived(made.ts)
        out: list[Match] = []
        if made.ts > state.max_seen:
            state.max_seen = made.ts
            tx.set_bytes(MAX_SEEN, _time_bytes(made.ts), prefix=META)
        watermark = state.max_seen - self.delay
        self._wake(tx, state, watermark, out)
        engine = self._engine(tx, state, key)
        out.extend(engine.advance_to(watermark))
        out.extend(engine.push(made))
        self._settle(tx, state, key, engine)
        outputs = [Output("report", m.to_json().encode(), _key_bytes(m)) for m in out]
        if self._late:
            outputs.extend(Output("reject", _reject(value, "late"), None) for _ in self._late)
            self._late.clear()
        return outputs

    def on_idle(self, tx: Any, partition: int) -> list[Output]:
        """With `--idle`: when the partition has had no event for the idle time, move
        its time on with the wall clock (as if an event of that time had come: one
        older than it is late); the reports that releases, for any key."""
        state = self._partition(tx, partition)
        if state.idle is None:
            return []
        target = state.idle.due(state.watermark(self.delay))
        if target is None:
            return []
        state.max_seen = target + self.delay
        tx.set_bytes(MAX_SEEN, _time_bytes(state.max_seen), prefix=META)
        out: list[Match] = []
        self._wake(tx, state, target, out)
        return [Output("report", m.to_json().encode(), _key_bytes(m)) for m in out]

    def _wake(self, tx: Any, state: PartitionState, watermark: int, out: list[Match]) -> None:
        """Move time on for every key of the partition due by `watermark`."""
        due = state.due
        while due and due[0][0] <= watermark:
            at, key = heapq.heappop(due)
            if state.due_at.get(key) != at:
                continue  # (an entry replaced by a later one)
            engine = self._engine(tx, state, key)
            out.extend(engine.advance_to(watermark))
            self._settle(tx, state, key, engine)

    def _settle(
        self, tx: Any, state: PartitionState, key: bytes, engine: InterpreterEngine
    ) -> None:
        """Write the key's state back: its snapshot and due time, or nothing at all
        when no run is open and nothing is held (the key is forgotten)."""
        stats = engine.stats()
        if not (
            stats.open_runs
            or stats.held_events
            or sum(rule.held_matches for rule in stats.rules.values())
        ):
            state.engines.pop(key, None)
            state.dirty.discard(key)
            tx.delete(ENGINE, prefix=key)
            if state.due_at.pop(key, None) is not None:
                tx.delete(key, prefix=DUE)
            return
        state.engines[key] = engine
        state.dirty.add(key)
        at = engine.next_due
        if at == state.due_at.get(key):
            return
        if at is None:
            del state.due_at[key]
            tx.delete(key, prefix=DUE)
        else:
            state.due_at[key] = at
            heapq.heappush(state.due, (at, key))
            tx.set_bytes(key, _time_bytes(at), prefix=DUE)

    # ------------------------------------------------------------------ state

    def _engine(self, tx: Any, state: PartitionState, key: bytes) -> InterpreterEngine:
        engine = state.engines.get(key)
        if engine is not None:
            return engine
        snapshot = tx.get_bytes(ENGINE, prefix=key)
        if snapshot is None:
            return InterpreterEngine(self.rules, self.schemas, self.options)
        resumed, changes = resume_engine(
            snapshot, self.rules, self.schemas, self.options, "interpreter"
        )
        if changes.any and changes.describe() not in self._told:
            self._told.add(changes.describe())
            print(
                f"cep serve: rules changed since state was stored: {changes.describe()}",
                file=sys.stderr,
            )
        assert isinstance(resumed, InterpreterEngine)
        return resumed

    def _partition(self, tx: Any, partition: int) -> PartitionState:
        """The partition's state, rebuilt from the store when the store partition is not
        the one it was built from (assigned anew, perhaps after another process held it)."""
        store = tx._partition  # (Quix Streams' store partition: reopened on each assignment)
        state = self._partitions.get(partition)
        if state is not None and state.store is store:
            if state.tx is not tx:
                self._on_prepare(tx, state)
            return state
        packed = tx.get_bytes(MAX_SEEN, prefix=META)
        state = PartitionState(store, NO_TIME if packed is None else int(packed))
        if self.idle_ms is not None:
            state.idle = IdleClock(self.idle_ms, self.delay, self._clock)
            state.idle.start(state.watermark(self.delay))
        for key, at in _stored_due(store):
            state.due_at[key] = at
            state.due.append((at, key))
        heapq.heapify(state.due)
        self._partitions[partition] = state
        self._on_prepare(tx, state)
        return state

    def _on_prepare(self, tx: Any, state: PartitionState) -> None:
        """Snapshot the keys that changed when the transaction is prepared for its
        commit, not after every message: a snapshot costs more than matching the
        message (docs/serve.md, Cost), and one per key per commit is what the store
        needs. Quix Streams prepares each store transaction of a checkpoint before it
        produces the changelog and commits offsets, so the snapshots are in the same
        commit (the same Kafka transaction with exactly-once) as the offsets."""
        state.tx = tx
        prepare = tx.prepare

        def prepare_with_snapshots(*args: Any, **kwargs: Any) -> Any:
            for key in state.dirty:
                # (the store takes `bytes` only; a snapshot is a bytearray)
                tx.set_bytes(ENGINE, bytes(state.engines[key].snapshot()), prefix=key)
            state.dirty.clear()
            return prepare(*args, **kwargs)

        tx.prepare = prepare_with_snapshots


def _stored_due(store: Any) -> list[tuple[bytes, int]]:
    """The timer index as committed to the store partition (`DUE` entries)."""
    from quixstreams.state.metadata import SEPARATOR

    start = DUE + SEPARATOR
    end = DUE + bytes([SEPARATOR[0] + 1])
    return [(k[len(start) :], int(v)) for k, v in store.iter_items(start, end)]


def _reject(value: Mapping[str, Any], reason: str) -> dict[str, Any]:
    topic, partition, offset = value["at"]
    return {"topic": topic, "partition": partition, "offset": offset, "reason": reason,
            "raw": value["line"]}  # fmt: skip


def _key_bytes(match: Match) -> bytes | None:
    """A report's message key: its partition key as JSON text (None without one)."""
    if match.key is None or match.key == ():
        return None
    from cep.runtime.match import encode, json_value

    return encode(json_value(match.key))


def _time_bytes(ts: int) -> bytes:
    """A time as the store keeps it: decimal text (an 8-byte binary value would look,
    to Quix Streams' changelog recovery, like one of its own TTL stamps)."""
    return str(ts).encode()
