"""Snapshot and restore of an engine holding many open runs: time and size.

Run: python benchmarks/bench_state.py [--runs N] [--engine interpreter|fast|auto ...]

One rule (`a -> b within 1h`, partitioned) is fed N events that each start a run and
none that ends one, over N/2 keys, so that the engine holds N open runs of one bound
event each. Then, in-process (labelled so: it measures the engine, not a `cep run`):
`snapshot()` time, the snapshot's size (in all, and per open run beyond the bytes of
its one event), and the time `resume_engine` takes to restore it into a fresh engine;
wall-clock and CPU seconds (the CPU time of the process, which a busy machine inflates
less).
The restored engine is checked to hold the same open runs. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import time

from cep.api import load_rules
from cep.engine import EngineOptions, open_engine, resume_engine
from cep.engine.state import load
from cep.lang.checker import check_sources
from cep.runtime.event import Event

RULES = """event E { v: int, k: str }
rule pairs { partition by k pattern a = E[v == 1] -> b = E[v == 2] within 1h }
"""


def measure(kind: str, runs: int) -> dict[str, float]:
    checked = check_sources({"bench.cep": RULES})
    engine = open_engine(load_rules(checked), checked.schemas, EngineOptions(), kind)  # type: ignore[arg-type]
    keys = max(1, runs // 2)
    events = [Event("E", i, {"v": 1, "k": f"k{i % keys}"}) for i in range(runs)]
    engine.feed_events(events)
    assert engine.stats().open_runs == runs, engine.stats()
    started, cpu = time.perf_counter(), time.process_time()
    snapshot = engine.snapshot()
    taken, taken_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    restored, _ = resume_engine(
        snapshot, load_rules(checked), checked.schemas, EngineOptions(), kind
    )  # type: ignore[arg-type]
    back, back_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert restored.stats().open_runs == runs
    state = load(snapshot)
    table = state.events
    event_bytes = len(_encoded(table))  # (every event's bytes, kept once each)
    return {
        "snapshot_s": taken,
        "snapshot_cpu_s": taken_cpu,
        "restore_s": back,
        "restore_cpu_s": back_cpu,
        "size_mb": len(snapshot) / 1e6,
        "per_run_b": (len(snapshot) - event_bytes) / runs,
        "per_run_with_event_b": len(snapshot) / runs,
    }


def _encoded(value: object) -> bytes:
    import msgspec

    return msgspec.msgpack.encode(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--engine", action="append", choices=("interpreter", "fast"))
    args = parser.parse_args()
    print(f"in-process, {args.runs:,} open runs of one bound event each "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    print(f"{'engine':12} {'snapshot s':>10} {'(CPU s)':>8} {'restore s':>10} {'(CPU s)':>8} "
          f"{'size MB':>8} {'B/run':>6} {'B/run+event':>11}")  # fmt: skip
    for kind in args.engine or ("fast", "interpreter"):
        found = measure(kind, args.runs)
        print(f"{kind:12} {found['snapshot_s']:10.2f} {found['snapshot_cpu_s']:8.2f} "
              f"{found['restore_s']:10.2f} {found['restore_cpu_s']:8.2f} "
              f"{found['size_mb']:8.1f} {found['per_run_b']:6.0f} "
              f"{found['per_run_with_event_b']:11.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
