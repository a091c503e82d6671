"""What the engine reports: a `Match` (a finished match or a timed-out partial match),
and its JSON form (the output contract of docs/LANGUAGE.md): one encoder (`encode`)
for every part, each event written as read (`event_json`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from math import isfinite
from typing import Any

import msgspec

from cep.runtime.event import Event

#: JSON whitespace (what may stand around a JSON line's object)
JSON_SPACE = " \t\r\n"


def _other(value: Any) -> Any:
    """What msgspec cannot write itself: an event as its text (`event_json`), anything
    else (a Parquet cell of an odd type, say) as its `str`."""
    if isinstance(value, Event):
        return msgspec.Raw(event_json(value))
    return str(value)


_ENCODER = msgspec.json.Encoder(enc_hook=_other)


def encode(value: Any) -> bytes:
    """The one JSON encoder of reports (msgspec; NaN and infinities as null): every
    `key`, `fields`, record and report line is written by it, on either engine. A string
    with a lone surrogate (read from an escape such as `"\\ud800"`) has no UTF-8 form:
    it is written as that escape, so the line stays strict JSON and reads back the same."""
    try:
        return _ENCODER.encode(value)
    except UnicodeEncodeError:
        return _ENCODER.encode(_escaped(value))


def encode_lines(values: list[Any]) -> bytes:
    """`encode(value)` of each value, each followed by a newline, in one call."""
    try:
        return _ENCODER.encode_lines(values)
    except UnicodeEncodeError:
        return b"".join(encode(value) + b"\n" for value in values)


def _escaped(value: Any) -> Any:
    """A value whose strings with a lone surrogate (keys too) are written as their ASCII
    JSON text (`json`'s escapes), for msgspec to write as they are."""
    if isinstance(value, str):
        return value if _utf8(value) else msgspec.Raw(json.dumps(value))
    if isinstance(value, dict):
        if all(not isinstance(key, str) or _utf8(key) for key in value):
            return {key: _escaped(item) for key, item in value.items()}
        items = (
            (json.dumps(key) if isinstance(key, str) else encode(str(key)).decode())
            + ":"
            + encode(item).decode()
            for key, item in value.items()
        )
        return msgspec.Raw("{" + ",".join(items) + "}")
    if isinstance(value, list | tuple):
        return [_escaped(item) for item in value]
    return value


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def event_json(event: Any) -> str | bytes:
    """An event as reports write it: a JSON line's object as the text of that line
    (`json`, set by the readers), else its record (`raw_of`) encoded (`encode`)."""
    text = getattr(event, "json", None)
    return text if text is not None else encode(raw_of(event))


def raw_of(event: Event) -> dict[str, Any]:
    """An event's fields as read (a source event keeps the record it was read from)."""
    raw = getattr(event, "raw", None)
    return raw if isinstance(raw, dict) else event.data


def json_value(value: Any) -> Any:
    """A value as written in the output: events as their records, NaN/inf as null."""
    if isinstance(value, Event):
        return json_value(raw_of(value))
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, float) and not isfinite(value):
        return None
    return value


@dataclass(eq=False)
class Match:
    """One report of a rule.

    `kind` is `"match"` or `"timeout"`; `ts` the time it was reported at (epoch ms);
    `key` the partition key (`None` without `partition by`); `fields` the `emit` values;
    `events` each variable's event, or list of events for a repeated variable (absent
    when it bound nothing).
    """

    rule: str
    kind: str
    ts: int
    key: dict[str, Any] | None
    fields: dict[str, Any]
    events: dict[str, Event | list[Event]]
    severity: str | None = None
    tags: tuple[str, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The output record (one JSON object per line in `cep run`)."""
        events = {name: json_value(value) for name, value in self.events.items()}
        return self._record(json_value(self.key), json_value(self.fields), events)

    def _record(self, key: Any, fields: Any, events: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "rule": self.rule, "kind": self.kind, "ts": self.ts, "key": key,
            "fields": fields, "events": events,
        }  # fmt: skip
        if self.severity is not None:
            record["severity"] = self.severity
        if self.tags is not None:
            record["tags"] = list(self.tags)
        return record

    def to_json(self) -> str:
        """The report as one line of JSON (`encode`), each event as read (`event_json`)."""
        events = {
            name: [msgspec.Raw(event_json(e)) for e in value]
            if isinstance(value, list)
            else msgspec.Raw(event_json(value))
            for name, value in self.events.items()
        }
        return encode(self._record(self.key, self.fields, events)).decode()


class LazyMatch(Match):
    """A `Match` whose `fields` and `events` are worked out when first read: an engine
    that finds matches in bulk (cep/fast) leaves rebuilding events from their lines and
    evaluating `emit` to the reports that are read. Reads, `to_dict`, `to_json`,
    `repr` and pickling see a plain `Match`."""

    @classmethod
    def pending(
        cls,
        rule: str,
        kind: str,
        ts: int,
        key: dict[str, Any] | None,
        severity: str | None,
        tags: tuple[str, ...] | None,
        content: Callable[[], tuple[dict[str, Any], dict[str, Any]]],
    ) -> LazyMatch:
        """A report whose `(fields, events)` `content()` gives when first read. (The
        constructor is `Match`'s, so `dataclasses.replace` and copies work as for it.)"""
        match = cls.__new__(cls)
        match.rule = rule
        match.kind = kind
        match.ts = ts
        match.key = key
        match.severity = severity
        match.tags = tags
        match.extra = {}
        match._content = content
        return match

    def __getattr__(self, name: str) -> Any:
        # only called for attributes not set yet: `fields` and `events` before first use
        if name in ("fields", "events") and "_content" in self.__dict__:
            self.fields, self.events = self.__dict__.pop("_content")()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        self.fields  # noqa: B018 (worked out before pickling: the recipe does not pickle)
        return dict(self.__dict__)
