"""A rule's `emit` fields as kernel programs, so that reports can be written in bulk.

Each field becomes a program (cep/compile/programs.py) that the kernel evaluates over the
report's history (`evaluate.report_values`); its float64 result is turned back into the
Python value the interpreter computes. That needs the value's Python type to be known
from the rule alone, so only expressions whose type the interpreter cannot vary are
compiled: a field of a declared type, literals, counts, `avg`, `first`/`last`/`f[k]`,
`min`/`max` (of one type), arithmetic (`int` with `int` stays `int`, `/` gives `float`),
comparisons and logic. Two values are left to the interpreter report by report: an
`int` beyond 2**53 (float64 is exact up to there) and a float `sum` that is exactly 0
(the interpreter's sum of no values is the integer 0; such a sum is compiled inside
arithmetic only with a float, which makes the result a float either way). An integer
product or an integer `sum` is compiled only as a field's whole value, where the 2**53
check sees it. A number an `emit` program reads beyond 2**53 sends the rule's `emit` to
the interpreter for the rest of the run (`FastRule.emit_exact`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cep.compile.programs import BOOL, NUM, STR, ProgramCompiler, Unsupported, expr_text
from cep.fast.reporttext import FALLBACK_TEXT
from cep.io.batch import TextPieces, record_texts
from cep.io.celltexts import CellTexts, bool_texts, float_texts, join_records
from cep.lang import ast
from cep.lang.types import Type

INT, FLOAT, TEXT, TRUTH = "int", "float", "str", "bool"
#: a float sum: `0` (an int) when it added nothing, so an exact 0.0 is left to the
#: interpreter
FLOAT_SUM = "float_sum"
#: a field's declared kind -> the Python type the interpreter gives its values
_DECLARED = {"int": INT, "time": INT, "duration": INT, "float": FLOAT, "str": TEXT, "bool": TRUTH}
_PROGRAM_KIND = {INT: NUM, FLOAT: NUM, FLOAT_SUM: NUM, TEXT: STR, TRUTH: BOOL}
#: the calls whose Python type is always the same
_CALL_KINDS = {"count": INT, "avg": FLOAT, "exists": TRUTH}
#: float64 holds every integer of smaller magnitude exactly
EXACT_INTEGERS = 2.0**53


@dataclass(frozen=True)
class _Kind:
    """A value's Python type, and whether it may leave float64's exact integers (an
    integer product or sum: allowed only as a field's whole value, which is checked)."""

    name: str
    wide: bool = False


@dataclass(eq=False)
class _Typer:
    """The Python type the interpreter gives an expression, for the expressions the
    program compiler compiles; `Unsupported` where it could vary."""

    resolutions: Mapping[int, Any]
    expr_types: Mapping[int, Type]

    def kind(self, expr: ast.Expr) -> _Kind:
        match expr:
            case ast.Literal(value=value):
                return _Kind(self._of_value(value, expr))
            case ast.Name():
                resolution = self.resolutions.get(id(expr))
                if resolution is not None and resolution.kind == "const":
                    return _Kind(self._of_value(resolution.value, expr))
            case ast.Attribute() | ast.Index():
                return _Kind(self._declared(self.expr_types.get(id(expr)), expr))
            case ast.Call(func=func) if func in _CALL_KINDS:
                return _Kind(_CALL_KINDS[func])
            case ast.Call(func="sum", args=(arg,)):
                element = self._element(arg)
                return _Kind(FLOAT_SUM) if element == FLOAT else _Kind(element, wide=True)
            case ast.Call(func="min" | "max" | "first" | "last", args=(arg,)):
                return _Kind(self._element(arg))
            case ast.Call(func="min" | "max", args=args) if len(args) > 1:
                kinds = {self._operand(arg).name for arg in args}
                if FLOAT_SUM in kinds:
                    raise Unsupported(
                        f"`{expr_text(expr)}` (an int or a float, depending on the data)"
                    )
                if len(kinds) != 1:
                    raise Unsupported(f"`{expr_text(expr)}` (values of different types)")
                return _Kind(kinds.pop())
            case ast.Call(func="abs", args=(arg,)):
                return self._operand(arg)
            case ast.Binary(op="in" | "not in", left=left):
                self._operand(left)
                return _Kind(TRUTH)
            case ast.Unary(op="not", operand=operand):
                self._operand(operand)
                return _Kind(TRUTH)
            case ast.Binary(op="and" | "or" | "==" | "!=" | "<" | "<=" | ">" | ">=") as binary:
                # truth values; the operands' values compare alike whatever their type
                self._operand(binary.left)
                self._operand(binary.right)
                return _Kind(TRUTH)
            case ast.Unary(op="-", operand=operand):
                return self._operand(operand)
            case ast.Binary(op="/", left=left, right=right):
                self._operand(left)
                self._operand(right)
                return _Kind(FLOAT)
            case ast.Binary(op=op, left=left, right=right) if op in ("+", "-", "*", "%"):
                a, b = self._operand(left).name, self._operand(right).name
                if FLOAT in (a, b):
                    return _Kind(FLOAT)  # a float sum's integer 0 turns float too
                if a == INT and b == INT:
                    return _Kind(INT, wide=op == "*")
                raise Unsupported(f"`{expr_text(expr)}` (an int or a float, depending on the data)")
        raise Unsupported(f"`{expr_text(expr)}` as an emitted value")

    def _operand(self, expr: ast.Expr) -> _Kind:
        """The kind of an operand: not a wide integer (a product or a sum, which float64
        may round before the field's value is checked)."""
        kind = self.kind(expr)
        if kind.wide:
            raise Unsupported(
                f"`{expr_text(expr)}` (a product or sum of integers) in an expression"
            )
        return kind

    def _element(self, arg: ast.Expr) -> str:
        declared = self.expr_types.get(id(arg))
        if declared is None or not declared.is_list:
            raise Unsupported(f"`{expr_text(arg)}` (not a list of declared values)")
        return self._declared(declared.elem, arg)

    @staticmethod
    def _declared(declared: Type | None, expr: ast.Expr) -> str:
        kind = _DECLARED.get(declared.kind) if declared is not None else None
        if kind is None:
            raise Unsupported(f"`{expr_text(expr)}` has no declared scalar type")
        return kind

    @staticmethod
    def _of_value(value: Any, expr: ast.Expr) -> str:
        for kind, python in ((TRUTH, bool), (INT, int), (FLOAT, float), (TEXT, str)):
            if type(value) is python:
                return kind
        raise Unsupported(f"the value `{expr_text(expr)}`")


@dataclass(frozen=True)
class EmitFields:
    """One `emit` list as programs: field names, program indexes, Python types."""

    names: tuple[str, ...]
    programs: np.ndarray
    kinds: tuple[str, ...]


class EmitPlan:
    """A rule's `emit` (and `on timeout emit`) compiled for bulk reports, or refused."""

    def __init__(
        self,
        compiler: ProgramCompiler,
        match_fields: tuple[ast.EmitField, ...] | None,
        timeout_fields: tuple[ast.EmitField, ...] | None,
    ) -> None:
        self._typer = _Typer(compiler.resolutions, compiler.expr_types)
        self.match = self._compile(compiler, match_fields)
        self.timeout = self._compile(compiler, timeout_fields)

    def _compile(
        self, compiler: ProgramCompiler, fields: tuple[ast.EmitField, ...] | None
    ) -> EmitFields | None:
        if fields is None:
            return None
        names, programs, kinds = [], [], []
        for item in fields:
            kind = self._typer.kind(item.expr).name
            names.append(item.name)
            programs.append(compiler.value(item.expr, _PROGRAM_KIND[kind]))
            kinds.append(kind)
        return EmitFields(tuple(names), np.array(programs, dtype=np.int64), tuple(kinds))

    @staticmethod
    def compile(compiler: ProgramCompiler, rule: ast.Rule) -> EmitPlan | None:
        """The plan, or None when some field is outside the compiled family (then the
        compiler is as it was: no slot or program is left behind)."""
        mark = compiler.mark()
        try:
            return EmitPlan(compiler, rule.emit, rule.timeout_emit)
        except Unsupported:
            compiler.rewind(mark)
            return None


def emit_pieces(fields: EmitFields, values: np.ndarray, strings: list[str]) -> TextPieces:
    """The `fields` texts of reports from their values (`values[report, field]`,
    `evaluate.report_values`): each report's `{"name": value, ...}` of the Python values
    the interpreter computes (null where there is none), as the encoder of reports
    writes them, made a field at a time (`cep.io.celltexts`); `FALLBACK_TEXT` where a
    value is one the interpreter must give. `strings` are the rule's strings, by code."""
    n = len(values)
    if not fields.kinds:
        return record_texts([{} for _ in range(n)])
    fallback = np.zeros(n, np.bool_)
    columns = []
    for f, kind in enumerate(fields.kinds):
        column = values[:, f]
        known = column == column
        texts = CellTexts(n)
        if kind in (FLOAT, FLOAT_SUM):
            if kind == FLOAT_SUM:  # a sum of nothing: the integer 0
                fallback |= column == 0.0
            texts.put(slice(None), float_texts(column))  # (NaN and infinities: null)
        elif kind == INT:
            exact = np.abs(column) < EXACT_INTEGERS
            fallback |= known & ~exact
            # (by the encoder, the digits Arrow writes: `int_texts` would import pyarrow
            # into a run that reads no Arrow data, JSON lines', for a tenth of a second)
            texts.put(
                slice(None),
                record_texts(np.where(known & exact, column, 0).astype(np.int64).tolist()),
            )
        elif kind == TEXT:
            codes = np.where(known, column, -1).astype(np.int64)
            known = codes >= 0
            if known.any():
                data, starts, ends = _string_texts(strings)
                rows = np.flatnonzero(known)
                texts.put(rows, (data, starts[codes[rows]], ends[codes[rows]]))
        else:
            texts.put(slice(None), bool_texts(column != 0.0))
        missing = np.flatnonzero(~known)
        if len(missing):
            texts.put(missing, (_NULL, np.zeros(len(missing), np.int64), np.full(len(missing), 4)))
        columns.append(texts)
    data, starts, ends = join_records(fields.names, columns)
    ends[fallback] = FALLBACK_TEXT
    return data, starts, ends


_NULL = np.frombuffer(b"null", np.uint8)

#: the texts of rules' strings (`emit_pieces`), by list: the list, and its strings'
#: texts as made so far
_STRING_TEXTS: dict[int, tuple[list[str], TextPieces]] = {}
#: lists of strings remembered at most (a rule's each)
_STRING_LISTS = 256


def _string_texts(strings: list[str]) -> TextPieces:
    """The texts of a rule's strings, by code: made for the strings added since the
    last call (a rule's strings only grow, a code never changes), not for all again."""
    made = _STRING_TEXTS.get(id(strings))
    if made is None or made[0] is not strings:
        made = (strings, (np.zeros(0, np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64)))
    data, starts, ends = made[1]
    if len(starts) < len(strings):
        more, more_starts, more_ends = record_texts(strings[len(starts) :])
        size = len(data)
        data = np.concatenate((data, more))
        starts = np.concatenate((starts, more_starts + size))
        ends = np.concatenate((ends, more_ends + size))
        if len(_STRING_TEXTS) >= _STRING_LISTS:
            _STRING_TEXTS.clear()
        _STRING_TEXTS[id(strings)] = (strings, (data, starts, ends))
    return data, starts, ends
