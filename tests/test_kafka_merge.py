"""The Kafka source's time over partitions (`cep.io.kafka.KafkaBatches`), without a
broker: messages of several partitions, each in time order, arriving in any
interleaving and any polls, come out merged in time order, each exactly once, each
partition's in its order, and the offsets a checkpoint records are those of the first
message not yet handed on."""

from __future__ import annotations

import json
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.jsonl import JsonlReader
from cep.io.kafka import KafkaAddress, KafkaBatches, RecordPlaces


@dataclass
class Message:
    """A consumed message as the client gives it (what the source calls of one)."""

    p: int
    at: int
    data: bytes

    def partition(self) -> int:
        return self.p

    def offset(self) -> int:
        return self.at

    def value(self) -> bytes:
        return self.data

    def error(self) -> None:
        return None


def _source(partitions: int) -> KafkaBatches:
    reader = JsonlReader({"n": "int"}, "type", "ts", None, None, "ms")
    source = KafkaBatches(KafkaAddress("h:1", "t", until_end=True), reader,
                          RecordPlaces("t"), start={}, assign=True)  # fmt: skip
    for p in range(partitions):
        source._track(p)
    return source


streams = st.lists(
    st.lists(st.integers(0, 50), min_size=0, max_size=30).map(sorted), min_size=1, max_size=4
)


@settings(max_examples=40, deadline=None)
@given(streams, st.data())
def test_merged_in_time_order(times: list[list[int]], data: st.DataObject) -> None:
    source = _source(len(times))
    messages = []
    for p, stream in enumerate(times):
        for offset, ts in enumerate(stream):
            value = {"type": "E", "ts": ts, "n": p * 1000 + offset} if offset != 3 else "bad"
            messages.append(Message(p, offset, json.dumps(value).encode()))
    # any interleaving that keeps each partition's order, cut into polls
    pending = [[m for m in messages if m.p == p] for p in range(len(times))]
    arrived: list[Message] = []
    while any(pending):
        p = data.draw(st.sampled_from([p for p, left in enumerate(pending) if left]))
        arrived.append(pending[p].pop(0))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(len(arrived) - 1, 1)))))
    polls = [arrived[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrived)], strict=False)]
    out: list[tuple[int, int, int]] = []  # (ts, partition, offset) as handed on
    rejected: list[dict] = []
    for i, poll in enumerate(polls):
        if poll:
            source._queue(poll)
        if i == len(polls) - 1:
            for part in source.partitions.values():
                part.at_end = True
        batch = source._release()
        lines = batch.line.tolist()
        for k, line in enumerate(lines):
            place = source.places.where(line)
            n = batch.columns["n"].get(k)
            assert place is not None and n == place["partition"] * 1000 + place["offset"]
            out.append((int(batch.ts[k]), place["partition"], place["offset"]))
        rejected += [source.places.where(r.line) for r in batch.rejects]
        assert sorted(lines + [r.line for r in batch.rejects]) == list(
            range(batch.position[1] - len(lines) - len(batch.rejects), batch.position[1])
        )
        # where a checkpoint would resume: the first message of each partition not out
        handed = {(p, o) for _, p, o in out} | {(r["partition"], r["offset"]) for r in rejected}
        for p, at in batch.position[2].items():
            assert all((p, o) in handed for o in range(at))
            assert (p, at) not in handed
    assert [ts for ts, _, _ in out] == sorted(ts for ts, _, _ in out)
    for p, stream in enumerate(times):
        offsets = [o for _, q, o in out if q == p]
        assert offsets == [o for o in range(len(stream)) if o != 3]
        assert [r["offset"] for r in rejected if r["partition"] == p] == (
            [3] if len(stream) > 3 else []
        )
