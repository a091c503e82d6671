"""The main loop of `cep run`: batches into the engine, reports out, checkpoints between
batches, a clean stop on a signal.

The loop is a generator of report bytes: the host writes each item before it asks for
the next, so the code after a `yield` runs with that batch's reports written; that is
where a checkpoint may be taken (the checkpointer flushes and fsyncs the outputs)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cep.engine import RuleEngine
from cep.io.rejects import RejectsWriter
from cep.io.sources import Reject
from cep.service.host import Checkpointer, Progress, where
from cep.service.idle import IdleClock
from cep.service.stopping import Stop, StopSignals


@dataclass
class Feed:
    """One run's loop. `batches` opens the input for an engine (read on from
    `progress`); `lates` is where the engine's `on_late` puts late events; `at_end`
    runs after `finish` (tracers)."""

    engine: RuleEngine
    batches: Callable[[RuleEngine], AbstractContextManager[Iterable[Any]]]
    rejects: RejectsWriter
    lates: list[Reject]
    progress: Progress
    keeper: Checkpointer | None
    input_path: str
    flush: bool = False
    at_end: Callable[[], None] = lambda: None
    signals: StopSignals = field(default_factory=StopSignals)
    #: `--watch`: called between batches with the engine; gives the engine to go on
    #: with (and whether the input must be read again for it) when the rules changed
    reload: Callable[[RuleEngine], tuple[RuleEngine, bool] | None] | None = None
    #: the line saying where the run stopped, after a stop
    stop_line: str = ""
    #: `--idle`: moves the watermark with the wall clock on a quiet feed (whose reader
    #: hands on empty batches while nothing arrives)
    idle: IdleClock | None = None

    def reports(self) -> Iterator[bytes | bytearray]:
        """The reports, batch by batch, then those of the end; `Stop` at a stop."""
        progress, keeper, signals = self.progress, self.keeper, self.signals
        reading = True
        if self.idle is not None:
            self.idle.start(self.engine.watermark)
        while reading:
            reading = False
            with self.batches(self.engine) as batches:
                found = iter(batches)
                while True:
                    with signals.waiting():
                        batch = next(found, None)
                    if batch is None:
                        break
                    if self.reload is not None and self._reloaded():
                        reading = True  # (the new rules read other fields: read again
                        break  # from the position of the last batch fed)
                    lines: bytes | bytearray = b""
                    if len(batch) or batch.rejects:  # (else a quiet live input's)
                        progress.records += len(batch) + len(batch.rejects)
                        if len(batch):
                            progress.types.update(types_present(batch))
                        lines = self.engine.feed_lines(batch)
                        write_rejects(self.rejects, batch.rejects, self.lates)
                        progress.fed += 1
                    if self.idle is not None:
                        self.idle.arrived_batch(batch)
                        lines = lines + self.idle.advance(self.engine)
                    yield lines  # (written when the next is asked for)
                    if batch.position is not None:  # (a Kafka batch's: its offsets too)
                        progress.offset, progress.line, *partitions = batch.position
                        if partitions:
                            progress.partitions = partitions[0]
                    if signals.requested:
                        raise Stop
                    if keeper is not None and keeper.due(progress):
                        keeper.take(self.engine, progress, self.rejects.counts)
        if signals.requested:
            raise Stop
        if progress.finished and not progress.fed:
            return  # (a finished run resumed on an input with nothing more)
        yield self.engine.finish_lines(flush=self.flush)
        progress.finished = True
        self.at_end()
        if keeper is not None:
            keeper.take(self.engine, progress, self.rejects.counts)

    def _reloaded(self) -> bool:
        """Rules changed (`--watch`): go on with the engine `reload` gives, which holds
        the old one's state; True when the input must be read again for it."""
        assert self.reload is not None
        found = self.reload(self.engine)
        if found is None:
            return False
        self.engine, read_again = found
        return read_again

    def stopped(self) -> None:
        """A clean stop: the checkpoint of what was fed, and the line saying where the run
        stopped and how to resume (`stop_line`)."""
        if self.keeper is not None:
            self.keeper.take(self.engine, self.progress, self.rejects.counts)
            how = f"checkpoint in {self.keeper.folder}: run the same command to resume"
        else:
            how = "no --checkpoint: a run again starts over"
        sig = self.signals.signal
        name = sig.name if sig is not None else "a signal"
        self.stop_line = (
            f"cep run: stopped by {name} after {where(self.progress, self.input_path)}; {how}"
        )

    @property
    def exit_status(self) -> int | None:
        """130 or 143 after a stop, else None."""
        return self.signals.exit_status if self.stop_line else None


def types_present(batch: Any) -> list[str]:
    """The names of the event types a non-empty batch holds (most batches hold one: its
    codes' least and greatest tell, with no count per code)."""
    codes = batch.type
    low, high = int(codes.min()), int(codes.max())
    values = batch.types.values
    if low == high:
        return [values[low]]
    return [values[c] for c in np.flatnonzero(np.bincount(codes))]


def write_rejects(writer: RejectsWriter, found: list[Reject], lates: list[Reject]) -> None:
    """A batch's rejects, bad lines and late events together, in line order."""
    for reject in sorted([*found, *lates], key=lambda r: r.line):
        writer.write(reject)
    lates.clear()
