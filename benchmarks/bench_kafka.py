"""`cep run` from Kafka to Kafka on a real broker (Tansu, as the tests start it), next to
the same rules over the same events from a file, and the Kafka client reading the topic
and doing nothing else.

Run: python benchmarks/bench_kafka.py [--events 1000000] [--kills 5] [--engine fast]

1. `gen_payments.py` makes the events; `cep run` over them as a file gives the reports
   to expect (whole process timed).
2. The events go to a 3-partition topic, each user's to one partition.
3. Consume-only: a confluent-kafka consumer reads the topic to its ends (`consume` of
   65,536 messages at a time, the values taken out, as `cep run` does).
4. `cep run --input kafka://... --output kafka://... --checkpoint DIR`, uninterrupted
   (whole process timed).
5. The same into another topic, killed with SIGKILL at random moments and started
   again `--kills` times, then run to the end: that topic must hold exactly the file
   run's reports, none twice (exit status 1 when it does not).

Wall seconds from the clock; CPU seconds and peak resident memory from `/usr/bin/time`.
Not a pass/fail test of speed: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from kafka_broker import Broker, running_broker  # noqa: E402

RULES = REPO / "rules" / "payments.cep"
GENERATOR = Path("/work/shared/bench/gen_payments.py")
PARTITIONS = 3
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def measure(command: list[str], stdout: int | None = subprocess.DEVNULL) -> dict[str, float]:
    """One process: wall seconds, CPU seconds and peak memory (MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as times:
        started = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", times.name, *command],
                       check=True, env=ENV, cwd=REPO, stdout=stdout)  # fmt: skip
        wall = time.perf_counter() - started
        user, system, peak = times.read().split()[-3:]
    return {"wall": wall, "cpu": float(user) + float(system), "mib": int(peak) / 1024}


def produce(broker: Broker, topic: str, feed: Path) -> int:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 50,
                         "queue.buffering.max.messages": 1_000_000})  # fmt: skip
    count = 0
    with feed.open("rb") as lines:
        for line in lines:
            start = line.index(b'"user": "') + 9
            user = line[start : line.index(b'"', start)]
            while True:
                try:
                    producer.produce(topic, line.rstrip(b"\n"),
                                     partition=zlib.crc32(user) % PARTITIONS)  # fmt: skip
                    break
                except BufferError:
                    producer.poll(0.1)
            count += 1
    assert producer.flush(120) == 0
    return count


def consume_only(broker: Broker, topic: str) -> tuple[int, float]:
    """The client alone: every message's value taken out, to the partitions' ends."""
    from confluent_kafka import Consumer, TopicPartition

    started = time.perf_counter()
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-read",
                         "enable.partition.eof": True, "fetch.wait.max.ms": 100})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    waiting, count = set(range(PARTITIONS)), 0
    while waiting:
        messages = consumer.consume(65_536, 0.2)
        values = [m.value() for m in messages if m.error() is None]
        count += len(values)
        for m in messages:
            if m.error() is not None:
                waiting.discard(m.partition())
    consumer.close()
    return count, time.perf_counter() - started


def read_topic(broker: Broker, topic: str) -> list[bytes]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-check",
                         "enable.partition.eof": True})  # fmt: skip
    partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    waiting, values = set(partitions), []
    while waiting:
        for m in consumer.consume(65_536, 0.5):
            if m.error() is not None:
                waiting.discard(m.partition())
            else:
                values.append(m.value())
    consumer.close()
    return values


def as_values(lines: list[bytes]) -> Counter[str]:
    return Counter(json.dumps(json.loads(line), sort_keys=True) for line in lines)


def killed_and_resumed(command: list[str], kills: int, seed: int) -> list[str]:
    """Run `command` killed with SIGKILL at random moments, then to its end."""
    chance = random.Random(seed)
    seen = []
    while len(seen) < kills:
        process = subprocess.Popen(command, env=ENV, cwd=REPO, stderr=subprocess.DEVNULL)
        delay = chance.uniform(2.0, 8.0)
        try:
            process.wait(delay)
            break  # (it finished before the kill)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            seen.append(f"{delay:.1f}s")
    subprocess.run(command, env=ENV, cwd=REPO, check=True, stderr=subprocess.DEVNULL)
    return seen


def show(name: str, events: int, m: dict[str, float]) -> None:
    print(f"{name:34} {m['wall']:7.2f} s wall {m['cpu']:7.2f} s CPU {m['mib']:6.0f} MiB  "
          f"{events / m['wall']:10,.0f} events/s")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--engine", default="fast")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    subprocess.run([sys.executable, str(GENERATOR), str(args.events), str(folder / "p")],
                   check=True)  # fmt: skip
    feed = folder / "p.jsonl"
    base = [sys.executable, "-m", "cep", "run", str(RULES), "--rule", "three_failed_payments",
            "--engine", args.engine, "--quiet"]  # fmt: skip
    expected_file = folder / "expected.jsonl"
    with expected_file.open("wb") as out:
        file_run = measure([*base, "--input", str(feed)], stdout=out)
    expected = as_values(expected_file.read_bytes().splitlines())
    print(f"{args.events:,} events; the file run gives {expected.total():,} reports")
    with running_broker() as broker:
        for topic in ("payments", "alerts", "alerts-killed"):
            broker.create_topic(topic, PARTITIONS)
        started = time.perf_counter()
        produce(broker, "payments", feed)
        print(f"produced to 3 partitions in {time.perf_counter() - started:.1f} s")
        read, seconds = consume_only(broker, "payments")
        source = f"kafka://{broker.bootstrap}/payments?until=end"
        kafka_run = measure([*base, "--input", source, "--output",
                             f"kafka://{broker.bootstrap}/alerts",
                             "--checkpoint", str(folder / "state")])  # fmt: skip
        show("cep run, file in, file out", args.events, file_run)
        print(f"{'client consume-only':34} {seconds:7.2f} s wall {'':24}"
              f"{read / seconds:10,.0f} events/s")  # fmt: skip
        show("cep run, Kafka in, Kafka out", args.events, kafka_run)
        alerts = as_values(read_topic(broker, "alerts"))
        print(f"uninterrupted: {alerts.total():,} reports, equal to the file run's: "
              f"{alerts == expected}")  # fmt: skip
        command = [*base, "--input", source, "--output",
                   f"kafka://{broker.bootstrap}/alerts-killed", "--checkpoint",
                   str(folder / "state-killed"), "--checkpoint-every", "2s"]  # fmt: skip
        kills = killed_and_resumed(command, args.kills, args.seed)
        found = as_values(read_topic(broker, "alerts-killed"))
        twice = sum(n - 1 for n in found.values() if n > 1)
        print(f"killed (SIGKILL) after {', '.join(kills) or 'nothing'} and resumed: "
              f"{found.total():,} reports, {twice} twice, {len(expected - found)} lost, "
              f"equal to the file run's: {found == expected}")  # fmt: skip
    return 0 if found == expected and alerts == expected else 1


if __name__ == "__main__":
    sys.exit(main())
