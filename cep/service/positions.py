"""Positions outside the engine: which input a checkpoint was taken on and where in it,
and the file outputs, cut back on a resume to the length a checkpoint saw.

An input file is recognised by its size (it may only have grown) and a CRC-32 of its
first bytes (up to `HEAD` of them): a file replaced by another under the same name is
refused rather than read from a position that means nothing in it."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import zlib
from typing import IO, Any

from cep.service.checkpoint import CheckpointError, InputState, OutputState

HEAD = 65_536


def input_identity(path: str) -> tuple[int, int, int]:
    """A file's size, and the length and CRC-32 of its head."""
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        head = file.read(min(size, HEAD))
    return size, len(head), zlib.crc32(head)


def same_path(a: str, b: str) -> bool:
    if a.startswith("kafka://") and b.startswith("kafka://"):
        from cep.io.kafka import same_topic

        return same_topic(a, b)
    if a == "-" or b == "-" or "://" in a or "://" in b:  # (standard input, a URL)
        return a == b
    return os.path.abspath(a) == os.path.abspath(b)


def check_input(saved: InputState, path: str, format: str) -> None:
    """CheckpointError unless `path` is the input the checkpoint was taken on (or it,
    grown), in the same format."""
    if not same_path(saved.path, path):
        raise CheckpointError(f"it was taken on another input ({saved.path}), not {path}")
    if saved.format != format:
        raise CheckpointError(f"it was taken on {saved.format} input, not {format}")
    if path == "-" or path.startswith("kafka://"):  # (Kafka: its offsets say where)
        return
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(saved.head)
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from None
    if size < saved.size or len(head) < saved.head or zlib.crc32(head) != saved.head_crc:
        raise CheckpointError(
            f"{path} is not the file it was taken on (it was replaced or cut short)"
        )


def csv_header(path: str) -> list[str] | None:
    """A CSV file's header row: its first row that is not blank (as the reader takes it),
    for a read resumed past it."""
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        for row in csv.reader(file):
            if len(row) > 1 or (row and row[0].strip()):
                return row
    return None


def open_output(path: str, saved: OutputState | None) -> IO[str]:
    """A file output opened for writing: new (truncated), or on a resume cut back to
    the length it had at the checkpoint and written on from there."""
    if saved is None:
        return open(path, "w", encoding="utf-8")
    if not same_path(saved.path, path):
        raise CheckpointError(f"it was taken writing to {saved.path}, not {path}")
    try:
        size = os.path.getsize(path)
    except OSError as error:
        raise CheckpointError(f"cannot resume {path}: {error.strerror or error}") from None
    if size < saved.length:
        raise CheckpointError(
            f"{path} is shorter ({size} bytes) than at the checkpoint ({saved.length})"
        )
    file = open(path, "r+", encoding="utf-8", newline="")  # noqa: SIM115 (the caller's)
    file.truncate(saved.length)
    file.seek(0, io.SEEK_END)
    return file


def output_state(path: str, stream: Any) -> OutputState:
    """What a checkpoint records of an output: a file's length, or the state of a sink
    that is not a file (`checkpoint_state`, every line written to it acknowledged)."""
    state = getattr(stream, "checkpoint_state", None)
    if state is not None:
        return OutputState(path, 0, sink=state())
    return OutputState(path, output_length(stream))


def output_length(stream: IO[str] | None) -> int:
    """How long a file output is, everything written so far flushed first."""
    if stream is None:
        return 0
    stream.flush()
    if not hasattr(stream, "fileno"):  # (a sink that is not a file: flushed, not cut)
        return 0
    return os.fstat(stream.fileno()).st_size


def sync(stream: IO[str] | None) -> None:
    """Flush a file output to the disk before a checkpoint that counts its bytes, so that
    even a machine that goes down (not only a killed process) leaves outputs at least as
    long as the checkpoint says (the data and the size: `fdatasync`)."""
    if stream is None:
        return
    stream.flush()  # (a sink that is not a file, a webhook or Kafka: every report settled)
    if not hasattr(stream, "fileno"):
        return
    with contextlib.suppress(OSError):
        getattr(os, "fdatasync", os.fsync)(stream.fileno())


def input_size(path: str) -> int:
    return os.path.getsize(path)
