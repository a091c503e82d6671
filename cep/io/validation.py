"""Validating input events against their `event` schemas with pydantic.

Each schema becomes one pydantic model (`build_model`). Schemas are open: fields they
do not declare are kept as they are. Declared types are checked strictly:

- `int` and `duration` (milliseconds): integers; a float with no fraction is taken as
  an integer, but not a string such as `"12"` nor a boolean;
- `float`: a number (an `int` is a valid `float` and becomes one); never NaN or infinity;
- `str`: a string; `bool`: `true` or `false`;
- `time`: epoch milliseconds or an ISO-8601 string, validated to epoch milliseconds;
- `list[T]`: a list whose items are each a `T`;
- a field marked optional may be missing or null; a required field may be neither.

Validation never changes the record it is given: `validate` returns a copy with the
typed values (for matching) and leaves the original (for output) as it was read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from math import isfinite
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    Strict,
    ValidationError,
    create_model,
)

from cep.io.time import BadTime, parse_time
from cep.lang.program import Schema
from cep.lang.types import Type

_MODEL_CONFIG = ConfigDict(extra="allow", allow_inf_nan=False, populate_by_name=False)


def _whole_number(value: Any) -> Any:
    """Let a float with no fraction through as an int; refuse booleans."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _time(value: Any) -> int:
    try:
        return parse_time(value)
    except BadTime as error:
        raise ValueError(str(error)) from None


_INT = Annotated[int, Strict(), BeforeValidator(_whole_number)]
_SCALARS: dict[str, Any] = {
    "int": _INT,
    "duration": _INT,
    "float": Annotated[float, Strict()],
    "str": Annotated[str, Strict()],
    "bool": Annotated[bool, Strict()],
    "time": Annotated[int, PlainValidator(_time)],
}


def annotation_for(declared: Type) -> Any:
    """The pydantic annotation that checks a value of the language type `declared`."""
    if declared.kind == "list":
        elem = annotation_for(declared.elem) if declared.elem is not None else Any
        return Annotated[list[elem], Strict()]  # type: ignore[valid-type]
    return _SCALARS.get(declared.kind, Any)


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


def _attr(index: int) -> str:
    # pydantic attribute names are positional; the real name is the alias, so that a
    # field may be called anything (`schema`, `model_x`, `_x`) without clashing
    return f"f{index}"


def build_model(schema: Schema) -> type[BaseModel]:
    """One pydantic model for `schema`: declared fields checked, other fields kept."""
    fields: dict[str, Any] = {}
    for index, info in enumerate(schema.fields.values()):
        annotation = annotation_for(info.type)
        if info.optional:
            fields[_attr(index)] = (annotation | None, Field(None, alias=info.name))
        else:
            fields[_attr(index)] = (annotation, Field(alias=info.name))
    return create_model(  # type: ignore[call-overload, no-any-return]
        f"{schema.name}Event", __config__=_MODEL_CONFIG, **fields
    )


_EXACT = {"int": int, "duration": int, "float": float, "str": str, "bool": bool}


def quick_check(schema: Schema) -> Callable[[dict[str, Any]], bool] | None:
    """A plain-Python test that accepts only records pydantic would accept unchanged
    (every declared field present unless optional, of exactly its type, floats finite).

    A record it refuses is still validated by pydantic, which gives the reason or the
    converted values (an int for a float field, say); `None` when some field's type
    (`time`, lists) always needs pydantic.
    """
    checks = []
    for name, info in schema.fields.items():
        exact = _EXACT.get(info.type.kind)
        if exact is None:
            return None
        checks.append((name, exact, info.optional, exact is float))

    def check(record: dict[str, Any]) -> bool:
        get = record.get
        for name, exact, optional, is_float in checks:
            value = get(name)
            if value is None:
                if optional:
                    continue
                return False
            if value.__class__ is not exact or (is_float and not isfinite(value)):
                return False
        return True

    return check


class _Compiled:
    __slots__ = ("attrs", "model", "quick", "schema")

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.model = build_model(schema)
        self.attrs = [(_attr(i), name) for i, name in enumerate(schema.fields)]
        self.quick = quick_check(schema)


class Validator:
    """Validates records against the schemas of their event types.

    Events of a type with no schema are not validated.
    """

    def __init__(self, schemas: Mapping[str, Schema]) -> None:
        self.schemas = dict(schemas)
        self._compiled: dict[str, _Compiled] = {}

    def schema(self, type_name: str) -> Schema | None:
        """The schema of `type_name`, if it has one."""
        return self.schemas.get(type_name)

    def _get(self, type_name: str) -> _Compiled | None:
        compiled = self._compiled.get(type_name)
        if compiled is None:
            schema = self.schemas.get(type_name)
            if schema is None:
                return None
            compiled = self._compiled[type_name] = _Compiled(schema)
        return compiled

    def validate(
        self, type_name: str, record: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """`(typed, None)` for a valid record, `(None, reason)` for an invalid one.

        `typed` is `record` itself when validation changed nothing (or the type has no
        schema), else a copy with the declared fields' typed values; `record` is never
        changed. Missing optional fields stay missing. The reason names the first
        problem: `missing field "user"` or `field "amount": expected a number, got "abc"`.
        """
        compiled = self._get(type_name)
        if compiled is None:
            return record, None
        if compiled.quick is not None and compiled.quick(record):
            return record, None
        try:
            model = compiled.model.model_validate(record)
        except ValidationError as error:
            return None, self._reason(compiled.schema, error)
        typed = record
        for attr, name in compiled.attrs:
            if name not in record:
                continue
            value = getattr(model, attr)
            if value is not record[name]:
                if typed is record:
                    typed = dict(record)
                typed[name] = value
        return typed, None

    @staticmethod
    def _reason(schema: Schema, error: ValidationError) -> str:
        first = error.errors(include_url=False)[0]
        loc = first["loc"]
        name = str(loc[0]) if loc else "?"
        if first["type"] == "missing":
            return f'missing field "{name}"'
        info = schema.fields.get(name)
        declared: Type | None = info.type if info else None
        where = name
        for step in loc[1:]:
            where += f"[{step}]"
            declared = declared.elem if declared is not None else None
        what = expected(declared) if declared is not None else "a valid value"
        return f'field "{where}": expected {what}, got {show(first.get("input"))}'
