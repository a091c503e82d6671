"""The fast path (`--engine fast`): JIT start-up, columns, Parquet, push, many rules, many keys.

Run: python benchmarks/bench_fast.py [--events N] [--repeat K] [--only NAME]

Workloads come from the shared generator, as in bench_engine.py (benchmarks/.data/); the
Parquet copy and the many-keys file are made once next to them. Every measurement runs
in its own subprocess (peak RSS is its own); the table shows the median of K runs.

- jit-cold / jit-cached: `cep run --engine fast` on a 1,000-line file in a fresh
  interpreter, with numba's cache empty (a new NUMBA_CACHE_DIR) / warm (its second run);
- columns-memory: `ColumnarRun.run(batch)` over batches read beforehand, + `finish()`
  (reports are `LazyMatch`es: their events and fields are worked out when read); the
  time is a process's second run over the input (on a fresh `ColumnarRun`), as for
  numba-kernel, and the first run's is shown beside the ratio (it also pays for loading
  machine code from numba's cache and for first touching memory);
- columns-memory-read: the same, and every report written as JSON (`to_json`);
- columns-memory-text: the same with reports made as JSON lines in bulk
  (`ColumnarRun(as_text=True)`, what `cep run` writes);
- numba-kernel: a hand-written numba kernel for the rule over the same columns;
- push-fast / push-interpreter: `push` of pre-built `Event`s into `FastEngine` /
  `MatchingEngine`, + `finish()`;
- many-rules-*: 100 variants of the rule on 100,000 events, interpreter vs fast (columns);
- many-keys-*: N failed payments of N/2 users within 50 s (every run stays open),
  interpreter (push) vs fast (columns); "state MiB" is the peak's growth while matching;
- iterative-plus-interpreter / -fast: `b = Payment[count(b) == 0 or amount >
  last(b).amount]{3,}` on 10,000 events (its condition reads the run: on the fast path a
  program over the run's history, cep/compile/programs.py);
- computed-terms-interpreter / -fast: terms NumPy cannot test (`amount - 50 > 25 and
  startswith(user, "u1")`, `amount * 3 < 30 and status == "failed"`) on 100,000 events:
  on the fast path a program over the batch, and a text function worked out once per
  distinct value of its field.

End to end `cep run` rows (JSONL, CSV, Parquet) are in bench_engine.py.

Match counts are checked against the generator's reference or the other engine's count;
the exit status is 1 when one differs. Not a pass/fail test: no time is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# the repository first: a stray site-packages/cep/ (a numba cache folder) can shadow the
# editable install when this runs as a script
sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]
from bench_engine import (  # noqa: E402
    DATA,
    REFERENCE,
    REPO,
    RULE,
    RULES,
    _frozen,
    baseline_file,
    ensure_workload,
    find_generator,
    interpreter_events,
    peak_mib,
    read_events,
)

SMALL = 1_000  # lines of the JIT start-up file
MEDIUM = 100_000  # events of many-rules
ITERATIVE_EVENTS = 10_000  # iterative-plus: every payment starts a run; 100,000 took 8 min
COUNTRIES = ("US", "DE", "FR", "GB", "BR", "IN", "JP", "NG")
PAYMENT = """event Payment {
  user: str
  amount: float
  status: str
  country: str
  card: str?
  merchant: str?
  currency: str?
}
"""
MEASUREMENTS = (
    "jit-cold",
    "jit-cached",
    "columns-memory",
    "columns-memory-read",
    "columns-memory-text",
    "numba-kernel",
    "push-fast",
    "push-interpreter",
    "many-rules-interpreter",
    "many-rules-fast",
    "many-keys-interpreter",
    "many-keys-fast",
    "iterative-plus-interpreter",
    "iterative-plus-fast",
    "computed-terms-interpreter",
    "computed-terms-fast",
)
#: terms NumPy cannot test a batch at a time: a text function and arithmetic (by the
#: interpreter once per distinct value of the field), arithmetic on a field with a text
#: equality (a program over the batch's events)
COMPUTED = (
    PAYMENT
    + """rule computed "a big payment by a u1... user, then a small failed one" {
  partition by user
  pattern a = Payment[amount - 50 > 25 and startswith(user, "u1")]
       -> b = Payment[amount * 3 < 30 and status == "failed"]
  within 1m
}
"""
)
CLI = "import sys; from cep.cli import main; sys.exit(main(sys.argv[1:]))"


# ------------------------------------------------------------------------- workloads


def head_file(path: Path, lines: int) -> Path:
    """The first `lines` lines of `path`, as a file next to it."""
    target = DATA / f"head-{lines}-{path.name}"
    if not target.is_file():
        with open(path, "rb") as source, open(target, "wb") as out:
            for _, line in zip(range(lines), source, strict=False):
                out.write(line)
    return target


def many_keys_file(events: int) -> Path:
    """`events` failed payments, two per user, all within 50 s of event time."""
    target = DATA / f"many-keys-{events}.jsonl"
    if not target.is_file():
        users = np.arange(events) // 2
        ts = 1_700_000_000_000 + np.arange(events) * 50_000 // max(events, 1)
        partial = target.with_suffix(".partial")
        with open(partial, "w") as out:
            for user, at in zip(users.tolist(), ts.tolist(), strict=True):
                out.write(
                    f'{{"type": "Payment", "ts": {at}, "user": "k{user}", "amount": 1.0, '
                    f'"status": "failed", "country": "US"}}\n'
                )
        partial.replace(target)
    return target


def many_rules_source(count: int = 100) -> str:
    """`count` variants of three failed payments: country, repetition count, window."""
    windows = ("30s", "1m", "2m", "5m", "10m")
    rules = [PAYMENT]
    for i in range(count):
        country = COUNTRIES[i % len(COUNTRIES)]
        times = 2 + (i // len(COUNTRIES)) % 3
        window = windows[(i // 24) % len(windows)]
        rules.append(
            f'rule r{i:03d} "variant {i}" {{\n  partition by user\n'
            f'  pattern f = Payment[status == "failed" and country == "{country}"]{{{times}}}\n'
            f"  within {window}\n  emit user = f[0].user, total = sum(f.amount)\n}}\n"
        )
    return "\n".join(rules)


ITERATIVE = (
    PAYMENT
    + """rule rising "three or more failed payments, each larger than the last" {
  partition by user
  pattern b = Payment[count(b) == 0 or amount > last(b).amount]{3,}
  within 1m
  emit user = b[0].user, n = count(b)
}
"""
)


# ------------------------------------------------------------------------- engines


def rules_of(source: str | None = None) -> tuple[Any, list[Any]]:
    """The checked program and compiled rules: three_failed_payments, or `source`."""
    from cep.api import load_rules
    from cep.lang.checker import check_paths, check_sources

    if source is None:
        checked = check_paths([str(RULES)])
        return checked, load_rules(checked, [RULE])
    checked = check_sources({"bench.cep": source})
    return checked, load_rules(checked)


def columnar_run(
    checked: Any, rules: list[Any], path: Path, as_text: bool = False
) -> tuple[Any, list[Any]]:
    """A `ColumnarRun` (kernel warmed on a throwaway run) and all batches of `path`."""
    from cep.fast.engine import ColumnarRun
    from cep.io.columnar import read_jsonl_batches
    from cep.io.validation import Validator

    run = ColumnarRun(rules, checked.schemas, as_text=as_text)
    fields = run.fields()
    options = {"fields": fields, "validator": Validator(checked.schemas)}
    warm = ColumnarRun(rules, checked.schemas, as_text=as_text)
    for batch in read_jsonl_batches(head_file(path, SMALL), **options):
        warm.run(batch)
    warm.finish()
    return run, list(read_jsonl_batches(str(path), **options))


def columns(run: Any, batches: list[Any], read: bool = False) -> int:
    """`run.run(batch)` for every batch, then `finish()`; returns the match count. With
    `read`, every report is also written as JSON."""
    matches = 0
    for batch in [*batches, None]:
        reports = run.finish() if batch is None else run.run(batch)
        matches += len(reports)
        if read:
            for report in reports:
                report.to_json()
    return matches


def fast_events(events: list[Any], rules: list[Any]) -> int:
    """`FastEngine.push` for every event, then `finish()`; returns the match count."""
    from cep.fast.engine import FastEngine

    return interpreter_events(events, rules, FastEngine)


def kernel_columns(batches: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """failed flags, user codes (one numbering for all batches), times; user count."""
    codes: dict[str, int] = {}
    failed, users, times = [], [], []
    for batch in batches:
        status, user = batch.columns["status"], batch.columns["user"]
        lookup = np.array([codes.setdefault(v, len(codes)) for v in user.dictionary.values])
        code = status.dictionary.find("failed")
        failed.append(status.valid & (status.values == code))
        users.append(lookup[user.values] if len(lookup) else user.values.astype(np.int64))
        times.append(batch.ts)
    return np.concatenate(failed), np.concatenate(users), np.concatenate(times), len(codes)


def numba_kernel() -> Callable[..., int]:
    """The rule by hand: per user, the times of the failures kept (at most two)."""
    from numba import njit

    @njit(cache=True)
    def three_failed(failed, users, ts, n_users, window):  # type: ignore[no-untyped-def]
        kept = np.zeros((n_users, 2), dtype=np.int64)
        count = np.zeros(n_users, dtype=np.int64)
        matches = 0
        for i in range(len(ts)):
            if not failed[i]:
                continue
            u, t = users[i], ts[i]
            c = count[u]
            while c > 0 and t - kept[u, 0] >= window:  # drop the oldest out of the window
                kept[u, 0] = kept[u, 1]
                c -= 1
            if c == 2:
                matches += 1
                c = 0  # skip past last
            else:
                kept[u, c] = t
                c += 1
            count[u] = c
        return matches

    return three_failed


def cli_child(argv: list[str], cache: str) -> tuple[float, int]:
    """`cep ARGV` in a fresh interpreter with NUMBA_CACHE_DIR=cache: seconds, output lines."""
    output = Path(cache) / "out.jsonl"
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CLI, *argv, "--output", str(output), "--quiet"],
        check=True,
        env=env,
        cwd=REPO,
    )
    seconds = time.perf_counter() - start
    with open(output, "rb") as lines:
        return seconds, sum(1 for _ in lines)


# ------------------------------------------------------------------------- measuring


def measure(name: str, path: Path) -> dict[str, Any]:
    """One measurement in this process: seconds, events, matches, peak, state growth."""
    job: Callable[[], int]
    events = 0
    extra: dict[str, Any] = {}
    if name in ("jit-cold", "jit-cached"):
        small = head_file(path, SMALL)
        cache = tempfile.mkdtemp(prefix="cep-numba-")
        argv = ["run", str(RULES), "--rule", RULE, "--input", str(small), "--engine", "fast"]
        if name == "jit-cached":
            cli_child(argv, cache)
        seconds, matches = cli_child(argv, cache)
        _, rules = rules_of()
        expected = interpreter_events(read_events(small), rules)
        child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return {"name": name, "seconds": seconds, "events": SMALL, "matches": matches,
                "expected": expected, "peak_mib": child, "state_mib": None}  # fmt: skip
    if name in ("columns-memory", "columns-memory-read", "columns-memory-text", "numba-kernel"):
        checked, rules = rules_of()
        run, batches = columnar_run(checked, rules, path, name == "columns-memory-text")
        events = sum(len(b) for b in batches)
        if name.startswith("columns-memory"):
            read = name == "columns-memory-read"
            runs = [run, type(run)(rules, checked.schemas, as_text=run.as_text)]
            job = lambda: columns(runs.pop(), batches, read)  # noqa: E731
        else:
            failed, users, ts, n_users = kernel_columns(batches)
            kernel = numba_kernel()
            kernel(failed[:SMALL], users[:SMALL], ts[:SMALL], n_users, 60_000)  # compile
            job = lambda: kernel(failed, users, ts, n_users, 60_000)  # noqa: E731
        # the first run over the whole input in this process, timed apart: it also pays
        # for first use (machine code loaded from numba's cache, fresh memory touched);
        # `seconds` is the second run, on a fresh `ColumnarRun`
        start = time.perf_counter()
        job()
        extra["first_seconds"] = time.perf_counter() - start
    elif name in ("push-fast", "push-interpreter"):
        _, rules = rules_of()
        if name == "push-fast":
            fast_events(read_events(head_file(path, SMALL)), rules)  # kernel warmed
        loaded = _frozen(read_events(path))
        events = len(loaded)
        engine = fast_events if name == "push-fast" else interpreter_events
        job = lambda: engine(loaded, rules)  # noqa: E731
    elif name.startswith(("many-rules", "many-keys", "iterative", "computed")):
        source = ITERATIVE if name.startswith("iterative") else None
        if name.startswith("computed"):
            source = COMPUTED
        if name.startswith("many-rules"):
            source = many_rules_source()
        checked, rules = rules_of(source)
        if name in ("iterative-plus-fast", "computed-terms-fast"):
            from cep.fast.plan import fast_path_refusal

            refusal = fast_path_refusal(rules[0])
            if refusal is not None:
                raise RuntimeError(f"the fast path refuses {name}: {refusal}")
            columns(*columnar_run(checked, rules, head_file(Path(path), SMALL)))  # warm
        data = Path(path)
        if name.endswith("-fast"):
            run, batches = columnar_run(checked, rules, data)
            events = sum(len(b) for b in batches)
            job = lambda: columns(run, batches)  # noqa: E731
        else:
            loaded = _frozen(read_events(data))
            events = len(loaded)
            job = lambda: interpreter_events(loaded, rules)  # noqa: E731
    else:
        raise ValueError(f"unknown measurement {name!r}")
    before = peak_mib()
    start = time.perf_counter()
    matches = job()
    seconds = time.perf_counter() - start
    return {"name": name, "seconds": seconds, "events": events, "matches": matches,
            "expected": None, "peak_mib": peak_mib(), "state_mib": peak_mib() - before,
            **extra}  # fmt: skip


def run_child(name: str, path: Path) -> dict[str, Any]:
    """One measurement in a fresh interpreter."""
    command = [sys.executable, __file__, "--child", name, "--data", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------- report


def table(rows: list[dict[str, Any]]) -> str:
    """The figures as a text table."""
    head = f"{'measurement':<26} {'events':>10} {'seconds':>8} {'events/s':>11} "
    head += f"{'peak MiB':>9} {'state MiB':>9} {'matches':>8}"
    lines = [head, "-" * len(head)]
    for row in rows:
        state = "" if row["state_mib"] is None else f"{row['state_mib']:.1f}"
        lines.append(
            f"{row['name']:<26} {row['events']:>10,} {row['seconds']:>8.3f} "
            f"{row['events'] / row['seconds']:>11,.0f} {row['peak_mib']:>9.1f} {state:>9} "
            f"{row['matches']:>8,}"
        )
    by = {row["name"]: row for row in rows}
    for name in ("columns-memory", "columns-memory-read", "columns-memory-text"):
        if name in by and "numba-kernel" in by:
            kernel = by["numba-kernel"]
            ratio = by[name]["seconds"] / kernel["seconds"]
            first = by[name]["first_seconds"] / kernel["first_seconds"]
            lines.append(
                f"{name} / numba-kernel: {ratio:.1f}x the time (target: within 5x); "
                f"first runs in the process: {by[name]['first_seconds']:.3f} / "
                f"{kernel['first_seconds']:.3f} s, {first:.1f}x"
            )
    for a, b in (("many-rules-interpreter", "many-rules-fast"), ("push-interpreter", "push-fast"),
                 ("many-keys-interpreter", "many-keys-fast"),
                 ("iterative-plus-interpreter", "iterative-plus-fast"),
                 ("computed-terms-interpreter", "computed-terms-fast")):  # fmt: skip
        if a in by and b in by:
            lines.append(f"{a} / {b}: {by[a]['seconds'] / by[b]['seconds']:.1f}x the time")
    for name in ("many-keys-interpreter", "many-keys-fast"):
        if name in by and by[name]["events"]:
            per = by[name]["state_mib"] * 2**20 / by[name]["events"]
            lines.append(f"{name}: {per:,.0f} bytes of state per open run (one per event)")
    return "\n".join(lines)


def data_for(name: str, events: int, generator: Path) -> Path:
    """The input file of a measurement (made once)."""
    if name.startswith("many-keys"):
        return many_keys_file(events)
    if name.startswith(("many-rules", "computed-terms")):
        return ensure_workload(MEDIUM, generator)
    if name.startswith("iterative-plus"):
        return ensure_workload(ITERATIVE_EVENTS, generator)
    return ensure_workload(events, generator)


def check(rows: list[dict[str, Any]], events: int, path: Path) -> list[str]:
    """The measurements whose match count is wrong, with what was expected."""
    by = {row["name"]: row for row in rows}
    main_count = REFERENCE.get(events)
    wrong = []
    for row in rows:
        name, expected = row["name"], row["expected"]
        if name in ("columns-memory", "columns-memory-read", "numba-kernel", "push-fast",
                    "push-interpreter"):  # fmt: skip
            if main_count is None:
                main_count = baseline_file(path)
            expected = main_count
        elif name.endswith("-fast") and name.replace("-fast", "-interpreter") in by:
            expected = by[name.replace("-fast", "-interpreter")]["matches"]
        if expected is not None and row["matches"] != expected:
            wrong.append(f"{name}: {row['matches']} matches, expected {expected}")
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="default: 1,000,000")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--only", action="append", choices=MEASUREMENTS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "prepare":  # in a child: Linux keeps a parent's peak RSS across exec
        paths = {name: str(data_for(name, args.events, find_generator())) for name in args.only}
        print(json.dumps(paths))
        return 0
    if args.child:
        print(json.dumps(measure(args.child, Path(args.data))))
        return 0
    generator = find_generator()
    if generator is None or not generator.is_file():
        print("no workload generator: set $CEP_BENCH_GENERATOR", file=sys.stderr)
        return 2
    names = list(args.only or MEASUREMENTS)
    prepare = [sys.executable, __file__, "--child", "prepare", "--events", str(args.events)]
    prepare += [f"--only={name}" for name in names]
    done = subprocess.run(prepare, check=True, capture_output=True, text=True, cwd=REPO)
    paths = {name: Path(p) for name, p in json.loads(done.stdout.splitlines()[-1]).items()}
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_ in range(args.repeat):  # interleaved, so drift on a shared machine spreads
        for name in names:
            result = run_child(name, paths[name])
            results[name].append(result)
            print(
                f"run {round_ + 1}/{args.repeat} {name}: {result['seconds']:.3f} s, "
                f"{result['matches']:,} matches, {result['peak_mib']:.1f} MiB",
                file=sys.stderr,
            )
    rows = []
    for runs in results.values():
        counts = {run["matches"] for run in runs}
        row = dict(runs[0])
        row["seconds"] = statistics.median(run["seconds"] for run in runs)
        row["peak_mib"] = statistics.median(run["peak_mib"] for run in runs)
        if row["state_mib"] is not None:
            row["state_mib"] = statistics.median(run["state_mib"] for run in runs)
        if "first_seconds" in row:
            row["first_seconds"] = statistics.median(run["first_seconds"] for run in runs)
        row["matches"] = row["matches"] if len(counts) == 1 else -1
        rows.append(row)
    print(f"{args.events:,} events (many-rules, computed-terms: {MEDIUM:,}; iterative-plus-*: "
          f"{ITERATIVE_EVENTS:,}; jit-*: {SMALL:,}), "
          f"median of {args.repeat} run(s)")  # fmt: skip
    print(table(rows))
    wrong = check(rows, args.events, DATA / f"payments-{args.events}.jsonl")
    for line in wrong:
        print(f"wrong match count: {line}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
