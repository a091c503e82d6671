"""The host's side of checkpoints in `cep run`: when one is due, what goes in it, and
how a resume starts (docs/checkpoints.md).

A checkpoint is only taken at a batch boundary, after that batch's reports and rejects
are written and flushed, with the position the reader gave that batch (readers read
ahead on a thread: the position travels with the batch, never from the reader's state).
File outputs are flushed to disk before the checkpoint that counts their bytes."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

import cep
from cep.engine import RuleEngine
from cep.io.kafka import is_kafka
from cep.lang.values import parse_duration_option
from cep.service import checkpoint, positions
from cep.service.checkpoint import Checkpoint, CheckpointError, InputState

DEFAULT_EVERY = "10s"


@dataclass(frozen=True)
class Every:
    """How often to checkpoint: after `events` records read, or `seconds` of wall time."""

    events: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str) -> Every:
        """`100000` (records) or a duration such as `10s`; ValueError saying what is
        expected."""
        cleaned = text.strip()
        if cleaned.isdigit():
            if int(cleaned) < 1:
                raise ValueError("a count of events must be at least 1")
            return cls(events=int(cleaned))
        try:
            ms = parse_duration_option(cleaned)
        except ValueError:
            raise ValueError(
                f"expected a count of events (100000) or a duration (10s), not {text!r}"
            ) from None
        return cls(seconds=max(ms, 1) / 1000)


@dataclass
class Progress:
    """How far the run got: records read (events and rejects), the input's position
    after the last batch fed (`offset`, None where it has none; `line`, the next line
    or row number), and whether the engine finished."""

    records: int = 0
    offset: int | None = 0
    line: int = 1
    finished: bool = False
    fed: int = 0  # batches fed since the run (or resume) started
    #: the event types read so far (for the summary's types that never arrived)
    types: set[str] = field(default_factory=set)
    #: a Kafka input: each partition's first offset not yet fed
    partitions: dict[int, int] | None = None


@dataclass
class Checkpointer:
    """Takes the run's checkpoints into `folder`."""

    folder: str
    every: Every
    input_path: str
    format: str
    options: dict[str, Any]
    output_path: str
    output: IO[str] | None  # (None: standard output, not cut back)
    rejects_path: str | None
    rejects: IO[str] | None
    #: records read at the last checkpoint (a resume's: its checkpoint's)
    last_records: int = 0
    #: the identity of the file being read, where it may differ from the one its name
    #: points to (`--follow`, across rotation; None while it is not open)
    identity: Callable[[], tuple[int, int, int] | None] | None = None
    _last_time: float = field(default_factory=time.monotonic)
    _identity: tuple[int, int, int] | None = None

    def due(self, progress: Progress) -> bool:
        every = self.every
        if every.events is not None:
            return progress.records - self.last_records >= every.events
        assert every.seconds is not None
        return time.monotonic() - self._last_time >= every.seconds

    def take(self, engine: RuleEngine, progress: Progress, rejected: Counter[str]) -> None:
        """Write a checkpoint of the run as it stands (between batches)."""
        snapshot = engine.snapshot()
        for stream in (self.output, self.rejects):
            positions.sync(stream)
        state = Checkpoint(
            snapshot=snapshot,
            input=self._input(progress),
            output=positions.output_state(self.output_path, self.output),
            rejects=None
            if self.rejects_path is None
            else positions.output_state(self.rejects_path, self.rejects),
            records=progress.records,
            rejected=dict(rejected),
            options=self.options,
            finished=progress.finished,
            cep_version=cep.__version__,
            types=sorted(progress.types),
        )
        try:
            checkpoint.write(self.folder, state)
        except OSError as error:
            raise CheckpointError(
                f"cannot write a checkpoint in {self.folder}: {error.strerror or error}"
            ) from None
        self.last_records = progress.records
        self._last_time = time.monotonic()

    def _input(self, progress: Progress) -> InputState:
        if progress.partitions is not None or is_kafka(self.input_path):
            return InputState(self.input_path, self.format, progress.line,
                              partitions=dict(progress.partitions or {}))  # fmt: skip
        stdin = self.input_path == "-"
        offset = None if stdin else progress.offset  # (standard input cannot seek)
        state = InputState(self.input_path, self.format, progress.line, offset)
        reading = self.identity() if self.identity is not None else None
        if reading is not None:
            state.size, state.head, state.head_crc = reading
        elif not stdin:
            identity = self._identity
            if identity is None or identity[1] < positions.HEAD:
                identity = self._identity = positions.input_identity(self.input_path)
            else:  # (the head is known: only the size can change)
                identity = (positions.input_size(self.input_path), *identity[1:])
            state.size, state.head, state.head_crc = identity
        return state


def check_options(saved: Checkpoint, options: dict[str, Any]) -> None:
    """CheckpointError naming the first option that differs from the checkpoint's."""
    for name, value in options.items():
        before = saved.options.get(name)
        if before != value:
            flag = "--" + name.replace("_", "-")
            raise CheckpointError(
                f"it was taken with {flag} {_shown(before)}, not {_shown(value)}: "
                "resume with the same options"
            )


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def open_checkpoint(
    folder: str, input_path: str, format: str, options: dict[str, Any]
) -> Checkpoint | None:
    """The checkpoint to resume from, None to start afresh (DIR made if need be);
    CheckpointError when there is one that does not fit this run."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"cannot make the folder: {error.strerror or error}") from None
    checkpoint.remove_leftovers(folder)
    saved = checkpoint.read(folder)
    if saved is None:
        return None
    positions.check_input(saved.input, input_path, format)
    check_options(saved, options)
    return saved


def where(progress: Progress, input_path: str) -> str:
    """Where the input stands, in words: `line 1200 (byte 80512) of in.jsonl`."""
    if progress.partitions is not None:
        offsets = ", ".join(f"{p}: {o}" for p, o in sorted(progress.partitions.items()))
        return f"record {progress.line - 1} (offsets {{{offsets}}}) of {input_path}"
    line = progress.line - 1
    at = f"line {line}" if progress.offset is not None or input_path == "-" else f"row {line}"
    if progress.offset is not None and input_path != "-":
        at += f" (byte {progress.offset})"
    return f"{at} of {'standard input' if input_path == '-' else input_path}"
