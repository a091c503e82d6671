"""Checks of `test` blocks: the rule they name, their events and their expectations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cep.lang import ast
from cep.lang.diagnostics import DiagnosticSink, did_you_mean
from cep.lang.program import ConstInfo, NotConstant, Program, SourceFile, constant_value
from cep.lang.types import Type, a, assignable

if TYPE_CHECKING:
    from cep.lang.checker import CheckedRule


def check_test(
    test: ast.TestDecl,
    loaded: SourceFile,
    program: Program,
    rules: dict[str, CheckedRule],
    broken: set[str],
    sink: DiagnosticSink,
) -> None:
    consts = loaded.consts
    rule = rules.get(test.rule)
    if rule is None and test.rule not in broken:
        sink.error(
            f"test names unknown rule `{test.rule}`",
            test.rule_span,
            *did_you_mean(test.rule, rules),
            code="unknown-rule",
        )
    for event in test.given:
        _check_event(event, program, consts, sink)
    if test.allowed_delay is not None:
        value, value_type = _constant(test.allowed_delay, consts, sink)
        if value_type is not None and (value_type.kind != "duration" or value < 0):  # type: ignore[operator]
            sink.error(
                "`allowed delay` takes a duration such as `5s`",
                test.allowed_delay.span,
                code="bad-allowed-delay",
            )
    if not test.expects:
        sink.warning(
            "this test has no `expect` line, so it only passes if the rule reports nothing",
            test.rule_span,
            f"help: say so with `expect no {test.rule}`",
            code="no-expect",
        )
    for expect in test.expects:
        _check_expect(expect, test, rule, consts, sink)


def _constant(
    expr: ast.Expr, consts: dict[str, ConstInfo], sink: DiagnosticSink
) -> tuple[object, Type | None]:
    try:
        return constant_value(expr, consts)
    except NotConstant as problem:
        sink.error(
            "a test value must be a literal (or a constant)",
            problem.node.span,
            *problem.hints(consts),
            code="bad-test-value",
        )
        return None, None


def _check_time(expr: ast.Expr, consts: dict[str, ConstInfo], sink: DiagnosticSink) -> None:
    value, value_type = _constant(expr, consts, sink)
    if value_type is None:
        return
    if value_type.kind in ("duration", "int") and isinstance(value, int) and value >= 0:
        return
    if value_type.kind == "str" and isinstance(value, str) and _iso_time(value):
        return
    sink.error(
        "a time is a duration from 0 (`20s`), epoch milliseconds, or an ISO-8601 string",
        expr.span,
        code="bad-time",
    )


def _iso_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_event(
    event: ast.EventLiteral, program: Program, consts: dict[str, ConstInfo], sink: DiagnosticSink
) -> None:
    given = dict(event.fields.fields)
    if "ts" not in given:
        sink.error(
            f"this `{event.event_type}` event has no `ts`",
            event.span,
            "help: every event needs a time, e.g. `ts: 20s` (from 0) or epoch milliseconds",
            code="missing-ts",
        )
    else:
        _check_time(given["ts"], consts, sink)
    schema = program.schemas.get(event.event_type)
    if schema is None:
        notes = did_you_mean(event.event_type, program.schemas)
        if notes:
            sink.warning(
                f"no schema is declared for event type `{event.event_type}`",
                event.span,
                *notes,
                code="unknown-schema",
            )
    for name, expr in event.fields.fields:
        if name == "ts":
            continue
        value, value_type = _constant(expr, consts, sink)
        if value_type is None or schema is None:
            continue
        declared = schema.field_type(name)
        if declared is not None and not assignable(value_type, declared):
            sink.error(
                f"field `{name}` of `{schema.name}` is {a(declared)}, not {a(value_type)}",
                expr.span,
                code="bad-field-type",
            )
        elif declared is not None and value is None and not schema.fields[name].optional:
            sink.error(
                f"field `{name}` of `{schema.name}` is required and cannot be null",
                expr.span,
                code="bad-field-type",
            )
    if schema is not None:
        missing = [
            name for name, info in schema.fields.items() if not info.optional and name not in given
        ]
        if missing:
            sink.error(
                f"this `{schema.name}` event lacks required field"
                f"{'s' if len(missing) > 1 else ''} " + ", ".join(f"`{m}`" for m in missing),
                event.span,
                code="missing-field",
            )


def _check_expect(
    expect: ast.Expect,
    test: ast.TestDecl,
    rule: CheckedRule | None,
    consts: dict[str, ConstInfo],
    sink: DiagnosticSink,
) -> None:
    if expect.rule != test.rule:
        sink.error(
            f"this test runs rule `{test.rule}`, so it can only expect `{test.rule}`'s reports",
            expect.rule_span,
            *did_you_mean(expect.rule, [test.rule]),
            code="foreign-expect",
        )
        return
    if expect.at is not None:
        _check_time(expect.at, consts, sink)
    if rule is None:
        return
    if expect.kind == "timeout" and rule.rule.timeout_emit is None:
        sink.error(
            f"rule `{expect.rule}` has no `on timeout emit`, so it never reports a timeout",
            expect.span,
            code="no-timeout-emit",
        )
        return
    if expect.fields is None:
        return
    if expect.kind == "timeout" and rule.rule.timeout_emit is not None:
        known = [f.name for f in rule.rule.timeout_emit]
    elif rule.rule.emit is not None:
        known = [f.name for f in rule.rule.emit]
    else:
        known = [p.dotted for p in rule.rule.partition]
    for name, expr in expect.fields.fields:
        _constant(expr, consts, sink)
        if name not in known:
            shown = ", ".join(f"`{k}`" for k in known) or "no fields"
            sink.error(
                f"rule `{rule.name}` reports no field `{name}`",
                expr.span,
                f"note: its {'timeout ' if expect.kind == 'timeout' else ''}reports have {shown}",
                *did_you_mean(name, known),
                code="unknown-output-field",
            )
