"""Throughput and peak memory of `cep run` (both engines, JSONL / CSV / Parquet) against
hand-written Python loops.

Run: python benchmarks/bench_engine.py [--events N] [--generator PATH] [--repeat K]

The rule is `three_failed_payments` of rules/payments.cep (three failed payments by one
user within a minute, partition by user, skip past last) over N payment events from the
shared workload generator (default: ../shared/bench/gen_payments.py from the repository
root, else $CEP_BENCH_GENERATOR). The workload is generated once into benchmarks/.data/.

Every measurement runs in its own subprocess, so its peak RSS is its own; the table
shows the median of K runs. Measurements:

- baseline-file: a plain loop with `json.loads` over the JSONL file, end to end;
- baseline-file-orjson: the same loop with `orjson.loads` (the loop a developer who
  cares about speed writes; `pip install '.[bench]'`);
- interpreter-file / interpreter-csv: `cep run rules/payments.cep --rule
  three_failed_payments` on the JSONL / CSV file, end to end (reading, validation,
  matching, output);
- fast-file / fast-csv / fast-parquet: the same with `--engine fast` (columns and the
  numba kernel; the kernel is loaded from numba's cache, and the reader's modules
  imported, on a warm-up over the first 1,000 events in the same format);
  the Parquet copy of the workload is made once with pyarrow;
- interpreter-file-delayed / fast-file-delayed: `cep run --allowed-delay 5s` (each
  engine) over the JSONL workload as it might arrive: each event up to 2 s after its
  time, in order of arrival (events of one time arrive together), made once from the
  generator's file (`delayed_file`); the same matches as the file in time order;
- baseline-memory: the plain loop over records already parsed into dicts;
- interpreter-memory: `MatchingEngine.push` over pre-built `Event` objects, + `finish()`.

Every measurement must report the reference match count (13,528 for 1,000,000 events);
the exit status is 1 when one does not. `--profile` runs interpreter-memory under
cProfile instead and prints the top functions by own time. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# this checkout's `cep` first, not an installed copy (a script's path starts at its folder)
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
RULES = REPO / "rules" / "payments.cep"
RULE = "three_failed_payments"
DATA = REPO / "benchmarks" / ".data"
DEFAULT_GENERATOR = REPO.parent / "shared" / "bench" / "gen_payments.py"
GENERATOR_ENV = "CEP_BENCH_GENERATOR"
WINDOW_MS = 60_000
# Match counts of the rule for the generator's default options (its README).
REFERENCE = {10_000: 104, 100_000: 1_298, 1_000_000: 13_528, 10_000_000: 135_558}

ORJSON = "baseline-file-orjson"
MEASUREMENTS = (
    "baseline-file",
    ORJSON,
    "interpreter-file",
    "fast-file",
    "interpreter-csv",
    "fast-csv",
    "fast-parquet",
    "interpreter-file-delayed",
    "fast-file-delayed",
    "baseline-memory",
    "interpreter-memory",
)
#: the input of each `cep run` measurement, and its engine
RUNS = {
    "interpreter-file": (".jsonl", "interpreter"),
    "fast-file": (".jsonl", "fast"),
    "interpreter-csv": (".csv", "interpreter"),
    "fast-csv": (".csv", "fast"),
    "fast-parquet": (".parquet", "fast"),
    "interpreter-file-delayed": (".delayed.jsonl", "interpreter"),
    "fast-file-delayed": (".delayed.jsonl", "fast"),
}
#: how late an event of the delayed workload arrives at most, and the allowed delay
DELAY_SPREAD_MS = 2_000
ALLOWED_DELAY = "5s"


# ------------------------------------------------------------------------- workload


def find_generator(explicit: str | None = None) -> Path | None:
    """The generator script: `explicit`, else the shared default, else $CEP_BENCH_GENERATOR."""
    if explicit:
        return Path(explicit)
    if DEFAULT_GENERATOR.is_file():
        return DEFAULT_GENERATOR
    env = os.environ.get(GENERATOR_ENV)
    return Path(env) if env else None


def ensure_workload(events: int, generator: Path, folder: Path = DATA) -> Path:
    """The JSONL file of `events` payments, generated into `folder` unless already there."""
    target = folder / f"payments-{events}.jsonl"
    if target.is_file():
        return target
    if not generator.is_file():
        raise FileNotFoundError(f"workload generator not found: {generator}")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"payments-{events}.partial"
    subprocess.run([sys.executable, str(generator), str(events), str(partial)], check=True)
    # rename only once complete, so an interrupted run never leaves a short cache file
    for suffix in (".csv", ".jsonl"):
        Path(f"{partial}{suffix}").replace(folder / f"payments-{events}{suffix}")
    return target


def read_records(path: Path, loads: Callable[[str | bytes], Any] = json.loads) -> list[dict]:
    """Every line of a JSONL file as a dict."""
    with open(path, "rb") as stream:
        return [loads(line) for line in stream]


# ------------------------------------------------------------------------- baseline


def baseline_matches(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rule written by hand: per user, the failed payments of the last minute.

    A third failure less than a minute after the oldest kept one is a match; the user's
    state is then cleared (skip past last). Yields the rule's `emit` fields.
    """
    pending: dict[str, list[tuple[int, float]]] = {}
    for record in records:
        if record.get("type") != "Payment" or record.get("status") != "failed":
            continue
        user, ts = record["user"], record["ts"]
        kept = pending.get(user)
        if kept is None:
            pending[user] = [(ts, record["amount"])]
            continue
        while kept and ts - kept[0][0] >= WINDOW_MS:
            del kept[0]
        kept.append((ts, record["amount"]))
        if len(kept) == 3:
            del pending[user]
            yield {"user": user, "first_at": kept[0][0], "total": sum(a for _, a in kept)}


def baseline_file(path: Path, loads: Callable[[str | bytes], Any] = json.loads) -> int:
    """The hand-written loop over a JSONL file, line by line; returns the match count."""
    with open(path, "rb") as stream:
        return sum(1 for _ in baseline_matches(loads(line) for line in stream))


def baseline_records(records: list[dict[str, Any]]) -> int:
    """The hand-written loop over records already in memory; returns the match count."""
    return sum(1 for _ in baseline_matches(records))


# ------------------------------------------------------------------------- interpreter


def load_rule() -> list[Any]:
    """The compiled rule, as `cep run` loads it."""
    from cep.api import load_rules
    from cep.lang.checker import check_paths

    return load_rules(check_paths([str(RULES)]), [RULE])


def cep_run(path: Path, output: Path, engine: str = "interpreter") -> int:
    """`cep run` on the file with `engine`, matches written to `output`; returns the
    match count. (The generator's CSV has no type column: `--type Payment`; the delayed
    file is run with `--allowed-delay`.)"""
    from cep.cli import main

    argv = ["run", str(RULES), "--rule", RULE, "--input", str(path), "--engine", engine]
    if path.suffix == ".csv":
        argv += ["--type", "Payment"]
    if path.name.endswith(".delayed.jsonl"):
        argv += ["--allowed-delay", ALLOWED_DELAY]
    status = main([*argv, "--output", str(output), "--quiet"])
    if status != 0:
        raise RuntimeError(f"cep run exited with {status}")
    with open(output, "rb") as lines:
        return sum(1 for _ in lines)


def interpreter_file(path: Path, output: Path) -> int:
    """`cep run` on the file (the interpreter)."""
    return cep_run(path, output)


def parquet_file(path: Path) -> Path:
    """The JSONL workload converted once to Parquet (pyarrow)."""
    import pyarrow.json
    import pyarrow.parquet

    target = path.with_suffix(".parquet")
    if not target.is_file():
        partial = target.with_suffix(".partial")
        pyarrow.parquet.write_table(pyarrow.json.read_json(path), partial)
        partial.replace(target)
    return target


def delayed_file(path: Path, seed: int = 11) -> Path:
    """The JSONL workload in an order it might arrive in (made once): each event up to
    `DELAY_SPREAD_MS` after its time, the events of one time together, in their order
    (so that matching it with an allowed delay over the spread finds what the file in
    time order gives)."""
    import re

    import numpy as np

    target = path.with_name(path.stem + ".delayed.jsonl")
    if target.is_file():
        return target
    lines = path.read_bytes().splitlines()
    ts = np.array([int(m) for m in re.findall(rb'"ts": ?(-?[0-9]+)', b"\n".join(lines))])
    if len(ts) != len(lines):
        raise ValueError(f"{path}: a line without one integer ts")
    times, at = np.unique(ts, return_inverse=True)
    lateness = np.random.default_rng(seed).uniform(0, DELAY_SPREAD_MS, len(times))
    order = np.argsort(ts + lateness[at], kind="stable")
    partial = target.with_suffix(".partial")
    with open(partial, "wb") as out:
        for start in range(0, len(order), 100_000):
            out.write(b"".join(lines[i] + b"\n" for i in order[start : start + 100_000]))
    partial.replace(target)
    return target


def head_file(source: Path, events: int) -> Path:
    """A temporary file of the first `events` events of `source`, in its format."""
    warm = Path(tempfile.mkstemp(prefix="cep-warm-", suffix=source.suffix)[1])
    if source.suffix == ".parquet":
        import pyarrow.parquet

        # only the first rows are read (the whole table would count in the run's peak)
        first = next(pyarrow.parquet.ParquetFile(source).iter_batches(batch_size=events))
        pyarrow.parquet.write_table(pyarrow.Table.from_batches([first]), warm)
        return warm
    lines = events + 1 if source.suffix == ".csv" else events  # and the header row
    with open(source, "rb") as rows:
        warm.write_bytes(b"".join(row for _, row in zip(range(lines), rows, strict=False)))
    return warm


def read_events(path: Path) -> list[Any]:
    """The file's records as engine `Event`s (type, time, fields as read)."""
    from cep.runtime.event import Event

    return [Event(r["type"], r["ts"], r) for r in read_records(path)]


def interpreter_events(
    events: Iterable[Any], rules: list[Any], engine_type: type | None = None
) -> int:
    """`push` every event into an engine (default: the interpreter's `MatchingEngine`),
    then `finish()`; returns the match count."""
    from cep.runtime.engine import MatchingEngine

    engine = (engine_type or MatchingEngine)(rules)
    push = engine.push
    matches = 0
    for event in events:
        reports = push(event)
        if reports:
            matches += len(reports)
    matches += len(engine.finish())
    return matches


# ------------------------------------------------------------------------- measuring


def peak_mib() -> float:
    """This process's peak resident set size, in MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


def _frozen(data: list[Any]) -> list[Any]:
    # preloaded objects are moved out of the collector's view, so that the timed part
    # does not pay for traversing them
    gc.collect()
    gc.freeze()
    return data


def measure(name: str, path: Path) -> dict[str, Any]:
    """Run one measurement in this process: seconds of the timed part, matches, peak."""
    job: Callable[[], int]
    if name == "baseline-file":
        job = lambda: baseline_file(path)  # noqa: E731
    elif name == ORJSON:
        import orjson

        job = lambda: baseline_file(path, orjson.loads)  # noqa: E731
    elif name == "baseline-memory":
        records = _frozen(read_records(path))
        job = lambda: baseline_records(records)  # noqa: E731
    elif name in RUNS:
        import cep.cli

        suffix, engine = RUNS[name]
        if suffix == ".parquet":
            source = parquet_file(path)
        elif suffix == ".delayed.jsonl":
            source = delayed_file(path)
        else:
            source = path.with_suffix(suffix)
        output = Path(tempfile.mkstemp(prefix="cep-bench-", suffix=".jsonl")[1])
        if engine == "fast":
            import cep.fast.engine
            import cep.fast.vector  # noqa: F401

            # numba loads its compiled kernel from the on-disk cache (or compiles it) on
            # the first call, and each format's reader imports its modules (pyarrow's):
            # warm up on the first 1,000 events in the same format, so the timed part is
            # the run itself
            warm = head_file(source, 1000)
            cep_run(warm, output, "fast")
            warm.unlink()
        job = lambda: cep_run(source, output, engine)  # noqa: E731
    elif name == "interpreter-memory":
        rules = load_rule()
        events = _frozen(read_events(path))
        job = lambda: interpreter_events(events, rules)  # noqa: E731
    else:
        raise ValueError(f"unknown measurement {name!r}")
    try:
        start = time.perf_counter()
        matches = job()
        seconds = time.perf_counter() - start
    finally:
        if name in RUNS:
            output.unlink(missing_ok=True)
    package = sys.modules.get("cep")
    source = str(Path(package.__file__).parent) if package and package.__file__ else None
    return {
        "name": name,
        "seconds": seconds,
        "matches": matches,
        "peak_mib": peak_mib(),
        "cep": source,
    }


def run_child(name: str, path: Path) -> dict[str, Any]:
    """One measurement in a fresh interpreter."""
    command = [sys.executable, __file__, "--child", name, "--data", str(path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
    return json.loads(done.stdout.strip().splitlines()[-1])


def profile(path: Path, top: int = 15) -> None:
    """interpreter-memory under cProfile: the `top` functions by own time."""
    import cProfile
    import pstats

    rules = load_rule()
    events = _frozen(read_events(path))
    profiler = cProfile.Profile()
    matches = profiler.runcall(interpreter_events, events, rules)
    print(f"{len(events):,} events, {matches:,} matches")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


# ------------------------------------------------------------------------- report


def table(rows: list[dict[str, Any]], events: int) -> str:
    """The figures as a text table."""
    head = f"{'measurement':<26} {'events':>10} {'seconds':>9} {'events/s':>11} "
    head += f"{'peak MiB':>9} {'matches':>8}"
    lines = [head, "-" * len(head)]
    for row in rows:
        lines.append(
            f"{row['name']:<26} {events:>10,} {row['seconds']:>9.2f} "
            f"{events / row['seconds']:>11,.0f} {row['peak_mib']:>9.1f} {row['matches']:>8,}"
        )
    by_name = {row["name"]: row for row in rows}
    for name, base in (
        ("interpreter-file", "baseline-file"),
        ("interpreter-file", ORJSON),
        ("fast-file", ORJSON),
        ("fast-csv", ORJSON),
        ("fast-parquet", ORJSON),
        ("fast-file-delayed", ORJSON),
        ("fast-file-delayed", "interpreter-file-delayed"),
        ("interpreter-memory", "baseline-memory"),
    ):
        if name in by_name and base in by_name:
            i, b = by_name[name], by_name[base]
            speed = b["seconds"] / i["seconds"]
            lines.append(
                f"{name} vs {base}: {speed:.2f}x its speed"
                f" ({i['seconds'] / b['seconds']:.2f}x its time),"
                f" {i['peak_mib'] / b['peak_mib']:.1f}x its peak memory"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="default: 1,000,000")
    parser.add_argument("--generator", help=f"gen_payments.py (default: shared, ${GENERATOR_ENV})")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--only", action="append", choices=MEASUREMENTS)
    parser.add_argument("--profile", action="store_true", help="profile interpreter-memory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, Path(args.data))))
        return 0
    generator = find_generator(args.generator)
    if generator is None or not generator.is_file():
        print(f"no workload generator: pass --generator or set ${GENERATOR_ENV}", file=sys.stderr)
        return 2
    path = ensure_workload(args.events, generator)
    if args.profile:
        profile(path)
        return 0
    names = list(args.only or MEASUREMENTS)
    try:
        import orjson  # noqa: F401
    except ImportError:
        print("orjson is not installed (pip install '.[bench]'): no orjson loop", file=sys.stderr)
        names = [name for name in names if name != ORJSON]
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(args.repeat):  # interleaved, so drift on a shared machine spreads
        for name in names:
            result = run_child(name, path)
            results[name].append(result)
            print(
                f"run {round_ + 1}/{args.repeat} {name}: {result['seconds']:.2f} s, "
                f"{result['matches']:,} matches, {result['peak_mib']:.1f} MiB",
                file=sys.stderr,
            )
    rows = []
    for name, runs in results.items():
        counts = {run["matches"] for run in runs}
        rows.append(
            {
                "name": name,
                "seconds": statistics.median(run["seconds"] for run in runs),
                "peak_mib": statistics.median(run["peak_mib"] for run in runs),
                "matches": runs[0]["matches"] if len(counts) == 1 else -1,
            }
        )
    print(f"rule {RULE} over {path.name}, median of {args.repeat} run(s)")
    sources = {run["cep"] for runs in results.values() for run in runs if run["cep"]}
    if sources:
        print(f"cep imported from {', '.join(sorted(sources))}")
    print(table(rows, args.events))
    expected = REFERENCE.get(args.events)
    counts = {row["matches"] for row in rows}
    if expected is not None and counts != {expected}:
        print(
            f"wrong match count: expected {expected:,} for {args.events:,} events", file=sys.stderr
        )
        return 1
    if expected is None and len(counts) != 1:
        print("the measurements disagree on the match count", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
