"""The pretty printer: printed text parses back to the same tree, in a canonical layout."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cep.lang import ast
from cep.lang.parser import lark_parser, parse_source
from cep.lang.printer import (
    KEYWORDS,
    format_expr,
    format_item,
    format_module,
    format_pattern,
)
from tests import strategies as cst

PATH = "fmt.cep"
_SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _reparse(text: str) -> ast.Module:
    result = parse_source(text, PATH)
    assert result.diagnostics == [], "\n".join(d.render(text) for d in result.diagnostics)
    return result.module


def _const(expr: ast.Expr) -> ast.Module:
    return ast.Module(PATH, (ast.ConstDecl("c", expr),))


def _rule(pattern: ast.Pattern) -> ast.Module:
    return ast.Module(PATH, (ast.Rule("r", None, pattern),))


# ---------------------------------------------------------------------------- properties


@_SETTINGS
@given(cst.modules(PATH))
def test_printed_module_parses_back_and_formatting_is_idempotent(module: ast.Module) -> None:
    text = format_module(module)
    reparsed = _reparse(text)
    assert reparsed == module, text
    # and formatting is idempotent
    assert format_module(reparsed) == text


@settings(max_examples=200, deadline=None)
@given(cst.exprs)
@example(ast.Unary("-", ast.Unary("-", ast.Name("x"))))
@example(ast.Binary("-", ast.Name("a"), ast.Binary("-", ast.Name("b"), ast.Name("c"))))
@example(ast.Binary("==", ast.Binary("<", ast.Name("a"), ast.Name("b")), ast.Name("c")))
@example(ast.Attribute(ast.Literal(5, "int"), "e5"))
def test_printed_expression_parses_back(expr: ast.Expr) -> None:
    text = format_module(_const(expr))
    assert _reparse(text) == _const(expr), text


@settings(max_examples=200, deadline=None)
@given(cst.patterns)
def test_printed_pattern_parses_back(pattern: ast.Pattern) -> None:
    text = format_module(_rule(pattern))
    assert _reparse(text) == _rule(pattern), text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(KEYWORDS)))
def test_keywords_round_trip_as_field_names(word: str) -> None:
    """`f.first`, `{ next: 1 }`, `event E { none: int }`, `emit to = 1`, ..."""
    module = ast.Module(
        PATH,
        (
            ast.EventDecl(word, word, (ast.FieldDecl(word, ast.TypeRef(word)),)),
            ast.Rule(
                word,
                None,
                ast.Term("v", "E", ast.Attribute(ast.Name("v"), word)),
                partition=(ast.FieldPath((word, word)),),
                skip=ast.Skip("to_first", word),
                emit=(ast.EmitField(word, ast.Attribute(ast.This(), word)),),
            ),
            ast.TestDecl(
                word,
                None,
                (ast.EventLiteral("E", ast.ObjectExpr(((word, ast.Literal(1, "int")),))),),
                (ast.Expect("count", word, count=1), ast.Expect("none", word)),
            ),
        ),
    )
    assert _reparse(format_module(module)) == module


def test_keyword_list_matches_the_grammar() -> None:
    grammar_words = {
        t.pattern.value
        for t in lark_parser().terminals
        if t.pattern.type == "str" and t.pattern.value.isidentifier()
    }
    assert grammar_words == KEYWORDS


# ---------------------------------------------------------------------------- every nesting
# Random trees rarely put one given operator right under another, so every pair of forms
# in every operand position is also checked exhaustively (one level of nesting is where
# precedence and associativity mistakes live).


def _expr_shapes(inner: ast.Expr) -> list[ast.Expr]:
    """Every expression form with `inner` in each of its operand places."""
    x = ast.Name("x")
    shapes: list[ast.Expr] = [ast.Unary(op, inner) for op in cst.UNARY_OPS]
    for op in cst.BINARY_OPS:
        shapes += [ast.Binary(op, inner, x), ast.Binary(op, x, inner)]
    shapes += [ast.Attribute(inner, "f"), ast.Index(inner, x), ast.Index(x, inner)]
    shapes += [ast.Call("f", (inner, x)), ast.ListExpr((inner,))]
    return shapes


_INNER_EXPRS = [
    *_expr_shapes(ast.Name("y")),
    ast.Literal(1, "int"),
    ast.Literal(1.5, "float"),
    ast.Literal(1000, "duration"),
    ast.Literal("s", "str"),
    ast.This(),
]


@pytest.mark.parametrize("inner", _INNER_EXPRS, ids=format_expr)
def test_every_expression_nested_in_every_place(inner: ast.Expr) -> None:
    for expr in _expr_shapes(inner):
        text = format_expr(expr)
        assert _reparse(f"const c = {text}") == _const(expr), text


def _pattern_shapes(inner: ast.Pattern) -> list[ast.Pattern]:
    """Every pattern form with `inner` in each of its places."""
    x = ast.Term(None, "X", None)
    shapes: list[ast.Pattern] = [inner, ast.Negation(inner), ast.AllOf((inner, x))]
    for form, low, high in (("+", 1, None), ("{n,m}", 1, 2)):
        for greedy in (True, False):
            for contiguity in ("relaxed", "strict", "any"):
                shapes.append(ast.Quantified(inner, form, low, high, greedy, contiguity))  # type: ignore[arg-type]
    for op in ("->", "=>", "->>"):
        shapes += [
            ast.Sequence((inner, x), (op,)),
            ast.Sequence((x, inner), (op,)),
            ast.Sequence((x, inner, x), (op, "->")),
        ]
    shapes += [ast.Alternation((inner, x)), ast.Alternation((x, inner))]
    return shapes


_INNER_PATTERNS = [
    *_pattern_shapes(ast.Term("v", "Y", ast.Name("c"))),
    ast.Term(None, None, None),
]


@pytest.mark.parametrize("inner", _INNER_PATTERNS, ids=format_pattern)
def test_every_pattern_nested_in_every_place(inner: ast.Pattern) -> None:
    for pattern in _pattern_shapes(inner):
        text = format_pattern(pattern)
        assert _reparse(f"rule r {{ pattern {text} }}") == _rule(pattern), text


# ---------------------------------------------------------------------------- examples

FIRST_FILE = """\
# rules/payments.cep
event Payment {
  user: str
  amount: float
  status: str
  country: str
}

const WINDOW = 1m

rule three_failed_payments "three failed payments by one user within a minute" {
  partition by user
  pattern f = Payment[status == "failed"]{3}
  within WINDOW
  emit user = f[0].user, first_at = f[0].ts, total = sum(f.amount)
  severity high
}

test three_failed_payments "fires on the third failure inside the minute" {
  given
    Payment { ts: 0s,  user: "u1", amount: 10, status: "failed", country: "US" }
    Payment { ts: 20s, user: "u1", amount: 11, status: "ok",     country: "US" }
    Payment { ts: 30s, user: "u1", amount: 12, status: "failed", country: "US" }
    Payment { ts: 59s, user: "u1", amount: 13, status: "failed", country: "US" }
  expect three_failed_payments { user: "u1", total: 35 } at 59s
}
"""

FIRST_FILE_FORMATTED = """\
event Payment {
  user: str
  amount: float
  status: str
  country: str
}

const WINDOW = 1m

rule three_failed_payments "three failed payments by one user within a minute" {
  partition by user
  pattern f = Payment[status == "failed"]{3}
  within WINDOW
  emit user = f[0].user, first_at = f[0].ts, total = sum(f.amount)
  severity high
}

test three_failed_payments "fires on the third failure inside the minute" {
  given
    Payment { ts: 0s,  user: "u1", amount: 10, status: "failed", country: "US" }
    Payment { ts: 20s, user: "u1", amount: 11, status: "ok",     country: "US" }
    Payment { ts: 30s, user: "u1", amount: 12, status: "failed", country: "US" }
    Payment { ts: 59s, user: "u1", amount: 13, status: "failed", country: "US" }
  expect three_failed_payments { user: "u1", total: 35 } at 59s
}
"""


def test_the_first_file_of_the_language_reference() -> None:
    module = _reparse(FIRST_FILE)
    assert format_module(module) == FIRST_FILE_FORMATTED
    assert _reparse(FIRST_FILE_FORMATTED) == module


def test_messy_file_is_laid_out_canonically() -> None:
    messy = """
    import "common.cep"   const LIMIT=[1,2.50,"a\\tb",] event Login extends Base{user:str,ok:bool
    tags:list[str]?}
    rule  r{severity low tags "x","y" emit n=count(a) where (a.n+1)*2>3 pattern a=Login[not ok]+?
    consecutive->>not Logout=>any within 1m30s skip to last a partition by user,geo.country
    on timeout emit  n=-(-1)}
    test r { expect no r flush allowed delay 250ms given Login{ts:0s,meta:{ip:"1.2.3.4"}}
      expect timeout r {n: 1}  expect 2 r }
    """
    expected = """\
        import "common.cep"

        const LIMIT = [1, 2.5, "a\\tb"]

        event Login extends Base {
          user: str
          ok: bool
          tags: list[str]?
        }

        rule r {
          partition by user, geo.country
          pattern a = Login[not ok]+? consecutive ->> not Logout => any
          where (a.n + 1) * 2 > 3
          within 1m30s
          skip to last a
          emit n = count(a)
          on timeout emit n = -(-1)
          severity low
          tags "x", "y"
        }

        test r {
          given
            Login { ts: 0s, meta: { ip: "1.2.3.4" } }
          expect no r
          expect timeout r { n: 1 }
          expect 2 r
          allowed delay 250ms
          flush
        }
        """
    module = _reparse(messy)
    assert format_module(module) == textwrap.dedent(expected)


def test_empty_blocks_and_empty_file() -> None:
    module = ast.Module(
        PATH,
        (
            ast.EventDecl("E", None, ()),
            ast.Rule("r", "d", None),
            ast.TestDecl("r", None, (), ()),
        ),
    )
    assert format_module(module) == 'event E {}\n\nrule r "d" {}\n\ntest r {}\n'
    assert _reparse(format_module(module)) == module
    assert format_module(ast.Module(PATH, ())) == ""


# ---------------------------------------------------------------------------- pieces


def _lit(value: object) -> ast.Literal:
    kinds = {bool: "bool", int: "int", float: "float", str: "str", type(None): "null"}
    return ast.Literal(value, kinds[type(value)])  # type: ignore[arg-type]


A, B, C = ast.Name("a"), ast.Name("b"), ast.Name("c")


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (_lit(1.0), "1.0"),
        (_lit(1e-05), "1e-05"),
        (_lit(1e16), "1e+16"),
        (_lit(0.1), "0.1"),
        (_lit('a"b\\c\n'), '"a\\"b\\\\c\\n"'),
        (_lit(None), "null"),
        (_lit(True), "true"),
        (ast.Literal(90_000, "duration"), "1m30s"),
        (ast.Literal(250, "duration"), "250ms"),
        (ast.Unary("-", _lit(1)), "-1"),
        (ast.Unary("-", ast.Unary("-", A)), "-(-a)"),
        (ast.Binary("-", A, ast.Unary("-", B)), "a - -b"),
        (ast.Binary("-", ast.Binary("-", A, B), C), "a - b - c"),
        (ast.Binary("-", A, ast.Binary("-", B, C)), "a - (b - c)"),
        (ast.Binary("*", ast.Binary("+", A, B), C), "(a + b) * c"),
        (ast.Binary("+", A, ast.Binary("*", B, C)), "a + b * c"),
        (ast.Binary("or", A, ast.Binary("and", B, C)), "a or b and c"),
        (ast.Binary("and", ast.Binary("or", A, B), C), "(a or b) and c"),
        (ast.Binary("or", A, ast.Binary("or", B, C)), "a or (b or c)"),
        (ast.Unary("not", ast.Binary("==", A, B)), "not a == b"),
        (ast.Binary("==", ast.Unary("not", A), B), "(not a) == b"),
        (ast.Unary("not", ast.Binary("and", A, B)), "not (a and b)"),
        (ast.Unary("not", ast.Unary("not", A)), "not not a"),
        (ast.Binary("==", ast.Binary("<", A, B), C), "(a < b) == c"),
        (ast.Binary("not in", A, ast.ListExpr((B, C))), "a not in [b, c]"),
        (ast.Binary("=~", A, _lit("^x$")), 'a =~ "^x$"'),
        (ast.Attribute(ast.Unary("-", A), "b"), "(-a).b"),
        (ast.Unary("-", ast.Attribute(A, "b")), "-a.b"),
        (ast.Index(ast.Binary("+", A, B), _lit(0)), "(a + b)[0]"),
        (ast.Index(A, ast.Unary("-", _lit(1))), "a[-1]"),
        (ast.Attribute(ast.Attribute(A, "first"), "next"), "a.first.next"),
        (ast.Call("f", ()), "f()"),
        (ast.Call("max", (A, ast.Binary("or", B, C))), "max(a, b or c)"),
        (ast.Attribute(ast.This(), "price"), "this.price"),
    ],
)
def test_format_expr(expr: ast.Expr, text: str) -> None:
    assert format_expr(expr) == text
    assert _reparse(f"const c = {text}") == _const(expr)


T_A, T_B, T_C, T_D = (ast.Term(None, n, None) for n in "ABCD")


def _q(
    body: ast.Pattern,
    form: str = "+",
    low: int = 1,
    high: int | None = None,
    greedy: bool = True,
    c: str = "relaxed",
) -> ast.Quantified:
    return ast.Quantified(body, form, low, high, greedy, c)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (ast.Term("v", None, ast.Binary(">", A, _lit(1))), "v = any[a > 1]"),
        (ast.Sequence((T_A, ast.Alternation((T_B, T_C)), T_D), ("->", "->")), "A -> B | C -> D"),
        (ast.Alternation((ast.Sequence((T_A, T_B), ("=>",)), T_C)), "(A => B) | C"),
        (ast.Alternation((T_A, ast.Alternation((T_B, T_C)))), "A | (B | C)"),
        (ast.Sequence((T_A, ast.Sequence((T_B, T_C), ("->",))), ("->>",)), "A ->> (B -> C)"),
        (_q(ast.Sequence((T_A, T_B), ("->",)), "{n,m}", 2, 3, greedy=False), "(A -> B){2,3}?"),
        (_q(_q(T_A), "*", 0), "(A+)*"),
        (_q(T_A, "?", 0, 1, greedy=False, c="any"), "A?? any"),
        (_q(T_A, "{n,}", 2, c="strict"), "A{2,} consecutive"),
        (_q(ast.Negation(T_A)), "(not A)+"),
        (ast.Negation(ast.Alternation((T_A, T_B))), "not A | B"),
        (ast.Negation(ast.Negation(T_A)), "not (not A)"),
        (ast.Alternation((ast.Negation(T_A), T_B)), "(not A) | B"),
        (ast.Sequence((T_A, ast.Negation(T_B), T_C), ("->", "->")), "A -> not B -> C"),
        (ast.AllOf((ast.Sequence((T_A, T_B), ("->",)), ast.Negation(T_C))), "all(A -> B, not C)"),
        (_q(ast.AllOf((T_A,)), "{n}", 2, 2), "all(A){2}"),
    ],
)
def test_format_pattern(pattern: ast.Pattern, text: str) -> None:
    assert format_pattern(pattern) == text
    assert _reparse(f"rule r {{ pattern {text} }}") == _rule(pattern)


def test_format_item_has_no_trailing_newline() -> None:
    assert format_item(ast.Import("a\\b.cep")) == 'import "a\\\\b.cep"'
    assert format_item(ast.ConstDecl("N", ast.ListExpr(()))) == "const N = []"


@pytest.mark.parametrize(
    "item",
    [
        ast.ConstDecl("c", ast.Name("not")),
        ast.ConstDecl("c", ast.Call("true", ())),
        ast.ConstDecl("not a name", _lit(1)),
        ast.ConstDecl("c", _lit(float("inf"))),
        ast.Rule("r", None, ast.Term("any", "A", None)),
        ast.Rule("r", None, ast.Term(None, "all", None)),
        ast.TestDecl("r", None, (ast.EventLiteral("expect", ast.ObjectExpr(())),), ()),
        ast.TestDecl("r", None, (), (ast.Expect("match", "timeout"),)),
    ],
)
def test_names_that_cannot_be_written_are_refused(item: ast.Item) -> None:
    with pytest.raises(ValueError):
        format_item(item)
