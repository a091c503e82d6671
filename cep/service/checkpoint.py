"""A run's checkpoint: one file, `DIR/checkpoint`, holding the engine's snapshot and the
host's part (docs/checkpoints.md): where the input stands, how long each file output
is, the summary's counters and the options a resume must share.

The file is `MAGIC`, the format number, the lengths of the host's part and of the
snapshot, the XXH3-64 of the host's part, then the host's part (msgpack) and the
snapshot as it is, which its own header checksums: the snapshot is written from the
engine's buffer and read back in place, never copied into another body or checksummed
twice over. Format 1 (one msgpack body holding both, with a CRC-32) is still read. It
is replaced atomically (a temporary file in DIR, fsync, `os.replace`, fsync
of DIR), so a process killed at any moment, during a write included, leaves the last
complete checkpoint. Reading one checks everything before anything is used: a damaged,
truncated or foreign file gives a `CheckpointError` with a one-line reason."""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from typing import Any

import msgspec
import xxhash

from cep.engine.state import SnapshotError, intact_body

MAGIC = b"CEPCHKPT"
#: bumped whenever the layout or meaning changes; other formats are refused, but for
#: `_ONE_BODY`
FORMAT = 2
NAME = "checkpoint"
#: magic, format, the host's part's length, the snapshot's length, XXH3-64 of the host's
#: part
_HEAD = struct.Struct("<8sIQQQ")
#: the format before `FORMAT`: one msgpack body holding the snapshot too
_ONE_BODY = 1
_ONE_BODY_HEAD = struct.Struct("<8sIQI")  # magic, format, body length, CRC-32 of the body
_START = struct.Struct("<8sI")  # (what every format begins with)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, and why (one line, for standard error)."""


class InputState(msgspec.Struct, forbid_unknown_fields=True):
    """Where the input stands: `path` (as given, `-` for standard input), its identity
    (`size` when read, `head_crc` of its first `head` bytes) and position (`offset`: the
    byte after the last line fed, None for Parquet and Arrow rows and standard input;
    `line`: the next line or row number)."""

    path: str
    format: str
    line: int = 1
    offset: int | None = None
    size: int = 0
    head: int = 0
    head_crc: int = 0
    #: a Kafka input: each partition's first offset not yet fed (`cep.io.kafka`)
    partitions: dict[int, int] | None = None


class SinkState(msgspec.Struct, forbid_unknown_fields=True):
    """A Kafka output (`cep.service.kafka_sink`): the `run`'s id its messages carry,
    each partition's end offset once every message written before the checkpoint was
    acknowledged (what lies after them is read back on a resume), and the reports
    already in the topic that the run has yet to make again (`pending`: read back by a
    resume, their replay not reached when the checkpoint was taken)."""

    run: str
    ends: dict[int, int] = {}
    pending: list[bytes] = []


class OutputState(msgspec.Struct, forbid_unknown_fields=True):
    """A file output and its length at the checkpoint (`-`: not a file, not cut back)."""

    path: str
    length: int = 0
    #: a Kafka output's state (its length is 0)
    sink: SinkState | None = None


class Checkpoint(msgspec.Struct, forbid_unknown_fields=True):
    """Everything a resume needs besides the rules: the engine `snapshot` (bytes-like:
    a read checkpoint's is a view of the file's bytes), the input,
    the outputs (`output`, `rejects` or None), the summary's `records` and `rejected`
    counters, the `options` that must not change, and `finished`: taken at the end of
    the input, after the engine's `finish`."""

    snapshot: bytes
    input: InputState
    output: OutputState
    rejects: OutputState | None
    records: int
    rejected: dict[str, int]
    options: dict[str, Any]
    finished: bool = False
    cep_version: str = ""
    #: the event types read up to the checkpoint
    types: list[str] = []


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Checkpoint)


def encode(checkpoint: Checkpoint) -> tuple[bytes, bytes | bytearray | memoryview]:
    """A checkpoint's bytes in two parts, written one after the other: the header with
    the host's part, and the snapshot as the engine made it (not copied)."""
    host = _ENCODER.encode(msgspec.structs.replace(checkpoint, snapshot=b""))
    snapshot = checkpoint.snapshot
    head = _HEAD.pack(MAGIC, FORMAT, len(host), len(snapshot), xxhash.xxh3_64_intdigest(host))
    return head + host, snapshot


def decode(data: bytes | bytearray | memoryview) -> Checkpoint:
    """A checkpoint's contents, its snapshot a view of `data`; CheckpointError when the
    bytes are not a whole one (the snapshot's checksum checked too)."""
    data = memoryview(data).cast("B")
    if len(data) < _START.size or data[: len(MAGIC)] != MAGIC:
        raise CheckpointError("it is not a cep checkpoint")
    version = _START.unpack_from(data)[1]
    if version == _ONE_BODY:
        return _decode_one_body(data)
    if version != FORMAT:
        raise CheckpointError(
            f"it is of checkpoint format {version}; this cep reads formats {_ONE_BODY} "
            f"and {FORMAT} only"
        )
    if len(data) < _HEAD.size:
        raise CheckpointError("it is damaged (its header is cut short: truncated?)")
    _, _, host_length, snapshot_length, digest = _HEAD.unpack_from(data)
    length = host_length + snapshot_length
    if len(data) - _HEAD.size != length:
        raise CheckpointError(
            f"it is damaged ({len(data) - _HEAD.size} of {length} bytes: truncated?)"
        )
    host = data[_HEAD.size : _HEAD.size + host_length]
    if xxhash.xxh3_64_intdigest(host) != digest:
        raise CheckpointError("it is damaged (its checksum does not match)")
    snapshot = data[_HEAD.size + host_length :]
    try:
        intact_body(snapshot)
    except SnapshotError as error:
        raise CheckpointError(f"its snapshot cannot be read: {error}") from None
    try:
        found = _DECODER.decode(host)
    except msgspec.DecodeError as error:
        raise CheckpointError(f"it is damaged ({error})") from None
    return msgspec.structs.replace(found, snapshot=snapshot)  # type: ignore[arg-type]


def _decode_one_body(data: memoryview) -> Checkpoint:
    """A checkpoint of format 1: one body, the snapshot in it, with a CRC-32."""
    if len(data) < _ONE_BODY_HEAD.size:
        raise CheckpointError("it is damaged (its header is cut short: truncated?)")
    _, _, length, crc = _ONE_BODY_HEAD.unpack_from(data)
    body = data[_ONE_BODY_HEAD.size :]
    if len(body) != length:
        raise CheckpointError(f"it is damaged ({len(body)} of {length} bytes: truncated?)")
    if zlib.crc32(body) != crc:
        raise CheckpointError("it is damaged (its checksum does not match)")
    try:
        return _DECODER.decode(body)
    except msgspec.DecodeError as error:
        raise CheckpointError(f"it is damaged ({error})") from None


def path_in(folder: str) -> str:
    return os.path.join(folder, NAME)


def read(folder: str) -> Checkpoint | None:
    """The checkpoint in `folder`, None when there is none yet; CheckpointError when it
    cannot be read or used."""
    path = path_in(folder)
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CheckpointError(f"cannot read it: {error.strerror or error}") from None
    return decode(data)


def write(folder: str, checkpoint: Checkpoint) -> None:
    """Replace the checkpoint in `folder` atomically (created with the folder)."""
    os.makedirs(folder, exist_ok=True)
    parts = encode(checkpoint)
    temporary = os.path.join(folder, f".{NAME}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            for part in parts:
                file.write(part)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path_in(folder))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    sync_folder(folder)


def sync_folder(folder: str) -> None:
    """fsync a folder, so that a rename in it is on disk (where the system allows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def remove_leftovers(folder: str) -> None:
    """Temporary files of writes that a kill interrupted."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(f".{NAME}.") and name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, name))
