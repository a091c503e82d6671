"""The budget of live state (`--max-state`, `max_state`; docs/limits.md).

A rule over its share of the budget after an event drops its oldest runs; both engines
count the same engine-neutral cost, so the interpreter, the fast path and the mixed
engine drop the same runs and write the same reports and summaries. Checked on the
runaway rule of issue 27 (small budgets, small feeds), on held matches, on patterns
drawn by hypothesis against the interpreter, across a snapshot, and on the command
line (bad sizes exit 2 with one line)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep import Engine
from cep.api import load_rules
from cep.cli import main
from cep.engine import EngineOptions, open_engine, resume_engine
from cep.lang.checker import check_sources
from cep.runtime.budget import (
    DEFAULT_CEILING,
    DEFAULT_MAX_STATE,
    EVENT_COST,
    RUN_COST,
    format_size,
    parse_size,
)
from tests.oracle import Pattern
from tests.test_oracle import held_patterns, patterns, streams

SCHEMA = """
event Payment {
  user: str
  amount: float
}
"""
#: issue 27's runaway rule: every event forks every run, each run binds ever more
RUNAWAY = (
    SCHEMA
    + """
rule runaway {
  partition by user
  pattern a = Payment ->> b = Payment+ -> c = Payment[amount > 1000]
  skip none
  within 1h
}
"""
)
#: the same with matches (the issue's rule never matches: `c` is also a `b`, and the
#: greedy `b+` takes it)
MATCHING = RUNAWAY.replace("b = Payment+", "b = Payment[amount < 900]+").replace(
    "rule runaway", "rule matching"
)
#: held matches: later starts complete first and wait for the earlier runs
HELD = (
    SCHEMA
    + """
rule held {
  partition by user
  pattern a = Payment -> b = Payment[amount > a.amount]{2} -> c = Payment[amount > 600]
  skip to next
  within 1h
}
"""
)
#: a rule only the interpreter runs (a list of earlier events' text in a condition),
#: so that `auto` runs a mixed engine
INTERPRETED = """
rule interpreted {
  partition by user
  pattern a = Payment -> b = Payment[amount < 900 and user in [a.user, "x"]]+
            -> c = Payment[amount > 900]
  skip none
  within 1h
}
"""


def _feed(n: int, seed: int = 1, hot: float = 0.5) -> list[dict[str, Any]]:
    """`n` payments, about `hot` of them by user `h`, a few of them large."""
    rng = random.Random(seed)
    out, ts = [], 0
    for _ in range(n):
        ts += rng.choice((0, 1, 1, 2, 5))
        user = "h" if rng.random() < hot else rng.choice(("u1", "u2", "u3"))
        amount = rng.choice((1500.0, 950.0)) if rng.random() < 0.03 else rng.uniform(1, 900)
        out.append({"type": "Payment", "ts": ts, "user": user, "amount": round(amount, 2)})
    return out


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


# ------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("64KB", 64_000),
        ("64kib", 65_536),
        ("512MB", 512_000_000),
        ("512MiB", 512 << 20),
        ("2GiB", 2 << 30),
        ("1.5g", 1_500_000_000),
        (" 3 MB ", 3_000_000),
    ],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "-5MB", "12XB", "1e9", "MB", "10", "0", "1 2"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def test_default_budget() -> None:
    """An eighth of physical memory, at most 256 MiB, in every host's options."""
    assert 0 < DEFAULT_MAX_STATE <= DEFAULT_CEILING
    assert EngineOptions().max_state == DEFAULT_MAX_STATE
    assert format_size(256 << 20) == "256 MiB"
    assert format_size(1536 << 20) == "1.5 GiB"


@pytest.mark.parametrize("value", ["abc", "0", "-1MB", "5XB", "100"])
def test_bad_max_state_exits_2_with_one_line(value: str, tmp_path: Path, capsys) -> None:
    rules = tmp_path / "r.cep"
    rules.write_text(RUNAWAY)
    feed = _write(tmp_path / "in.jsonl", _feed(5))
    code = main(["run", str(rules), "--input", str(feed), f"--max-state={value}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("cep run: --max-state: "), err


def test_help_mentions_max_state(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--max-state SIZE" in capsys.readouterr().out


# ------------------------------------------------------------------ the interpreter


def _engine(text: str, engine: str = "interpreter", **options: Any) -> Engine:
    return Engine.from_string(text, engine=engine, **options)  # type: ignore[arg-type]


def test_cost_is_counted_and_kept_within_the_budget() -> None:
    """The interpreter's running cost equals a recount, and stays within the budget
    after every event; drops are counted per rule."""
    budget = 20_000
    engine = _engine(RUNAWAY, max_state=budget)
    matcher = engine._engine.matchers[0]  # type: ignore[attr-defined]
    for record in _feed(300):
        engine.push(record)
        running = matcher.cost
        matcher.recount()
        assert matcher.cost == running
        assert running <= budget
        expected = sum(
            RUN_COST + EVENT_COST * run.size
            for part in matcher.partitions.values()
            for run in (*part.runs, *part.completed)
        )
        assert running == expected
    stats = engine.stats()
    assert stats.rules["runaway"].budget_dropped > 0
    assert stats.budget_dropped == stats.rules["runaway"].budget_dropped


def test_no_budget_no_drops() -> None:
    engine = _engine(RUNAWAY, max_state=None)
    list(engine.run(_feed(120)))
    assert engine.stats().budget_dropped == 0


def test_budget_is_split_between_rules() -> None:
    """Two rules share the budget evenly: each keeps within its half."""
    text = RUNAWAY + RUNAWAY.split(SCHEMA)[1].replace("rule runaway", "rule second")
    engine = _engine(text, max_state=40_000)
    matchers = engine._engine.matchers  # type: ignore[attr-defined]
    assert [m.budget for m in matchers] == [20_000, 20_000]
    for record in _feed(200):
        engine.push(record)
        assert all(m.cost <= 20_000 for m in matchers)


def test_oldest_runs_are_dropped_first() -> None:
    """After a drop, every open run started after every dropped one."""
    engine = _engine(RUNAWAY, max_state=8_000)
    matcher = engine._engine.matchers[0]  # type: ignore[attr-defined]
    dropped: list[Any] = []
    matcher.tracer = lambda run, reason, event: dropped.append((run, reason))
    for record in _feed(150):
        dropped.clear()
        engine.push(record)
        shed = [run for run, reason in dropped if reason == "dropped by --max-state"]
        if not shed:
            continue
        newest = max((run.start.ts, run.start.seq) for run in shed)
        for part in matcher.partitions.values():
            for run in part.runs:
                assert (run.start.ts, run.start.seq) >= newest


# ------------------------------------------------------------- every engine alike


def _reports(engine: Engine, records: list[dict[str, Any]], flush: bool = True) -> list:
    out = []
    for match in engine.run([dict(r) for r in records], flush=flush):
        out.append(match.to_json())
    return out


@pytest.mark.parametrize("budget", [2_000, 6_000, 200_000])
@pytest.mark.parametrize("text", [RUNAWAY, MATCHING, HELD], ids=["runaway", "matching", "held"])
def test_engines_drop_the_same_runs(text: str, budget: int) -> None:
    records = _feed(400, seed=budget)
    results = {}
    for kind in ("interpreter", "fast"):
        engine = _engine(text, kind, max_state=budget)
        reports = _reports(engine, records)
        results[kind] = (reports, engine.stats())
    assert results["interpreter"][0] == results["fast"][0]
    assert results["interpreter"][1].rules == results["fast"][1].rules
    assert results["fast"][1].budget_dropped > 0 or (text == HELD and budget == 200_000)
    if text != RUNAWAY and budget > 2_000:
        assert results["fast"][0]


def test_cli_every_engine_same_reports_and_summary(tmp_path: Path, capsys) -> None:
    """`cep run` over the runaway rule and an interpreted one, with a small budget:
    the same output and summary on every engine (`auto` runs them mixed)."""
    rules = tmp_path / "r.cep"
    rules.write_text(MATCHING.replace("rule matching", "rule runaway") + INTERPRETED)
    feed = _write(tmp_path / "in.jsonl", _feed(500, seed=3))
    outputs = {}
    for kind in ("interpreter", "fast", "auto"):
        out = tmp_path / f"{kind}.jsonl"
        args = ["run", str(rules), "--input", str(feed), "--output", str(out), "--engine"]
        # (the fast path runs the compiled rule alone, with its share of the budget)
        extra = ["--rule", "runaway", "--max-state", "20KB"] if kind == "fast" else []
        code = main([*args, kind, "--max-state", "40KB", "--flush", *extra])
        err = capsys.readouterr().err
        assert code == 0, err
        outputs[kind] = (out.read_text(), err)
    interpreter, auto = outputs["interpreter"], outputs["auto"]
    assert interpreter == auto
    assert "by --max-state" in interpreter[1]
    assert {json.loads(line)["rule"] for line in interpreter[0].splitlines()} == {
        "runaway",
        "interpreted",
    }
    lines = interpreter[1].splitlines()
    runaway = next(line for line in lines if line.startswith("  runaway:"))
    interpreted = next(line for line in lines if line.startswith("  interpreted:"))
    assert "runs dropped by --max-state" in runaway
    assert "runs dropped by --max-state" in interpreted
    # the fast path alone (the rule it can run) drops the same runs
    fast_runaway = next(line for line in outputs["fast"][1].splitlines() if "runaway:" in line)
    assert fast_runaway == runaway
    only_runaway = [
        line for line in interpreter[0].splitlines() if json.loads(line)["rule"] == "runaway"
    ]
    assert outputs["fast"][0].splitlines() == only_runaway


def test_ordinary_runs_meet_no_default_budget(tmp_path: Path, capsys) -> None:
    feed = Path("examples/payments.jsonl")
    if not feed.exists():
        pytest.skip("no example feed")
    code = main(["run", "rules/payments.cep", "--input", str(feed), "--output", "/dev/null"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "--max-state" not in err


# ------------------------------------------------------------------ drawn patterns


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    st.one_of(patterns(("none", "past last", "to next")), held_patterns()),
    streams(min_size=6, max_size=16),
    st.sampled_from([1024, 1200, 1600, 2500]),
    st.booleans(),
)
def test_drawn_patterns_interpreter_equals_fast(
    pattern: Pattern, events: list[dict], budget: int, flush: bool
) -> None:
    text = pattern.text()
    found = {}
    for kind in ("interpreter", "fast"):
        engine = Engine.from_string(text, engine=kind, max_state=budget)  # type: ignore[arg-type]
        reports = [m.to_json() for m in engine.run([dict(e) for e in events], flush=flush)]
        found[kind] = (reports, engine.stats().rules)
    assert found["interpreter"] == found["fast"], text


# ------------------------------------------------------------------------ snapshots


@pytest.mark.parametrize(
    ("first", "second"),
    [("interpreter", "interpreter"), ("fast", "fast"), ("fast", "interpreter"),
     ("interpreter", "fast")],
)  # fmt: skip
def test_snapshot_mid_stream_goes_on_as_one_run(first: str, second: str) -> None:
    """Snapshot under a budget, restore into a fresh engine, feed the rest: the same
    reports and counters (drops included) as an uninterrupted run."""
    checked = check_sources({"r.cep": HELD + RUNAWAY.split(SCHEMA)[1]})
    rules = load_rules(checked, None)
    options = EngineOptions(max_state=30_000)
    engine = Engine.from_string(HELD + RUNAWAY.split(SCHEMA)[1], max_state=30_000)
    records = _feed(400, seed=11)
    events = [engine.event(r) for r in records]
    whole = open_engine(rules, checked.schemas, options, first)  # type: ignore[arg-type]
    expected = [m.to_json() for m in whole.feed_events(events)]
    expected += [m.to_json() for m in whole.finish(flush=True)]
    events = [engine.event(r) for r in records]
    head = open_engine(rules, checked.schemas, options, first)  # type: ignore[arg-type]
    got = [m.to_json() for m in head.feed_events(events[:230])]
    resumed, _ = resume_engine(head.snapshot(), rules, checked.schemas, options, second)  # type: ignore[arg-type]
    got += [m.to_json() for m in resumed.feed_events(events[230:])]
    got += [m.to_json() for m in resumed.finish(flush=True)]
    assert got == expected
    assert resumed.stats().rules == whole.stats().rules
    assert whole.stats().budget_dropped > 0


def test_bad_budgets_in_python() -> None:
    with pytest.raises(ValueError):
        EngineOptions(max_state=10)
    with pytest.raises(ValueError):
        _engine(RUNAWAY, max_state="lots")
    assert _engine(RUNAWAY, max_state="64KiB")._engine.matchers[0].budget == 65_536  # type: ignore[attr-defined]


def test_trace_says_which_runs_the_budget_dropped(tmp_path: Path, capsys) -> None:
    rules = tmp_path / "r.cep"
    rules.write_text(RUNAWAY)
    feed = _write(tmp_path / "in.jsonl", _feed(60, seed=5))
    code = main(["run", str(rules), "--input", str(feed), "--output", str(tmp_path / "o"),
                 "--max-state", "2KB", "--trace", "runaway"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "dropped by --max-state at line" in err
