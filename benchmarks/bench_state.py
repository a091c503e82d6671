"""Snapshot and restore of an engine holding many open runs: time and size.

Run: python benchmarks/bench_state.py [--runs N] [--engine interpreter|fast ...]
     [--source events|jsonl ...] [--repeat R] [--touch | --again]

One rule (`a -> b within 1h`, partitioned) is fed N events that each start a run and
none that ends one, over N/2 keys, so that the engine holds N open runs of one bound
event each. The events are made in Python (`--source events`: fed with `feed_events`)
or read from JSON lines by the columnar reader with reports as JSON lines
(`--source jsonl`: what `cep run` holds, each event kept as its line). Then,
in-process (labelled so: it measures the engine, not a `cep run`): `snapshot()` time,
the snapshot's size (in all, and per open run beyond the bytes of its one event), and
the time `resume_engine` takes to restore it into a fresh engine, R times each; wall
clock and CPU seconds (the CPU time of the process, which a busy machine inflates
less), as the range over the repeats.
The restored engine is checked to hold the same open runs. With `--touch`, each
restored engine is then fed one event for every key (each ending its key's runs, one
report per key) and finished: the CPU seconds of restore, feed and finish together, as
a resumed run that comes back to every key spends them (the interpreter's: a fast
path engine restored from events made in Python takes batches only; "-" there). With
`--again`, each restored engine, fed nothing, is snapshotted (CPU s: what a resumed
run's first checkpoint costs before input comes; the interpreter makes every
partition first). Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from typing import Any

from cep.api import load_rules
from cep.engine import EngineOptions, open_engine, resume_engine
from cep.engine.state import load
from cep.io.columnar import read_jsonl_batches
from cep.io.validation import Validator
from cep.lang.checker import check_sources
from cep.runtime.event import Event

RULES = """event E { v: int, k: str }
rule pairs { partition by k pattern a = E[v == 1] -> b = E[v == 2] within 1h }
"""


def measure(
    kind: str, source: str, runs: int, repeat: int, touch: bool = False, again: bool = False
) -> dict[str, object]:
    checked = check_sources({"bench.cep": RULES})
    options = EngineOptions(json_lines=source == "jsonl")
    engine = open_engine(load_rules(checked), checked.schemas, options, kind)  # type: ignore[arg-type]
    keys = max(1, runs // 2)
    _feed(engine, checked, source, [(i, 1, i % keys) for i in range(runs)])
    assert engine.stats().open_runs == runs, engine.stats()
    found: dict[str, list[float]] = {"snapshot": [], "snapshot_cpu": [], "restore": [],
                                     "restore_cpu": [], "touch_cpu": [],
                                     "again_cpu": []}  # fmt: skip
    touch = touch and kind == "interpreter"
    more = [(runs + i, 2, i) for i in range(keys)] if touch else []
    for _ in range(repeat):
        snapshot = None  # (the last one let go first)
        started, cpu = time.perf_counter(), time.process_time()
        snapshot = engine.snapshot()
        found["snapshot"].append(time.perf_counter() - started)
        found["snapshot_cpu"].append(time.process_time() - cpu)
        started, cpu = time.perf_counter(), time.process_time()
        rules = load_rules(checked)
        restored, _ = resume_engine(snapshot, rules, checked.schemas, options, kind)  # type: ignore[arg-type]
        found["restore"].append(time.perf_counter() - started)
        found["restore_cpu"].append(time.process_time() - cpu)
        assert restored.stats().open_runs == runs
        if again:
            cpu = time.process_time()
            assert restored.snapshot() == snapshot
            found["again_cpu"].append(time.process_time() - cpu)
        if touch:
            cpu = time.process_time() - found["restore_cpu"][-1]
            _feed(restored, checked, source, more)
            restored.finish()
            found["touch_cpu"].append(time.process_time() - cpu)
            assert restored.stats().matches == keys, restored.stats()
        del restored
    assert snapshot is not None
    event_bytes = len(_encoded(load(snapshot).events))  # (every event's bytes, kept once each)
    return {
        **{name: (min(times), max(times)) for name, times in found.items() if times},
        "size_mb": len(snapshot) / 1e6,
        "per_run_b": (len(snapshot) - event_bytes) / runs,
        "per_run_with_event_b": len(snapshot) / runs,
    }


def _feed(engine: Any, checked: Any, source: str, events: list[tuple[int, int, int]]) -> None:
    """Events `(ts, v, key number)` fed as made in Python or as JSON lines read by the
    columnar reader."""
    if source == "events":
        engine.feed_events([Event("E", ts, {"v": v, "k": f"k{k}"}) for ts, v, k in events])
        return
    lines = "".join(f'{{"type":"E","ts":{ts},"v":{v},"k":"k{k}"}}\n' for ts, v, k in events)
    validator = Validator(checked.schemas)
    for batch in read_jsonl_batches(
        io.BytesIO(lines.encode()), fields=engine.fields(), validator=validator
    ):
        engine.feed_lines(batch)


def _encoded(value: object) -> bytes:
    import msgspec

    return msgspec.msgpack.encode(value)


def _range(span: object) -> str:
    low, high = span  # type: ignore[misc]
    return f"{low:.2f}-{high:.2f}" if f"{low:.2f}" != f"{high:.2f}" else f"{low:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--engine", action="append", choices=("interpreter", "fast"))
    parser.add_argument("--source", action="append", choices=("events", "jsonl"))
    parser.add_argument("--repeat", type=int, default=1)
    then = parser.add_mutually_exclusive_group()
    then.add_argument("--touch", action="store_true",
                      help="then feed one event for every key and finish (CPU s)")  # fmt: skip
    then.add_argument("--again", action="store_true",
                      help="then snapshot each restored engine, fed nothing (CPU s)")  # fmt: skip
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"in-process, {args.runs:,} open runs of one bound event each, {args.repeat} "
          f"repeat(s) (load average {load:.1f} on {os.cpu_count()} CPUs)")  # fmt: skip
    print(f"{'engine':12} {'source':7} {'snapshot s':>11} {'(CPU s)':>11} {'restore s':>11} "
          f"{'(CPU s)':>11} {'size MB':>8} {'B/run':>6} {'B/run+event':>11}"
          + (f" {'again CPU s':>11}" if args.again else "")
          + (f" {'+feed+finish CPU s':>18}" if args.touch else ""))  # fmt: skip
    for kind in args.engine or ("fast", "interpreter"):
        for source in args.source or ("events", "jsonl"):
            found = measure(kind, source, args.runs, args.repeat, args.touch, args.again)
            again = f" {_range(found['again_cpu']):>11}" if args.again else ""
            touched = f" {_range(found.get('touch_cpu', (0, 0))):>18}" if args.touch else ""
            if args.touch and kind != "interpreter":
                touched = f" {'-':>18}"
            print(f"{kind:12} {source:7} {_range(found['snapshot']):>11} "
                  f"{_range(found['snapshot_cpu']):>11} {_range(found['restore']):>11} "
                  f"{_range(found['restore_cpu']):>11} {found['size_mb']:8.1f} "
                  f"{found['per_run_b']:6.0f} {found['per_run_with_event_b']:11.0f}{again}"
                  f"{touched}",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
