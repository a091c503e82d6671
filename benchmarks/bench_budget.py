"""A runaway rule within the budget of live state (issue 27, docs/limits.md): whole
`cep run` processes on each engine, timed from outside.

Run: python benchmarks/bench_budget.py [--events N] [--engine E ...] [--max-state SIZE]
                                       [--max-runs-per-key N] [--timeout S]

The rule (written to benchmarks/.data/runaway.cep) is the one of issue 27:

    pattern a = Payment ->> b = Payment+ -> c = Payment[amount > 1000]
    partition by user, skip none, within 1h

over N payments of the shared generator (bench_engine's workload, made once into
benchmarks/.data/): its Zipf users give one user about a quarter of the events (50,970
of 200,000), all within the hour, so every run of that user forks on every one of its
events and every run of `Payment+` binds one more event each time. Without a budget
`--engine auto` grew to 23 GB; with the default budget (or `--max-state`), each engine
must stay bounded.

Each engine runs once as a fresh process under `/usr/bin/time -v` (wall seconds, CPU
seconds user + system, peak resident memory), stopped after `--timeout` seconds
(SIGTERM, then SIGKILL 30 s later; the row says "stopped at the timeout", with what it
used). numba's cache is
warmed first. The summary's drop counts are printed per engine, and the engines that
finished must agree on them and on their reports (exit status 1 otherwise). Not a
pass/fail test of speed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import REPO, ensure_workload, find_generator, head_file

RULE = """event Payment {
  user: str
  amount: float
  status: str
  country: str
}

rule runaway {
  partition by user
  pattern a = Payment ->> b = Payment+ -> c = Payment[amount > 1000]
  skip none
  within 1h
}
"""
ENGINES = ("interpreter", "fast", "auto")
TIME = "/usr/bin/time"
_FIELDS = {
    "wall": r"Elapsed \(wall clock\) time.*: (.+)",
    "user": r"User time \(seconds\): (.+)",
    "system": r"System time \(seconds\): (.+)",
    "peak_kib": r"Maximum resident set size \(kbytes\): (.+)",
}


def _clock(text: str) -> float:
    """`h:mm:ss` or `m:ss.ss` in seconds."""
    seconds = 0.0
    for part in text.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def run_engine(
    rules: Path,
    feed: Path,
    engine: str,
    max_state: str | None,
    timeout: int,
    max_runs: int | None = None,
) -> dict[str, Any]:
    """One `cep run` process: its figures, its summary's counts and its reports' hash."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="cep-budget-") as folder:
        out = Path(folder) / "out.jsonl"
        command = [sys.executable, "-m", "cep.cli", "run", str(rules), "--input", str(feed)]
        command += ["--engine", engine, "--output", str(out)]
        if max_state is not None:
            command += ["--max-state", max_state]
        if max_runs is not None:
            command += ["--max-runs-per-key", str(max_runs)]
        measured = [TIME, "-v", *command]
        start = time.perf_counter()
        with open(Path(folder) / "err", "w+") as errors:
            process = subprocess.Popen(measured, stdout=subprocess.DEVNULL, stderr=errors, env=env)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                _stop(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:  # (a stop waits for the batch, 10 s at most)
                    _stop(process.pid, signal.SIGKILL)
                    process.wait()
            wall = time.perf_counter() - start
            errors.seek(0)
            err = errors.read()
        figures: dict[str, Any] = {"engine": engine, "wall": wall, "killed": False}
        for name, pattern in _FIELDS.items():
            found = re.search(pattern, err)
            if found:
                text = found.group(1)
                figures[name] = _clock(text) if name == "wall" else float(text)
        figures["cpu"] = figures.get("user", 0.0) + figures.get("system", 0.0)
        figures["peak_mib"] = figures.get("peak_kib", 0.0) / 1024
        status = re.search(r"Exit status: (\d+)", err)
        code = int(status.group(1)) if status else process.returncode
        if code == 143 or "terminated by signal" in err:
            figures["killed"] = True
            return figures
        if code != 0:
            raise RuntimeError(f"{' '.join(command)} exited {code}: {err[-2000:]}")
        totals = re.search(
            r"(\d+) matches, \d+ timeouts, (\d+) runs open at the end, (\d+) runs dropped "
            r"by --max-runs-per-key(?:, (\d+) by --max-state)?",
            err,
        )
        assert totals is not None, err
        figures["matches"] = int(totals.group(1))
        figures["open"] = int(totals.group(2))
        figures["cap_dropped"] = int(totals.group(3))
        figures["budget_dropped"] = int(totals.group(4) or 0)
        figures["reports"] = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    return figures


def _stop(pid: int, sig: int) -> None:
    """A signal to the `cep run` under `/usr/bin/time` (process `pid`): it stops and
    `time` still reports what it used."""
    found = Path(f"/proc/{pid}/task/{pid}/children")
    children = found.read_text().split() if found.exists() else []
    for child in children or [str(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), sig)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'engine':<12} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9} {'matches':>8} "
        f"{'open':>7} {'cap drops':>10} {'budget drops':>13} {'reports':>17}"
    ]
    for row in rows:
        if row["killed"]:
            lines.append(
                f"{row['engine']:<12} {row['wall']:>8.1f} {row['cpu']:>8.1f} "
                f"{row['peak_mib']:>9.1f}  stopped at the timeout"
            )
            continue
        lines.append(
            f"{row['engine']:<12} {row['wall']:>8.1f} {row['cpu']:>8.1f} "
            f"{row['peak_mib']:>9.1f} {row['matches']:>8} {row['open']:>7} "
            f"{row['cap_dropped']:>10} {row['budget_dropped']:>13} {row['reports']:>17}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="default: 200,000")
    parser.add_argument("--engine", action="append", choices=ENGINES)
    parser.add_argument("--max-state", help="default: cep's default budget")
    parser.add_argument("--max-runs-per-key", type=int, help="default: cep's default cap (10,000)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per process")
    parser.add_argument("--generator", help="the workload generator (gen_payments.py)")
    args = parser.parse_args()
    if not os.path.exists(TIME):
        print(f"{TIME} is needed (GNU time)", file=sys.stderr)
        return 2
    generator = find_generator(args.generator)
    if generator is None:
        print("no workload generator: give --generator PATH", file=sys.stderr)
        return 2
    feed = ensure_workload(args.events, generator)
    rules = feed.parent / "runaway.cep"
    rules.write_text(RULE)
    engines = list(args.engine or ENGINES)
    # numba's cache warmed (and the kernel compiled if it changed): untimed
    warm = head_file(feed, 100)
    for engine in engines:
        if engine != "interpreter":
            run_engine(rules, warm, engine, args.max_state, 1800, args.max_runs_per_key)
    warm.unlink()
    rows = []
    for engine in engines:
        row = run_engine(rules, feed, engine, args.max_state, args.timeout, args.max_runs_per_key)
        rows.append(row)
        print(f"{engine}: {row}", file=sys.stderr)
    budget = args.max_state or "the default budget"
    cap = args.max_runs_per_key or "the default cap"
    print(
        f"rule runaway over {feed.name} with {budget} and {cap} runs per key, "
        "one process per engine"
    )
    print(table(rows))
    finished = [row for row in rows if not row["killed"]]
    keys = ("matches", "open", "cap_dropped", "budget_dropped", "reports")
    if len({tuple(row[k] for k in keys) for row in finished}) > 1:
        print("the engines disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
