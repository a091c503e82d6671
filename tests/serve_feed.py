"""A seeded feed of events for every event type of a folder of rules, for the tests of
`cep serve` and benchmarks/bench_serve.py: values drawn from the rules' own string
literals and numbers (so the rules' conditions hold often enough to match), key fields
from small sets (so keys return), times moving by up to a few seconds. Some events
lack optional fields, which rules partitioned by them do not see."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from cep.lang.checker import check_paths

START = 1_764_576_000_000  # 2025-12-01 08:00 UTC
_LITERAL = re.compile(r'"([^"\\\n]{1,40})"')
_NUMBER = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w.])")


def make_feed(rules: str | Path, events: int, seed: int = 7, keys: int = 40) -> list[str]:
    """`events` JSON lines (no trailing newline), in time order."""
    checked = check_paths([str(rules)])
    assert checked.ok, checked.render()
    text = "".join(p.read_text() for p in sorted(Path(rules).glob("*.cep")))
    literals = sorted(set(_LITERAL.findall(text)))
    numbers = sorted({float(n) for n in _NUMBER.findall(text)} | {0.5, 1.0, 5.0, 50.0})
    rng = random.Random(seed)
    schemas = sorted(checked.schemas.items())
    ts = START
    lines = []
    for _ in range(events):
        ts += rng.randint(0, 4000)
        name, schema = rng.choice(schemas)
        record: dict[str, Any] = {"type": name, "ts": ts}
        for field, info in schema.fields.items():
            if info.optional and rng.random() < 0.2:
                continue
            record[field] = _value(rng, field, info.type.kind, literals, numbers, keys)
        lines.append(json.dumps(record))
    return lines


def _value(
    rng: random.Random, field: str, kind: str, literals: list[str], numbers: list[float], keys: int
) -> Any:
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return int(rng.choice(numbers) * rng.choice((0.5, 1, 1, 2)))
    if kind == "float":
        return round(rng.choice(numbers) * rng.uniform(0.3, 2.5), 2)
    if rng.random() < 0.7:
        return f"{field}-{rng.randrange(keys)}"
    return rng.choice(literals)
