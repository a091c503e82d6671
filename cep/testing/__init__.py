"""Helpers for testing rules from Python (pytest or not).

    from cep.testing import Harness, event, expect_reports

    def test_three_failures():
        h = Harness.load("rules/payments.cep", rules=["three_failed_payments"])
        h.send("Payment", at="0s", user="u1", amount=10, status="failed", country="US")
        h.send("Payment", at="30s", user="u1", amount=12, status="failed", country="US")
        h.send("Payment", at="59s", user="u1", amount=13, status="failed", country="US")
        expect_reports(h.reports, [{"user": "u1", "total": 35}], at=["59s"])

Times are durations from 0 (`"59s"`), epoch milliseconds, or ISO-8601 text, as in
`test` blocks. The pytest plugin also provides the fixture `cep_harness`, a factory:
`cep_harness("rules/payments.cep")` or `cep_harness(rule_text)`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from cep.api import Engine
from cep.io.time import parse_time
from cep.lang.values import parse_duration_option
from cep.runtime.match import Match
from cep.testing.runner import Expected, all_agree, describe, side_by_sides


def at_time(value: int | str) -> int:
    """A test time: a duration from 0 (`"1m30s"`), epoch ms, or ISO-8601 text."""
    if isinstance(value, str):
        try:
            return parse_duration_option(value)
        except ValueError:
            return parse_time(value)
    return int(value)


def event(type: str, at: int | str, **fields: Any) -> dict[str, Any]:
    """A terse event: `event("Payment", "10s", user="u1", amount=10)`."""
    return {"type": type, "ts": at_time(at), **fields}


class Harness:
    """An engine on a virtual clock: send events, move time, read what was reported."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reports: list[Match] = []

    @classmethod
    def load(
        cls,
        source: str,
        *,
        rules: Iterable[str] | None = None,
        allowed_delay: int | str = 0,
        max_runs_per_key: int | None = None,
    ) -> Harness:
        """Rules from a `.cep` file or folder, or from rule text."""
        options: dict[str, Any] = {"rules": rules, "allowed_delay": allowed_delay}
        if max_runs_per_key is not None:
            options["max_runs_per_key"] = max_runs_per_key
        if (source.endswith(".cep") and os.path.exists(source)) or os.path.isdir(source):
            return cls(Engine.from_paths(source, **options))
        return cls(Engine.from_string(source, **options))

    def _kept(self, found: list[Match]) -> list[Match]:
        self.reports.extend(found)
        return found

    def send(self, type: str, at: int | str, **fields: Any) -> list[Match]:
        """Feed one event; returns (and records) the reports it releases."""
        return self._kept(self.engine.push(event(type, at, **fields)))

    def send_all(self, events: Iterable[dict[str, Any]]) -> list[Match]:
        """Feed events built with `event(...)` (or plain dicts)."""
        return self._kept([m for item in events for m in self.engine.push(item)])

    def advance(self, to: int | str) -> list[Match]:
        """Move time to `to`: windows that close by then are closed."""
        return self._kept(self.engine.advance_to(at_time(to)))

    def finish(self, *, flush: bool = False) -> list[Match]:
        """End of input (with `flush`, every window closes)."""
        return self._kept(self.engine.finish(flush=flush))

    def matches(self, rule: str | None = None) -> list[Match]:
        """The match reports so far (of one rule, if named)."""
        return [r for r in self.reports if r.kind == "match" and rule in (None, r.rule)]

    def timeouts(self, rule: str | None = None) -> list[Match]:
        return [r for r in self.reports if r.kind == "timeout" and rule in (None, r.rule)]


def run_rule(
    source: str,
    rule: str,
    events: Iterable[dict[str, Any]],
    *,
    flush: bool = False,
    allowed_delay: int | str = 0,
) -> list[Match]:
    """Run one rule (from a file or rule text) over events; returns every report."""
    harness = Harness.load(source, rules=[rule], allowed_delay=allowed_delay)
    harness.send_all(events)
    harness.finish(flush=flush)
    return harness.reports


def expect_reports(
    reports: Sequence[Match],
    expected: Sequence[dict[str, Any]],
    *,
    at: Sequence[int | str | None] | None = None,
    kind: str = "match",
) -> None:
    """Assert that the reports of `kind` are exactly `expected`, in order: each report's
    fields include the expected ones (and its time is `at[i]`, when given). The
    assertion message shows each expected record next to what was reported."""
    chosen = [r for r in reports if r.kind == kind]
    times = list(at) if at is not None else [None] * len(expected)
    wanted = [
        Expected(kind, dict(fields), at_time(t) if t is not None else None, repr(fields))
        for fields, t in zip(expected, times, strict=True)
    ]
    if all_agree(wanted, chosen):
        return
    lines = [f"expected {len(wanted)} {kind} report(s), got {len(chosen)}:"]
    lines.extend(side_by_sides(wanted, chosen))
    others = [r for r in reports if r.kind != kind]
    if others:
        lines.append("other reports: " + "; ".join(describe(r) for r in others))
    raise AssertionError("\n".join(lines))


__all__ = ["Harness", "at_time", "event", "expect_reports", "run_rule"]
