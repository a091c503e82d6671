"""Events held back for an allowed delay, over batches of columns.

The columnar counterpart of `cep.runtime.ordering.EventOrderer`: an on-time event waits
as a row of the batch it came in until the watermark reaches its time; the rows released
together (from one batch or several) are matched as one batch, in time order, equal
times in arrival order (`cep.io.gather`).
"""

from __future__ import annotations

import numpy as np

from cep.io.batch import Batch
from cep.io.gather import gather_rows
from cep.runtime.event import Event


class _Waiting:
    """A batch's held rows, sorted by (time, arrival), and how many are released."""

    __slots__ = ("batch", "released", "rows", "seqs", "ts")

    def __init__(self, batch: Batch, rows: np.ndarray, seqs: np.ndarray) -> None:
        ts = batch.ts[rows]
        order = np.argsort(ts, kind="stable")  # rows (and seqs) rise: ties by arrival
        self.batch = batch
        self.rows = rows[order]
        self.seqs = seqs[order]
        self.ts = ts[order]
        self.released = 0


class HeldRows:
    """On-time events waiting for the watermark, as rows of their batches."""

    def __init__(self) -> None:
        self._waiting: list[_Waiting] = []
        #: events held when a snapshot was taken (a restore), in release order: no
        #: batch's rows, so released as events (`cep.fast.snapshot.with_restored`)
        self.restored: list[Event] = []

    def __len__(self) -> int:
        return sum(len(w.rows) - w.released for w in self._waiting) + len(self.restored)

    def waiting(self) -> list[tuple[Batch, np.ndarray, np.ndarray]]:
        """The rows not yet released: (batch, rows, sequence numbers) per batch."""
        return [(w.batch, w.rows[w.released :], w.seqs[w.released :]) for w in self._waiting]

    def release_restored(self, up_to: int) -> list[Event]:
        """The restored events at or before `up_to`, in order (taken out)."""
        restored = self.restored
        end = 0
        while end < len(restored) and restored[end].ts <= up_to:
            end += 1
        taken, self.restored = restored[:end], restored[end:]
        return taken

    def hold(self, batch: Batch, rows: np.ndarray, seqs: np.ndarray) -> None:
        """Hold rows `rows` of `batch` (rising), whose sequence numbers are `seqs`."""
        if len(rows):
            self._waiting.append(_Waiting(batch, rows, seqs))

    def release(self, up_to: int) -> tuple[Batch, np.ndarray] | None:
        """The held events at or before `up_to`, as one batch in (time, arrival) order,
        and their sequence numbers; None when there are none."""
        taken: list[tuple[Batch, np.ndarray]] = []
        seqs, times = [], []
        for waiting in self._waiting:
            end = int(np.searchsorted(waiting.ts, up_to, side="right"))
            if end > waiting.released:
                span = slice(waiting.released, end)
                taken.append((waiting.batch, waiting.rows[span]))
                seqs.append(waiting.seqs[span])
                times.append(waiting.ts[span])
                waiting.released = end
        self._waiting = [w for w in self._waiting if w.released < len(w.rows)]
        if not taken:
            return None
        batch, rows = taken[0]
        if len(taken) == 1 and len(rows) == len(batch) and (np.diff(rows) > 0).all():
            return batch, seqs[0]  # a whole batch, in its own order: matched as it is
        all_times = np.concatenate(times)
        order = None
        if len(all_times) > 1 and (np.diff(all_times) < 0).any():
            # earlier batches' parts come first, so a stable sort keeps arrival order
            order = np.argsort(all_times, kind="stable")
        all_seqs = np.concatenate(seqs)
        return gather_rows(taken, order), all_seqs if order is None else all_seqs[order]
