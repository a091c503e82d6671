"""The built-in functions and aggregates: names, arity and result types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cep.lang.types import BOOL, DYNAMIC, FLOAT, INT, STR, Type, a, join

#: aggregates take a list (a repeated variable or a projection such as `f.amount`)
AGGREGATES = ("count", "sum", "avg", "min", "max", "first", "last")


@dataclass(frozen=True, slots=True)
class Signature:
    min_args: int
    max_args: int | None
    #: result type from the argument types; returns (type, problem) where a problem is a
    #: message about the arguments
    result: Callable[[list[Type]], tuple[Type, str | None]]
    usage: str


def _elem(t: Type) -> Type:
    return t.elem or DYNAMIC if t.is_list else DYNAMIC


def _needs_list(name: str, result: Callable[[Type], Type]) -> Callable:
    def check(args: list[Type]) -> tuple[Type, str | None]:
        (arg,) = args
        if arg.is_dynamic:
            return result(DYNAMIC), None
        if not arg.is_list:
            return DYNAMIC, f"`{name}` aggregates a list, not {a(arg)}"
        return result(_elem(arg)), None

    return check


def _numeric_elem(name: str, result: Callable[[Type], Type]) -> Callable:
    base = _needs_list(name, result)

    def check(args: list[Type]) -> tuple[Type, str | None]:
        out, problem = base(args)
        elem = _elem(args[0])
        if not problem and not (elem.is_dynamic or elem.is_numeric or elem.kind == "duration"):
            problem = f"`{name}` needs numbers, not {a(args[0])}"
        return out, problem

    return check


def _min_max(name: str) -> Callable:
    aggregate = _needs_list(name, lambda e: e)

    def check(args: list[Type]) -> tuple[Type, str | None]:
        return aggregate(args) if len(args) == 1 else _coalesce(args)

    return check


def _string_fn(result: Type) -> Callable:
    def check(args: list[Type]) -> tuple[Type, str | None]:
        for arg in args:
            if not (arg.is_dynamic or arg.kind in ("str", "null")):
                return result, f"expects text, not {a(arg)}"
        return result, None

    return check


def _abs(args: list[Type]) -> tuple[Type, str | None]:
    (arg,) = args
    if arg.is_dynamic or arg.is_numeric or arg.kind == "duration":
        return arg, None
    return DYNAMIC, f"`abs` needs a number, not {a(arg)}"


def _len(args: list[Type]) -> tuple[Type, str | None]:
    (arg,) = args
    if arg.is_dynamic or arg.is_list or arg.kind == "str":
        return INT, None
    return INT, f"`len` needs text or a list, not {a(arg)}"


def _round(args: list[Type]) -> tuple[Type, str | None]:
    if not (args[0].is_dynamic or args[0].is_numeric):
        return FLOAT, f"`round` needs a number, not {a(args[0])}"
    if len(args) == 2 and not (args[1].is_dynamic or args[1].kind == "int"):
        return FLOAT, "`round`'s second argument is a whole number of digits"
    return (INT if len(args) == 1 else FLOAT), None


def _contains(args: list[Type]) -> tuple[Type, str | None]:
    container = args[0]
    if container.is_dynamic or container.is_list or container.kind == "str":
        return BOOL, None
    return BOOL, f"`contains` looks inside text or a list, not {a(container)}"


def _coalesce(args: list[Type]) -> tuple[Type, str | None]:
    out = args[0]
    for arg in args[1:]:
        out = join(out, arg)
    return out, None


SIGNATURES: dict[str, Signature] = {
    "count": Signature(1, 1, _needs_list("count", lambda e: INT), "count(list)"),
    "sum": Signature(1, 1, _numeric_elem("sum", lambda e: e), "sum(list)"),
    "avg": Signature(1, 1, _numeric_elem("avg", lambda e: FLOAT), "avg(list)"),
    "min": Signature(1, None, _min_max("min"), "min(list) or min(a, b, ...)"),
    "max": Signature(1, None, _min_max("max"), "max(list) or max(a, b, ...)"),
    "first": Signature(1, 1, _needs_list("first", lambda e: e), "first(list)"),
    "last": Signature(1, 1, _needs_list("last", lambda e: e), "last(list)"),
    "abs": Signature(1, 1, _abs, "abs(number)"),
    "lower": Signature(1, 1, _string_fn(STR), "lower(text)"),
    "upper": Signature(1, 1, _string_fn(STR), "upper(text)"),
    "len": Signature(1, 1, _len, "len(text or list)"),
    "round": Signature(1, 2, _round, "round(number) or round(number, digits)"),
    "startswith": Signature(2, 2, _string_fn(BOOL), "startswith(text, prefix)"),
    "endswith": Signature(2, 2, _string_fn(BOOL), "endswith(text, suffix)"),
    "contains": Signature(2, 2, _contains, "contains(text or list, value)"),
    "exists": Signature(1, 1, lambda args: (BOOL, None), "exists(v.field)"),
    "coalesce": Signature(1, None, _coalesce, "coalesce(a, b, ...)"),
}
ALL_FUNCTIONS = tuple(sorted(SIGNATURES))


def is_aggregate_call(name: str, arg_count: int) -> bool:
    """Whether a call aggregates a list (min/max with several arguments do not)."""
    return name in AGGREGATES and arg_count == 1
