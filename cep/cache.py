"""Where cep keeps what it can make again: parsed rule files and compiled machine code.

The folder: `$CEP_CACHE_DIR` (an empty value turns cep's caches off), else
`$XDG_CACHE_HOME/cep`, else `~/.cache/cep`. It must be one only its user can write:
what is kept there is loaded as code or pickles.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path | None:
    """cep's cache folder; None when caching is turned off."""
    chosen = os.environ.get("CEP_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cep"
