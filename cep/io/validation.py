"""Validating input events against their `event` schemas: one table of rules for every reader.

`RULES` says, for each declared kind, what a value of each Python class (as JSON decodes
it, as a CSV cell reads once `convert_cell` typed it, as an Arrow cell is) is accepted as;
a value of any other class is not of the kind:

- `int` and `duration` (milliseconds): an int; a float with no fraction becomes an int;
  not a string such as `"12"` nor a boolean;
- `float`: a float, never NaN or infinity; an int becomes a float;
- `str`: a string; `bool`: `true` or `false`;
- `time`: epoch milliseconds (an int within int64, or a float with no fraction) or an
  ISO-8601 string, as epoch milliseconds (`parse_time`); the event time is read so too;
- `list[T]`: a list whose items are each a `T`;
- a field marked optional may be missing or null; a required field may be neither.

Each entry is an `Action`. `Validator` applies the table to records: it alone decides, and
gives the reason of a reject. The fast readers' pre-screens are derived from the same
table: the msgspec field types and the scanner's token masks of `cep.io.jsonl`, and the
checks of CSV cells and Arrow columns a column at a time (`cep.io.columns.validated`).
A pre-screen takes a value only by an action it performs as the action's own function
does; any other value goes to the row reader, where `Validator` decides.

Validation never changes the record it is given: `validate` returns a copy with the
typed values (for matching) and leaves the original (for output) as it was read.

Nesting is bounded for every reader alike (`MAX_DEPTH`): `too_deep_text` decides for a
line's text, before it is read as JSON, `too_deep_value` for a record already made (an
API event, a rule test's event, a Parquet or Arrow row).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import isfinite
from typing import Any

import numpy as np

from cep.io.time import MAX_MS, MIN_MS, BadTime, parse_time
from cep.lang.program import Schema
from cep.lang.types import Type


class _Invalid:
    """What an action gives for a value it does not accept."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


@dataclass(frozen=True, eq=False)
class Action:
    """What a rule does with a value of one class: `apply(value)` is its typed value, or
    `INVALID`; `result` is the class of typed values (None: the value's own)."""

    name: str
    apply: Callable[[Any], Any]
    result: type | None = None

    def __repr__(self) -> str:
        return self.name


def _whole(value: float) -> Any:
    return int(value) if value.is_integer() else INVALID


def _as_float(value: int) -> Any:
    try:
        return float(value)
    except OverflowError:
        return INVALID


def _time(value: Any) -> Any:
    try:
        return parse_time(value)
    except BadTime:
        return INVALID


#: accepted unchanged
SAME = Action("SAME", lambda value: value)
#: a float accepted unchanged where finite
FINITE = Action("FINITE", lambda value: value if isfinite(value) else INVALID)
#: an int made a float (`float()`)
AS_FLOAT = Action("AS_FLOAT", _as_float, float)
#: a float with no fraction made an int
WHOLE = Action("WHOLE", _whole, int)
#: an int within int64, as epoch milliseconds
EPOCH_MS = Action("EPOCH_MS", lambda value: value if MIN_MS <= value <= MAX_MS else INVALID)
#: a time read by `parse_time` (a float with no fraction, ISO-8601 text) as epoch ms
TIME = Action("TIME", _time, int)

#: per declared kind, the action taken on a value of each class; other classes are
#: invalid (a kind not here, such as a list's items of no declared type, takes anything)
RULES: dict[str, dict[type, Action]] = {
    "int": {int: SAME, float: WHOLE},
    "duration": {int: SAME, float: WHOLE},
    "float": {float: FINITE, int: AS_FLOAT},
    "str": {str: SAME},
    "bool": {bool: SAME},
    "time": {int: EPOCH_MS, float: TIME, str: TIME},
}


def action_for(actions: Mapping[type, Action], value: Any) -> Action | None:
    """The action a kind's rules take on `value` (a subclass as its base class, but a
    boolean is never an int); None if the value is not of the kind."""
    cls = value.__class__
    action = actions.get(cls)
    if action is None and cls is not bool:
        for base, found in actions.items():
            if isinstance(value, base):
                return found
    return action


def time_ms(value: Any) -> int | None:
    """A time value (an event's time, a `time` field) as epoch ms; None if it is not one."""
    action = action_for(RULES["time"], value)
    if action is None:
        return None
    ms = action.apply(value)
    return None if ms is INVALID else ms  # type: ignore[no-any-return]


_EXPECTED = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "time": "a time (epoch milliseconds or ISO-8601)",
    "duration": "a duration (integer milliseconds)",
}


def expected(declared: Type) -> str:
    """What a value of `declared` looks like, for reasons: "a number", "a list of strings"."""
    if declared.kind == "list":
        return "a list" if declared.elem is None else f"a list[{declared.elem}]"
    return _EXPECTED.get(declared.kind, f"a {declared}")


def show(value: Any, limit: int = 40) -> str:
    """A value as JSON text, cut to `limit` characters, for reasons."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InvalidValue(Exception):
    """A value not of its declared type: where in the field (`[1][0]` in a list), the
    type expected there, and the value found."""

    def __init__(self, where: str, declared: Type, value: Any) -> None:
        super().__init__(where)
        self.where = where
        self.declared = declared
        self.value = value

    def reason(self, name: str) -> str:
        what = expected(self.declared)
        return f'field "{name}{self.where}": expected {what}, got {show(self.value)}'


def checker(declared: Type) -> Callable[[Any], Any]:
    """A function from a (non-missing) value to its typed value under `declared`'s
    rules; it raises `InvalidValue` for a value they do not accept."""
    if declared.kind == "list":
        item = checker(declared.elem) if declared.elem is not None else None
        return lambda value: _list(declared, item, value)
    actions = RULES.get(declared.kind)
    if actions is None:
        return lambda value: value

    def check(value: Any) -> Any:
        action = action_for(actions, value)
        typed = INVALID if action is None else action.apply(value)
        if typed is INVALID:
            raise InvalidValue("", declared, value)
        return typed

    return check


def _list(declared: Type, item: Callable[[Any], Any] | None, value: Any) -> Any:
    if value.__class__ is not list:
        raise InvalidValue("", declared, value)
    if item is None:
        return value
    typed = value
    for i, element in enumerate(value):
        try:
            converted = item(element)
        except InvalidValue as bad:
            raise InvalidValue(f"[{i}]{bad.where}", bad.declared, bad.value) from None
        if converted is not element:
            if typed is value:
                typed = list(value)
            typed[i] = converted
    return typed


_Field = tuple[str, bool, type | None, Callable[[Any], Any]]


def _kept(declared: Type) -> type | None:
    """The class of values `declared`'s rule keeps as they are (`SAME`), if any."""
    actions = RULES.get(declared.kind, {})
    return next((cls for cls, action in actions.items() if action is SAME), None)


class Validator:
    """Validates records against the schemas of their event types.

    Events of a type with no schema are not validated.
    """

    def __init__(self, schemas: Mapping[str, Schema]) -> None:
        self.schemas = dict(schemas)
        #: per type with a schema: each declared field's name, optionality, the class
        #: its rule keeps as it is (`SAME`: no call needed) and its checker
        self._fields: dict[str, list[_Field]] = {}

    def schema(self, type_name: str) -> Schema | None:
        """The schema of `type_name`, if it has one."""
        return self.schemas.get(type_name)

    def _checks(self, type_name: str) -> list[_Field] | None:
        fields = self._fields.get(type_name)
        if fields is None:
            schema = self.schemas.get(type_name)
            if schema is None:
                return None
            fields = [
                (name, info.optional, _kept(info.type), checker(info.type))
                for name, info in schema.fields.items()
            ]
            self._fields[type_name] = fields
        return fields

    def validate(
        self, type_name: str, record: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """`(typed, None)` for a valid record, `(None, reason)` for an invalid one.

        `typed` is `record` itself when validation changed nothing (or the type has no
        schema), else a copy with the declared fields' typed values; `record` is never
        changed. Missing optional fields stay missing. The reason names the first
        problem, in the schema's order of fields: `missing field "user"` or
        `field "amount": expected a number, got "abc"`.
        """
        fields = self._checks(type_name)
        if fields is None:
            return record, None
        typed = record
        for name, optional, kept, check in fields:
            value = record.get(name)
            if value.__class__ is kept:
                continue
            if value is None:
                if optional:
                    continue
                if name not in record:
                    return None, f'missing field "{name}"'
            try:
                converted = check(value)
            except InvalidValue as bad:
                return None, bad.reason(name)
            if converted is not value:
                if typed is record:
                    typed = dict(record)
                typed[name] = converted
        return typed, None


# ------------------------------------------------------------------------------ nesting

#: the deepest nesting an event may have. The event's own object is level 1; each array
#: or object inside opens one more level: `{"a": 1}` is 1 level deep, `{"a": [1]}` 2,
#: `{"a": [{"b": []}]}` 4. Deeper input is rejected (`TOO_DEEP`) by every reader, on
#: every engine; the limit stays far below Python's recursion limit, so that no code
#: (Python's json, msgspec, the output's writers) recurses anywhere near it
MAX_DEPTH = 64
#: why an event nested deeper than `MAX_DEPTH` is refused (a JSON line's reject reason
#: is `bad json: ` and this)
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"

#: a JSON string (an unclosed one runs to the end of the text), bytes or text
_STRINGS = {
    bytes: re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S),
    str: re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.S),
}
_NOT_BRACKETS = {bytes: re.compile(rb"[^\[\]{}]+"), str: re.compile(r"[^\[\]{}]+")}


def text_depth(text: str | bytes) -> int:
    """How deep a JSON text nests: the most brackets open at once, outside strings.

    Read left to right, `[` and `{` open a level, `]` and `}` close the innermost open
    one (none when none is open); a `"` starts a string, which ends at the next `"` that
    no backslash escapes (or at the end of the text), and whose brackets do not count.
    Defined for any text, JSON or not.
    """
    if not isinstance(text, str | bytes):
        text = bytes(text)
    empty = type(text)()
    kept = _NOT_BRACKETS[type(text)].sub(empty, _STRINGS[type(text)].sub(empty, text))
    if not kept:
        return 0
    data = np.frombuffer(kept.encode("ascii") if isinstance(kept, str) else kept, np.uint8)
    opened = np.concatenate(([0], np.cumsum(np.where((data == 91) | (data == 123), 1, -1))))
    return int((opened - np.minimum.accumulate(opened)).max())


def too_deep_text(text: str | bytes, level: int = 1) -> bool:
    """Whether a JSON text whose value is at nesting level `level` (a line's object: 1, a
    CSV cell's list: 2) nests deeper than `MAX_DEPTH` (`text_depth`): what decides, for
    every reader of JSON text, before the text is read as JSON. A text with no more
    opening brackets than the levels left, in strings or not, is not counted further."""
    if not isinstance(text, str | bytes):
        text = bytes(text)
    if isinstance(text, str):
        opening = text.count("[") + text.count("{")
    else:
        opening = text.count(b"[") + text.count(b"{")
    room = MAX_DEPTH - level + 1
    return opening > room and text_depth(text) > room


def too_deep_value(value: Any, level: int = 1) -> bool:
    """Whether a value at nesting level `level` (a record: 1) nests deeper than
    `MAX_DEPTH`, counting lists, tuples and mappings as JSON counts arrays and objects
    (without recursion: a value that holds itself is too deep)."""
    todo = [(value, level)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        todo.extend(
            (child, depth + 1) for child in children if isinstance(child, Mapping | list | tuple)
        )
    return False
