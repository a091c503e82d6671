"""Type inference for expressions, with name resolution and error reporting."""

from __future__ import annotations

from dataclasses import dataclass, field

from cep.lang import ast
from cep.lang.diagnostics import DiagnosticSink, did_you_mean
from cep.lang.functions import ALL_FUNCTIONS, SIGNATURES, is_aggregate_call
from cep.lang.program import ConstInfo, Schema
from cep.lang.regex import compile_regex
from cep.lang.types import (
    BOOL,
    DURATION,
    DYNAMIC,
    FLOAT,
    INT,
    NULL,
    STR,
    TIME,
    Type,
    a,
    comparable,
    event_of,
    join,
    list_of,
)


@dataclass(frozen=True, slots=True)
class VarInfo:
    """A pattern variable and how it binds."""

    name: str
    schema: str | None
    #: bound under a quantifier (other than `T?`): its value is a list of events
    repeated: bool
    #: may bind nothing (under `?`, `*`, `|`, or a repetition that may be empty)
    optional: bool
    #: bound under `not`: it never binds an event
    negated: bool
    span: ast.Span

    @property
    def type(self) -> Type:
        single = event_of(self.schema)
        return list_of(single) if self.repeated else single


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a bare name means: a variable, a constant, or a field of the candidate event."""

    kind: str  # "var" | "own" | "const" | "field"
    name: str
    value: object = None


@dataclass
class Scope:
    """What the names in one expression can refer to."""

    schemas: dict[str, Schema]
    consts: dict[str, ConstInfo]
    #: variables bound before this expression
    variables: dict[str, VarInfo] = field(default_factory=dict)
    #: every variable of the rule (to explain names that are bound later or negated)
    all_variables: dict[str, VarInfo] = field(default_factory=dict)
    #: inside a term's condition: the candidate event's type and the term's own variable
    candidate: Type | None = None
    own_var: VarInfo | None = None
    #: names of variables bound in a branch that excludes this one (other side of `|`)
    exclusive: frozenset[str] = frozenset()


@dataclass
class TypeResults:
    """What checking expressions found, for the compiler and the lints."""

    types: dict[int, Type] = field(default_factory=dict)
    resolutions: dict[int, Resolution] = field(default_factory=dict)
    used_variables: set[str] = field(default_factory=set)


@dataclass(eq=False)
class ExprTyper:
    """Infers expression types under a scope, reporting errors to a sink."""

    sink: DiagnosticSink
    results: TypeResults
    schemas: dict[str, Schema]

    def check(self, expr: ast.Expr, scope: Scope) -> Type:
        result = self._infer(expr, scope)
        self.results.types[id(expr)] = result
        return result

    def check_condition(self, expr: ast.Expr, scope: Scope, what: str) -> None:
        result = self.check(expr, scope)
        if not (result.is_dynamic or result.kind in ("bool", "null")):
            self.sink.error(
                f"{what} must be true or false, but this is {a(result)}",
                expr.span,
                code="not-boolean",
            )

    # ------------------------------------------------------------------ dispatch

    def _infer(self, expr: ast.Expr, scope: Scope) -> Type:
        match expr:
            case ast.Literal(kind=kind):
                return Type(kind)
            case ast.ListExpr(items=items):
                elem = NULL
                for item in items:
                    elem = join(elem, self.check(item, scope))
                return list_of(elem if items else DYNAMIC)
            case ast.Name():
                return self._name(expr, scope)
            case ast.This():
                if scope.candidate is None:
                    self.sink.error(
                        "`this` means the candidate event, so it is only allowed inside a "
                        "term's condition (`Type[...]`)",
                        expr.span,
                        code="misplaced-this",
                    )
                    return DYNAMIC
                return scope.candidate
            case ast.Attribute():
                return self._attribute(expr, scope)
            case ast.Index():
                return self._index(expr, scope)
            case ast.Call():
                return self._call(expr, scope)
            case ast.Unary():
                return self._unary(expr, scope)
            case ast.Binary():
                return self._binary(expr, scope)
        raise AssertionError(f"unknown expression node {expr!r}")

    # ------------------------------------------------------------------ names

    def _name(self, expr: ast.Name, scope: Scope) -> Type:
        name = expr.name
        resolutions = self.results.resolutions
        if name in scope.variables:
            var = scope.variables[name]
            self.results.used_variables.add(name)
            resolutions[id(expr)] = Resolution("var", name)
            self._warn_if_field_too(expr, scope)
            return var.type
        if scope.own_var is not None and name == scope.own_var.name:
            self.results.used_variables.add(name)
            if not scope.own_var.repeated:
                self.sink.error(
                    f"`{name}` is this term's own variable and holds no event yet; "
                    "refer to the candidate event with `this` or a bare field name",
                    expr.span,
                    code="own-variable",
                )
                return DYNAMIC
            resolutions[id(expr)] = Resolution("own", name)
            return scope.own_var.type
        if name in scope.consts:
            info = scope.consts[name]
            resolutions[id(expr)] = Resolution("const", name, info.value)
            return info.type
        known = scope.all_variables.get(name)
        if known is not None:
            self.results.used_variables.add(name)
            if known.negated:
                self.sink.error(
                    f"`{name}` is bound under `not`, so it never holds an event",
                    expr.span,
                    code="negated-variable",
                )
            elif name in scope.exclusive:
                self.sink.error(
                    f"`{name}` is bound in another branch of `|`, so it holds nothing on this one",
                    expr.span,
                    code="exclusive-variable",
                )
            else:
                self.sink.error(
                    f"variable `{name}` is used before it is bound",
                    expr.span,
                    "help: a condition can only use variables bound earlier in the pattern",
                    code="unbound-variable",
                )
            return DYNAMIC
        candidates = [*scope.variables, *scope.consts]
        if scope.candidate is not None:
            schema = scope.schemas.get(scope.candidate.schema or "")
            if schema is not None:
                candidates.extend(schema.field_names())
            close = did_you_mean(name, candidates)
            field_type = self._field_of(scope.candidate, name, expr.span, report=False)
            if field_type is not None and (not close or schema is None or field_type != DYNAMIC):
                resolutions[id(expr)] = Resolution("field", name)
                return field_type
            if schema is not None:
                self._no_field(schema.name, name, expr.span, close)
                return DYNAMIC
        self.sink.error(
            f"unknown name `{name}`",
            expr.span,
            *did_you_mean(name, candidates),
            code="unknown-name",
        )
        return DYNAMIC

    def _warn_if_field_too(self, expr: ast.Name, scope: Scope) -> None:
        candidate = scope.candidate
        if candidate is None or candidate.schema not in scope.schemas:
            return
        if scope.schemas[candidate.schema].field_type(expr.name) is not None:
            self.sink.warning(
                f"`{expr.name}` names both a variable and a field of `{candidate.schema}`; "
                "here it means the variable",
                expr.span,
                f"help: write `this.{expr.name}` for the candidate event's field",
                code="shadowed-field",
            )

    def _field_of(self, owner: Type, name: str, span: ast.Span, *, report: bool) -> Type | None:
        """The type of field `name` of an event of type `owner`.

        Schemas are open: a field they do not declare is typed from the data (dynamic),
        unless its name is close to a declared one, which is then taken for a misspelling
        (an error when `report`, else None).
        """
        if owner.kind != "event" or owner.schema is None:
            return DYNAMIC
        schema = self.schemas.get(owner.schema)
        if schema is None:
            return DYNAMIC
        found = schema.field_type(name)
        if found is not None:
            return found
        close = did_you_mean(name, schema.field_names())
        if not close:
            return DYNAMIC
        if report:
            self._no_field(owner.schema, name, span, close)
        return None

    def _no_field(self, schema: str, name: str, span: ast.Span, close: tuple[str, ...]) -> None:
        self.sink.error(
            f"`{schema}` has no field `{name}`",
            span,
            *close,
            "note: declare the field in the schema to use it",
            code="unknown-field",
        )

    # ------------------------------------------------------------------ access

    def _attribute(self, expr: ast.Attribute, scope: Scope) -> Type:
        owner = self.check(expr.obj, scope)
        if owner.is_dynamic or owner.kind == "null":
            return DYNAMIC
        if owner.kind == "event":
            return self._field_of(owner, expr.name, expr.span, report=True) or DYNAMIC
        if owner.is_list and owner.elem is not None and owner.elem.kind == "event":
            # projection: `f.amount` is the list of every bound event's amount
            found = self._field_of(owner.elem, expr.name, expr.span, report=True)
            return list_of(found or DYNAMIC)
        if owner.is_list and owner.elem is not None and owner.elem.is_dynamic:
            return list_of(DYNAMIC)
        self.sink.error(
            f"{a(owner)} has no fields, so `.{expr.name}` means nothing here",
            expr.span,
            code="not-a-record",
        )
        return DYNAMIC

    def _index(self, expr: ast.Index, scope: Scope) -> Type:
        owner = self.check(expr.obj, scope)
        index = self.check(expr.index, scope)
        if not (index.is_dynamic or index.kind == "int"):
            self.sink.error(
                f"an index must be a whole number, not {a(index)}",
                expr.index.span,
                code="bad-index",
            )
        if owner.is_dynamic:
            return DYNAMIC
        if owner.is_list:
            return owner.elem or DYNAMIC
        if owner.kind == "str":
            return STR
        if owner.kind == "event" and isinstance(expr.obj, ast.Name):
            self.sink.error(
                f"`{expr.obj.name}` binds a single event, so it cannot be indexed",
                expr.span,
                "help: only a variable under a repetition (`+`, `*`, `{n}`) holds a list",
                code="index-single",
            )
            return owner
        self.sink.error(f"{a(owner)} cannot be indexed", expr.span, code="bad-index")
        return DYNAMIC

    def _call(self, expr: ast.Call, scope: Scope) -> Type:
        arg_types = [self.check(arg, scope) for arg in expr.args]
        signature = SIGNATURES.get(expr.func)
        if signature is None:
            self.sink.error(
                f"unknown function `{expr.func}`",
                expr.span,
                *did_you_mean(expr.func, ALL_FUNCTIONS),
                code="unknown-function",
            )
            return DYNAMIC
        count = len(expr.args)
        if count < signature.min_args or (
            signature.max_args is not None and count > signature.max_args
        ):
            self.sink.error(
                f"`{expr.func}` takes {_arity(signature.min_args, signature.max_args)}, "
                f"not {count}",
                expr.span,
                f"usage: {signature.usage}",
                code="arity",
            )
            return DYNAMIC
        if is_aggregate_call(expr.func, count):
            arg = expr.args[0]
            if isinstance(arg, ast.Name) and arg_types[0].kind == "event":
                self.sink.error(
                    f"`{expr.func}` aggregates a repeated variable, "
                    f"but `{arg.name}` binds a single event",
                    expr.span,
                    "help: aggregates apply to variables under a repetition "
                    "(`+`, `*`, `{n}`), or to projections such as `f.amount`",
                    code="aggregate-single",
                )
                return DYNAMIC
        if expr.func == "exists" and not isinstance(expr.args[0], ast.Attribute | ast.Name):
            self.sink.warning(
                "`exists` tests whether a field is present; this argument is not a field",
                expr.args[0].span,
                code="exists-non-field",
            )
        result, problem = signature.result(arg_types)
        if problem:
            self.sink.error(problem, expr.span, f"usage: {signature.usage}", code="bad-argument")
        return result

    # ------------------------------------------------------------------ operators

    def _unary(self, expr: ast.Unary, scope: Scope) -> Type:
        operand = self.check(expr.operand, scope)
        if expr.op == "not":
            if not (operand.is_dynamic or operand.kind in ("bool", "null")):
                self.sink.error(
                    f"`not` needs true or false, not {a(operand)}", expr.span, code="type-mismatch"
                )
            return BOOL
        if operand.is_dynamic or operand.is_numeric or operand.kind == "duration":
            return operand
        self.sink.error(f"cannot negate {a(operand)}", expr.span, code="type-mismatch")
        return DYNAMIC

    def _binary(self, expr: ast.Binary, scope: Scope) -> Type:
        left = self.check(expr.left, scope)
        right = self.check(expr.right, scope)
        op = expr.op
        if op in ("and", "or"):
            for side, side_type in ((expr.left, left), (expr.right, right)):
                if not (side_type.is_dynamic or side_type.kind in ("bool", "null")):
                    self.sink.error(
                        f"`{op}` needs true or false on both sides, but this is {a(side_type)}",
                        side.span,
                        code="type-mismatch",
                    )
            return BOOL
        if op in ("==", "!=", "<", "<=", ">", ">="):
            sides = (expr.left, expr.right)
            if any(isinstance(side, ast.Literal) and side.kind == "null" for side in sides):
                self.sink.warning(
                    "a comparison with `null` is always false, `!=` included",
                    expr.span,
                    "help: test presence with `exists(...)` or `not exists(...)`",
                    code="null-comparison",
                )
            if not comparable(left, right):
                notes: tuple[str, ...] = ()
                if {left.kind, right.kind} == {"time", "duration"}:
                    notes = ("help: subtract two times to get a duration: `b.ts - a.ts < 5m`",)
                self.sink.error(
                    f"cannot compare {a(left)} with {a(right)}",
                    expr.span,
                    *notes,
                    code="type-mismatch",
                )
            return BOOL
        if op in ("in", "not in"):
            if right.is_list:
                if not comparable(left, right.elem or DYNAMIC):
                    self.sink.error(
                        f"{a(left)} is never in {a(right)}", expr.span, code="type-mismatch"
                    )
            elif right.kind == "str":
                if not (left.is_dynamic or left.kind in ("str", "null")):
                    self.sink.error(
                        f"only text can be looked for in text, not {a(left)}",
                        expr.span,
                        code="type-mismatch",
                    )
            elif not (right.is_dynamic or right.kind == "null"):
                self.sink.error(
                    f"`{op}` looks inside a list or text, not {a(right)}",
                    expr.right.span,
                    code="type-mismatch",
                )
            return BOOL
        if op == "=~":
            for side, side_type in ((expr.left, left), (expr.right, right)):
                if not (side_type.is_dynamic or side_type.kind in ("str", "null")):
                    self.sink.error(
                        f"`=~` matches text against a regular expression, not {a(side_type)}",
                        side.span,
                        code="type-mismatch",
                    )
            pattern = _literal_string(expr.right, scope)
            if pattern is not None:
                problem = compile_regex(pattern)[1]
                if problem is not None:
                    self.sink.error(
                        f"invalid regular expression: {problem}",
                        expr.right.span,
                        "`=~` takes RE2's syntax: no backreferences or lookarounds, "
                        "repeat counts up to 1000 (docs/LANGUAGE.md)",
                        code="bad-regex",
                    )
            return BOOL
        return self._arithmetic(expr, left, right)

    def _arithmetic(self, expr: ast.Binary, left: Type, right: Type) -> Type:
        op = expr.op
        if left.is_dynamic or right.is_dynamic:
            return DYNAMIC
        kinds = (left.kind, right.kind)
        result: Type | None = None
        scaled = (op in ("*", "/") and left.kind == "duration" and right.is_numeric) or (
            op == "*" and right.kind == "duration" and left.is_numeric
        )
        if left.is_numeric and right.is_numeric:
            result = INT if kinds == ("int", "int") and op != "/" else FLOAT
        elif op == "+" and kinds == ("str", "str"):
            result = STR
        elif op == "-" and kinds == ("time", "time"):
            result = DURATION
        elif op in ("+", "-") and kinds in (("time", "duration"), ("duration", "time")):
            result = TIME if not (op == "-" and kinds == ("duration", "time")) else None
        elif op in ("+", "-", "%") and kinds == ("duration", "duration"):
            result = DURATION
        elif op == "/" and kinds == ("duration", "duration"):
            result = FLOAT
        elif scaled:
            result = DURATION
        elif op in ("+", "-") and "null" in kinds:
            result = DYNAMIC
        if result is None:
            self.sink.error(
                f"cannot apply `{op}` to {a(left)} and {a(right)}", expr.span, code="type-mismatch"
            )
            return DYNAMIC
        return result


def _arity(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"


def _literal_string(expr: ast.Expr, scope: Scope) -> str | None:
    if isinstance(expr, ast.Literal) and expr.kind == "str":
        return str(expr.value)
    if isinstance(expr, ast.Name) and expr.name in scope.consts:
        value = scope.consts[expr.name].value
        return value if isinstance(value, str) else None
    return None
