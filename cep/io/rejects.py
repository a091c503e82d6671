"""The rejects output: one JSON object per bad line, and counts for the summary.

Each line is `{"line": N, "reason": "...", "raw": "..."}`: the 1-based line number, the
reason, and the line's text without its newline. Rejects are counted by kind: the
reason up to its first colon (`bad json`, `invalid`, `late`, `missing time`, ...), so
that the end-of-run summary stays short however varied the details.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from cep.io.sources import Reject, SourceEvent
from cep.runtime.event import Event
from cep.runtime.match import encode


def reason_kind(reason: str) -> str:
    """The kind of a reason: `invalid: missing field "user"` -> `invalid`."""
    return reason.split(":", 1)[0]


class RejectsWriter:
    """Writes rejects as JSON Lines to `stream` (if any) and counts them by kind.

    With no stream (no `--rejects FILE`), rejects are only counted. The writer does
    not close a stream it was given; `open` makes one that closes its file.
    """

    def __init__(self, stream: TextIO | None = None, *, close: bool = False) -> None:
        self.stream = stream
        self.counts: Counter[str] = Counter()
        self._close = close
        #: where a record came from, by its number, in place of its line (a Kafka
        #: input's topic, partition and offset: `cep.io.kafka.RecordPlaces`)
        self.where: Callable[[int], dict[str, Any] | None] | None = None

    @classmethod
    def open(cls, path: str) -> RejectsWriter:
        """A writer to the file `path` (created or truncated, UTF-8)."""
        return cls(open(path, "w", encoding="utf-8"), close=True)

    @property
    def total(self) -> int:
        """How many rejects so far."""
        return self.counts.total()

    def write(self, reject: Reject) -> None:
        """Record one reject."""
        self.counts[reason_kind(reject.reason)] += 1
        if self.stream is not None:
            place = self.where(reject.line) if self.where is not None else None
            record = {**(place or {"line": reject.line}), "reason": reject.reason,
                      "raw": reject.raw}  # fmt: skip
            self.stream.write(encode(record).decode() + "\n")

    def flush(self) -> None:
        if self.stream is not None:
            self.stream.flush()

    def close(self) -> None:
        """Flush, and close the file if this writer opened it."""
        self.flush()
        if self._close and self.stream is not None:
            self.stream.close()

    def __enter__(self) -> RejectsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def late_reject(event: Event, reason: str = "late") -> Reject:
    """The reject of an accepted event rejected later (reason `late`, say): its line as
    read for a `SourceEvent`, else its fields as JSON."""
    if isinstance(event, SourceEvent) and event.text:
        text = event.text
    else:
        text = encode(event.data).decode()
    return Reject(event.line or 0, reason, text)
