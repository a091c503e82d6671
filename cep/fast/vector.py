"""Term tests over a whole batch of columns at once (the fast path's predicates).

A term `Type[cond]` becomes one NumPy expression over the batch's columns: the type test
is an `isin` on type codes, a comparison of a field with a literal is a comparison of
the column (string columns by their dictionary codes: `status == "failed"` is an
integer comparison, other comparisons a truth table per dictionary made once per
string), `in` a literal list is an or of equalities, and
`and` / `or` / `not` are element-wise. Null semantics are the interpreter's: a missing
field makes a comparison false. Values of another kind than the column's (kept aside in
`Column.other`) are compared one by one with the interpreter's own comparison.

A condition outside this family returns None from `build`; the caller then compiles it
into a program run over the batch's events of the term's type in numba (a term program,
cep/compile/programs.py), else builds it again `by_value`: a part that reads one field only
(`startswith(card, "4")`, `ip =~ "^10\\."`, `round(x) == 2`) is the interpreter's own
test worked out once per distinct value of that field (`ValueTruths`). A condition
outside all three is tested event by event with the interpreter's compiled closure (same
meaning, slower).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cep.compile.expressions import (
    COMPARISONS,
    FLIPPED,
    OPERATORS,
    Env,
    ExpressionCompiler,
    field_name,
    literal_value,
)
from cep.compile.programs import const_value
from cep.fast.partitions import DictionaryTables
from cep.io.batch import Batch, Column
from cep.jit import njit
from cep.lang import ast
from cep.lang.expr_types import Resolution
from cep.runtime.event import Event

BatchTest = Callable[[Batch], np.ndarray]


def fields_used(expr: ast.Expr | None, resolutions: Mapping[int, Resolution]) -> set[str]:
    """The candidate event's fields a condition reads (bare names and `this.x`)."""
    from cep.compile.rule import expr_nodes

    if expr is None:
        return set()
    names = (field_name(node, resolutions) for node in expr_nodes(expr))
    return {name for name in names if name is not None}


def _data_regex(expr: ast.Expr) -> bool:
    """Whether `expr` has a `=~` whose pattern is not a literal: such a part is tested
    event by event, as the interpreter does, so that the bad patterns from data counted
    (`cep.lang.regex`) are the same on both engines."""
    from cep.compile.rule import expr_nodes

    return any(
        isinstance(node, ast.Binary)
        and node.op == "=~"
        and not (isinstance(node.right, ast.Literal) and isinstance(node.right.value, str))
        for node in expr_nodes(expr)
    )


@dataclass(eq=False)
class BatchPredicates:
    """Builds batch tests for term conditions."""

    resolutions: Mapping[int, Resolution]
    #: also take a part that reads one field only, whatever it does with it
    #: (`ValueTruths`: the interpreter's test once per distinct value)
    by_value: bool = False

    def term(self, types: frozenset[str] | None, condition: ast.Expr | None) -> BatchTest | None:
        """The test of a whole term: its type(s) and its condition."""
        test = self.build(condition) if condition is not None else None
        if condition is not None and test is None:
            return None
        names = None if types is None else sorted(types)

        def run(batch: Batch) -> np.ndarray:
            codes = [] if names is None else [batch.types.find(n) for n in names]
            codes = [c for c in codes if c >= 0]
            if names is None or (codes and len(batch.types) == len(codes)):
                # every type there is
                return np.ones(len(batch), np.bool_) if test is None else test(batch)
            if len(codes) == 1:
                result = batch.type == codes[0]
            else:
                result = np.isin(batch.type, np.array(codes, dtype=batch.type.dtype))
            if test is not None and result.any():
                result &= test(batch)
            return result

        return run

    def build(self, expr: ast.Expr) -> BatchTest | None:
        """`expr`'s test over a batch, or None where it is outside the family."""
        test = self._family(expr)
        if test is None and self.by_value:
            fields = fields_used(expr, self.resolutions)
            if len(fields) == 1 and not fields & {"ts", "type"} and not _data_regex(expr):
                (name,) = fields
                return ValueTruths(name, ExpressionCompiler(self.resolutions).condition(expr))
        return test

    def _family(self, expr: ast.Expr) -> BatchTest | None:
        match expr:
            case ast.Binary(op=("and" | "or") as op, left=left, right=right):
                a, b = self.build(left), self.build(right)
                if a is None or b is None:
                    return None
                if op == "and":
                    return lambda batch: a(batch) & b(batch)
                return lambda batch: a(batch) | b(batch)
            case ast.Unary(op="not", operand=operand):
                inner = self.build(operand)
                return None if inner is None else (lambda batch: ~inner(batch))
            case ast.Binary(op=op, left=left, right=right) if op in OPERATORS:
                name, literal = field_name(left, self.resolutions), self._constant(right)
                if name is None or literal is None:
                    name, literal = field_name(right, self.resolutions), self._constant(left)
                    op = FLIPPED[op]
                if name is None or literal is None:
                    return None
                return _comparison(name, op, literal)
            case ast.Binary(op="in", left=left, right=right):
                name = field_name(left, self.resolutions)
                values = self._constants(right)
                if name is None or values is None or any(v is None for v in values):
                    return None
                tests = [_comparison(name, "==", value) for value in values]

                def member(batch: Batch) -> np.ndarray:
                    result = np.zeros(len(batch), dtype=np.bool_)
                    for test in tests:
                        result |= test(batch)
                    return result

                return member
        return None

    def _constant(self, expr: ast.Expr) -> Any:
        """A literal's value, or a `const`'s (not a list); None for anything else."""
        if isinstance(expr, ast.Name):
            value = const_value(expr, self.resolutions)
            return None if isinstance(value, list | tuple) else value
        return literal_value(expr)

    def _constants(self, expr: ast.Expr) -> list[Any] | None:
        """The items of a list of literals, or of a `const` list; None otherwise."""
        if isinstance(expr, ast.ListExpr):
            return [literal_value(item) for item in expr.items]
        value = const_value(expr, self.resolutions)
        return list(value) if isinstance(value, list | tuple) else None


def _comparison(name: str, op: str, literal: Any) -> BatchTest:
    numpy_op = OPERATORS[op]
    general = COMPARISONS[op]
    truths = _StringTruths(general, literal, op == "==" and isinstance(literal, str))

    def run(batch: Batch) -> np.ndarray:
        if name == "ts":
            return _on_numbers(batch.ts, np.ones(len(batch), np.bool_), numpy_op, literal)
        if name == "type":
            table = np.array([general(v, literal) for v in batch.types.values], np.bool_)
            return table[batch.type] if len(table) else np.zeros(len(batch), np.bool_)
        column = batch.columns.get(name)
        if column is None:
            return np.zeros(len(batch), dtype=np.bool_)
        return _on_column(column, numpy_op, general, literal, truths)

    return run


class _StringTruths:
    """A comparison with a literal over dictionary-encoded strings: equality with a
    string is one code comparison; otherwise a truth table per dictionary, each string
    compared once (as the dictionary grows), then looked up by code (`_looked_up`)."""

    def __init__(self, general: Any, literal: Any, equality: bool) -> None:
        self.general = general
        self.literal = literal
        self.equality = equality
        self._tables = DictionaryTables(UNKNOWN, np.int8)

    def test(self, column: Column) -> np.ndarray:
        dictionary = column.dictionary
        assert dictionary is not None
        if self.equality:
            code = dictionary.find(self.literal)
            if code < 0:
                return np.zeros(len(column), dtype=np.bool_)
            result = column.values == code
            return result if column.valid.all() else result & column.valid
        general, literal = self.general, self.literal
        return _truths_by_code(self._tables, column, lambda text: general(text, literal))


def _truths_by_code(
    tables: DictionaryTables, column: Column, truth: Callable[[str], bool]
) -> np.ndarray:
    """`truth` of each valid value of a text column (False elsewhere): worked out once
    per string of its dictionary (as the dictionary grows), then looked up by code."""
    dictionary = column.dictionary
    assert dictionary is not None
    table = tables.table(dictionary)
    todo = np.flatnonzero(table[: len(dictionary)] == UNKNOWN)
    if len(todo):
        strings = dictionary.values
        table[todo] = [truth(strings[k]) for k in todo.tolist()]
    return _looked_up(table, column.values, column.valid)


#: a string's truth not worked out yet (`_StringTruths`, `ValueTruths`)
UNKNOWN = -1


class ValueTruths:
    """A condition that reads one field of the event and that neither NumPy nor a
    program can test (`startswith`, `=~`, `lower`, `len`, `round`...), over a batch: the
    interpreter's own test worked out once per distinct value of the field (on an event
    holding only that value), then looked up: by dictionary code for text (a table per
    dictionary, as for comparisons: `_truths_by_code`), by the value's bits for numbers
    and booleans; values of no column kind one by one."""

    def __init__(self, name: str, condition: Callable[[Env], bool]) -> None:
        self.name = name
        self.condition = condition
        self._tables = DictionaryTables(UNKNOWN, np.int8)
        self._without: bool | None = None  # the truth for an event lacking the field

    def holds(self, value: Any) -> bool:
        """The condition's truth for an event whose field is `value` (None: missing)."""
        data = {} if value is None else {self.name: value}
        return bool(self.condition(Env(Event("", 0, data), {})))

    def __call__(self, batch: Batch) -> np.ndarray:
        if self._without is None:
            self._without = self.holds(None)
        out = np.full(len(batch), self._without, np.bool_)
        column = batch.columns.get(self.name)
        if column is None:
            return out
        rows = np.flatnonzero(column.valid)
        if column.kind == "str":
            truths = _truths_by_code(self._tables, column, self.holds)
            out[rows] = truths[rows]
        elif column.kind == "object":
            out[rows] = [self.holds(column.values[i]) for i in rows.tolist()]
        elif len(rows):
            values = column.values[rows]
            bits = values.view(np.int64) if values.dtype == np.float64 else values
            _, first, inverse = np.unique(bits, return_index=True, return_inverse=True)
            truths = np.array([self.holds(v) for v in values[first].tolist()], np.bool_)
            out[rows] = truths[inverse]
        for i, value in column.other.items():
            out[i] = self.holds(value)
        return out


@njit(cache=True, nogil=True)
def _looked_up(table: np.ndarray, codes: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """`valid[i] and table[codes[i]] == 1` for each i."""
    out = np.empty(len(codes), np.bool_)
    for i in range(len(codes)):
        out[i] = valid[i] and table[codes[i]] == 1
    return out


def _on_numbers(values: np.ndarray, valid: np.ndarray, op: Any, literal: Any) -> np.ndarray:
    if isinstance(literal, bool) or not isinstance(literal, int | float):
        return np.zeros(len(values), dtype=np.bool_)
    return valid & op(values, literal)


def _on_column(
    column: Column, op: Any, general: Any, literal: Any, truths: _StringTruths
) -> np.ndarray:
    kind = column.kind
    if kind == "str":
        result = truths.test(column)
    elif kind in ("int", "float", "time", "duration"):
        result = _on_numbers(column.values, column.valid, op, literal)
    elif kind == "bool":
        if isinstance(literal, bool):
            result = column.valid & op(column.values, literal)
        else:
            result = np.zeros(len(column), dtype=np.bool_)
    else:  # objects: the interpreter's comparison, one by one
        result = np.fromiter(
            (
                bool(column.valid[i]) and general(column.values[i], literal)
                for i in range(len(column))
            ),
            dtype=np.bool_,
            count=len(column),
        )
    if column.other:
        result = result.copy()
        for i, value in column.other.items():
            result[i] = general(value, literal)
    return result
