"""The numba fast path means what the interpreter means.

Every `test` block of the rule library and of the ported Flink cases whose rule is
eligible runs on both engines with identical reports; hypothesis generates random
eligible rules and streams and requires the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.api import load_rules
from cep.fast import tables, timers
from cep.fast.engine import FastEngine
from cep.fast.plan import fast_path_refusal
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


@contextmanager
def _tables_of_one_row() -> Iterator[None]:
    """The kernel's tables start with one row, so that they grow at nearly every step."""
    saved = tables.INITIAL_ROWS
    tables.INITIAL_ROWS = 1
    try:
        yield
    finally:
        tables.INITIAL_ROWS = saved


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


def test_every_library_rule_runs_compiled() -> None:
    """Running totals, `where`, comparisons with earlier events: all on the fast path."""
    checked = check_paths(["rules"])
    refused = {r.name: fast_path_refusal(r) for r in load_rules(checked)}
    assert len(refused) == 17
    assert {name: why for name, why in refused.items() if why is not None} == {}


def test_iterative_conditions_and_where_compile() -> None:
    """Conditions on the run's events (iterative terms, aggregates, `where`) run compiled."""
    checked = check_sources(
        {
            "r.cep": """
            event E { v: int, s: str }
            rule r {
              pattern a = E -> b = E[v > a.v and s != a.s]+ -> c = E[v > sum(b.v)]
              where count(b) >= 2 and last(b).v - first(b).v >= 1
              within 1m
            }
            """
        }
    )
    (rule,) = load_rules(checked)
    assert fast_path_refusal(rule) is None


def test_a_condition_outside_the_compiled_family_is_refused() -> None:
    """A condition the kernel cannot compile stays on the interpreter, with a reason."""
    checked = check_sources(
        {
            "r.cep": """
            event E { v: int, s: str }
            rule r { pattern a = E -> b = E[s =~ a.s] within 1m }
            """
        }
    )
    (rule,) = load_rules(checked)
    reason = fast_path_refusal(rule)
    assert reason is not None and "`s =~ a.s`" in reason
    with pytest.raises(ValueError, match="cannot run on the fast path"):
        FastEngine([rule])


def test_undeclared_fields_on_earlier_events_are_refused() -> None:
    """Without a declared type the kernel cannot know a value's kind: interpreter."""
    checked = check_sources({"r.cep": "rule r { pattern a = E -> b = E[v > a.v] within 1m }"})
    (rule,) = load_rules(checked)
    reason = fast_path_refusal(rule)
    assert reason is not None and "no declared number or text type" in reason


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
    with _tables_of_one_row():
        compiled = _run(FastEngine, [rule], events, 0, flush)
    assert compiled == interpreted, text


_ANY_VALUES = (
    None, 1, 2, 0, -3, 1.0, 2.5, float("nan"), float("inf"), "a", "b", "1", "", True, False,
    2**60, 2**64, -(2**70), [1], {"x": 1},
)  # fmt: skip
_ANY_CONDITIONS = (
    "v == 1", "v == 2.5", 'v == "a"', "v == true", "v != 1", 'v != "b"', "v > 1", "v <= 2",
    "v >= 2.5", 'v < "b"', 'v in [1, "a", true]', "not (v == 0)", "v == 1 or v == 2",
    'exists(v) and v != ""', "v > 1000000000000000000", "exists(v)", "not exists(v)",
    "len(v) > 0", 'lower(v) == "a"', "round(v) == 2", 'v =~ "^a"', "coalesce(v, 0) == 0",
    'startswith(v, "a") or v == 2.5', "v == ONE", "v >= HALF", "ONE < v", "v in WORDS",
    "v != LETTER",
)  # fmt: skip
_ANY_CONSTANTS = 'const ONE = 1\nconst HALF = 2.5\nconst LETTER = "a"\nconst WORDS = ["a", 1]\n'


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_ANY_CONDITIONS), min_size=2, max_size=2),
    st.sampled_from(["", "partition by k"]),
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from(["E", "E", "F"]),
            st.one_of(
                st.just("missing"),
                st.sampled_from([1, 2.5, "a", True]),
                st.sampled_from(_ANY_VALUES),
            ),
            st.sampled_from(["a", "a", "b", 1, None, True]),
        ),
        max_size=16,
    ),
)
def test_values_of_any_type_are_tested_as_the_interpreter_tests_them(
    conditions: list[str], partition: str, stream: list[tuple[int, str, object, object]]
) -> None:
    """Events pushed from Python carry values of any type in any field (no schema):
    the columns made from them (text, numbers, booleans, else objects) give the
    interpreter's truth for every test, and keys of any type partition alike."""
    first, second = conditions
    text = f"rule r {{ {partition} pattern a = E[{first}] -> b = E[{second}] within 4ms }}"
    checked = check_sources({"r.cep": _ANY_CONSTANTS + text})
    assert checked.ok, text
    (rule,) = load_rules(checked)
    assert fast_path_refusal(rule) is None
    ts = 0
    events = []
    for gap, type_name, value, key in stream:
        ts += gap
        data: dict = {} if key is None else {"k": key}
        if value != "missing":
            data["v"] = value
        events.append(Event(type_name, ts, data))
    interpreted = _run(MatchingEngine, [rule], events, 0, True)
    compiled = _run(FastEngine, [rule], events, 0, True)
    assert compiled == interpreted, text


@pytest.mark.parametrize("condition", _ANY_CONDITIONS)
@pytest.mark.parametrize("batch_size", [1, 64])
def test_each_term_test_accepts_the_events_the_interpreter_accepts(
    condition: str, batch_size: int
) -> None:
    """Every condition above, over one event per value of any type (and one lacking
    the field): a one-term rule reports exactly the events the interpreter accepts."""
    checked = check_sources({"r.cep": _ANY_CONSTANTS + f"rule r {{ pattern a = E[{condition}] }}"})
    assert checked.ok, condition
    (rule,) = load_rules(checked)
    events = [Event("E", 0, {})] + [Event("E", ts, {"v": v}) for ts, v in enumerate(_ANY_VALUES)]
    interpreted = _run(MatchingEngine, [rule], events, 0, True)
    engine = FastEngine([rule], batch_size=batch_size)
    compiled = [m for event in events for m in engine.push(event)] + engine.finish(flush=True)
    assert _shape(compiled) == interpreted, condition
    assert interpreted or condition in ("v > 1000000000000000000",), condition


# ------------------------------------------------------------- random, run-dependent

_REPEATING = ("+", "+?", "{2}", "{1,3}", "{1,3}?", "{2,}", "*?")


def _conditions_on_earlier(index: int, repeated: list[bool]) -> list[str]:
    """Conditions of term `index` that look at earlier terms (and at itself)."""
    out = []
    for j in range(index):
        name = f"t{j}"
        if repeated[j]:
            out += [
                f"v > last({name}).v",
                f"v >= first({name}).v",
                f"count({name}) < 2",
                f"sum({name}.v) + v <= 5",
                f"avg({name}.v) < v",
                f"max({name}.v) == v or min({name}.v) == v",
                f"{name}[0].w != w",
                f"{name}[-1].v * 2 % 3 == v % 2",
                f"w not in {name}.w",
                f"v in {name}.v",
            ]
        else:
            out += [f"v > {name}.v", f"v == {name}.v + 1", f"w != {name}.w", f"exists({name}.v)"]
    if repeated[index]:
        own = f"t{index}"
        out += [f"count({own}) == 0 or v >= last({own}).v", f"sum({own}.v) + v <= 4"]
    return out


#: conditions of the event alone outside NumPy's family: compiled term tests, and tests
#: worked out per distinct value of the one field they read
_COMPILED_TERM_TESTS = (
    "v * 2 >= 3", "abs(v - 2) <= 1", "w != k", 'v % 2 == 0 or w == "y"', "max(v, 1) == 2",
    "not exists(v) or v + 1 > 2", 'startswith(w, "x")', "len(w) == 1 and v != 2",
    "round(v / 2) == 1", 'coalesce(v, 0) == 0 or w =~ "y"',
)  # fmt: skip


@st.composite
def _dependent_rules(draw: st.DrawFn) -> str:
    count = draw(st.integers(1, 3))
    quantifiers = [
        draw(st.sampled_from(["", "", "?", "+", "+?", "{2}", "{1,3}", "{1,3}?", "{2,}", "*?"]))
        for _ in range(count)
    ]
    repeated = [q in _REPEATING for q in quantifiers]
    parts = []
    for index in range(count):
        options = ["v == 1", "v >= 2", 'w == "x"', *_COMPILED_TERM_TESTS,
                   *_conditions_on_earlier(index, repeated)]  # fmt: skip
        term = f"t{index} = E[{draw(st.sampled_from(options))}]{quantifiers[index]}"
        if index:
            term = f"{draw(st.sampled_from(['->', '=>', '->>']))} {term}"
        parts.append(term)
    wheres = []
    for j in range(count):
        name = f"t{j}"
        wheres += (
            [f"count({name}) >= 2", f"sum({name}.v) > 3", f'last({name}).w == "y"']
            if repeated[j]
            else [f"{name}.v > 1", f"not exists({name}.v)", f'{name}.w != "x"']
        )
    where = draw(st.sampled_from(["", "", *(f"where {w}" for w in wheres)]))
    skip = draw(st.sampled_from(["none", "past last", "to next"]))
    within = draw(st.sampled_from(["", "within 3ms", "within 5ms"]))
    partition = draw(st.sampled_from(["", "partition by k"]))
    pattern = " ".join(parts)
    return f"rule r {{ {partition} pattern {pattern} {where} {within} skip {skip} }}"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _dependent_rules(),
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.one_of(st.none(), st.integers(0, 3)),
            st.sampled_from(["a", "b"]),
            st.sampled_from(["x", "y"]),
        ),
        max_size=9,
    ),
    st.booleans(),
)
def test_random_run_dependent_rules_report_the_same_on_both_engines(
    text: str, stream: list[tuple[int, int | None, str, str]], flush: bool
) -> None:
    """Random rules whose conditions look at the run (iterative terms, aggregates,
    `where`, nulls) over random streams: identical reports."""
    checked = check_sources({"r.cep": "event E { v: int?, k: str, w: str }\n" + text})
    if not checked.ok:
        return  # a shape the checker refuses (an optional after a greedy repetition)
    (rule,) = load_rules(checked)
    assert fast_path_refusal(rule) is None, text
    ts = 0
    events = []
    for gap, value, key, word in stream:
        ts += gap
        data: dict = {"k": key, "w": word}
        if value is not None:
            data["v"] = value
        events.append(Event("E", ts, data))
    interpreted = _run(MatchingEngine, [rule], events, 0, flush)
    with _tables_of_one_row():
        compiled = _run(FastEngine, [rule], events, 0, flush)
    assert compiled == interpreted, text


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-2, 2), st.integers(1, 3), st.sampled_from("ab")), max_size=14),
    st.sampled_from([0, 0, 2]),
    st.sampled_from([1, 3, 64]),
)
def test_pushed_events_late_or_held_report_the_same(
    stream: list[tuple[int, int, str]], delay: int, batch_size: int
) -> None:
    """`FastEngine.push` with events out of time order (late ones dropped, or held for
    an allowed delay), batch by batch: the same reports, of the same events, as the
    interpreter's."""
    checked = check_sources(
        {"r.cep": "event E { v: int, k: str }\n"
         "rule r { partition by k  pattern a = E[v == 1] -> b = E[v >= 2]{2,} within 5ms }"}
    )  # fmt: skip
    rules = load_rules(checked)
    ts = 10
    events = []
    for gap, value, key in stream:
        ts += gap
        events.append(Event("E", ts, {"v": value, "k": key}))
    outputs = []
    for engine in (MatchingEngine(rules, allowed_delay_ms=delay),
                   FastEngine(rules, allowed_delay_ms=delay, batch_size=batch_size)):  # fmt: skip
        out = []
        for event in events:
            out.extend(engine.push(Event(event.type, event.ts, event.data)))
        out.extend(engine.finish(flush=True))
        outputs.append((_shape(out), engine.late))
    assert outputs[1] == outputs[0]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.integers(0, 30), st.integers(0, 3), st.integers(0, 3)),
            st.just(None),
        ),
        max_size=60,
    )
)
def test_timers_come_out_earliest_first(steps: list[tuple[int, int, int] | None]) -> None:
    """The kernel's timers (a queue while they are added in order, a heap once one is
    not, a queue again once empty): added and taken in any mix, each taken is the
    earliest of those left, by (close, ts, seq)."""
    state = tables.KernelState(0, 1)
    state._grow("heap", 2 * len(steps) + 1)
    rows = [(-1, 0, 0) if step is None else step for step in [*steps, None]]
    taken = _timer_steps()(state.tables, np.array(rows, np.int64))
    waiting: list[tuple[int, int, int]] = []
    expected = []
    for step in steps:
        if step is None:
            if waiting:
                waiting.sort()
                expected.append(waiting.pop(0))
        else:
            waiting.append(step)
    expected += sorted(waiting)
    assert [tuple(row) for row in taken.tolist()] == expected


@cache
def _timer_steps() -> Any:
    """A numba function that runs `ops` on the kernel's timers `T` (close -1: take one,
    if any; else add one), then takes the rest; returns the timers taken, in order."""
    from numba import njit

    push, pop, heap = timers.push_timer, timers.pop_timer, tables.S_HEAP

    @njit
    def run(T, ops):  # type: ignore[no-untyped-def]
        out = np.zeros((len(ops) + 1, 3), np.int64)
        n = 0
        for j in range(len(ops)):
            if ops[j, 0] >= 0:
                push(T, ops[j, 0], ops[j, 1], ops[j, 2], np.int64(j))
                continue
            if T.sc[heap] > 0 or j == len(ops) - 1:
                while T.sc[heap] > 0:
                    out[n, 0], out[n, 1], out[n, 2], _ = pop(T)
                    n += 1
                    if j < len(ops) - 1:
                        break
        return out[:n]

    return run


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_kept_events_and_their_rows_are_found_in_one_walk(data: st.DataObject) -> None:
    """`new_kept_events`: the stored events some cells bind, each once in stored order,
    and each one's place among the batch's processed events, whatever their sequence
    numbers (pushed events bring their own, in any order)."""
    from cep.fast.kept import new_kept_events

    processed = data.draw(st.lists(st.integers(0, 10**6), min_size=1, max_size=40, unique=True))
    stored = sorted(data.draw(st.sets(st.integers(0, len(processed) - 1), min_size=1)))
    first = data.draw(st.integers(0, 5))  # events stored before this batch
    event_seqs = np.array([-1] * first + [processed[p] for p in stored], np.int64)
    cells = data.draw(st.lists(st.integers(first, len(event_seqs) - 1), max_size=60))
    wanted, positions = new_kept_events(np.array(cells, np.int64), event_seqs, np.array(processed))
    assert wanted.tolist() == sorted(set(cells))
    assert positions.tolist() == [stored[g - first] for g in wanted.tolist()]
