"""`cep run` as a user runs it, next to a hand-written orjson loop: whole processes,
start-up included, on the same files, in one command.

Run: python benchmarks/bench_process.py [--events N] [--repeat K] [--only NAME ...]

The rule is `three_failed_payments` of rules/payments.cep over N payments from the
shared generator (bench_engine's workload, made once into benchmarks/.data/, with its
Parquet copy). Each measurement is one process, started fresh; its wall seconds come
from the clock, its CPU seconds (user + system) and peak resident memory from the
kernel (`/usr/bin/time`), so a thread or helper process's work counts. Measurements:

- orjson-loop: `python benchmarks/loop_orjson.py` over the JSONL file;
- fast-jsonl / fast-csv / fast-parquet: `cep run --engine fast` over each format;
- interpreter-jsonl: `cep run --engine interpreter` over the JSONL file;
- fast-startup: `cep run --engine fast` over the first 100 events (start-up alone);
- duckdb-* / polars-*: the peers, `benchmarks/peer_duckdb.py` (plain SQL) and
  `benchmarks/peer_polars.py` (a lazy Polars query and one numba pass), over each
  format; they read only the three columns they need and print a count, where cep
  writes every match with its events (`pip install '.[bench]'`; left out, with a
  note, where not installed).

cep's modules are compiled to bytecode and numba's cache is warmed first (one untimed
run per format, and the native module those runs have built), as on any machine after
an install and a few runs. The table gives
the median of K runs (interleaved, so a shared machine's drift spreads over all of
them) and events per CPU-second; ratios compare with the orjson loop of the same
command, by wall time (speed) and by CPU time. Every
measurement must report the reference match count; the exit status is 1 when one does
not. Not a pass/fail test of speed.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import (
    REFERENCE,
    REPO,
    RULE,
    RULES,
    ensure_workload,
    find_generator,
    head_file,
    parquet_file,
)

STARTUP_EVENTS = 100
MEASUREMENTS = (
    "orjson-loop",
    "fast-jsonl",
    "fast-csv",
    "fast-parquet",
    "interpreter-jsonl",
    "fast-startup",
    "duckdb-jsonl",
    "duckdb-csv",
    "duckdb-parquet",
    "polars-jsonl",
    "polars-csv",
    "polars-parquet",
)
FORMATS = ("jsonl", "csv", "parquet")
PEERS = {"duckdb": "duckdb", "polars": "polars"}  # (measurement prefix: module needed)
BASE = "orjson-loop"


def cep_command(path: Path, engine: str, output: Path) -> list[str]:
    """`cep run` of the rule over `path` (the generator's CSV has no type column)."""
    command = [sys.executable, "-m", "cep.cli", "run", str(RULES), "--rule", RULE]
    command += ["--input", str(path), "--engine", engine, "--output", str(output), "--quiet"]
    if path.suffix == ".csv":
        command += ["--type", "Payment"]
    return command


#: measures a process from outside; a process forked from this one would count this
#: one's memory in its peak (Linux keeps the high-water mark across exec)
TIME = "/usr/bin/time"


def run_process(command: list[str], output: Path | None) -> dict[str, Any]:
    """One process to its end: wall and CPU seconds, peak MiB, and its match count (the
    lines of `output`, or the number it prints)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="cep-time-") as folder:
        usage = Path(folder) / "usage"
        measured = command
        if os.path.exists(TIME):
            measured = [TIME, "-f", "%U %S %M", "-o", str(usage), *command]
        start = time.perf_counter()
        done = subprocess.run(measured, capture_output=True, env=env)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr!r}")
        if os.path.exists(TIME):
            user, system, peak_kib = usage.read_text().split()[-3:]
            cpu, peak = float(user) + float(system), int(peak_kib) / 1024
        else:  # (the children's usage: this process's memory may count in the peak)
            import resource

            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu, peak = children.ru_utime + children.ru_stime, children.ru_maxrss / 1024
    if output is None:
        matches = int(done.stdout.split()[-1])
    else:
        with open(output, "rb") as lines:
            matches = sum(1 for _ in lines)
    return {"wall": wall, "cpu": cpu, "peak_mib": peak, "matches": matches}


def commands(files: dict[str, Path], output: Path) -> dict[str, tuple[list[str], Path | None]]:
    loop = [sys.executable, str(REPO / "benchmarks" / "loop_orjson.py"), str(files["jsonl"])]
    return {
        "orjson-loop": (loop, None),
        "fast-jsonl": (cep_command(files["jsonl"], "fast", output), output),
        "fast-csv": (cep_command(files["csv"], "fast", output), output),
        "fast-parquet": (cep_command(files["parquet"], "fast", output), output),
        "interpreter-jsonl": (cep_command(files["jsonl"], "interpreter", output), output),
        "fast-startup": (cep_command(files["startup"], "fast", output), output),
    } | {
        f"{peer}-{fmt}": (peer_command(peer, files[fmt]), None) for peer in PEERS for fmt in FORMATS
    }


def peer_command(peer: str, path: Path) -> list[str]:
    return [sys.executable, str(REPO / "benchmarks" / f"peer_{peer}.py"), str(path)]


def missing_peers(names: list[str]) -> list[str]:
    """The measurements whose peer is not installed (said on stderr)."""
    missing = []
    for peer, module in PEERS.items():
        if importlib.util.find_spec(module) is None:
            wanted = [name for name in names if name.startswith(f"{peer}-")]
            if wanted:
                print(f"{module} is not installed (pip install '.[bench]'): "
                      f"{', '.join(wanted)} left out", file=sys.stderr)  # fmt: skip
            missing += wanted
    return missing


def against_peers(rows: dict[str, dict[str, Any]], events: int) -> list[str]:
    """For each format, cep's events per CPU-second over the fastest peer's."""
    lines = []
    for fmt in FORMATS:
        ours = rows.get(f"fast-{fmt}")
        peers = {p: rows[f"{p}-{fmt}"] for p in PEERS if f"{p}-{fmt}" in rows}
        if ours is None or not peers:
            continue
        best, row = min(peers.items(), key=lambda item: item[1]["cpu"])
        lines.append(
            f"{fmt}: cep fast {events / ours['cpu']:,.0f} events/CPU-s, {best} "
            f"{events / row['cpu']:,.0f}: {row['cpu'] / ours['cpu']:.2f}x"
        )
    return lines


def table(rows: dict[str, dict[str, Any]], events: int) -> str:
    head = (
        f"{'measurement':<20} {'events':>11} {'wall s':>8} {'CPU s':>8} "
        f"{'events/CPU-s':>13} {'peak MiB':>9} {'matches':>8} {'speed':>7} {'CPU':>7}"
    )
    lines = [head, "-" * len(head)]
    base = rows.get(BASE)
    for name, row in rows.items():
        n = STARTUP_EVENTS if name == "fast-startup" else events
        speed = cpu = ""
        if base is not None and name not in (BASE, "fast-startup"):
            speed = f"{base['wall'] / row['wall']:.2f}x"
            cpu = f"{base['cpu'] / row['cpu']:.2f}x"
        lines.append(
            f"{name:<20} {n:>11,} {row['wall']:>8.2f} {row['cpu']:>8.2f} "
            f"{n / row['cpu']:>13,.0f} {row['peak_mib']:>9.1f} {row['matches']:>8,} "
            f"{speed:>7} {cpu:>7}"
        )
    lines.append(
        "speed: the orjson loop's wall time over this one's; CPU: the same for CPU seconds"
        " (events per CPU-second against the loop's)"
    )
    return "\n".join(lines)


def wait_for_native_build() -> bool:
    """Wait for the native module a warm-up run started building (docs/cli.md), as any
    later run would find it; whether one was under way."""
    from cep import native
    from cep.fast.nativebuild import any_compiler, building
    from cep.jit import cache_folder

    folder = cache_folder()
    if folder is None or not native.enabled() or not any_compiler():
        return False
    index = native.paths(folder)[1]
    started = time.monotonic()  # (a detached build takes its lock once it has started)
    while not building() and not index.is_file() and time.monotonic() - started < 60:
        time.sleep(0.5)
    waited = building()
    while building():
        time.sleep(1)
    return waited


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="default: 1,000,000")
    parser.add_argument("--generator", help="gen_payments.py (default: the shared one)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--only", action="append", choices=MEASUREMENTS)
    args = parser.parse_args(argv)
    generator = find_generator(args.generator)
    if generator is None or not generator.is_file():
        print("no workload generator: pass --generator", file=sys.stderr)
        return 2
    jsonl = ensure_workload(args.events, generator)
    files = {"jsonl": jsonl, "csv": jsonl.with_suffix(".csv"), "parquet": parquet_file(jsonl)}
    files["startup"] = head_file(jsonl, STARTUP_EVENTS)
    names = list(args.only or MEASUREMENTS)
    names = [name for name in names if name not in missing_peers(names)]
    with tempfile.TemporaryDirectory(prefix="cep-bench-") as folder:
        output = Path(folder) / "matches.jsonl"
        planned = commands(files, output)
        # cep's bytecode, as an installed package has it (whatever PYTHONDONTWRITEBYTECODE
        # says), and numba's cache, as after any first run
        compileall.compile_dir(str(REPO / "cep"), quiet=1)
        for _ in range(3):  # (until the warm-up runs start no native build)
            for fmt in ("jsonl", "csv", "parquet"):
                warm = head_file(files[fmt], 1_000)
                run_process(cep_command(warm, "fast", output), output)
                if "polars-" + fmt in names:  # (its numba pass's cache, likewise)
                    run_process(peer_command("polars", warm), None)
                warm.unlink()
            if not wait_for_native_build():
                break
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for round_ in range(args.repeat):
            for name in names:
                command, out = planned[name]
                result = run_process(command, out)
                runs[name].append(result)
                print(
                    f"run {round_ + 1}/{args.repeat} {name}: {result['wall']:.2f} s wall, "
                    f"{result['cpu']:.2f} s CPU, {result['matches']:,} matches",
                    file=sys.stderr,
                )
    files["startup"].unlink()
    rows = {
        name: {
            key: statistics.median(run[key] for run in results)
            for key in ("wall", "cpu", "peak_mib")
        }
        | {"matches": results[0]["matches"] if len({r["matches"] for r in results}) == 1 else -1}
        for name, results in runs.items()
    }
    print(f"rule {RULE} over {jsonl.stem}, whole processes, median of {args.repeat} run(s)")
    print(table(rows, args.events))
    for line in against_peers(rows, args.events):
        print(line)
    expected = REFERENCE.get(args.events)
    wrong = [
        name
        for name, row in rows.items()
        if name != "fast-startup" and expected is not None and row["matches"] != expected
    ]
    if wrong:
        print(f"wrong match count ({', '.join(wrong)}): expected {expected:,}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
