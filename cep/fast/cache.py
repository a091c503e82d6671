"""Whether the fast path's machine code is in numba's on-disk cache yet.

numba compiles the kernel, the readers and the report writers the first time they run
(~20-60 s) and keeps the machine code on disk (`cep.jit`: a folder keyed by their
source); later runs load it in about a second. `cep run` says so when a run
is about to compile, so that a first run does not look stuck.
"""

from __future__ import annotations


def kernel_cached() -> bool:
    """Whether numba's cache holds machine code of the kernel for its source as it is
    now. numba's cache files are not a public interface: when they cannot be read as
    expected, the answer is True (say nothing rather than something wrong). A process
    on the native module (`cep.native`) has it."""
    from cep.jit import uses_native

    if uses_native():
        return True
    try:
        from cep.fast import kernel

        return bool(kernel.run_batch._cache._cache_file._load_index())
    except Exception:  # (any change in numba's internals)
        return True
