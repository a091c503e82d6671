"""End-to-end latency of `cep run` between two Kafka topics, at a steady rate: from the
moment the event that completes a match is produced to the moment its report is
consumed from the output topic.

Run: python benchmarks/bench_kafka_latency.py [--rate 10000] [--seconds 30] [--engine fast]

A Tansu broker is started as the tests start it (`tests/kafka_broker.py`). The shared
generator's payments go to a 3-partition topic (each user's to one partition) at
`--rate` events per second of wall time, paced in steps of 10 ms; `cep run --input
kafka://... --output kafka://... --checkpoint DIR` (partitions assigned: no group join
to wait for) matches "three failed payments by one user within a minute" and writes
its reports to a second topic, which this process reads as they come. A report's
latency is the time it was read less the time its last event was produced. The
figures: the count, the median, the 90th and 99th percentiles and the largest, over
the reports of the steady part (the first 5 s, while the run starts, are left out).
Not a pass/fail test of speed: the machine is shared, and the broker runs on it too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from kafka_broker import running_broker  # noqa: E402

RULES = REPO / "rules" / "payments.cep"
GENERATOR = Path(os.environ.get("CEP_BENCH_GENERATOR", "/work/shared/bench/gen_payments.py"))
PARTITIONS = 3
WARM_UP_S = 5.0
STEP_S = 0.01


def payments(count: int, folder: Path) -> list[bytes]:
    path = folder / "payments.jsonl"
    subprocess.run([sys.executable, str(GENERATOR), str(count), str(path.with_suffix(""))],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    if not path.exists():  # (the generator names its own files)
        path = next(folder.glob("*.jsonl"))
    return path.read_bytes().splitlines()


def produce_paced(bootstrap: str, topic: str, lines: list[bytes], rate: int,
                  sent: dict[tuple[str, int], float]) -> None:  # fmt: skip
    """`lines` to `topic` at `rate` a second; `sent` gets each event's send time."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 1, "log_level": 3})
    per_step = max(1, round(rate * STEP_S))
    started = time.monotonic()
    for at in range(0, len(lines), per_step):
        due = started + at / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        now = time.monotonic()
        for line in lines[at : at + per_step]:
            event = json.loads(line)
            user = event["user"]
            sent[(user, event["ts"])] = now
            producer.produce(topic, line, partition=zlib.crc32(user.encode()) % PARTITIONS)
        producer.poll(0)
    producer.flush(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=10_000, help="events a second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--engine", default="fast")
    args = parser.parse_args()
    if not GENERATOR.is_file():
        print(f"no workload generator at {GENERATOR} (set CEP_BENCH_GENERATOR)", file=sys.stderr)
        return 2
    from confluent_kafka import Consumer, TopicPartition

    folder = Path(tempfile.mkdtemp(prefix="cep-latency-"))
    lines = payments(int(args.rate * args.seconds), folder)
    sent: dict[tuple[str, int], float] = {}
    latencies: list[tuple[float, float]] = []  # (read at, latency)
    with running_broker() as broker:
        broker.create_topic("payments", PARTITIONS)
        broker.create_topic("alerts", PARTITIONS)
        command = [sys.executable, "-m", "cep", "run", str(RULES), "--rule",
                   "three_failed_payments", "--engine", args.engine,
                   "--input", f"kafka://{broker.bootstrap}/payments",
                   "--output", f"kafka://{broker.bootstrap}/alerts",
                   "--checkpoint", str(folder / "state"), "--quiet"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        run = subprocess.Popen(command, env=env, cwd=REPO, stderr=subprocess.PIPE)
        reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "latency",
                           "fetch.wait.max.ms": 10})  # fmt: skip
        reader.assign([TopicPartition("alerts", p, 0) for p in range(PARTITIONS)])
        time.sleep(3.0)  # (the run starts: imports, machine code, the consumer)
        producer = threading.Thread(
            target=produce_paced, args=(broker.bootstrap, "payments", lines, args.rate, sent)
        )
        started = time.monotonic()
        producer.start()
        quiet_since = None
        while True:
            messages = reader.consume(10_000, 0.05)
            now = time.monotonic()
            for message in messages:
                if message.error() is not None:
                    continue
                report = json.loads(message.value())
                last = report["events"]["f"][-1]
                produced = sent.get((last["user"], last["ts"]))
                if produced is not None:
                    latencies.append((now - started, now - produced))
            if messages:
                quiet_since = None
            elif not producer.is_alive():
                quiet_since = quiet_since or now
                if now - quiet_since > 5:
                    break
        reader.close()
        run.terminate()
        _, err = run.communicate(timeout=60)
    shutil.rmtree(folder, ignore_errors=True)
    steady = sorted(latency for at, latency in latencies if at >= WARM_UP_S)
    if not steady:
        print(f"no report came out: {err.decode(errors='replace')[-2000:]}", file=sys.stderr)
        return 1
    ms = [1000 * latency for latency in steady]
    cut = statistics.quantiles(ms, n=100, method="inclusive")
    print(f"{args.rate:,} events/s for {args.seconds:g} s, {args.engine} engine, "
          f"{len(latencies):,} reports ({len(ms):,} after the first {WARM_UP_S:g} s)")  # fmt: skip
    print(f"latency ms: median {statistics.median(ms):.1f}, p90 {cut[89]:.1f}, "
          f"p99 {cut[98]:.1f}, max {ms[-1]:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
