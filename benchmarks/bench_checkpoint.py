"""What checkpoints cost `cep run`: the same command with and without `--checkpoint DIR
--checkpoint-every E`, whole processes, in one command (interleaved, so a shared
machine's drift spreads over both).

Run: python benchmarks/bench_checkpoint.py --input FILE [--every 10s] [--engine fast]
     [--rule NAME ...] [--repeat K]

Wall seconds from the clock; CPU seconds and peak resident memory from `/usr/bin/time`;
the cost: each checkpointed run's seconds over those of the plain run just before it.
The outputs of the two must be equal; the exit status is 1 when they are not. With no
`--rule`, `three_failed_payments` (as every benchmark here); `--rule all` runs every
rule of rules/payments.cep. A CSV input without a type column is read with `--type
Payment`. Not a pass/fail test of speed.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules" / "payments.cep"


def measure(command: list[str]) -> dict[str, float]:
    """One process: wall seconds, CPU seconds and peak memory (MiB)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as times:
        started = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-f", "%U %S %M", "-o", times.name, *command],
            check=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            cwd=REPO,
        )
        wall = time.perf_counter() - started
        user, system, peak = times.read().split()[-3:]
    return {"wall": wall, "cpu": float(user) + float(system), "mib": int(peak) / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--every", default="10s")
    parser.add_argument("--engine", default="fast")
    parser.add_argument("--rule", action="append")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rules = [] if args.rule == ["all"] else args.rule or ["three_failed_payments"]
    base = [sys.executable, "-m", "cep.cli", "run", str(RULES), "--input", args.input,
            "--engine", args.engine, "--quiet"]  # fmt: skip
    base += [f"--rule={name}" for name in rules]
    if args.input.endswith(".csv"):
        base += ["--type", "Payment"]
    folder = Path(tempfile.mkdtemp(prefix="bench-checkpoint-"))
    try:
        head = folder / ("head" + Path(args.input).suffix)  # (numba's cache warmed first)
        with open(args.input, "rb") as source:
            head.write_bytes(b"".join(source.readline() for _ in range(1000)))
        warm = [str(head) if part == args.input else part for part in base]
        subprocess.run([*warm, "--output", os.devnull], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
        rows = []
        for k in range(args.repeat):
            for name in ("none", "checkpoint"):
                out = folder / f"{name}.jsonl"
                command = [*base, "--output", str(out)]
                if name == "checkpoint":
                    shutil.rmtree(folder / "state", ignore_errors=True)
                    command += ["--checkpoint", str(folder / "state"),
                                "--checkpoint-every", args.every]  # fmt: skip
                rows.append((k, name, measure(command)))
            same = filecmp.cmp(folder / "none.jsonl", folder / "checkpoint.jsonl", shallow=False)
            if not same:
                print("the outputs differ", file=sys.stderr)
                return 1
        size = (folder / "state" / "checkpoint").stat().st_size
        print(f"{'run':>3} {'measurement':<12} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}")
        for k, name, m in rows:
            print(f"{k:>3} {name:<12} {m['wall']:>8.1f} {m['cpu']:>8.1f} {m['mib']:>9.0f}")
        print(f"outputs equal; the last checkpoint is {size / 2**20:.1f} MiB")
        for what in ("wall", "cpu"):  # (each checkpointed run over the plain run beside it)
            costs = [rows[i + 1][2][what] / rows[i][2][what] - 1 for i in range(0, len(rows), 2)]
            print(f"cost in {what} seconds: {min(costs):+.1%} to {max(costs):+.1%}")
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
