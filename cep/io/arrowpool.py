"""The memory pool pyarrow allocates from in the `cep` program: jemalloc where pyarrow
has it.

Decoding a file allocates fresh buffers for every batch and frees them a batch later.
pyarrow's default pool (mimalloc in most wheels) hands back fresh pages for much of
that, which the kernel zeroes (huge pages at a time); jemalloc reuses the freed ones, so
decoding a Parquet file costs about a third less CPU time and less peak memory. Only
the program asks for it (`use_jemalloc`): the pool is the whole process's, and a
process that imports cep as a library keeps the one it has. A pool named in
`ARROW_DEFAULT_MEMORY_POOL` is left as the user set it; a pyarrow built without
jemalloc keeps its default. The program also turns off pyarrow's own handling of
signals: `cep run` stops cleanly on SIGINT/SIGTERM (finish the batch, checkpoint,
exit 130/143), where pyarrow would turn a signal that comes during one of its reads
into an `ArrowCancelled` error.
"""

from __future__ import annotations

import os
from typing import Any

_wanted = False
_chosen = False


def use_jemalloc() -> None:
    """Have the readers make jemalloc pyarrow's pool when they first load it (the
    `cep` program's start: pyarrow itself is imported only by the runs that read
    with it)."""
    global _wanted
    _wanted = True


def choose_pool(pa: Any) -> None:
    """Make jemalloc pyarrow's default pool, once, before the readers allocate, and
    leave signals to the program's handlers, where the program asked for it."""
    global _chosen
    if _chosen or not _wanted:
        return
    _chosen = True
    pa.enable_signal_handlers(False)  # (the program's own handlers stop a run)
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, pa.ArrowException):  # (built without jemalloc)
        return
