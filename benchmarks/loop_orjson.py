"""The hand-written loop a speed-minded developer would write instead of cep, as its own
process: read a JSONL file with orjson, run "three failed payments by one user within a
minute" (`bench_engine.baseline_matches`), print the match count.

Run: python benchmarks/loop_orjson.py FILE.jsonl
"""

from __future__ import annotations

import sys

import orjson
from bench_engine import baseline_matches  # (this script's folder is on sys.path)


def main(path: str) -> int:
    with open(path, "rb") as stream:
        return sum(1 for _ in baseline_matches(map(orjson.loads, stream)))


if __name__ == "__main__":
    print(main(sys.argv[1]))
