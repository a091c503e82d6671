"""Hypothesis strategies for random, syntactically valid rule-file syntax trees.

The trees are valid for the parser (each one can be printed and parsed back to itself
without a diagnostic), not for the type checker: names refer to nothing in particular.
Sizes are kept small so that property tests over whole modules run in seconds.

Names are drawn from ordinary identifiers and from the grammar's keywords, so that the
contextual lexer is exercised; a keyword is left out only where the grammar cannot take
it as a name (the `RESERVED_*` sets of `cep.lang.printer`).
"""

from __future__ import annotations

from hypothesis import strategies as st

from cep.lang import ast
from cep.lang.printer import (
    KEYWORDS,
    RESERVED_EXPECT_RULES,
    RESERVED_GIVEN_TYPES,
    RESERVED_IN_EXPRESSIONS,
    RESERVED_IN_PATTERNS,
)

_PLAIN_NAMES = ("a", "b", "x", "user", "amount", "Payment", "Login", "_t", "ts", "f2")
_KEYWORD_LIST = tuple(sorted(KEYWORDS))


def names(reserved: frozenset[str] = frozenset()) -> st.SearchStrategy[str]:
    """Identifiers: mostly plain, some keywords (minus `reserved`), some random."""
    keywords = tuple(k for k in _KEYWORD_LIST if k not in reserved)
    random = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
        lambda n: n not in reserved
    )
    return st.one_of(st.sampled_from(_PLAIN_NAMES), st.sampled_from(keywords), random)


any_names = names()
expr_names = names(RESERVED_IN_EXPRESSIONS)
pattern_names = names(RESERVED_IN_PATTERNS)

#: strings with quotes, backslashes, control characters and non-ASCII text
texts = st.one_of(
    st.sampled_from(("", "u1", "failed", 'say "hi"', "back\\slash", "\\d+", "tab\tnl\n")),
    st.text(max_size=8),
)

# ---------------------------------------------------------------------------- expressions

ints = st.integers(min_value=0, max_value=10**12)
floats = st.floats(min_value=0.0, allow_nan=False, allow_infinity=False).map(abs)
durations = st.one_of(
    st.sampled_from((0, 250, 1_000, 30_000, 90_000, 60_000, 86_400_000 + 1)),
    st.integers(min_value=0, max_value=10**10),
)

literals: st.SearchStrategy[ast.Literal] = st.one_of(
    st.builds(ast.Literal, ints, st.just("int")),
    st.builds(ast.Literal, floats, st.just("float")),
    st.builds(ast.Literal, texts, st.just("str")),
    st.builds(ast.Literal, st.booleans(), st.just("bool")),
    st.just(ast.Literal(None, "null")),
    st.builds(ast.Literal, durations, st.just("duration")),
)

UNARY_OPS: tuple[ast.UnaryOp, ...] = ("-", "not")
BINARY_OPS: tuple[ast.BinaryOp, ...] = (
    "or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "=~", "+", "-", "*", "/", "%",
)  # fmt: skip


def _extend_expr(children: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.Expr]:
    small_lists = st.lists(children, max_size=3).map(tuple)
    return st.one_of(
        st.builds(ast.Unary, st.sampled_from(UNARY_OPS), children),
        st.builds(ast.Binary, st.sampled_from(BINARY_OPS), children, children),
        st.builds(ast.Attribute, children, any_names),
        st.builds(ast.Index, children, children),
        st.builds(ast.Call, expr_names, small_lists),
        st.builds(ast.ListExpr, small_lists),
    )


#: every expression form except record literals (which only appear in tests)
exprs: st.SearchStrategy[ast.Expr] = st.recursive(
    st.one_of(literals, st.builds(ast.Name, expr_names), st.just(ast.This())),
    _extend_expr,
    max_leaves=8,
)

small_exprs: st.SearchStrategy[ast.Expr] = st.recursive(
    st.one_of(literals, st.builds(ast.Name, expr_names), st.just(ast.This())),
    _extend_expr,
    max_leaves=3,
)


def _object_of(values: st.SearchStrategy[ast.Expr]) -> st.SearchStrategy[ast.ObjectExpr]:
    fields = st.lists(st.tuples(any_names, values), max_size=4, unique_by=lambda f: f[0])
    return fields.map(lambda fs: ast.ObjectExpr(tuple(fs)))


#: record literals `{ name: value, ... }` with unique field names, possibly nested
objects: st.SearchStrategy[ast.ObjectExpr] = st.recursive(
    _object_of(small_exprs),
    lambda inner: _object_of(st.one_of(small_exprs, inner)),
    max_leaves=3,
)

# ---------------------------------------------------------------------------- patterns


@st.composite
def quantifier_args(draw: st.DrawFn) -> tuple[str, int, int | None]:
    """(form, min_count, max_count) as the parser builds them, never a bad repetition."""
    form = draw(st.sampled_from(("+", "*", "?", "{n}", "{n,}", "{n,m}")))
    if form == "+":
        return form, 1, None
    if form == "*":
        return form, 0, None
    if form == "?":
        return form, 0, 1
    if form == "{n}":
        n = draw(st.integers(1, 20))
        return form, n, n
    if form == "{n,}":
        return form, draw(st.integers(0, 20)), None
    low = draw(st.integers(0, 20))
    return form, low, draw(st.integers(max(low, 1), 25))


terms: st.SearchStrategy[ast.Term] = st.builds(
    ast.Term,
    st.none() | pattern_names,
    st.none() | pattern_names,
    st.none() | small_exprs,
)


@st.composite
def _quantified(draw: st.DrawFn, bodies: st.SearchStrategy[ast.Pattern]) -> ast.Quantified:
    form, low, high = draw(quantifier_args())
    return ast.Quantified(
        draw(bodies),
        form,  # type: ignore[arg-type]
        low,
        high,
        draw(st.booleans()),
        draw(st.sampled_from(("relaxed", "strict", "any"))),
    )


@st.composite
def _sequence(draw: st.DrawFn, items: st.SearchStrategy[ast.Pattern]) -> ast.Sequence:
    parts = draw(st.lists(items, min_size=2, max_size=3))
    arrows = st.sampled_from(("->", "=>", "->>"))
    ops = draw(st.lists(arrows, min_size=len(parts) - 1, max_size=len(parts) - 1))
    return ast.Sequence(tuple(parts), tuple(ops))  # type: ignore[arg-type]


def _extend_pattern(children: st.SearchStrategy[ast.Pattern]) -> st.SearchStrategy[ast.Pattern]:
    return st.one_of(
        _quantified(children),
        st.builds(ast.Negation, children),
        _sequence(children),
        st.lists(children, min_size=2, max_size=3).map(lambda o: ast.Alternation(tuple(o))),
        st.lists(children, min_size=1, max_size=3).map(lambda m: ast.AllOf(tuple(m))),
    )


#: every pattern form, nested in any way (the printer adds the parentheses)
patterns: st.SearchStrategy[ast.Pattern] = st.recursive(terms, _extend_pattern, max_leaves=5)

# ---------------------------------------------------------------------------- rules

field_paths = st.lists(any_names, min_size=1, max_size=3).map(lambda p: ast.FieldPath(tuple(p)))

skips: st.SearchStrategy[ast.Skip] = st.one_of(
    st.sampled_from(("past_last", "to_next", "none")).map(ast.Skip),
    st.builds(ast.Skip, st.sampled_from(("to_first", "to_last")), any_names),
)


def _emit_fields() -> st.SearchStrategy[tuple[ast.EmitField, ...]]:
    fields = st.lists(
        st.builds(ast.EmitField, any_names, small_exprs),
        min_size=1,
        max_size=3,
        unique_by=lambda f: f.name,
    )
    return fields.map(tuple)


def _optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


rules: st.SearchStrategy[ast.Rule] = st.builds(
    ast.Rule,
    name=any_names,
    description=_optional(texts),
    pattern=_optional(patterns),
    partition=st.lists(field_paths, max_size=2).map(tuple),
    where=_optional(small_exprs),
    within=_optional(small_exprs),
    skip=_optional(skips),
    emit=_optional(_emit_fields()),
    timeout_emit=_optional(_emit_fields()),
    severity=_optional(st.sampled_from(ast.SEVERITIES)),
    tags=_optional(st.lists(texts, min_size=1, max_size=3).map(tuple)),
)

# ---------------------------------------------------------------------------- schemas

type_refs: st.SearchStrategy[ast.TypeRef] = st.recursive(
    st.builds(ast.TypeRef, st.sampled_from(("int", "float", "str", "bool", "time")) | any_names),
    lambda inner: st.builds(ast.TypeRef, st.sampled_from(("list", "set")) | any_names, inner),
    max_leaves=3,
)

event_decls: st.SearchStrategy[ast.EventDecl] = st.builds(
    ast.EventDecl,
    any_names,
    _optional(any_names),
    st.lists(st.builds(ast.FieldDecl, any_names, type_refs, st.booleans()), max_size=4).map(tuple),
)

const_decls: st.SearchStrategy[ast.ConstDecl] = st.builds(
    ast.ConstDecl,
    any_names,
    st.one_of(
        literals, st.lists(literals, max_size=3).map(lambda i: ast.ListExpr(tuple(i))), small_exprs
    ),
)

imports: st.SearchStrategy[ast.Import] = st.builds(
    ast.Import, st.sampled_from(("other.cep", "../common/schemas.cep")) | texts
)

# ---------------------------------------------------------------------------- tests

event_literals: st.SearchStrategy[ast.EventLiteral] = st.builds(
    ast.EventLiteral, names(RESERVED_GIVEN_TYPES), objects
)

expects: st.SearchStrategy[ast.Expect] = st.one_of(
    st.builds(
        ast.Expect,
        st.just("match"),
        names(RESERVED_EXPECT_RULES),
        fields=_optional(objects),
        at=_optional(small_exprs),
    ),
    st.builds(
        ast.Expect,
        st.just("timeout"),
        any_names,
        fields=_optional(objects),
        at=_optional(small_exprs),
    ),
    st.builds(ast.Expect, st.just("none"), any_names),
    st.builds(ast.Expect, st.just("count"), any_names, count=st.integers(0, 1000)),
)

test_decls: st.SearchStrategy[ast.TestDecl] = st.builds(
    ast.TestDecl,
    rule=any_names,
    description=_optional(texts),
    given=st.lists(event_literals, max_size=3).map(tuple),
    expects=st.lists(expects, max_size=3).map(tuple),
    allowed_delay=_optional(small_exprs),
    flush=st.booleans(),
)

# ---------------------------------------------------------------------------- files

items: st.SearchStrategy[ast.Item] = st.one_of(imports, const_decls, event_decls, rules, test_decls)


def modules(path: str = "<string>", max_items: int = 4) -> st.SearchStrategy[ast.Module]:
    """Whole files of up to `max_items` declarations of every kind."""
    return st.lists(items, max_size=max_items).map(lambda i: ast.Module(path, tuple(i)))
