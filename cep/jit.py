"""numba for cep's compiled functions, its on-disk cache keyed by their whole source.

numba reuses a cached function's machine code while the file the function is defined in
is unchanged; it does not look at the modules whose functions it calls or inlines, or
whose constants it reads. The kernel calls functions of several modules (and reads
`cep.compile.programs`' operation codes), so a change to one of them alone would leave
stale machine code in use. cep's compiled modules (`COMPILED_MODULES`) therefore share a
cache folder named by a digest of all of their sources and of numba's version: a change
to any of them, or an upgrade, compiles afresh.

The folder is `$NUMBA_CACHE_DIR/cep-DIGEST` where the user set numba's, else
`numba-DIGEST` in cep's cache folder (`cep.cache`); with caching turned off, or no
folder that can be made, numba's own default (`__pycache__` beside the modules).
Folders of other digests unused for 30 days are removed.
Modules with compiled functions take `njit` from here.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba

from cep.cache import cache_root

__all__ = ["COMPILED_MODULES", "cache_folder", "njit", "remove_unused", "source_digest"]

PACKAGE = Path(__file__).resolve().parent
#: every module that defines compiled functions, or whose names compiled code reads (its
#: functions called or inlined, its constants frozen into machine code), by path in cep/
COMPILED_MODULES = (
    "jit.py",
    "compile/programs.py",
    "fast/evaluate.py",
    "fast/kept.py",
    "fast/kernel.py",
    "fast/order.py",
    "fast/partitions.py",
    "fast/reporttext.py",
    "fast/tables.py",
    "fast/timers.py",
    "fast/vector.py",
    "io/arrow.py",
    "io/jsonscan.py",
    "io/newlines.py",
    "runtime/budget.py",
)


def source_digest(package: Path = PACKAGE, modules: tuple[str, ...] = COMPILED_MODULES) -> str:
    """A digest of the compiled modules' sources and numba's version (missing modules
    count as empty)."""
    digest = hashlib.sha256(numba.__version__.encode())
    for name in modules:
        path = package / name
        digest.update(b"\0" + name.encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def cache_folder() -> Path | None:
    """The folder for numba's cache of cep's compiled functions; None for numba's
    default."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen:
        return Path(chosen) / f"cep-{source_digest()}"
    root = cache_root()
    if root is None:
        return None
    return root / f"numba-{source_digest()}"


#: a cache folder of other sources (an older cep, an edit) not used for this long is
#: removed when a process of this source starts
UNUSED_FOR_S = 30 * 24 * 3600


def _made_folder() -> str | None:
    folder = cache_folder()
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.utime(folder)  # (in use: see `remove_unused`)
    except OSError:
        return None  # (numba's default then)
    remove_unused(folder)
    return str(folder)


def remove_unused(folder: Path, now: float | None = None) -> None:
    """Remove the cache folders beside `folder` of other sources that no process has
    started with for `UNUSED_FOR_S` (each edit or upgrade leaves one behind, a few MB);
    anything that goes wrong leaves them."""
    ours = re.compile(re.escape(folder.name.rsplit("-", 1)[0]) + "-[0-9a-f]{20}")
    cutoff = (time.time() if now is None else now) - UNUSED_FOR_S
    try:
        for other in folder.parent.iterdir():
            if (
                other != folder
                and ours.fullmatch(other.name)
                and other.is_dir()
                and other.stat().st_mtime < cutoff
            ):
                shutil.rmtree(other, ignore_errors=True)
    except OSError:
        pass


_FOLDER = _made_folder()


def njit(function: Callable[..., Any] | None = None, **options: Any) -> Any:
    """`numba.njit`, with the compiled function's cache in cep's folder (numba picks a
    function's cache folder when it is defined; other numba users' stay theirs)."""
    if function is None:
        return lambda defined: njit(defined, **options)
    saved = numba.config.CACHE_DIR
    if _FOLDER is not None:
        numba.config.CACHE_DIR = _FOLDER
    try:
        return numba.njit(function, **options)
    finally:
        numba.config.CACHE_DIR = saved
