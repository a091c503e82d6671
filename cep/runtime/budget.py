"""The budget of live state (`--max-state`, docs/limits.md): what open runs and held
matches cost, engine-neutrally, and the budget's sizes.

Both engines count the same cost, so that both drop the same runs: per open run or held
match `RUN_COST`, plus `EVENT_COST` per event its history binds (counted for each run,
however an engine shares histories between runs). The budget is split evenly between
the rules; a rule whose cost goes over its share after an event drops its oldest runs
until it is at most 7/8 of it."""

from __future__ import annotations

import os
import re

#: the cost of an open run or a held match, besides its events
RUN_COST = 64
#: the cost of each event a run's or held match's history binds
EVENT_COST = 64
#: no budget (a rule's share when none is set)
NO_BUDGET = 2**62
#: the default budget's share of the machine's physical memory, and its ceiling
DEFAULT_SHARE = 8
DEFAULT_CEILING = 256 << 20
#: the smallest budget accepted
MINIMUM = 1 << 10

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1 << 10,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1 << 20,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1 << 30,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int:
    """A size such as `512MB`, `2GiB`, `1.5g` or `1000000` (bytes), in bytes; ValueError
    with a message for anything else."""
    found = _SIZE.fullmatch(text)
    unit = found.group(2).lower() if found else None
    if found is None or unit not in _UNITS:
        raise ValueError(
            f"not a size: {text!r} (expected a number of bytes with an optional unit, "
            "e.g. 512MB, 2GiB)"
        )
    size = int(float(found.group(1)) * _UNITS[unit])
    if size < MINIMUM:
        raise ValueError(f"{text!r} is too small (at least {MINIMUM} bytes)")
    if size >= NO_BUDGET:
        raise ValueError(f"{text!r} is too large")
    return size


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, when the system says."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_max_state() -> int:
    """The default budget: an eighth of physical memory, at most 256 MiB."""
    memory = physical_memory()
    if not memory or memory <= 0:
        return DEFAULT_CEILING
    return max(MINIMUM, min(DEFAULT_CEILING, memory // DEFAULT_SHARE))


#: the budget when none is given (`cep run`, `cep.Engine`, `EngineOptions`)
DEFAULT_MAX_STATE = default_max_state()


def rule_budget(max_state: int | None, rules: int) -> int:
    """One rule's share of a budget split between `rules` rules (None: no budget)."""
    if max_state is None:
        return NO_BUDGET
    return max(1, max_state // max(1, rules))


def format_size(size: int) -> str:
    """A size for people: `256 MiB`, `1.5 GiB`, `1000 B`."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"
