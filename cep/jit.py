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
Modules with compiled functions take `njit` from here. Where the native module of these
sources is built (`cep.native`), `njit` gives its functions; where it is not, functions
that turn the process to numba when first used. Either way numba is imported only when
a call needs it (`use_numba`): a run that calls no compiled function (the interpreter's,
its lines cut by NumPy: `machine_code_ready`) does without it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cep import native
from cep.cache import cache_root
from cep.digest import sha256

__all__ = [
    "COMPILED_MODULES",
    "cache_folder",
    "njit",
    "remove_unused",
    "source_digest",
    "use_numba",
    "uses_native",
]

PACKAGE = Path(__file__).resolve().parent
#: every module that defines compiled functions, or whose names compiled code reads (its
#: functions called or inlined, its constants frozen into machine code), by path in cep/
COMPILED_MODULES = (
    "jit.py",
    "compile/programs.py",
    "fast/evaluate.py",
    "fast/histories.py",
    "fast/kept.py",
    "fast/kernel.py",
    "fast/order.py",
    "fast/partitions.py",
    "fast/reporttext.py",
    "fast/tables.py",
    "fast/timers.py",
    "fast/vector.py",
    "io/celltexts.py",
    "io/codetake.py",
    "io/columnpass.py",
    "io/csvcells.py",
    "io/csvlinetexts.py",
    "io/csvscan.py",
    "io/interning.py",
    "io/jsonlayout.py",
    "io/jsonscan.py",
    "io/newlines.py",
    "runtime/budget.py",
)


def source_digest(package: Path = PACKAGE, modules: tuple[str, ...] = COMPILED_MODULES) -> str:
    """A digest of the compiled modules' sources and numba's version (missing modules
    count as empty)."""
    digest = sha256(numba_version().encode())
    for name in modules:
        path = package / name
        digest.update(b"\0" + name.encode() + b"\0")
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


def numba_version() -> str:
    """numba's version, without importing numba where its distribution's metadata
    folder (`numba-VERSION.dist-info`) is found on the path: a process on the native
    module finds its folder without numba."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        if "numba" in names:
            for name in names:
                if name.startswith("numba-") and name.endswith(".dist-info"):
                    return name.removeprefix("numba-").removesuffix(".dist-info")
    import numba

    return numba.__version__


@functools.cache
def _own_digest() -> str:
    """`source_digest` of the sources this process runs (read once: they are loaded)."""
    return source_digest()


def cache_folder() -> Path | None:
    """The folder for numba's cache of cep's compiled functions; None for numba's
    default."""
    chosen = os.environ.get("NUMBA_CACHE_DIR")
    if chosen:
        return Path(chosen) / f"cep-{_own_digest()}"
    root = cache_root()
    if root is None:
        return None
    return root / f"numba-{_own_digest()}"


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
#: the native module (`Native.absent` where none loads) until the process turns to numba
_NATIVE: native.Native | None = (
    native.load(None if _FOLDER is None else Path(_FOLDER)) or native.Native.absent()
)
#: every function `njit` gave a `NativeFunction`, in definition order
_NATIVE_FUNCTIONS: list[native.NativeFunction] = []


def uses_native() -> bool:
    """Whether this process runs on the native module (not on numba)."""
    native_module = _NATIVE
    return native_module is not None and native_module.module is not None


def machine_code_ready() -> bool:
    """Whether compiled functions are called without importing numba first: the native
    module is loaded, or numba already is. Where neither, code that has a NumPy way
    of its own for a small job takes that instead (the interpreter's runs)."""
    native_module = _NATIVE
    return native_module is None or native_module.module is not None


def njit(function: Callable[..., Any] | None = None, **options: Any) -> Any:
    """`numba.njit`, with the compiled function's cache in cep's folder (numba picks a
    function's cache folder when it is defined; other numba users' stay theirs); the
    native module's function (or one turning the process to numba) until the process
    turns to numba."""
    if function is None:
        return lambda defined: njit(defined, **options)
    if _NATIVE is not None:
        name = f"{function.__module__}.{function.__qualname__}"
        made = native.NativeFunction(function, options, _NATIVE.exports.get(name, {}), use_numba)
        _NATIVE_FUNCTIONS.append(made)
        return made
    return _numba_njit(function, **options)


def _numba_njit(function: Callable[..., Any], **options: Any) -> Any:
    import numba

    saved = numba.config.CACHE_DIR
    if _FOLDER is not None:
        numba.config.CACHE_DIR = _FOLDER
    try:
        return numba.njit(function, **options)
    finally:
        numba.config.CACHE_DIR = saved


def use_numba(missed: str | None = None, key: str | None = None) -> None:
    """Turn the process from the native module (or its absence) to numba: a dispatcher
    for every native function, put in place of it in every cep module (numba reads the
    functions a function calls from its module), so that numba compiles as without the
    module. `missed` names the function called with argument types (`key`) the module
    lacks."""
    global _NATIVE
    with native.SWITCH:
        if _NATIVE is None:
            return
        if missed is not None and key is not None:
            _NATIVE.missed(missed, key)
        made = {id(f): _numba_njit(f.py_func, **f.options) for f in _NATIVE_FUNCTIONS}
        for name, module in list(sys.modules.items()):
            if name == "cep" or name.startswith("cep."):
                for attribute, value in list(vars(module).items()):
                    if isinstance(value, native.NativeFunction) and id(value) in made:
                        setattr(module, attribute, made[id(value)])
        for function in _NATIVE_FUNCTIONS:  # (last: a thread seeing one sees all in place)
            function.dispatcher = made[id(function)]
        _NATIVE = None


class _Prefetch:
    """`prefetch_row(table, i)`: in compiled code, a hint (`llvm.prefetch`) that row `i`
    of a 2-D array is read soon, so that its cache line is fetched while other work goes
    on (a load would hold the processor up until it comes); called from Python, nothing.
    numba's intrinsic is made when a compiled function that calls it is first compiled
    (numba reads its type here, `_numba_type_`): numba is not imported before."""

    intrinsic: Any = None

    def __call__(self, table: Any, i: int) -> None:
        return None

    @property
    def _numba_type_(self) -> Any:
        from numba.core.registry import cpu_target

        if _Prefetch.intrinsic is None:
            _Prefetch.intrinsic = _prefetch_intrinsic()
            cpu_target.typing_context.refresh()
        return cpu_target.typing_context.resolve_value_type(_Prefetch.intrinsic)


def _prefetch_intrinsic() -> Any:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic  # type: ignore[misc]
    def prefetch_row(typingctx: Any, table: Any, i: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            array = context.make_array(table)(context, builder, args[0])
            zero = context.get_constant(types.intp, 0)
            at = cgutils.get_item_pointer(context, builder, table, array, [args[1], zero])
            byte = ir.IntType(8).as_pointer()
            word = ir.IntType(32)
            kind = ir.FunctionType(ir.VoidType(), [byte, word, word, word])
            function = cgutils.get_or_insert_function(builder.module, kind, "llvm.prefetch.p0i8")
            # (a read, kept in every cache level, of data)
            builder.call(function, [builder.bitcast(at, byte), word(0), word(3), word(1)])
            return context.get_dummy_value()

        return types.void(table, types.intp), codegen

    return prefetch_row


prefetch_row = _Prefetch()
