"""Syntax trees back to rule-file text: the canonical layout behind `cep fmt`.

`format_module` prints a parsed file in one canonical layout: 2-space indentation, one
clause per line inside rules and tests, schema fields one per line, `given` events one
per line under `given`, and a blank line between declarations. Parentheses are written
only where precedence needs them, so that the printed text parses back to the very same
tree: `parse_source(format_module(m)).module == m` for every tree the parser can build.

Comments are not part of the tree: `cep.lang.layout` puts them back around these lines.
A long pattern or `emit` clause is wrapped, one part per line; `given` events of one
shape in a row are laid out as a table; long objects are filled up to `WIDTH`.
"""

from __future__ import annotations

import itertools
import math
import re

from cep.lang import ast
from cep.lang.values import encode_string, format_duration

INDENT = "  "

#: every keyword of the grammar. The parser's lexer is contextual, so a keyword is only a
#: keyword where the grammar expects it there and is an ordinary name elsewhere (a field
#: `f.first`, an event type `Next`, a rule called `test`, an output field `severity`, ...).
KEYWORDS = frozenset(
    {
        "all", "allowed", "and", "any", "at", "by", "consecutive", "const", "delay", "emit",
        "event", "expect", "extends", "false", "first", "flush", "given", "import", "in",
        "last", "next", "no", "none", "not", "null", "on", "or", "partition", "past",
        "pattern", "rule", "severity", "skip", "tags", "test", "this", "timeout", "to",
        "true", "where", "within",
    }
)  # fmt: skip

# The few places where a keyword cannot be written as a name, because the grammar accepts
# the keyword at that very spot (so the lexer reads the word as the keyword). A tree that
# holds one of these names there cannot be written as text; the printer refuses it.

#: a variable, constant or bare field in an expression, or a function name: these words
#: start an expression themselves (`not x`, `this`, `true`, `false`, `null`)
RESERVED_IN_EXPRESSIONS = frozenset({"not", "this", "true", "false", "null"})
#: a term's variable or event type in a pattern: `not B`, `all(...)` and `any` (every
#: type) start a pattern element. (`x = not` would parse, but `not` is kept out anyway.)
RESERVED_IN_PATTERNS = frozenset({"not", "all", "any"})
#: the event type of a `given` event: the next test line (`given`, `expect`, `allowed
#: delay`, `flush`) may start there; `at` is taken after an event because the parser's
#: LALR tables share the state after an object literal with `expect R { ... } at T`
RESERVED_GIVEN_TYPES = frozenset({"given", "expect", "allowed", "flush", "at"})
#: the rule of `expect RULE`: `expect timeout R` and `expect no R` are other forms
RESERVED_EXPECT_RULES = frozenset({"timeout", "no"})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _name(name: str, reserved: frozenset[str] = frozenset(), where: str = "a name") -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} cannot be written as {where}: it is not a name")
    if name in reserved:
        raise ValueError(f"`{name}` cannot be written as {where}: it is a keyword there")
    return name


# ---------------------------------------------------------------------------- expressions

# binding strength, loosest first; an operand printed where a stronger level is needed is
# parenthesized
_OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _UNARY, _POSTFIX, _ATOM = range(1, 10)

_BINARY_LEVEL: dict[str, int] = {
    "or": _OR,
    "and": _AND,
    **dict.fromkeys(("==", "!=", "<", "<=", ">", ">=", "in", "not in", "=~"), _COMPARE),
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
    "%": _PRODUCT,
}


def _is_negative_number(expr: ast.Expr) -> bool:
    return (
        isinstance(expr, ast.Literal)
        and expr.kind in ("int", "float", "duration")
        and isinstance(expr.value, int | float)
        and (expr.value < 0 or math.copysign(1.0, expr.value) < 0)
    )


def _expr_level(expr: ast.Expr) -> int:
    if isinstance(expr, ast.Binary):
        return _BINARY_LEVEL[expr.op]
    if isinstance(expr, ast.Unary):
        return _NOT if expr.op == "not" else _UNARY
    if isinstance(expr, ast.Attribute | ast.Index):
        return _POSTFIX
    if _is_negative_number(expr):
        return _UNARY  # not produced by the parser (it builds `Unary('-', ...)`)
    return _ATOM


def _operand(expr: ast.Expr, level: int) -> str:
    text = format_expr(expr)
    return f"({text})" if _expr_level(expr) < level else text


def _literal(lit: ast.Literal) -> str:
    value = lit.value
    match lit.kind:
        case "str":
            return encode_string(str(value))
        case "bool":
            return "true" if value else "false"
        case "null":
            return "null"
        case "duration":
            ms = int(value)  # type: ignore[arg-type]
            return "-" + format_duration(-ms) if ms < 0 else format_duration(ms)
        case "int":
            return str(int(value))  # type: ignore[arg-type]
        case "float":
            number = float(value)  # type: ignore[arg-type]
            if not math.isfinite(number):
                raise ValueError(f"the float {number!r} cannot be written as a literal")
            return repr(number)
    raise ValueError(f"unknown literal kind {lit.kind!r}")


def format_expr(expr: ast.Expr) -> str:
    """An expression as text, with only the parentheses its shape needs."""
    match expr:
        case ast.Literal():
            return _literal(expr)
        case ast.Name(name=name):
            return _name(name, RESERVED_IN_EXPRESSIONS, "a variable")
        case ast.This():
            return "this"
        case ast.Attribute(obj=obj, name=name):
            return f"{_operand(obj, _POSTFIX)}.{_name(name)}"
        case ast.Index(obj=obj, index=index):
            return f"{_operand(obj, _POSTFIX)}[{format_expr(index)}]"
        case ast.Call(func=func, args=args):
            func_name = _name(func, RESERVED_IN_EXPRESSIONS, "a function name")
            return f"{func_name}({', '.join(map(format_expr, args))})"
        case ast.ListExpr(items=items):
            return f"[{', '.join(map(format_expr, items))}]"
        case ast.ObjectExpr():
            return _object(expr)
        case ast.Unary(op="not", operand=operand):
            return f"not {_operand(operand, _NOT)}"
        case ast.Unary(op="-", operand=operand):
            text = _operand(operand, _UNARY)
            # `--x` reads as a decrement to most eyes; write `-(-x)`
            return f"-({text})" if text.startswith("-") else f"-{text}"
        case ast.Binary(op=op, left=left, right=right):
            level = _BINARY_LEVEL[op]
            if level == _COMPARE:  # comparisons do not chain: both sides are sums
                return f"{_operand(left, _SUM)} {op} {_operand(right, _SUM)}"
            # left-associative: the right operand must bind tighter than the operator
            return f"{_operand(left, level)} {op} {_operand(right, level + 1)}"
    raise TypeError(f"not an expression: {expr!r}")


def _object(obj: ast.ObjectExpr) -> str:
    if not obj.fields:
        return "{}"
    return f"{{ {', '.join(_object_fields(obj))} }}"


def _object_fields(obj: ast.ObjectExpr) -> list[str]:
    return [f"{_name(name)}: {format_expr(value)}" for name, value in obj.fields]


# ---------------------------------------------------------------------------- patterns

# `->` `=>` `->>` loosest, then `not` (a sequence element), then `|`, then quantifiers
_SEQ, _NEG, _ALT, _QUANT, _PRIMARY = range(1, 6)


_PATTERN_LEVEL = {
    ast.Sequence: _SEQ,
    ast.Negation: _NEG,
    ast.Alternation: _ALT,
    ast.Quantified: _QUANT,
}


def _sub_pattern(pattern: ast.Pattern, level: int) -> str:
    text = format_pattern(pattern)
    return f"({text})" if _PATTERN_LEVEL.get(type(pattern), _PRIMARY) < level else text


def _quantifier(q: ast.Quantified) -> str:
    if q.form not in ("+", "*", "?", "{n}", "{n,}", "{n,m}"):
        raise ValueError(f"unknown repetition form {q.form!r}")
    text = q.form.replace("n", str(q.min_count)).replace("m", str(q.max_count))
    if not q.greedy:
        text += "?"
    if q.contiguity == "strict":
        text += " consecutive"
    elif q.contiguity == "any":
        text += " any"
    return text


def format_pattern(pattern: ast.Pattern) -> str:
    """A pattern as text, with only the parentheses its shape needs."""
    match pattern:
        case ast.Term(var=var, event_type=event_type, condition=condition):
            text = ""
            if var is not None:
                text = f"{_name(var, RESERVED_IN_PATTERNS, 'a pattern variable')} = "
            if event_type is None:
                text += "any"
            else:
                text += _name(event_type, RESERVED_IN_PATTERNS, "an event type")
            if condition is not None:
                text += f"[{format_expr(condition)}]"
            return text
        case ast.Quantified(body=body):
            return _sub_pattern(body, _PRIMARY) + _quantifier(pattern)
        case ast.Negation(body=body):
            return f"not {_sub_pattern(body, _ALT)}"
        case ast.Sequence(items=items, ops=ops):
            if len(ops) != len(items) - 1:
                raise ValueError("a sequence needs one operator between each two items")
            parts = [_sub_pattern(items[0], _NEG)]
            for op, item in zip(ops, items[1:], strict=True):
                parts.append(f"{op} {_sub_pattern(item, _NEG)}")
            return " ".join(parts)
        case ast.Alternation(options=options):
            return " | ".join(_sub_pattern(option, _QUANT) for option in options)
        case ast.AllOf(members=members):
            return f"all({', '.join(map(format_pattern, members))})"
    raise TypeError(f"not a pattern: {pattern!r}")


# ---------------------------------------------------------------------------- declarations


#: a printed line of a block and the place in the source it came from (None: no place);
#: its text may hold continuation lines (a long pattern or `emit` clause, wrapped)
Line = tuple[str, ast.Span | None]

#: lines longer than this (block indentation included) are wrapped where the layout can
WIDTH = 100


def _header(keyword: str, name: str, description: str | None) -> str:
    text = f"{keyword} {_name(name)}"
    if description is not None:
        text += f" {encode_string(description)}"
    return text


def _block(header: str, lines: list[Line]) -> str:
    if not lines:
        return f"{header} {{}}"
    body = "".join(f"{INDENT}{part}\n" for text, _ in lines for part in text.split("\n"))
    return f"{header} {{\n{body}}}"


def _type_ref(ref: ast.TypeRef) -> str:
    text = _name(ref.name)
    if ref.arg is not None:
        text += f"[{_type_ref(ref.arg)}]"
    return text


def _wrapped(lead: str, parts: list[str], joiner: str) -> str:
    """`lead` and `parts` on one line, or, past `WIDTH`, one part per line aligned
    under the first (continuation lines are part of the clause: they parse the same)."""
    one_line = lead + joiner.join(parts)
    if len(INDENT) + len(one_line) <= WIDTH or len(parts) < 2:
        return one_line
    pad = "\n" + " " * len(lead)
    return lead + (joiner.rstrip() + pad).join(parts)


def _emit_clause(keyword: str, fields: tuple[ast.EmitField, ...]) -> str:
    parts = [f"{_name(f.name)} = {format_expr(f.expr)}" for f in fields]
    return _wrapped(f"{keyword} ", parts, ", ")


def _pattern_clause(pattern: ast.Pattern) -> str:
    if not isinstance(pattern, ast.Sequence):
        return f"pattern {format_pattern(pattern)}"
    parts = [_sub_pattern(pattern.items[0], _NEG)] + [
        f"{op} {_sub_pattern(item, _NEG)}"
        for op, item in zip(pattern.ops, pattern.items[1:], strict=True)
    ]
    one_line = "pattern " + " ".join(parts)
    if len(INDENT) + len(one_line) <= WIDTH:
        return one_line
    return "pattern " + ("\n" + " " * len("pattern ")).join(parts)


def _skip(skip: ast.Skip) -> str:
    if skip.kind not in ("past_last", "to_next", "to_first", "to_last", "none"):
        raise ValueError(f"unknown skip strategy {skip.kind!r}")
    text = "skip " + skip.kind.replace("_", " ")
    return f"{text} {_name(skip.var or '')}" if skip.kind in ("to_first", "to_last") else text


def rule_lines(rule: ast.Rule) -> list[Line]:
    """The clauses of a rule in the canonical order, each with its place in the source."""
    places = dict(rule.clause_spans)
    clauses: list[tuple[str, str]] = []
    if rule.partition:
        clauses.append(("partition", "partition by " + ", ".join(map(_field_path, rule.partition))))
    if rule.pattern is not None:
        clauses.append(("pattern", _pattern_clause(rule.pattern)))
    if rule.where is not None:
        clauses.append(("where", f"where {format_expr(rule.where)}"))
    if rule.within is not None:
        clauses.append(("within", f"within {format_expr(rule.within)}"))
    if rule.skip is not None:
        clauses.append(("skip", _skip(rule.skip)))
    if rule.emit:
        clauses.append(("emit", _emit_clause("emit", rule.emit)))
    if rule.timeout_emit:
        clauses.append(("timeout_emit", _emit_clause("on timeout emit", rule.timeout_emit)))
    if rule.severity is not None:
        clauses.append(("severity", f"severity {_name(rule.severity)}"))
    if rule.tags:
        clauses.append(("tags", "tags " + ", ".join(map(encode_string, rule.tags))))
    return [(text, places.get(key)) for key, text in clauses]


def _field_path(path: ast.FieldPath) -> str:
    return ".".join(_name(part) for part in path.parts)


def _event_header(event: ast.EventDecl) -> str:
    header = f"event {_name(event.name)}"
    if event.extends is not None:
        header += f" extends {_name(event.extends)}"
    return header


def event_lines(event: ast.EventDecl) -> list[Line]:
    return [
        (f"{_name(f.name)}: {_type_ref(f.type)}{'?' if f.optional else ''}", f.span)
        for f in event.fields
    ]


def _object_rows(
    head: str, objects: list[ast.ObjectExpr], tail: str = "", indent: int = 1
) -> list[str]:
    """`head` followed by each object (and `tail`), the objects having the same field
    names: laid out as a table, each field padded to its column's width (one object: no
    padding). Past `WIDTH` (at `indent` levels of block indentation), every row breaks
    before the same field, continuation lines aligned under the first field."""
    rows = [_object_fields(obj) for obj in objects]
    if not rows[0]:
        return [f"{head}{{}}{tail}"] * len(rows)
    n = len(rows[0])
    cells = [[f"{c}," for c in row[:-1]] + [f"{row[-1]} }}{tail}"] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(n)]
    start = len(head) + 2
    room = WIDTH - len(INDENT) * indent
    breaks, used = [0], start + widths[0]
    for i in range(1, n):
        used += 1 + widths[i]
        if used > room:
            breaks.append(i)
            used = start + widths[i]
    spans = list(zip(breaks, [*breaks[1:], n], strict=True))
    return [
        f"{head}{{ "
        + ("\n" + " " * start).join(
            " ".join([*(row[j].ljust(widths[j]) for j in range(lo, hi - 1)), row[hi - 1]])
            for lo, hi in spans
        )
        for row in cells
    ]


def _given_texts(given: tuple[ast.EventLiteral, ...]) -> list[str]:
    """The `given` events' lines, their objects' braces aligned: a run of consecutive
    events of one type with the same fields in the same order is one table
    (`_object_rows`)."""
    names = [_name(e.event_type, RESERVED_GIVEN_TYPES, "a `given` event type") for e in given]
    column = max(map(len, names))
    texts: list[str] = []
    for _, run in itertools.groupby(zip(names, given, strict=True), key=lambda x: _shape(x[1])):
        events = list(run)
        head = f"{INDENT}{events[0][0].ljust(column)} "
        texts += _object_rows(head, [event.fields for _, event in events])
    return texts


def _shape(event: ast.EventLiteral) -> tuple[str, list[str]]:
    return event.event_type, [name for name, _ in event.fields.fields]


def format_expect(expect: ast.Expect) -> str:
    """One `expect` line of a test (its object wrapped past `WIDTH`)."""
    match expect.kind:
        case "none":
            return f"expect no {_name(expect.rule)}"
        case "count":
            return f"expect {int(expect.count or 0)} {_name(expect.rule)}"
        case "match":
            text = f"expect {_name(expect.rule, RESERVED_EXPECT_RULES, 'the rule of `expect`')}"
        case "timeout":
            text = f"expect timeout {_name(expect.rule)}"
        case _:
            raise ValueError(f"unknown expect kind {expect.kind!r}")
    tail = "" if expect.at is None else f" at {format_expr(expect.at)}"
    if expect.fields is not None:
        return _object_rows(text + " ", [expect.fields], tail)[0]
    return text + tail


def test_lines(test: ast.TestDecl) -> list[Line]:
    lines: list[Line] = []
    if test.given:
        lines.append(("given", None))
        texts = _given_texts(test.given)
        lines.extend((text, event.span) for text, event in zip(texts, test.given, strict=True))
    lines.extend((format_expect(expect), expect.span) for expect in test.expects)
    if test.allowed_delay is not None:
        delay = test.allowed_delay
        lines.append((f"allowed delay {format_expr(delay)}", delay.span))
    if test.flush:
        lines.append(("flush", None))
    return lines


test_lines.__test__ = False  # type: ignore[attr-defined]  # (not a pytest test)


def block_of(item: ast.Item) -> tuple[str, list[Line]] | None:
    """A block declaration's header and lines; None for a one-line declaration."""
    match item:
        case ast.EventDecl():
            return _event_header(item), event_lines(item)
        case ast.Rule():
            return _header("rule", item.name, item.description), rule_lines(item)
        case ast.TestDecl():
            return _header("test", item.rule, item.description), test_lines(item)
    return None


def format_item(item: ast.Item) -> str:
    """One declaration as text, without a trailing newline."""
    match item:
        case ast.Import(path=path):
            return f"import {encode_string(path)}"
        case ast.ConstDecl(name=name, value=value):
            return f"const {_name(name)} = {format_expr(value)}"
    block = block_of(item)
    if block is None:
        raise TypeError(f"not a declaration: {item!r}")
    return _block(*block)


def format_module(module: ast.Module) -> str:
    """A whole file as canonical text: declarations one blank line apart, ending in a newline."""
    if not module.items:
        return ""
    return "\n\n".join(map(format_item, module.items)) + "\n"
