"""Building the native module (`cep.native`): cep's compiled functions compiled ahead of
time by numba's `pycc`, so that later runs start without numba.

`cep run` on the fast path, where numba's cache holds the kernel but no native module
of these sources is there, starts a detached process (`start_native_build`, under a
lock file in the cache folder, like the first run's background compile in
`cep.fast.warmup`). That process runs the rules on numba (from its cache) over made-up
events, the first records of the run's input and a made-up input of every format, so
that each function Python calls has been called with the argument types runs give it;
then compiles each of those functions for each of those types (`pycc`, with the
options numba compiles it with: `nogil`, `_nrt`), for this processor, into one
extension module, and writes its index (`cep.native.paths`) last. A function that
`pycc` cannot compile is left out (a call of it turns the process to numba); with no
C compiler, no module is made and runs go on with numba.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from cep import native
from cep.fast.warmup import lock_held, start_detached, take_lock
from cep.jit import COMPILED_MODULES, cache_folder

_LOCK = "native.lock"
#: environment of the building process: numba's, whatever module is there
_BUILD_ENV = {"CEP_NATIVE": "0"}


def _lock_path() -> Path | None:
    folder = cache_folder()
    return None if folder is None else folder / _LOCK


def building() -> bool:
    """Whether a native build is under way (its lock names a live process)."""
    return lock_held(_lock_path())


def native_wanted() -> bool:
    """Whether a run should start a native build: none loaded or present, native
    modules allowed, a cache folder and a C compiler there, none building."""
    from cep.jit import uses_native

    folder = cache_folder()
    if uses_native() or folder is None or not native.enabled():
        return False
    if native.paths(folder)[1].is_file() or building() or _builds(folder) >= MAX_BUILDS:
        return False
    return any_compiler()


#: builds of one module (its sources, Python, NumPy, processor) in a row that fail or
#: leave out a call that dropped the module before: past it, no run starts another
#: (else every run would). A build serving every such call starts the count again, so
#: that a module dropped for argument types met later is rebuilt as often as needed.
MAX_BUILDS = 3


def _builds(folder: Path) -> int:
    """How many builds of the module of `folder` have been started."""
    try:
        return int(_builds_path(folder).read_text() or 0)
    except (OSError, ValueError):
        return 0


def _builds_path(folder: Path) -> Path:
    return native.paths(folder)[0].with_suffix(".builds")


def any_compiler() -> bool:
    """Whether a C compiler is on the path (pycc links the module with one)."""
    import shutil

    return any(shutil.which(name) for name in ("cc", "gcc", "clang"))


def start_native_build(
    paths: list[str], rule_names: list[str] | None, fmt: str, type_field: str, time_field: str,
    sample: dict[str, Any] | None = None,
) -> bool:  # fmt: skip
    """Start the detached build where `native_wanted`; whether one was started."""
    if not native_wanted():
        return False
    job = {"paths": paths, "rules": rule_names, "format": fmt, "type_field": type_field,
           "time_field": time_field, "sample": sample}  # fmt: skip
    return start_detached("cep.fast.nativebuild", job, _BUILD_ENV)


def run_workload(job: dict[str, Any]) -> None:
    """The rules on numba over what runs give the compiled functions (the background
    compile's inputs: `cep.fast.warmup`)."""
    from cep.api import load_rules
    from cep.fast import warmup
    from cep.lang.checker import check_paths

    checked = check_paths(job["paths"])
    rules = load_rules(checked, job["rules"])
    warmup.compile_kernel(rules, checked.schemas)
    if job.get("sample"):
        with contextlib.suppress(Exception):
            warmup.run_sample(job, rules, checked.schemas)
    for fmt in warmup.FORMATS:
        with contextlib.suppress(Exception):  # (a format that fails: its readers left out)
            warmup.compile_readers({**job, "format": fmt})


def type_key(typ: Any) -> str | None:
    """A numba type as `cep.native.value_key` writes a value's; None for a type no
    native signature takes."""
    from numba.core import types

    if isinstance(typ, types.Array):
        dtype = str(typ.dtype)
        if dtype not in native.DTYPES:
            return None
        mutable = "w" if typ.mutable else "r"
        return f"{dtype}[{typ.ndim}{typ.layout}{mutable}{'a' if typ.aligned else 'u'}]"
    if isinstance(typ, types.Boolean):
        return "bool"
    if isinstance(typ, (types.Integer, types.Float)) and str(typ) in native.DTYPES:
        return str(typ)
    if isinstance(typ, types.BaseTuple) and not isinstance(typ, types.LiteralList):
        keys = [type_key(item) for item in typ.types]
        if None in keys:
            return None
        name = typ.instance_class.__name__ if isinstance(typ, types.BaseNamedTuple) else ""
        return f"{name}({','.join(keys)})"  # type: ignore[arg-type]
    if isinstance(typ, types.NoneType):
        return "none"
    return None


def load_cached(dispatcher: Any) -> None:
    """Every signature of `dispatcher` in numba's cache, loaded (what earlier runs on
    this machine called it with, a large input's functions included). numba's cache
    index is not a public interface: where it cannot be read, nothing is loaded."""
    try:
        index = dispatcher._cache._cache_file._load_index()
        magic = dispatcher.targetctx.codegen().magic_tuple()
        for key in index:
            if key[1] == magic:
                dispatcher.compile(key[0])
    except Exception:  # (numba's internals changed, or an entry no longer compiles)
        pass


def exported_functions() -> list[tuple[str, Any, str, Any]]:
    """(function name, dispatcher, argument types' key, signature) of every signature
    numba has compiled in this process or has in its cache, of each compiled function
    Python can call."""
    from numba.core.registry import CPUDispatcher

    from cep.jit import use_numba

    use_numba()  # (the functions as numba's dispatchers, whatever was called so far)
    found = []
    for path in COMPILED_MODULES:
        name = "cep." + path.removesuffix(".py").replace("/", ".")
        module = importlib.import_module(name)
        for value in vars(module).values():
            if not isinstance(value, CPUDispatcher) or value.py_func.__module__ != name:
                continue
            options = value.targetoptions
            if options.get("no_cpython_wrapper") or options.get("inline") == "always":
                continue
            load_cached(value)
            for result in value.overloads.values():
                signature = result.signature
                keys = [type_key(arg) for arg in signature.args]
                if None not in keys:
                    qualname = f"{name}.{value.py_func.__qualname__}"
                    found.append((qualname, value, ";".join(keys), signature))  # type: ignore[arg-type]
    return found


def build(folder: Path, only: set[str] | None = None) -> bool:
    """Compile what `exported_functions` finds (of the functions named in `only`, where
    given) into the native module of `folder`; whether it was made."""
    import tempfile
    import warnings

    from numba.core.compiler import Flags

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (pycc is deprecated; nothing else does this)
        import numba.pycc.compiler as pycc_compiler
        from numba.pycc import CC

    entries = [e for e in exported_functions() if only is None or e[0] in only]
    options = {id(dispatcher.py_func): dispatcher.targetoptions for _, dispatcher, _, _ in entries}
    failed: list[Any] = []
    dropped: list[tuple[str, Any, str, Any]] = []
    compile_extra = pycc_compiler.compile_extra

    def compile_as_numba(typing, target, function, args, return_type, flags, **kw):  # type: ignore[no-untyped-def]
        """One export, with the options numba compiles its function with."""
        chosen = options.get(id(function), {})
        own = Flags()
        own.no_compile = True
        own.nrt = bool(chosen.get("_nrt", True))
        own.release_gil = bool(chosen.get("nogil", False))
        try:
            return compile_extra(typing, target, function, args, return_type, own, **kw)
        except Exception:
            failed.append(function)
            raise

    library, index_path = native.paths(folder)
    pycc_compiler.compile_extra = compile_as_numba
    try:
        while entries:
            with tempfile.TemporaryDirectory(prefix="native-", dir=folder) as scratch:
                cc = CC(native.MODULE)
                cc.output_dir = scratch
                cc.target_cpu = "host"
                index: dict[str, list[list[str]]] = {}
                for n, (name, dispatcher, key, signature) in enumerate(entries):
                    export = f"f{n}"
                    cc.export(export, signature)(dispatcher.py_func)
                    index.setdefault(name, []).append([key, export])
                failed.clear()
                try:
                    cc.compile()
                except Exception:
                    if not failed:
                        return False  # (no compiler, or it failed: numba it stays)
                    dropped += [e for e in entries if e[1].py_func is failed[-1]]
                    entries = [e for e in entries if e[1].py_func is not failed[-1]]
                    continue
                os.replace(Path(scratch) / cc.output_file, library)
                left_out = [f"{name}|{key}" for name, _, key, _ in dropped]
                written = Path(scratch) / "index.json"
                written.write_text(
                    json.dumps({"functions": index, "left_out": left_out}), encoding="utf-8"
                )
                os.replace(written, index_path)
            return True
    finally:
        pycc_compiler.compile_extra = compile_extra
    return False


def build_in_background(job: dict[str, Any]) -> None:
    """The detached process's work, under the lock (another holding it: nothing);
    counted in `_builds` until a build serves every call that dropped the module."""
    path = _lock_path()
    if path is None or not take_lock(path):
        return
    try:
        folder = path.parent
        with contextlib.suppress(OSError):
            _builds_path(folder).write_text(str(_builds(folder) + 1))
        run_workload(job)
        if build(folder) and native.covers_missed(native.paths(folder)[1]):
            with contextlib.suppress(OSError):
                _builds_path(folder).write_text("0")
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    build_in_background(json.loads(sys.argv[1]))
