"""`kafka://HOST:PORT/TOPIC?group=NAME`: a Kafka topic as `cep run`'s input (docs/kafka.md).

Each message's value is one JSON event. The values a `consume` call gives are joined
into one buffer of lines and read by the JSON lines batch reader (`JsonlReader`), so
Kafka input takes the columnar path files take, with no per-message Python objects
beyond what the client gives.

Time over partitions follows Flink's Kafka source: the watermark is the smallest of
the partitions' high-water times (the largest event time seen in each), a partition
idle for `--idle` of wall time (or, with `until=end`, at its end) no longer holding it
back. Messages wait in per-partition queues (`_Pending`) until the watermark passes
them; what is released is merged in time order across partitions (each partition's
messages keep their order), so events in time order within each partition are never
late however the partitions interleave. Each partition releases a prefix of what it
read, so where the input stands is one offset per partition: the first message not
yet released.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from cep.io.batch import Batch
from cep.io.gather import gather_rows
from cep.io.jsonl import JsonlReader
from cep.io.lines import Block
from cep.io.sources import Reject, SourceError

if TYPE_CHECKING:
    from cep.service.idle import IdleClock

SCHEME = "kafka://"
EXTRA = "pip install 'cep-rules[kafka]'"
#: the time that holds nothing back (a partition never heard from holds back all)
NO_TIME = np.iinfo(np.int64).min
#: the client's own log lines (a broker it cannot reach, many a second) are not shown:
#: what stops a run is one line of `cep run`'s, and what the client retries is said
#: once (`KafkaBatches`)
QUIET = {"log_level": 2}
#: how long one poll waits for messages before an (empty) batch is handed on, so that
#: the run loop can act on a quiet feed
POLL_SECONDS = 0.05


def is_kafka(path: str | None) -> bool:
    """Whether an input or output is a Kafka topic (`kafka://...`)."""
    return path is not None and path.startswith(SCHEME)


class KafkaError(SourceError):
    """A broker that cannot be reached, a topic that is not there, a client missing."""


def client() -> Any:
    """The `confluent_kafka` module; KafkaError naming the extra when it is missing."""
    try:
        import confluent_kafka
    except ImportError:
        raise KafkaError(f"kafka:// needs the Kafka client: {EXTRA}") from None
    return confluent_kafka


@dataclass(frozen=True)
class KafkaAddress:
    """A parsed `kafka://HOST:PORT[,HOST:PORT...]/TOPIC?group=NAME&until=end`."""

    bootstrap: str
    topic: str
    group: str = "cep"
    #: stop at the partitions' ends (as a file's run stops at its end)
    until_end: bool = False

    @classmethod
    def parse(cls, url: str, *, source: bool = True) -> KafkaAddress:
        """KafkaError saying what is wrong with `url`."""
        parts = urlsplit(url)
        topic = parts.path.lstrip("/")
        if parts.scheme != "kafka" or not parts.netloc or not topic or "/" in topic:
            raise KafkaError(f"{url}: expected kafka://HOST:PORT/TOPIC")
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        allowed = {"group", "until"} if source else set()
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise KafkaError(f"{url}: unknown option {unknown[0]!r} (allowed: "
                             f"{', '.join(sorted(allowed)) or 'none'})")  # fmt: skip
        until = options.get("until")
        if until not in (None, "end"):
            raise KafkaError(f"{url}: until={until}: the only value is until=end")
        group = options.get("group", "cep")
        if not group:
            raise KafkaError(f"{url}: group= needs a name")
        return cls(parts.netloc, topic, group, until == "end")


def same_topic(a: str, b: str) -> bool:
    """Whether two Kafka addresses read the same topic in the same group (a resume may
    add or drop `until=end`: a live run's checkpoint drained to the end, say)."""
    try:
        first, second = KafkaAddress.parse(a), KafkaAddress.parse(b)
    except KafkaError:
        return a == b
    return (first.bootstrap, first.topic, first.group) == (
        second.bootstrap,
        second.topic,
        second.group,
    )


def said(error: Exception) -> str:
    """What a client's exception says, without its wrapping."""
    inner = error.args[0] if error.args else None
    return inner.str() if hasattr(inner, "str") else str(error)


def topic_partitions(consumer: Any, address: KafkaAddress) -> list[int]:
    """The topic's partition numbers; KafkaError when the broker or topic is not there."""
    kafka = client()
    try:
        meta = consumer.list_topics(address.topic, timeout=15)
    except kafka.KafkaException as error:
        raise KafkaError(f"cannot reach the Kafka broker {address.bootstrap}: "
                         f"{said(error)}") from None  # fmt: skip
    found = meta.topics.get(address.topic)
    if found is None or found.error is not None or not found.partitions:
        raise KafkaError(f"kafka://{address.bootstrap}/{address.topic}: no such topic")
    return sorted(found.partitions)


class RecordPlaces:
    """Where the records of the batches handed on came from: a record's number (its
    `line`) to its topic, partition and offset, for the rejects (`RejectsWriter.where`).
    The last few batches are remembered: a late event is rejected by the batch it
    came in."""

    def __init__(self, topic: str, keep: int = 4) -> None:
        self.topic = topic
        self.spans: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=keep)

    def add(self, first: int, partitions: np.ndarray, offsets: np.ndarray) -> None:
        if len(partitions):
            self.spans.append((first, partitions, offsets))

    def where(self, line: int) -> dict[str, Any] | None:
        for first, partitions, offsets in reversed(self.spans):
            i = line - first
            if 0 <= i < len(partitions):
                return {"topic": self.topic, "partition": int(partitions[i]),
                        "offset": int(offsets[i])}  # fmt: skip
        return None


@dataclass
class _Chunk:
    """One poll's messages of one partition, in offset order, not yet all released:
    `rows` (the event's row in `batch`, -1 for a reject), `offsets`, `order` (the
    partition's running largest time: the merge's sort key) and `rejects` by
    message index; `done` of them released."""

    partition: int
    batch: Batch
    rows: np.ndarray
    offsets: np.ndarray
    order: np.ndarray
    rejects: dict[int, Reject]
    done: int = 0


@dataclass
class _Partition:
    """A partition's queue and times."""

    chunks: deque[_Chunk] = field(default_factory=deque)
    high: int = NO_TIME  # the largest event time read
    heard: float = field(default_factory=time.monotonic)  # when a message last came
    next_offset: int | None = None  # the offset after the last message read
    at_end: bool = False

    def position(self) -> int | None:
        """The first offset not yet released."""
        for chunk in self.chunks:
            if chunk.done < len(chunk.offsets):
                return int(chunk.offsets[chunk.done])
        return self.next_offset


class KafkaBatches:
    """The batches of a Kafka input. `start` gives each partition's first offset (a
    checkpoint's): the partitions are then assigned, not joined as a group; without it
    the consumer joins `group` and commits the offsets of each batch once its reports
    are written (`before_commit` flushes the outputs first)."""

    def __init__(
        self,
        address: KafkaAddress,
        reader: JsonlReader,
        places: RecordPlaces,
        *,
        start: dict[int, int] | None = None,
        assign: bool = False,
        idle_ms: int | None = None,
        batch_size: int = 65_536,
        first_line: int = 1,
        before_commit: Callable[[], None] = lambda: None,
        clock: IdleClock | None = None,
    ) -> None:
        self.address = address
        self.clock = clock
        self.reader = reader
        self.places = places
        self.start = dict(start or {})
        self.assign = assign
        self.idle = None if idle_ms is None else idle_ms / 1000
        self.batch_size = batch_size
        self.next_line = first_line
        self.before_commit = before_commit
        self.partitions: dict[int, _Partition] = {}
        self._empty: Batch | None = None
        self._committed: dict[int, int] = {}
        #: errors the client retries, said once each (again after messages came)
        self._said: set[int] = set()
        self.consumer: Any = None

    # -- the consumer

    def _open(self) -> None:
        kafka = client()
        address = self.address
        try:
            self.consumer = kafka.Consumer({
                "bootstrap.servers": address.bootstrap,
                "group.id": address.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 10,
                **QUIET,
            })  # fmt: skip
        except kafka.KafkaException as error:
            where = f"{SCHEME}{address.bootstrap}/{address.topic}"
            raise KafkaError(f"{where}: {said(error)}") from None
        numbers = topic_partitions(self.consumer, address)
        if self.assign:
            stored = kafka.OFFSET_STORED
            self.consumer.assign([
                kafka.TopicPartition(address.topic, p, self.start.get(p, stored))
                for p in numbers
            ])  # fmt: skip
            for p in numbers:
                self._track(p)
        else:
            self.consumer.subscribe(
                [address.topic], on_assign=self._assigned, on_revoke=self._revoked
            )

    def _track(self, p: int) -> None:
        part = self.partitions[p] = _Partition()
        part.next_offset = self.start.get(p)

    def _assigned(self, consumer: Any, assigned: list[Any]) -> None:
        for tp in assigned:
            self._track(tp.partition)

    def _revoked(self, consumer: Any, revoked: list[Any]) -> None:
        """Partitions another member takes over: what was released is committed (the
        reports of the batches before are written), what waits is dropped (the new owner
        reads it from the committed offset)."""
        self._commit()
        for tp in revoked:
            self.partitions.pop(tp.partition, None)

    def _commit(self, wait: bool = False) -> None:
        if self.assign:
            return
        kafka = client()
        positions = {p: o for p, o in self.positions().items() if self._committed.get(p) != o}
        if not positions:
            return
        self.before_commit()
        offsets = [kafka.TopicPartition(self.address.topic, p, o) for p, o in positions.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=not wait)
        except kafka.KafkaException as error:
            if wait:  # (an asynchronous commit that fails is retried by the next one)
                raise KafkaError(f"cannot commit offsets to {self.address.bootstrap}: "
                                 f"{said(error)}") from None  # fmt: skip
        self._committed.update(positions)

    def positions(self) -> dict[int, int]:
        """Each partition's first offset not yet released (partitions never read from
        and not started at an offset are left out)."""
        found = {}
        for p, part in self.partitions.items():
            at = part.position()
            if at is not None:
                found[p] = at
        return found

    # -- the batches

    def __iter__(self) -> Iterator[Batch]:
        self._open()
        consumer, size = self.consumer, self.batch_size
        try:
            while True:
                self._commit()  # (the reports of the batch before are written)
                messages = consumer.consume(size, POLL_SECONDS)
                if messages:
                    self._take(messages)
                batch = self._release()
                if self.clock is not None:  # (messages held back are no quiet feed)
                    self.clock.held = any(part.chunks for part in self.partitions.values())
                yield batch
                if self.address.until_end and self._all_read():
                    break
            self._commit(wait=True)
        finally:
            consumer.close()

    def _all_read(self) -> bool:
        parts = self.partitions.values()
        return bool(parts) and all(p.at_end and not p.chunks for p in parts)

    def _take(self, messages: list[Any]) -> None:
        """A poll's messages into their partitions' queues."""
        kafka = client()
        errors = [m.error() for m in messages]
        ends: dict[int, int] = {}
        if any(errors):
            kept = []
            for message, error in zip(messages, errors, strict=True):
                if error is None:
                    kept.append(message)
                elif error.code() == kafka.KafkaError._PARTITION_EOF:
                    ends[message.partition()] = message.offset()
                elif error.fatal() or error.code() in _FATAL:
                    raise KafkaError(f"{SCHEME}{self.address.bootstrap}/{self.address.topic}:"
                                     f" {error.str()}")  # fmt: skip
                elif error.code() not in self._said:
                    self._said.add(error.code())
                    where = f"{SCHEME}{self.address.bootstrap}/{self.address.topic}"
                    print(f"cep run: {where}: {error.str()} (the client retries)",
                          file=sys.stderr, flush=True)  # fmt: skip
            messages = kept
        if messages:
            self._said.clear()
            self._queue(messages)
        for p, end in ends.items():  # (after the messages before the end)
            part = self.partitions.get(p)
            if part is not None and (part.next_offset is None or end >= part.next_offset):
                part.at_end = True

    def _queue(self, messages: list[Any]) -> None:
        n = len(messages)
        partitions = np.fromiter(map(_partition_of, messages), np.int64, n)
        offsets = np.fromiter(map(_offset_of, messages), np.int64, n)
        values = [m.value() or b"" for m in messages]
        buf = b"\n".join(values) + b"\n"
        if buf.count(b"\n") != n:  # (a pretty-printed value: its newlines are spacing)
            values = [v.replace(b"\n", b" ") for v in values]
            buf = b"\n".join(values) + b"\n"
        batch = self.reader.batch(Block(buf, 1, False))
        ts = np.full(n, NO_TIME, np.int64)
        row = np.full(n, -1, np.int64)
        index = batch.line - 1
        ts[index] = batch.ts
        row[index] = np.arange(len(batch), dtype=np.int64)
        rejects = {r.line - 1: r for r in batch.rejects}
        if len(batch) + len(rejects) < n:  # empty messages (a blank line is skipped)
            for i in np.flatnonzero(row < 0).tolist():
                if i not in rejects:
                    rejects[i] = Reject(i + 1, "empty message", values[i].decode("utf-8",
                                        "replace"))  # fmt: skip
        now = time.monotonic()
        for p in np.unique(partitions).tolist():
            mine = np.flatnonzero(partitions == p)
            part = self.partitions.get(p)
            if part is None:  # (a partition no longer ours, revoked during the poll)
                continue
            mine = mine[np.argsort(offsets[mine], kind="stable")]
            order = np.maximum.accumulate(np.maximum(ts[mine], part.high))
            part.high = int(order[-1])
            part.heard = now
            part.at_end = False
            part.next_offset = int(offsets[mine[-1]]) + 1
            mine_rejects = {}
            if rejects:
                for k in np.flatnonzero(row[mine] < 0).tolist():
                    mine_rejects[k] = rejects[int(mine[k])]
            part.chunks.append(_Chunk(p, batch, row[mine], offsets[mine], order, mine_rejects))
        if self._empty is None:
            self._empty = gather_rows([(batch, np.empty(0, np.int64))])

    def watermark(self) -> int:
        """The smallest high-water time of the partitions that hold time back: not
        idle for `--idle`, and (with `until=end`) not at their end; with none, every
        message waiting may go."""
        now = time.monotonic()
        holding = [
            part.high
            for part in self.partitions.values()
            if not (self.address.until_end and part.at_end)
            and not (self.idle is not None and now - part.heard >= self.idle)
        ]
        return min(holding) if holding else np.iinfo(np.int64).max

    def _release(self) -> Batch:
        """The messages the watermark passed, merged in time order, as one batch with
        their rejects; their records numbered on from `next_line`."""
        mark = self.watermark()
        picked: list[tuple[_Chunk, int, int]] = []
        for part in self.partitions.values():
            for chunk in part.chunks:
                stop = int(np.searchsorted(chunk.order, mark, side="right"))
                if stop > chunk.done:
                    picked.append((chunk, chunk.done, stop))
                    chunk.done = stop
                if stop < len(chunk.order):
                    break
            while part.chunks and part.chunks[0].done == len(part.chunks[0].order):
                part.chunks.popleft()
        if not picked:
            return self._empty_batch()
        keys = np.concatenate([c.order[a:b] for c, a, b in picked])
        rows = np.concatenate([c.rows[a:b] for c, a, b in picked])
        parts = np.concatenate([np.full(b - a, c.partition, np.int64) for c, a, b in picked])
        offsets = np.concatenate([c.offsets[a:b] for c, a, b in picked])
        order = np.argsort(keys, kind="stable")
        lines = np.empty(len(keys), np.int64)
        lines[order] = np.arange(self.next_line, self.next_line + len(keys))
        self.places.add(self.next_line, parts[order], offsets[order])
        self.next_line += len(keys)
        events = rows >= 0
        if events.any():
            pieces = [(c.batch, c.rows[a:b][c.rows[a:b] >= 0]) for c, a, b in picked]
            event_order = np.argsort(keys[events], kind="stable")
            batch = gather_rows(pieces, event_order)
            batch.line = lines[events][event_order]
        else:
            batch = self._empty_batch()
        found = []
        at = 0
        for chunk, a, b in picked:
            for k, reject in chunk.rejects.items():
                if a <= k < b:
                    found.append(Reject(int(lines[at + k - a]), reject.reason, reject.raw))
            at += b - a
        found.sort(key=lambda r: r.line)
        batch.rejects = found
        batch.position = (None, self.next_line, self.positions())
        return batch

    def _empty_batch(self) -> Batch:
        if self._empty is None:
            self._empty = self.reader.batch(Block(b"", 1, False))
        batch = gather_rows([(self._empty, np.empty(0, np.int64))])
        batch.position = (None, self.next_line, self.positions())
        return batch


#: errors that no retry mends: the topic or partition is not there (UNKNOWN_TOPIC_OR_PART,
#: _UNKNOWN_TOPIC, _UNKNOWN_PARTITION); others (a broker gone for a while) the client
#: retries
_FATAL = {3, -188, -190}


def _partition_of(message: Any) -> int:
    return message.partition()


def _offset_of(message: Any) -> int:
    return message.offset()


@dataclass
class KafkaInput:
    """A run's Kafka input as `cep run` opens it (again, from where the run stands, when
    new rules need other columns): the topic, where its records came from, and the
    options that shape the reading."""

    address: KafkaAddress
    places: RecordPlaces
    #: `--checkpoint`: offsets come from the checkpoint, partitions are assigned
    assign: bool = False
    idle_ms: int | None = None
    #: flushes the outputs before offsets are committed (without `--checkpoint`)
    before_commit: Callable[[], None] = lambda: None
    #: `--idle`'s clock, told while messages wait for the watermark (`IdleClock.held`)
    clock: IdleClock | None = None

    @classmethod
    def of(cls, url: str, fmt: str, assign: bool, idle_ms: int | None) -> KafkaInput:
        """KafkaError saying what does not fit (the URL, a format other than jsonl)."""
        address = KafkaAddress.parse(url)
        if fmt != "jsonl":
            raise KafkaError(f"{url}: Kafka messages are read as JSON (--format jsonl), "
                             f"not {fmt}")  # fmt: skip
        client()
        return cls(address, RecordPlaces(address.topic), assign, idle_ms)

    def batches(
        self,
        options: dict[str, Any],
        partitions: dict[int, int] | None,
        line: int,
        batch_size: int,
    ) -> KafkaBatches:
        """The batches from `partitions`' offsets (None: the group's committed offsets,
        else the earliest), records numbered from `line`; `options` as for
        `read_jsonl_batches`."""
        reader = JsonlReader(options["fields"], options["type_field"], options["time_field"],
                             options["default_type"], options["validator"],
                             options["time_unit"])  # fmt: skip
        # (in a group, a read again starts at the offsets committed, which are those of
        # the batches whose reports are written)
        start = dict(partitions or {}) if self.assign else None
        return KafkaBatches(self.address, reader, self.places, start=start,
                            assign=self.assign, idle_ms=self.idle_ms, batch_size=batch_size,
                            first_line=line, before_commit=self.before_commit,
                            clock=self.clock)  # fmt: skip
