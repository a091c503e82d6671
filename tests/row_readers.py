"""The row readers the columnar readers are held to: one event or reject per JSON line
or CSV row, in input order, built from the readers' own pieces (`RecordMaker`,
`json_line`, `csv_row`). cep reads only through `cep.io.columnar`; these are the
tests' reference for what a line or row must give."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator

from cep.io.csvfile import MAX_RECORD_LINES, UNCLOSED_QUOTE
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


class _Unclosed(Exception):
    """A quoted cell open past `MAX_RECORD_LINES` lines or to the end of the input."""


class _Feed:
    """The lines given to `csv.reader`, remembering those of the current row; a row
    can be read again from the line after its first (`resume`)."""

    def __init__(self, stream: Lines) -> None:
        self._lines = _lines(stream)
        self._again: list[tuple[int, str, bool]] = []
        self.taken: list[tuple[int, str, bool]] = []
        self.ok = True

    def start_row(self) -> int:
        self.taken = []
        self.ok = True
        if not self._again:
            self._again = [next(self._lines, (0, "", True))]
        return self._again[0][0]

    def resume(self) -> None:
        """Read on from the line after the current row's first."""
        self._again = self.taken[1:] + self._again
        self.taken = []

    @property
    def text(self) -> str:
        return "\n".join(text for _, text, _ in self.taken)

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        if len(self.taken) >= MAX_RECORD_LINES:
            raise _Unclosed
        line = self._again.pop(0) if self._again else next(self._lines, None)
        if line is None or line[0] == 0:
            if self.taken:
                raise _Unclosed
            raise StopIteration
        self.taken.append(line)
        self.ok = self.ok and line[2]
        return line[1] + "\n"


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
    on (a quoted cell may span lines, up to `MAX_RECORD_LINES`: a quote open past them
    or to the end is an `unclosed quote`, its first line rejected and the next read on).
    Otherwise as `read_jsonl`.
    """
    maker = RecordMaker(type_field, time_field, default_type, validator)
    feed = _Feed(stream)
    header: list[str] | None = None
    while True:
        start = feed.start_row()
        try:
            row = next(csv.reader(feed))
        except StopIteration:
            return
        except _Unclosed:
            yield Reject(start, UNCLOSED_QUOTE, feed.taken[0][1])
            feed.resume()
            continue
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
