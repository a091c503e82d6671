"""Compiled expressions: values, null handling, functions and aggregates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.compile.expressions import Env, ExpressionCompiler
from cep.lang import ast
from cep.lang.checker import check_sources
from cep.runtime.event import Event

SCHEMA = "event P { user: str, amount: float, status: str, tags: list[str], note: str? }\n"


def P(ts: int = 0, **fields: Any) -> Event:
    return Event("P", ts, fields)


def evaluate(expr: str, bindings: dict[str, Any] | None = None, this: Event | None = None) -> Any:
    """Evaluate `expr` as the emit field of a rule `a = P -> f = P+ -> o = P?`."""
    text = SCHEMA + (
        'const LIMIT = 10\nconst NAMES = ["x", "y"]\n'
        "rule r { pattern a = P -> f = P+? -> o = P? within 1m "
        f"emit v = {expr}, a = a, f = f, o = o }}\n"
    )
    checked = check_sources({"t.cep": text})
    assert checked.ok, checked.render()
    rule = checked.rules["r"]
    compiled = ExpressionCompiler(rule.results.resolutions).compile(rule.rule.emit[0].expr)
    return compiled(Env(this, bindings or {}))


A = P(1000, user="u1", amount=5.0, status="ok", tags=["vip"])
F = [P(2000, user="u1", amount=1.5, status="failed"), P(4000, user="u1", amount=2.5, status="ok")]
BOUND = {"a": A, "f": F}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 % 4", 3),
        ("-a.amount", -5.0),
        ("1m30s", 90_000),
        ('a.amount > 4 and a.status == "ok"', True),
        ("not (a.amount > 4)", False),
        ('a.user in ["u1", "u2"]', True),
        ("a.user not in NAMES", True),
        ('"vip" in a.tags', True),
        ('a.user =~ "^u\\d$"', True),
        ('a.user =~ "x"', False),
        ("f[0].amount", 1.5),
        ("f[-1].amount", 2.5),
        ("f[5]", None),
        ("f.amount", [1.5, 2.5]),
        ("count(f)", 2),
        ("sum(f.amount)", 4.0),
        ("avg(f.amount)", 2.0),
        ("min(f.amount)", 1.5),
        ("max(f.amount)", 2.5),
        ("max(a.amount, 7)", 7),
        ("first(f).status", "failed"),
        ("last(f).status", "ok"),
        ("f[-1].ts - a.ts", 3000),
        ("f[-1].ts - a.ts < 5s", True),
        ("abs(0 - a.amount)", 5.0),
        ('lower("AbC")', "abc"),
        ("upper(a.user)", "U1"),
        ("len(a.user)", 2),
        ("round(2.567, 2)", 2.57),
        ("round(2.5)", 2),
        ('startswith(a.user, "u")', True),
        ('endswith(a.user, "2")', False),
        ('contains(a.tags, "vip")', True),
        ("a.amount > LIMIT", False),
        ("a.type", "P"),
        ("a.ts", 1000),
        ('"a" + "b"', "ab"),
    ],
)
def test_values(expr: str, expected: Any) -> None:
    assert evaluate(expr, BOUND) == expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # a missing optional field is null; every comparison with null is false
        ('a.note == "x"', False),
        ('a.note != "x"', False),
        ('a.note > "m"', False),
        ("exists(a.note)", False),
        ("not exists(a.note)", True),
        ('coalesce(a.note, "none")', "none"),
        ('a.note + "x"', None),
        ("lower(a.note)", None),
        ("len(a.note)", None),
        # a variable that bound nothing (`T?`) is null
        ("o", None),
        ("o.user", None),
        ("exists(o)", False),
        # division by zero gives null rather than stopping the run
        ("a.amount / 0", None),
    ],
)
def test_null_semantics(expr: str, expected: Any) -> None:
    assert evaluate(expr, BOUND) == expected


def test_round_keeps_values_without_an_integer() -> None:
    """`round` of NaN or an infinity (pushed from Python) is that value, as with digits,
    instead of stopping the run."""
    for value in (float("inf"), float("-inf")):
        assert evaluate("round(a.amount)", {"a": Event("P", 0, {"amount": value})}) == value
    nan = evaluate("round(a.amount)", {"a": Event("P", 0, {"amount": float("nan")})})
    assert nan != nan


def test_empty_list_aggregates() -> None:
    bound = {"a": A, "f": []}
    assert evaluate("count(f)", bound) == 0
    assert evaluate("sum(f.amount)", bound) == 0
    assert evaluate("avg(f.amount)", bound) is None
    assert evaluate("max(f.amount)", bound) is None
    assert evaluate("last(f)", bound) is None


def test_candidate_fields_and_own_variable_in_a_term_condition() -> None:
    text = SCHEMA + (
        "rule r { pattern b = P[count(b) == 0 or amount > last(b).amount]+ within 1m }\n"
    )
    checked = check_sources({"t.cep": text})
    assert checked.ok, checked.render()
    rule = checked.rules["r"]
    term = rule.rule.pattern.body  # type: ignore[union-attr]
    condition = ExpressionCompiler(rule.results.resolutions).condition(term.condition)
    rising = [P(0, amount=1.0), P(1, amount=2.0)]
    assert condition(Env(P(2, amount=3.0), {"b": rising})) is True
    assert condition(Env(P(2, amount=1.5), {"b": rising})) is False
    assert condition(Env(P(2, amount=0.1), {})) is True


def test_int_and_float_compare_but_text_and_numbers_do_not() -> None:
    assert evaluate("a.amount == 5", BOUND) is True
    # `code` is not declared, so it is typed from the data (schemas are open)
    assert evaluate("a.code == 1", {"a": P(code=1.0)}) is True
    assert evaluate("a.code == 1", {"a": P(code="1")}) is False
    assert evaluate("a.code < 1", {"a": P(code="0")}) is False


# ------------------------------------------------------------- direct event predicates

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.sampled_from(["a", "b", "", "ab"]),
    st.lists(st.integers(0, 2), max_size=2),
)
_LITERALS = st.one_of(
    st.integers(-3, 3).map(lambda v: ast.Literal(v, "int")),
    st.floats(-3, 3, allow_nan=False).map(lambda v: ast.Literal(v, "float")),
    st.sampled_from(["a", "b", ""]).map(lambda v: ast.Literal(v, "str")),
    st.booleans().map(lambda v: ast.Literal(v, "bool")),
)


@st.composite
def _simple_conditions(draw: st.DrawFn, depth: int = 0) -> ast.Expr:
    choice = draw(st.integers(0, 4 if depth < 2 else 1))
    field = ast.Name(draw(st.sampled_from(["x", "y", "ts"])))
    if choice == 0:
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        literal = draw(_LITERALS)
        flipped = draw(st.booleans())
        return ast.Binary(op, literal, field) if flipped else ast.Binary(op, field, literal)
    if choice == 1:
        items = tuple(draw(st.lists(_LITERALS, min_size=1, max_size=3)))
        return ast.Binary("in", field, ast.ListExpr(items))
    if choice == 2:
        return ast.Unary("not", draw(_simple_conditions(depth + 1)))
    op = "and" if choice == 3 else "or"
    return ast.Binary(op, draw(_simple_conditions(depth + 1)), draw(_simple_conditions(depth + 1)))


@settings(max_examples=300, deadline=None)
@given(_simple_conditions(), _VALUES, _VALUES, st.integers(0, 3))
def test_direct_predicates_mean_what_the_general_closures_mean(
    expr: ast.Expr, x: object, y: object, ts: int
) -> None:
    """The fast event tests give exactly the general compiler's truth value."""
    from cep.compile.expressions import EventPredicates, truthy

    fast = EventPredicates({}).build(expr)
    assert fast is not None
    general = ExpressionCompiler({}).compile(expr)
    data = {"x": x} if x is not None else {}
    if y is not None:
        data["y"] = y
    event = Event("E", ts, data)
    assert fast(event) == truthy(general(Env(event, {})))
