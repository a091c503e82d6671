"""Conditions compiled for the kernel: iterative term conditions and `where` become
small stack programs evaluated against one run's history, and a term's own condition
that NumPy cannot test a batch at a time (cep/fast/vector.py: arithmetic, two fields of
the event) a program over the candidate event alone (`term_test`).

A program is a postfix list of instructions over float64 values. Numbers are
themselves; strings are codes from one table per rule (so `==` / `!=` between strings
are comparisons of codes); `NaN` is null. Null semantics are the interpreter's:
arithmetic with null is null, every comparison with null is false (`!=` included),
division or remainder by zero is null, aggregates skip nulls (`sum` of nothing is 0,
`avg` / `min` / `max` of nothing is null).

The family compiled is the one rules use for runs: fields of the candidate event, fields
of bound variables (`a.x`, `first(f).x`, `last(f).x`, `f[k].x`), aggregates of a
repeated variable (`count(f)`, `sum/avg/min/max(f.x)`, `x in f.y`), arithmetic, comparisons,
`in` a literal list, `and` / `or` / `not`, `abs`, `exists`, `min` / `max` of several
values. Every value must have a declared type (an `event` schema): numbers (`int`,
`float`, `duration`, and `ts`) and text. Anything else raises `Unsupported` with the
reason; such a rule runs on the interpreter.

Numbers are float64 in programs: integers are exact up to 2**53 (beyond that the fast
path may round where the interpreter does not); sums run in event order, as the
interpreter's do.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cep.compile.conditions import AndCond, Cond, NotCond, OrCond, TermCond, TrueCond, WhereCond
from cep.compile.expressions import literal_value
from cep.lang import ast
from cep.lang.types import Type

(OP_CONST, OP_BIT, OP_CUR, OP_VAR, OP_AGG, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_NEG,
 OP_ABS, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_AND, OP_OR, OP_NOT, OP_MIN2, OP_MAX2,
 OP_EXISTS, OP_IN) = range(25)  # fmt: skip
AGG_COUNT, AGG_SUM, AGG_AVG, AGG_MIN, AGG_MAX = range(5)
#: how each instruction changes the stack's height (pushes a value, combines two, or
#: replaces the top one)
_PUSHES = (OP_CONST, OP_BIT, OP_CUR, OP_VAR, OP_AGG)
_COMBINES = (OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
             OP_AND, OP_OR, OP_MIN2, OP_MAX2)  # fmt: skip

_ARITHMETIC = {"+": OP_ADD, "-": OP_SUB, "*": OP_MUL, "/": OP_DIV, "%": OP_MOD}
_COMPARISONS = {"==": OP_EQ, "!=": OP_NE, "<": OP_LT, "<=": OP_LE, ">": OP_GT, ">=": OP_GE}
_AGGREGATES = {"sum": AGG_SUM, "avg": AGG_AVG, "min": AGG_MIN, "max": AGG_MAX}
_NUMBER_KINDS = ("int", "float", "duration")

NUM, STR, BOOL = "num", "str", "bool"


def const_value(expr: ast.Expr, resolutions: Mapping[int, Any]) -> Any:
    """The value of a name that resolves to a `const`; None for any other expression."""
    if isinstance(expr, ast.Name):
        resolution = resolutions.get(id(expr))
        if resolution is not None and resolution.kind == "const":
            return resolution.value
    return None


class Unsupported(Exception):
    """A condition outside the compiled family (the message says what)."""


@dataclass(eq=False)
class StringCodes:
    """Codes for strings, shared by a rule's programs and its events."""

    codes: dict[str, int] = field(default_factory=dict)

    def code(self, text: str) -> int:
        code = self.codes.get(text)
        if code is None:
            code = self.codes[text] = len(self.codes)
        return code


@dataclass
class Slot:
    """A field programs read: its name and whether it holds numbers or text."""

    name: str
    kind: str


@dataclass
class Programs:
    """Every program of a rule, as the arrays the kernel reads."""

    slots: list[Slot] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    ops: list[int] = field(default_factory=list)
    a: list[int] = field(default_factory=list)
    b: list[int] = field(default_factory=list)
    c: list[int] = field(default_factory=list)
    d: list[int] = field(default_factory=list)
    k: list[float] = field(default_factory=list)
    depth: int = 1

    def arrays(self) -> tuple:
        ints = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
        return (
            ints(self.starts), ints(self.lengths), ints(self.ops), ints(self.a),
            ints(self.b), ints(self.c), ints(self.d), np.array(self.k, dtype=np.float64),
        )  # fmt: skip


@dataclass(kw_only=True, eq=False)
class ProgramCompiler:
    """Compiles the run-dependent conditions of one rule.

    `row_of(cond)` gives the bits row of a run-independent condition (the caller
    evaluates those for whole batches); `var_index` numbers the rule's variables as the
    kernel's history cells do.
    """

    resolutions: Mapping[int, Any]
    expr_types: Mapping[int, Type]
    repeated: frozenset[str]
    var_index: Mapping[str, int]
    term_conditions: Mapping[int, ast.Expr | None]
    where: ast.Expr | None
    row_of: Callable[[Cond], int]
    strings: StringCodes
    out: Programs = field(default_factory=Programs, init=False)
    _slots: dict[str, int] = field(default_factory=dict, init=False)
    _depth: int = field(default=0, init=False)

    # ------------------------------------------------------------ programs

    def condition(self, cond: Cond) -> int:
        """A program for a whole edge condition; returns its index."""
        return self._program(lambda: self._cond(cond))

    def term_test(self, expr: ast.Expr) -> int:
        """A program for a run-independent term's own condition (it reads only the
        candidate event), to test a whole batch's events one by one; returns its index.
        On `Unsupported`, no slot it would have read is left behind."""
        mark = self.mark()
        try:
            return self._program(lambda: self._bool(expr, extra=0, in_term=True))
        except Unsupported:
            self.rewind(mark)
            raise

    def completes(self) -> int:
        """The program of `where` over a history that already holds every event
        (-1 when the rule has no `where`)."""
        if self.where is None:
            return -1
        where = self.where
        return self._program(lambda: self._bool(where, extra=0, in_term=False))

    def value(self, expr: ast.Expr, kind: str) -> int:
        """A program computing `expr` over a finished history (an `emit` field), whose
        value must be of `kind` (NUM, STR or BOOL); returns its index."""

        def emit() -> None:
            found = self._expr(expr, 0, False)
            if found != kind:
                raise Unsupported(f"`{expr_text(expr)}` is not of the type it was checked as")

        return self._program(emit)

    def mark(self) -> tuple[int, int, int, dict[str, int]]:
        """Where the programs and slots end now (for `rewind`)."""
        out = self.out
        return len(out.starts), len(out.ops), len(out.slots), dict(self._slots)

    def rewind(self, mark: tuple[int, int, int, dict[str, int]]) -> None:
        """Forget the programs and slots added since `mark`."""
        programs, ops, slots, by_name = mark
        out = self.out
        del out.starts[programs:], out.lengths[programs:]
        del out.ops[ops:], out.a[ops:], out.b[ops:], out.c[ops:], out.d[ops:], out.k[ops:]
        del out.slots[slots:]
        self._slots = by_name

    def _program(self, emit: Callable[[], None]) -> int:
        out = self.out
        start = len(out.ops)
        self._depth = 0
        try:
            emit()
        except Unsupported:
            del out.ops[start:], out.a[start:], out.b[start:], out.c[start:]
            del out.d[start:], out.k[start:]
            raise
        out.starts.append(start)
        out.lengths.append(len(out.ops) - start)
        return len(out.starts) - 1

    def _cond(self, cond: Cond) -> None:
        if isinstance(cond, TrueCond):
            self._emit(OP_CONST, k=1.0)
        elif isinstance(cond, TermCond):
            self._emit(OP_BIT, a=self.row_of(cond))
            if not cond.term.independent:
                expr = self.term_conditions[cond.term.index]
                assert expr is not None
                self._bool(expr, extra=0, in_term=True)
                self._emit(OP_AND)
        elif isinstance(cond, WhereCond):
            if self.where is None or cond.var is None:
                raise Unsupported("a `where` condition without its variable")
            self._bool(self.where, extra=self.var_index[cond.var] + 1, in_term=False)
        elif isinstance(cond, NotCond):
            self._cond(cond.inner)
            self._emit(OP_NOT)
        elif isinstance(cond, AndCond | OrCond):
            op = OP_AND if isinstance(cond, AndCond) else OP_OR
            self._cond(cond.items[0])
            for item in cond.items[1:]:
                self._cond(item)
                self._emit(op)
        else:
            raise Unsupported(f"the condition {cond.render()!r}")

    # ------------------------------------------------------------ expressions

    def _bool(self, expr: ast.Expr, *, extra: int, in_term: bool) -> None:
        kind = self._expr(expr, extra, in_term)
        if kind != BOOL:
            raise Unsupported(f"`{expr_text(expr)}` is used as a truth value")

    def _expr(self, expr: ast.Expr, extra: int, in_term: bool) -> str:
        """Emit code leaving the value of `expr` on the stack; returns its kind."""
        match expr:
            case ast.Literal():
                return self._constant(expr.value, expr)
            case ast.Name():
                resolution = self.resolutions.get(id(expr))
                if resolution is not None and resolution.kind == "const":
                    return self._constant(resolution.value, expr)
                if resolution is None or resolution.kind == "field":
                    return self._current_field(expr.name, expr, in_term)
                raise Unsupported(f"`{expr.name}` (a whole event or list) used as a value")
            case ast.Attribute(obj=ast.This(), name=name):
                return self._current_field(name, expr, in_term)
            case ast.Attribute(obj=obj, name=name):
                var, index = self._bound_event(obj)
                slot = self._slot(name, expr)
                self._emit(OP_VAR, a=var, b=slot, c=index, d=extra)
                return self.out.slots[slot].kind
            case ast.Call(func=func, args=args):
                return self._call(func, args, expr, extra, in_term)
            case ast.Unary(op="not", operand=operand):
                self._bool(operand, extra=extra, in_term=in_term)
                self._emit(OP_NOT)
                return BOOL
            case ast.Unary(op="-", operand=operand):
                self._number(operand, extra, in_term)
                self._emit(OP_NEG)
                return NUM
            case ast.Binary(op=("and" | "or") as op, left=left, right=right):
                self._bool(left, extra=extra, in_term=in_term)
                self._bool(right, extra=extra, in_term=in_term)
                self._emit(OP_AND if op == "and" else OP_OR)
                return BOOL
            case ast.Binary(op=op, left=left, right=right) if op in _COMPARISONS:
                a = self._expr(left, extra, in_term)
                b = self._expr(right, extra, in_term)
                if a != b or (a != NUM and op not in ("==", "!=")):
                    raise Unsupported(f"the comparison `{expr_text(expr)}`")
                self._emit(_COMPARISONS[op])
                return BOOL
            case ast.Binary(op="in" | "not in", right=right) if (
                self._repeated_projection(right) is not None
            ):
                return self._in_projection(expr, extra, in_term)
            case ast.Binary(op="in" | "not in"):
                return self._membership(expr, extra, in_term)
            case ast.Binary(op=op, left=left, right=right) if op in _ARITHMETIC:
                self._number(left, extra, in_term)
                self._number(right, extra, in_term)
                self._emit(_ARITHMETIC[op])
                return NUM
        raise Unsupported(f"`{expr_text(expr)}`")

    def _number(self, expr: ast.Expr, extra: int, in_term: bool) -> None:
        if self._expr(expr, extra, in_term) != NUM:
            raise Unsupported(f"`{expr_text(expr)}` is not a number")

    def _constant(self, value: Any, expr: ast.Expr) -> str:
        if isinstance(value, bool):
            self._emit(OP_CONST, k=1.0 if value else 0.0)
            return BOOL
        if isinstance(value, int | float):
            if isinstance(value, int) and abs(value) > 2**53:
                raise Unsupported(f"the number {value} (beyond float64's exact integers)")
            self._emit(OP_CONST, k=float(value))
            return NUM
        if isinstance(value, str):
            self._emit(OP_CONST, k=float(self.strings.code(value)))
            return STR
        raise Unsupported(f"the value `{expr_text(expr)}`")

    def _current_field(self, name: str, expr: ast.Expr, in_term: bool) -> str:
        if not in_term:
            raise Unsupported(f"`{expr_text(expr)}` outside a term")
        slot = self._slot(name, expr)
        self._emit(OP_CUR, a=slot)
        return self.out.slots[slot].kind

    def _slot(self, name: str, expr: ast.Expr, declared: Type | None = None) -> int:
        """The slot of field `name`; its kind from `declared` or the checker's type of
        `expr`."""
        if declared is None:
            declared = self.expr_types.get(id(expr))
        kind_name = declared.kind if declared is not None else "dynamic"
        if kind_name in _NUMBER_KINDS or (name == "ts" and kind_name == "time"):
            kind = NUM
        elif kind_name == "str" and name != "type":
            kind = STR
        elif kind_name == "bool":
            kind = BOOL
        else:
            raise Unsupported(
                f"`{expr_text(expr)}` has no declared number or text type (it is {kind_name})"
            )
        found = self._slots.get(name)
        if found is not None:
            if self.out.slots[found].kind != kind:
                raise Unsupported(f"the field `{name}` has different types in different events")
            return found
        self._slots[name] = len(self.out.slots)
        self.out.slots.append(Slot(name, kind))
        return self._slots[name]

    def _bound_event(self, obj: ast.Expr) -> tuple[int, int]:
        """(variable, position) of `a`, `first(f)`, `last(f)`, `f[k]`; position counts
        from the first event (k >= 0) or from the last (k < 0)."""
        match obj:
            case ast.Name(name=name) if self._is_var(obj, own=False) and name not in self.repeated:
                return self.var_index[name], -1
            case ast.Call(func=("first" | "last") as func, args=(ast.Name() as arg,)) if (
                self._is_var(arg) and arg.name in self.repeated
            ):
                return self.var_index[arg.name], 0 if func == "first" else -1
            case ast.Index(obj=ast.Name() as arg, index=index) if (
                self._is_var(arg) and arg.name in self.repeated
            ):
                position = literal_value(index)
                if type(position) is not int:
                    raise Unsupported(
                        f"the index `{expr_text(index)}` (only whole-number literals)"
                    )
                return self.var_index[arg.name], position
        raise Unsupported(f"`{expr_text(obj)}`")

    def _is_var(self, node: ast.Name, *, own: bool = True) -> bool:
        resolution = self.resolutions.get(id(node))
        kinds = ("var", "own") if own else ("var",)
        return resolution is not None and resolution.kind in kinds

    def _repeated_projection(self, arg: ast.Expr) -> tuple[int, int] | None:
        """(variable, slot) of `f.x` for a repeated `f`; slot -1 for a bare `f`."""
        if isinstance(arg, ast.Name) and self._is_var(arg) and arg.name in self.repeated:
            return self.var_index[arg.name], -1
        if (
            isinstance(arg, ast.Attribute)
            and isinstance(arg.obj, ast.Name)
            and self._is_var(arg.obj)
            and arg.obj.name in self.repeated
        ):
            element = self.expr_types.get(id(arg))
            if element is None or not element.is_list or element.elem is None:
                raise Unsupported(f"`{expr_text(arg)}` has no declared type")
            return self.var_index[arg.obj.name], self._slot(arg.name, arg, element.elem)
        return None

    def _call(
        self, func: str, args: tuple[ast.Expr, ...], expr: ast.Expr, extra: int, in_term: bool
    ) -> str:
        if len(args) == 1 and func in ("count", "first", "last", *_AGGREGATES):
            found = self._repeated_projection(args[0])
            if found is not None and func == "count":
                self._emit(OP_AGG, a=found[0], b=-1, c=AGG_COUNT, d=extra)
                return NUM
            if found is None or found[1] < 0:
                raise Unsupported(f"`{expr_text(expr)}`")
            var, slot = found
            kind = self.out.slots[slot].kind
            if func in ("first", "last"):
                self._emit(OP_VAR, a=var, b=slot, c=0 if func == "first" else -1, d=extra)
                return kind
            if kind != NUM:
                raise Unsupported(f"`{expr_text(expr)}`")
            self._emit(OP_AGG, a=var, b=slot, c=_AGGREGATES[func], d=extra)
            return NUM
        if func in ("min", "max") and len(args) > 1:
            for at, arg in enumerate(args):
                self._number(arg, extra, in_term)
                if at:
                    self._emit(OP_MIN2 if func == "min" else OP_MAX2)
            return NUM
        if func == "abs" and len(args) == 1:
            self._number(args[0], extra, in_term)
            self._emit(OP_ABS)
            return NUM
        if func == "exists" and len(args) == 1:
            if self._expr(args[0], extra, in_term) == BOOL:
                raise Unsupported(f"`{expr_text(expr)}`")
            self._emit(OP_EXISTS)
            return BOOL
        raise Unsupported(f"`{expr_text(expr)}`")

    def _literal_list(self, expr: ast.Expr) -> list[Any] | None:
        """The values of a list of literals, or of a constant holding one."""
        if isinstance(expr, ast.ListExpr):
            if all(isinstance(item, ast.Literal) for item in expr.items):
                return [item.value for item in expr.items]  # type: ignore[attr-defined]
            return None
        value = const_value(expr, self.resolutions)
        return list(value) if isinstance(value, list | tuple) else None

    def _in_projection(self, expr: ast.Binary, extra: int, in_term: bool) -> str:
        """`x in f.y` / `x not in f.y` for a repeated `f`."""
        op, left = expr.op, expr.left
        found = self._repeated_projection(expr.right)
        assert found is not None
        var, slot = found
        kind = self._expr(left, extra, in_term)
        if slot < 0 or kind == BOOL or self.out.slots[slot].kind != kind:
            raise Unsupported(f"`{expr_text(expr)}`")
        self._emit(OP_IN, a=var, b=slot, d=extra)
        if op == "not in":
            self._not_in(left, extra, in_term)
        return BOOL

    def _not_in(self, left: ast.Expr, extra: int, in_term: bool) -> None:
        """Turn "is in" on the stack into `not in`: false for a null value, else not
        contained."""
        self._emit(OP_NOT)
        self._expr(left, extra, in_term)
        self._emit(OP_EXISTS)
        self._emit(OP_AND)

    def _membership(self, expr: ast.Binary, extra: int, in_term: bool) -> str:
        """`x in [...]` / `x not in [...]` for a list of literals (or a constant)."""
        op, left, values = expr.op, expr.left, self._literal_list(expr.right)
        if not values:
            raise Unsupported(f"`{expr_text(expr)}` (only a non-empty list of literals)")
        kind = self._expr(left, extra, in_term)
        if kind == BOOL:
            raise Unsupported(f"`{expr_text(expr)}`")
        # the value is evaluated once per item (programs are pure, so this is only work)
        for at, value in enumerate(values):
            if at:
                self._expr(left, extra, in_term)
            if value is None or isinstance(value, bool) or self._constant(value, expr) != kind:
                raise Unsupported(f"`{expr_text(expr)}` (only literals of the value's type)")
            self._emit(OP_EQ)
            if at:
                self._emit(OP_OR)
        if op == "not in":
            self._not_in(left, extra, in_term)
        return BOOL

    def _emit(
        self, op: int, *, a: int = 0, b: int = 0, c: int = 0, d: int = 0, k: float = math.nan
    ) -> None:
        out = self.out
        out.ops.append(op)
        out.a.append(a)
        out.b.append(b)
        out.c.append(c)
        out.d.append(d)
        out.k.append(k)
        if op in _PUSHES:
            self._depth += 1
        elif op in _COMBINES:
            self._depth -= 1
        out.depth = max(out.depth, self._depth)


def expr_text(expr: ast.Expr) -> str:
    """An expression as the rule's source would write it (for messages)."""
    from cep.lang.printer import format_expr

    return format_expr(expr)
