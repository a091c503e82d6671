"""The grammar and the tree builder: every construct of the language, down to the exact tree.

Spans are left out of node equality, so each test builds the expected nodes by hand and
compares whole trees with `==`.
"""

from __future__ import annotations

import pytest

from cep.lang import ast
from cep.lang.parser import ParseResult, parse_source

PATH = "rules.cep"

# ---------------------------------------------------------------------------- helpers


def parse_ok(text: str) -> tuple[ast.Item, ...]:
    result = parse_source(text, PATH)
    assert result.diagnostics == [], [d.render(text) for d in result.diagnostics]
    assert result.ok
    return result.module.items


def expr(text: str) -> ast.Expr:
    (item,) = parse_ok(f"const c = {text}")
    assert isinstance(item, ast.ConstDecl)
    return item.value


def rule(body: str, header: str = "rule r") -> ast.Rule:
    (item,) = parse_ok(f"{header} {{\n{body}\n}}")
    assert isinstance(item, ast.Rule)
    return item


def pattern(text: str) -> ast.Pattern | None:
    return rule(f"pattern {text}").pattern


def parse_test_block(body: str) -> ast.TestDecl:
    (item,) = parse_ok(f"test r {{\n{body}\n}}")
    assert isinstance(item, ast.TestDecl)
    return item


def errors(text: str) -> ParseResult:
    result = parse_source(text, PATH)
    assert not result.ok
    return result


def n(name: str) -> ast.Name:
    return ast.Name(name)


def i(value: int) -> ast.Literal:
    return ast.Literal(value, "int")


def f(value: float) -> ast.Literal:
    return ast.Literal(value, "float")


def s(value: str) -> ast.Literal:
    return ast.Literal(value, "str")


def d(ms: int) -> ast.Literal:
    return ast.Literal(ms, "duration")


def b(op: str, left: ast.Expr, right: ast.Expr) -> ast.Binary:
    return ast.Binary(op, left, right)  # type: ignore[arg-type]


def neg(operand: ast.Expr) -> ast.Unary:
    return ast.Unary("-", operand)


def not_(operand: ast.Expr) -> ast.Unary:
    return ast.Unary("not", operand)


def attr(obj: ast.Expr, *names: str) -> ast.Expr:
    for name in names:
        obj = ast.Attribute(obj, name)
    return obj


def t(event_type: str | None, var: str | None = None, cond: ast.Expr | None = None) -> ast.Term:
    return ast.Term(var, event_type, cond)


def q(
    body: ast.Pattern,
    form: str,
    low: int,
    high: int | None,
    greedy: bool = True,
    contiguity: str = "relaxed",
) -> ast.Quantified:
    return ast.Quantified(body, form, low, high, greedy, contiguity)  # type: ignore[arg-type]


def seq(*parts: ast.Pattern | str) -> ast.Sequence:
    return ast.Sequence(tuple(parts[0::2]), tuple(parts[1::2]))  # type: ignore[arg-type]


def alt(*options: ast.Pattern) -> ast.Alternation:
    return ast.Alternation(options)


def obj(**fields: ast.Expr) -> ast.ObjectExpr:
    return ast.ObjectExpr(tuple(fields.items()))


A, B, C, D = t("A"), t("B"), t("C"), t("D")
X, Y, Z = n("x"), n("y"), n("z")
NULL = ast.Literal(None, "null")
TRUE = ast.Literal(True, "bool")
FALSE = ast.Literal(False, "bool")


# ---------------------------------------------------------------------------- files


def test_empty_file_and_comments_only() -> None:
    assert parse_ok("") == ()
    assert parse_ok("# nothing here\n\n   # at all\n") == ()


def test_declarations_in_any_order() -> None:
    text = """
    test r { }
    rule r { pattern A }
    event A { }
    const K = 1
    import "x.cep"
    """
    assert parse_ok(text) == (
        ast.TestDecl("r", None, (), ()),
        ast.Rule("r", None, A),
        ast.EventDecl("A", None, ()),
        ast.ConstDecl("K", i(1)),
        ast.Import("x.cep"),
    )


def test_comments_anywhere() -> None:
    text = """# header comment
    rule r "has # inside" { # after the brace
      pattern A # after the pattern
        -> B    # inside the pattern
      # on a line of its own
      where x == "# not a comment" # after an expression
    } # after the rule
    """
    assert parse_ok(text) == (
        ast.Rule("r", "has # inside", seq(A, "->", B), where=b("==", X, s("# not a comment"))),
    )


def test_windows_line_endings_and_tabs() -> None:
    assert parse_ok("const a = 1\r\n\tconst b = 2\r\n") == (
        ast.ConstDecl("a", i(1)),
        ast.ConstDecl("b", i(2)),
    )


# ---------------------------------------------------------------------------- imports


def test_import() -> None:
    assert parse_ok('import "other.cep"') == (ast.Import("other.cep"),)


def test_several_imports_with_escapes() -> None:
    assert parse_ok('import "../common/schemas.cep"\nimport "dir\\\\a \\"b\\".cep"') == (
        ast.Import("../common/schemas.cep"),
        ast.Import('dir\\a "b".cep'),
    )


# ---------------------------------------------------------------------------- constants


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", i(0)),
        ("42", i(42)),
        ("007", i(7)),
        ("9223372036854775807", i(9223372036854775807)),
        ("000000000000000000000000000001", i(1)),
        ("3.5", f(3.5)),
        ("0.25", f(0.25)),
        ("1e3", f(1000.0)),
        ("1E3", f(1000.0)),
        ("2.5e-3", f(0.0025)),
        ("1.5E+2", f(150.0)),
        ('""', s("")),
        ('"failed"', s("failed")),
        ('"tab\\there"', s("tab\there")),
        ('"line\\nbreak\\r"', s("line\nbreak\r")),
        ('"say \\"hi\\""', s('say "hi"')),
        ('"back\\\\slash"', s("back\\slash")),
        ('"a\\/b\\0"', s("a/b\0")),
        ('"caf\\u00e9 \\u00E9"', s("café é")),
        ('"\\d+\\.\\w"', s("\\d+\\.\\w")),  # unknown escapes are kept, for regexes
        ('"naïve ✓"', s("naïve ✓")),
        ("true", TRUE),
        ("false", FALSE),
        ("null", NULL),
        ("250ms", d(250)),
        ("30s", d(30_000)),
        ("5m", d(300_000)),
        ("2h", d(7_200_000)),
        ("1d", d(86_400_000)),
        ("0s", d(0)),
        ("1m30s", d(90_000)),
        ("1h30m", d(5_400_000)),
        ("1d2h3m4s5ms", d(93_784_005)),
        ("1s500ms", d(1_500)),
        ("[]", ast.ListExpr(())),
        ("[1]", ast.ListExpr((i(1),))),
        (
            '[1, 2.5, "a", true, null, 5m]',
            ast.ListExpr((i(1), f(2.5), s("a"), TRUE, NULL, d(300_000))),
        ),
        ("[1, 2,]", ast.ListExpr((i(1), i(2)))),
        ("[[1], []]", ast.ListExpr((ast.ListExpr((i(1),)), ast.ListExpr(())))),
        ("-5", neg(i(5))),
        ("-1.5", neg(f(1.5))),
    ],
)
def test_const_literals(text: str, value: ast.Expr) -> None:
    assert parse_ok(f"const K = {text}") == (ast.ConstDecl("K", value),)


def test_const_value_is_an_expression() -> None:
    assert parse_ok("const WINDOW = 2 * BASE") == (
        ast.ConstDecl("WINDOW", b("*", i(2), n("BASE"))),
    )


def test_literal_kinds_are_distinct() -> None:
    assert expr("1") != expr("1.0")
    assert expr("1000") != expr("1s")
    assert expr("1") != expr("true")


# ---------------------------------------------------------------------------- event schemas


def _fd(name: str, type_name: str, optional: bool = False, arg: str | None = None):
    ref = ast.TypeRef(type_name, ast.TypeRef(arg) if arg else None)
    return ast.FieldDecl(name, ref, optional)


def test_event_with_newline_separated_fields() -> None:
    text = """event Payment {
      user: str
      amount: float
      count: int
      ok: bool
      at_time: time
      wait: duration
    }"""
    assert parse_ok(text) == (
        ast.EventDecl(
            "Payment",
            None,
            (
                _fd("user", "str"),
                _fd("amount", "float"),
                _fd("count", "int"),
                _fd("ok", "bool"),
                _fd("at_time", "time"),
                _fd("wait", "duration"),
            ),
        ),
    )


def test_event_with_comma_separated_fields() -> None:
    assert parse_ok("event Login { user: str, ok: bool }") == (
        ast.EventDecl("Login", None, (_fd("user", "str"), _fd("ok", "bool"))),
    )


def test_event_with_mixed_separators_and_trailing_comma() -> None:
    assert parse_ok("event E { a: int b: str,\n c: bool, }") == (
        ast.EventDecl("E", None, (_fd("a", "int"), _fd("b", "str"), _fd("c", "bool"))),
    )


def test_event_optional_and_list_fields() -> None:
    text = "event E {\n  tags: list[str]\n  note: str?\n  ids: list[int]?\n}"
    assert parse_ok(text) == (
        ast.EventDecl(
            "E",
            None,
            (
                _fd("tags", "list", arg="str"),
                _fd("note", "str", optional=True),
                _fd("ids", "list", optional=True, arg="int"),
            ),
        ),
    )


def test_event_nested_list_type() -> None:
    (event,) = parse_ok("event E { grid: list[list[float]] }")
    assert event == ast.EventDecl(
        "E",
        None,
        (ast.FieldDecl("grid", ast.TypeRef("list", ast.TypeRef("list", ast.TypeRef("float")))),),
    )


def test_event_extends() -> None:
    assert parse_ok("event CardPayment extends Payment { card: str }") == (
        ast.EventDecl("CardPayment", "Payment", (_fd("card", "str"),)),
    )


def test_empty_event() -> None:
    assert parse_ok("event Ping {}") == (ast.EventDecl("Ping", None, ()),)


def test_keywords_as_schema_names() -> None:
    text = "event first extends next {\n  type: str\n  none: int?\n  rule: list[event]\n}"
    assert parse_ok(text) == (
        ast.EventDecl(
            "first",
            "next",
            (
                _fd("type", "str"),
                _fd("none", "int", optional=True),
                _fd("rule", "list", arg="event"),
            ),
        ),
    )


# ---------------------------------------------------------------------------- rules


def test_minimal_rule() -> None:
    assert rule("pattern A") == ast.Rule("r", None, A)


def test_rule_description() -> None:
    assert rule("pattern A", 'rule r "fires \\"now\\""') == ast.Rule("r", 'fires "now"', A)


def test_rule_without_clauses() -> None:
    assert parse_ok("rule r {}") == (ast.Rule("r", None, None),)


def test_partition_by_one_field() -> None:
    assert rule("partition by user\npattern A").partition == (ast.FieldPath(("user",)),)


def test_partition_by_several_and_dotted_fields() -> None:
    assert rule("partition by user, card.country, a.b.c\npattern A").partition == (
        ast.FieldPath(("user",)),
        ast.FieldPath(("card", "country")),
        ast.FieldPath(("a", "b", "c")),
    )


def test_where_clause() -> None:
    assert rule("pattern a = A -> b = B\nwhere b.ts - a.ts < 5m") == ast.Rule(
        "r",
        None,
        seq(t("A", "a"), "->", t("B", "b")),
        where=b("<", b("-", attr(n("b"), "ts"), attr(n("a"), "ts")), d(300_000)),
    )


def test_within_clause() -> None:
    assert rule("pattern A\nwithin 1m30s").within == d(90_000)
    assert rule("pattern A\nwithin WINDOW").within == n("WINDOW")


@pytest.mark.parametrize(
    ("text", "skip"),
    [
        ("skip past last", ast.Skip("past_last")),
        ("skip to next", ast.Skip("to_next")),
        ("skip to first a", ast.Skip("to_first", "a")),
        ("skip to last a", ast.Skip("to_last", "a")),
        ("skip none", ast.Skip("none")),
        ("skip to first last", ast.Skip("to_first", "last")),
    ],
)
def test_skip_clause(text: str, skip: ast.Skip) -> None:
    assert rule(f"pattern a = A\n{text}").skip == skip


def test_emit_clause() -> None:
    assert rule("pattern f = A+\nemit user = f[0].user").emit == (
        ast.EmitField("user", attr(ast.Index(n("f"), i(0)), "user")),
    )
    assert rule("pattern f = A+\nemit n = count(f), total = sum(f.amount), k = 1").emit == (
        ast.EmitField("n", ast.Call("count", (n("f"),))),
        ast.EmitField("total", ast.Call("sum", (attr(n("f"), "amount"),))),
        ast.EmitField("k", i(1)),
    )


def test_on_timeout_emit_clause() -> None:
    parsed = rule("pattern a = A -> b = B\non timeout emit user = a.user, partial = true")
    assert parsed.timeout_emit == (
        ast.EmitField("user", attr(n("a"), "user")),
        ast.EmitField("partial", TRUE),
    )
    assert parsed.emit is None


@pytest.mark.parametrize("level", ["low", "medium", "high", "critical"])
def test_severity_clause(level: str) -> None:
    assert rule(f"pattern A\nseverity {level}").severity == level


def test_tags_clause() -> None:
    assert rule('pattern A\ntags "fraud"').tags == ("fraud",)
    assert rule('pattern A\ntags "fraud", "pay\\tments", ""').tags == ("fraud", "pay\tments", "")


def test_rule_with_every_clause_in_any_order_on_one_line() -> None:
    text = (
        'rule r "d" { tags "t" severity low on timeout emit y = 2 emit x = 1 skip to next '
        "within 10s where a.ok pattern a = A partition by k }"
    )
    assert parse_ok(text) == (
        ast.Rule(
            name="r",
            description="d",
            pattern=t("A", "a"),
            partition=(ast.FieldPath(("k",)),),
            where=attr(n("a"), "ok"),
            within=d(10_000),
            skip=ast.Skip("to_next"),
            emit=(ast.EmitField("x", i(1)),),
            timeout_emit=(ast.EmitField("y", i(2)),),
            severity="low",
            tags=("t",),
        ),
    )


def test_clause_order_is_recorded() -> None:
    parsed = rule("within 1m\npattern A\nseverity low")
    assert [key for key, _ in parsed.clause_spans] == ["within", "pattern", "severity"]


def test_keywords_as_names_in_rules() -> None:
    text = """rule test {
      partition by first, next.last
      pattern v = next[this.first > 0] -> w = within
      emit to = v.next, none = w.by
      skip to last none
    }"""
    assert parse_ok(text) == (
        ast.Rule(
            "test",
            None,
            seq(t("next", "v", b(">", attr(ast.This(), "first"), i(0))), "->", t("within", "w")),
            partition=(ast.FieldPath(("first",)), ast.FieldPath(("next", "last"))),
            skip=ast.Skip("to_last", "none"),
            emit=(
                ast.EmitField("to", attr(n("v"), "next")),
                ast.EmitField("none", attr(n("w"), "by")),
            ),
        ),
    )


# ---------------------------------------------------------------------------- patterns


def test_term_forms() -> None:
    assert pattern("A") == t("A")
    assert pattern("a = A") == t("A", "a")
    assert pattern("A[x > 1]") == t("A", None, b(">", X, i(1)))
    assert pattern("a = A[x > 1]") == t("A", "a", b(">", X, i(1)))


def test_any_event_type() -> None:
    assert pattern("any") == t(None)
    assert pattern("e = any") == t(None, "e")
    assert pattern('e = any[type != "Ping"]') == t(None, "e", b("!=", n("type"), s("Ping")))


@pytest.mark.parametrize("op", ["->", "=>", "->>"])
def test_sequence_operators(op: str) -> None:
    assert pattern(f"A {op} B") == seq(A, op, B)
    assert pattern(f"A{op}B") == seq(A, op, B)


def test_sequence_is_flat_with_mixed_operators() -> None:
    assert pattern("A -> B => C ->> D") == seq(A, "->", B, "=>", C, "->>", D)


def test_sequence_across_lines() -> None:
    assert pattern("a = A\n  -> b = B[b.x > a.x]\n  => C") == seq(
        t("A", "a"), "->", t("B", "b", b(">", attr(n("b"), "x"), attr(n("a"), "x"))), "=>", C
    )


@pytest.mark.parametrize(
    ("text", "form", "low", "high"),
    [
        ("{3}", "{n}", 3, 3),
        ("{2,5}", "{n,m}", 2, 5),
        ("{2,}", "{n,}", 2, None),
        ("{0,}", "{n,}", 0, None),
        ("{ 2 , 5 }", "{n,m}", 2, 5),
        ("+", "+", 1, None),
        ("*", "*", 0, None),
        ("?", "?", 0, 1),
    ],
)
def test_quantifiers(text: str, form: str, low: int, high: int | None) -> None:
    assert pattern(f"f = A[x]{text}") == q(t("A", "f", X), form, low, high)


@pytest.mark.parametrize(
    ("text", "form", "low", "high"),
    [
        ("+?", "+", 1, None),
        ("*?", "*", 0, None),
        ("??", "?", 0, 1),
        ("{2,5}?", "{n,m}", 2, 5),
        ("{2,}?", "{n,}", 2, None),
        ("{3}?", "{n}", 3, 3),
    ],
)
def test_reluctant_quantifiers(text: str, form: str, low: int, high: int | None) -> None:
    assert pattern(f"A{text}") == q(A, form, low, high, greedy=False)


def test_contiguity() -> None:
    assert pattern("A{3} consecutive") == q(A, "{n}", 3, 3, contiguity="strict")
    assert pattern("A+ any") == q(A, "+", 1, None, contiguity="any")
    assert pattern("A+? consecutive") == q(A, "+", 1, None, greedy=False, contiguity="strict")
    assert pattern("A{1,3}? any -> B") == seq(
        q(A, "{n,m}", 1, 3, greedy=False, contiguity="any"), "->", B
    )


def test_any_as_contiguity_and_as_event_type() -> None:
    assert pattern("any+ any ->> any") == seq(
        q(t(None), "+", 1, None, contiguity="any"), "->>", t(None)
    )


def test_negation_in_the_middle() -> None:
    assert pattern("A -> not B -> C") == seq(A, "->", ast.Negation(B), "->", C)


def test_negation_at_the_end() -> None:
    assert pattern("A -> not B") == seq(A, "->", ast.Negation(B))
    assert pattern("A => not B[x]") == seq(A, "=>", ast.Negation(t("B", None, X)))


def test_negation_takes_an_alternation() -> None:
    assert pattern("A -> not B | C") == seq(A, "->", ast.Negation(alt(B, C)))
    assert pattern("A -> not (B -> C)") == seq(A, "->", ast.Negation(seq(B, "->", C)))


def test_alternation() -> None:
    assert pattern("A | B") == alt(A, B)
    assert pattern("A | B | C") == alt(A, B, C)
    assert pattern("a = A[x] | b = B") == alt(t("A", "a", X), t("B", "b"))


def test_alternation_binds_tighter_than_arrows() -> None:
    assert pattern("A -> B | C -> D") == seq(A, "->", alt(B, C), "->", D)
    assert pattern("A | B => C") == seq(alt(A, B), "=>", C)
    assert pattern("(A -> B) | C") == alt(seq(A, "->", B), C)


def test_quantifiers_bind_tighter_than_alternation() -> None:
    assert pattern("A+ | B{2}") == alt(q(A, "+", 1, None), q(B, "{n}", 2, 2))


def test_all_of() -> None:
    assert pattern("all(A)") == ast.AllOf((A,))
    assert pattern("all(a = A, b = B[x], C)") == ast.AllOf((t("A", "a"), t("B", "b", X), C))
    assert pattern("all(A -> B, C | D) -> any") == seq(
        ast.AllOf((seq(A, "->", B), alt(C, D))), "->", t(None)
    )


def test_groups() -> None:
    assert pattern("(A)") == A
    assert pattern("((A -> B))") == seq(A, "->", B)
    assert pattern("A -> (B -> C)") == seq(A, "->", seq(B, "->", C))
    assert pattern("(A | B) | C") == alt(alt(A, B), C)


def test_groups_with_quantifiers() -> None:
    assert pattern("(A -> B){2}") == q(seq(A, "->", B), "{n}", 2, 2)
    assert pattern("(A | B)+? consecutive -> C") == seq(
        q(alt(A, B), "+", 1, None, greedy=False, contiguity="strict"), "->", C
    )
    assert pattern("all(A, B)*") == q(ast.AllOf((A, B)), "*", 0, None)
    assert pattern("(A+)?") == q(q(A, "+", 1, None), "?", 0, 1)


def test_rising_run_from_the_reference() -> None:
    cond = b(
        "or",
        b("==", ast.Call("count", (n("b"),)), i(0)),
        b(">", n("price"), attr(ast.Call("last", (n("b"),)), "price")),
    )
    assert pattern("b = Tick[count(b) == 0 or price > last(b).price]+") == q(
        t("Tick", "b", cond), "+", 1, None
    )


# ---------------------------------------------------------------------------- expressions


def test_atoms() -> None:
    assert expr("x") == X
    assert expr("this") == ast.This()
    assert expr("(x)") == X
    assert expr("((1))") == i(1)


def test_field_access() -> None:
    assert expr("v.field") == attr(n("v"), "field")
    assert expr("v.a.b") == attr(n("v"), "a", "b")
    assert expr("this.price") == attr(ast.This(), "price")


def test_keywords_as_field_names() -> None:
    assert expr("f.first") == attr(n("f"), "first")
    assert expr("x.next") == attr(X, "next")
    for word in ["last", "none", "not", "in", "and", "or", "this", "true", "null", "any", "all"]:
        assert expr(f"v.{word}") == attr(n("v"), word)


def test_keywords_as_bare_names_where_no_keyword_fits() -> None:
    # an expression cannot start with `first`, `and` or `in`, so they are names there
    assert expr("first + in") == b("+", n("first"), n("in"))
    assert expr("and(or)") == ast.Call("and", (n("or"),))


def test_indexing() -> None:
    assert expr("f[0]") == ast.Index(n("f"), i(0))
    assert expr("f[-1]") == ast.Index(n("f"), neg(i(1)))
    assert expr("f[i].amount") == attr(ast.Index(n("f"), n("i")), "amount")
    assert expr("f[0][1]") == ast.Index(ast.Index(n("f"), i(0)), i(1))
    assert expr("f[n - 1]") == ast.Index(n("f"), b("-", n("n"), i(1)))


def test_calls() -> None:
    assert expr("now()") == ast.Call("now", ())
    assert expr("lower(x)") == ast.Call("lower", (X,))
    assert expr("coalesce(x, y, 0)") == ast.Call("coalesce", (X, Y, i(0)))
    assert expr("len(f(x))[0]") == ast.Index(ast.Call("len", (ast.Call("f", (X,)),)), i(0))


def test_aggregates() -> None:
    for name in ["count", "sum", "avg", "min", "max", "first", "last"]:
        assert expr(f"{name}(f.amount)") == ast.Call(name, (attr(n("f"), "amount"),))
    assert expr("last(b).price") == attr(ast.Call("last", (n("b"),)), "price")


def test_list_literals() -> None:
    assert expr("[]") == ast.ListExpr(())
    assert expr("[x, 1 + 2]") == ast.ListExpr((X, b("+", i(1), i(2))))
    assert expr("[x,]") == ast.ListExpr((X,))
    assert expr("[\n  1,\n  2,\n]") == ast.ListExpr((i(1), i(2)))


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_comparisons(op: str) -> None:
    assert expr(f"x {op} y") == b(op, X, Y)


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%"])
def test_arithmetic(op: str) -> None:
    assert expr(f"x {op} y") == b(op, X, Y)


def test_membership_and_regex() -> None:
    assert expr('x in ["US", "CA"]') == b("in", X, ast.ListExpr((s("US"), s("CA"))))
    assert expr("x not in y") == b("not in", X, Y)
    assert expr('x =~ "^a.*$"') == b("=~", X, s("^a.*$"))


def test_boolean_operators() -> None:
    assert expr("x and y") == b("and", X, Y)
    assert expr("x or y") == b("or", X, Y)
    assert expr("not x") == not_(X)
    assert expr("not not x") == not_(not_(X))


def test_unary_minus() -> None:
    assert expr("-x") == neg(X)
    assert expr("- -x") == neg(neg(X))
    assert expr("--x") == neg(neg(X))
    assert expr("-(-x)") == neg(neg(X))
    assert expr("-5m") == neg(d(300_000))


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%", "and", "or"])
def test_binary_operators_are_left_associative(op: str) -> None:
    assert expr(f"x {op} y {op} z") == b(op, b(op, X, Y), Z)
    assert expr(f"x {op} (y {op} z)") == b(op, X, b(op, Y, Z))


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        # or < and
        ("x or y and z", b("or", X, b("and", Y, Z))),
        ("x and y or z", b("or", b("and", X, Y), Z)),
        # and < not
        ("not x and y", b("and", not_(X), Y)),
        ("x and not y", b("and", X, not_(Y))),
        # not < comparison
        ("not x == y", not_(b("==", X, Y))),
        ("not x in y", not_(b("in", X, Y))),
        # comparison < + -
        ("x + 1 < y - 1", b("<", b("+", X, i(1)), b("-", Y, i(1)))),
        ("x - 1 in y", b("in", b("-", X, i(1)), Y)),
        ("x not in y + z", b("not in", X, b("+", Y, Z))),
        ('x + "a" =~ y', b("=~", b("+", X, s("a")), Y)),
        # + - < * / %
        ("x + y * z", b("+", X, b("*", Y, Z))),
        ("x * y + z", b("+", b("*", X, Y), Z)),
        ("x - y / z", b("-", X, b("/", Y, Z))),
        ("x % y - z", b("-", b("%", X, Y), Z)),
        ("x + y - z", b("-", b("+", X, Y), Z)),
        ("x * y / z % 2", b("%", b("/", b("*", X, Y), Z), i(2))),
        # * < unary minus
        ("-x * y", b("*", neg(X), Y)),
        ("x * -y", b("*", X, neg(Y))),
        ("x - -y", b("-", X, neg(Y))),
        # unary minus < postfix
        ("-x.a", neg(attr(X, "a"))),
        ("-f[0]", neg(ast.Index(n("f"), i(0)))),
        ("(-x).a", attr(neg(X), "a")),
        # parentheses override
        ("(x + y) * z", b("*", b("+", X, Y), Z)),
        ("(x or y) and z", b("and", b("or", X, Y), Z)),
        ("not (x and y)", not_(b("and", X, Y))),
        ("(x < y) == z", b("==", b("<", X, Y), Z)),
        # everything at once
        (
            "not a.b + 1 * -c[0] >= 2 and d or e",
            b(
                "or",
                b(
                    "and",
                    not_(
                        b(
                            ">=",
                            b("+", attr(n("a"), "b"), b("*", i(1), neg(ast.Index(n("c"), i(0))))),
                            i(2),
                        )
                    ),
                    n("d"),
                ),
                n("e"),
            ),
        ),
    ],
)
def test_precedence(text: str, tree: ast.Expr) -> None:
    assert expr(text) == tree


@pytest.mark.parametrize("text", ["x < y < z", "x == y != z", "x in y in z", "x =~ y =~ z"])
def test_comparisons_do_not_chain(text: str) -> None:
    result = errors(f"const c = {text}")
    assert result.diagnostics[0].code == "syntax"


def test_durations_compare_with_time_differences() -> None:
    assert expr("b.ts - a.ts < 5m") == b(
        "<", b("-", attr(n("b"), "ts"), attr(n("a"), "ts")), d(300_000)
    )


def test_expression_across_lines() -> None:
    assert expr("x\n  and\n  y") == b("and", X, Y)


# ---------------------------------------------------------------------------- rule tests


def test_test_block_header() -> None:
    assert parse_ok("test r {}") == (ast.TestDecl("r", None, (), ()),)
    assert parse_ok('test r "what it checks" {}') == (ast.TestDecl("r", "what it checks", (), ()),)


def test_given_several_events() -> None:
    parsed = parse_test_block(
        """given
        Payment { ts: 0s,  user: "u1", amount: 10 }
        Payment { ts: 20s, user: "u1", amount: 11.5 }
        Login { ts: 1700000000000, ok: false }"""
    )
    assert parsed.given == (
        ast.EventLiteral("Payment", obj(ts=d(0), user=s("u1"), amount=i(10))),
        ast.EventLiteral("Payment", obj(ts=d(20_000), user=s("u1"), amount=f(11.5))),
        ast.EventLiteral("Login", obj(ts=i(1_700_000_000_000), ok=FALSE)),
    )


def test_given_values() -> None:
    parsed = parse_test_block(
        'given E { ts: "2024-01-01T00:00:00Z", n: -3, l: [1, "a"], z: null, e: 1 + 2, '
        'o: { ip: "1.2.3.4", geo: { country: "US" } }, empty: {} }'
    )
    assert parsed.given == (
        ast.EventLiteral(
            "E",
            obj(
                ts=s("2024-01-01T00:00:00Z"),
                n=neg(i(3)),
                l=ast.ListExpr((i(1), s("a"))),
                z=NULL,
                e=b("+", i(1), i(2)),
                o=obj(ip=s("1.2.3.4"), geo=obj(country=s("US"))),
                empty=obj(),
            ),
        ),
    )


def test_object_fields_separated_by_newlines() -> None:
    parsed = parse_test_block('given E {\n  ts: 0s\n  user: "u1",\n  n: 1,\n}')
    assert parsed.given == (ast.EventLiteral("E", obj(ts=d(0), user=s("u1"), n=i(1))),)


def test_keywords_as_object_field_names_after_commas() -> None:
    parsed = parse_test_block("given E { ts: 0s, type: 1, in: 2, tags: 3, event: 4, not: 5 }")
    fields = {"ts": d(0), "type": i(1), "in": i(2), "tags": i(3), "event": i(4), "not": i(5)}
    assert parsed.given == (ast.EventLiteral("E", obj(**fields)),)


def test_keyword_object_field_name_after_newline() -> None:
    parsed = parse_test_block("given E {\n  ts: 0s\n  tags: 3\n}")
    assert parsed.given == (ast.EventLiteral("E", obj(ts=d(0), tags=i(3))),)


def test_several_given_clauses_are_joined() -> None:
    parsed = parse_test_block("given A { ts: 0s }\nexpect r\ngiven B { ts: 1s }")
    assert parsed.given == (
        ast.EventLiteral("A", obj(ts=d(0))),
        ast.EventLiteral("B", obj(ts=d(1000))),
    )
    assert parsed.expects == (ast.Expect("match", "r"),)


def test_given_without_events() -> None:
    assert parse_test_block("given").given == ()


def test_expect_match() -> None:
    parsed = parse_test_block(
        'expect r\nexpect r { user: "u1", total: 35 }\nexpect r at 59s\n'
        'expect r { user: "u1" } at 1m\nexpect r {}'
    )
    assert parsed.expects == (
        ast.Expect("match", "r"),
        ast.Expect("match", "r", obj(user=s("u1"), total=i(35))),
        ast.Expect("match", "r", at=d(59_000)),
        ast.Expect("match", "r", obj(user=s("u1")), d(60_000)),
        ast.Expect("match", "r", obj()),
    )


def test_expect_timeout() -> None:
    parsed = parse_test_block("expect timeout r\nexpect timeout r { n: 1 } at 5m")
    assert parsed.expects == (
        ast.Expect("timeout", "r"),
        ast.Expect("timeout", "r", obj(n=i(1)), d(300_000)),
    )


def test_expect_no_and_count() -> None:
    parsed = parse_test_block("expect no r\nexpect 2 r\nexpect 0 other")
    assert parsed.expects == (
        ast.Expect("none", "r"),
        ast.Expect("count", "r", count=2),
        ast.Expect("count", "other", count=0),
    )


def test_expect_keywords_as_rule_names_where_possible() -> None:
    parsed = parse_test_block(
        "expect no timeout\nexpect 1 no\nexpect timeout timeout\nexpect first"
    )
    assert parsed.expects == (
        ast.Expect("none", "timeout"),
        ast.Expect("count", "no", count=1),
        ast.Expect("timeout", "timeout"),
        ast.Expect("match", "first"),
    )


def test_allowed_delay_and_flush() -> None:
    parsed = parse_test_block("allowed delay 250ms\nflush")
    assert parsed == ast.TestDecl("r", None, (), (), allowed_delay=d(250), flush=True)
    assert parse_test_block("given").flush is False


def test_full_test_block() -> None:
    text = """test three_failed "fires on the third failure" {
      allowed delay 5s
      given
        Payment { ts: 0s, user: "u1" }   # first
        Payment { ts: 30s, user: "u1" }
      expect three_failed { user: "u1" } at 30s
      expect no other
      flush
    }"""
    assert parse_ok(text) == (
        ast.TestDecl(
            "three_failed",
            "fires on the third failure",
            (
                ast.EventLiteral("Payment", obj(ts=d(0), user=s("u1"))),
                ast.EventLiteral("Payment", obj(ts=d(30_000), user=s("u1"))),
            ),
            (
                ast.Expect("match", "three_failed", obj(user=s("u1")), d(30_000)),
                ast.Expect("none", "other"),
            ),
            allowed_delay=d(5_000),
            flush=True,
        ),
    )


# ---------------------------------------------------------------------------- the reference


def test_first_file_of_the_language_reference() -> None:
    text = """
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
    Payment { ts: 59s, user: "u1", amount: 13, status: "failed", country: "US" }
  expect three_failed_payments { user: "u1", total: 35 } at 59s
}
"""
    f0 = ast.Index(n("f"), i(0))
    assert parse_ok(text) == (
        ast.EventDecl(
            "Payment",
            None,
            (
                _fd("user", "str"),
                _fd("amount", "float"),
                _fd("status", "str"),
                _fd("country", "str"),
            ),
        ),
        ast.ConstDecl("WINDOW", d(60_000)),
        ast.Rule(
            "three_failed_payments",
            "three failed payments by one user within a minute",
            q(t("Payment", "f", b("==", n("status"), s("failed"))), "{n}", 3, 3),
            partition=(ast.FieldPath(("user",)),),
            within=n("WINDOW"),
            emit=(
                ast.EmitField("user", attr(f0, "user")),
                ast.EmitField("first_at", attr(f0, "ts")),
                ast.EmitField("total", ast.Call("sum", (attr(n("f"), "amount"),))),
            ),
            severity="high",
        ),
        ast.TestDecl(
            "three_failed_payments",
            "fires on the third failure inside the minute",
            (
                ast.EventLiteral(
                    "Payment",
                    obj(ts=d(0), user=s("u1"), amount=i(10), status=s("failed"), country=s("US")),
                ),
                ast.EventLiteral(
                    "Payment",
                    obj(
                        ts=d(59_000),
                        user=s("u1"),
                        amount=i(13),
                        status=s("failed"),
                        country=s("US"),
                    ),
                ),
            ),
            (
                ast.Expect(
                    "match", "three_failed_payments", obj(user=s("u1"), total=i(35)), d(59_000)
                ),
            ),
        ),
    )


# ---------------------------------------------------------------------------- spans


def test_spans_point_at_the_source() -> None:
    result = parse_source("const K = 1\nrule r {\n  pattern a = A[x > 1]\n}\n", PATH)
    const, rule_ = result.module.items
    assert const.span == ast.Span(PATH, 1, 1, 1, 12)
    assert const.name_span == ast.Span(PATH, 1, 7, 1, 8)
    assert isinstance(rule_, ast.Rule) and rule_.pattern is not None
    assert rule_.name_span == ast.Span(PATH, 2, 6, 2, 7)
    assert rule_.pattern.span == ast.Span(PATH, 3, 11, 3, 23)


# ---------------------------------------------------------------------------- syntax errors


def _only_error(text: str) -> tuple[str, tuple[str, ...]]:
    (diagnostic,) = errors(text).diagnostics
    assert diagnostic.code == "syntax"
    return diagnostic.headline(), diagnostic.notes


def test_error_missing_closing_bracket() -> None:
    headline, notes = _only_error("rule r {\n  pattern A[x > 1\n  within 5m\n}\n")
    assert headline == "rules.cep:3:3: error: unexpected `within`"
    assert notes == ("expected `]`",)


def test_error_missing_closing_bracket_of_a_list() -> None:
    result = errors("const L = [1, 2\nconst M = 3\n")
    (diagnostic,) = result.diagnostics
    assert diagnostic.headline() == "rules.cep:2:1: error: unexpected `const`"
    assert diagnostic.notes == ("expected `,` or `]`",)
    assert result.module.items == (ast.ConstDecl("M", i(3)),)
    assert result.broken_names == {"L"}


RULE_CLAUSES = (
    "a rule clause (`partition by`, `pattern`, `where`, `within`, `skip`, `emit`, "
    "`on timeout emit`, `severity`, `tags`)"
)


def test_error_misspelt_clause_keyword() -> None:
    headline, notes = _only_error("rule r {\n  patern A\n}\n")
    assert headline == "rules.cep:2:3: error: unexpected name `patern`"
    assert notes == (f"expected {RULE_CLAUSES} or `}}`", "help: did you mean `pattern`?")


def test_error_misspelt_clause_keyword_after_a_pattern() -> None:
    headline, notes = _only_error("rule r {\n  pattern A\n  withn 5m\n}\n")
    assert headline == "rules.cep:3:3: error: unexpected name `withn`"
    assert notes[0].startswith(f"expected {RULE_CLAUSES}, a repetition")
    assert notes[-1] == "help: did you mean `within`?"


def test_error_misspelt_test_line() -> None:
    headline, notes = _only_error("test r {\n  expct r\n}\n")
    assert headline == "rules.cep:2:3: error: unexpected name `expct`"
    assert notes == (
        "expected a test line (`given`, `expect`, `allowed delay`, `flush`) or `}`",
        "help: did you mean `expect`?",
    )


def test_error_misspelt_declaration() -> None:
    headline, notes = _only_error("rul r {\n  pattern A\n}\n")
    assert headline == "rules.cep:1:1: error: unexpected name `rul`"
    assert notes == (
        "expected a declaration (`rule`, `event`, `const`, `import`, `test`) or the end of the "
        "file",
        "help: did you mean `rule`?",
    )


def test_error_single_quoted_string() -> None:
    headline, notes = _only_error("const S = 'abc'\n")
    assert headline == "rules.cep:1:11: error: unexpected `'`: strings are written in double quotes"
    assert notes == ("expected an expression",)


def test_error_unterminated_string() -> None:
    headline, notes = _only_error('const S = "abc\n')
    assert headline == (
        "rules.cep:1:11: error: unterminated string: a string must close on the line it starts"
    )
    assert notes == ("expected an expression",)


def test_error_unexpected_end_of_file() -> None:
    headline, notes = _only_error("rule r {\n  pattern A ->\n")
    assert headline == "rules.cep:2:15: error: unexpected end of file"
    assert notes == ("expected a name, `(`, `all`, `any` or `not`",)


def test_error_missing_closing_brace_at_end_of_file() -> None:
    headline, notes = _only_error("rule r {\n  pattern A\n\n")
    assert headline == "rules.cep:2:12: error: unexpected end of file"
    assert notes[0].startswith(f"expected {RULE_CLAUSES}")
    assert notes[0].endswith("or `}`")


def test_error_missing_expression() -> None:
    headline, notes = _only_error("rule r {\n  pattern A\n  where\n}\n")
    assert headline == "rules.cep:4:1: error: unexpected `}`"
    assert notes == ("expected an expression",)


def test_error_stray_text_between_declarations() -> None:
    result = errors("const A = 1\nhello\nconst B = 2\n")
    (diagnostic,) = result.diagnostics
    assert diagnostic.headline() == "rules.cep:2:1: error: unexpected name `hello`"
    assert diagnostic.notes == (
        "expected a declaration (`rule`, `event`, `const`, `import`, `test`) or the end of the "
        "file",
    )
    # only the stray text is set aside
    assert result.module.items == (ast.ConstDecl("A", i(1)), ast.ConstDecl("B", i(2)))
    assert result.broken_names == set()


def test_error_stray_brace_between_declarations() -> None:
    result = errors("const A = 1\n}\nconst B = 2\n")
    assert [d.headline() for d in result.diagnostics] == ["rules.cep:2:1: error: unexpected `}`"]
    assert result.module.items == (ast.ConstDecl("A", i(1)), ast.ConstDecl("B", i(2)))


def test_error_unexpected_character() -> None:
    headline, _ = _only_error("const A = 1 $ 2\n")
    assert headline == "rules.cep:1:13: error: unexpected character `$`"


def test_error_rendering_shows_the_line_and_a_caret() -> None:
    text = "rule r {\n  patern A\n}\n"
    (diagnostic,) = errors(text).diagnostics
    assert diagnostic.render(text) == (
        "rules.cep:2:3: error: unexpected name `patern`\n"
        "   2 |   patern A\n"
        "     |   ^~~~~~\n"
        f"  = expected {RULE_CLAUSES} or `}}`\n"
        "  = help: did you mean `pattern`?"
    )


def test_two_errors_in_two_rules_are_both_reported() -> None:
    text = """\
rule a {
  pattern A[
}

rule b {
  pattern B
}

rule c {
  patern C
}

rule d {
  pattern D
}
"""
    result = errors(text)
    assert [d.headline() for d in result.diagnostics] == [
        "rules.cep:3:1: error: unexpected `}`",
        "rules.cep:10:3: error: unexpected name `patern`",
    ]
    assert result.diagnostics[0].notes == ("expected an expression",)
    assert result.diagnostics[1].notes[-1] == "help: did you mean `pattern`?"
    # the valid rules around them are still parsed, and the broken ones are remembered
    assert result.module.items == (ast.Rule("b", None, B), ast.Rule("d", None, D))
    assert result.broken_names == {"a", "c"}


def test_errors_in_a_test_and_an_event_with_valid_items_between() -> None:
    text = "event E { a: }\nconst K = 1\ntest r { given E { ts: } }\nrule r { pattern E }\n"
    result = errors(text)
    assert [d.headline() for d in result.diagnostics] == [
        "rules.cep:1:14: error: unexpected `}`",
        "rules.cep:3:24: error: unexpected `}`",
    ]
    assert result.module.items == (ast.ConstDecl("K", i(1)), ast.Rule("r", None, t("E")))


# ---------------------------------------------------------------- checks made while parsing


def _only_diagnostic(text: str):
    (diagnostic,) = errors(text).diagnostics
    return diagnostic


def test_duplicate_rule_clause() -> None:
    diagnostic = _only_diagnostic("rule r {\n  pattern A\n  within 1m\n  within 2m\n}\n")
    assert diagnostic.headline() == (
        "rules.cep:4:3: error: rule `r` has more than one `within` clause"
    )
    assert diagnostic.code == "duplicate-clause"


def test_unknown_severity() -> None:
    diagnostic = _only_diagnostic("rule r {\n  pattern A\n  severity hihg\n}\n")
    assert diagnostic.headline() == "rules.cep:3:12: error: unknown severity `hihg`"
    assert diagnostic.notes == (
        "expected one of `low`, `medium`, `high`, `critical`",
        "help: did you mean `high`?",
    )


@pytest.mark.parametrize(
    ("quantifier", "message"),
    [
        ("{3,2}", "repetition `{3,2}` has its maximum below its minimum"),
        ("{0}", "a repetition of at most 0 matches nothing"),
        ("{0,0}", "a repetition of at most 0 matches nothing"),
    ],
)
def test_bad_repetition(quantifier: str, message: str) -> None:
    diagnostic = _only_diagnostic(f"rule r {{\n  pattern A{quantifier}\n}}\n")
    assert diagnostic.headline() == f"rules.cep:2:12: error: {message}"
    assert diagnostic.code == "bad-repetition"


def test_duplicate_emit_field() -> None:
    diagnostic = _only_diagnostic("rule r {\n  pattern A\n  emit a = 1, a = 2\n}\n")
    assert diagnostic.headline() == "rules.cep:3:15: error: output field `a` is set twice"


def test_duplicate_object_field() -> None:
    diagnostic = _only_diagnostic("test r {\n  given A { ts: 0s, ts: 1s }\n}\n")
    assert diagnostic.headline() == "rules.cep:2:25: error: field `ts` is given twice"


def test_duplicate_test_line() -> None:
    diagnostic = _only_diagnostic("test r {\n  flush\n  flush\n}\n")
    assert diagnostic.headline() == "rules.cep:3:3: error: test has more than one `flush` line"


def test_bad_unicode_escape() -> None:
    diagnostic = _only_diagnostic('const S = "\\u12"\n')
    assert diagnostic.headline() == (
        "rules.cep:1:11: error: `\\u` must be followed by four hexadecimal digits"
    )
    assert diagnostic.code == "bad-string"


def test_duration_with_an_unknown_unit_gets_a_hint() -> None:
    result = parse_source("const W = 5min\n", PATH)
    (diagnostic,) = result.diagnostics
    assert diagnostic.headline() == f"{PATH}:1:12: error: unexpected name `min`"
    assert diagnostic.notes[-1].startswith("help: a duration is a number with one of the units")


def test_a_float_too_large_is_an_error() -> None:
    result = parse_source("const X = 1e400\n", PATH)
    (diagnostic,) = result.diagnostics
    assert diagnostic.message == "number `1e400` is too large"
