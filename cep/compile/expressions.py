"""Expressions compiled once into Python closures for the interpreter.

A compiled expression is a function of an `Env`: the candidate event (inside a term's
condition) and the variables bound so far. Nothing is `eval`-ed per event.

Null semantics (documented in docs/LANGUAGE.md): a missing field is `None`; arithmetic
with `None` gives `None`; every comparison with `None` is false (`==` and `!=` alike);
`None` counts as false where a truth value is needed; division by zero gives `None`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cep.lang import ast
from cep.lang.expr_types import Resolution
from cep.lang.regex import DATA_PATTERNS, compile_regex, search
from cep.lang.values import FLIPPED, OPERATORS
from cep.runtime.event import Event

Compiled = Callable[["Env"], Any]


@dataclass(slots=True, eq=False)
class Env:
    """What an expression can see: the candidate event and the bound variables."""

    this: Event | None
    bindings: Mapping[str, Any]


class CompileError(Exception):
    """An expression the checker accepted but the compiler cannot build (a bug)."""


def field_of(value: Any, name: str) -> Any:
    """`value.name` for an event, a record (dict) or a list of them (projection)."""
    if isinstance(value, Event | dict):
        return value.get(name)
    if isinstance(value, list):
        return [field_of(item, name) for item in value]
    return None


def _index(value: Any, index: Any) -> Any:
    if not isinstance(index, int) or isinstance(index, bool):
        return None
    if isinstance(value, list | str):
        try:
            return value[index]
        except IndexError:
            return None
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compare(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if a is None or b is None:
            return False
        if _number(a) and _number(b):
            return op(a, b)
        if type(a) is not type(b):
            return False
        try:
            return op(a, b)
        except TypeError:
            return False

    return compare


COMPARISONS = {op: _compare(fn) for op, fn in OPERATORS.items()}


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        try:
            return op(a, b)
        except (TypeError, ZeroDivisionError, OverflowError):
            return None

    return apply


_ARITH = (operator.add, operator.sub, operator.mul, operator.truediv, operator.mod)
_ARITHMETIC = {op: _arith(fn) for op, fn in zip("+-*/%", _ARITH, strict=True)}


def _matches(text: Any, pattern: Any) -> bool:
    """`text =~ pattern` with a pattern known only per event: RE2 (linear time), compiled
    once per distinct pattern; a pattern RE2 does not take is false and counted."""
    if not isinstance(text, str) or not isinstance(pattern, str):
        return False
    return DATA_PATTERNS.search(text, pattern)


def _literal_matcher(pattern: str) -> Callable[[Any], bool]:
    """`text =~ "literal"`: compiled once (the checker has refused a bad literal)."""
    compiled, _ = compile_regex(pattern)
    if compiled is None:  # not checked (a bug): the same false-and-count as data
        return lambda text: _matches(text, pattern)
    return lambda text: isinstance(text, str) and search(compiled, text)


def _contained(item: Any, container: Any) -> bool:
    if item is None or container is None:
        return False
    if isinstance(container, str):
        return isinstance(item, str) and item in container
    if isinstance(container, list):
        return any(COMPARISONS["=="](item, member) for member in container)
    return False


# ---------------------------------------------------------------------------- functions


def _present(values: Any) -> list[Any]:
    return [v for v in values if v is not None] if isinstance(values, list) else []


def _total(items: list[Any]) -> Any:
    """Left-to-right addition (not `sum`, whose float algorithm changed in Python 3.12):
    one meaning on every Python and in the fast path."""
    total = 0
    for item in items:
        total += item
    return total


def _sum(values: Any) -> Any:
    items = _present(values)
    return _total(items) if all(_number(v) for v in items) else None


def _avg(values: Any) -> Any:
    items = _present(values)
    if not items or not all(_number(v) for v in items):
        return None
    return _total(items) / len(items)


def _extreme(pick: Callable[..., Any]) -> Callable[..., Any]:
    def extreme(*args: Any) -> Any:
        items = _present(args[0]) if len(args) == 1 else [a for a in args if a is not None]
        try:
            return pick(items) if items else None
        except TypeError:
            return None

    return extreme


def _text(fn: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        if not all(isinstance(a, str) for a in args):
            return None if fn in (str.lower, str.upper) else False
        return fn(*args)

    return apply


def _round(value: Any, digits: Any = None) -> Any:
    if not _number(value):
        return None
    if digits is None:
        # NaN and the infinities have no integer: they stay as they are, as with digits
        return round(value) if math.isfinite(value) else value
    return round(value, digits) if isinstance(digits, int) else None


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "count": lambda values: len(values) if isinstance(values, list) else None,
    "sum": _sum,
    "avg": _avg,
    "min": _extreme(min),
    "max": _extreme(max),
    "first": lambda values: values[0] if isinstance(values, list) and values else None,
    "last": lambda values: values[-1] if isinstance(values, list) and values else None,
    "abs": lambda value: abs(value) if _number(value) else None,
    "lower": _text(str.lower),
    "upper": _text(str.upper),
    "len": lambda value: len(value) if isinstance(value, str | list) else None,
    "round": _round,
    "startswith": _text(str.startswith),
    "endswith": _text(str.endswith),
    "contains": lambda container, item: _contained(item, container),
    "exists": lambda value: value is not None,
    "coalesce": lambda *values: next((v for v in values if v is not None), None),
}


def truthy(value: Any) -> bool:
    """How a value counts where true or false is needed (`None` is false)."""
    return value is True or (value is not None and value is not False and bool(value))


# ---------------------------------------------------------------------------- compiler


class ExpressionCompiler:
    """Compiles expressions of one rule, using the checker's name resolutions."""

    def __init__(self, resolutions: Mapping[int, Resolution]) -> None:
        self.resolutions = resolutions

    def compile(self, expr: ast.Expr) -> Compiled:
        method = getattr(self, "_" + type(expr).__name__.lower(), None)
        if method is None:
            raise CompileError(f"cannot compile {type(expr).__name__}")
        return method(expr)

    def condition(self, expr: ast.Expr | None) -> Callable[[Env], bool]:
        if expr is None:
            return lambda env: True
        compiled = self.compile(expr)
        return lambda env: truthy(compiled(env))

    def _literal(self, expr: ast.Literal) -> Compiled:
        value = expr.value
        return lambda env: value

    def _listexpr(self, expr: ast.ListExpr) -> Compiled:
        items = [self.compile(item) for item in expr.items]
        return lambda env: [item(env) for item in items]

    def _name(self, expr: ast.Name) -> Compiled:
        resolution = self.resolutions.get(id(expr))
        name = expr.name
        if resolution is None or resolution.kind == "field":
            return lambda env: env.this.get(name) if env.this is not None else None
        if resolution.kind == "const":
            value = resolution.value
            return lambda env: value
        if resolution.kind == "own":
            return lambda env: env.bindings.get(name) or []
        return lambda env: env.bindings.get(name)

    def _this(self, expr: ast.This) -> Compiled:
        return lambda env: env.this

    def _attribute(self, expr: ast.Attribute) -> Compiled:
        obj = self.compile(expr.obj)
        name = expr.name
        return lambda env: field_of(obj(env), name)

    def _index(self, expr: ast.Index) -> Compiled:
        obj = self.compile(expr.obj)
        index = self.compile(expr.index)
        return lambda env: _index(obj(env), index(env))

    def _call(self, expr: ast.Call) -> Compiled:
        fn = FUNCTIONS[expr.func]
        args = [self.compile(arg) for arg in expr.args]
        if len(args) == 1:
            (only,) = args
            return lambda env: fn(only(env))
        return lambda env: fn(*(arg(env) for arg in args))

    def _unary(self, expr: ast.Unary) -> Compiled:
        operand = self.compile(expr.operand)
        if expr.op == "not":
            return lambda env: not truthy(operand(env))

        def negate(env: Env) -> Any:
            value = operand(env)
            return -value if _number(value) else None

        return negate

    def _binary(self, expr: ast.Binary) -> Compiled:
        left = self.compile(expr.left)
        right = self.compile(expr.right)
        op = expr.op
        if op == "and":
            return lambda env: truthy(left(env)) and truthy(right(env))
        if op == "or":
            return lambda env: truthy(left(env)) or truthy(right(env))
        if op in COMPARISONS:
            compare = COMPARISONS[op]
            return lambda env: compare(left(env), right(env))
        if op == "in":
            return lambda env: _contained(left(env), right(env))
        if op == "not in":

            def not_in(env: Env) -> bool:
                item, container = left(env), right(env)
                if item is None or container is None:
                    return False
                return not _contained(item, container)

            return not_in
        if op == "=~":
            if isinstance(expr.right, ast.Literal) and isinstance(expr.right.value, str):
                literal = _literal_matcher(expr.right.value)
                return lambda env: literal(left(env))
            return lambda env: _matches(left(env), right(env))
        apply = _ARITHMETIC[op]
        return lambda env: apply(left(env), right(env))


# ---------------------------------------------------------------------------- fast tests

EventTest = Callable[[Event], bool]


class EventPredicates:
    """Direct tests of a candidate event for the common conditions: comparisons of the
    event's own fields with literals, `in` a literal list, and `and` / `or` / `not` of
    those. They mean exactly what the general closures mean (null semantics included);
    anything else returns None and the general path is used."""

    def __init__(self, resolutions: Mapping[int, Resolution]) -> None:
        self.resolutions = resolutions

    def build(self, expr: ast.Expr) -> EventTest | None:
        match expr:
            case ast.Binary(op=("and" | "or") as op, left=left, right=right):
                a, b = self.build(left), self.build(right)
                if a is None or b is None:
                    return None
                if op == "and":
                    return lambda event: a(event) and b(event)
                return lambda event: a(event) or b(event)
            case ast.Unary(op="not", operand=operand):
                inner = self.build(operand)
                return None if inner is None else (lambda event: not inner(event))
            case ast.Binary(op=op, left=left, right=right) if op in OPERATORS:
                getter, literal = self._field(left), literal_value(right)
                if getter is None or literal is None:
                    getter, literal = self._field(right), literal_value(left)
                    op = FLIPPED[op]
                if getter is None or literal is None:
                    return None
                return _comparison(getter, OPERATORS[op], COMPARISONS[op], literal)
            case ast.Binary(op="in", left=left, right=ast.ListExpr(items=items)):
                getter = self._field(left)
                values = [literal_value(item) for item in items]
                if getter is None or any(v is None for v in values):
                    return None
                equal = COMPARISONS["=="]

                def member(event: Event) -> bool:
                    value = getter(event)
                    return value is not None and any(equal(value, v) for v in values)

                return member
        return None

    def _field(self, expr: ast.Expr) -> Callable[[Event], Any] | None:
        name = field_name(expr, self.resolutions)
        if name is None:
            return None
        if name == "ts":
            return lambda event: event.ts
        if name == "type":
            return lambda event: event.type
        return lambda event: event.data.get(name)


def field_name(expr: ast.Expr, resolutions: Mapping[int, Resolution]) -> str | None:
    """The field of the candidate event that `expr` names (`x`, `this.x`), if it is one."""
    if isinstance(expr, ast.Name):
        resolution = resolutions.get(id(expr))
        if resolution is None or resolution.kind == "field":
            return expr.name
    elif isinstance(expr, ast.Attribute) and isinstance(expr.obj, ast.This):
        return expr.name
    return None


def literal_value(expr: ast.Expr) -> Any:
    if isinstance(expr, ast.Literal) and expr.value is not None:
        return expr.value
    if (
        isinstance(expr, ast.Unary)
        and expr.op == "-"
        and isinstance(expr.operand, ast.Literal)
        and _number(expr.operand.value)
    ):
        return -expr.operand.value  # type: ignore[operator]
    return None


def _comparison(
    getter: Callable[[Event], Any],
    op: Callable[[Any, Any], bool],
    general: Callable[[Any, Any], bool],
    literal: Any,
) -> EventTest:
    kind = type(literal)
    if kind is str:

        def text(event: Event) -> bool:
            value = getter(event)
            if type(value) is str:
                return op(value, literal)
            return general(value, literal)

        return text
    if kind is int or kind is float:

        def number(event: Event) -> bool:
            value = getter(event)
            kind = type(value)
            if kind is int or kind is float:
                return op(value, literal)
            return general(value, literal)

        return number
    return lambda event: general(getter(event), literal)
