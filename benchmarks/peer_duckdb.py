"""The peer DuckDB: "three failed payments by one user within a minute" in plain SQL,
as its own process; prints the match count.

Run: python benchmarks/peer_duckdb.py FILE.jsonl|FILE.csv|FILE.parquet

Per user, the times of the failed payments in order, folded by `list_reduce` into
[matches, oldest pending time, newer pending time] (-1: none): a failure less than a
minute after both pending ones is a match and clears them (skip past last); older
pending times fall out of the minute. DuckDB reads only the columns the query names
(`MATCH_RECOGNIZE` is not in a DuckDB release). The rule's `emit` fields are not
computed: the count is what is compared.
"""

from __future__ import annotations

import sys

import duckdb

WINDOW_MS = 60_000

QUERY = f"""
WITH failed AS (
  SELECT "user", list(ts ORDER BY ts) AS times
  FROM {{source}} WHERE status = 'failed' GROUP BY "user"
)
SELECT coalesce(sum(list_reduce(times,
    lambda s, t: CASE
      WHEN s[2] >= 0 AND t - s[2] < {WINDOW_MS} AND s[3] >= 0 THEN [s[1] + 1, -1, -1]
      WHEN s[2] >= 0 AND t - s[2] < {WINDOW_MS} THEN [s[1], s[2], t]
      WHEN s[3] >= 0 AND t - s[3] < {WINDOW_MS} THEN [s[1], s[3], t]
      ELSE [s[1], t, -1] END,
    [0::BIGINT, -1::BIGINT, -1::BIGINT])[1]), 0)
FROM failed
"""


def source(path: str) -> str:
    """The table function reading `path`, with the three columns typed where the format
    needs it (JSON lines: only those are read)."""
    quoted = path.replace("'", "''")
    if path.endswith(".parquet"):
        return f"read_parquet('{quoted}')"
    columns = "{ts: 'BIGINT', \"user\": 'VARCHAR', status: 'VARCHAR'}"
    if path.endswith(".csv"):
        return f"read_csv('{quoted}', header = true, types = {columns})"
    return f"read_json('{quoted}', format = 'newline_delimited', columns = {columns})"


def main(path: str) -> int:
    ((count,),) = duckdb.sql(QUERY.format(source=source(path))).fetchall()
    return int(count)


if __name__ == "__main__":
    print(main(sys.argv[1]))
