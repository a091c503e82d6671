"""Tracing why a rule did not match: what each partial match bound and what ended it.

A `RunTracer` is attached to one rule's matcher (`RuleMatcher.tracer`); the matcher
calls it whenever a run ends without a match: an event it could not use (strict
contiguity, a greedy repetition that is full), a `not` term, a window that closed, a
skip strategy after another match, the cap on runs. Runs still open at the end are
added by `finish`. `closest()` is the run that got furthest (most events bound), which
is what a rule author wants to see when an expected match is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from cep.compile.nfa import FINAL
from cep.compile.rule import CompiledRule, path_events
from cep.lang import ast
from cep.lang.values import format_duration
from cep.runtime.event import Event
from cep.runtime.matcher import FINAL_STATE, RuleMatcher, Run

#: times below this are shown as durations from 0 (test clocks), above as ISO-8601
_RELATIVE_LIMIT = 10**11


def show_time(ms: int) -> str:
    """A time as a test writes it (`1m10s`) or, for epoch times, as ISO-8601."""
    if 0 <= ms < _RELATIVE_LIMIT:
        return format_duration(ms)
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_label(event: Event) -> str:
    """`event 4 (Payment at 1m10s)`: events are numbered from 1 in arrival order, or by
    their input line when they were read from a file."""
    line = getattr(event, "line", None)
    where = f"line {line}" if line else f"event {event.seq + 1}"
    return f"{where} ({event.type} at {show_time(event.ts)})"


def min_events(pattern: ast.Pattern) -> int:
    """The fewest events a match of `pattern` binds."""
    match pattern:
        case ast.Term():
            return 1
        case ast.Quantified(body=body, min_count=low):
            return low * min_events(body)
        case ast.Negation():
            return 0
        case ast.Sequence(items=items) | ast.AllOf(members=items):
            return sum(min_events(item) for item in items)
        case ast.Alternation(options=options):
            return min(min_events(option) for option in options)
    return 0


@dataclass
class EndedRun:
    """A run that ended without a match, and why."""

    run: Run
    reason: str
    event: Event | None

    @property
    def bound(self) -> int:
        return len(path_events(self.run.path))


class RunTracer:
    """Collects the runs of one rule that ended without a match (and, optionally,
    writes one line per run to `stream` as it happens: `cep run --trace RULE`)."""

    def __init__(self, rule: CompiledRule, stream: TextIO | None = None) -> None:
        self.rule = rule
        self.stream = stream
        self.ended: list[EndedRun] = []
        self.needed = min_events(rule.rule.pattern) if rule.rule.pattern else 0

    def attach(self, matcher: RuleMatcher) -> None:
        matcher.tracer = self

    def __call__(self, run: Run, reason: str, event: Event | None) -> None:
        ended = EndedRun(run, reason, event)
        self.ended.append(ended)
        if self.stream is not None:
            self.stream.write(f"trace {self.rule.name}: {self.describe(ended)}\n")

    def finish(self, matcher: RuleMatcher) -> None:
        """Record the runs still open and the matches still held (end of the input)."""
        matcher.make_pending()
        for part in matcher.partitions.values():
            for run in part.runs:
                self(run, "still open at the end of the input", None)
            for held in part.completed:
                self(
                    Run(FINAL_STATE, held.path, held.start),
                    "completed, but still held at the end of the input behind a run "
                    "that started earlier and is still open (skip strategies other than "
                    "`none` report matches in the order they started)",
                    None,
                )

    def closest(self) -> EndedRun | None:
        """The run that bound the most events (the earliest started of those)."""
        best = None
        for ended in self.ended:
            start = ended.run.start
            rank = (ended.bound, -(start.seq if start else 0))
            if best is None or rank > best[0]:
                best = (rank, ended)
        return best[1] if best else None

    def describe(self, ended: EndedRun, later: Callable[[int], Event | None] | None = None) -> str:
        """One sentence: where the run started, what it bound, what ended it."""
        run = ended.run
        start = run.start
        cells = path_events(run.path)
        bound: dict[str, list[str]] = {}
        from_lines = any(getattr(event, "line", None) for _, event in cells)
        for var, event in cells:
            number = event.line if from_lines and event.line else event.seq + 1
            bound.setdefault(var, []).append(str(number))
        shown = "; ".join(f"{var} = {', '.join(seqs)}" for var, seqs in bound.items()) or "nothing"
        waited = (
            "it had completed" if run.state.kind == FINAL else f"it waited for `{run.state.var}`"
        )
        head = (
            f"run started at {event_label(start)} bound {'lines' if from_lines else 'events'} "
            f"{shown} ({len(cells)} of at least {self.needed}); {waited}"
            if start is not None
            else "a run"
        )
        return f"{head}; {self._ending(ended, later)}"

    def _ending(self, ended: EndedRun, later: Callable[[int], Event | None] | None) -> str:
        reason = ended.reason
        window = self.rule.window_ms
        if reason.startswith("window closed at"):
            close = int(reason.rsplit(" ", 1)[1])
            within = format_duration(window) if window is not None else "?"
            text = f"its window closed at {show_time(close)} (`within {within}`)"
            after = later(close) if later is not None else None
            if after is not None:
                text += f": {event_label(after)} fell outside it"
            return text
        if reason == "no edge" and ended.event is not None:
            return (
                f"{event_label(ended.event)} could not extend it "
                f"(strict contiguity, or a repetition that was full)"
            )
        if reason.startswith("stopped") and ended.event is not None:
            return f"{event_label(ended.event)} matched a `not` term, which ends the run"
        if reason.startswith("completed, but dropped") and ended.event is not None:
            return f"{reason} ending at {event_label(ended.event)}"
        if reason.startswith("skipped") and ended.event is not None:
            return f"{reason.split(' after')[0]} after a match ending at {event_label(ended.event)}"
        if ended.event is not None:
            return f"{reason} at {event_label(ended.event)}"
        return reason
