"""`cep serve` on Quix Streams against the real broker (Tansu): throughput of one and
two workers beside `cep run` on the same feed, and the fault run of tests/test_serve.py
at full size (two workers, three partitions, one SIGKILLed mid-stream and replaced).

    python benchmarks/bench_serve.py [--events 100000] [--repeat 1]

The feed is rules/orders.cep's events from tests/serve_feed.py (order ids from a small
set, so keys return and absences and timeouts fire), keyed by order id. Figures:
whole processes (`/usr/bin/time`: CPU seconds, peak RSS). A worker's wall time is
dominated by joining the consumer group (5-25 s on Tansu), so its rate is given over
the time between its first and its last report, and as events per CPU-second of the
whole process, which is what compares with `cep run`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.kafka_broker import running_broker  # noqa: E402
from tests.serve_cluster import Reader, assigned, clocks, env, produce, produce_paced  # noqa: E402
from tests.serve_feed import make_feed  # noqa: E402

RULES = str(REPO / "rules" / "orders.cep")
TIME = "/usr/bin/time"


def feed(events: int) -> list[str]:
    lines: list[str] = []
    size = events * 3
    while len(lines) < events:
        lines = [line for line in make_feed(REPO / "rules", size, seed=11) if '"order_id"' in line]
        size *= 2
    lines = lines[:events]
    return lines + clocks(lines, "order_id")


def cep_run(lines: list[str], folder: Path, engine: str) -> dict[str, float]:
    path = folder / "feed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    usage = folder / "usage"
    command = [TIME, "-f", "%e %U %S %M", "-o", str(usage), sys.executable, "-m", "cep", "run",
               RULES, "--input", str(path), "--output", str(folder / "run.jsonl"),
               "--engine", engine, "--quiet"]  # fmt: skip
    subprocess.run(command, env=env(), check=True)
    wall, user, system, peak = usage.read_text().split()[-4:]
    reports = len((folder / "run.jsonl").read_text().splitlines())
    return {"wall": float(wall), "cpu": float(user) + float(system),
            "peak_mib": int(peak) / 1024, "reports": reports}  # fmt: skip


def worker(bootstrap: str, group: str, folder: Path, name: str, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "cep", "serve", RULES, "--kafka", bootstrap,
               "--input-topic", "in", "--output-topic", "out", "--rejects-topic", "rejects",
               "--group", group, "--state-dir", str(folder / name), "--instance", name,
               *extra]  # fmt: skip
    with open(folder / f"{name}.err", "ab") as err:
        proc = subprocess.Popen(command, env=env(), stderr=err)
    proc.started = time.perf_counter()  # type: ignore[attr-defined]
    return proc


def usage(proc: subprocess.Popen) -> dict[str, float]:
    """A running worker's wall time since start, CPU seconds and peak RSS, read from
    /proc just before it is stopped."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{proc.pid}/status").read_text()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 1024
    wall = time.perf_counter() - proc.started  # type: ignore[attr-defined]
    return {"wall": wall, "cpu": cpu, "peak_mib": peak}


def serve_run(lines: list[str], expected: int, workers: int, folder: Path) -> dict:
    """`workers` workers over a topic of three partitions, the feed produced once all
    hold partitions; the time from the first report to the last."""
    with running_broker() as broker:
        for name, partitions in (("in", 3), ("out", 1), ("rejects", 1)):
            broker.create_topic(name, partitions)
        group = f"bench-{uuid.uuid4().hex}"
        names = [f"w{i}" for i in range(workers)]
        procs = [worker(broker.bootstrap, group, folder, n) for n in names]
        reader = Reader(broker.bootstrap, f"r-{uuid.uuid4().hex}")
        assert reader.until(lambda: all(assigned(folder / n) for n in names), 180)
        start = time.perf_counter()
        produce(broker.bootstrap, lines, "order_id")
        produced = time.perf_counter() - start
        reader.until(lambda: len(reader.reports) > 0, 120)
        first = time.perf_counter()
        reader.until(lambda: len(reader.reports) >= expected, 900)
        last = time.perf_counter()
        used = [usage(proc) for proc in procs]
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
        reader.close()
    return {"workers": workers, "reports": len(reader.reports), "produce_s": produced,
            "first_to_last_s": last - first, "since_produce_s": last - start,
            "usage": used}  # fmt: skip


def fault_run(lines: list[str], expected: list[str], guarantee: str, folder: Path) -> dict:
    """tests/test_serve.py's fault test at full size."""
    with running_broker() as broker:
        for name, partitions in (("in", 3), ("out", 1), ("rejects", 1)):
            broker.create_topic(name, partitions)
        group = f"fault-{uuid.uuid4().hex}"
        # (static members: the replacement must join within the session, docs/serve.md)
        opts = ("--guarantee", guarantee, "--session-timeout", "30s")
        a = worker(broker.bootstrap, group, folder, "a", *opts)
        b = worker(broker.bootstrap, group, folder, "b", *opts)
        reader = Reader(broker.bootstrap, f"r-{uuid.uuid4().hex}")
        assert reader.until(lambda: assigned(folder / "a") and assigned(folder / "b"), 180)
        feeding = produce_paced(broker.bootstrap, lines, "order_id", chunks=40)
        reader.until(lambda: feeding.produced >= len(lines) // 2, 120)  # (half the feed in)
        b.send_signal(signal.SIGKILL)
        b.wait()
        at_kill = len(reader.reports)
        mid_stream = feeding.is_alive()
        c = worker(broker.bootstrap, group, folder, "b", *opts)
        wanted = collections.Counter(expected)
        reader.until(lambda: reader.covers(wanted), 900)
        reader.until(lambda: False, 5)
        for proc in (a, c):
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
        reader.close()
    got = collections.Counter(reader.reports)
    lost, repeated = sum((wanted - got).values()), sum((got - wanted).values())
    return {"guarantee": guarantee, "expected": len(expected), "at_kill": at_kill,
            "feed_still_arriving_at_kill": mid_stream,
            "lost": lost, "repeated": repeated}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-fault", action="store_true")
    parser.add_argument("--only-fault", action="store_true")
    parser.add_argument(
        "--guarantee", action="append", default=[], choices=("exactly-once", "at-least-once")
    )
    args = parser.parse_args(argv)
    args.guarantee = args.guarantee or ["exactly-once", "at-least-once"]
    lines = feed(args.events)
    results: dict = {"events": len(lines), "runs": []}
    for _ in range(0 if args.only_fault else args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-serve-") as name:
            folder = Path(name)
            base = cep_run(lines, folder, "interpreter")
            expected = (folder / "run.jsonl").read_text().splitlines()
            row = {"cep_run_interpreter": base, "cep_run_auto": cep_run(lines, folder, "auto")}
            for workers in (1, 2):
                sub = folder / f"serve{workers}"
                sub.mkdir()
                row[f"serve_{workers}"] = serve_run(lines, len(expected), workers, sub)
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
    if not args.skip_fault:
        for guarantee in args.guarantee:
            with tempfile.TemporaryDirectory(prefix="bench-serve-") as name:
                folder = Path(name)
                expected = _expected(lines, folder)
                try:
                    fault = fault_run(lines, expected, guarantee, folder)
                finally:
                    for err in folder.glob("*.err"):
                        tail = err.read_text(errors="replace").splitlines()[-5:]
                        print(err.name, *tail, sep="\n  ", file=sys.stderr)
                print(json.dumps(fault), flush=True)
    return 0


def _expected(lines: list[str], folder: Path) -> list[str]:
    cep_run(lines, folder, "interpreter")
    return (folder / "run.jsonl").read_text().splitlines()


if __name__ == "__main__":
    sys.exit(main())
