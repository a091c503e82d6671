"""A rule's `emit` fields as kernel programs, so that reports can be written in bulk.

Each field becomes a program (cep/fast/programs.py) that the kernel evaluates over the
report's history (`kernel.report_values`); its float64 result is turned back into the
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
from numba import njit

from cep.fast.programs import (
    BOOL,
    NUM,
    STR,
    ProgramCompiler,
    StringCodes,
    Unsupported,
    expr_text,
)
from cep.fast.reporttext import FALLBACK_TEXT, TextTable, _put, _put_int
from cep.io.columnar import TextPieces
from cep.io.jsonscan import _FALSE, _NULL, _TRUE
from cep.lang import ast
from cep.lang.types import Type
from cep.runtime.match import encode, encode_lines

INT, FLOAT, TEXT, TRUTH = "int", "float", "str", "bool"
#: a float sum: `0` (an int) when it added nothing, so an exact 0.0 is left to the
#: interpreter
FLOAT_SUM = "float_sum"
#: a field's declared kind -> the Python type the interpreter gives its values
_DECLARED = {"int": INT, "time": INT, "duration": INT, "float": FLOAT, "str": TEXT, "bool": TRUTH}
_PROGRAM_KIND = {INT: NUM, FLOAT: NUM, FLOAT_SUM: NUM, TEXT: STR, TRUTH: BOOL}
#: float64 holds every integer of smaller magnitude exactly
EXACT_INTEGERS = 2.0**53


@dataclass(frozen=True)
class _Kind:
    """A value's Python type, and whether it may leave float64's exact integers (an
    integer product or sum: allowed only as a field's whole value, which is checked)."""

    name: str
    wide: bool = False


class _Typer:
    """The Python type the interpreter gives an expression, for the expressions the
    program compiler compiles; `Unsupported` where it could vary."""

    def __init__(self, resolutions: Mapping[int, Any], expr_types: Mapping[int, Type]) -> None:
        self.resolutions = resolutions
        self.expr_types = expr_types

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
            case ast.Call(func="count"):
                return _Kind(INT)
            case ast.Call(func="avg"):
                return _Kind(FLOAT)
            case ast.Call(func="exists"):
                return _Kind(TRUTH)
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


def emit_pieces(fields: EmitFields, values: np.ndarray, strings: TextTable) -> TextPieces:
    """The `fields` texts of reports (`{"name":value,...}` of the values the interpreter
    computes, each as `encode` writes it; NaN and infinities null) from their values
    (`values[report, field]`, `kernel.report_values`), made in bulk (`ColumnTexts`);
    `FALLBACK_TEXT` where a value is one the interpreter must give. `strings` holds the
    JSON texts of the rule's strings, by code."""
    n = len(values)
    texts = ColumnTexts(n)
    fallback = np.zeros(n, np.bool_)
    for f, (name, kind) in enumerate(zip(fields.names, fields.kinds, strict=True)):
        column = values[:, f]
        key = encode(name).decode() + ":"
        known = column == column
        if kind in (FLOAT, FLOAT_SUM):
            if kind == FLOAT_SUM:  # a sum of nothing: the integer 0
                fallback |= column == 0.0
            texts.pieces(key, np.isfinite(column), np.arange(n), encode_lines(column.tolist()), 10)
        elif kind == INT:
            exact = np.abs(column) < EXACT_INTEGERS
            fallback |= known & ~exact
            texts.integers(key, known, np.where(exact, column, 0).astype(np.int64))
        elif kind == TEXT:
            codes = np.where(known, column, 0).astype(np.int64)
            texts.spans(
                key, known, codes, strings.data[: strings.used], strings.starts, strings.ends
            )
        else:
            texts.truths(key, known, (column != 0.0).astype(np.int64))
    data, starts, ends = texts.row_pieces()
    ends[fallback] = FALLBACK_TEXT
    return data, starts, ends


def string_texts(codes: StringCodes, table: TextTable) -> None:
    """The JSON texts of the strings of `codes` put in `table` by code (those added
    since the last call); at least one entry."""
    have, count = len(table), len(codes.codes)
    if count > have:
        strings = list(codes.codes)[have:]
        table.put_texts(np.arange(have, count), [encode(text) for text in strings])
    table.reserve(max(count, 1))


# ------------------------------------------------------------------------------ texts

#: how a column's cells become text in `column_rows`
_PIECE = 0  # cell value: an index into the column's pieces of text
_DIGITS = 1  # cell value: an integer, written in decimal
_TRUTH = 2  # cell value: 0 or 1, written false or true


@njit(cache=True, nogil=True, _nrt=False)
def column_rows(
    kinds: np.ndarray, valid: np.ndarray, values: np.ndarray, bases: np.ndarray,
    keys: np.ndarray, blob: np.ndarray, starts: np.ndarray, ends: np.ndarray,
    out: np.ndarray, out_ends: np.ndarray,
) -> None:  # fmt: skip
    """Row r's text `{"name":value,...}` (every column in order, `null` where not valid)
    at `out[out_ends[r - 1]:out_ends[r]]`. Column c's `"name":` is piece `keys[c]`; a
    `_PIECE` cell's text is piece `bases[c] + values[c, r]`; piece i is
    `blob[starts[i]:ends[i]]`. `out` has room for every row."""
    q = 0
    for r in range(valid.shape[1]):
        out[q] = 123
        q += 1
        first = True
        for c in range(len(kinds)):
            if not first:
                out[q] = 44
                q += 1
            first = False
            k = keys[c]
            q = _put(out, q, blob, starts[k], ends[k])
            kind = kinds[c]
            if not valid[c, r]:
                q = _put(out, q, _NULL, 0, 4)
            elif kind == _PIECE:
                i = bases[c] + values[c, r]
                q = _put(out, q, blob, starts[i], ends[i])
            elif kind == _DIGITS:
                q = _put_int(out, q, values[c, r])
            elif values[c, r]:
                q = _put(out, q, _TRUE, 0, 4)
            else:
                q = _put(out, q, _FALSE, 0, 5)
        out[q] = 125
        q += 1
        out_ends[r] = q


def split_pieces(blob: bytes, separator: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the pieces of `blob` are, each ended by byte `separator` (a JSON value
    holds no raw newline; numbers no comma): their starts and ends."""
    ends = np.flatnonzero(np.frombuffer(blob, np.uint8) == separator)
    starts = np.empty(len(ends), np.int64)
    if len(ends):
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts, ends


class ColumnTexts:
    """Builds the `fields` texts of reports from their values by field (`column_rows`):
    add each field in order (`pieces`, `spans`, `integers`, `truths`), then
    `row_pieces()`."""

    def __init__(self, rows: int) -> None:
        self.n = rows
        self.kinds: list[int] = []
        self.valid: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.bases: list[int] = []
        self.keys: list[int] = []
        self.blobs: list[bytes] = []
        self.starts: list[np.ndarray] = []
        self.ends: list[np.ndarray] = []
        self.size = 0  # bytes in blobs
        self.count = 0  # pieces in blobs
        self.widths: list[int] = []  # the most bytes a cell's text takes (-1: its piece's)

    def _blob(self, blob: bytes, starts: np.ndarray, ends: np.ndarray) -> int:
        """Add pieces; the index of the first."""
        first = self.count
        self.blobs.append(blob)
        self.starts.append(starts + self.size)
        self.ends.append(ends + self.size)
        self.size += len(blob)
        self.count += len(starts)
        return first

    def _add(self, key: str, kind: int, valid: np.ndarray, values: np.ndarray, width: int) -> None:
        text = key.encode()
        self.keys.append(self._blob(text, np.zeros(1, np.int64), np.full(1, len(text))))
        self.kinds.append(kind)
        self.valid.append(valid)
        self.values.append(values)
        self.widths.append(width)

    def pieces(
        self, key: str, valid: np.ndarray, index: np.ndarray, blob: bytes, separator: int
    ) -> None:
        """A column whose cell r is piece `index[r]` of `blob` (`split_pieces`) where
        valid."""
        self._add(key, _PIECE, valid, np.where(valid, index, 0), -1)
        starts, ends = split_pieces(blob, separator)
        if not len(starts):
            starts = ends = np.zeros(1, np.int64)
        self.bases.append(self._blob(blob, starts, ends))

    def spans(
        self, key: str, valid: np.ndarray, index: np.ndarray, data: np.ndarray,
        starts: np.ndarray, ends: np.ndarray,
    ) -> None:  # fmt: skip
        """A column whose cell r is `data[starts[index[r]]:ends[index[r]]]` where valid."""
        self._add(key, _PIECE, valid, np.where(valid, index, 0), -1)
        if not len(starts):
            starts = ends = np.zeros(1, np.int64)
        self.bases.append(self._blob(data.tobytes(), starts, np.maximum(ends, starts)))

    def integers(self, key: str, valid: np.ndarray, values: np.ndarray) -> None:
        self._add(key, _DIGITS, valid, values, 20)
        self.bases.append(0)

    def truths(self, key: str, valid: np.ndarray, values: np.ndarray) -> None:
        self._add(key, _TRUTH, valid, values, 5)
        self.bases.append(0)

    def row_pieces(self) -> TextPieces:
        """Each report's `fields` text, as pieces of one buffer (report after report)."""
        n = self.n
        if n == 0 or not self.kinds:
            data = np.frombuffer(b"{}" * n, np.uint8)
            return data, np.arange(0, 2 * n, 2, dtype=np.int64), np.arange(2, 2 * n + 2, 2)
        starts = np.concatenate(self.starts)
        ends = np.concatenate(self.ends)
        blob = np.frombuffer(b"".join(self.blobs), np.uint8)
        valid = np.stack(self.valid)
        values = np.stack(self.values).astype(np.int64, copy=False)
        lengths = ends - starts
        room = 2 * n
        for c, width in enumerate(self.widths):
            cells = lengths[self.bases[c] + values[c]] if width < 0 else np.full(n, width)
            room += int((lengths[self.keys[c]] + 1 + np.maximum(cells, 4)).sum())
        out = np.empty(room, np.uint8)
        row_ends = np.empty(n, np.int64)
        column_rows(
            np.array(self.kinds, np.int64), valid, values, np.array(self.bases, np.int64),
            np.array(self.keys, np.int64), blob, starts, ends, out, row_ends,
        )  # fmt: skip
        row_starts = np.empty(n, np.int64)
        row_starts[0] = 0
        row_starts[1:] = row_ends[:-1]
        return out[: row_ends[-1]], row_starts, row_ends
