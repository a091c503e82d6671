"""A batch's events as the interpreter's events, and reports as JSON lines: what every
engine shares between the columnar readers and its hosts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from cep.io.arrow import record_text
from cep.io.sources import SourceEvent
from cep.io.validation import Validator
from cep.runtime.match import Match

if TYPE_CHECKING:
    from cep.io.batch import Batch


#: events rebuilt at a time: an Arrow batch of half a million rows made into records in
#: one go held them all (~1 KiB each) while the interpreter matched them one by one
EVENTS_AT_ONCE = 16_384


def events_of(batch: Batch, validator: Validator) -> Iterator[SourceEvent]:
    """The events of a batch as the interpreter's events, each rebuilt from what the
    batch keeps of it as its reader reads it (a JSON line, a CSV row, an Arrow row's
    record: `Batch.record_of`), so both engines see the same records; rebuilt
    `EVENTS_AT_ONCE` at a time, as the caller takes them."""
    validate = validator.validate
    ts, line = batch.ts.tolist(), batch.line.tolist()
    for start in range(0, len(batch), EVENTS_AT_ONCE):
        rows = range(start, min(start + EVENTS_AT_ONCE, len(batch)))
        kept = batch.kept_of(list(rows))
        records = batch.records_of(kept)
        for i, payload, record in zip(rows, kept, records, strict=True):
            type_name = batch.type_name(i)
            typed, _ = validate(type_name, record)
            # (an Arrow row's kept record, encoded: `RowTexts.get` without taking the
            # row from the batch's columns again)
            text = payload if type(payload) is str else record_text(payload)
            yield SourceEvent(
                type_name, ts[i], typed or record, 0, line[i], raw=record, text=text,
                json=batch.json_of(payload),
            )  # fmt: skip


def event_at(batch: Batch, i: int, validator: Validator) -> SourceEvent:
    """Event `i` of a batch as the interpreter's event, with its line as read (for a
    late event's reject)."""
    (payload,) = batch.kept_of([i])
    record = batch.record_of(payload)
    type_name = batch.type_name(i)
    typed, _ = validator.validate(type_name, record)
    return SourceEvent(
        type_name, int(batch.ts[i]), typed or record, 0, int(batch.line[i]),
        raw=record, text=batch.text(i), json=batch.json_of(payload),
    )  # fmt: skip


def json_lines(reports: Iterable[Match | str]) -> bytes:
    """Reports (or their JSON lines already) as UTF-8 JSON lines, each ended by a
    newline (`Match.to_json` writes a lone surrogate as its escape)."""
    text = "".join(
        (report if type(report) is str else report.to_json()) + "\n"  # type: ignore[union-attr]
        for report in reports
    )
    return text.encode()
