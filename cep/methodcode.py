"""The methods `dataclasses` writes, compiled once and kept between runs of the program.

`dataclasses` writes each class's `__init__`, `__repr__`, `__eq__` (and for a frozen
class `__setattr__`, `__delattr__`, `__hash__`) as source text and compiles it when the
class is defined. The hundred dataclasses a `cep run` imports cost it about 40 ms of CPU
that way, a seventh of a short run. The `cep` program (`cep.cli.console`) has
`dataclasses` run that text through `MethodCode.exec`: text compiled before comes as its
code object from a file in cep's cache folder (`cep.cache`), read at start and written
back at exit when something was added. A code object is what `compile` makes of its
text, so the classes are the same either way; the file is one per Python bytecode
version (its magic number heads it), and anything wrong with it only means compiling.
The file holds each code object marshalled on its own, made into one when its text is
first run: a command runs about half of the texts its file holds (the others are other
commands' classes), and making them all would cost a run some 3 ms.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import dataclasses
import marshal
import os
import sys
from importlib.util import MAGIC_NUMBER
from pathlib import Path
from types import CodeType
from typing import Any

from cep.cache import cache_root

#: texts kept at most: past it, only those the process used are written back (another
#: version of cep, or another Python library's classes, leave theirs behind)
MAX_TEXTS = 4000


class MethodCode:
    """Code objects (marshalled) by their source text, as read from `path` and added to
    since."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.codes = _read(path) if path is not None else {}
        self.used: set[str] = set()
        self.added = False

    def exec(self, source: Any, globals: Any = None, locals: Any = None, /) -> None:
        """`exec`, compiling a text only the first time it is seen (without the flags
        of this module's `__future__` imports, as `exec` compiles for `dataclasses`)."""
        if type(source) is str:
            kept = self.codes.get(source)
            code = _code(kept) if kept is not None else None
            if code is None:
                code = compile(source, "<string>", "exec", dont_inherit=True)
                self.codes[source] = marshal.dumps(code)
                self.added = True
            self.used.add(source)
            source = code
        builtins.exec(source, globals, locals)

    def write(self) -> None:
        """Write the texts back if any was added (at most `MAX_TEXTS`); a folder or
        file that cannot be written is left as it is."""
        if self.path is None or not self.added:
            return
        codes = self.codes
        if len(codes) > MAX_TEXTS:
            codes = {text: code for text, code in codes.items() if text in self.used}
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial.write_bytes(MAGIC_NUMBER + marshal.dumps(codes))
            os.replace(partial, self.path)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                partial.unlink()


def _code(kept: bytes) -> CodeType | None:
    """The code object marshalled in `kept`; None where it holds none."""
    try:
        code = marshal.loads(kept)
    except (EOFError, ValueError, TypeError):
        return None
    return code if type(code) is CodeType else None


def _read(path: Path) -> dict[str, bytes]:
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    if not data.startswith(MAGIC_NUMBER):
        return {}
    try:
        codes = marshal.loads(memoryview(data)[len(MAGIC_NUMBER) :])
    except (EOFError, ValueError, TypeError):
        return {}
    if not isinstance(codes, dict) or not all(
        type(text) is str and type(code) is bytes for text, code in codes.items()
    ):
        return {}
    return codes


def cache_path() -> Path | None:
    """The file of this Python's method code; None when caching is turned off."""
    root = cache_root()
    if root is None:
        return None
    # (each code object marshalled alone: a name of its own, beside the file of whole
    # code objects that an older cep sharing the folder reads and writes)
    return root / f"dataclass-methods-{sys.implementation.cache_tag}-each.marshal"


def keep_method_code() -> MethodCode | None:
    """Have `dataclasses` compile through a `MethodCode` of the cache file for the rest
    of the process (its additions written at exit); None where caching is off.
    `dataclasses` calls `exec` by its name, which finds the module's own before the
    builtin one (Python 3.11 to 3.13 alike)."""
    path = cache_path()
    if path is None:
        return None
    kept = MethodCode(path)
    dataclasses.exec = kept.exec  # type: ignore[attr-defined]
    atexit.register(kept.write)
    return kept
