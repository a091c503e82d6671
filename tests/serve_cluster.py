"""Workers of `cep serve` and readers of their topics, for the tests against the real
broker (tests/kafka_broker.py) and benchmarks/bench_serve.py."""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def start_worker(
    bootstrap: str, rules: str, group: str, state: Path, *extra: str, prefix: str = ""
) -> subprocess.Popen[bytes]:
    """A `cep serve` process from input topic `in` to `out`, rejects to `rejects` (each
    name after `prefix`); its stderr goes to `log_of(state)`."""
    command = [
        sys.executable, "-m", "cep", "serve", rules, "--kafka", bootstrap,
        "--input-topic", f"{prefix}in", "--output-topic", f"{prefix}out",
        "--rejects-topic", f"{prefix}rejects",
        "--group", group, "--state-dir", str(state), *extra,
    ]  # fmt: skip
    with open(log_of(state), "ab") as log:
        return subprocess.Popen(command, env=env(), stderr=log)


def log_of(state: Path) -> Path:
    """Where the worker with state folder `state` writes its stderr."""
    return state.with_name(f"{state.name}.log")


def log_tails(states: Iterable[Path], lines: int = 60) -> str:
    """The last `lines` lines of each worker's stderr, for a failing test's output."""
    parts = []
    for state in states:
        path = log_of(state)
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        parts.append(f"--- {path.name} (last {lines} lines) ---")
        parts.extend(text[-lines:])
    return "\n".join(parts)


def evictions(broker_log: Path) -> list[str]:
    """The members a Tansu broker evicted from a group for missed heartbeats, as its log
    (`running_broker(log=...)`) says."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", broker_log.read_text(errors="replace"))
    return [line for line in text.splitlines() if "eviction of" in line]


def assigned(state: Path) -> bool:
    """Whether a worker holds a partition of a group's topic: Quix Streams opens a
    store folder per partition it is given."""
    return any(p.name.isdigit() for p in state.glob("*/default/*/*"))


def produce(
    bootstrap: str, lines: Iterable[str], key_field: str | None = None, prefix: str = ""
) -> None:
    """Lines to topic `in` (after `prefix`); keyed by `key_field` as Quix Streams keys
    its repartition topics (the value's JSON text, murmur2 partitioner), so each key
    stays in one partition through the repartition and its events keep their order."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2"})
    for line in lines:
        key = None
        if key_field is not None:
            key = json.dumps(json.loads(line)[key_field], separators=(",", ":")).encode()
        producer.produce(f"{prefix}in", line.encode(), key=key)
        producer.poll(0)
    producer.flush()


def produce_paced(
    bootstrap: str,
    lines: list[str],
    key_field: str,
    chunks: int = 20,
    pause: float = 0.5,
    prefix: str = "",
) -> threading.Thread:
    """`produce` in `chunks` parts with a pause after each, on a thread of its own
    (started): a feed still arriving while workers come and go."""

    def run() -> None:
        size = -(-len(lines) // chunks)
        for start in range(0, len(lines), size):
            produce(bootstrap, lines[start : start + size], key_field, prefix)
            thread.produced = start + size  # type: ignore[attr-defined]
            time.sleep(pause)

    thread = threading.Thread(target=run, daemon=True)
    thread.produced = 0  # type: ignore[attr-defined]
    thread.start()
    return thread


class Reader:
    """Reads `out` and `rejects` (after `prefix`), or `topics`, from their beginning as
    a read_committed consumer (what exactly-once promises is what such a reader sees).
    It assigns itself every partition of the topics, which must exist, rather than
    join a consumer group: a join on Tansu takes half the session timeout (22 s at the
    client's default)."""

    def __init__(
        self, bootstrap: str, group: str, topics: list[str] | None = None, prefix: str = ""
    ) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": group,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
        })  # fmt: skip
        listed = self.consumer.list_topics(timeout=30).topics
        self.consumer.assign([
            TopicPartition(topic, partition, OFFSET_BEGINNING)
            for topic in topics or [f"{prefix}out", f"{prefix}rejects"]
            for partition in listed[topic].partitions
        ])  # fmt: skip
        self.rejects_topic = f"{prefix}rejects"
        self.closed = False
        self.reports: list[str] = []
        self.rejects: list[dict[str, Any]] = []

    def poll(self, seconds: float) -> None:
        message = self.consumer.poll(seconds)
        if message is None or message.error():
            return
        if message.topic() != self.rejects_topic:
            self.reports.append(message.value().decode())
        else:
            self.rejects.append(json.loads(message.value()))

    def until(self, done: Any, timeout: float) -> bool:
        """Poll until `done()` or `timeout` seconds; whether `done()`."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                return False
            self.poll(0.5)
        return True

    def covers(self, wanted: collections.Counter[str]) -> bool:
        """Whether every wanted report has been read (counted only once enough have
        arrived: a count per poll would make waiting quadratic)."""
        if len(self.reports) < sum(wanted.values()):
            return False
        return not wanted - collections.Counter(self.reports)

    def close(self) -> None:
        """Close the consumer (again: nothing)."""
        if not self.closed:
            self.consumer.close()
            self.closed = True


def cep_run(rules: str, lines: list[str], folder: Path) -> list[str]:
    """`cep run`'s reports over the same events from a file (the interpreter)."""
    feed = folder / "feed.jsonl"
    feed.write_text("\n".join(lines) + "\n")
    out = folder / "expected.jsonl"
    subprocess.run(
        [sys.executable, "-m", "cep", "run", rules, "--input", str(feed), "--output", str(out),
         "--engine", "interpreter", "--quiet"],
        env=env(), check=True,
    )  # fmt: skip
    return out.read_text().splitlines()


def per_key(lines: Iterable[str]) -> dict[tuple[str, str], list[str]]:
    """Reports by rule and key, each key's in the order written."""
    grouped: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for line in lines:
        record = json.loads(line)
        grouped[(record["rule"], json.dumps(record["key"]))].append(
            json.dumps(record, sort_keys=True)
        )
    return dict(grouped)


def clocks(lines: list[str], key_field: str, count: int = 12) -> list[str]:
    """Events of a type no rule reads, at the feed's last time, under `count` keys:
    they take every partition's time to the end of the feed (a partition's time moves
    only with its own events), as a file's end takes `cep run`'s."""
    last = json.loads(lines[-1])["ts"]
    return [
        json.dumps({"type": "Clock", "ts": last, key_field: f"clock-{i}"}) for i in range(count)
    ]
