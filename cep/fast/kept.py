"""Which of a batch's events the kernel kept, and what a rule keeps of them (numba).

The kernel stores an event (`E_TS`, `E_SEQ`) when it reaches a run, in the order it
processes the batch, and a history cell names the stored event it binds. After a batch,
the rule keeps the texts of the events its new cells bind, beside each one's type code,
time, line and sequence number (`TextTable.info`): these functions find those events
and their rows, and write that information, in one pass each.
"""

from __future__ import annotations

import numpy as np

from cep.jit import njit


@njit(cache=True, nogil=True, _nrt=False)
def _mark_distinct(cell_events: np.ndarray, low: int, seen: np.ndarray) -> int:
    count = 0
    for c in range(len(cell_events)):
        g = cell_events[c] - low
        if not seen[g]:
            seen[g] = True
            count += 1
    return count


@njit(cache=True, nogil=True)
def new_kept_events(
    cell_events: np.ndarray, event_seqs: np.ndarray, seqs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The stored events that history cells `cell_events` (made over one batch) bind,
    each once and in the order stored (`wanted`), and the position of each among the
    batch's processed events, whose sequence numbers are `seqs` in processing order
    (`positions`). Stored events are in processing order, so one walk finds them all."""
    n = len(cell_events)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    low = cell_events.min()
    seen = np.zeros(cell_events.max() - low + 1, np.bool_)
    wanted = np.empty(_mark_distinct(cell_events, low, seen), np.int64)
    k = 0
    for g in range(len(seen)):
        if seen[g]:
            wanted[k] = g + low
            k += 1
    positions = np.empty(len(wanted), np.int64)
    j = 0
    for k in range(len(wanted)):
        seq = event_seqs[wanted[k]]
        while j < len(seqs) and seqs[j] != seq:
            j += 1
        if j == len(seqs):
            raise ValueError("a kept event is not among the batch's events")
        positions[k] = j
    return wanted, positions


@njit(cache=True, nogil=True, _nrt=False)
def write_info(
    info: np.ndarray,
    at: np.ndarray,
    rows: np.ndarray,
    type_codes: np.ndarray,
    types: np.ndarray,
    ts: np.ndarray,
    lines: np.ndarray,
    seqs: np.ndarray,
) -> None:
    """Entry `at[k]` of `info` gets batch row `rows[k]`'s type code (`type_codes` by the
    batch's type index), time and line, and sequence number `seqs[k]`."""
    for k in range(len(at)):
        row = rows[k]
        entry = at[k]
        info[entry, 0] = type_codes[types[row]]
        info[entry, 1] = ts[row]
        info[entry, 2] = lines[row]
        info[entry, 3] = seqs[k]
