"""`cep run` on Kafka topics, against a real broker (Tansu, `tests/kafka_broker.py`):
a topic read over interleaved partitions gives the reports a file gives, bad messages
are rejected with their topic, partition and offset, the sink writes one message per
report keyed by its key, and a run killed (SIGKILL) and resumed from its checkpoint
neither loses nor repeats a report."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
import zlib
from pathlib import Path

import confluent_kafka
import pytest
from checkpoints import PAYMENTS, payments_feed
from kafka_broker import Broker

from cep.io.kafka import KafkaAddress, KafkaError

ROOT = Path(__file__).resolve().parent.parent
RULE = ["--rule", "three_failed_payments"]
PARTITIONS = 3


def _cep(*args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "cep", "run", PAYMENTS, *RULE, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, **kwargs)  # type: ignore[call-overload]  # fmt: skip


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    process = _cep(*args)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return subprocess.CompletedProcess(process.args, 0, out, err)


def _values(lines: list[bytes] | list[str]) -> list[str]:
    """Reports compared as JSON values, in any order."""
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in lines)


def _unique_topic(broker: Broker, stem: str, partitions: int = PARTITIONS) -> str:
    name = f"{stem}-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name, partitions)
    return name


def _produce_skewed(broker: Broker, topic: str, feed: Path, bad: list[bytes]) -> int:
    """The feed's events to `topic`, each user's in one partition; the partitions
    produced one after another (the last partition's events first), so that they
    interleave as badly as they can. `bad` messages go to partition 1 among them."""
    by_partition: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
    for line in feed.read_bytes().splitlines():
        user = json.loads(line)["user"].encode()
        by_partition[zlib.crc32(user) % PARTITIONS].append(line)
    by_partition[1][10:10] = bad
    producer = confluent_kafka.Producer({"bootstrap.servers": broker.bootstrap})
    for p in reversed(range(PARTITIONS)):
        for value in by_partition[p]:
            producer.produce(topic, value, partition=p)
    assert producer.flush(30) == 0
    return sum(map(len, by_partition))


def _read_topic(broker: Broker, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every message of a topic (key, value), to the partitions' ends."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap,
                                         "group.id": f"reader-{uuid.uuid4().hex}",
                                         "enable.partition.eof": True})  # fmt: skip
    partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in partitions])
    found, waiting = [], set(partitions)
    deadline = time.monotonic() + 60
    while waiting and time.monotonic() < deadline:
        for message in consumer.consume(10_000, 0.5):
            if message.error() is not None:
                waiting.discard(message.partition())
            else:
                found.append((message.key(), message.value()))
    consumer.close()
    assert not waiting, "the topic was not read to its end"
    return found


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """20,000 payments and the reports of `cep run` over them as a file."""
    folder = tmp_path_factory.mktemp("kafka")
    path = payments_feed(20_000, folder)
    reports = _run("--input", str(path)).stdout.splitlines()
    assert len(reports) > 50
    return path, _values(reports)


BAD = [
    b"not json",
    b'{"type": "Payment", "user": "x"}',
    # (out of order within its partition: late)
    b'{"type": "Payment", "ts": 1600000000000, "user": "x", "amount": 1.0, "status": "ok", '
    b'"country": "US"}',
]


def test_topic_in_and_out(kafka_broker: Broker, feed: tuple[Path, list[str]],
                          tmp_path: Path) -> None:  # fmt: skip
    """Interleaved partitions read in event time: the file's reports; the sink's
    messages keyed by each report's key; the bad messages rejected with their place."""
    path, expected = feed
    source = _unique_topic(kafka_broker, "payments")
    alerts = _unique_topic(kafka_broker, "alerts")
    rejects = _unique_topic(kafka_broker, "rejects", partitions=1)
    events = _produce_skewed(kafka_broker, source, path, BAD)
    done = _run("--input", f"kafka://{kafka_broker.bootstrap}/{source}?until=end",
                "--output", f"kafka://{kafka_broker.bootstrap}/{alerts}",
                "--rejects", f"kafka://{kafka_broker.bootstrap}/{rejects}",
                "--checkpoint", str(tmp_path / "state"))  # fmt: skip
    assert f"read {events} records: {events - 3} events accepted, 3 rejected" in done.stderr
    messages = _read_topic(kafka_broker, alerts)
    assert _values([value for _, value in messages]) == expected
    for key, value in messages:
        report = json.loads(value)
        assert json.loads(key) == report["key"]
    rejected = [json.loads(value) for _, value in _read_topic(kafka_broker, rejects)]
    assert [(r["topic"], r["partition"], r["offset"], r["raw"]) for r in rejected] == [
        (source, 1, 10 + i, bad.decode()) for i, bad in enumerate(BAD)
    ]
    assert [r["reason"].split(":")[0] for r in rejected] == ["bad json", "missing time", "late"]
    assert "late: 1" in done.stderr  # (and no other event late, however interleaved)


def test_killed_and_resumed(kafka_broker: Broker, feed: tuple[Path, list[str]],
                            tmp_path: Path) -> None:  # fmt: skip
    """A live run (no `until=end`) killed with SIGKILL after it wrote reports, none of
    them in a checkpoint, then resumed to the end: the output topic holds every report
    of the file's run exactly once."""
    path, expected = feed
    source = _unique_topic(kafka_broker, "payments")
    alerts = _unique_topic(kafka_broker, "alerts")
    _produce_skewed(kafka_broker, source, path, [])
    url = f"kafka://{kafka_broker.bootstrap}/{source}"
    args = ["--output", f"kafka://{kafka_broker.bootstrap}/{alerts}",
            "--checkpoint", str(tmp_path / "state"), "--checkpoint-every", "1000000"]  # fmt: skip
    process = _cep("--input", url, *args)
    deadline = time.monotonic() + 60
    while len(_read_topic(kafka_broker, alerts)) < len(expected) // 2:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    written = len(_read_topic(kafka_broker, alerts))
    _run("--input", url + "?until=end", *args)
    assert _values([value for _, value in _read_topic(kafka_broker, alerts)]) == expected
    assert written >= len(expected) // 2


def test_consumer_group(kafka_broker: Broker, feed: tuple[Path, list[str]],
                        tmp_path: Path) -> None:  # fmt: skip
    """Without --checkpoint the run joins its consumer group and commits the offsets
    it read to, once their reports are written."""
    path, expected = feed
    source = _unique_topic(kafka_broker, "payments")
    _produce_skewed(kafka_broker, source, path, [])
    group = f"cep-{uuid.uuid4().hex[:8]}"
    output = tmp_path / "alerts.jsonl"
    _run("--input", f"kafka://{kafka_broker.bootstrap}/{source}?group={group}&until=end",
         "--output", str(output))  # fmt: skip
    assert _values(output.read_text().splitlines()) == expected
    consumer = confluent_kafka.Consumer({"bootstrap.servers": kafka_broker.bootstrap,
                                         "group.id": group})  # fmt: skip
    ends = {key: value for key, value in _counts(kafka_broker, source).items()}
    committed = consumer.committed(
        [confluent_kafka.TopicPartition(source, p) for p in range(PARTITIONS)], timeout=10
    )
    consumer.close()
    assert {tp.partition: tp.offset for tp in committed} == ends


def _counts(broker: Broker, topic: str) -> dict[int, int]:
    """How many messages each partition holds."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": broker.bootstrap,
                                         "group.id": f"reader-{uuid.uuid4().hex}",
                                         "enable.partition.eof": True})  # fmt: skip
    consumer.assign([confluent_kafka.TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    counts = dict.fromkeys(range(PARTITIONS), 0)
    waiting = set(range(PARTITIONS))
    while waiting:
        for message in consumer.consume(10_000, 0.5):
            if message.error() is not None:
                waiting.discard(message.partition())
            else:
                counts[message.partition()] = message.offset() + 1
    consumer.close()
    return counts


def test_bad_addresses() -> None:
    """A malformed kafka:// address is refused with a line saying why."""
    for url, says in [
        ("kafka://localhost:9092", "expected kafka://HOST:PORT/TOPIC"),
        ("kafka://localhost:9092/t?gruop=x", "unknown option 'gruop'"),
        ("kafka://localhost:9092/t?until=now", "the only value is until=end"),
    ]:
        with pytest.raises(KafkaError, match=says):
            KafkaAddress.parse(url)
    done = subprocess.run(
        [sys.executable, "-m", "cep", "run", PAYMENTS, "--input", "kafka://h:1/t?x=1"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "cep run: kafka://h:1/t?x=1: unknown option 'x' (allowed: group, until)"
    )


def test_missing_client_names_the_extra(tmp_path: Path) -> None:
    """Without confluent-kafka installed, one line names the extra to install."""
    blocker = tmp_path / "confluent_kafka.py"
    blocker.write_text("raise ImportError('not installed')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "cep", "run", PAYMENTS, "--input", "kafka://h:1/t"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "cep run: kafka:// needs the Kafka client: pip install 'cep-rules[kafka]'"
    )


def test_sink_resumed_writes_nothing_twice(kafka_broker: Broker) -> None:
    """Reports written after a checkpoint and before a crash are read back on the
    resume: those the replay makes again (in any order) are not written twice, also
    across a checkpoint taken before the replay made them all, and a report the crash
    lost is written."""
    from cep.service.kafka_sink import KafkaSink

    alerts = _unique_topic(kafka_broker, "alerts")
    url = f"kafka://{kafka_broker.bootstrap}/{alerts}"
    report = '{{"rule":"r","kind":"match","ts":{0},"key":{{"user":"u{1}"}}}}\n'.format
    lines = [report(ts, ts % 5).encode() for ts in range(40)]
    sink = KafkaSink(url)
    sink.write_lines(b"".join(lines[:10]))
    saved = sink.checkpoint_state()
    sink.write_lines(b"".join(lines[10:25]))  # (after the checkpoint, then a crash)
    sink.flush()
    resumed = KafkaSink(url, saved)
    assert resumed.skipping == 15
    resumed.write_lines(b"".join(lines[10:15]))
    saved = resumed.checkpoint_state()  # (10 of them still to come, then a crash)
    resumed = KafkaSink(url, saved)
    assert resumed.skipping == 10
    # (in another order, and spelt differently: the same reports as values)
    again = [line.replace(b'"kind":', b'"kind": ') for line in reversed(lines[15:40])]
    resumed.write_lines(b"".join(again))
    resumed.close()
    messages = _read_topic(kafka_broker, alerts)
    assert _values([value for _, value in messages]) == _values(lines)
    assert {key for key, _ in messages} == {b'{"user":"u%d"}' % u for u in range(5)}


def test_idle_partition(kafka_broker: Broker, feed: tuple[Path, list[str]],
                        tmp_path: Path) -> None:  # fmt: skip
    """A partition that never gives a message stops holding event time back after
    `--idle`: a live run emits every report, and stops cleanly on SIGTERM."""
    path, expected = feed
    source = _unique_topic(kafka_broker, "payments")
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for line in path.read_bytes().splitlines():  # (partition 2 stays empty)
        producer.produce(source, line, partition=zlib.crc32(json.loads(line)["user"].encode()) % 2)
    assert producer.flush(30) == 0
    output = tmp_path / "alerts.jsonl"
    process = _cep("--input", f"kafka://{kafka_broker.bootstrap}/{source}", "--idle", "1s",
                   "--output", str(output), "--checkpoint", str(tmp_path / "state"))  # fmt: skip
    deadline = time.monotonic() + 60
    while not output.exists() or len(output.read_text().splitlines()) < len(expected):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    assert "stopped by SIGTERM" in err
    assert _values(output.read_text().splitlines()) == expected


ORDERS = """
event Order { order: str }
event Shipment { order: str }
rule unshipped { partition by order  pattern o = Order -> not Shipment  within 2s }
"""


def test_idle_fires_an_absence_on_a_quiet_topic(kafka_broker: Broker, tmp_path: Path) -> None:
    """An order on a two-partition topic, then nothing (the other partition never gives
    a message): with `--idle`, the absence comes out while the run is live, and its
    order is neither late nor lost however long it waited for the quiet partition."""
    rules = tmp_path / "orders.cep"
    rules.write_text(ORDERS)
    source = _unique_topic(kafka_broker, "orders", partitions=2)
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_broker.bootstrap})
    for ts, name in ((1_700_000_000_000, "o1"), (1_700_000_000_500, "o2")):
        value = json.dumps({"type": "Order", "ts": ts, "order": name})
        producer.produce(source, value.encode(), partition=0)
    assert producer.flush(30) == 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cep", "run", str(rules), "--engine", "interpreter",
         "--input", f"kafka://{kafka_broker.bootstrap}/{source}", "--idle", "1s",
         "--checkpoint", str(tmp_path / "state")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    out = b""
    with selectors.DefaultSelector() as selector:  # (window 2 s plus idle 1 s: generous)
        selector.register(process.stdout, selectors.EVENT_READ)
        while out.count(b"\n") < 2:
            if not selector.select(60):
                process.kill()
                raise AssertionError(f"no absence came out: {process.communicate()[1]}")
            out += os.read(process.stdout.fileno(), 1 << 16)
    lines = out.splitlines()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 143, err
    reports = [json.loads(line) for line in lines]
    assert [r["key"] for r in reports] == [{"order": "o1"}, {"order": "o2"}]
    assert "late" not in err
