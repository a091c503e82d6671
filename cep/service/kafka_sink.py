"""`--output kafka://HOST:PORT/TOPIC` (and `--rejects kafka://...`): one message per
report line, keyed by the report's partition key (docs/kafka.md).

No report lost or written twice across a crash, with `--checkpoint`: the producer is
idempotent (no duplicates from its own retries) and every message carries the run's id
in a `cep-run` header. A checkpoint is taken only once every message written before it
was acknowledged, and records each partition's end offset then (`SinkState`). A
resumed run replays deterministically from the checkpoint, so the reports written
between the checkpoint and the crash are among those it makes again: on a resume the
sink reads back this run's messages after the saved end offsets and leaves out, report
by report, the ones already there (as a multiset of report texts, so that the order in
which the replay makes them does not matter, compared as JSON values: an event restored
from a checkpoint may be written with other spacing than as read). A checkpoint taken
before the replay made them all again keeps those still to come (`SinkState.pending`):
the topic's ends it records are past them."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from typing import Any

import msgspec

from cep.io.kafka import (
    QUIET,
    SCHEME,
    KafkaAddress,
    KafkaError,
    client,
    said,
    topic_partitions,
)
from cep.service.checkpoint import SinkState

RUN_HEADER = "cep-run"
#: how long a resume may take to read back what was written after the checkpoint
READ_BACK_SECONDS = 120.0


class _Keyed(msgspec.Struct):
    key: msgspec.Raw = msgspec.Raw(b"null")


_KEYED = msgspec.json.Decoder(_Keyed)


def same_report(line: bytes) -> bytes:
    """A report's JSON value in one spelling (keys sorted, no spaces), for comparing
    reports as values."""
    try:
        return msgspec.json.encode(_ANY.decode(line), order="sorted")
    except msgspec.DecodeError:
        return line


_ANY = msgspec.json.Decoder()


def report_key(line: bytes) -> bytes | None:
    """A report's partition key as the message key: its JSON text (`{"user":"u1"}`);
    None for a line without one (a reject, a rule without `partition by`)."""
    try:
        key = bytes(_KEYED.decode(line).key)
    except msgspec.DecodeError:
        return None
    return None if key == b"null" else key


class KafkaSink:
    """Writes lines to a topic; `saved` is the state of the checkpoint resumed from."""

    def __init__(self, url: str, saved: SinkState | None = None) -> None:
        kafka = client()
        self.url = url
        self.address = address = KafkaAddress.parse(url, source=False)
        self.topic = address.topic
        self._error: str | None = None
        try:
            self.producer = kafka.Producer({
                "bootstrap.servers": address.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 20,
                **QUIET,
            })  # fmt: skip
        except kafka.KafkaException as error:
            raise KafkaError(f"{url}: {said(error)}") from None
        self.partitions = topic_partitions(self.producer, address)
        self.run = saved.run if saved is not None else uuid.uuid4().hex
        self._headers = [(RUN_HEADER, self.run.encode())]
        #: each partition's end offset as far as known (from acknowledgements)
        self.ends: dict[int, int] = {}
        #: reports already written after the checkpoint, not to write again
        #: (`same_report`), and how many of them are still to come
        self.skip: Counter[bytes] = Counter()
        self.skipping = 0
        if saved is not None:
            self.ends = dict(saved.ends)
            self.skip.update(saved.pending)
            self.skipping = len(saved.pending)
            self._read_back()
        else:
            self.ends = self._end_offsets()

    # -- writing

    def write_lines(self, data: bytes) -> None:
        """Whole report lines, one message each."""
        produce, poll, topic, headers = (
            self.producer.produce,
            self.producer.poll,
            self.topic,
            self._headers,
        )
        skip = self.skip
        for line in data.splitlines():
            if not line:
                continue
            if self.skipping:
                value = same_report(line)
                if skip[value] > 0:
                    skip[value] -= 1
                    self.skipping -= 1
                    continue
            key = report_key(line)
            while True:
                try:
                    produce(topic, line, key, headers=headers, on_delivery=self._delivered)
                    break
                except BufferError:  # (the client's queue is full: let it send)
                    poll(0.05)
        poll(0)
        self._check()

    def write(self, text: str) -> None:
        """Text lines (the rejects writer's)."""
        self.write_lines(text.encode("utf-8", "surrogatepass"))

    def _delivered(self, error: Any, message: Any) -> None:
        if error is not None:
            self._error = self._error or error.str()
            return
        p, end = message.partition(), message.offset() + 1
        if end > self.ends.get(p, 0):
            self.ends[p] = end

    def _check(self) -> None:
        if self._error is not None:
            raise KafkaError(f"cannot write to {self.url}: {self._error}")

    def flush(self) -> None:
        """Wait until every message written is acknowledged (KafkaError if one failed)."""
        while self.producer.flush(1.0):
            self._check()
        self._check()

    def close(self) -> None:
        self.flush()

    def checkpoint_state(self) -> SinkState:
        """The state a checkpoint records, every message written so far acknowledged."""
        self.flush()
        pending = list(self.skip.elements()) if self.skipping else []
        return SinkState(self.run, dict(self.ends), pending)

    # -- a resume

    def _end_offsets(self) -> dict[int, int]:
        """The partitions' end offsets as the broker gives them (a start, not more: a
        resume reads on from them until the partitions' real ends)."""
        kafka = client()
        consumer = kafka.Consumer({"bootstrap.servers": self.address.bootstrap,
                                   "group.id": f"cep-sink-{self.run}", **QUIET})  # fmt: skip
        try:
            ends = {}
            for p in self.partitions:
                tp = kafka.TopicPartition(self.topic, p)
                ends[p] = consumer.get_watermark_offsets(tp, timeout=15, cached=False)[1]
            return ends
        except kafka.KafkaException as error:
            raise KafkaError(f"cannot reach the Kafka broker {self.address.bootstrap}: "
                             f"{said(error)}") from None  # fmt: skip
        finally:
            consumer.close()

    def _read_back(self) -> None:
        """This run's messages after the saved end offsets, to the partitions' ends, as
        the reports not to write again; the ends moved past them."""
        kafka = client()
        consumer = kafka.Consumer({
            "bootstrap.servers": self.address.bootstrap,
            "group.id": f"cep-sink-{self.run}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            **QUIET,
        })  # fmt: skip
        mine = self.run.encode()
        waiting = set(self.partitions)
        deadline = time.monotonic() + READ_BACK_SECONDS
        try:
            consumer.assign([kafka.TopicPartition(self.topic, p, self.ends.get(p, 0))
                             for p in self.partitions])  # fmt: skip
            while waiting:
                if time.monotonic() > deadline:
                    raise KafkaError(f"cannot read back {self.url} to resume: it took over "
                                     f"{READ_BACK_SECONDS:.0f} s")  # fmt: skip
                for message in consumer.consume(10_000, 0.5):
                    error = message.error()
                    if error is not None:
                        if error.code() == kafka.KafkaError._PARTITION_EOF:
                            waiting.discard(message.partition())
                        elif error.fatal():
                            raise KafkaError(f"cannot read back {self.url}: {error.str()}")
                        continue
                    p = message.partition()
                    self.ends[p] = max(self.ends.get(p, 0), message.offset() + 1)
                    if (RUN_HEADER, mine) in (message.headers() or ()):
                        self.skip[same_report(message.value())] += 1
                        self.skipping += 1
        finally:
            consumer.close()


def open_sink(url: str, saved: SinkState | None) -> KafkaSink:
    """A Kafka output; KafkaError naming what is wrong."""
    if not url.startswith(SCHEME):
        raise KafkaError(f"{url}: expected kafka://HOST:PORT/TOPIC")
    return KafkaSink(url, saved)
