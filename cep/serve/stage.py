"""A rule group's engines as a step of the Quix Streams application: per message, and,
with `--idle`, from the application's run loop when a partition is quiet.

Quix Streams offers a step that may release records for any key of the partition (a
quiet key's absence) to its windows only, so this one is added to the stream as they
add theirs: a transform over the store's transaction. Records released without a
message in hand (`--idle`) go to the same downstream steps, as the lookup buffer of
Quix Streams sends what its clock releases: the step keeps the executor of what
follows it, and a periodic task of the application calls `IdleTicker.tick`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from cep.serve.keyed import KeyedRules, Output
from cep.service.idle import IdleClock


def idle_poll_s(idle_ms: int) -> float:
    """How often a worker with `--idle` looks whether a partition went quiet (also its
    consumer's poll timeout, so that a quiet topic does not hold the loop longer): a
    quarter of the idle time, at least 10 ms, at most 0.5 s, as `cep run --idle`."""
    return IdleClock(idle_ms).poll_s


def keyed_stage(sdf: Any, engines: KeyedRules) -> Any:
    """`sdf` (a group's repartitioned events) through `engines`: the dataframe of the
    records they release, each with its own message key."""
    from quixstreams.context import message_context
    from quixstreams.core.stream import TransformFunction

    sdf.register_store()
    processing = sdf.processing_context
    ticker = IdleTicker(sdf, engines) if engines.idle_ms is not None else None

    def step(value: Any, key: Any, timestamp: int, headers: Any) -> Iterable[Any]:
        partition = message_context().partition
        tx = processing.checkpoint.get_store_transaction(
            stream_id=sdf.stream_id, partition=partition
        )
        out: list[Output] = engines.process(tx, partition, _key_bytes(key), value)
        return [(record, record.key, timestamp, None) for record in out]

    class Step(TransformFunction):  # type: ignore[misc]
        def get_executor(self, *children: Any) -> Any:
            if ticker is not None:
                ticker.downstream = self._resolve_branching(*children)
            return super().get_executor(*children)

    stream = sdf.stream.add_function(Step(step, expand=True))
    if ticker is not None:
        sdf._registry.register_periodic_task(ticker.tick)
    return sdf.__dataframe_clone__(stream=stream)


class IdleTicker:
    """Asks the engines of each partition this process holds whether the partition has
    been quiet for the idle time (`KeyedRules.on_idle`), at most every `every_s`, and
    sends what that releases downstream."""

    def __init__(self, sdf: Any, engines: KeyedRules) -> None:
        self.sdf = sdf
        self.engines = engines
        self.downstream: Any = None
        self.every_s = idle_poll_s(engines.idle_ms or 0)
        self._next = 0.0

    def tick(self) -> None:
        now = time.monotonic()
        if self.downstream is None or now < self._next:
            return
        self._next = now + self.every_s
        processing = self.sdf.processing_context
        if processing.state_manager.recovery_required:
            return  # (a partition's store is filled from its changelog first)
        from quixstreams.context import copy_context

        store = processing.state_manager.get_store(stream_id=self.sdf.stream_id)
        for partition in sorted(store.partitions):
            tx = processing.checkpoint.get_store_transaction(
                stream_id=self.sdf.stream_id, partition=partition
            )
            out = self.engines.on_idle(tx, partition)
            if out:
                copy_context().run(self._send, partition, out)

    def _send(self, partition: int, out: list[Output]) -> None:
        from quixstreams.context import set_message_context
        from quixstreams.models.messagecontext import MessageContext

        topic = self.sdf.topics[0].name
        set_message_context(MessageContext(topic=topic, partition=partition, offset=-1, size=0))
        timestamp = int(time.time() * 1000)
        for record in out:
            self.downstream(record, record.key, timestamp, None)


def _key_bytes(key: Any) -> bytes:
    """The message key as the state store's prefix for the key."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        return key.encode()
    import json

    return json.dumps(key, separators=(",", ":")).encode()
