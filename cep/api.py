"""The Python API: load rules, feed events, get matches.

    from cep import Engine

    engine = Engine.from_paths("rules/payments.cep")
    for match in engine.feed(events):          # dicts, pydantic models or cep Events
        print(match.rule, match.fields)
    engine.finish()                             # end of input (flush=True closes windows)
    print(engine.stats())

Events are matched in event-time order within `allowed_delay`; time moves only with
events (or `advance_to`). Events of a type with a schema are validated; an invalid one
raises `EventError` (the command line writes it to the rejects file instead).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from cep.compile.rule import CompiledRule, compile_rule
from cep.engine import EngineName, EngineOptions, RuleChanges, Stats, open_engine
from cep.engine.state import load
from cep.io.follow import follow_lines
from cep.io.sources import SourceEvent
from cep.io.time import TIME_UNITS, UNIT_NAMES, event_ms, in_window, parse_time
from cep.io.validation import TOO_DEEP, Validator, too_deep_value
from cep.lang.checker import CheckedProgram, check_paths, check_sources
from cep.lang.regex import bad_data_patterns
from cep.lang.values import parse_duration_option
from cep.runtime.budget import DEFAULT_MAX_STATE, parse_size
from cep.runtime.engine import DEFAULT_MAX_RUNS_PER_KEY
from cep.runtime.event import Event
from cep.runtime.match import Match, raw_of
from cep.service.idle import IdleClock

if TYPE_CHECKING:  # (imported where a model may be given: a process without pydantic
    from pydantic import BaseModel  # loaded holds no model, and starts sooner)


class RuleError(Exception):
    """Rules that do not load: the message lists every error with file, line, column."""

    def __init__(self, checked: CheckedProgram) -> None:
        self.diagnostics = checked.errors
        super().__init__(checked.render(checked.errors))


#: the unit of an event's numeric time (`cep.io.time.TIME_UNITS`)
TimeUnit = Literal["ms", "s", "us", "ns"]


class EventError(ValueError):
    """An event the engine cannot take: no type, no valid time, or invalid for its schema."""


def load_rules(checked: CheckedProgram, names: Iterable[str] | None = None) -> list[CompiledRule]:
    """Compile the rules of a checked program (all, or those named), in load order."""
    if not checked.ok:
        raise RuleError(checked)
    wanted = None if names is None else list(names)
    if wanted is not None:
        unknown = [n for n in wanted if n not in checked.rules]
        if unknown:
            raise KeyError(f"no rule named {', '.join(unknown)}")
    return [
        compile_rule(rule, checked.schemas)
        for name, rule in checked.rules.items()
        if wanted is None or name in wanted
    ]


#: events `Engine.feed` matches at a time on the fast path
FEED_BATCH = 4096


def _milliseconds(value: int | str) -> int:
    if isinstance(value, str):
        return parse_duration_option(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected milliseconds (an int >= 0) or a duration, not {value!r}")
    return value


class Engine:
    """Rules ready to run over a feed of events.

    `allowed_delay` (milliseconds or a duration such as `"5s"`) is how late, in event
    time, input may arrive; `max_runs_per_key` caps the partial matches of one rule and
    partition (drops are counted in `stats()`). `max_state` is the budget of live state
    (bytes, or a size such as `"512MB"`; None for none; by default an eighth of physical
    memory, at most 256 MiB), split evenly between the rules: a rule over its share
    drops its oldest runs (`stats().rules[name].budget_dropped`; docs/limits.md). Late
    events are kept in `late`. `idle` (milliseconds or a duration; None: off) lets the
    wall clock move time on a quiet live feed: `tick()` (which `follow` calls) closes
    windows once no event has arrived for that long (docs/live.md).

    `engine` picks what runs the rules: `"interpreter"` (the default: plain Python,
    every rule, ready at once), `"fast"` (numba; every rule must run compiled, which
    `cep explain` tells) or `"auto"` (each rule on the fast path when it can, the
    others on the interpreter, reports merged in release order). The fast path compiles
    its machine code on first use (20-60 s, then loaded from numba's cache in about a
    second), which is why it is not the default. It matches events in batches: `feed`
    takes `batch_size` events (default 4096; 1 on the interpreter) before it yields
    the reports they release, while `push` matches its one event at once.
    """

    def __init__(
        self,
        checked: CheckedProgram,
        *,
        rules: Iterable[str] | None = None,
        allowed_delay: int | str = 0,
        max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY,
        max_state: int | str | None = DEFAULT_MAX_STATE,
        type_field: str = "type",
        time_field: str = "ts",
        time_unit: TimeUnit = "ms",
        engine: EngineName = "interpreter",
        batch_size: int | None = None,
        idle: int | str | None = None,
    ) -> None:
        if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
            raise ValueError(f"batch_size must be at least 1, not {batch_size!r}")
        self.checked = checked
        self.rules = load_rules(checked, rules)
        self.validator = Validator(checked.schemas)
        self.type_field = type_field
        self.time_field = time_field
        if time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit is one of {', '.join(TIME_UNITS)}, not {time_unit!r}")
        self.time_unit = time_unit
        self.late: list[Event] = []
        options = EngineOptions(
            allowed_delay_ms=_milliseconds(allowed_delay),
            max_runs_per_key=max_runs_per_key,
            on_late=self.late.append,
            max_state=parse_size(max_state) if isinstance(max_state, str) else max_state,
        )
        self._engine = open_engine(self.rules, checked.schemas, options, engine)
        self._bad_patterns_before = bad_data_patterns()
        self.batch_size = batch_size or (1 if self.kind == "interpreter" else FEED_BATCH)
        #: `idle`: the wall clock moves time on a quiet feed (`tick`)
        self.idle: IdleClock | None = None
        if idle is not None:
            self.idle = IdleClock(_milliseconds(idle), options.allowed_delay_ms)

    @classmethod
    def from_paths(
        cls,
        *paths: str,
        rules: Iterable[str] | None = None,
        allowed_delay: int | str = 0,
        max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY,
        max_state: int | str | None = DEFAULT_MAX_STATE,
        type_field: str = "type",
        time_field: str = "ts",
        time_unit: TimeUnit = "ms",
        engine: EngineName = "interpreter",
        batch_size: int | None = None,
        idle: int | str | None = None,
    ) -> Engine:
        """Load rule files or folders of `*.cep` files (options as `Engine`)."""
        return cls(
            check_paths(list(paths)),
            rules=rules,
            allowed_delay=allowed_delay,
            max_runs_per_key=max_runs_per_key,
            max_state=max_state,
            type_field=type_field,
            time_field=time_field,
            time_unit=time_unit,
            engine=engine,
            batch_size=batch_size,
            idle=idle,
        )

    @classmethod
    def from_string(
        cls,
        text: str,
        *,
        name: str = "<rules>.cep",
        rules: Iterable[str] | None = None,
        allowed_delay: int | str = 0,
        max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY,
        max_state: int | str | None = DEFAULT_MAX_STATE,
        type_field: str = "type",
        time_field: str = "ts",
        time_unit: TimeUnit = "ms",
        engine: EngineName = "interpreter",
        batch_size: int | None = None,
        idle: int | str | None = None,
    ) -> Engine:
        """Load rules from a string (imports are resolved from the current folder;
        options as `Engine`)."""
        return cls(
            check_sources({name: text}),
            rules=rules,
            allowed_delay=allowed_delay,
            max_runs_per_key=max_runs_per_key,
            max_state=max_state,
            type_field=type_field,
            time_field=time_field,
            time_unit=time_unit,
            engine=engine,
            batch_size=batch_size,
            idle=idle,
        )

    @property
    def kind(self) -> str:
        """What runs the rules: `interpreter`, `fast`, or `mixed` (some of each)."""
        return self._engine.kind

    @property
    def rule_names(self) -> list[str]:
        return [rule.name for rule in self.rules]

    @property
    def warnings(self) -> list[str]:
        """The checker's warnings (a rule without `within`, say), rendered."""
        return [self.checked.render([d]) for d in self.checked.warnings]

    def event(self, event: Mapping[str, Any] | BaseModel | Event, type: str | None = None) -> Event:
        """Turn a dict or a pydantic model into a validated engine `Event`.

        The type is `type`, else the record's type field, else (for a model) its class
        name; the time is the record's time field (epoch ms or ISO-8601 text), within
        `cep.io.time.TIME_WINDOW` (years 1970 to 2199) for every event, an `Event` too.
        """
        if isinstance(event, Event):
            if not in_window(event.ts):  # (unvalidated, but never a poisoned watermark)
                raise EventError(f"time out of range: {event.ts!r}")
            if too_deep_value(raw_of(event)):
                raise EventError(f"event {TOO_DEEP}")
            return event
        if _a_model(event):
            record = event.model_dump(mode="json")
            type = type or record.get(self.type_field) or event.__class__.__name__
        elif isinstance(event, Mapping):
            record = dict(event)
        else:
            raise EventError(f"an event is a dict or a pydantic model, not {event!r}")
        if too_deep_value(record):  # (the record is level 1: `cep.io.validation.MAX_DEPTH`)
            raise EventError(f"event {TOO_DEEP}")
        type_name = type or record.get(self.type_field)
        if not isinstance(type_name, str) or not type_name:
            raise EventError(f"event has no type (field {self.type_field!r}): {record!r}")
        if self.time_field not in record or record[self.time_field] is None:
            raise EventError(f"event has no time (field {self.time_field!r}): {record!r}")
        value = record[self.time_field]
        ts = event_ms(value, self.time_unit)
        if ts is None:
            raise EventError(f"bad time: {value!r} is not a time in {UNIT_NAMES[self.time_unit]}")
        if not in_window(ts):
            raise EventError(f"time out of range: {record[self.time_field]!r}")
        typed, reason = self.validator.validate(type_name, record)
        if typed is None:
            raise EventError(f"invalid {type_name}: {reason}")
        return SourceEvent(type_name, ts, typed, raw=record)

    def push(
        self, event: Mapping[str, Any] | BaseModel | Event, *, type: str | None = None
    ) -> list[Match]:
        """Feed one event; returns the matches (and timeouts) it releases, in order."""
        made = self.event(event, type)
        if self.idle is not None:
            self.idle.arrived(made.ts)
        return list(self._engine.push(made))

    def feed(self, events: Iterable[Mapping[str, Any] | BaseModel | Event]) -> Iterator[Match]:
        """Feed events, `batch_size` at a time, yielding reports as soon as they are
        released. Does not finish: call `finish()` at the end of the input."""
        chunk: list[Event] = []
        for event in events:
            chunk.append(self.event(event))
            if len(chunk) >= self.batch_size:
                yield from self._feed_chunk(chunk)
                chunk = []
        if chunk:
            yield from self._feed_chunk(chunk)

    def _feed_chunk(self, chunk: list[Event]) -> Sequence[Match]:
        if self.idle is not None:
            self.idle.arrived(max(event.ts for event in chunk), len(chunk))
        return self._engine.feed_events(chunk)

    def tick(self) -> list[Match]:
        """With `idle`: when no event has arrived for that long, move time on with the
        wall clock (the largest time seen, plus the wall time since it arrived, minus
        the allowed delay) and return what that releases; else nothing. Call it
        regularly on a live feed (a quarter of `idle` apart, say)."""
        if self.idle is None:
            return []
        target = self.idle.due(self._engine.watermark)
        return [] if target is None else list(self._engine.advance_to(target))

    def follow(
        self,
        path: str,
        *,
        offset: int = 0,
        poll: float = 0.25,
        stop: threading.Event | None = None,
        on_reject: Callable[[int, str, str], None] | None = None,
    ) -> Iterator[Match]:
        """Follow a JSON-lines file as `tail -F` does (read on as it grows, across
        rotation; from byte `offset`), yielding the reports its events release and
        those `tick` releases while it is quiet (looked at every `poll` seconds). Ends
        when `stop` is set, or when the caller stops iterating. A bad line goes to
        `on_reject(line number, reason, text)`; without one it raises `EventError`."""
        number = 0
        for lines in follow_lines(path, offset=offset, poll=poll):
            if stop is not None and stop.is_set():
                return
            for raw in lines:
                number += 1
                text = raw.decode("utf-8", errors="replace")
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                    if not isinstance(record, dict):
                        raise EventError("not an object")
                    found = self.push(record)
                except (ValueError, EventError) as error:
                    if on_reject is None:
                        raise EventError(f"line {number} of {path}: {error}") from None
                    on_reject(number, str(error), text)
                    continue
                yield from found
            yield from self.tick()

    def advance_to(self, ts: int | str | datetime) -> list[Match]:
        """Declare the input complete up to time `ts` (epoch ms, ISO-8601 text or a
        `datetime`): windows that close by then are closed."""
        return list(self._engine.advance_to(parse_time(ts)))

    def finish(self, *, flush: bool = False) -> list[Match]:
        """End of input: match events held for the allowed delay; with `flush`, close
        every window (absences fire, timeouts are reported)."""
        return list(self._engine.finish(flush=flush))

    def run(self, events: Iterable[Any], *, flush: bool = False) -> list[Match]:
        """Feed every event, finish, and return all reports."""
        out = list(self.feed(events))
        out.extend(self.finish(flush=flush))
        return out

    def stats(self) -> Stats:
        """Counters: events, late events, and per rule matches, timeouts, open runs,
        runs dropped by the cap, events lacking the partition key; and the `=~` tests
        whose pattern from event data RE2 did not take (counted in this process while
        this engine ran: engines running side by side share the count)."""
        stats = self._engine.stats()
        stats.bad_patterns = bad_data_patterns() - self._bad_patterns_before
        return stats

    def snapshot(self) -> bytes:
        """The engine's whole state (open runs, held matches, timers, watermark, events
        held back, counters) as bytes: plain data, no pickle, restorable on any engine
        with `restore` (docs/state.md). (The engines build it in a `bytearray`, which
        checkpoints write as it is; here it is copied once into immutable bytes.)"""
        return bytes(self._engine.snapshot())

    def restore(self, snapshot: bytes) -> RuleChanges:
        """Go on from a snapshot (this engine must not have been fed yet). Rules whose
        fingerprint is unchanged keep their state; changed and new rules start empty;
        the open runs of rules no longer loaded are dropped. Returns what happened to
        each rule; raises `SnapshotError` for a damaged or foreign snapshot."""
        changes = self._engine.restore(load(snapshot, raw_values=True))
        if self.idle is not None:
            self.idle.start(self._engine.watermark)
        return changes


def _a_model(event: object) -> bool:
    """Whether `event` is a pydantic model (none can be before pydantic is imported)."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(event, pydantic.BaseModel)
