"""cep: complex event processing rules, written, tested and run."""

from typing import Any

from cep.api import Engine, EventError, RuleError
from cep.engine import RuleChanges, RuleEngine, RuleStats, SnapshotError, Stats
from cep.runtime.event import Event
from cep.runtime.match import Match


def __getattr__(name: str) -> Any:
    """`__version__`, read from the installed distribution when asked for (reading it
    costs more than the rest of a short run's imports)."""
    if name != "__version__":
        raise AttributeError(f"module 'cep' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("cep-rules")
    except metadata.PackageNotFoundError:  # (run from a source tree that was not installed)
        return "0+unknown"


__all__ = [
    "Engine",
    "Event",
    "EventError",
    "Match",
    "RuleChanges",
    "RuleEngine",
    "RuleError",
    "RuleStats",
    "SnapshotError",
    "Stats",
    "__version__",
]
