"""Running `test` blocks: a rule over exactly the given events, on a virtual clock.

A test passes when the rule reports exactly the expected records, in order:

- `expect RULE {fields} [at T]` is one match whose fields include those given (and
  whose report time is `T`);
- `expect timeout RULE {fields} at T` is one timeout report; timeouts are compared only
  when the test has an `expect timeout` line;
- `expect no RULE`: the rule reports nothing (no matches, no timeouts);
- `expect N RULE`: exactly N matches.

Times in a test are durations from 0 (`20s`), epoch milliseconds, or ISO-8601 strings.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from cep.compile.rule import CompiledRule, compile_rule
from cep.engine import EngineOptions, InterpreterEngine
from cep.io.time import event_ms, parse_time
from cep.io.validation import TOO_DEEP, Validator, too_deep_value
from cep.lang import ast
from cep.lang.checker import CheckedProgram
from cep.lang.printer import format_expect
from cep.lang.program import ConstInfo, constant_value
from cep.runtime.event import Event
from cep.runtime.match import Match, json_value
from cep.runtime.trace import RunTracer, show_time


@dataclass
class Expected:
    """One record an `expect` line asks for."""

    kind: str  # "match" | "timeout"
    fields: dict[str, Any]
    at: int | None
    text: str


@dataclass
class TestOutcome:
    """The result of one test block."""

    __test__ = False  # not a pytest test class

    test_id: str
    passed: bool = False
    message: str = ""
    reports: list[Match] = field(default_factory=list)


def test_name(description: str | None, line: int) -> str:
    """A test's name: its description, or `line N` when it has none."""
    return description or f"line {line}"


def test_id(path: str, test: ast.TestDecl) -> str:
    """`rules/payments.cep::three_failed_payments::fires on the third failure`."""
    return f"{path}::{test.rule}::{test_name(test.description, test.span.line)}"


test_name.__test__ = False  # type: ignore[attr-defined]
test_id.__test__ = False  # type: ignore[attr-defined]


class TestRunner:
    """Runs the tests of a checked program (which must have no errors)."""

    __test__ = False  # not a pytest test class

    def __init__(self, program: CheckedProgram, time_unit: str = "ms") -> None:
        self.program = program
        self.time_unit = time_unit  # (of bare numbers given as times: `cep test --time-unit`)
        self.validator = Validator(program.schemas)
        self._compiled: dict[str, CompiledRule] = {}

    def rule(self, name: str) -> CompiledRule:
        compiled = self._compiled.get(name)
        if compiled is None:
            checked = self.program.rules[name]
            compiled = self._compiled[name] = compile_rule(checked, self.program.schemas)
        return compiled

    def run(self, path: str, test: ast.TestDecl) -> TestOutcome:
        consts = self.program.program.files[path].consts
        outcome = TestOutcome(test_id(path, test))
        rule = self.rule(test.rule)
        try:
            events = [self._event(literal, consts) for literal in test.given]
        except ValueError as error:  # an event the engines cannot take: the test fails
            outcome.message = str(error)
            return outcome
        delay = 0
        if test.allowed_delay is not None:
            delay = int(constant_value(test.allowed_delay, consts)[0])  # type: ignore[arg-type]
        # the interpreter: the reference, and the engine whose runs a trace can follow
        engine = InterpreterEngine(
            [rule], self.program.schemas, EngineOptions(allowed_delay_ms=delay)
        )
        tracer = RunTracer(rule)
        tracer.attach(engine.matchers[0])
        reports = engine.feed_events(events)
        reports.extend(engine.finish(flush=test.flush))
        tracer.finish(engine.matchers[0])
        outcome.reports = reports
        problems = compare(test, reports, consts, self.time_unit)
        outcome.passed = not problems
        if problems:
            problems.insert(0, f"rule {test.rule} ({rule.file}), {len(events)} given events")
            if _missing(test, reports, consts):
                closest = tracer.closest()
                if closest is None:
                    problems.append(
                        "no run started: no given event satisfied the first term "
                        "(with its partition key present)"
                    )
                else:

                    def later(ts: int) -> Event | None:
                        return next((e for e in events if e.ts >= ts), None)

                    problems.append("closest run: " + tracer.describe(closest, later))
        outcome.message = "\n".join(problems)
        return outcome

    def _event(self, literal: ast.EventLiteral, consts: dict[str, ConstInfo]) -> Event:
        record: dict[str, Any] = {"type": literal.event_type}
        for name, expr in literal.fields.fields:
            record[name] = constant_value(expr, consts)[0]
        ts_expr = dict(literal.fields.fields)["ts"]
        record["ts"] = ts = test_time(record["ts"], _unit_of(ts_expr, consts, self.time_unit))
        if too_deep_value(record):
            raise ValueError(f"{literal.span.location}: invalid event: {TOO_DEEP}")
        typed, reason = self.validator.validate(literal.event_type, record)
        if typed is None:
            raise ValueError(f"{literal.span.location}: invalid event: {reason}")
        return Event(literal.event_type, ts, typed)


def test_time(value: Any, unit: str = "ms") -> int:
    """A time in a test: a duration from 0 or epoch ms (int; a bare number in `unit`
    where `_unit_of` says so), or an ISO-8601 string."""
    if unit != "ms" and isinstance(value, int | float) and not isinstance(value, bool):
        ms = event_ms(value, unit)
        if ms is None:
            raise ValueError(f"{value!r} is not a time in {unit}")
        return ms
    return value if isinstance(value, int) else parse_time(value)


def _unit_of(expr: ast.Expr, consts: dict[str, ConstInfo], unit: str) -> str:
    """The unit a test time is read in: `unit` for a bare number (`ts: 1700000000`),
    milliseconds for a duration (`ts: 20s`), which carries its own."""
    return unit if constant_value(expr, consts)[1].kind in ("int", "float") else "ms"


def expectations(
    test: ast.TestDecl, consts: dict[str, ConstInfo], unit: str = "ms"
) -> tuple[list[Expected], list[int], bool, bool]:
    """(records expected, exact counts, `expect no`, whether timeouts are compared)."""
    records: list[Expected] = []
    counts: list[int] = []
    nothing = False
    for expect in test.expects:
        if expect.kind == "none":
            nothing = True
        elif expect.kind == "count":
            assert expect.count is not None
            counts.append(expect.count)
        else:
            fields = {}
            if expect.fields is not None:
                fields = {k: constant_value(v, consts)[0] for k, v in expect.fields.fields}
            at = None
            if expect.at is not None:
                at_value = constant_value(expect.at, consts)[0]
                at = test_time(at_value, _unit_of(expect.at, consts, unit))
            text = format_expect(expect).removeprefix("expect ")
            records.append(Expected(expect.kind, fields, at, text))
    timeouts = any(r.kind == "timeout" for r in records)
    return records, counts, nothing, timeouts


def compare(
    test: ast.TestDecl, reports: list[Match], consts: dict[str, ConstInfo], unit: str = "ms"
) -> list[str]:
    """What differs between the reports and the test's expectations (empty: it passed)."""
    records, counts, nothing, timeouts = expectations(test, consts, unit)
    problems: list[str] = []
    matches = [r for r in reports if r.kind == "match"]
    if nothing and reports:
        problems.append(f"expected no report from {test.rule}, got {len(reports)}:")
        problems.extend("  got " + describe(r) for r in reports)
        return problems
    for count in counts:
        if len(matches) != count:
            noun = "match" if count == 1 else "matches"
            problems.append(f"expected {count} {noun} of {test.rule}, got {len(matches)}")
    compared = [r for r in reports if timeouts or r.kind == "match"]
    if records and not all_agree(records, compared):
        problems.append("expected reports, in order, next to what was reported:")
        problems.extend(side_by_sides(records, compared))
    elif problems:
        problems.append("reported:")
        problems.extend("  " + describe(r) for r in reports)
        if not reports:
            problems.append("  (nothing)")
    return problems


def _missing(test: ast.TestDecl, reports: list[Match], consts: dict[str, ConstInfo]) -> bool:
    """Whether the test expected more matches than it got (then the trace helps)."""
    records, counts, _, _ = expectations(test, consts)
    matches = sum(1 for r in reports if r.kind == "match")
    wanted = max([sum(1 for r in records if r.kind == "match"), *counts])
    return matches < wanted


def side_by_side(number: int, want: Expected | None, got: Match | None) -> list[str]:
    """An expected record above the reported one, fields aligned, differences marked."""
    ok = want is not None and got is not None and agrees(want, got)
    mark = " " if ok else "!"
    if want is None:
        return [f"{mark} {number}. expected (nothing)", f"{mark}    got      {describe(got)}"]  # type: ignore[arg-type]
    if got is None:
        return [f"{mark} {number}. expected {want.text}", f"{mark}    got      (nothing)"]
    fields = json_value(got.fields)
    names = list(want.fields)
    cells_want, cells_got, flags = [], [], []
    for name in names:
        expected_text = f"{name}: {_show(want.fields[name])}"
        actual_text = f"{name}: {_show(fields[name])}" if name in fields else f"{name}: (absent)"
        width = max(len(expected_text), len(actual_text))
        cells_want.append(expected_text.ljust(width))
        cells_got.append(actual_text.ljust(width))
        same = name in fields and same_value(want.fields[name], fields[name])
        flags.append((" " if same else "^") * width)
    at_want = f"at {show_time(want.at)}" if want.at is not None else ""
    at_got = f"at {show_time(got.ts)}" if want.at is not None else ""
    kind = "timeout " if want.kind == "timeout" else ""
    got_kind = "timeout " if got.kind == "timeout" else ""
    others = ", ".join(f"{k}: {_show(v)}" for k, v in fields.items() if k not in want.fields)
    extra = f"  (also {others})" if others and not ok else ""
    lines = [
        f"{mark} {number}. expected {kind}{{ {'  '.join(cells_want)} }} {at_want}".rstrip(),
        f"{mark}    got      {got_kind}{{ {'  '.join(cells_got)} }} {at_got}".rstrip() + extra,
    ]
    if not ok and any(flag.strip() for flag in flags):
        lines.append(f"               {' ' * len(kind)}  {'  '.join(flags)}".rstrip())
    elif not ok and want.at is not None and want.at != got.ts:
        lines.append(f"  ({number}: reported at {show_time(got.ts)}, not {show_time(want.at)})")
    elif not ok and want.kind != got.kind:
        lines.append(f"  ({number}: a {got.kind} report, not a {want.kind})")
    return lines


def side_by_sides(records: list[Expected], reports: list[Match]) -> list[str]:
    """`side_by_side` of each expected record and the report in its place."""
    pairs = itertools.zip_longest(records, reports)
    return [line for i, (want, got) in enumerate(pairs) for line in side_by_side(i + 1, want, got)]


def all_agree(records: list[Expected], reports: list[Match]) -> bool:
    return len(records) == len(reports) and all(
        agrees(want, got) for want, got in zip(records, reports, strict=True)
    )


def agrees(want: Expected, got: Match) -> bool:
    """Whether a report is the expected record (its fields include the expected ones)."""
    if want.kind != got.kind:
        return False
    if want.at is not None and want.at != got.ts:
        return False
    fields = json_value(got.fields)
    return all(
        name in fields and same_value(value, fields[name]) for name, value in want.fields.items()
    )


def same_value(want: Any, got: Any) -> bool:
    """Equality as a test means it: numbers by value (35 == 35.0), lists item by item."""
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, int | float) and isinstance(got, int | float):
        return math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(
            same_value(w, g) for w, g in zip(want, got, strict=True)
        )
    if isinstance(want, dict) and isinstance(got, dict):
        return all(k in got and same_value(v, got[k]) for k, v in want.items())
    return want == got


def describe(report: Match) -> str:
    fields = ", ".join(f"{k}: {_show(v)}" for k, v in json_value(report.fields).items())
    kind = "timeout " if report.kind == "timeout" else ""
    return f"{kind}{report.rule} {{ {fields} }} at {show_time(report.ts)}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + " }"
    return str(value)
