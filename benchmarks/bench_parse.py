"""How long parsing and checking a 1,000-rule file takes.

Run: python benchmarks/bench_parse.py [RULES]
Prints the time to parse (Lark LALR, tree to AST) and to check (names, types, lints),
each the best of five runs, and the rate in rules per second. Not a pass/fail test.
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from cep.lang.checker import check_sources
from cep.lang.parser import lark_parser, parse_source

HEADER = """\
event Payment { user: str, amount: float, status: str, country: str, card: str? }
event Login { user: str, ok: bool, country: str, ip: str }
const WINDOW = 1m
"""

# Four shapes of rule, in turn, like those of the example library in rules/.
TEMPLATES = (
    """\
rule failed_{i} "three failed payments by one user within a minute" {{
  partition by user
  pattern f = Payment[status == "failed"]{{3}}
  within WINDOW
  emit user = f[0].user, first_at = f[0].ts, total = sum(f.amount)
  severity high
}}

""",
    """\
rule travel_{i} "two payments from different countries within an hour" {{
  partition by user
  pattern a = Payment[status == "ok"] -> b = Payment[status == "ok" and country != a.country]
  within 1h
  emit user = a.user, from = a.country, to = b.country, gap = b.ts - a.ts
  severity medium
  tags "fraud", "travel"
}}

""",
    """\
rule login_{i} "failed logins then a success" {{
  partition by user
  pattern f = Login[not ok]{{3,}} consecutive => s = Login[ok]
  within 10m
  emit user = s.user, failures = count(f), country = s.country
}}

""",
    """\
rule dense_{i} "generated rule {i}" {{
  partition by user
  pattern f = Payment[status == "failed" and amount > {i}]{{3}}
            -> l = Login[ok and country != f[0].country]
  where sum(f.amount) > {i} * 2.5
  within WINDOW
  skip past last
  emit user = f[0].user, total = sum(f.amount), first_at = f[0].ts, country = l.country
  severity high
  tags "generated", "bench"
}}

""",
)


def make_source(rules: int) -> str:
    return HEADER + "".join(TEMPLATES[i % len(TEMPLATES)].format(i=i) for i in range(rules))


def best_of(runs: int, job) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        job()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    rules = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    source = make_source(rules)
    parse_source("rule warmup { pattern a = A within 1s }")
    parse_s = best_of(5, lambda: parse_source(source, "bench.cep"))
    check_s = best_of(5, lambda: check_sources({"bench.cep": source}))
    tracemalloc.start()
    checked = check_sources({"bench.cep": source})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert checked.ok, checked.render()
    lines = source.count("\n")
    tokens = sum(1 for _ in lark_parser().lex(source))
    print(f"{rules} rules, {lines} lines, {tokens} tokens, {len(source) / 1024:.0f} KiB")
    print(f"parse:         {parse_s * 1000:8.1f} ms  ({rules / parse_s:,.0f} rules/s)")
    print(f"parse + check: {check_s * 1000:8.1f} ms  ({rules / check_s:,.0f} rules/s)")
    print(f"peak memory (tracemalloc) while checking: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
