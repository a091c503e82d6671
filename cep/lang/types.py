"""Types of the rule language, as the checker infers them."""

from __future__ import annotations

from dataclasses import dataclass

SCALAR_TYPE_NAMES = ("int", "float", "str", "bool", "time", "duration")


@dataclass(frozen=True, slots=True)
class Type:
    """A value's type.

    `kind` is a scalar name, `list`, `event` (a record; `schema` names its schema, or
    None when its fields are only known from the data), `null`, or `dynamic` (unknown
    until run time: anything goes).
    """

    kind: str
    elem: Type | None = None
    schema: str | None = None

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list[{self.elem}]"
        if self.kind == "event":
            return f"event {self.schema}" if self.schema else "event"
        return self.kind

    @property
    def is_dynamic(self) -> bool:
        return self.kind == "dynamic"

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("int", "float")

    @property
    def is_list(self) -> bool:
        return self.kind == "list"


def a(t: Type) -> str:
    """`t` with its indefinite article, for messages: "an int", "a list[str]"."""
    text = str(t)
    return ("an " if text[0] in "aeiou" else "a ") + text


INT = Type("int")
FLOAT = Type("float")
STR = Type("str")
BOOL = Type("bool")
TIME = Type("time")
DURATION = Type("duration")
NULL = Type("null")
DYNAMIC = Type("dynamic")


def list_of(elem: Type) -> Type:
    return Type("list", elem=elem)


def event_of(schema: str | None) -> Type:
    return Type("event", schema=schema)


_NUMBER_LIKE = ("int", "float", "time", "duration")


def comparable(a: Type, b: Type) -> bool:
    """Whether `a < b` (and `==`) make sense."""
    if a.is_dynamic or b.is_dynamic or a.kind == "null" or b.kind == "null":
        return True
    if a.kind in _NUMBER_LIKE and b.kind in _NUMBER_LIKE:
        # times and durations are milliseconds; a time is never compared with a duration
        return {a.kind, b.kind} != {"time", "duration"}
    if a.is_list and b.is_list:
        return comparable(a.elem or DYNAMIC, b.elem or DYNAMIC)
    return a.kind == b.kind


def join(a: Type, b: Type) -> Type:
    """The type of a value that is either an `a` or a `b` (for lists and `coalesce`)."""
    if a == b:
        return a
    if a.kind == "null":
        return b
    if b.kind == "null":
        return a
    if {a.kind, b.kind} == {"int", "float"}:
        return FLOAT
    if a.is_list and b.is_list:
        return list_of(join(a.elem or DYNAMIC, b.elem or DYNAMIC))
    if a.kind == "event" and b.kind == "event":
        return event_of(None)
    return DYNAMIC


def assignable(value: Type, declared: Type) -> bool:
    """Whether a value of type `value` may be stored in a field declared `declared`."""
    if value.is_dynamic or declared.is_dynamic or value.kind == "null":
        return True
    if declared.kind == "float" and value.kind == "int":
        return True
    if declared.kind in ("time", "duration") and value.kind in ("int", "duration", "str"):
        # times are epoch milliseconds, ISO-8601 strings or (in tests) durations from 0
        return declared.kind == "time" or value.kind != "str"
    if declared.is_list and value.is_list:
        return value.elem is None or assignable(value.elem, declared.elem or DYNAMIC)
    return value.kind == declared.kind
