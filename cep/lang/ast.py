"""The typed syntax tree of a rule file.

Every node carries a `Span` (its place in the source) that is left out of equality, so
two trees parsed from differently formatted text compare equal when they mean the same.
The compiler consumes these nodes directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal as TypingLiteral
from typing import NamedTuple, TypeVar

# ---------------------------------------------------------------------------- places


class Span(NamedTuple):
    """A region of a source file; lines and columns are 1-based, ends exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def location(self) -> str:
        """`file:line:column`, as diagnostics print it."""
        return f"{self.file}:{self.line}:{self.column}"


NO_SPAN = Span("<unknown>", 1, 1, 1, 1)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False, kw_only=True)


# ---------------------------------------------------------------------------- expressions

LiteralKind = TypingLiteral["int", "float", "str", "bool", "null", "duration"]


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal value; a duration's value is its length in milliseconds."""

    value: int | float | str | bool | None
    kind: LiteralKind
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ObjectExpr:
    """A record literal `{ name: value, ... }`, used for events and expectations in tests."""

    fields: tuple[tuple[str, Expr], ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Name:
    """A bare identifier: a variable, a constant, or a field of the candidate event."""

    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class This:
    """`this`: the candidate event inside a term's own condition."""

    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Attribute:
    obj: Expr
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Index:
    obj: Expr
    index: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Call:
    func: str
    args: tuple[Expr, ...]
    span: Span = _span()


UnaryOp = TypingLiteral["-", "not"]
BinaryOp = TypingLiteral[
    "or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "=~", "+", "-", "*", "/", "%"
]


@dataclass(frozen=True, slots=True)
class Unary:
    op: UnaryOp
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Binary:
    op: BinaryOp
    left: Expr
    right: Expr
    span: Span = _span()


Expr = Literal | ListExpr | ObjectExpr | Name | This | Attribute | Index | Call | Unary | Binary

# ---------------------------------------------------------------------------- patterns

Contiguity = TypingLiteral["relaxed", "strict", "any"]
QuantifierForm = TypingLiteral["+", "*", "?", "{n}", "{n,}", "{n,m}"]
SequenceOp = TypingLiteral["->", "=>", "->>"]


@dataclass(frozen=True, slots=True)
class Term:
    """`var = Type[cond]`: one event of a type (None for `any`) satisfying a condition."""

    var: str | None
    event_type: str | None
    condition: Expr | None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Quantified:
    """A repeated term or group. `max_count` None means unbounded."""

    body: Pattern
    form: QuantifierForm
    min_count: int
    max_count: int | None
    greedy: bool
    contiguity: Contiguity
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Negation:
    """`not P`: no event matching P at this place in the sequence."""

    body: Pattern
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Sequence:
    """`items[0] ops[0] items[1] ...`; `len(ops) == len(items) - 1`."""

    items: tuple[Pattern, ...]
    ops: tuple[SequenceOp, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Alternation:
    options: tuple[Pattern, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class AllOf:
    """`all(A, B, ...)`: each member, in any order."""

    members: tuple[Pattern, ...]
    span: Span = _span()


Pattern = Term | Quantified | Negation | Sequence | Alternation | AllOf

# ---------------------------------------------------------------------------- rules

SkipKind = TypingLiteral["past_last", "to_next", "to_first", "to_last", "none"]
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True, slots=True)
class Skip:
    kind: SkipKind
    var: str | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EmitField:
    name: str
    expr: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FieldPath:
    """A dotted field reference such as `user` or `card.country`."""

    parts: tuple[str, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule; a clause that was not written is None (or empty)."""

    name: str
    description: str | None
    pattern: Pattern | None
    partition: tuple[FieldPath, ...] = ()
    where: Expr | None = None
    within: Expr | None = None
    skip: Skip | None = None
    emit: tuple[EmitField, ...] | None = None
    timeout_emit: tuple[EmitField, ...] | None = None
    severity: str | None = None
    tags: tuple[str, ...] | None = None
    span: Span = _span()
    name_span: Span = _span()
    #: each clause's keyword and place, in source order (for duplicate-clause checks)
    clause_spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)


# ---------------------------------------------------------------------------- schemas


@dataclass(frozen=True, slots=True)
class TypeRef:
    """`int`, `str`, `list[T]`, ..."""

    name: str
    arg: TypeRef | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FieldDecl:
    name: str
    type: TypeRef
    optional: bool = False
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class EventDecl:
    name: str
    extends: str | None
    fields: tuple[FieldDecl, ...]
    span: Span = _span()
    name_span: Span = _span()
    extends_span: Span = _span()


@dataclass(frozen=True, slots=True)
class ConstDecl:
    name: str
    value: Expr
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True, slots=True)
class Import:
    path: str
    span: Span = _span()


# ---------------------------------------------------------------------------- tests


@dataclass(frozen=True, slots=True)
class EventLiteral:
    event_type: str
    fields: ObjectExpr
    span: Span = _span()


ExpectKind = TypingLiteral["match", "timeout", "none", "count"]


@dataclass(frozen=True, slots=True)
class Expect:
    """One `expect` line: a match or timeout (with fields and time), none, or a count."""

    kind: ExpectKind
    rule: str
    fields: ObjectExpr | None = None
    at: Expr | None = None
    count: int | None = None
    span: Span = _span()
    rule_span: Span = _span()


@dataclass(frozen=True, slots=True)
class TestDecl:
    """A `test RULE "description" { ... }` block."""

    __test__ = False  # not a pytest test class

    rule: str
    description: str | None
    given: tuple[EventLiteral, ...]
    expects: tuple[Expect, ...]
    allowed_delay: Expr | None = None
    flush: bool = False
    span: Span = _span()
    rule_span: Span = _span()


_T = TypeVar("_T")

Item = Import | ConstDecl | EventDecl | Rule | TestDecl


@dataclass(frozen=True, slots=True)
class Module:
    """One parsed file."""

    path: str
    items: tuple[Item, ...]

    def of_type(self, kind: type[_T]) -> list[_T]:
        return [item for item in self.items if isinstance(item, kind)]
