"""Whether a batch's events come in time order (numba: one pass, no temporaries)."""

from __future__ import annotations

import numpy as np

from cep.jit import njit


@njit(cache=True, nogil=True)
def in_time_order(ts: np.ndarray, since: int) -> bool:
    """Whether no time in `ts` is before `since` or before the one ahead of it."""
    latest = since
    for i in range(len(ts)):
        if ts[i] < latest:
            return False
        latest = ts[i]
    return True
