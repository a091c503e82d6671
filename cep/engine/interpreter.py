"""The interpreter behind the engine interface: every rule, one event at a time, the
reference the other engines are held to (`cep.runtime.engine.MatchingEngine`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from cep.compile.rule import CompiledRule
from cep.engine.events import events_of, json_lines
from cep.engine.protocol import EngineOptions
from cep.engine.state import EngineState, RuleChanges, SnapshotBuffer
from cep.io.validation import Validator
from cep.runtime.engine import MatchingEngine, Stats
from cep.runtime.event import Event
from cep.runtime.gcpause import gc_paused
from cep.runtime.match import Match
from cep.runtime.matcher import RuleMatcher

if TYPE_CHECKING:
    from cep.io.batch import Batch


class InterpreterEngine:
    """Rules on the interpreter; a batch's events are rebuilt as the interpreter's
    events (`events_of`). Its `matchers` are there for tracing (`cep run --trace`)."""

    kind = "interpreter"

    def __init__(
        self,
        rules: list[CompiledRule],
        schemas: Mapping[str, Any],
        options: EngineOptions = EngineOptions(),  # noqa: B008 (frozen)
    ) -> None:
        self.options = options
        self.rules = rules
        self._schemas = schemas
        self._validator = Validator(schemas)
        self._snapshots = SnapshotBuffer()
        self._engine = MatchingEngine(
            rules,
            allowed_delay_ms=options.allowed_delay_ms,
            max_runs_per_key=options.max_runs_per_key,
            on_late=options.on_late,
            budget=options.rule_budget(len(rules)),
        )

    @property
    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    @property
    def matchers(self) -> list[RuleMatcher]:
        return self._engine.matchers

    @property
    def watermark(self) -> int:
        return self._engine.watermark

    @property
    def next_due(self) -> int | None:
        """When time next matters (`MatchingEngine.next_due`), for hosts that move time
        for many engines (`cep serve`)."""
        return self._engine.next_due

    def fields(self) -> dict[str, str]:
        return {}  # (it reads each event's record, not columns)

    def prepare(self, batch: Batch) -> None:
        pass

    def feed(self, batch: Batch) -> list[Match]:
        return self.feed_events(events_of(batch, self._validator))

    def feed_lines(self, batch: Batch) -> bytes:
        return json_lines(self.feed(batch))

    @gc_paused()  # (a rule with many runs makes objects by the million)
    def feed_events(self, events: Iterable[Event]) -> list[Match]:
        out: list[Match] = []
        push = self._engine.push
        for event in events:
            found = push(event)
            if found:
                out.extend(found)
        return out

    def push(self, event: Event) -> list[Match]:
        return self._engine.push(event)

    def advance_to(self, ts: int) -> list[Match]:
        return self._engine.advance_to(ts)

    def advance_lines(self, ts: int) -> bytes:
        return json_lines(self.advance_to(ts))

    def finish(self, *, flush: bool = False) -> list[Match]:
        return self._engine.finish(flush=flush)

    def finish_lines(self, *, flush: bool = False) -> bytes:
        return json_lines(self.finish(flush=flush))

    def stats(self) -> Stats:
        return self._engine.stats()

    def fingerprints(self) -> list[str]:
        """Each rule's fingerprint (`cep.compile.fingerprint`), in load order."""
        from cep.compile.fingerprint import rule_fingerprint

        return [rule_fingerprint(rule, self._schemas) for rule in self.rules]

    def snapshot(self) -> bytes | bytearray:
        from cep.runtime.snapshot import engine_state

        return self._snapshots.dump(engine_state(self._engine, self.fingerprints(), self.kind))

    def restore(self, state: EngineState) -> RuleChanges:
        from cep.runtime.snapshot import restore_engine

        return restore_engine(self._engine, state, self.fingerprints(), self._validator)
