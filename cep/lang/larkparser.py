"""The Lark LALR parser of rule files: the tree builder and error recovery.

A syntax error is reported with what was expected in words, then the parser recovers by
setting aside the declaration that holds the error and parsing the rest of the file, so
that every independent mistake in a file is reported in one pass.
"""

from __future__ import annotations

import dataclasses
import math
import re
import threading
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from cep.lang import ast
from cep.lang.diagnostics import Diagnostic, DiagnosticSink, did_you_mean
from cep.lang.parser import INT_MAX, MAX_NESTING, MAX_REPEAT, MAX_SYNTAX_ERRORS, ParseResult
from cep.lang.syntax_words import describe_expected
from cep.lang.values import decode_string, parse_duration

TOP_LEVEL_KEYWORDS = ("import", "const", "event", "rule", "test")
_ITEM_HEADER = re.compile(r"^[ \t]*(import|const|event|rule|test)\b[ \t]*(\w*)", re.MULTILINE)


@cache
def lark_parser() -> Lark:
    """The parser; it builds the AST while parsing (no intermediate parse tree)."""
    grammar = resources.files("cep.lang").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar, parser="lalr", lexer="contextual", maybe_placeholders=True, transformer=_BUILDER
    )


# The builder is shared by the cached parser, so parses take turns.
_PARSE_LOCK = threading.Lock()


def parse_source(source: str, path: str = "<string>") -> ParseResult:
    """Parse rule-file text; never raises for bad input, errors go to `diagnostics`."""
    syntax_errors: list[Diagnostic] = []
    broken: set[str] = set()
    text = source.removeprefix("\ufeff")  # a byte order mark is no part of the rules
    with _PARSE_LOCK:
        for _ in range(MAX_SYNTAX_ERRORS):
            _BUILDER.reset(path)
            try:
                items = lark_parser().parse(text, on_error=_keyword_as_field_name(text))
            except UnexpectedInput as error:
                syntax_errors.append(_syntax_diagnostic(error, text, path))
                text, name = _set_aside_item(text, error)
                if name:
                    broken.add(name)
                continue
            diagnostics = syntax_errors + _BUILDER.sink.items
            kept = []
            for item in items:
                too_deep = _too_deep(item)
                if too_deep is None:
                    kept.append(item)
                    continue
                diagnostics.append(_nesting_diagnostic(too_deep))
                if isinstance(item, (ast.Rule, ast.EventDecl, ast.ConstDecl)):
                    broken.add(item.name)
            return ParseResult(ast.Module(path, tuple(kept)), source, diagnostics, broken)
    syntax_errors.append(
        Diagnostic(
            "error",
            f"too many syntax errors; stopped after {MAX_SYNTAX_ERRORS}",
            ast.Span(path, 1, 1, 1, 1),
            code="too-many-errors",
        )
    )
    return ParseResult(ast.Module(path, ()), source, syntax_errors, broken)


def _keyword_as_field_name(text: str) -> Callable[[UnexpectedInput], bool]:
    """An error handler that reads a keyword followed by `:` as a field name.

    In a record such as `{ ts: 0s  tags: 3 }` (fields on separate lines, no commas) the
    LALR lookahead takes `tags` for the keyword; where a name fits, it is one.
    """

    def handle(error: UnexpectedInput) -> bool:
        if not isinstance(error, UnexpectedToken) or error.token.type in ("NAME", "$END"):
            return False
        token = error.token
        if not str(token).isidentifier() or token.end_pos is None:
            return False
        if not text[token.end_pos :].lstrip().startswith(":"):
            return False
        parser = error.interactive_parser
        if "NAME" not in parser.accepts():
            return False
        parser.feed_token(Token.new_borrow_pos("NAME", str(token), token))
        return True

    return handle


# ---------------------------------------------------------------------------- syntax errors


def _error_position(error: UnexpectedInput, text: str) -> tuple[int, int, int, int]:
    """(offset, line, column, width) of the offending input."""
    if isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    ):
        stripped = text.rstrip()
        offset = len(stripped)
        line = stripped.count("\n") + 1
        column = offset - (stripped.rfind("\n") + 1) + 1
        return offset, line, column, 1
    if isinstance(error, UnexpectedToken):
        token = error.token
        return token.start_pos or 0, token.line or 1, token.column or 1, max(len(token), 1)
    offset = getattr(error, "pos_in_stream", 0) or 0
    return offset, error.line, error.column, 1


def _syntax_diagnostic(error: UnexpectedInput, text: str, path: str) -> Diagnostic:
    offset, line, column, width = _error_position(error, text)
    span = ast.Span(path, line, column, line, column + width)
    notes: list[str] = []
    if isinstance(error, UnexpectedCharacters):
        char = text[offset] if offset < len(text) else ""
        if char == "'":
            message = "unexpected `'`: strings are written in double quotes"
        elif char == '"':
            message = "unterminated string: a string must close on the line it starts"
        else:
            message = f"unexpected character `{char}`"
        expected = set(error.allowed or ())
    elif isinstance(error, UnexpectedToken) and error.token.type != "$END":
        message = "unexpected " + _TOKEN_WORDS.get(error.token.type, "`{}`").format(error.token)
        expected = set(error.accepts or error.expected or ())
        if error.token.type == "NAME":
            keywords = [w.strip("`") for w in map(_keyword_of, expected) if w]
            notes.extend(did_you_mean(str(error.token), keywords))
            start = error.token.start_pos or 0
            if start > 0 and text[start - 1].isdigit():
                notes.append(
                    "help: a duration is a number with one of the units "
                    "`ms`, `s`, `m`, `h`, `d` right after it, e.g. `250ms`, `5m`, `1m30s`"
                )
    else:
        message = "unexpected end of file"
        expected = set(getattr(error, "expected", None) or ())
        if isinstance(error, UnexpectedToken):
            expected = set(error.accepts or error.expected or ())
    if expected:
        notes.insert(0, f"expected {describe_expected(expected, lark_parser())}")
    return Diagnostic("error", message, span, tuple(notes), code="syntax")


def _keyword_of(terminal_name: str) -> str | None:
    try:
        pattern = lark_parser().get_terminal(terminal_name).pattern
    except KeyError:
        return None
    value = pattern.value
    if pattern.type == "str" and value.isidentifier():
        return value
    return None


_TOKEN_WORDS = {"STRING": "string {}", "INT": "number `{}`", "FLOAT": "number `{}`",
                "DURATION": "duration `{}`", "NAME": "name `{}`"}  # fmt: skip


def _set_aside_item(text: str, error: UnexpectedInput) -> tuple[str, str | None]:
    """Blank out the declaration holding the error (keeping line breaks) so parsing can go on.

    Returns the new text and the name the broken declaration declared, if it shows.
    """
    offset = min(_error_position(error, text)[0], len(text))
    expected: set[str] = set()
    if isinstance(error, UnexpectedToken):
        expected = {t.lower().removeprefix("kw_") for t in (error.accepts or error.expected or ())}
    headers = [(m.start(1), m.group(2) or None) for m in _ITEM_HEADER.finditer(text)]
    name = None
    if expected & set(TOP_LEVEL_KEYWORDS):
        start = offset  # stray text between declarations: drop just that
    else:
        start = 0
        for keyword_at, declared in headers:
            if keyword_at < offset:
                start, name = keyword_at, declared
    end = len(text)
    for keyword_at, _ in headers:
        if keyword_at >= offset and keyword_at > start:
            line_start = text.rfind("\n", 0, keyword_at) + 1
            end = line_start if line_start > start else keyword_at
            break
    if end <= start:
        end = len(text)
    blanked = re.sub(r"[^\n]", " ", text[start:end])
    return text[:start] + blanked + text[end:], name


# ---------------------------------------------------------------------------- nesting


def _too_deep(item: object) -> ast.Span | None:
    """Where `item`'s tree first nests deeper than `MAX_NESTING` (the first in the text of
    the nodes one level too deep), or None.

    The walk keeps its own stack: it must not recurse, since it guards what does.
    """
    found: list[ast.Span] = []
    stack: list[tuple[object, int]] = [(item, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, tuple):
            stack.extend((child, depth) for child in node)
            continue
        names = _child_fields(type(node))
        if names is None:
            continue
        depth += 1
        if depth > MAX_NESTING:
            found.append(node.span)  # type: ignore[attr-defined]
            continue
        stack.extend((getattr(node, name), depth) for name in names)
    return min(found, key=lambda span: (span.line, span.column)) if found else None


@cache
def _child_fields(kind: type) -> tuple[str, ...] | None:
    """The fields of a syntax-tree class that may hold nodes; None for other classes."""
    if not dataclasses.is_dataclass(kind) or "span" not in kind.__dataclass_fields__:
        return None
    return tuple(f.name for f in dataclasses.fields(kind) if f.name != "span")


def _nesting_diagnostic(span: ast.Span) -> Diagnostic:
    return Diagnostic(
        "error",
        f"this nests more than {MAX_NESTING} levels deep",
        ast.Span(span.file, span.line, span.column, span.line, span.column + 1),
        (
            f"help: expressions and pattern groups may nest at most {MAX_NESTING} levels "
            "(calls, `not`, `-`, chains of `and`, `or` and other operators, indexing, "
            "lists, pattern groups); "
            "split the condition, e.g. with constants",
        ),
        code="too-deep",
    )


# ---------------------------------------------------------------------------- tree to AST


#: how a clause is written, where that is not its key
_CLAUSE_WORDS = {
    "partition": "partition by",
    "timeout_emit": "on timeout emit",
    "allowed_delay": "allowed delay",
}


def _clause(key: str, value: Callable[[Any, list], object] = lambda self, args: args[0]) -> Any:
    """A builder method for a clause: `(key, value, span)`, the value made from the
    children that carry meaning (`_args`)."""

    def build(self: _AstBuilder, children: list) -> tuple:
        return (key, value(self, _args(children)), self._span(children))

    return build


def _skip(kind: ast.SkipKind) -> Any:
    """A builder method for `skip` of `kind` (a variable follows `skip to first|last`)."""

    def build(self: _AstBuilder, children: list) -> tuple:
        span = self._span(children)
        var = str(children[1]) if len(children) > 1 else None
        return ("skip", ast.Skip(kind, var, span=span), span)

    return build


def _binary(op: str | None) -> Any:
    """A builder method for `left op right`; `op` None: the operator is the middle child."""

    def build(self: _AstBuilder, children: list) -> ast.Binary:
        left, right = children[0], children[-1]
        text = op if op is not None else str(children[1])
        return ast.Binary(text, left, right, span=self._span([left, right]))  # type: ignore[arg-type]

    return build


class _AstBuilder(Transformer):
    """Builds `cep.lang.ast` nodes as the parser reduces each grammar rule."""

    def __init__(self) -> None:
        super().__init__()
        self.reset("<string>")

    def reset(self, path: str) -> None:
        """Start a parse of `path`, with no diagnostics yet."""
        self.path = path
        self.sink = DiagnosticSink()

    def _span(self, children: list) -> ast.Span:
        """From the start of the first child that has a place to the end of the last."""
        edges = [edge for edge in map(self._edge, children) if edge is not None]
        if not edges:
            return ast.Span(self.path, 1, 1, 1, 1)
        start, end = edges[0], edges[-1]
        return ast.Span(self.path, start[1], start[2], end[3], end[4])

    def _edge(self, child: object) -> ast.Span | None:
        if isinstance(child, Token):
            return self._tok(child)
        span = getattr(child, "span", None)
        if span is not None:
            return span
        if isinstance(child, tuple) and child and isinstance(child[-1], ast.Span):
            return child[-1]
        return None

    def _tok(self, token: Token) -> ast.Span:
        return ast.Span(
            self.path,
            token.line or 1,
            token.column or 1,
            token.end_line or token.line or 1,
            token.end_column or (token.column or 1) + len(token),
        )

    def _string(self, token: Token) -> str:
        value, problem = decode_string(str(token))
        if problem:
            self.sink.error(problem, self._tok(token), code="bad-string")
        return value

    # -- file and declarations

    def start(self, children: list) -> list[ast.Item]:
        return children

    def import_decl(self, children: list) -> ast.Import:
        span, children = self._span(children), _args(children)
        return ast.Import(self._string(children[0]), span=span)

    def const_decl(self, children: list) -> ast.ConstDecl:
        span, children = self._span(children), _args(children)
        name, value = children
        return ast.ConstDecl(str(name), value, span=span, name_span=self._tok(name))

    def event_decl(self, children: list) -> ast.EventDecl:
        span, children = self._span(children), _args(children)
        name, extends, *fields = children
        return ast.EventDecl(
            str(name),
            str(extends) if extends is not None else None,
            tuple(fields),
            span=span,
            name_span=self._tok(name),
            extends_span=self._tok(extends) if extends is not None else self._tok(name),
        )

    def field_decl(self, children: list) -> ast.FieldDecl:
        name, type_ref, optional = children
        return ast.FieldDecl(str(name), type_ref, optional is not None, span=self._tok(name))

    def type_ref(self, children: list) -> ast.TypeRef:
        name, arg = children
        return ast.TypeRef(str(name), arg, span=self._span(children))

    # -- rules

    def rule_decl(self, children: list) -> ast.Rule:
        span, children = self._span(children), _args(children)
        name, description, *clauses = children
        values = self._once(
            clauses,
            lambda word: f"rule `{name}` has more than one `{word}` clause",
            "help: a rule takes each clause at most once",
        )
        return ast.Rule(
            name=str(name),
            description=self._string(description) if description is not None else None,
            pattern=values.pop("pattern", None),  # type: ignore[arg-type]
            span=span,
            name_span=self._tok(name),
            clause_spans=tuple((key, clause_span) for key, _, clause_span in clauses),
            **values,  # type: ignore[arg-type]  # the other clauses, by their keys
        )

    def _once(
        self, clauses: list[tuple], message: Callable[[str], str], *notes: str
    ) -> dict[str, object]:
        """Each clause's value by its key; a clause written twice is an error, worded by
        `message` from how the clause is written (`partition by`, `allowed delay`...)."""
        values: dict[str, object] = {}
        for key, value, clause_span in clauses:
            if key in values:
                words = message(_CLAUSE_WORDS.get(key, key))
                self.sink.error(words, clause_span, *notes, code="duplicate-clause")
                continue
            values[key] = value
        return values

    partition_clause = _clause("partition", lambda self, args: tuple(args))

    def field_path(self, children: list) -> ast.FieldPath:
        return ast.FieldPath(tuple(str(c) for c in children), span=self._span(children))

    pattern_clause = _clause("pattern")
    where_clause = _clause("where")
    within_clause = _clause("within")
    skip_past_last = _skip("past_last")
    skip_to_next = _skip("to_next")
    skip_to_first = _skip("to_first")
    skip_to_last = _skip("to_last")
    skip_none = _skip("none")

    def _emit_fields(self, children: list) -> tuple[ast.EmitField, ...]:
        seen: set[str] = set()
        for emit_field in children:
            if emit_field.name in seen:
                self.sink.error(
                    f"output field `{emit_field.name}` is set twice",
                    emit_field.span,
                    code="duplicate-emit-field",
                )
            seen.add(emit_field.name)
        return tuple(children)

    emit_clause = _clause("emit", lambda self, args: self._emit_fields(args))
    timeout_clause = _clause("timeout_emit", lambda self, args: self._emit_fields(args))

    def emit_field(self, children: list) -> ast.EmitField:
        name, expr = children
        return ast.EmitField(str(name), expr, span=self._tok(name))

    def severity_clause(self, children: list) -> tuple:
        span, children = self._span(children), _args(children)
        level = children[0]
        span = self._tok(level)
        if str(level) not in ast.SEVERITIES:
            self.sink.error(
                f"unknown severity `{level}`",
                span,
                "expected one of " + ", ".join(f"`{s}`" for s in ast.SEVERITIES),
                *did_you_mean(str(level), ast.SEVERITIES),
                code="bad-severity",
            )
        return ("severity", str(level), span)

    tags_clause = _clause("tags", lambda self, args: tuple(map(self._string, args)))

    # -- patterns

    def sequence(self, children: list) -> ast.Sequence:
        items = tuple(children[0::2])
        ops = tuple(str(op) for op in children[1::2])
        return ast.Sequence(items, ops, span=self._span(children))  # type: ignore[arg-type]

    def negation(self, children: list) -> ast.Negation:
        return ast.Negation(children[1], span=self._span(children))

    def alternation(self, children: list) -> ast.Alternation:
        return ast.Alternation(tuple(children), span=self._span(children))

    def group(self, children: list) -> ast.Pattern:
        return dataclasses.replace(children[1], span=self._span(children))

    def all_of(self, children: list) -> ast.AllOf:
        return ast.AllOf(tuple(children), span=self._span(children))

    def quantified(self, children: list) -> ast.Quantified:
        body, (form, low, high, greedy, contiguity, _) = children
        return ast.Quantified(body, form, low, high, greedy, contiguity, span=self._span(children))

    def quantifier(self, children: list) -> tuple:
        (form, low, high, _), reluctant, contiguity = children
        span = self._span([children[0], reluctant])
        if high is not None and high < low:
            self.sink.error(
                f"repetition `{{{low},{high}}}` has its maximum below its minimum",
                span,
                code="bad-repetition",
            )
        elif high == 0:
            self.sink.error(
                "a repetition of at most 0 matches nothing", span, code="bad-repetition"
            )
        return (form, low, high, reluctant is None, contiguity or "relaxed", span)

    def q_plus(self, children: list) -> tuple:
        return ("+", 1, None, self._span(children))

    def q_star(self, children: list) -> tuple:
        return ("*", 0, None, self._span(children))

    def q_optional(self, children: list) -> tuple:
        return ("?", 0, 1, self._span(children))

    def _count(self, token: Token) -> int:
        """A repetition count, at most `MAX_REPEAT` (a larger one is an error, read as 1)."""
        if len(token.lstrip("0")) > len(str(MAX_REPEAT)) or int(token) > MAX_REPEAT:
            self.sink.error(
                f"repetition count `{_shorten(str(token))}` is too large",
                self._tok(token),
                f"help: a repetition count is at most {MAX_REPEAT:,}",
                code="bad-repetition",
            )
            return 1
        return int(token)

    def q_exact(self, children: list) -> tuple:
        n = self._count(children[1])
        return ("{n}", n, n, self._span(children))

    def q_at_least(self, children: list) -> tuple:
        return ("{n,}", self._count(children[1]), None, self._span(children))

    def q_range(self, children: list) -> tuple:
        low, high = self._count(children[1]), self._count(children[2])
        return ("{n,m}", low, high, self._span(children))

    def consecutive(self, children: list) -> str:
        return "strict"

    def any_contiguity(self, children: list) -> str:
        return "any"

    def term(self, children: list) -> ast.Term:
        var, type_token, condition = children
        event_type = None if type_token.type == "ANY_TYPE" else str(type_token)
        return ast.Term(
            str(var) if var is not None else None,
            event_type,
            condition[0] if condition is not None else None,
            span=self._span(children),
        )

    def condition(self, children: list) -> tuple[ast.Expr, ast.Span]:
        return (children[1], self._span(children))

    # -- expressions

    or_op = _binary("or")
    and_op = _binary("and")

    def not_op(self, children: list) -> ast.Unary:
        return ast.Unary("not", children[1], span=self._span(children))

    compare = arith = _binary(None)
    in_op = _binary("in")
    not_in_op = _binary("not in")
    regex_op = _binary("=~")

    def negate(self, children: list) -> ast.Unary:
        return ast.Unary("-", children[1], span=self._span(children))

    def attribute(self, children: list) -> ast.Attribute:
        obj, name = children
        return ast.Attribute(obj, str(name), span=self._span(children))

    def index(self, children: list) -> ast.Index:
        obj, index = children
        return ast.Index(obj, index, span=self._span(children))

    def name(self, children: list) -> ast.Name:
        return ast.Name(str(children[0]), span=self._span(children))

    def this(self, children: list) -> ast.This:
        return ast.This(span=self._span(children))

    def call(self, children: list) -> ast.Call:
        func, *args = children
        return ast.Call(
            str(func), tuple(a for a in args if a is not None), span=self._span(children)
        )

    def list_lit(self, children: list) -> ast.ListExpr:
        items = tuple(c for c in children[1:-1] if c is not None)
        return ast.ListExpr(items, span=self._span(children))

    def string(self, children: list) -> ast.Literal:
        return ast.Literal(self._string(children[0]), "str", span=self._span(children))

    def _integer(self, token: Token, what: str) -> int:
        """`token`'s value; out of the engine's range it is an error, read as 0."""
        digits = str(token)
        if len(digits.lstrip("0")) > len(str(INT_MAX)) or int(digits) > INT_MAX:
            self.sink.error(
                f"{what} `{_shorten(digits)}` is out of range",
                self._tok(token),
                f"help: integers are 64-bit: at most {INT_MAX:,}",
                code="bad-number",
            )
            return 0
        return int(digits)

    def int(self, children: list) -> ast.Literal:
        return ast.Literal(self._integer(children[0], "integer"), "int", span=self._span(children))

    def float(self, children: list) -> ast.Literal:
        value = float(children[0])
        if value == math.inf:
            self.sink.error(
                f"number `{children[0]}` is too large", self._span(children), code="bad-number"
            )
        return ast.Literal(value, "float", span=self._span(children))

    def duration(self, children: list) -> ast.Literal:
        text = str(children[0])
        parts = re.findall(r"\d+", text)
        if any(len(n.lstrip("0")) > len(str(INT_MAX)) for n in parts) or (
            parse_duration(text) > INT_MAX
        ):
            self.sink.error(
                f"duration `{_shorten(text)}` is out of range",
                self._span(children),
                f"help: a duration is at most {INT_MAX:,}ms (about 292 million years)",
                code="bad-number",
            )
            return ast.Literal(0, "duration", span=self._span(children))
        return ast.Literal(parse_duration(text), "duration", span=self._span(children))

    def true(self, children: list) -> ast.Literal:
        return ast.Literal(True, "bool", span=self._span(children))

    def false(self, children: list) -> ast.Literal:
        return ast.Literal(False, "bool", span=self._span(children))

    def null(self, children: list) -> ast.Literal:
        return ast.Literal(None, "null", span=self._span(children))

    # -- tests

    def test_decl(self, children: list) -> ast.TestDecl:
        span, children = self._span(children), _args(children)
        rule, description, *clauses = children
        lines = [clause for clause in clauses if not isinstance(clause, ast.Expect)]
        options = self._once(
            [line for line in lines if line[0] != "given"],
            lambda word: f"test has more than one `{word}` line",
        )
        return ast.TestDecl(
            rule=str(rule),
            description=self._string(description) if description is not None else None,
            given=tuple(event for key, events, _ in lines if key == "given" for event in events),
            expects=tuple(clause for clause in clauses if isinstance(clause, ast.Expect)),
            allowed_delay=options.get("allowed_delay"),  # type: ignore[arg-type]
            flush=bool(options.get("flush", False)),
            span=span,
            rule_span=self._tok(rule),
        )

    given_clause = _clause("given", lambda self, args: tuple(args))

    def event_literal(self, children: list) -> ast.EventLiteral:
        name, fields = children
        return ast.EventLiteral(str(name), fields, span=self._span(children))

    def _expect(
        self, span: ast.Span, kind: ast.ExpectKind, rule: Token, **kw: object
    ) -> ast.Expect:
        return ast.Expect(kind, str(rule), span=span, rule_span=self._tok(rule), **kw)  # type: ignore[arg-type]

    def expect_match(self, children: list, kind: ast.ExpectKind = "match") -> ast.Expect:
        span, children = self._span(children), _args(children)
        rule, fields, at = children
        return self._expect(span, kind, rule, fields=fields, at=at)

    def expect_timeout(self, children: list) -> ast.Expect:
        return self.expect_match(children, "timeout")

    def expect_none(self, children: list) -> ast.Expect:
        span, children = self._span(children), _args(children)
        return self._expect(span, "none", children[0])

    def expect_count(self, children: list) -> ast.Expect:
        span, children = self._span(children), _args(children)
        count, rule = children
        return self._expect(span, "count", rule, count=self._integer(count, "count"))

    def at_time(self, children: list) -> ast.Expr:
        return children[0]

    allowed_delay_clause = _clause("allowed_delay")
    flush_clause = _clause("flush", lambda self, args: True)

    def object_literal(self, children: list) -> ast.ObjectExpr:
        fields = children[1:-1]
        seen: set[str] = set()
        for name, value in fields:
            if name in seen:
                self.sink.error(
                    f"field `{name}` is given twice", value.span, code="duplicate-field"
                )
            seen.add(name)
        return ast.ObjectExpr(tuple(fields), span=self._span(children))

    def object_field(self, children: list) -> tuple[str, ast.Expr]:
        name, value = children
        return (str(name), value)


def _shorten(text: str, keep: int = 30) -> str:
    """`text`, or its start and end around `...` where it is longer than `keep`."""
    return text if len(text) <= keep else f"{text[:12]}...{text[-12:]} ({len(text)} characters)"


def _args(children: list) -> list:
    """The children that carry meaning: without the keyword tokens kept for positions."""
    return [c for c in children if not (isinstance(c, Token) and c.type.startswith("KW_"))]


_BUILDER = _AstBuilder()
