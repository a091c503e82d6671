"""The interpreter against the brute-force oracle of `tests/oracle.py`.

Hypothesis draws patterns of the oracle's family (as rule text) and small streams
(values from a small alphabet so that conditions overlap, times non-decreasing and
often equal, two partitions and events lacking the key), runs
`Engine.from_string(...).run(...)` and requires the same reports (bound ids per
variable, partition key, `ts`), in the same order, as the oracle: under `skip none`,
under `past last` / `to next` (with and without `flush`), and with conditions on the
first term's event so that later starts often complete first and are held back.

The oracle itself is checked on the outputs Flink gave in docs/design/nfa.md section 6
and on the ported Flink cases of tests/flink that fall in its family.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, target
from hypothesis import strategies as st

from cep import Engine
from tests.oracle import OPS, Cond, Event, Pattern, Report, Term, oracle

VARS = ("a", "b", "c", "d")

# ---------------------------------------------------------------------------- strategies

#: conditions on the candidate's own `v` (values 1..3, so that terms overlap)
conds = st.one_of(
    st.builds(Cond, st.sampled_from(("==", "!=", "<=", ">=")), st.sampled_from((1, 2, 3))),
    st.sampled_from((Cond("in", (1, 2)), Cond("in", (1, 3)), Cond("in", (2, 3)))),
    st.just(Cond("true")),
)

#: (form, lo, hi) of the quantifiers, plain terms drawn more often
QUANTIFIERS: list[tuple[str, int, int | None]] = [
    ("", 1, 1),
    ("", 1, 1),
    ("?", 0, 1),
    ("{n}", 2, 2),
    ("{n}", 3, 3),
    ("{n,m}", 1, 2),
    ("{n,m}", 1, 3),
    ("{n,m}", 2, 3),
    ("{n,m}", 0, 1),
    ("{n,m}", 0, 2),
    ("{n,}", 2, None),
    ("+", 1, None),
    ("*", 0, None),
]


#: `v OP a.v`: conditions on the first term's event, so that runs from different
#: starts differ (and a later start can complete first, which holds matches back)
ref_conds = st.builds(Cond, st.sampled_from(("==", "!=", "<=", ">=")), st.just(0), st.just(True))


@st.composite
def terms(
    draw: st.DrawFn,
    var: str,
    optional: bool,
    conditions: st.SearchStrategy[Cond],
    quantifiers: Sequence[tuple[str, int, int | None]] = QUANTIFIERS,
    ops: Sequence[str] = OPS,
) -> Term:
    """One term; `optional=False` keeps it mandatory."""
    form, lo, hi = draw(st.sampled_from([q for q in quantifiers if optional or q[1] > 0]))
    repeats = hi is None or hi >= 2
    return Term(
        var=var,
        cond=draw(conditions),
        form=form,
        lo=lo,
        hi=hi,
        reluctant=form not in ("", "?") and draw(st.booleans()),
        contiguity=draw(st.sampled_from(("relaxed", "consecutive", "any")))
        if repeats
        else "relaxed",
        op=draw(st.sampled_from(ops)),
    )


def _reluctant(term: Term) -> Term:
    return Term(**{**term.__dict__, "reluctant": True})


def _greedy_form(term: Term) -> bool:
    """A repetition written greedy (the checker's `optional-after-greedy` test): not
    reluctant, not `?`, not `any`, not at most one event."""
    return (
        term.form not in ("", "?")
        and not term.reluctant
        and term.contiguity != "any"
        and term.hi != 1
    )


def _pattern(chosen: list[Term], within: int | None, skip: str, partitioned: bool) -> Pattern:
    """A greedy repetition right before an optional term is made reluctant (the checker
    rejects it, `optional-after-greedy`, as Flink does, nfa.md 2.10)."""
    for i in range(len(chosen) - 1):
        if _greedy_form(chosen[i]) and chosen[i + 1].optional:
            chosen[i] = _reluctant(chosen[i])
    return Pattern(tuple(chosen), within, skip, partitioned)


@st.composite
def patterns(draw: st.DrawFn, skips: Sequence[str] = ("none",)) -> Pattern:
    """A pattern of the family; `v OP a.v` only after a plain first term."""
    n = draw(st.integers(1, 4))
    mandatory = draw(st.integers(0, n - 1))
    chosen = [draw(terms(VARS[0], optional=mandatory != 0, conditions=conds))]
    refs = chosen[0].form == ""
    for i in range(1, n):
        ref = refs and draw(st.booleans())
        chosen.append(draw(terms(VARS[i], i != mandatory, ref_conds if ref else conds)))
    return _pattern(
        chosen,
        within=draw(st.one_of(st.none(), st.integers(1, 6))),
        skip=draw(st.sampled_from(skips)),
        partitioned=draw(st.booleans()),
    )


#: the quantifiers of `held_patterns`
SHORT_QUANTIFIERS: list[tuple[str, int, int | None]] = [
    ("", 1, 1),
    ("", 1, 1),
    ("+", 1, None),
    ("{n,m}", 1, 2),
    ("{n}", 2, 2),
]


@st.composite
def held_patterns(draw: st.DrawFn) -> Pattern:
    """`a = E[..] -> b = E[v OP a.v]..` (and maybe a third term) under `to next` or
    `past last`: runs from different starts want different events, so that a later
    start often completes first (and is held back, or pruned)."""
    first = Term(VARS[0], draw(st.sampled_from((Cond("true"), Cond("!=", 2)))))
    chosen = [first, draw(terms(VARS[1], False, ref_conds, SHORT_QUANTIFIERS, ("->", "->>")))]
    if draw(st.booleans()):
        chosen.append(draw(terms(VARS[2], True, st.one_of(ref_conds, conds))))
    return _pattern(
        chosen,
        within=draw(st.one_of(st.none(), st.integers(3, 10))),
        skip=draw(st.sampled_from(("to next", "to next", "past last"))),
        partitioned=draw(st.booleans()),
    )


@st.composite
def streams(draw: st.DrawFn, min_size: int = 2, max_size: int = 8) -> list[Event]:
    """`min_size` to `max_size` events E with `v` in 1..3, `k` x, y or missing,
    non-decreasing `ts` (steps 0, 1 or 2)."""
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from((1, 2, 3)),
                st.sampled_from((0, 1, 1, 2)),
                st.sampled_from(("x", "y", "x", "y", None)),
            ),
            min_size=min_size,
            max_size=max_size,
        )
    )
    out: list[Event] = []
    ts = 0
    for i, (v, dt, k) in enumerate(steps):
        ts += dt
        out.append({"type": "E", "ts": ts, "id": i, "v": v} | ({} if k is None else {"k": k}))
    return out


# ---------------------------------------------------------------------------- comparing


def engine_reports(pattern: Pattern, events: list[Event], flush: bool = False) -> list[Report]:
    """Run the interpreter and put its matches in the oracle's form."""
    engine = Engine.from_string(pattern.text())
    out = []
    for m in engine.run([dict(e) for e in events], flush=flush):
        assert m.kind == "match"
        ids = []
        for term in pattern.terms:
            bound: Any = m.events.get(term.var, [])
            bound = bound if isinstance(bound, list) else [bound]
            ids.append(tuple(e.data["id"] for e in bound))
        out.append(Report(m.ts, m.key["k"] if m.key else None, tuple(ids)))
    return out


def check(pattern: Pattern, events: list[Event], flush: bool = False) -> list[Report]:
    """The interpreter's reports equal the oracle's, in order; returns them."""
    expected = oracle(pattern, events, flush=flush)
    actual = engine_reports(pattern, events, flush)
    assert actual == expected, (
        f"\n{pattern.text()}events={[(e['id'], e['ts'], e.get('k'), e['v']) for e in events]}"
        f" flush={flush}\nexpected={expected}\nactual=  {actual}"
    )
    return expected


def out_of_order(reports: list[Report]) -> int:
    """How many reports come after a report with a later `ts` (held matches)."""
    return sum(any(r.ts < before.ts for before in reports[:i]) for i, r in enumerate(reports))


SETTINGS = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@SETTINGS
@given(patterns(("none",)), streams())
def test_skip_none_equals_oracle(pattern: Pattern, events: list[Event]) -> None:
    check(pattern, events)


@SETTINGS
@given(patterns(("past last", "to next")), streams(), st.booleans())
def test_skip_strategies_equal_oracle(pattern: Pattern, events: list[Event], flush: bool) -> None:
    target(float(len(check(pattern, events, flush))), label="reports")


@SETTINGS
@given(held_patterns(), streams(min_size=6, max_size=12), st.booleans())
def test_held_matches_equal_oracle(pattern: Pattern, events: list[Event], flush: bool) -> None:
    """Later starts completing first: held back, released in start order (and between
    partitions when their blocking runs end), or dropped. Hypothesis is steered towards
    reports that leave after a report with a later `ts`."""
    target(float(out_of_order(check(pattern, events, flush))), label="held")


# ---------------------------------------------------------------------------- the oracle
# Events are named as in nfa.md: a = v 1, b = v 2, c = v 3, x = v 0 (no term), m = v 4
# (satisfies both b and c where the case needs it).

A, B, C = Cond("==", 1), Cond("==", 2), Cond("==", 3)
B_OR_M, C_OR_M = Cond("in", (2, 4)), Cond("in", (3, 4))
SAME_V = Cond("==", 0, ref=True)  # v == a.v
CODES = {"a": 1, "b": 2, "c": 3, "x": 0, "m": 4}


def stream(names: str) -> list[Event]:
    """`"a1 b1@9"` -> events named by letter, `@ts` or ts = position; ids = positions."""
    out = []
    for i, word in enumerate(names.split()):
        name, _, at = word.partition("@")
        ts = int(at) if at else i
        out.append({"type": "E", "ts": ts, "id": i, "k": "x", "v": CODES[name[0]]})
    return out


def t(var: str, cond: Cond, q: str = "", op: str = "->", contiguity: str = "relaxed") -> Term:
    """A term from its quantifier as written (`"+?"`, `"{1,2}"`, ...)."""
    reluctant = q.endswith("?") and q != "?"
    body = q[:-1] if reluctant else q
    if body in ("", "?", "+", "*"):
        lo, hi = {"": (1, 1), "?": (0, 1), "+": (1, None), "*": (0, None)}[body]
        form = body
    else:
        inner = body[1:-1]
        if "," not in inner:
            lo = hi = int(inner)
            form = "{n}"
        elif inner.endswith(","):
            lo, hi, form = int(inner[:-1]), None, "{n,}"
        else:
            low, high = inner.split(",")
            lo, hi, form = int(low), int(high), "{n,m}"
    return Term(var, cond, form, lo, hi, reluctant, contiguity, op)


def ids(pattern: Pattern, names: str, **options: Any) -> list[tuple[tuple[int, ...], ...]]:
    return [r.ids for r in oracle(pattern, stream(names), **options)]


def seq(*terms: Term, skip: str = "none", within: int | None = None) -> Pattern:
    return Pattern(tuple(terms), within=within, skip=skip)


def test_oracle_greedy_loop_and_shared_event() -> None:
    """6.1: `a -> b+ -> c`, m is b and c, `a1 b1 m1 c1`."""
    greedy = seq(t("a", A), t("b", B_OR_M, "+"), t("c", C_OR_M))
    assert ids(greedy, "a1 b1 m1 c1") == [((0,), (1, 2), (3,))]
    reluctant = seq(t("a", A), t("b", B_OR_M, "+?"), t("c", C_OR_M))
    assert ids(reluctant, "a1 b1 m1 c1") == [((0,), (1,), (2,)), ((0,), (1, 2), (3,))]
    past_last = seq(t("a", A), t("b", B_OR_M, "+?"), t("c", C_OR_M), skip="past last")
    assert ids(past_last, "a1 b1 m1 c1") == [((0,), (1,), (2,))]


def test_oracle_greedy_full_or_strict_ends_the_run() -> None:
    """6.2: a full greedy `{1,2}`, and a strict unbounded greedy loop, kill the run."""
    assert ids(seq(t("a", A), t("b", B, "{1,2}"), t("c", C)), "a1 b1 b2 b3 c1") == []
    assert ids(seq(t("a", A), t("b", B, "{1,2}?"), t("c", C)), "a1 b1 b2 b3 c1") == [
        ((0,), (1, 2), (4,)),
        ((0,), (1,), (4,)),
    ]
    strict = [t("a", A), t("b", B, "{2,}", contiguity="consecutive"), t("c", C)]
    assert ids(seq(*strict), "a1 b1 b2 x1 b3 c1") == []
    strict[1] = t("b", B, "{2,}?", contiguity="consecutive")
    assert ids(seq(*strict), "a1 b1 b2 x1 b3 c1") == [((0,), (1, 2), (5,))]
    assert ids(seq(t("a", A), t("b", B_OR_M, "{1,2}"), t("c", C_OR_M)), "a1 b1 m1 c1") == [
        ((0,), (1, 2), (3,))
    ]


def test_oracle_loop_then_strict() -> None:
    """6.3: `a+ => b`, `a1 x1 a2 b1`."""
    for q in ("+", "+?"):
        assert ids(seq(t("a", A, q), t("b", B, op="=>")), "a1 x1 a2 b1") == [
            ((0, 2), (3,)),
            ((2,), (3,)),
        ]


def test_oracle_repetition_at_the_end() -> None:
    """6.4: an optional or a loop at the end completes at once."""
    end_optional = [t("a", A), t("b", B, "?")]
    assert [(r.ts, r.ids) for r in oracle(seq(*end_optional), stream("a1 b1"))] == [
        (0, ((0,), ())),
        (1, ((0,), (1,))),
    ]
    for skip in ("past last", "to next"):
        assert ids(seq(*end_optional, skip=skip), "a1 b1") == [((0,), ())]
    for q in ("{3,}", "{3,}?"):
        assert ids(seq(t("b", B, q)), "b1 b2 b3 b4 b5") == [
            ((0, 1, 2),),
            ((0, 1, 2, 3),),
            ((1, 2, 3),),
            ((0, 1, 2, 3, 4),),
            ((1, 2, 3, 4),),
            ((2, 3, 4),),
        ]
        assert ids(seq(t("b", B, q), skip="past last"), "b1 b2 b3 b4 b5") == [((0, 1, 2),)]
        assert ids(seq(t("b", B, q), skip="to next"), "b1 b2 b3 b4 b5") == [
            ((0, 1, 2),),
            ((1, 2, 3),),
            ((2, 3, 4),),
        ]


@pytest.mark.parametrize(
    ("ops", "names", "expected"),
    [
        (("->", "=>"), "a1 c1", [((0,), (), (1,))]),
        (("->", "=>"), "a1 x1 c1", []),
        (("->", "=>"), "a1 x1 b1 c1", [((0,), (2,), (3,))]),
        (("->", "=>"), "a1 b1 x1 c1", []),
        (("=>", "=>"), "a1 c1", [((0,), (), (1,))]),
        (("=>", "=>"), "a1 b1 c1", [((0,), (1,), (2,))]),
        (("=>", "=>"), "a1 x1 c1", []),
        (("=>", "->"), "a1 x1 c1", [((0,), (), (2,))]),
        (("=>", "->"), "a1 b1 x1 c1", [((0,), (1,), (3,)), ((0,), (), (3,))]),
    ],
)
def test_oracle_optional_then_strict(ops: tuple[str, str], names: str, expected: list) -> None:
    """6.5: an optional that took nothing relates its neighbours by the later operator."""
    pattern = seq(t("a", A), t("b", B, "?", op=ops[0]), t("c", C, op=ops[1]))
    assert ids(pattern, names) == expected


def test_oracle_strict_successor_fails() -> None:
    """6.10: `a => b -> c`."""
    pattern = seq(t("a", A), t("b", B, op="=>"), t("c", C))
    assert ids(pattern, "a1 x1 b1 c1") == []
    assert ids(pattern, "a1 a2 b1 c1") == [((1,), (2,), (3,))]


def test_oracle_any() -> None:
    """6.13: `any` relates only the repetitions; `->>` forks on every candidate."""
    pattern = seq(t("a", A), t("b", B, "{2}", contiguity="any"), t("c", C))
    assert ids(pattern, "a1 b1 b2 b3 c1") == [((0,), (1, 2), (4,)), ((0,), (1, 3), (4,))]
    assert ids(seq(t("a", A), t("b", B, op="->>")), "a1 b1 b2") == [((0,), (1,)), ((0,), (2,))]
    assert ids(seq(t("a", A), t("b", B)), "a1 b1 b2") == [((0,), (1,))]


def test_oracle_completing_event_also_starts() -> None:
    """6.14: `a -> b`, m is a and b, `a1 m1 b1`."""
    a_or_m, b_or_m = Cond("in", (1, 4)), Cond("in", (2, 4))
    for skip in ("none", "to next"):
        pattern = seq(t("a", a_or_m), t("b", b_or_m), skip=skip)
        assert ids(pattern, "a1 m1 b1") == [((0,), (1,)), ((1,), (2,))]
    assert ids(seq(t("a", a_or_m), t("b", b_or_m), skip="past last"), "a1 m1 b1") == [((0,), (1,))]


def test_oracle_ties_and_greedy_start() -> None:
    """6.15: reluctant and greedy `a+ -> b`, `a1 a2 b1`."""
    assert ids(seq(t("a", A, "+?"), t("b", B)), "a1 a2 b1") == [
        ((0, 1), (2,)),
        ((0,), (2,)),
        ((1,), (2,)),
    ]
    assert ids(seq(t("a", A, "+"), t("b", B)), "a1 a2 b1") == [((0, 1), (2,)), ((1,), (2,))]


def test_oracle_windows() -> None:
    """6.16: `within` is strict; equal times keep arrival order."""
    pattern = seq(t("a", A), t("b", B), within=10)
    assert ids(pattern, "a1@0 b1@9") == [((0,), (1,))]
    assert ids(pattern, "a1@0 b1@10") == []
    assert ids(seq(t("a", A), t("b", B), skip="past last"), "a1@5 a2@5 b1@5") == [((0,), (2,))]


def test_oracle_other_shapes() -> None:
    """6.17, in the project's tie order (Settled details "Ties")."""
    assert ids(seq(t("a", A, "?"), t("b", B)), "a1 x1 b1") == [((0,), (2,)), ((), (2,))]
    assert ids(seq(t("a", A, "*?"), t("b", B)), "a1 a2 b1") == [
        ((0, 1), (2,)),
        ((0,), (2,)),
        ((1,), (2,)),
        ((), (2,)),
    ]
    assert ids(seq(t("a", A), t("b", B, "*"), t("c", C)), "a1 c1") == [((0,), (), (1,))]
    assert ids(seq(t("a", A), t("b", B, "{0,2}?"), t("c", C)), "a1 b1 b2 c1") == [
        ((0,), (1, 2), (3,)),
        ((0,), (1,), (3,)),
        ((0,), (), (3,)),
    ]


def test_oracle_holds_back_later_starts() -> None:
    """6.11 (`s -> e`, e carries s's digit; here `b = E[v == a.v]`): `s1 s2 e2 e1`."""
    pattern = [t("a", Cond("true")), t("b", SAME_V)]
    events = [{"type": "E", "ts": i, "id": i, "k": "x", "v": v} for i, v in enumerate([1, 2, 2, 1])]
    expected = {
        "none": [(2, ((1,), (2,))), (3, ((0,), (3,)))],
        "to next": [(3, ((0,), (3,))), (2, ((1,), (2,)))],  # held, keeps its time
        "past last": [(3, ((0,), (3,)))],
    }
    for skip, reports in expected.items():
        rule = seq(*pattern, skip=skip)
        assert [(r.ts, r.ids) for r in oracle(rule, events)] == reports
        check(rule, events)
    # s1@0 s2@1 e2@2 x@12: the s1 run's window closes, which releases {s2; e2}
    events = [*events[:3], {"type": "E", "ts": 12, "id": 3, "k": "x", "v": 3}]
    rule = seq(*pattern, skip="past last", within=10)
    assert [(r.ts, r.ids) for r in oracle(rule, events)] == [(2, ((1,), (2,)))]
    check(rule, events)
    # without a window, or without `flush` at the end, the s1 run holds it forever
    for within, flush in ((None, False), (None, True), (10, False)):
        rule = seq(*pattern, skip="past last", within=within)
        assert oracle(rule, events[:3], flush=flush) == []
        check(rule, events[:3], flush)
    assert len(oracle(seq(*pattern, skip="past last", within=10), events[:3], flush=True)) == 1


@pytest.mark.parametrize(
    ("b", "within", "spec", "flush", "expected"),
    [
        # y's run from y3 ends when its window closes, before the event at 6
        ("-> ", 5, "y3@0 y1@1 y1@2 x2@3 x2@4 x1@6", False, ["x@4 3 4", "y@2 1 2"]),
        ("-> ", 5, "x2@1 y3@2 x3@3 x3@5 y3@6", False, ["x@5 2 3", "y@6 1 4"]),
        # x's run from x1 ends only with `flush`
        ("->> + consecutive", 3, "x1@2 x2@3 x2@3 y1@4 y1@4", True, ["y@4 3 4", "x@3 1 2"]),
        # two windows close at 5: x's timer was set first
        ("->> +", 4, "x1@1 y1@1 y2@2 y2@4 x3@4 x3@4", True, ["x@4 4 5", "y@4 2 3"]),
        ("-> + consecutive", 3, "y3@0 y2@0 x3@0 y2@1 x3@2 y3@3", True, ["x@2 2 4", "y@1 1 3"]),
    ],
)
def test_oracle_release_moments(
    b: str, within: int, spec: str, flush: bool, expected: list[str]
) -> None:
    """A held match leaves when the run holding it back ends, which orders it among the
    reports of the other partition: `a = E OP b = E[v == a.v]..`, skip to next (the
    cases are small ones where the engine and the oracle agree and a slip in the
    oracle's timing model would show)."""
    op, q, *contiguity = b.split(" ")
    term_b = t("b", SAME_V, q, op, *contiguity)
    pattern = Pattern((t("a", Cond("true")), term_b), within, "to next", partitioned=True)
    events = []
    for i, word in enumerate(spec.split()):
        value, _, at = word[1:].partition("@")
        events.append({"type": "E", "ts": int(at), "id": i, "k": word[0], "v": int(value)})
    reports = oracle(pattern, events, flush=flush)
    assert [f"{r.key}@{r.ts} {r.ids[0][0]} {' '.join(map(str, r.ids[1]))}" for r in reports] == (
        expected
    )
    check(pattern, events, flush)


def test_oracle_greedy_run_ends_and_stops_holding() -> None:
    """`a = E[v != 1]{1,2} ->> b = E`, `2 2 2 1`, skip to next: the run from the first
    event waits for b after a full greedy loop; the third event satisfies a, so it ends
    that run (rule 4), which no longer holds the later starts' matches back."""
    pattern = seq(t("a", Cond("!=", 1), "{1,2}"), t("b", Cond("true"), op="->>"), skip="to next")
    events = [
        {"type": "E", "ts": ts, "id": i, "k": "x", "v": v}
        for i, (v, ts) in enumerate([(2, 1), (2, 1), (2, 2), (1, 2)])
    ]
    assert [r.ids for r in oracle(pattern, events)] == [((1, 2), (3,)), ((2,), (3,))]
    check(pattern, events)


# ---------------------------------------------------------------------------- Flink cases


def _flink_cases() -> list[Any]:
    """The ported Flink cases of tests/flink whose rules are in the oracle's family, as
    pytest params (pattern, events, flush, expected reports as (ts or None, ids))."""
    from cep.lang import ast
    from cep.lang.checker import check_paths

    program = check_paths(["tests/flink"])
    out = []
    for _, test in program.tests:
        rule = program.rules[test.rule]
        case = _flink_case(ast, rule, test)
        if case is not None:
            out.append(pytest.param(*case, id=test.rule))
    return out


def _flink_case(ast: Any, checked: Any, test: Any) -> tuple | None:
    """One case translated: names become codes `v`, a condition the set of codes of
    the names that satisfy it. None when the case is outside the family."""
    rule = checked.rule
    if rule.where or rule.partition or rule.skip.kind not in ("none", "past_last", "to_next"):
        return None
    if any(e.event_type != "Event" for e in test.given) or test.allowed_delay is not None:
        return None
    if any(x.kind == "timeout" for x in test.expects):
        return None
    items, ops = (
        (rule.pattern.items, ("->", *rule.pattern.ops))
        if isinstance(rule.pattern, ast.Sequence)
        else ((rule.pattern,), ("->",))
    )
    records = [{k: v.value for k, v in e.fields.fields} for e in test.given]
    names = sorted({r["name"] for r in records})
    terms = []
    for item, op in zip(items, ops, strict=True):
        q = item if isinstance(item, ast.Quantified) else None
        term = q.body if q else item
        if not isinstance(term, ast.Term) or term.event_type != "Event" or not term.var:
            return None
        codes = _codes(ast, term.condition, names)
        if codes is None:
            return None
        cond = Cond("in", codes) if term.condition is not None else Cond("true")
        if q is None:
            terms.append(Term(term.var, cond, op=op))
        else:
            contiguity = {"relaxed": "relaxed", "strict": "consecutive", "any": "any"}[q.contiguity]
            terms.append(
                Term(term.var, cond, q.form, q.min_count, q.max_count, not q.greedy, contiguity, op)
            )
    skip = {"none": "none", "past_last": "past last", "to_next": "to next"}[rule.skip.kind]
    pattern = Pattern(tuple(terms), within=checked.within_ms, skip=skip)
    events = [
        {"type": "E", "ts": r["ts"], "id": r["id"], "k": "x", "v": names.index(r["name"])}
        for r in records
    ]
    expected = []
    for x in test.expects:
        if x.kind == "match":
            fields = {k: _ids(ast, v) for k, v in x.fields.fields}
            expected.append((None if x.at is None else x.at.value, fields))
        elif x.kind == "none" or (x.kind == "count" and x.count == 0):
            expected = []
    return pattern, events, test.flush, expected


def _codes(ast: Any, cond: Any, names: list[str]) -> tuple[int, ...] | None:
    """The codes of the names satisfying `name == "x"`, `contains(name, "x")` or `or`."""
    if cond is None:
        return tuple(range(len(names)))
    match cond:
        case ast.Binary(op="==", left=ast.Name(name="name"), right=ast.Literal(value=str(s))):
            return tuple(i for i, n in enumerate(names) if n == s)
        case ast.Call(func="contains", args=(ast.Name(name="name"), ast.Literal(value=str(s)))):
            return tuple(i for i, n in enumerate(names) if s in n)
        case ast.Binary(op="or", left=left, right=right):
            a, b = _codes(ast, left, names), _codes(ast, right, names)
            return None if a is None or b is None else tuple(sorted(set(a) | set(b)))
    return None


def _ids(ast: Any, value: Any) -> tuple[int, ...]:
    if isinstance(value, ast.ListExpr):
        return tuple(item.value for item in value.items)
    return () if value.value is None else (value.value,)


@pytest.mark.parametrize(("pattern", "events", "flush", "expected"), _flink_cases())
def test_oracle_on_ported_flink_cases(
    pattern: Pattern, events: list[Event], flush: bool, expected: list
) -> None:
    """The oracle gives the expectations of the ported Flink cases in its family."""
    reports = oracle(pattern, events, flush=flush)
    actual = [
        (r.ts, {term.var: ids for term, ids in zip(pattern.terms, r.ids, strict=True)})
        for r in reports
    ]
    assert len(actual) == len(expected), actual
    for (ts, bound), (at, fields) in zip(actual, expected, strict=True):
        assert at is None or at == ts
        assert {k: bound[k] for k in fields} == fields, (actual, expected)
