"""What the engine reports: a `Match` (a finished match or a timed-out partial match),
and its JSON form (the output contract of docs/LANGUAGE.md)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from math import isfinite
from typing import IO, Any

import msgspec

from cep.runtime.event import Event

_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode


#: digits, for finding number forms msgspec writes differently from `json`: `1e16` for
#: `1e+16`, `0.00001` for `1e-05` (text that merely looks like one only costs speed)
_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_LINES = msgspec.json.Encoder()


def other_numbers(encoded: bytes) -> bool:
    """Whether msgspec's text may hold a number `json` writes otherwise."""
    digits = encoded.translate(_DIGITS)
    return b"0e" in digits or b"0E" in digits or b"0.0000" in encoded


def float_lines(floats: list[float]) -> bytes:
    """Floats as `repr` writes them (`json`'s text of a finite float), one a line:
    msgspec's text unless it may differ."""
    written = json_lines(floats)
    if other_numbers(written):
        written = "".join(f"{value!r}\n" for value in floats).encode()
    return written


_SURROGATE = re.compile("[\ud800-\udfff]")


def write_json_text(stream: IO[str], text: str) -> None:
    """Write JSON text to a UTF-8 stream. A lone surrogate (a string read from an escape
    such as `"\\ud800"`) has no UTF-8 form: it is written as that escape again, which
    reads back as the same string (in JSON text it can only stand inside a string)."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.write(_escape_surrogates(text))


def json_text_utf8(text: str) -> bytes:
    """JSON text as the UTF-8 bytes `write_json_text` writes."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _escape_surrogates(text).encode()


def _escape_surrogates(text: str) -> str:
    return _SURROGATE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def plain_json(value: Any) -> bool:
    """Whether a value is plain JSON: str keys; str, int, float, bool, None, lists, dicts
    (msgspec writes some other types, dates say, where `json` would use `str`)."""
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and plain_json(v) for k, v in value.items())
    if kind is list or kind is tuple:
        return all(plain_json(v) for v in value)
    return value is None or kind is str or kind is int or kind is float or kind is bool


def as_plain_json(value: Any) -> Any:
    """A value as plain JSON: itself, or what its `Match.to_json` text reads back as."""
    return value if plain_json(value) else json.loads(_ENCODE(json_value(value)))


def json_text(value: Any) -> str:
    """A value as `Match.to_json` writes it: `json.dumps(json_value(value),
    ensure_ascii=False, default=str)`, by msgspec where that gives the same text."""
    if not plain_json(value):
        return _ENCODE(json_value(value))
    try:
        encoded = msgspec.json.encode(value)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
        return _ENCODE(json_value(value))
    if other_numbers(encoded):
        return _ENCODE(json_value(value))
    return msgspec.json.format(encoded, indent=0).decode()


def report_lines(records: list[Any]) -> list[str]:
    """Report records (or other values) of plain JSON values, and `msgspec.Raw` parts
    already JSON text, as `Match.to_json` writes them, encoded by msgspec in one call."""
    try:
        encoded = _LINES.encode_lines(records)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
        return [_json_text_raw(record) for record in records]
    lines = encoded.split(b"\n")  # JSON text holds no raw newline
    lines.pop()
    check = other_numbers(encoded)
    out = []
    for line in lines:
        if check and other_numbers(line):
            # msgspec's text decodes to the same values: `json` writes them
            out.append(_ENCODE(json_value(json.loads(line))))
        else:
            out.append(msgspec.json.format(line, indent=0).decode())
    return out


def json_lines(values: list[Any]) -> bytes:
    """Plain JSON values as msgspec writes them, each followed by a newline (strings as
    `json` writes them; numbers too unless `other_numbers` says otherwise)."""
    return _LINES.encode_lines(values)


def string_lines(strings: list[str]) -> list[str]:
    """Strings as JSON text (`json.dumps(s, ensure_ascii=False)`), encoded in one call."""
    try:
        encoded = _LINES.encode_lines(strings)
    except UnicodeEncodeError:  # a lone surrogate
        return [json_text(text) for text in strings]
    lines = encoded.decode().split("\n")
    lines.pop()
    return lines


def _json_text_raw(record: Any) -> str:
    if type(record) is not dict:
        return json_text(record)
    values = {
        name: json.loads(bytes(value)) if isinstance(value, msgspec.Raw) else value
        for name, value in record.items()
    }
    return json_text(values)


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


def _flat(record: Any) -> bool:
    """A dict of text keys and plain values that msgspec writes as `json` does: floats
    written in positional form by both (`repr` turns to `1e+16` and `1e-05` where
    msgspec writes `1e16` and `0.00001`), or zero, or NaN/infinities (null in both)."""
    if type(record) is not dict:
        return False
    for key, value in record.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            continue
        if kind is not float or (value and isfinite(value) and not 1e-4 <= abs(value) < 1e16):
            return False
    return True


def _flat_bound(value: Any) -> Any:
    """A variable's events as flat records, or None when one is not flat."""
    if isinstance(value, Event):
        record = raw_of(value)
        return record if _flat(record) else None
    if type(value) is not list:
        return None
    records = []
    for item in value:
        record = raw_of(item) if isinstance(item, Event) else None
        if record is None or not _flat(record):
            return None
        records.append(record)
    return records


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
        """`to_dict()` as one line of JSON: `json.dumps(self.to_dict(),
        ensure_ascii=False, default=str)`'s text. When every part is flat and plain
        (input records nearly always are), msgspec writes it, several times faster."""
        text = self._plain_json()
        return text if text is not None else _ENCODE(self.to_dict())

    def _plain_json(self) -> str | None:
        key, fields = self.key, self.fields
        if (key is not None and not _flat(key)) or not _flat(fields):
            return None
        events = {}
        for name, value in self.events.items():
            records = _flat_bound(value)
            if records is None:
                return None
            events[name] = records
        try:
            encoded = msgspec.json.encode(self._record(key, fields, events))
            text = msgspec.json.format(encoded, indent=0)
        except (TypeError, UnicodeEncodeError):  # a lone surrogate, a key msgspec refuses
            return None
        return text.decode()


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
