"""cep: complex event processing rules, written, tested and run."""

from importlib import metadata as _metadata

from cep.api import Engine, EventError, RuleError
from cep.engine import RuleChanges, RuleEngine, RuleStats, SnapshotError, Stats
from cep.runtime.event import Event
from cep.runtime.match import Match

try:
    __version__ = _metadata.version("cep-rules")
except _metadata.PackageNotFoundError:  # (run from a source tree that was not installed)
    __version__ = "0+unknown"

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
