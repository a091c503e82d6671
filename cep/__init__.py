"""cep: complex event processing rules, written, tested and run."""

from cep.api import Engine, EventError, RuleError
from cep.engine import RuleChanges, RuleEngine, RuleStats, SnapshotError, Stats
from cep.runtime.event import Event
from cep.runtime.match import Match

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
]
