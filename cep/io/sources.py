"""Event sources: JSONL and CSV, from files or standard input, read as a stream.

A reader yields, in input order, one `SourceEvent` per accepted line and one `Reject`
per bad line; it reads a line at a time, so it works on an endless standard input.
Blank lines (empty or only whitespace) are skipped: neither an event nor a reject. So
for every input, events + rejects + blank lines = lines (for CSV, + the header row).

Reasons for a reject:

- `not UTF-8`: the line's bytes are not UTF-8 text;
- `bad json: nested deeper than 64 levels`: the line nests arrays and objects deeper
  than `cep.io.validation.MAX_DEPTH` (the event's object is level 1), decided on its
  text before it is read as JSON (`too_deep_text`), JSON or not;
- `bad json: MESSAGE`: the line is not JSON (NaN and Infinity are not JSON either);
- `not an object`: the line is JSON, but not an object;
- `bad csv: MESSAGE`: a CSV row that cannot be read, or has more or fewer cells than
  the header;
- `no type`: no type field (or an empty one) and no default type;
- `bad type`: a type field that is not a string;
- `missing time`: no time field, or a null one;
- `bad time`: a time field that is not epoch milliseconds nor an ISO-8601 string;
- `time out of range`: a time before 1970 or from 2200 on (`cep.io.time.TIME_WINDOW`);
- `invalid: PROBLEM`: the event breaks its type's schema (see `cep.io.validation`).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cep.io.time import BAD_TIME, MISSING_TIME, TIME_OUT_OF_RANGE, event_ms, in_window
from cep.io.validation import TOO_DEEP, Validator, too_deep_text
from cep.lang.types import Type
from cep.runtime.event import Event
from cep.runtime.match import JSON_SPACE

FORMATS = ("jsonl", "csv")

Lines = Iterable[str] | Iterable[bytes]


class SourceError(Exception):
    """An input that cannot be opened or read at all (not a bad line: that is a reject)."""


@dataclass(frozen=True, slots=True)
class Reject:
    """A line that did not become an event: its 1-based number, why, and its text."""

    line: int
    reason: str
    raw: str


class SourceEvent(Event):
    """An event read from a source.

    `data` holds the typed values (times as epoch milliseconds, `float` fields as
    floats) that matching uses; `raw` is the record exactly as read; `text` is the line
    as read (without its newline), for a reject found later (`late`); `json`, for a JSON
    line, its object's text, which reports write as the event (else they encode `raw`).
    Without a schema, or when validation changed nothing, `raw` is `data`.
    """

    __slots__ = ("json", "raw", "text")

    def __init__(
        self,
        type: str,
        ts: int,
        data: dict[str, Any],
        seq: int = 0,
        line: int | None = None,
        *,
        raw: dict[str, Any] | None = None,
        text: str = "",
        json: str | None = None,
    ) -> None:
        self.type = type
        self.ts = ts
        self.data = data
        self.seq = seq
        self.line = line
        self.raw = data if raw is None else raw
        self.text = text
        self.json = json


# ------------------------------------------------------------------------------ lines


def line_text(number: int, item: str | bytes) -> tuple[str, bool]:
    """A line's text without its line ending (and, on line 1, without a BOM), and
    whether it was valid UTF-8."""
    ok = True
    if isinstance(item, bytes):
        try:
            text = item.decode("utf-8")
        except UnicodeDecodeError:
            text = item.decode("utf-8", errors="replace")
            ok = False
    else:
        text = item
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    if number == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text, ok


class _NotJson(ValueError):
    """NaN or Infinity, which Python's `json` takes and JSON does not."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not valid JSON")


#: Python's JSON decoder as the readers use it: NaN and Infinity refused
JSON_DECODER = json.JSONDecoder(parse_constant=_no_constant)

#: the reject reason of a JSON line nested deeper than `MAX_DEPTH`
DEEP_JSON = f"bad json: {TOO_DEEP}"

#: the JSON decoder's complaints in the project's words (what a reject's reason says),
#: by how they start
_JSON_PROBLEMS = {
    "Expecting value": "a value is missing",
    "Expecting ',' delimiter": "a comma is missing",
    "Expecting ':' delimiter": "a colon is missing",
    "Expecting property name enclosed in double quotes": "a key is not a quoted string",
    "Unterminated string starting at": "a string is not closed",
    "Invalid control character": "a control character in a string",
    "Invalid \\": "a bad escape in a string",
    "Extra data": "more after the object",
}
#: the CSV reader's complaints in the project's words, by how they start
_CSV_PROBLEMS = {
    "field larger than field limit": "a cell is too long",
    "line contains NUL": "a NUL character",
    "unexpected end of data": "a quoted cell is not closed",
    "new-line character seen in unquoted field": "a line break in an unquoted cell",
}


def json_reason(text: str) -> str:
    """Why a line is not one JSON value (`JSON_DECODER` refused it), in the project's words
    (a library's message never reaches a reject): `bad json: a comma is missing at
    character 12`, `... at the end`."""
    try:
        JSON_DECODER.decode(text)
    except json.JSONDecodeError as error:
        problem = next(
            (words for start, words in _JSON_PROBLEMS.items() if error.msg.startswith(start)),
            "not valid JSON",
        )
        where = "the end" if error.pos >= len(text) else f"character {error.pos + 1}"
        return f"bad json: {problem} at {where}"
    except RecursionError:  # (not reached: `json_line` refuses deep lines first)
        return DEEP_JSON
    except _NotJson as error:
        return f"bad json: {error}"
    except ValueError:  # (an integer past `sys.get_int_max_str_digits()`)
        return "bad json: a number too long"
    return "bad json"


def csv_reason(error: csv.Error) -> str:
    """Why `csv.reader` refused a row, in the project's words."""
    message = str(error)
    for start, problem in _CSV_PROBLEMS.items():
        if message.startswith(start):
            return f"bad csv: {problem}"
    return "bad csv: not valid CSV"


class RecordMaker:
    """Turns one record into an event or a reject (type, time, validation)."""

    def __init__(
        self,
        type_field: str,
        time_field: str,
        default_type: str | None,
        validator: Validator | None,
        time_unit: str = "ms",
    ) -> None:
        self.type_field = type_field
        self.time_field = time_field
        self.default_type = default_type
        self.validator = validator
        self.time_unit = time_unit
        self.seq = 0

    def make(self, record: dict[str, Any], line: int, text: str) -> SourceEvent | Reject:
        type_name = record.get(self.type_field)
        if type_name is None or type_name == "":
            type_name = self.default_type
            if not type_name:
                return Reject(line, "no type", text)
        elif not isinstance(type_name, str):
            return Reject(line, "bad type", text)
        value = record.get(self.time_field)
        if value is None:
            return Reject(line, MISSING_TIME, text)
        ts = event_ms(value, self.time_unit)
        if ts is None:
            return Reject(line, BAD_TIME, text)
        if not in_window(ts):
            return Reject(line, TIME_OUT_OF_RANGE, text)
        data = record
        if self.validator is not None:
            typed, reason = self.validator.validate(type_name, record)
            if typed is None:
                return Reject(line, f"invalid: {reason}", text)
            data = typed
        event = SourceEvent(type_name, ts, data, self.seq, line, raw=record, text=text)
        self.seq += 1
        return event


# ------------------------------------------------------------------------------ JSONL


def json_line(maker: RecordMaker, number: int, item: str | bytes) -> SourceEvent | Reject | None:
    """One JSON line (`number`, as given) as an event (its `json` set: the line's object,
    as read) or a reject; None for a blank line."""
    text, ok = line_text(number, item)
    if not text or text.isspace():
        return None
    if not ok:
        return Reject(number, "not UTF-8", text)
    if too_deep_text(text):
        return Reject(number, DEEP_JSON, text)
    try:
        record = JSON_DECODER.decode(text)
    except (ValueError, RecursionError):
        return Reject(number, json_reason(text), text)
    if not isinstance(record, dict):
        return Reject(number, "not an object", text)
    made = maker.make(record, number, text)
    if isinstance(made, SourceEvent):
        made.json = made.text.strip(JSON_SPACE)
    return made


# ------------------------------------------------------------------------------ CSV

#: a CSV cell `infer_cell` reads as an int
INT_TEXT = re.compile(r"[-+]?\d+")
_FLOAT_TEXT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def infer_cell(cell: str) -> Any:
    """A CSV cell of no declared type: an int if it reads as one, else a float, else text."""
    try:
        if INT_TEXT.fullmatch(cell):
            return int(cell)
        if _FLOAT_TEXT.fullmatch(cell):
            return float(cell)
    except ValueError:  # an integer too long to convert
        pass
    return cell


def convert_cell(cell: str, declared: Type | None) -> Any:
    """A CSV cell as a value of its declared type, when it reads as one.

    A cell that does not read as its type is returned as text, so that validation
    rejects it with a clear reason. `list[T]` cells are JSON arrays (one nested deeper
    than `MAX_DEPTH`, the record being level 1, is not read); `bool` cells are
    `true` or `false` (any case); times are epoch milliseconds or ISO-8601 text.
    """
    kind = declared.kind if declared is not None else "dynamic"
    if kind == "str":
        return cell
    if kind == "bool":
        lowered = cell.lower()
        return {"true": True, "false": False}.get(lowered, cell)
    if kind == "list":
        if too_deep_text(cell, level=2):  # (left as text: not a list, validation says)
            return cell
        try:
            value = json.loads(cell, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            return cell
        return value if isinstance(value, list) else cell
    return infer_cell(cell)


def csv_row(
    maker: RecordMaker, header: list[str] | None, row: list[str], number: int, text: str, ok: bool
) -> SourceEvent | Reject | None:
    """A CSV row that is not blank, its text `text` (valid UTF-8 if `ok`), as an event or
    a reject; None when it is the header (`header` is None until it has been read)."""
    if not ok:
        return Reject(number, "not UTF-8", text)
    if header is None:
        return None
    if len(row) != len(header):
        return Reject(number, f"bad csv: {len(row)} cells, the header has {len(header)}", text)
    return maker.make(csv_record(header, row, maker), number, text)


def csv_record(header: list[str], row: list[str], maker: RecordMaker) -> dict[str, Any]:
    """A CSV row's record: its non-empty cells under their header names, each declared
    field's cell converted to its type (`convert_cell`), the others inferred."""
    cells = {name: cell for name, cell in zip(header, row, strict=True) if cell != ""}
    type_name = cells.get(maker.type_field) or maker.default_type
    schema = None
    if maker.validator is not None and type_name:
        schema = maker.validator.schema(type_name)
    declared: Mapping[str, Any] = schema.fields if schema is not None else {}
    record: dict[str, Any] = {}
    for name, cell in cells.items():
        if name == maker.type_field:
            record[name] = cell
        else:
            info = declared.get(name)
            record[name] = convert_cell(cell, info.type if info is not None else None)
    return record


# ------------------------------------------------------------------------------ opening


def guess_format(path: str) -> str:
    """The format a path's name suggests: `csv` for `*.csv` (`*.csv.gz`, ...), else
    `jsonl`."""
    from cep.io.compressed import plain_name

    return "csv" if plain_name(path).lower().endswith(".csv") else "jsonl"


@contextmanager
def open_source(path: str, format: str, offset: int = 0) -> Iterator[Any]:
    """Open `path` (`-` for standard input) to read as `format` from byte `offset`; a
    file is closed after; `.gz` and `.zst` files are read decompressed
    (`cep.io.compressed`, offsets then count decompressed bytes).

    Raises `SourceError` for a format this module cannot read or a file that cannot be
    opened.
    """
    from cep.io.compressed import Decompressed, codec_of

    if format not in FORMATS:
        raise SourceError(f"cannot read {format!r} input (formats: {', '.join(FORMATS)})")
    if path == "-":
        yield getattr(sys.stdin, "buffer", sys.stdin)
        return
    codec = codec_of(path)
    if codec is not None:
        with Decompressed(path, codec, offset) as decompressed:
            yield decompressed
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, once the caller is done
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from error
    with stream:
        if offset:
            stream.seek(offset)
        yield stream
