"""The peer Polars: "three failed payments by one user within a minute" as a lazy Polars
query and one numba pass, as its own process; prints the match count.

Run: python benchmarks/peer_polars.py FILE.jsonl|FILE.csv|FILE.parquet

Polars scans the three columns, keeps the failed payments and sorts them by user and
time; a compiled loop over the sorted times (numba, cached on disk like cep's) keeps
each user's pending failures of the last minute, counts a match at the third and
clears them (skip past last). The rule's `emit` fields are not computed: the count is
what is compared.
"""

from __future__ import annotations

import sys

import numba
import numpy as np
import polars as pl

WINDOW_MS = 60_000


@numba.njit(cache=True)
def count_matches(starts: np.ndarray, times: np.ndarray) -> int:
    """Matches over failures sorted by user and time (`starts`: a user's first)."""
    matches = 0
    oldest = newer = -1
    for i in range(times.size):
        if starts[i]:
            oldest = newer = -1
        t = times[i]
        if oldest >= 0 and t - oldest < WINDOW_MS and newer >= 0:
            matches += 1
            oldest = newer = -1
        elif oldest >= 0 and t - oldest < WINDOW_MS:
            newer = t
        elif newer >= 0 and t - newer < WINDOW_MS:
            oldest, newer = newer, t
        else:
            oldest, newer = t, -1
    return matches


def scan(path: str) -> pl.LazyFrame:
    if path.endswith(".parquet"):
        return pl.scan_parquet(path)
    if path.endswith(".csv"):
        return pl.scan_csv(path, schema_overrides={"ts": pl.Int64})
    return pl.scan_ndjson(path, schema={"ts": pl.Int64, "user": pl.String, "status": pl.String})


def main(path: str) -> int:
    failed = (
        scan(path)
        .select("user", "ts", "status")
        .filter(pl.col("status") == "failed")
        .sort("user", "ts")
        .select(
            starts=pl.col("user") != pl.col("user").shift(1, fill_value=""),
            ts=pl.col("ts"),
        )
        .collect()
    )
    return int(count_matches(failed["starts"].to_numpy(), failed["ts"].to_numpy()))


if __name__ == "__main__":
    print(main(sys.argv[1]))
