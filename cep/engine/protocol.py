"""The one interface every engine offers its hosts (`cep run`, `cep test`, the Python
API, and later stream hosts): feed batches of columns or single events, move time,
finish, count. Hosts hold a `RuleEngine` and never know which engine is behind it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cep.engine.state import EngineState, RuleChanges
from cep.runtime.budget import DEFAULT_MAX_STATE, MINIMUM, rule_budget
from cep.runtime.engine import DEFAULT_MAX_RUNS_PER_KEY, Stats
from cep.runtime.event import Event
from cep.runtime.match import Match

if TYPE_CHECKING:
    from cep.io.batch import Batch

#: called with each late event (older than the watermark), never matched; an event
#: read from a batch is a `SourceEvent` with its line number and its line as read
LateHandler = Callable[[Event], None]


@dataclass(frozen=True)
class EngineOptions:
    """What a host sets for every engine alike.

    `json_lines`: the host wants reports as JSON lines (`feed_lines`, `finish_lines`);
    the fast path then writes them in bulk and offers no `Match` objects. `max_state`:
    the budget of live state in bytes of its estimate, split evenly between the rules
    (docs/limits.md); None for none."""

    allowed_delay_ms: int = 0
    max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY
    on_late: LateHandler | None = None
    json_lines: bool = False
    max_state: int | None = DEFAULT_MAX_STATE

    def __post_init__(self) -> None:
        if self.allowed_delay_ms < 0:
            raise ValueError("the allowed delay cannot be negative")
        if self.max_runs_per_key < 1:
            raise ValueError("the cap on runs per key must be at least 1")
        if self.max_state is not None and self.max_state < MINIMUM:
            raise ValueError(f"the budget of live state must be at least {MINIMUM} bytes")

    def rule_budget(self, rules: int) -> int:
        """Each rule's share of `max_state` among `rules` rules."""
        return rule_budget(self.max_state, rules)


@runtime_checkable
class RuleEngine(Protocol):
    """Rules over one feed, in event-time order within the allowed delay.

    Every method that takes input or moves time returns the reports it releases, in
    release order (the order the interpreter, the reference, releases them). An engine
    is fed either batches (`feed`, `feed_lines`) or events (`feed_events`, `push`), not
    both. Time moves with the input, with `advance_to`, and at `finish`."""

    @property
    def kind(self) -> str:
        """Which engine this is: `interpreter`, `fast` or `mixed` (for hosts to say)."""
        ...

    @property
    def options(self) -> EngineOptions: ...

    @property
    def rule_names(self) -> list[str]: ...

    @property
    def watermark(self) -> int:
        """The time up to which the input is complete (`NO_TIME` before any event)."""
        ...

    def fields(self) -> dict[str, str]:
        """The fields to ask a reader for as columns, by kind (`cep.io.columnar`)."""
        ...

    def prepare(self, batch: Batch) -> None:
        """Work on a batch that needs none of the engine's state, which a reader may do
        on its own thread ahead of `feed`."""
        ...

    def feed(self, batch: Batch) -> Sequence[Match]:
        """Match a batch's events (its rejects are the host's)."""
        ...

    def feed_lines(self, batch: Batch) -> bytes | bytearray:
        """`feed`, the reports as UTF-8 JSON lines (`Match.to_json`), each ended by a
        newline (a bytearray where that spares a copy: the caller's to keep)."""
        ...

    def feed_events(self, events: Sequence[Event]) -> Sequence[Match]:
        """Match events (validated, in arrival order) as one batch."""
        ...

    def push(self, event: Event) -> Sequence[Match]:
        """Match one event."""
        ...

    def advance_to(self, ts: int) -> Sequence[Match]:
        """Declare the input complete up to `ts`: held events up to it are matched and
        windows that end by then close; an event older than `ts` fed later is late."""
        ...

    def advance_lines(self, ts: int) -> bytes:
        """`advance_to`, the reports as JSON lines as `feed_lines` gives them."""
        ...

    def finish(self, *, flush: bool = False) -> Sequence[Match]:
        """End of input: match the events held back; with `flush`, time moves to
        infinity and every window closes."""
        ...

    def finish_lines(self, *, flush: bool = False) -> bytes | bytearray:
        """`finish`, the reports as JSON lines as `feed_lines` gives them."""
        ...

    def stats(self) -> Stats:
        """The counters so far, rules in load order."""
        ...

    def snapshot(self) -> bytes | bytearray:
        """The engine's whole state as a snapshot (`cep.engine.state`): what decides
        its future output, as plain data any engine restores. Taken between calls; a
        `bytearray` where built in place (`cep.api.Engine.snapshot` gives bytes)."""
        ...

    def restore(self, state: EngineState) -> RuleChanges:
        """Take a snapshot's state (before anything is fed): rules whose fingerprint is
        unchanged keep theirs, others start empty; says what happened to each rule."""
        ...
