"""What the checkpoints of one `cep run` cost, timed inside the process: how many it
wrote and the CPU and wall seconds they took, next to the whole run's CPU seconds. The
spread between whole processes (`bench_checkpoint.py`) on a shared machine is larger
than the checkpoints' cost where the state is small; this is the figure that spread
hides. In-process, labelled so: start-up is in the run's seconds, not in the
checkpoints'.

Run: python benchmarks/checkpoint_takes.py CEP-RUN-ARGUMENTS...
     (those of `cep run`, `--checkpoint DIR --checkpoint-every E` among them)
"""

from __future__ import annotations

import sys
import time
from typing import Any

from cep.cli import main as cep_main
from cep.service.host import Checkpointer


def main(argv: list[str]) -> int:
    taken: list[tuple[float, float]] = []
    take = Checkpointer.take

    def timed(self: Checkpointer, *args: Any) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        take(self, *args)
        taken.append((time.process_time() - cpu, time.perf_counter() - wall))

    Checkpointer.take = timed  # type: ignore[method-assign]
    cpu = time.process_time()
    code = cep_main(["run", *argv])
    total = time.process_time() - cpu
    spent = sum(c for c, _ in taken)
    print(f"in-process: {len(taken)} checkpoints, {spent:.3f} CPU s "
          f"({spent / total:.1%} of the run's {total:.1f} CPU s), "
          f"{sum(w for _, w in taken):.3f} wall s", file=sys.stderr)  # fmt: skip
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
