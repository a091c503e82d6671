"""The fast path over columns (`ColumnarRun`) reports what `cep run`'s interpreter path
reports, batch boundaries, late events and bad lines included."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.api import load_rules
from cep.fast.engine import ColumnarRun, FastEngine
from cep.fast.partitions import PartitionKeys
from cep.fast.plan import fast_path_refusal
from cep.io.batch import Dictionary
from cep.io.columnar import read_jsonl_batches
from cep.io.sources import Reject
from cep.io.validation import Validator
from cep.lang.checker import check_paths, check_sources
from cep.runtime.engine import MatchingEngine
from cep.runtime.match import Match
from tests.row_readers import read_jsonl


def _reports(text: str) -> list[Any]:
    """`cep run`'s output as JSON values, one a line (engines are compared on these)."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not strict JSON")

    return [json.loads(line, parse_constant=refuse) for line in text.splitlines()]


def _interpreted(
    checked, rules, lines: list[str], flush: bool, delay: int = 0
) -> tuple[list[dict], int]:
    engine = MatchingEngine(rules, allowed_delay_ms=delay)
    out: list[Match] = []
    for item in read_jsonl(lines, validator=Validator(checked.schemas)):
        if not isinstance(item, Reject):
            out.extend(engine.push(item))
    out.extend(engine.finish(flush=flush))
    return [m.to_dict() for m in out], engine.late


def _compiled(
    checked, rules, lines: list[str], flush: bool, size: int, hold: bool = False, delay: int = 0
) -> tuple[list, int]:
    """`ColumnarRun` over the lines in batches of `size`; with `hold`, no batch's reports
    are looked at before the run ends."""
    run = ColumnarRun(rules, checked.schemas, allowed_delay_ms=delay)
    held: list = []
    source = io.BytesIO("".join(line + "\n" for line in lines).encode())
    batches = read_jsonl_batches(
        source, fields=run.fields(), validator=Validator(checked.schemas), batch_size=size
    )
    for batch in batches:
        held.append(run.run(batch))
        if not hold:
            held[-1] = list(held[-1])
    held.append(run.finish(flush=flush))
    return [m.to_dict() for reports in held for m in reports], run.late


def test_library_rules_on_the_example_feed() -> None:
    """Every eligible payment rule over the bundled feed, in batches of 300 lines."""
    checked = check_paths(["rules/payments.cep"])
    rules = [r for r in load_rules(checked) if fast_path_refusal(r) is None]
    assert rules
    with open("examples/payments.jsonl", encoding="utf-8") as feed:
        lines = feed.read().splitlines()
    expected = _interpreted(checked, rules, lines, flush=True)
    assert expected[0]
    assert _compiled(checked, rules, lines, flush=True, size=300) == expected


RULES = """
event E { k: str, v: int, w: float? }
rule seq { partition by k  pattern a = E[v == 1] -> b = E[v >= 2]{2,} within 4ms }
rule strict { partition by k  pattern a = E[v == 1] => b = E[v == 2] -> not E[v == 3]
              within 3ms  on timeout emit k = a.k }
rule loose { pattern a = E[w > 1.5] ->> b = E[v in [2, 3]] within 5ms skip none }
rule climb { partition by k
             pattern a = E[v == 1] -> b = E[count(b) == 0 or v >= last(b).v]{2,}
                     -> c = E[w > a.w or v < avg(b.v)]
             where sum(b.v) > 3  within 5ms }
rule scaled { partition by k
              pattern a = E[v * 2 > 3 and (not exists(w) or w < v)] -> b = E[abs(v - 2) == 1]
              within 4ms }
rule worded { pattern a = E[startswith(k, "a") and round(v / 2) == 1]
                      -> b = E[len(k) == 1 and coalesce(w, 0) > 1] within 4ms }
"""


@st.composite
def _lines(draw: st.DrawFn) -> list[str]:
    out = []
    ts = 0
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 9))
        ts += draw(st.integers(-1, 2))
        if kind == 0:
            out.append(draw(st.sampled_from(["{bad json", "[1, 2]", '{"type": "E"}'])))
            continue
        record = {"type": "E", "ts": max(ts, 0), "k": draw(st.sampled_from(["a", "b"]))}
        record["v"] = draw(st.integers(1, 3)) if kind != 1 else "x"
        if draw(st.booleans()):
            record["w"] = draw(st.sampled_from([1, 2.5, 1.0]))
        out.append(json.dumps(record))
    return out


@settings(max_examples=120, deadline=None)
@given(_lines(), st.booleans(), st.sampled_from([1, 3, 64]))
def test_random_feeds_report_the_same(lines: list[str], flush: bool, size: int) -> None:
    """Random feeds (bad lines, late events, missing fields): identical reports."""
    checked = check_sources({"r.cep": RULES})
    rules = load_rules(checked)
    assert all(fast_path_refusal(r) is None for r in rules)
    assert _compiled(checked, rules, lines, flush, size) == _interpreted(
        checked, rules, lines, flush
    )


@st.composite
def _shuffled_lines(draw: st.DrawFn) -> list[str]:
    """Lines whose times go back by up to 6 ms (some within an allowed delay, some not)."""
    lines = draw(_lines())
    out = []
    for line in lines:
        record = json.loads(line) if line.startswith('{"type": "E", "ts"') else None
        if record is not None and draw(st.integers(0, 3)) == 0:
            record["ts"] = max(record["ts"] - draw(st.integers(1, 6)), 0)
            line = json.dumps(record)
        out.append(line)
    return out


@settings(max_examples=150, deadline=None)
@given(
    _shuffled_lines(),
    st.booleans(),
    st.sampled_from([1, 3, 64]),
    st.sampled_from([1, 2, 5]),
    st.sampled_from([None, ["loose"], ["loose", "worded"]]),
)
def test_an_allowed_delay_reorders_as_the_interpreter_does(
    lines: list[str], flush: bool, size: int, delay: int, names: list[str] | None
) -> None:
    """Out-of-order feeds with an allowed delay: events held across batches and matched
    in time order, late ones rejected, exactly as the interpreter does (rules that skip
    events no term accepts: only the others are held)."""
    checked = check_sources({"r.cep": RULES})
    rules = load_rules(checked, names)
    expected = _interpreted(checked, rules, lines, flush, delay)
    assert _compiled(checked, rules, lines, flush, size, delay=delay) == expected


COMPILED_TERMS = """
event E { k: str, v: int, u: int }
rule apart { partition by k  pattern a = E[v != u] -> b = E[v * 2 > u + 1] within 4ms }
"""


def _feed(rows: list[tuple[int, str, int, int]]) -> list[str]:
    return [json.dumps({"type": "E", "ts": ts, "k": k, "v": v, "u": u}) for ts, k, v, u in rows]


def test_term_conditions_outside_numpys_family_run_compiled(monkeypatch) -> None:
    """A run-independent condition NumPy cannot test (two fields, arithmetic) is a
    compiled program over the batch: the interpreter's own test is never called, and
    the reports are the interpreter's."""
    checked = check_sources({"r.cep": COMPILED_TERMS})
    (rule,) = load_rules(checked)
    lines = _feed([(0, "a", 1, 2), (1, "a", 3, 3), (2, "a", 4, 1), (3, "b", 2, 1), (4, "b", 3, 3)])
    expected = _interpreted(checked, [rule], lines, flush=True)
    assert len(expected[0]) == 2

    def refuse(event, path):
        raise AssertionError("the interpreter's term test was called")

    for term in rule.terms:
        monkeypatch.setattr(term, "test", refuse)
    assert _compiled(checked, [rule], lines, flush=True, size=2) == expected


def test_integers_beyond_float64s_exact_ones_are_tested_by_the_interpreter() -> None:
    """Term programs compute in float64: where a batch holds an integer it cannot hold
    exactly, that term is tested the interpreter's way (2**53 and 2**53 + 1 differ)."""
    checked = check_sources({"r.cep": COMPILED_TERMS})
    (rule,) = load_rules(checked)
    big = 2**53
    lines = _feed([(0, "a", big, big + 1), (1, "a", big + 1, big + 1), (2, "a", big, 1)])
    expected = _interpreted(checked, [rule], lines, flush=True)
    assert [m["events"]["a"]["ts"] for m in expected[0]] == [0]
    assert _compiled(checked, [rule], lines, flush=True, size=64) == expected


def test_a_condition_on_one_field_is_worked_out_once_per_distinct_value() -> None:
    """A term condition no program compiles (`startswith`, `round`) that reads one field:
    the interpreter's test runs once per distinct value of that field, then the batch's
    events look it up; an event without the field is tested as such."""
    checked = check_sources(
        {"r.cep": 'event E { k: str, v: int? }\nrule r { pattern a = E[startswith(k, "a")]'
         " -> b = E[round(v / 2) == 1] }"}
    )  # fmt: skip
    (rule,) = load_rules(checked)
    run = ColumnarRun([rule], checked.schemas)
    assert run.engine.rules[0].tests[0] is not None
    rows = [("ab", 1), ("b", 2), ("ab", 3), ("a", None), ("b", 2), ("ab", 9)]
    lines = [json.dumps({"type": "E", "ts": t, "k": k, **({} if v is None else {"v": v})})
             for t, (k, v) in enumerate(rows)]  # fmt: skip
    source = io.BytesIO("".join(line + "\n" for line in lines).encode())
    expected = _interpreted(checked, [rule], lines, flush=True)
    from cep.fast import vector

    calls: list = []
    holds = vector.ValueTruths.holds

    def counting(self, value):  # type: ignore[no-untyped-def]
        calls.append((self.name, value))
        return holds(self, value)

    vector.ValueTruths.holds = counting  # type: ignore[method-assign]
    try:
        reports = []
        for batch in read_jsonl_batches(
            source, fields=run.fields(), validator=Validator(checked.schemas), batch_size=64
        ):
            reports.extend(run.run(batch))
        reports.extend(run.finish(flush=True))
    finally:
        vector.ValueTruths.holds = holds  # type: ignore[method-assign]
    assert [m.to_dict() for m in reports] == expected[0]
    assert len(expected[0]) == 2
    by_field = {name: sorted(map(str, (v for n, v in calls if n == name))) for name, _ in calls}
    assert by_field == {"k": ["None", "a", "ab", "b"], "v": ["1", "2", "3", "9", "None"]}


def test_values_of_another_kind_than_the_columns_are_tested_as_they_are() -> None:
    """A field declared as text for one event type holds numbers in an undeclared one:
    those values (kept beside the text column) get the interpreter's own test too."""
    checked = check_sources(
        {"r.cep": "event E { k: str }\nrule r { pattern a = F[coalesce(k, 0) == 5 or len(k) == 2]"
         ' -> b = E[startswith(k, "a")] within 5ms }'}
    )  # fmt: skip
    (rule,) = load_rules(checked)
    rows = [("F", 5), ("E", "ab"), ("F", "xy"), ("F", None), ("E", "ac"), ("F", 6), ("E", "a")]
    lines = [json.dumps({"type": t, "ts": ts, **({} if k is None else {"k": k})})
             for ts, (t, k) in enumerate(rows)]  # fmt: skip
    expected = _interpreted(checked, [rule], lines, flush=True)
    assert [m["events"]["a"]["ts"] for m in expected[0]] == [0, 2]
    assert _compiled(checked, [rule], lines, flush=True, size=64) == expected


def test_fields_asked_for_are_typed_from_the_schema() -> None:
    """The reader is asked only for the fields the rules read, typed as declared: the
    term test's `status`, the key's `user`, and, when reports are written as text (as
    `cep run` does), `amount` for `emit`'s `sum(f.amount)` (computed by the kernel)."""
    checked = check_paths(["rules/payments.cep"])
    (rule,) = load_rules(checked, ["three_failed_payments"])
    assert ColumnarRun([rule], checked.schemas).fields() == {"status": "str", "user": "str"}
    assert ColumnarRun([rule], checked.schemas, as_text=True).fields() == {
        "amount": "float",
        "status": "str",
        "user": "str",
    }


def test_rules_that_look_at_the_run_read_the_fields_they_compare() -> None:
    """Fields of earlier events read by a run-dependent condition are decoded too (and,
    for reports written as text, those `emit` reads: `amount`)."""
    checked = check_paths(["rules/payments.cep"])
    (rule,) = load_rules(checked, ["impossible_travel"])
    assert fast_path_refusal(rule) is None
    assert ColumnarRun([rule], checked.schemas, as_text=True).fields() == {
        "amount": "float",
        "country": "str",
        "status": "str",
        "user": "str",
    }


def test_cep_run_engine_fast_writes_what_the_interpreter_writes(tmp_path, capsys) -> None:
    """`cep run --engine fast` on the example feed: the same records, the same summary."""
    from cep.cli import main

    outputs = {}
    for engine in ("interpreter", "fast"):
        out = tmp_path / f"{engine}.jsonl"
        rejects = tmp_path / f"{engine}.rejects"
        code = main(
            ["run", "rules/payments.cep", "--rule", "three_failed_payments", "--input",
             "examples/payments.jsonl", "--output", str(out), "--rejects", str(rejects),
             "--engine", engine, "--flush"]
        )  # fmt: skip
        assert code == 0
        outputs[engine] = (_reports(out.read_text()), rejects.read_text(), capsys.readouterr().err)
    assert outputs["fast"] == outputs["interpreter"]
    assert len(outputs["fast"][0]) == 8


def test_cep_run_engine_fast_runs_every_payment_rule(tmp_path, capsys) -> None:
    """All eight payment rules (running totals, `where`, comparisons with earlier
    events) on the example feed: `--engine fast` writes what the interpreter writes."""
    from cep.cli import main

    outputs = {}
    for engine in ("interpreter", "fast"):
        out = tmp_path / f"{engine}.jsonl"
        code = main(
            ["run", "rules/payments.cep", "--input", "examples/payments.jsonl", "--output",
             str(out), "--engine", engine, "--flush"]
        )  # fmt: skip
        assert code == 0
        outputs[engine] = (_reports(out.read_text()), capsys.readouterr().err)
    assert outputs["fast"] == outputs["interpreter"]
    assert {report["rule"] for report in outputs["fast"][0]} >= {
        "payment_velocity",
        "impossible_travel",
    }


def test_cep_run_engine_fast_refuses_rules_it_cannot_compile(tmp_path, capsys) -> None:
    """A condition outside the compiled family: exit 2, the rule and the reason named."""
    from cep.cli import main

    rules = tmp_path / "r.cep"
    rules.write_text("event E { s: str }\nrule r { pattern a = E -> b = E[s =~ a.s] within 1m }\n")
    code = main(["run", str(rules), "--engine", "fast", "--input", "/dev/null"])
    assert code == 2
    assert "rule r cannot run compiled: a condition on earlier events uses `s =~ a.s`" in (
        capsys.readouterr().err
    )


@settings(max_examples=60, deadline=None)
@given(_lines(), st.booleans(), st.booleans(), st.sampled_from(["history", "lent lines"]))
def test_compaction_changes_no_report(lines: list[str], flush: bool, hold: bool, why: str) -> None:
    """Dropping history that no run needs, after every batch, changes nothing, also for
    reports first looked at after later batches renumbered the rule's events (`hold`);
    so does copying the kept lines out of their batches (`TextTable.settle`) whenever a
    batch was lent (with a compaction when the history has doubled since the last)."""
    import cep.fast.rule as fast_rule

    checked = check_sources({"r.cep": RULES})
    rules = load_rules(checked)
    saved = fast_rule.COMPACT_AT, fast_rule.LEND_LIMIT
    if why == "history":
        fast_rule.COMPACT_AT = 1
    else:
        fast_rule.LEND_LIMIT = 0
    try:
        compiled = _compiled(checked, rules, lines, flush, 2, hold)
    finally:
        fast_rule.COMPACT_AT, fast_rule.LEND_LIMIT = saved
    assert compiled == _interpreted(checked, rules, lines, flush)


def test_batches_of_several_readers_in_one_run() -> None:
    """Batches from several readers (each codes strings with its own dictionary) go
    through one run: partitions and string comparisons by the strings, not the codes."""
    checked = check_sources(
        {
            "r.cep": RULES
            + "rule same { pattern a = E[v == 1] -> b = E[v == 2 and k == a.k] within 1h }"
        }
    )
    rules = load_rules(checked, ["seq", "strict", "same"])
    lines = [
        json.dumps({"type": "E", "ts": t, "k": k, "v": v, "w": 2.0})
        for t, (k, v) in enumerate([("x", 1), ("y", 1), ("y", 2), ("x", 2), ("y", 2), ("x", 3)])
    ]
    run = ColumnarRun(rules, checked.schemas)
    compiled = []
    for part in (lines[:2], lines[2:4], lines[4:]):  # a reader each: "y" first in the second
        source = io.BytesIO("".join(line + "\n" for line in part).encode())
        for batch in read_jsonl_batches(
            source, fields=run.fields(), validator=Validator(checked.schemas)
        ):
            compiled += [m.to_dict() for m in run.run(batch)]
    compiled += [m.to_dict() for m in run.finish()]
    expected = _interpreted(checked, rules, lines, flush=False)[0]
    assert len(expected) >= 3
    assert compiled == expected


def test_batches_lent_for_kept_lines_are_let_go() -> None:
    """The kept events' lines are not copied but held in their batches, and only up to
    `LEND_LIMIT` bytes of batches: past it the lines still needed are copied and the
    batches let go; reports read long after are unchanged."""
    import cep.fast.rule as fast_rule

    checked = check_sources({"r.cep": RULES})
    rules = load_rules(checked, ["seq"])
    lines = [
        json.dumps({"type": "E", "ts": i, "k": "ab"[(i // 3) % 2], "v": 1 + i % 3})
        for i in range(20_000)
    ]
    saved = fast_rule.LEND_LIMIT
    fast_rule.LEND_LIMIT = 50_000
    try:
        run = ColumnarRun(rules, checked.schemas)
        table = run.engine.rules[0]._record_texts
        source = io.BytesIO("".join(line + "\n" for line in lines).encode())
        held, lent = [], []
        for batch in read_jsonl_batches(
            source, fields=run.fields(), validator=Validator(checked.schemas), batch_size=500
        ):
            held.append(run.run(batch))
            lent.append((len(table.lent), table.lent_bytes))
        held.append(run.finish())
    finally:
        fast_rule.LEND_LIMIT = saved
    batch_bytes = len("".join(line + "\n" for line in lines[:500]))
    assert max(count for count, _ in lent) >= 2  # lines were lent across batches
    assert all(size <= 50_000 + batch_bytes for _, size in lent), lent
    assert min(size for _, size in lent) == 0  # and let go again
    compiled = [m.to_dict() for reports in held for m in reports]
    assert len(compiled) > 1_000
    assert compiled == _interpreted(checked, rules, lines, flush=False)[0]


def test_a_batchs_reports_are_a_sequence_made_when_read() -> None:
    """`run` gives the reports as a sequence in release order: each made once, when
    first read; its events are rebuilt from their lines as read."""
    checked = check_sources({"r.cep": RULES})
    rules = load_rules(checked, ["seq", "loose"])
    lines = [
        json.dumps({"type": "E", "ts": t, "k": "ab"[t % 2], "v": v, "w": 2.5})
        for t, v in enumerate([1, 1, 2, 3, 2, 3, 2, 1, 3, 2])
    ]
    lines[4] = lines[4].replace(", ", ",  ")  # a line kept as it was written
    run = ColumnarRun(rules, checked.schemas)
    source = io.BytesIO("".join(line + "\n" for line in lines).encode())
    (batch,) = read_jsonl_batches(
        source, fields=run.fields(), validator=Validator(checked.schemas), batch_size=64
    )
    reports = run.run(batch)
    expected, _ = _interpreted(checked, rules, lines, flush=False)
    assert len(reports) == len(expected) > 3
    assert [m.to_dict() for m in reports] == expected
    assert reports[1] is reports[1] and reports[-1] is reports[len(reports) - 1]
    assert reports[1:3] == [reports[1], reports[2]] and reports == list(reports)
    with pytest.raises(IndexError):
        reports[len(reports)]
    kept = [e for m in reports for e in m.events.values() if not isinstance(e, list)]
    kept += [e for m in reports for v in m.events.values() if isinstance(v, list) for e in v]
    assert {(e.line, e.text) for e in kept} >= {(5, lines[4])}
    assert all(e.text == lines[e.line - 1] for e in kept)


def test_history_stays_bounded_by_live_state() -> None:
    """Over a long feed whose live state is small, the kernel's stores do not grow."""
    import cep.fast.rule as fast_rule
    from cep.fast import tables
    from cep.runtime.event import Event

    checked = check_sources({"r.cep": RULES})
    rules = load_rules(checked, ["seq"])
    saved = fast_rule.COMPACT_AT
    fast_rule.COMPACT_AT = 2_000
    try:
        engine = FastEngine(rules, batch_size=1_000)
        sizes = []
        for i in range(40_000):
            engine.push(Event("E", i, {"k": "ab"[(i // 3) % 2], "v": 1 + i % 3}))
            if i % 10_000 == 9_999:
                state = engine.rules[0].state
                used = (state.count(tables.S_EVENTS), state.count(tables.S_CELLS))
                room = (len(state.tables.e_ts), len(state.tables.c_ev))
                sizes.append((*used, *room))
    finally:
        fast_rule.COMPACT_AT = saved
    assert engine.stats().matches > 10_000
    # rows in use and the tables' room alike
    assert all(max(size) < 10_000 for size in sizes), sizes


def _both_engines(path, tmp_path, capsys) -> list[tuple[list, str]]:
    """`cep run` of three_failed_payments on `path` with each engine: (reports, stderr)."""
    from cep.cli import main

    outputs = []
    for engine in ("interpreter", "fast"):
        out = tmp_path / f"{engine}.jsonl"
        code = main(
            ["run", "rules/payments.cep", "--rule", "three_failed_payments", "--input",
             str(path), "--output", str(out), "--engine", engine]
        )  # fmt: skip
        err = capsys.readouterr().err
        assert code == 0, err
        outputs.append((_reports(out.read_text()), err))
    return outputs


def test_parquet_input_on_both_engines(tmp_path, capsys) -> None:
    """`cep run` reads Parquet (each row the record of its cells) with either engine, and
    both write the same records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open("examples/payments.jsonl", encoding="utf-8") as feed:
        records = [json.loads(line) for line in feed]
    path = tmp_path / "payments.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    outputs = _both_engines(path, tmp_path, capsys)
    assert outputs[0] == outputs[1]
    assert len(outputs[0][0]) == 8
    assert "read 9305 records: 9305 events accepted, 0 rejected" in outputs[0][1]


def test_parquet_cells_of_any_type_are_written_as_the_interpreter_writes_them(
    tmp_path, capsys
) -> None:
    """Matched Parquet rows keep cells JSON has no type for (dates, lists, timestamps)
    written the same way on both engines: dates as text, timestamps as epoch ms."""
    import datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    with open("examples/payments.jsonl", encoding="utf-8") as feed:
        records = [json.loads(line) for line in feed]
    for i, record in enumerate(records):
        record["day"] = datetime.date(2024, 1, 1 + i % 28)
        record["tags"] = ["a", str(i)] if i % 3 else None
        record["seen"] = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    path = tmp_path / "payments.parquet"
    table = pa.Table.from_pylist(records)
    table = table.set_column(
        table.schema.get_field_index("seen"), "seen", table["seen"].cast(pa.timestamp("ms"))
    )
    pq.write_table(table, path)
    (interpreted, _), (compiled, _) = _both_engines(path, tmp_path, capsys)
    assert interpreted == compiled
    first = compiled[0]["events"]["f"][0]
    assert first["day"].startswith("2024-01-")
    assert first["seen"] == 1704067200000


def test_engine_auto_falls_back_to_the_interpreter(tmp_path, capsys) -> None:
    """`--engine auto` runs rules it cannot compile on the interpreter instead of failing."""
    from cep.cli import main

    out = tmp_path / "out.jsonl"
    code = main(
        ["run", "rules/payments.cep", "--input", "examples/payments.jsonl", "--output",
         str(out), "--engine", "auto", "--quiet"]
    )  # fmt: skip
    assert code == 0
    rules = [report["rule"] for report in _reports(out.read_text())]
    assert rules.count("payment_velocity") == 5


def test_fast_path_streams_from_standard_input() -> None:
    """With `--input -`, a match comes out while standard input is still open."""
    import select
    import subprocess
    import sys

    command = [sys.executable, "-m", "cep.cli", "run", "rules/payments.cep", "--rule",
               "three_failed_payments", "--engine", "fast", "--input", "-", "--quiet"]  # fmt: skip
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    try:
        for i in range(3):
            record = {"type": "Payment", "ts": i * 1000, "user": "u1", "amount": 5.0,
                      "status": "failed", "country": "US"}  # fmt: skip
            child.stdin.write(json.dumps(record) + "\n")
        child.stdin.flush()
        ready, _, _ = select.select([child.stdout], [], [], 120)
        assert ready, "no match before standard input was closed"
        assert json.loads(child.stdout.readline())["rule"] == "three_failed_payments"
    finally:
        child.stdin.close()
        child.wait(timeout=120)


MIXED = (
    RULES
    + """
rule rising { partition by k  pattern b = E[count(b) == 0 or v > last(b).v]{2,} within 4ms
              on timeout emit k = b[0].k, n = count(b) }
"""
)


@settings(max_examples=40, deadline=None)
@given(_shuffled_lines(), st.booleans(), st.sampled_from(["0s", "2ms"]))
def test_mixed_runs_report_as_the_interpreter(lines: list[str], flush: bool, delay: str) -> None:
    """`--engine auto` with a rule the fast path cannot run: the compiled rules on the
    kernel, that one on the interpreter, output identical to the interpreter's (with an
    allowed delay too: the interpreter's rule takes the events the fast path releases)."""
    import tempfile
    from pathlib import Path

    from cep.cli import main

    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        (base / "r.cep").write_text(MIXED)
        (base / "in.jsonl").write_text("".join(line + "\n" for line in lines))
        outputs = []
        for engine in ("interpreter", "auto", "fast"):
            if engine == "fast":
                (base / "r.cep").write_text(RULES)
            out = base / f"{engine}.jsonl"
            rejected = base / f"{engine}.rejects"
            argv = ["run", str(base / "r.cep"), "--input", str(base / "in.jsonl"),
                    "--output", str(out), "--rejects", str(rejected), "--engine", engine,
                    "--allowed-delay", delay, "--quiet"]  # fmt: skip
            assert main([*argv, "--flush"] if flush else argv) == 0
            outputs.append((_reports(out.read_text()), rejected.read_text()))
    assert outputs[1] == outputs[0]
    # the compiled rules alone: the same rejects, in line order
    assert outputs[2][1] == outputs[0][1]


def test_csv_input_on_both_engines(tmp_path, capsys) -> None:
    """`cep run --engine fast` reads CSV (quoted cells, a cell over two lines, bad rows)
    and writes what the interpreter writes, rejects included."""
    from cep.cli import main

    rules = tmp_path / "r.cep"
    rules.write_text(
        "event E { k: str, v: int, note: str? }\n"
        "rule r { partition by k  pattern a = E[v == 1] -> b = E[v > a.v and note != a.note]"
        "  within 10ms  emit k = a.k, note = b.note }\n"
    )
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "type,ts,k,v,note\n"
        'E,1,a,1,"x, y"\n'
        "E,2,a,2,plain\n"
        'E,3,b,1,"two\nlines"\n'
        "E,4,b,x,bad\n"
        "E,5,b,3,\n"
        "E,6,a,1\n"
        'E,7,b,2,"a ""quoted"" word"\n'
    )
    outputs = []
    for engine in ("interpreter", "fast"):
        out, rejected = tmp_path / f"{engine}.jsonl", tmp_path / f"{engine}.rejects"
        code = main(
            ["run", str(rules), "--input", str(feed), "--output", str(out), "--rejects",
             str(rejected), "--engine", engine, "--flush"]
        )  # fmt: skip
        assert code == 0
        outputs.append((_reports(out.read_text()), rejected.read_text(), capsys.readouterr().err))
    assert outputs[0] == outputs[1]
    assert [report["fields"]["note"] for report in outputs[1][0]] == [
        "plain",
        'a "quoted" word',
    ]
    assert outputs[1][1].count("\n") == 2


MIXED_PAYMENTS = """
rule richer { partition by country
              pattern a = Payment[amount > 50] -> b = Payment[user < a.user] within 10s }
"""


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("delay", ["0s", "5s"])
def test_mixed_runs_read_every_format(tmp_path, capsys, fmt: str, delay: str) -> None:
    """`--engine auto` with a rule only the interpreter runs (an order between two text
    fields of two events), over JSON lines, CSV and Parquet, in order and (with a delay)
    out of order: the interpreted rule's events are rebuilt as each format reads them,
    and the output, rejects and summary are the interpreter's."""
    import random

    import pyarrow as pa
    import pyarrow.parquet as pq

    from cep.cli import main

    rules = tmp_path / "r.cep"
    with open("rules/payments.cep", encoding="utf-8") as library:
        rules.write_text(library.read() + MIXED_PAYMENTS)
    with open("examples/payments.jsonl", encoding="utf-8") as feed:
        records = [json.loads(line) for line in feed][:1500]
    if delay != "0s":  # each event up to 2 s late, those of one time together
        late = random.Random(5)
        lateness = {ts: late.uniform(0, 2000) for ts in {r["ts"] for r in records}}
        records.sort(key=lambda r: r["ts"] + lateness[r["ts"]])
    feed = tmp_path / f"feed.{fmt}"
    if fmt == "jsonl":
        feed.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif fmt == "csv":
        names = list(records[0])
        rows = [",".join(names)] + [",".join(str(r.get(n, "")) for n in names) for r in records]
        feed.write_text("".join(row + "\n" for row in rows))
    else:
        pq.write_table(pa.Table.from_pylist(records), feed, row_group_size=400)
    outputs = []
    for engine in ("interpreter", "auto"):
        out, rejected = tmp_path / f"{engine}.jsonl", tmp_path / f"{engine}.rejects"
        code = main(
            ["run", str(rules), "--input", str(feed), "--output", str(out), "--rejects",
             str(rejected), "--engine", engine, "--allowed-delay", delay]
        )  # fmt: skip
        err = capsys.readouterr().err
        assert code == 0, err
        outputs.append((_reports(out.read_text()), rejected.read_text(), err))
    assert outputs[1] == outputs[0]
    assert "richer" in {report["rule"] for report in outputs[0][0]}


def test_parquet_batches_prepared_ahead_report_the_same(tmp_path, monkeypatch) -> None:
    """`ColumnarRun.prepare` on the reader's thread (what `cep run` does for Parquet) makes
    the record texts of the events some term accepts before a batch is matched; the
    report lines are those of a run left to make them itself, and the interpreter's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cep.io.batch import Batch
    from cep.io.columnar import read_parquet_batches

    with open("examples/payments.jsonl", encoding="utf-8") as feed:
        lines = feed.read().splitlines()
    path = tmp_path / "payments.parquet"
    pq.write_table(pa.Table.from_pylist([json.loads(line) for line in lines]), path)
    checked = check_paths(["rules/payments.cep"])
    rules = load_rules(checked, ["three_failed_payments"])  # accepts failed payments only
    made_ahead: list[int] = []
    make = Batch.make_record_pieces

    def counted(batch: Batch, rows) -> None:
        made_ahead.append(len(rows))
        make(batch, rows)

    monkeypatch.setattr(Batch, "make_record_pieces", counted)

    def report_lines(ahead: bool) -> list[str]:
        run = ColumnarRun(rules, checked.schemas, as_text=True)
        batches = read_parquet_batches(
            path,
            fields=run.fields(),
            validator=Validator(checked.schemas),
            batch_size=150,
            prepare=run.prepare if ahead else None,
        )
        out = [line for batch in batches for line in run.run(batch)]
        return out + run.finish(flush=True)

    expected = report_lines(ahead=False)
    assert not made_ahead
    got = report_lines(ahead=True)
    assert len(made_ahead) == len(lines) // 150  # every batch but the first
    assert all(rows <= 150 // 4 for rows in made_ahead) and sum(made_ahead) > 0
    assert got == expected
    interpreted, _ = _interpreted(checked, rules, lines, flush=True)
    assert [json.loads(line) for line in got] == interpreted


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(
                st.sampled_from([0, 1]),
                st.lists(st.sampled_from("abcdefg"), max_size=5),
                st.lists(st.sampled_from("abcdefgh"), max_size=3),
            ),
            st.tuples(
                st.just(None),
                st.lists(st.sampled_from(["a", "c", "z", 3]), max_size=2),
                st.just([]),
            ),
        ),
        max_size=12,
    )
)
def test_partition_keys_number_keys_from_dictionaries_and_elsewhere_alike(steps: list) -> None:
    """Keys numbered from one reader's dictionary in bulk, from a second dictionary that
    repeats strings, and one at a time (`code`) get the codes a plain mapping in order of
    first use gives, and each code gives its key back. (A dictionary also holds strings
    that are no key: those of events no term accepts.)"""
    keys = PartitionKeys()
    oracle: dict = {}
    dictionaries = [Dictionary(), Dictionary()]
    numbered: list[set[int]] = [set(), set()]  # each dictionary's codes with a partition
    for which, values, others in steps:
        if which is None:
            got = [keys.code(value) for value in values]
        else:
            dictionary = dictionaries[which]
            dictionary.encode(others)
            codes = dictionary.encode(values).tolist()
            new = [c for c in dict.fromkeys(codes) if c not in numbered[which]]
            numbered[which].update(new)
            made = keys.from_dictionary(dictionary, np.array(new, np.int64)).tolist()
            got = [made[new.index(c)] if c in new else oracle[dictionary[c]] for c in codes]
        expected = [oracle.setdefault(value, len(oracle)) for value in values]
        assert got == expected
        assert len(keys) == len(oracle)
        assert [keys[code] for code in range(len(keys))] == list(oracle)
