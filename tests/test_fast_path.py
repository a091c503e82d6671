"""The numba fast path means what the interpreter means.

Every `test` block of the rule library and of the ported Flink cases whose rule is
eligible runs on both engines with identical reports; hypothesis generates random
eligible rules and streams and requires the same.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.api import load_rules
from cep.fast.engine import FastEngine, fast_path_refusal
from cep.lang.checker import check_paths, check_sources
from cep.lang.program import constant_value
from cep.runtime.engine import MatchingEngine
from cep.runtime.event import Event
from cep.runtime.match import Match
from cep.testing.runner import TestRunner

_PROGRAM = check_paths(["rules", "tests/flink"])
_RUNNER = TestRunner(_PROGRAM)


def _shape(reports: list[Match]) -> list[tuple]:
    def ids(value: object) -> object:
        if isinstance(value, list):
            return [e.seq for e in value]
        return value.seq  # type: ignore[attr-defined]

    return [
        (m.rule, m.kind, m.ts, m.key, m.fields, {k: ids(v) for k, v in m.events.items()})
        for m in reports
    ]


def _run(engine_type: type, rules: list, events: list[Event], delay: int, flush: bool) -> list:
    engine = engine_type(rules, allowed_delay_ms=delay)
    out = []
    for event in events:
        out.extend(engine.push(Event(event.type, event.ts, event.data)))
    out.extend(engine.finish(flush=flush))
    return _shape(out)


_ELIGIBLE = [
    (path, test)
    for path, test in _PROGRAM.tests
    if fast_path_refusal(_RUNNER.rule(test.rule)) is None
]


def test_most_library_and_flink_cases_are_eligible() -> None:
    """The fast path covers the common shapes: well over half of the ported cases."""
    assert len(_ELIGIBLE) > len(_PROGRAM.tests) // 2


@pytest.mark.parametrize(
    "item", _ELIGIBLE, ids=[f"{p}::{t.rule}::{t.description}" for p, t in _ELIGIBLE]
)
def test_rule_tests_report_the_same_on_both_engines(item: tuple) -> None:
    """Each eligible test block: identical reports, in the same order."""
    path, test = item
    consts = _PROGRAM.program.files[path].consts
    rule = _RUNNER.rule(test.rule)
    events = [_RUNNER._event(literal, consts) for literal in test.given]
    delay = (
        int(constant_value(test.allowed_delay, consts)[0])  # type: ignore[arg-type]
        if test.allowed_delay is not None
        else 0
    )
    interpreted = _run(MatchingEngine, [rule], events, delay, test.flush)
    compiled = _run(FastEngine, [rule], events, delay, test.flush)
    assert compiled == interpreted


def test_a_rule_with_an_iterative_condition_is_refused() -> None:
    """Conditions that look at the run's events stay on the interpreter, with a reason."""
    checked = check_sources(
        {
            "r.cep": """
            event E { v: int }
            rule r { pattern a = E -> b = E[v > a.v] within 1m }
            """
        }
    )
    (rule,) = load_rules(checked)
    assert fast_path_refusal(rule) == "the condition of `b` refers to earlier events of the run"
    with pytest.raises(ValueError, match="cannot run on the fast path"):
        FastEngine([rule])


# ---------------------------------------------------------------------------- random


@st.composite
def _terms(draw: st.DrawFn, index: int) -> str:
    cond = draw(st.sampled_from(["v == 1", "v == 2", "v in [1, 2]", "v >= 2", "v != 3"]))
    term = f"t{index} = E[{cond}]"
    quantifier = draw(
        st.sampled_from(["", "", "?", "+", "+?", "{2}", "{1,3}", "{1,3}?", "{2,}", "*?"])
    )
    if quantifier in ("+", "+?", "{1,3}", "{1,3}?", "{2,}", "{2}") and draw(st.booleans()):
        quantifier += draw(st.sampled_from([" consecutive", " any"]))
    return term + quantifier


@st.composite
def _rules(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 3))
    parts = [draw(_terms(0))]
    for index in range(1, count):
        op = draw(st.sampled_from(["->", "=>", "->>"]))
        if draw(st.integers(0, 5)) == 0 and op != "->>":
            parts.append(f"{op} not E[v == 3]")
            op = "->"
        parts.append(f"{op} {draw(_terms(index))}")
    pattern = " ".join(parts)
    skip = draw(st.sampled_from(["none", "past last", "to next"]))
    within = draw(st.sampled_from(["", "within 3ms", "within 5ms"]))
    partition = draw(st.sampled_from(["", "partition by k"]))
    return f"rule r {{ {partition} pattern {pattern} {within} skip {skip} }}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _rules(),
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(1, 3), st.sampled_from(["a", "b"])),
        max_size=9,
    ),
    st.booleans(),
)
def test_random_rules_report_the_same_on_both_engines(
    text: str, stream: list[tuple[int, int, str]], flush: bool
) -> None:
    """Random eligible rules over random streams: identical reports."""
    checked = check_sources({"r.cep": "event E { v: int, k: str }\n" + text})
    if not checked.ok:
        return  # a shape the checker refuses (an optional after a greedy repetition)
    (rule,) = load_rules(checked)
    ts = 0
    events = []
    for gap, value, key in stream:
        ts += gap
        events.append(Event("E", ts, {"v": value, "k": key}))
    interpreted = _run(MatchingEngine, [rule], events, 0, flush)
    compiled = _run(FastEngine, [rule], events, 0, flush)
    assert compiled == interpreted, text
