"""The engine's view of one input event."""

from __future__ import annotations

from typing import Any


class Event:
    """An event: its type, its time (epoch milliseconds), its fields as read, and its place.

    `seq` is the arrival order (it breaks ties between equal times); `line` is the input
    line it came from, when it came from a file.
    """

    __slots__ = ("data", "line", "seq", "ts", "type")

    def __init__(
        self, type: str, ts: int, data: dict[str, Any], seq: int = 0, line: int | None = None
    ) -> None:
        self.type = type
        self.ts = ts
        self.data = data
        self.seq = seq
        self.line = line

    def get(self, name: str) -> Any:
        """A field's value; `ts` is the parsed time and `type` the event type."""
        if name == "ts":
            return self.ts
        if name == "type":
            return self.type
        return self.data.get(name)

    def __repr__(self) -> str:
        return f"Event({self.type!r}, ts={self.ts}, seq={self.seq}, {self.data!r})"
