"""One engine interface (`RuleEngine`) and the engines behind it: the interpreter (the
reference), the fast path (numba over columns) and the mixed engine that runs each rule
on the one that can run it. Hosts (`cep run`, `cep test`, the Python API) choose one
with `open_engine` and then only use the interface.

The interface lives here rather than in `cep/runtime/` or `cep/fast/` because the
mixed engine needs both, and hosts should import neither. The fast path's modules
(numba) are imported only when an engine that needs them is opened."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from cep.compile.rule import CompiledRule
from cep.engine.interpreter import InterpreterEngine
from cep.engine.protocol import EngineOptions, LateHandler, RuleEngine
from cep.engine.state import RuleChanges, SnapshotError, load
from cep.runtime.engine import RuleStats, Stats

EngineName = Literal["auto", "fast", "interpreter"]
ENGINES: tuple[EngineName, ...] = ("auto", "fast", "interpreter")

__all__ = [
    "ENGINES",
    "EngineName",
    "EngineOptions",
    "InterpreterEngine",
    "LateHandler",
    "RuleChanges",
    "RuleEngine",
    "RuleStats",
    "SnapshotError",
    "Stats",
    "fast_refusals",
    "open_engine",
    "resume_engine",
]


def fast_refusals(rules: list[CompiledRule]) -> dict[str, str]:
    """Why each rule the fast path cannot run cannot (by rule name)."""
    from cep.fast.plan import fast_path_refusal  # (numba loads only when asked for)

    found = {rule.name: fast_path_refusal(rule) for rule in rules}
    return {name: why for name, why in found.items() if why is not None}


def open_engine(
    rules: list[CompiledRule],
    schemas: Mapping[str, Any],
    options: EngineOptions = EngineOptions(),  # noqa: B008 (frozen)
    engine: EngineName = "auto",
) -> RuleEngine:
    """The engine named: `interpreter`; `fast` (every rule must run compiled, else
    ValueError); `auto`, each rule where it can run: the fast path, the interpreter,
    or both merged (`MixedEngine`) when the rules go both ways."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "interpreter":
        return InterpreterEngine(rules, schemas, options)
    from cep.engine.fast import FastPathEngine

    refused = fast_refusals(rules)
    if engine == "fast" or not refused:
        return FastPathEngine(rules, schemas, options)
    if len(refused) == len(rules):
        return InterpreterEngine(rules, schemas, options)
    from cep.engine.mixed import MixedEngine

    return MixedEngine(rules, schemas, options)


def resume_engine(
    snapshot: bytes,
    rules: list[CompiledRule],
    schemas: Mapping[str, Any],
    options: EngineOptions = EngineOptions(),  # noqa: B008 (frozen)
    engine: EngineName = "auto",
) -> tuple[RuleEngine, RuleChanges]:
    """An engine (as `open_engine` opens it) that goes on from a snapshot taken by any
    engine, and what happened to each rule; SnapshotError for a damaged or foreign
    snapshot."""
    opened = open_engine(rules, schemas, options, engine)
    # (every engine reads an event's values only when it needs them)
    state = load(snapshot, raw_values=True)
    return opened, opened.restore(state)
