"""cep: complex event processing rules, written, tested and run.

The names below are imported when first asked for (`from cep import Engine` imports the
Python API then): the `cep` program imports only what its command needs, and every
module of the package runs this file first.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cep.api import Engine, EventError, RuleError
    from cep.engine import RuleChanges, RuleEngine, RuleStats, SnapshotError, Stats
    from cep.runtime.event import Event
    from cep.runtime.match import Match

#: each public name and the module it comes from
_HOMES = {
    "Engine": "cep.api",
    "EventError": "cep.api",
    "RuleError": "cep.api",
    "RuleChanges": "cep.engine",
    "RuleEngine": "cep.engine",
    "RuleStats": "cep.engine",
    "SnapshotError": "cep.engine",
    "Stats": "cep.engine",
    "Event": "cep.runtime.event",
    "Match": "cep.runtime.match",
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module; `__version__`, read from the installed
    distribution (reading it costs more than the rest of a short run's imports)."""
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(import_module(home), name)
        globals()[name] = value
        return value
    if name != "__version__":
        raise AttributeError(f"module 'cep' has no attribute {name!r}")
    from importlib import metadata

    try:
        return metadata.version("cep-rules")
    except metadata.PackageNotFoundError:  # (run from a source tree that was not installed)
        return "0+unknown"


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
