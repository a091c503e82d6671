"""What the engine reports: a `Match` (a finished match or a timed-out partial match),
and its JSON form (the output contract of docs/LANGUAGE.md)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from cep.runtime.event import Event


def raw_of(event: Event) -> dict[str, Any]:
    """An event's fields as read (a source event keeps the record it was read from)."""
    raw = getattr(event, "raw", None)
    return raw if isinstance(raw, dict) else event.data


def json_value(value: Any) -> Any:
    """A value as written in the output: events as their records, NaN/inf as null."""
    if isinstance(value, Event):
        return raw_of(value)
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
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
        record: dict[str, Any] = {
            "rule": self.rule,
            "kind": self.kind,
            "ts": self.ts,
            "key": json_value(self.key),
            "fields": json_value(self.fields),
            "events": {name: json_value(value) for name, value in self.events.items()},
        }
        if self.severity is not None:
            record["severity"] = self.severity
        if self.tags is not None:
            record["tags"] = list(self.tags)
        return record

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, default=str)
