"""Static facts about conditions and patterns used by the checker's lints."""

from __future__ import annotations

from dataclasses import dataclass, field

from cep.lang import ast
from cep.lang.program import ConstInfo
from cep.lang.values import FLIPPED, OPERATORS

_UNKNOWN = object()


def _fold(expr: ast.Expr, consts: dict[str, ConstInfo]) -> object:
    """The value of an expression that depends on no event, else `_UNKNOWN`."""
    match expr:
        case ast.Literal(value=value):
            return value
        case ast.Name(name=name) if name in consts:
            return consts[name].value
        case ast.ListExpr(items=items):
            values = [_fold(i, consts) for i in items]
            return _UNKNOWN if _UNKNOWN in values else values
        case ast.Unary(op="not", operand=operand):
            value = _fold(operand, consts)
            return _UNKNOWN if not isinstance(value, bool) else not value
        case ast.Unary(op="-", operand=operand):
            value = _fold(operand, consts)
            return -value if _is_number(value) else _UNKNOWN  # type: ignore[operator]
        case ast.Binary(op="and", left=left, right=right):
            a, b = _fold(left, consts), _fold(right, consts)
            if a is False or b is False:
                return False
            return True if a is True and b is True else _UNKNOWN
        case ast.Binary(op="or", left=left, right=right):
            a, b = _fold(left, consts), _fold(right, consts)
            if a is True or b is True:
                return True
            return False if a is False and b is False else _UNKNOWN
        case ast.Binary(op=op, left=left, right=right) if op in OPERATORS:
            a, b = _fold(left, consts), _fold(right, consts)
            if _UNKNOWN in (a, b):
                return _UNKNOWN
            if a is None or b is None:
                return False  # a comparison with null is false
            if not _same_family(a, b):
                return op == "!="
            return OPERATORS[op](a, b)
    return _UNKNOWN


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_family(a: object, b: object) -> bool:
    if _is_number(a) and _is_number(b):
        return True
    return type(a) is type(b)


@dataclass
class _Facts:
    """What a conjunction says about one subject (a field or variable path)."""

    equal: list[object] = field(default_factory=list)
    unequal: list[object] = field(default_factory=list)
    lower: tuple[object, bool] | None = None  # (bound, inclusive)
    upper: tuple[object, bool] | None = None
    members: list[list[object]] = field(default_factory=list)

    def contradiction(self) -> str | None:
        if len({repr(v) for v in self.equal}) > 1:
            return "one value cannot equal two different values"
        for value in self.equal:
            if any(_same_family(value, u) and value == u for u in self.unequal):
                return "a value cannot both equal and differ from the same value"
            if not self._within_bounds(value):
                return "the value it must equal is outside the range it must lie in"
            for allowed in self.members:
                if not any(_same_family(value, m) and value == m for m in allowed):
                    return "the value it must equal is not in the list it must be in"
        if self.lower and self.upper and _same_family(self.lower[0], self.upper[0]):
            (low, low_inclusive), (high, high_inclusive) = self.lower, self.upper
            if low > high or (low == high and not (low_inclusive and high_inclusive)):  # type: ignore[operator]
                return "no value is both above the lower bound and below the upper bound"
        for allowed in self.members:
            if not allowed:
                return "nothing is in an empty list"
        return None

    def _within_bounds(self, value: object) -> bool:
        for bound, is_lower in ((self.lower, True), (self.upper, False)):
            if bound is None or not _same_family(value, bound[0]):
                continue
            limit, inclusive = bound
            if is_lower and (value < limit or (value == limit and not inclusive)):  # type: ignore[operator]
                return False
            if not is_lower and (value > limit or (value == limit and not inclusive)):  # type: ignore[operator]
                return False
        return True

    def add_bound(self, op: str, value: object) -> None:
        if op in (">", ">="):
            candidate = (value, op == ">=")
            if self.lower is None or _tighter(candidate, self.lower, lower=True):
                self.lower = candidate
        else:
            candidate = (value, op == "<=")
            if self.upper is None or _tighter(candidate, self.upper, lower=False):
                self.upper = candidate


def _tighter(new: tuple[object, bool], old: tuple[object, bool], *, lower: bool) -> bool:
    if not _same_family(new[0], old[0]):
        return False
    if new[0] == old[0]:
        return not new[1] and old[1]
    return new[0] > old[0] if lower else new[0] < old[0]  # type: ignore[operator]


def _conjuncts(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.Binary) and expr.op == "and":
        return [*_conjuncts(expr.left), *_conjuncts(expr.right)]
    return [expr]


def _is_subject(expr: ast.Expr) -> bool:
    while isinstance(expr, ast.Attribute):
        expr = expr.obj
    return isinstance(expr, ast.Name | ast.This)


def always_false(condition: ast.Expr, consts: dict[str, ConstInfo]) -> str | None:
    """Why `condition` can never hold, or None when it may."""
    folded = _fold(condition, consts)
    if folded is False or folded is None:
        return "it does not depend on any event"
    facts: dict[ast.Expr, _Facts] = {}
    for conjunct in _conjuncts(condition):
        if _fold(conjunct, consts) is False:
            return "one of its parts is always false"
        if not isinstance(conjunct, ast.Binary):
            continue
        op, left, right = conjunct.op, conjunct.left, conjunct.right
        if op == "in":
            members = _fold(right, consts)
            if isinstance(members, list) and _is_subject(left):
                facts.setdefault(left, _Facts()).members.append(members)
            continue
        if op not in OPERATORS:
            continue
        value = _fold(right, consts)
        subject = left
        if value is _UNKNOWN:
            value, subject, op = _fold(left, consts), right, FLIPPED[op]
        if value is _UNKNOWN or value is None or not _is_subject(subject):
            continue
        subject_facts = facts.setdefault(subject, _Facts())
        if op == "==":
            subject_facts.equal.append(value)
        elif op == "!=":
            subject_facts.unequal.append(value)
        elif not isinstance(value, bool):
            subject_facts.add_bound(op, value)
    for subject_facts in facts.values():
        reason = subject_facts.contradiction()
        if reason:
            return reason
    return None


def pattern_can_be_empty(node: ast.Pattern) -> bool:
    """Whether a pattern can be satisfied by no event at all."""
    match node:
        case ast.Term():
            return False
        case ast.Quantified(body=body, min_count=low):
            return low == 0 or pattern_can_be_empty(body)
        case ast.Negation():
            return True
        case ast.Sequence(items=items):
            return all(pattern_can_be_empty(i) for i in items)
        case ast.Alternation(options=options):
            return any(pattern_can_be_empty(o) for o in options)
        case ast.AllOf(members=members):
            return all(pattern_can_be_empty(m) for m in members)
    raise AssertionError(f"unknown pattern node {node!r}")
