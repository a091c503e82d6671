"""cep's compiled functions as a native extension module, loaded without numba.

Importing numba takes about half a CPU-second, loading its cached machine code more:
most of a short run's time. The functions cep compiles are fixed (rules run as programs
that the kernel interprets), so they can also be compiled ahead of time: a background
process (`cep.fast.nativebuild`) has numba's `pycc` compile every function that Python
calls, with the argument types a run gives it, into one extension module in numba's
cache folder of these sources (`cep.jit`). Its name carries what the machine code
depends on besides: Python's and NumPy's versions and the processor's features.

A process finding that module (`load`) runs on it: `cep.jit.njit` gives each compiled
function a `NativeFunction`, which calls the module's machine code for arguments of
the types it was compiled for. A call with other types, or any use of a function as
numba's (its attributes, a call from numba code), turns the whole process to numba
(`cep.jit.use_numba`), as if the module were not there: the results are the same
either way; only the start-up differs. `CEP_NATIVE=0` turns the module off.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.machinery
import importlib.util
import json
import os
import platform
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cep.digest import sha256

#: the extension module's name (its `PyInit_` function's)
MODULE = "cep_native"
#: the dtypes a native signature may name (NumPy's names are numba's for these)
DTYPES = frozenset(
    ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float32", "float64")
)  # fmt: skip
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DTYPE_NAMES = {np.dtype(name): name for name in DTYPES}  # (faster than `dtype.name`)
#: held while the process turns to numba (`cep.jit.use_numba`)
SWITCH = threading.Lock()


def enabled() -> bool:
    """Whether native modules may be used and built (`CEP_NATIVE=0` says no)."""
    return os.environ.get("CEP_NATIVE", "1") != "0"


def _cpu() -> str:
    """The processor's model and features (the module is compiled for this one)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            lines = [line for line in info if line.startswith(("model name", "flags"))]
        seen = "".join(dict.fromkeys(lines))
    except OSError:
        seen = platform.processor()
    return platform.machine() + ":" + seen


@functools.cache
def module_stem() -> str:
    """The file name (less suffix) of the native module for this Python, NumPy and
    processor, in the folder of these sources."""
    key = f"{sys.implementation.cache_tag}|{sys.version}|{np.__version__}|{_cpu()}"
    return "native-" + sha256(key.encode()).hexdigest()[:16]


def paths(folder: Path) -> tuple[Path, Path]:
    """The module's file and its index (which export serves which function and
    argument types); the index is written last, so a module with one is complete."""
    stem = folder / module_stem()
    return stem.with_suffix(".so"), stem.with_suffix(".json")


class Native:
    """A loaded native module and its index: for each function (`module.qualname`),
    the argument types it was compiled for, with the export serving each."""

    def __init__(self, module: Any, index: dict[str, Any], index_path: Path | None) -> None:
        #: the extension module; None for `absent`
        self.module = module
        self.exports = {
            name: {key: getattr(module, export) for key, export in entries}
            for name, entries in index["functions"].items()
        }
        #: `name|key` of the signatures the build could not compile
        self.left_out = frozenset(index.get("left_out", ()))
        self.index_path = index_path

    @classmethod
    def absent(cls) -> Native:
        """No module: every function turns the process to numba when first used, so
        that numba is imported only by a process that calls compiled code."""
        return cls(None, {"functions": {}}, None)

    def missed(self, name: str, key: str) -> None:
        """A call of `name` with argument types the module lacks (`key`): the module is
        dropped (its index removed), so that the next run builds it again, with what
        numba then has in its cache; unless the build could not compile those."""
        if self.index_path is not None and f"{name}|{key}" not in self.left_out:
            with contextlib.suppress(OSError):
                self.index_path.unlink()
            with contextlib.suppress(OSError), missed_path(self.index_path).open("a") as seen:
                seen.write(f"{name}|{key}\n")


def missed_path(index_path: Path) -> Path:
    """The file of the calls (`name|key`) that dropped the module of `index_path` since
    its last build: a build that covers them all may be followed by others."""
    return index_path.with_suffix(".missed")


def covers_missed(index_path: Path) -> bool:
    """Whether the module indexed at `index_path` serves (or could not compile) every
    call recorded as missed; the record is then cleared."""
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        served = {f"{name}|{key}" for name, entries in index["functions"].items()
                  for key, _ in entries} | set(index.get("left_out", ()))  # fmt: skip
        missed = missed_path(index_path).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return index_path.is_file()
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not served.issuperset(missed):
        return False
    with contextlib.suppress(OSError):
        missed_path(index_path).unlink()
    return True


def load(folder: Path | None) -> Native | None:
    """The native module of `folder` where one is complete and loads; else None."""
    if folder is None or not enabled():
        return None
    library, index_path = paths(folder)
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        loader = importlib.machinery.ExtensionFileLoader(MODULE, str(library))
        spec = importlib.util.spec_from_file_location(MODULE, library, loader=loader)
        if spec is None:
            return None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return Native(module, index, index_path)
    except (OSError, ImportError, ValueError, KeyError, AttributeError):
        return None


def value_key(value: Any) -> str | None:
    """The type numba would give `value`, as `type_key` writes it; None for a value no
    native signature takes."""
    if isinstance(value, np.ndarray):
        name = _DTYPE_NAMES.get(value.dtype)
        if name is None:
            return None
        flags = value.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        mutable = "w" if flags.writeable else "r"
        return f"{name}[{value.ndim}{layout}{mutable}{'a' if flags.aligned else 'u'}]"
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, int):
        return "int64" if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float):
        return "float64"
    if isinstance(value, (np.integer, np.floating)):
        return _DTYPE_NAMES.get(value.dtype)
    if isinstance(value, tuple):
        keys = [value_key(item) for item in value]
        if None in keys:
            return None
        fields = getattr(type(value), "_fields", None)
        name = type(value).__name__ if fields is not None else ""
        return f"{name}({','.join(keys)})"  # type: ignore[arg-type]
    if value is None:
        return "none"
    return None


def args_key(args: tuple) -> str | None:
    keys = [value_key(arg) for arg in args]
    return None if None in keys else ";".join(keys)  # type: ignore[arg-type]


class NativeFunction:
    """A compiled function as the native module serves it: its machine code for the
    argument types it was compiled for, numba's dispatcher (made on first need,
    `cep.jit.use_numba`) for anything else."""

    def __init__(
        self,
        py_func: Callable[..., Any],
        options: dict[str, Any],
        exports: dict[str, Any],
        use_numba: Callable[[str | None, str | None], None],
    ) -> None:
        self.py_func = py_func
        self.options = options
        self.exports = exports
        self.dispatcher: Any = None
        self._use_numba = use_numba
        self.__name__ = py_func.__name__
        self.__qualname__ = py_func.__qualname__
        self.__module__ = py_func.__module__
        self.__doc__ = py_func.__doc__
        self.__wrapped__ = py_func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.dispatcher is None:
            key = None if kwargs else args_key(args)
            native = self.exports.get(key) if key is not None else None
            if native is not None:
                return native(*args)
            self._use_numba(f"{self.__module__}.{self.__qualname__}", key)
        return self.dispatcher(*args, **kwargs)

    def numba(self) -> Any:
        """numba's dispatcher of this function (the process turns to numba)."""
        if self.dispatcher is None:
            self._use_numba(None, None)
        return self.dispatcher

    @property
    def _numba_type_(self) -> Any:  # (numba code calling this function)
        import numba

        return numba.types.Dispatcher(self.numba())

    def __getattr__(self, name: str) -> Any:  # (numba's attributes: `_cache`, ...)
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.numba(), name)

    def __repr__(self) -> str:
        return f"<native function {self.__module__}.{self.__qualname__}>"
