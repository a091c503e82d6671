"""Rule files to syntax trees: the Lark LALR parser, the tree builder and error recovery.

A syntax error is reported with what was expected in words, then the parser recovers by
setting aside the declaration that holds the error and parsing the rest of the file, so
that every independent mistake in a file is reported in one pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.tree import Meta

from cep.lang import ast
from cep.lang.diagnostics import Diagnostic, DiagnosticSink, did_you_mean
from cep.lang.syntax_words import describe_expected
from cep.lang.values import decode_string, parse_duration

MAX_SYNTAX_ERRORS = 50
TOP_LEVEL_KEYWORDS = ("import", "const", "event", "rule", "test")
_ITEM_HEADER = re.compile(r"^[ \t]*(import|const|event|rule|test)\b[ \t]*(\w*)", re.MULTILINE)


@cache
def _lark() -> Lark:
    grammar = resources.files("cep.lang").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
    )


@dataclass
class ParseResult:
    """A parsed file: its declarations, the source text and what went wrong."""

    module: ast.Module
    source: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: names declared by items that could not be parsed (to avoid follow-on errors)
    broken_names: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def parse_source(source: str, path: str = "<string>") -> ParseResult:
    """Parse rule-file text; never raises for bad input, errors go to `diagnostics`."""
    sink = DiagnosticSink()
    broken: set[str] = set()
    text = source
    for _ in range(MAX_SYNTAX_ERRORS):
        try:
            tree = _lark().parse(text)
        except UnexpectedInput as error:
            sink.items.append(_syntax_diagnostic(error, text, path))
            text, name = _set_aside_item(text, error)
            if name:
                broken.add(name)
            continue
        builder = _AstBuilder(path, sink)
        items = builder.transform(tree)
        return ParseResult(ast.Module(path, tuple(items)), source, sink.items, broken)
    sink.error(
        f"too many syntax errors; stopped after {MAX_SYNTAX_ERRORS}",
        ast.Span(path, 1, 1, 1, 1),
        code="too-many-errors",
    )
    return ParseResult(ast.Module(path, ()), source, sink.items, broken)


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
        message = f"unexpected {_describe_token(error.token)}"
        expected = set(error.accepts or error.expected or ())
        if error.token.type == "NAME":
            keywords = [w.strip("`") for w in map(_keyword_of, expected) if w]
            notes.extend(did_you_mean(str(error.token), keywords))
    else:
        message = "unexpected end of file"
        expected = set(getattr(error, "expected", None) or ())
        if isinstance(error, UnexpectedToken):
            expected = set(error.accepts or error.expected or ())
    if expected:
        notes.insert(0, f"expected {describe_expected(expected, _lark())}")
    return Diagnostic("error", message, span, tuple(notes), code="syntax")


def _keyword_of(terminal_name: str) -> str | None:
    try:
        pattern = _lark().get_terminal(terminal_name).pattern
    except KeyError:
        return None
    value = pattern.value
    if pattern.type == "str" and value.isidentifier():
        return value
    return None


def _describe_token(token: Token) -> str:
    value = str(token)
    if token.type == "STRING":
        return f"string {value}"
    if token.type in ("INT", "FLOAT"):
        return f"number `{value}`"
    if token.type == "DURATION":
        return f"duration `{value}`"
    if token.type == "NAME":
        return f"name `{value}`"
    return f"`{value}`"


def _set_aside_item(text: str, error: UnexpectedInput) -> tuple[str, str | None]:
    """Blank out the declaration holding the error (keeping line breaks) so parsing can go on.

    Returns the new text and the name the broken declaration declared, if it shows.
    """
    offset = min(_error_position(error, text)[0], len(text))
    expected: set[str] = set()
    if isinstance(error, UnexpectedToken):
        expected = {t.lower() for t in (error.accepts or error.expected or ())}
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


# ---------------------------------------------------------------------------- tree to AST


def _token_span(path: str, token: Token) -> ast.Span:
    return ast.Span(
        path,
        token.line or 1,
        token.column or 1,
        token.end_line or token.line or 1,
        token.end_column or (token.column or 1) + len(token),
    )


_CLAUSE_WORDS = {
    "partition": "partition by",
    "pattern": "pattern",
    "where": "where",
    "within": "within",
    "skip": "skip",
    "emit": "emit",
    "timeout_emit": "on timeout emit",
    "severity": "severity",
    "tags": "tags",
    "allowed_delay": "allowed delay",
    "flush": "flush",
}


@v_args(meta=True)
class _AstBuilder(Transformer):
    """Builds `cep.lang.ast` nodes from Lark's parse tree."""

    def __init__(self, path: str, sink: DiagnosticSink) -> None:
        super().__init__()
        self.path = path
        self.sink = sink

    def _span(self, meta: Meta) -> ast.Span:
        if meta.empty:
            return ast.Span(self.path, 1, 1, 1, 1)
        return ast.Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok(self, token: Token) -> ast.Span:
        return _token_span(self.path, token)

    def _string(self, token: Token) -> str:
        value, problem = decode_string(str(token))
        if problem:
            self.sink.error(problem, self._tok(token), code="bad-string")
        return value

    # -- file and declarations

    def start(self, meta: Meta, items: list) -> list[ast.Item]:
        return items

    def import_decl(self, meta: Meta, children: list) -> ast.Import:
        return ast.Import(self._string(children[0]), span=self._span(meta))

    def const_decl(self, meta: Meta, children: list) -> ast.ConstDecl:
        name, value = children
        return ast.ConstDecl(str(name), value, span=self._span(meta), name_span=self._tok(name))

    def event_decl(self, meta: Meta, children: list) -> ast.EventDecl:
        name, extends, *fields = children
        return ast.EventDecl(
            str(name),
            str(extends) if extends is not None else None,
            tuple(fields),
            span=self._span(meta),
            name_span=self._tok(name),
            extends_span=self._tok(extends) if extends is not None else self._tok(name),
        )

    def field_decl(self, meta: Meta, children: list) -> ast.FieldDecl:
        name, type_ref, optional = children
        return ast.FieldDecl(str(name), type_ref, optional is not None, span=self._tok(name))

    def type_ref(self, meta: Meta, children: list) -> ast.TypeRef:
        name, arg = children
        return ast.TypeRef(str(name), arg, span=self._span(meta))

    # -- rules

    def rule_decl(self, meta: Meta, children: list) -> ast.Rule:
        name, description, *clauses = children
        values: dict[str, object] = {}
        order: list[tuple[str, ast.Span]] = []
        for key, value, span in clauses:
            order.append((key, span))
            if key in values:
                self.sink.error(
                    f"rule `{name}` has more than one `{_CLAUSE_WORDS[key]}` clause",
                    span,
                    "help: a rule takes each clause at most once",
                    code="duplicate-clause",
                )
                continue
            values[key] = value
        return ast.Rule(
            name=str(name),
            description=self._string(description) if description is not None else None,
            pattern=values.get("pattern"),  # type: ignore[arg-type]
            partition=values.get("partition", ()),  # type: ignore[arg-type]
            where=values.get("where"),  # type: ignore[arg-type]
            within=values.get("within"),  # type: ignore[arg-type]
            skip=values.get("skip"),  # type: ignore[arg-type]
            emit=values.get("emit"),  # type: ignore[arg-type]
            timeout_emit=values.get("timeout_emit"),  # type: ignore[arg-type]
            severity=values.get("severity"),  # type: ignore[arg-type]
            tags=values.get("tags"),  # type: ignore[arg-type]
            span=self._span(meta),
            name_span=self._tok(name),
            clause_spans=tuple(order),
        )

    def partition_clause(self, meta: Meta, children: list) -> tuple:
        return ("partition", tuple(children), self._span(meta))

    def field_path(self, meta: Meta, children: list) -> ast.FieldPath:
        return ast.FieldPath(tuple(str(c) for c in children), span=self._span(meta))

    def pattern_clause(self, meta: Meta, children: list) -> tuple:
        return ("pattern", children[0], self._span(meta))

    def where_clause(self, meta: Meta, children: list) -> tuple:
        return ("where", children[0], self._span(meta))

    def within_clause(self, meta: Meta, children: list) -> tuple:
        return ("within", children[0], self._span(meta))

    def _skip(self, meta: Meta, kind: ast.SkipKind, var: Token | None = None) -> tuple:
        span = self._span(meta)
        return ("skip", ast.Skip(kind, str(var) if var is not None else None, span=span), span)

    def skip_past_last(self, meta: Meta, children: list) -> tuple:
        return self._skip(meta, "past_last")

    def skip_to_next(self, meta: Meta, children: list) -> tuple:
        return self._skip(meta, "to_next")

    def skip_to_first(self, meta: Meta, children: list) -> tuple:
        return self._skip(meta, "to_first", children[0])

    def skip_to_last(self, meta: Meta, children: list) -> tuple:
        return self._skip(meta, "to_last", children[0])

    def skip_none(self, meta: Meta, children: list) -> tuple:
        return self._skip(meta, "none")

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

    def emit_clause(self, meta: Meta, children: list) -> tuple:
        return ("emit", self._emit_fields(children), self._span(meta))

    def timeout_clause(self, meta: Meta, children: list) -> tuple:
        return ("timeout_emit", self._emit_fields(children), self._span(meta))

    def emit_field(self, meta: Meta, children: list) -> ast.EmitField:
        name, expr = children
        return ast.EmitField(str(name), expr, span=self._tok(name))

    def severity_clause(self, meta: Meta, children: list) -> tuple:
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
        return ("severity", str(level), self._span(meta))

    def tags_clause(self, meta: Meta, children: list) -> tuple:
        return ("tags", tuple(self._string(c) for c in children), self._span(meta))

    # -- patterns

    def sequence(self, meta: Meta, children: list) -> ast.Sequence:
        items = tuple(children[0::2])
        ops = tuple(str(op) for op in children[1::2])
        return ast.Sequence(items, ops, span=self._span(meta))  # type: ignore[arg-type]

    def negation(self, meta: Meta, children: list) -> ast.Negation:
        return ast.Negation(children[0], span=self._span(meta))

    def alternation(self, meta: Meta, children: list) -> ast.Alternation:
        return ast.Alternation(tuple(children), span=self._span(meta))

    def all_of(self, meta: Meta, children: list) -> ast.AllOf:
        return ast.AllOf(tuple(children), span=self._span(meta))

    def quantified(self, meta: Meta, children: list) -> ast.Quantified:
        body, (form, low, high, greedy, contiguity) = children
        return ast.Quantified(body, form, low, high, greedy, contiguity, span=self._span(meta))

    def quantifier(self, meta: Meta, children: list) -> tuple:
        (form, low, high), reluctant, contiguity = children
        if high is not None and high < low:
            self.sink.error(
                f"repetition `{{{low},{high}}}` has its maximum below its minimum",
                self._span(meta),
                code="bad-repetition",
            )
        elif high == 0:
            self.sink.error(
                "a repetition of at most 0 matches nothing",
                self._span(meta),
                code="bad-repetition",
            )
        return (form, low, high, reluctant is None, contiguity or "relaxed")

    def quant_core(self, meta: Meta, children: list) -> tuple:  # pragma: no cover - aliased
        raise AssertionError("quant_core is always aliased")

    def q_plus(self, meta: Meta, children: list) -> tuple:
        return ("+", 1, None)

    def q_star(self, meta: Meta, children: list) -> tuple:
        return ("*", 0, None)

    def q_optional(self, meta: Meta, children: list) -> tuple:
        return ("?", 0, 1)

    def q_exact(self, meta: Meta, children: list) -> tuple:
        n = int(children[0])
        return ("{n}", n, n)

    def q_at_least(self, meta: Meta, children: list) -> tuple:
        return ("{n,}", int(children[0]), None)

    def q_range(self, meta: Meta, children: list) -> tuple:
        return ("{n,m}", int(children[0]), int(children[1]))

    def consecutive(self, meta: Meta, children: list) -> str:
        return "strict"

    def any_contiguity(self, meta: Meta, children: list) -> str:
        return "any"

    def term(self, meta: Meta, children: list) -> ast.Term:
        var, type_token, condition = children
        event_type = None if type_token.type == "ANY_TYPE" else str(type_token)
        return ast.Term(
            str(var) if var is not None else None, event_type, condition, span=self._span(meta)
        )

    def condition(self, meta: Meta, children: list) -> ast.Expr:
        return children[0]

    # -- expressions

    def _binary(self, meta: Meta, op: str, left: ast.Expr, right: ast.Expr) -> ast.Binary:
        return ast.Binary(op, left, right, span=self._span(meta))  # type: ignore[arg-type]

    def or_op(self, meta: Meta, children: list) -> ast.Binary:
        return self._binary(meta, "or", *children)

    def and_op(self, meta: Meta, children: list) -> ast.Binary:
        return self._binary(meta, "and", *children)

    def not_op(self, meta: Meta, children: list) -> ast.Unary:
        return ast.Unary("not", children[0], span=self._span(meta))

    def compare(self, meta: Meta, children: list) -> ast.Binary:
        left, op, right = children
        return self._binary(meta, str(op), left, right)

    def in_op(self, meta: Meta, children: list) -> ast.Binary:
        return self._binary(meta, "in", *children)

    def not_in_op(self, meta: Meta, children: list) -> ast.Binary:
        return self._binary(meta, "not in", *children)

    def regex_op(self, meta: Meta, children: list) -> ast.Binary:
        return self._binary(meta, "=~", *children)

    def arith(self, meta: Meta, children: list) -> ast.Binary:
        left, op, right = children
        return self._binary(meta, str(op), left, right)

    def negate(self, meta: Meta, children: list) -> ast.Unary:
        return ast.Unary("-", children[0], span=self._span(meta))

    def attribute(self, meta: Meta, children: list) -> ast.Attribute:
        obj, name = children
        return ast.Attribute(obj, str(name), span=self._span(meta))

    def index(self, meta: Meta, children: list) -> ast.Index:
        obj, index = children
        return ast.Index(obj, index, span=self._span(meta))

    def name(self, meta: Meta, children: list) -> ast.Name:
        return ast.Name(str(children[0]), span=self._span(meta))

    def this(self, meta: Meta, children: list) -> ast.This:
        return ast.This(span=self._span(meta))

    def call(self, meta: Meta, children: list) -> ast.Call:
        func, *args = children
        return ast.Call(str(func), tuple(a for a in args if a is not None), span=self._span(meta))

    def list_lit(self, meta: Meta, children: list) -> ast.ListExpr:
        return ast.ListExpr(tuple(c for c in children if c is not None), span=self._span(meta))

    def string(self, meta: Meta, children: list) -> ast.Literal:
        return ast.Literal(self._string(children[0]), "str", span=self._span(meta))

    def int(self, meta: Meta, children: list) -> ast.Literal:
        return ast.Literal(int(children[0]), "int", span=self._span(meta))

    def float(self, meta: Meta, children: list) -> ast.Literal:
        return ast.Literal(float(children[0]), "float", span=self._span(meta))

    def duration(self, meta: Meta, children: list) -> ast.Literal:
        return ast.Literal(parse_duration(str(children[0])), "duration", span=self._span(meta))

    def true(self, meta: Meta, children: list) -> ast.Literal:
        return ast.Literal(True, "bool", span=self._span(meta))

    def false(self, meta: Meta, children: list) -> ast.Literal:
        return ast.Literal(False, "bool", span=self._span(meta))

    def null(self, meta: Meta, children: list) -> ast.Literal:
        return ast.Literal(None, "null", span=self._span(meta))

    # -- tests

    def test_decl(self, meta: Meta, children: list) -> ast.TestDecl:
        rule, description, *clauses = children
        given: list[ast.EventLiteral] = []
        expects: list[ast.Expect] = []
        options: dict[str, object] = {}
        for clause in clauses:
            if isinstance(clause, ast.Expect):
                expects.append(clause)
            elif clause[0] == "given":
                given.extend(clause[1])
            else:
                key, value, span = clause
                if key in options:
                    self.sink.error(
                        f"test has more than one `{_CLAUSE_WORDS[key]}` line",
                        span,
                        code="duplicate-clause",
                    )
                options[key] = value
        return ast.TestDecl(
            rule=str(rule),
            description=self._string(description) if description is not None else None,
            given=tuple(given),
            expects=tuple(expects),
            allowed_delay=options.get("allowed_delay"),  # type: ignore[arg-type]
            flush=bool(options.get("flush", False)),
            span=self._span(meta),
            rule_span=self._tok(rule),
        )

    def given_clause(self, meta: Meta, children: list) -> tuple:
        return ("given", tuple(children), self._span(meta))

    def event_literal(self, meta: Meta, children: list) -> ast.EventLiteral:
        name, fields = children
        return ast.EventLiteral(str(name), fields, span=self._span(meta))

    def _expect(self, meta: Meta, kind: ast.ExpectKind, rule: Token, **kw: object) -> ast.Expect:
        return ast.Expect(kind, str(rule), span=self._span(meta), rule_span=self._tok(rule), **kw)  # type: ignore[arg-type]

    def expect_match(self, meta: Meta, children: list) -> ast.Expect:
        rule, fields, at = children
        return self._expect(meta, "match", rule, fields=fields, at=at)

    def expect_timeout(self, meta: Meta, children: list) -> ast.Expect:
        rule, fields, at = children
        return self._expect(meta, "timeout", rule, fields=fields, at=at)

    def expect_none(self, meta: Meta, children: list) -> ast.Expect:
        return self._expect(meta, "none", children[0])

    def expect_count(self, meta: Meta, children: list) -> ast.Expect:
        count, rule = children
        return self._expect(meta, "count", rule, count=int(count))

    def at_time(self, meta: Meta, children: list) -> ast.Expr:
        return children[0]

    def allowed_delay_clause(self, meta: Meta, children: list) -> tuple:
        return ("allowed_delay", children[0], self._span(meta))

    def flush_clause(self, meta: Meta, children: list) -> tuple:
        return ("flush", True, self._span(meta))

    def object_literal(self, meta: Meta, children: list) -> ast.ObjectExpr:
        seen: set[str] = set()
        for name, value in children:
            if name in seen:
                self.sink.error(
                    f"field `{name}` is given twice", value.span, code="duplicate-field"
                )
            seen.add(name)
        return ast.ObjectExpr(tuple(children), span=self._span(meta))

    def object_field(self, meta: Meta, children: list) -> tuple[str, ast.Expr]:
        name, value = children
        return (str(name), value)
