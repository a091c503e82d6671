"""Parsed rule files kept on disk, so that running the same rules again skips the parse.

Parsing is most of what loading a rules file costs (rules/payments.cep: ~27 ms, where
reading a parse back takes ~3 ms). An entry is keyed by the file's path and text and by
the parser itself (every file of `cep.lang`: the grammar, the parser, the syntax tree's
classes), so an edited file or another version of cep never reads an old entry.
Entries are pickles: the folder must be one only its user can write, as for numba's
cache. Anything that goes wrong reading or writing an entry just means parsing again.

Entries go under `parsed/` in cep's cache folder (`cep.cache`).
"""

from __future__ import annotations

import functools
import os
import pickle
import tempfile
from importlib import resources
from pathlib import Path

from cep.cache import cache_root
from cep.digest import sha256
from cep.lang.parser import ParseResult, parse_source

_FORMAT = b"cep-parse-cache 1"


@functools.cache
def _parser_digest() -> bytes:
    """A digest of the parser's package (the grammar, the parser, the syntax tree's and
    diagnostics' classes, and the rest of `cep.lang`): a change to any makes new keys."""
    digest = sha256(_FORMAT)
    package = resources.files("cep.lang")
    for entry in sorted(package.iterdir(), key=lambda item: item.name):
        if entry.name.endswith((".py", ".lark")):
            digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    return digest.digest()


def _key(source: str, path: str) -> str:
    digest = sha256(_parser_digest())
    digest.update(path.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(source.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def parse_cached(source: str, path: str) -> ParseResult:
    """`parse_source(source, path)`, read back from the cache when it holds it, else
    parsed and kept there."""
    root = cache_root()  # (None: the cache is turned off)
    if root is None:
        return parse_source(source, path)
    folder = root / "parsed"
    entry = folder / f"{_key(source, path)}.pickle"
    try:
        with open(entry, "rb") as kept:
            result = pickle.load(kept)
        if isinstance(result, ParseResult) and result.source == source:
            return result
    except Exception:  # a missing or unreadable entry: parse again
        pass
    result = parse_source(source, path)
    _keep(folder, entry, result)
    return result


def _keep(folder: Path, entry: Path, result: ParseResult) -> None:
    """Write an entry whole (a temporary file renamed), or not at all."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".partial")
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, entry)
        except BaseException:
            os.unlink(temporary)
            raise
    except Exception:  # a cache that cannot be written is no cache
        pass
