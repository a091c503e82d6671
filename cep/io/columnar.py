"""Columnar sources: the events of a file as batches of NumPy columns, for the fast path.

The `read_*_batches` functions (`read_batches` picks one by format) yield `Batch`es
(`cep.io.batch`): for the events of about `batch_size` input lines (rows), their times
(int64 epoch ms), type codes, 1-based line numbers, one `Column` per field asked for, and
the rejects of those lines. They accept and reject exactly what the row readers of
`cep.io.sources` accept and reject, with the same typed values and reasons; each format's
reader says how (`cep.io.jsonl`, `cep.io.csvfile`, `cep.io.arrow`). Blocks of lines come
from `cep.io.lines`; what the readers share is `cep.io.batchreader`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any

from cep.io.arrow import ArrowReader
from cep.io.batch import Batch
from cep.io.columns import arrow_core
from cep.io.csvfile import CsvReader
from cep.io.jsonl import JsonlReader
from cep.io.lines import line_source
from cep.io.prefetch import read_ahead
from cep.io.sources import SourceError
from cep.io.validation import Validator
from cep.lang.types import Type

FORMATS = ("jsonl", "csv", "parquet", "arrow")
BATCH_SIZE = 65_536
#: Parquet and Arrow rows per batch: larger, since their columns come decoded (per-batch
#: costs weigh more; JSON lines' scanning is fastest on batches of `BATCH_SIZE`)
ARROW_BATCH_SIZE = 524_288

LineSource = IO[bytes] | IO[str] | Iterable[str] | Iterable[bytes] | str | os.PathLike[str]
Fields = Mapping[str, Type | str] | Iterable[tuple[str, Type | str]]


def read_jsonl_batches(
    source: LineSource,
    *,
    fields: Fields = (),
    type_field: str = "type",
    time_field: str = "ts",
    time_unit: str = "ms",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = BATCH_SIZE,
    start: tuple[int, int] = (0, 1),
    poll: float | None = None,
) -> Iterator[Batch]:
    """Batches of JSON Lines, one JSON object a line: each line an event (its type from
    `type_field`, else `default_type`; its time from `time_field`; validated where its
    type has a schema in `validator`) or a reject with its 1-based line number and
    reason, in columns. Blank lines are skipped.

    `source` is a path, a binary or text stream (standard input works: a batch ends early
    when the input pauses) or an iterable of lines. `fields` maps the names of the fields
    wanted as columns to their types (a `Type` or a kind name: int, float, bool, str,
    time, duration; anything else gives an object column).
    A file is read and decoded on a thread one batch ahead of the caller (`read_ahead`).
    `start` resumes a read: a path is read from that byte offset, lines numbered from
    that line; each batch's `position` says where the input stands after it. With
    `poll`, a live input (a pipe, a followed file: `cep.io.follow`) gives an empty batch
    whenever nothing arrived for `poll` seconds.
    """
    reader = JsonlReader(fields, type_field, time_field, default_type, validator, time_unit)
    yield from _line_batches(reader, source, batch_size, start, poll)


def read_csv_batches(
    source: LineSource,
    *,
    fields: Fields = (),
    type_field: str = "type",
    time_field: str = "ts",
    time_unit: str = "ms",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = BATCH_SIZE,
    start: tuple[int, int] = (0, 1),
    header: list[str] | None = None,
    poll: float | None = None,
) -> Iterator[Batch]:
    """Batches of CSV with a header row naming the fields: an empty cell is a missing
    field; a declared field's cell is read as its type (`convert_cell`), other cells as
    an int, else a float, else text (`infer_cell`); a row's line number is the line it
    starts on (a quoted cell may span lines). A batch may end a little before
    `batch_size` lines so that a record never straddles two batches. Otherwise as
    `read_jsonl_batches` (a file read ahead too); a resumed read (`start`) past the
    header row is given the `header`."""
    reader = CsvReader(fields, type_field, time_field, default_type, validator, time_unit)
    if header is not None:
        reader.use_header(header)
    yield from _line_batches(reader, source, batch_size, start, poll)


def _line_batches(
    reader: JsonlReader | CsvReader,
    source: Any,
    batch_size: int,
    start: tuple[int, int],
    poll: float | None = None,
) -> Iterator[Batch]:
    def batches() -> Iterator[Batch]:
        with _opened(source, start[0]) as opened:
            lines = line_source(opened, batch_size, start[1], start[0], poll)
            if isinstance(reader, CsvReader):
                reader.lines = lines
            while (block := lines.next_block()) is not None:
                batch = reader.batch(block)
                if isinstance(reader, CsvReader):
                    batch.record_of = reader.record_of
                batch.position = (lines.offset, lines.first)
                yield batch

    yield from read_ahead(batches()) if _a_file(source) else batches()


def _a_file(source: Any) -> bool:
    """Whether a source is a file (a path, or a stream that can seek): read ahead on a
    thread. A pipe or a terminal is read only when asked, so that nothing waits on it
    after its reader stops."""
    if isinstance(source, str | os.PathLike):
        if os.fspath(source) != "-":
            return True
        source = getattr(sys.stdin, "buffer", sys.stdin)
    seekable = getattr(source, "seekable", None)
    try:
        return bool(seekable is not None and seekable())
    except (OSError, ValueError):
        return False


def read_parquet_batches(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    fields: Fields = (),
    type_field: str = "type",
    time_field: str = "ts",
    time_unit: str = "ms",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = ARROW_BATCH_SIZE,
    prepare: Callable[[Batch], None] | None = None,
    skip: int = 0,
    first: int = 1,
) -> Iterator[Batch]:
    """Batches of a Parquet file: each row is the record of its non-null cells. Batches
    are decoded and put together on a thread one ahead of the caller (`read_ahead`; the
    reader alone adds to the run's `Dictionary`s, a caller only reads them); `prepare`,
    when given, is called there on each batch but the first (which the caller awaits):
    `ColumnarRun.prepare`. A resumed read skips the first `skip` rows (a file), or
    numbers rows from `first` (a stream resumed with what arrives); a batch's
    `position` is `(None, the next row number)`."""
    pa = arrow_core()
    reader = ArrowReader(fields, type_field, time_field, default_type, validator, time_unit)
    try:
        schema = pa.parquet.ParquetFile(source).schema_arrow
        strings = [f.name for f in schema if pa.types.is_string(f.type)]
        if hasattr(source, "seek"):
            source.seek(0)
        # (no pre-buffering: a local file's column chunks are read as they are decoded,
        # not first copied whole into fresh buffers by an I/O thread)
        parquet = pa.parquet.ParquetFile(source, read_dictionary=strings, pre_buffer=False)
    except (OSError, pa.ArrowException) as error:
        raise SourceError(f"cannot read {source}: {error}") from error
    pieces = parquet.iter_batches(batch_size=batch_size)
    yield from read_ahead(_rows_from(pieces, reader, skip, prepare, first))


def _rows_from(
    record_batches: Iterable[Any],
    reader: ArrowReader,
    skip: int,
    prepare: Callable[[Batch], None] | None,
    first: int,
) -> Iterator[Batch]:
    """Batches of Arrow record batches, the first `skip` rows left out, rows numbered
    on from `first`; `prepare` called on each but the first of the source."""
    for record_batch in record_batches:
        if skip:
            dropped = min(skip, record_batch.num_rows)
            skip -= dropped
            first += dropped
            record_batch = record_batch.slice(dropped)
            if not record_batch.num_rows:
                continue
        batch = reader.batch(record_batch, first)
        if prepare is not None and first > 1:
            prepare(batch)
        first += record_batch.num_rows
        batch.position = (None, first)
        yield batch


def read_arrow_batches(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    fields: Fields = (),
    type_field: str = "type",
    time_field: str = "ts",
    time_unit: str = "ms",
    default_type: str | None = None,
    validator: Validator | None = None,
    batch_size: int = ARROW_BATCH_SIZE,
    prepare: Callable[[Batch], None] | None = None,
    skip: int = 0,
    first: int = 1,
) -> Iterator[Batch]:
    """Batches of an Arrow IPC file or stream (a stream can be standard input), put
    together on a thread one ahead of the caller (`read_ahead`), `prepare` called there
    and `skip`, `first` and `position` as for `read_parquet_batches`."""
    pa = arrow_core()
    reader = ArrowReader(fields, type_field, time_field, default_type, validator, time_unit)
    with _opened(source) as opened:
        try:
            record_batches: Iterable[Any]
            seekable = getattr(opened, "seekable", None)
            if seekable is not None and seekable():
                try:
                    ipc = pa.ipc.open_file(opened)
                    record_batches = (ipc.get_batch(i) for i in range(ipc.num_record_batches))
                except pa.ArrowInvalid:
                    opened.seek(0)
                    record_batches = pa.ipc.open_stream(opened)
            else:
                record_batches = pa.ipc.open_stream(opened)
        except (OSError, pa.ArrowException) as error:
            raise SourceError(f"cannot read Arrow input: {error}") from error
        pieces = (
            piece
            for record_batch in record_batches
            for start in range(0, max(record_batch.num_rows, 1), batch_size)
            if (piece := record_batch.slice(start, batch_size)).num_rows
        )
        yield from read_ahead(_rows_from(pieces, reader, skip, prepare, first))


def read_batches(source: Any, format: str, **options: Any) -> Iterator[Batch]:
    """`read_jsonl_batches`, `read_csv_batches`, `read_parquet_batches` or
    `read_arrow_batches`, by `format`."""
    readers = {
        "jsonl": read_jsonl_batches,
        "csv": read_csv_batches,
        "parquet": read_parquet_batches,
        "arrow": read_arrow_batches,
    }
    if format not in readers:
        raise SourceError(f"cannot read {format!r} input (formats: {', '.join(FORMATS)})")
    return readers[format](source, **options)


@contextmanager
def _opened(source: Any, offset: int = 0) -> Iterator[Any]:
    """A path opened for binary reading from byte `offset` (`-`: standard input), else
    the source itself."""
    if not isinstance(source, str | os.PathLike):
        yield source
    elif os.fspath(source) == "-":
        yield getattr(sys.stdin, "buffer", sys.stdin)
    else:
        try:
            file = open(source, "rb")  # noqa: SIM115 (closed by the `with` below)
        except OSError as error:
            raise SourceError(f"cannot read {source}: {error.strerror or error}") from error
        with file:
            if offset:
                file.seek(offset)
            yield file
