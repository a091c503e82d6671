"""The mixed engine: each rule on the engine that can run it, the fast path where it
can (`fast_path_refusal`), else the interpreter, and their reports merged by release
key into the order one interpreter would release them in (cep/fast/kernel.py).

The interpreter's rules take the events the fast path matched: a batch's events in
order, or with an allowed delay the events the fast path held back and released, in
the order released, with their sequence numbers (`FastPathEngine.taken`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from cep.compile.fingerprint import rule_fingerprint
from cep.compile.rule import CompiledRule
from cep.engine.events import events_of, json_lines
from cep.engine.fast import FastPathEngine, Keyed
from cep.engine.protocol import EngineOptions
from cep.engine.state import EngineState, RuleChanges, SnapshotBuffer, array, ints, match_rules
from cep.engine.state import events_of as events_of_table
from cep.fast.plan import fast_path_refusal
from cep.io.validation import Validator
from cep.runtime.engine import KeyedEngine, Stats
from cep.runtime.event import Event
from cep.runtime.gcpause import gc_paused
from cep.runtime.match import Match
from cep.runtime.ordering import NO_TIME

if TYPE_CHECKING:
    from cep.io.batch import Batch

_KEY = itemgetter(0)


class MixedEngine:
    """Rules split between the fast path and the interpreter, one feed for both."""

    kind = "mixed"

    def __init__(
        self,
        rules: list[CompiledRule],
        schemas: Mapping[str, Any],
        options: EngineOptions = EngineOptions(),  # noqa: B008 (frozen)
    ) -> None:
        self.options = options
        self.rules = rules
        refusals = [fast_path_refusal(rule) for rule in rules]
        compiled = [i for i, why in enumerate(refusals) if why is None]
        interpreted = [i for i, why in enumerate(refusals) if why is not None]
        self.fast = FastPathEngine(
            [rules[i] for i in compiled],
            schemas,
            options,
            indexes=compiled,
            hold_all=bool(interpreted),  # (the interpreted rules take the events released)
            budget=options.rule_budget(len(rules)),
        )
        self.interpreter = KeyedEngine(
            [rules[i] for i in interpreted],
            interpreted,
            max_runs_per_key=options.max_runs_per_key,
            budget=options.rule_budget(len(rules)),
        )
        self._validator = Validator(schemas)
        self._snapshots = SnapshotBuffer()
        self._schemas = schemas

    @property
    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    @property
    def watermark(self) -> int:
        return self.fast.watermark

    def fields(self) -> dict[str, str]:
        return self.fast.fields()

    def prepare(self, batch: Batch) -> None:
        self.fast.prepare(batch)

    def feed(self, batch: Batch) -> list[Match]:
        self._matches()
        return _reports(self.feed_keyed(batch))

    def feed_lines(self, batch: Batch) -> bytes:
        return json_lines(_reports(self.feed_keyed(batch)))

    def feed_keyed(self, batch: Batch) -> Keyed:
        """`feed`, each report with its release key."""
        keyed = self.fast.feed_keyed(batch)
        taken = self.fast.taken()
        if taken is None:  # (no allowed delay: the batch's events, numbered as the fast
            # path numbered them, which after a restore may not follow the last one pushed)
            push = self.interpreter.push_keyed
            first = self.fast.next_seq - len(batch)
            for i, event in enumerate(events_of(batch, self._validator)):
                keyed.extend(push(event, first + i))
        else:
            self._take(taken, keyed)
        return _sorted(keyed)

    def feed_events(self, events: Iterable[Event]) -> list[Match]:
        self._matches()
        keyed = self.fast.feed_events_keyed(events)
        self._take(self.fast.taken() or [], keyed)
        return _reports(_sorted(keyed))

    def push(self, event: Event) -> list[Match]:
        return self.feed_events((event,))

    def advance_to(self, ts: int) -> list[Match]:
        self._matches()
        return _reports(self._advance_keyed(ts))

    def advance_lines(self, ts: int) -> bytes:
        return json_lines(_reports(self._advance_keyed(ts)))

    def _advance_keyed(self, ts: int) -> Keyed:
        keyed = self.fast.advance_keyed(ts)
        self._take(self.fast.taken() or [], keyed, fire=False)
        self.interpreter.advance_keyed(ts, keyed)
        self.interpreter.fire_keyed(self.fast.watermark, keyed)
        return _sorted(keyed)

    def finish(self, *, flush: bool = False) -> list[Match]:
        self._matches()
        return _reports(self._finish_keyed(flush))

    def finish_lines(self, *, flush: bool = False) -> bytes:
        return json_lines(_reports(self._finish_keyed(flush)))

    def _finish_keyed(self, flush: bool) -> Keyed:
        keyed = self.fast.finish_keyed(flush=flush)
        self._take(self.fast.taken() or [], keyed, fire=False)
        keyed.extend(self.interpreter.finish_keyed(flush=flush))
        return _sorted(keyed)

    def _take(self, events: list[Event], keyed: Keyed, *, fire: bool = True) -> None:
        """The events the fast path released, matched by the interpreter's rules in the
        order released with their numbers; then the windows that close by the fast
        path's watermark closed."""
        push = self.interpreter.push_keyed
        for event in events:
            keyed.extend(push(event, event.seq))
        if fire:
            self.interpreter.fire_keyed(self.fast.watermark, keyed)

    def _matches(self) -> None:
        if self.options.json_lines:
            raise TypeError("this engine was made for JSON lines: use feed_lines")

    def fingerprints(self) -> list[str]:
        """Each rule's fingerprint (`cep.compile.fingerprint`), in load order."""
        return [rule_fingerprint(rule, self._schemas) for rule in self.rules]

    @gc_paused()
    def snapshot(self) -> bytes | bytearray:
        """Every rule's state in one snapshot: the fast path's (with the clock and the
        events held back) and the interpreted rules', rules in load order."""
        from cep.fast.snapshot import SeqRows, renumber
        from cep.runtime.snapshot import rule_state, timers_by_rule

        state = self.fast.state()
        rows = SeqRows.of(events_of_table(state.events))
        interpreter = self.interpreter
        timers = timers_by_rule(interpreter)
        fingerprints = dict(zip(self.rule_names, self.fingerprints(), strict=True))
        interpreted = [
            rule_state(matcher, fingerprints[matcher.rule.name], rows, timers[i])
            for i, matcher in enumerate(interpreter.matchers)
        ]
        new_row = rows.sorted_rows()
        by_name = {rule.name: rule for rule in [*state.rules, *interpreted]}
        state.rules = [by_name[name] for name in self.rule_names]
        for rule in state.rules:
            renumber(rule, new_row)
        state.held = ints(new_row[array(state.held)])
        state.events = rows.table()
        state.engine = self.kind
        return self._snapshots.dump(state)

    @gc_paused()
    def restore(self, state: EngineState) -> RuleChanges:
        """Each rule's state to the engine that runs it (from a snapshot of any engine)."""
        from cep.runtime.restored import RestoredTimers
        from cep.runtime.snapshot import restore_rule

        interpreter = self.interpreter
        if interpreter.events or interpreter.next_seq:
            raise RuntimeError("restore into an engine that has been fed nothing")
        saved, changes = match_rules(state, self.rule_names, self.fingerprints())
        self.fast.restore(state)
        events = self.fast.restored_events
        by_name = dict(zip(self.rule_names, saved, strict=True))
        timers = [
            (index, restore_rule(matcher, rule, events))
            for index, matcher in enumerate(interpreter.matchers)
            if (rule := by_name[matcher.rule.name]) is not None
        ]
        interpreter.restore_timers(RestoredTimers(timers))
        # the interpreted rules take the events the fast path releases, in order: with
        # events held back, none is older than those to come
        orderer = interpreter.orderer
        orderer.max_seen = NO_TIME if len(state.held) else state.max_seen
        orderer.floor = state.floor
        interpreter.next_seq, interpreter.events = state.next_seq, state.events_seen
        interpreter.late, interpreter.finished = state.late, False
        return changes

    def stats(self) -> Stats:
        stats = self.fast.stats()
        by_rule = {**stats.rules, **self.interpreter.stats().rules}
        stats.rules = {rule.name: by_rule[rule.name] for rule in self.rules}
        return stats


def _sorted(keyed: Keyed) -> Keyed:
    keyed.sort(key=_KEY)
    return keyed


def _reports(keyed: Keyed) -> list[Any]:
    return [report for _, report in keyed]
