"""The row readers the columnar readers are held to: one event or reject per JSON line
or CSV row, in input order, built from the readers' own pieces (`RecordMaker`,
`json_line`, `csv_row`). cep reads only through `cep.io.columnar`; these are the
tests' reference for what a line or row must give."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from cep.io.sources import (
    FORMATS,
    RecordMaker,
    Reject,
    SourceError,
    SourceEvent,
    csv_reason,
    csv_row,
    json_line,
    line_text,
)
from cep.io.validation import Validator

Lines = Iterable[str] | Iterable[bytes]


def _lines(stream: Lines) -> Iterator[tuple[int, str, bool]]:
    """(1-based number, text without its line ending, whether it was valid UTF-8)."""
    for number, line in enumerate(stream, 1):
        text, ok = line_text(number, line)
        yield number, text, ok


def read_jsonl(
    stream: Lines,
    *,
    type_field: str = "type",
    time_field: str = "ts",
    default_type: str | None = None,
    validator: Validator | None = None,
) -> Iterator[SourceEvent | Reject]:
    """Events and rejects from JSON Lines, one JSON object per line, in input order.

    `stream` yields lines as text or bytes (a file, `sys.stdin`, a list of strings).
    The type comes from `type_field`, else `default_type`; the time from `time_field`.
    Events of a type with a schema in `validator` are validated. `seq` counts accepted
    events from 0; `line` is the 1-based line number. Blank lines are skipped.
    """
    maker = RecordMaker(type_field, time_field, default_type, validator)
    for number, item in enumerate(stream, 1):
        made = json_line(maker, number, item)
        if made is not None:
            yield made


class _Feed:
    """The lines given to `csv.reader`, remembering those of the current row."""

    def __init__(self, stream: Lines) -> None:
        self._lines = _lines(stream)
        self.taken: list[str] = []
        self.last = 0
        self.ok = True

    def start_row(self) -> int:
        self.taken.clear()
        self.ok = True
        return self.last + 1

    @property
    def text(self) -> str:
        return "\n".join(self.taken)

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        number, text, ok = next(self._lines)
        self.last = number
        self.taken.append(text)
        self.ok = self.ok and ok
        return text + "\n"


def read_csv(
    stream: Lines,
    *,
    type_field: str = "type",
    time_field: str = "ts",
    default_type: str | None = None,
    validator: Validator | None = None,
) -> Iterator[SourceEvent | Reject]:
    """Events and rejects from CSV with a header row, in input order.

    The header names the fields. An empty cell is a missing field. Cells are text:
    where the event's type has a schema, a declared field's cell is read as its type
    (`convert_cell`); other cells, and every cell of a type with no schema, become an
    int, else a float, else stay text (`infer_cell`). The type comes from the
    `type_field` column, else `default_type`. A row's line number is the line it starts
    on (a quoted cell may span lines). Otherwise as `read_jsonl`.
    """
    maker = RecordMaker(type_field, time_field, default_type, validator)
    feed = _Feed(stream)
    reader = csv.reader(feed)
    header: list[str] | None = None
    while True:
        start = feed.start_row()
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield Reject(start, csv_reason(error), feed.text)
            continue
        text = feed.text
        if not text or text.isspace():
            continue
        made = csv_row(maker, header, row, start, text, feed.ok)
        if made is None:
            header = row
        else:
            yield made


def read_source(
    stream: Lines,
    format: str,
    *,
    type_field: str = "type",
    time_field: str = "ts",
    default_type: str | None = None,
    validator: Validator | None = None,
) -> Iterator[SourceEvent | Reject]:
    """`read_jsonl` or `read_csv`, by `format`."""
    if format not in FORMATS:
        raise SourceError(f"cannot read {format!r} input (formats: {', '.join(FORMATS)})")
    reader = read_csv if format == "csv" else read_jsonl
    return reader(
        stream,
        type_field=type_field,
        time_field=time_field,
        default_type=default_type,
        validator=validator,
    )
