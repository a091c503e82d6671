"""The Python API: loading rules, feeding events, time, errors and the `Match` record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import cep
from cep import Engine, Event, EventError, Match, RuleError
from cep.lang.checker import check_sources

RULES = """\
event Payment { user: str, amount: float }

rule rising {
  partition by user
  pattern a = Payment -> b = Payment[amount > a.amount]
  within 1m
  emit user = a.user, total = a.amount + b.amount
}

rule quiet {
  pattern a = Login -> not Logout
  within 1m
}
"""


def pay(ts: Any, amount: float, user: str = "u1") -> dict[str, Any]:
    return {"type": "Payment", "ts": ts, "user": user, "amount": amount}


# ------------------------------------------------------------------ loading


def test_the_package_exports_the_api() -> None:
    """`from cep import Engine, Event, EventError, Match, RuleError` works."""
    assert set(cep.__all__) >= {"Engine", "Event", "EventError", "Match", "RuleError"}


def test_from_string_loads_every_rule_in_order() -> None:
    """`Engine.from_string` loads the rules of a text, in the order written."""
    assert Engine.from_string(RULES).rule_names == ["rising", "quiet"]


def test_from_paths_loads_files_and_folders(tmp_path: Path) -> None:
    """`Engine.from_paths` takes rule files and folders of `*.cep` files."""
    (tmp_path / "a.cep").write_text(RULES)
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "b.cep").write_text("rule other { pattern x = X  within 1m }\n")
    assert Engine.from_paths(str(tmp_path / "a.cep")).rule_names == ["rising", "quiet"]
    assert sorted(Engine.from_paths(str(tmp_path)).rule_names) == ["other", "quiet", "rising"]


def test_rules_option_selects_rules() -> None:
    """`rules=[...]` runs only the rules named."""
    engine = Engine.from_string(RULES, rules=["quiet"])
    assert engine.rule_names == ["quiet"]
    assert engine.run([pay(0, 1), pay(1, 2)]) == []


def test_warnings_are_available_without_failing() -> None:
    """A rule without `within` loads; its warning is in `engine.warnings`."""
    engine = Engine.from_string("event A { x: int }\nrule r { pattern a = A -> b = A }\n")
    assert len(engine.warnings) == 1
    assert "within" in engine.warnings[0]


def test_rule_error_lists_file_line_and_column() -> None:
    """Rules that do not load raise `RuleError` naming file:line:col for each error."""
    text = 'event P { n: int }\nrule r {\n  pattern p = P[n == "x"]\n  within 1m\n}\n'
    with pytest.raises(RuleError) as caught:
        Engine.from_string(text, name="bad.cep")
    assert "bad.cep:3:" in str(caught.value)
    assert len(caught.value.diagnostics) == 1


def test_rule_error_from_a_file_names_the_file(tmp_path: Path) -> None:
    """A syntax error in a file: `RuleError` with the file's path, line and column."""
    path = tmp_path / "broken.cep"
    path.write_text("rule r {\n  pattern a = A[x > ]\n  within 1m\n}\n")
    with pytest.raises(RuleError, match=r"broken\.cep:2:\d+"):
        Engine.from_paths(str(path))


def test_every_error_is_listed() -> None:
    """Two independent errors are both in the `RuleError` message."""
    text = (
        "event P { amount: float }\n"
        "rule r1 { pattern p = P[amout > 1]  within 1m }\n"
        "rule r2 { pattern p = P  within 1m  emit x = q.amount }\n"
    )
    with pytest.raises(RuleError) as caught:
        Engine.from_string(text, name="two.cep")
    message = str(caught.value)
    assert "two.cep:2:" in message and "two.cep:3:" in message


# ------------------------------------------------------------------ feeding events


def test_push_returns_the_matches_each_event_releases() -> None:
    """`push` feeds one event and returns what it completes, nothing before."""
    engine = Engine.from_string(RULES)
    assert engine.push(pay(0, 10)) == []
    assert engine.push(pay(1000, 5)) == []
    (match,) = engine.push(pay(2000, 20))
    assert (match.rule, match.kind, match.ts) == ("rising", "match", 2000)
    assert match.fields == {"user": "u1", "total": 30.0}


def test_feed_is_lazy() -> None:
    """`feed` reads events only as far as needed to yield the next match."""
    taken: list[int] = []

    def events() -> Iterator[dict[str, Any]]:
        for i, amount in enumerate([10, 20, 1, 2, 3]):
            taken.append(i)
            yield pay(i * 1000, amount)

    engine = Engine.from_string(RULES)
    matches = engine.feed(events())
    assert taken == []
    first = next(matches)
    assert first.ts == 1000
    assert taken == [0, 1]
    assert [m.ts for m in matches] == [3000]
    assert taken == [0, 1, 2, 3, 4]


def test_feed_does_not_finish() -> None:
    """After `feed`, events held for the allowed delay wait for `finish`."""
    engine = Engine.from_string(RULES, allowed_delay="10s")
    assert list(engine.feed([pay(0, 1), pay(1000, 2)])) == []
    assert [m.ts for m in engine.finish()] == [1000]


def test_run_feeds_everything_and_finishes() -> None:
    """`run` returns every report, including those released at the end of input."""
    engine = Engine.from_string(RULES, allowed_delay=10_000)
    assert [m.ts for m in engine.run([pay(1000, 2), pay(0, 1)])] == [1000]


def test_allowed_delay_accepts_milliseconds_or_a_duration() -> None:
    """`allowed_delay=5000` and `allowed_delay="5s"` mean the same."""
    events = [pay(4000, 2), pay(0, 1)]
    assert [m.ts for m in Engine.from_string(RULES, allowed_delay=5000).run(events)] == [4000]
    assert [m.ts for m in Engine.from_string(RULES, allowed_delay="5s").run(events)] == [4000]
    assert Engine.from_string(RULES, allowed_delay="3s").run(events) == []


def test_iso_times_are_accepted() -> None:
    """An ISO-8601 `ts` (no zone means UTC) is read as epoch milliseconds."""
    engine = Engine.from_string(RULES)
    events = [pay("2024-01-01T00:00:00Z", 1), pay("2024-01-01T00:00:30", 2)]
    (match,) = engine.run(events)
    assert match.ts == 1704067230000
    assert match.to_dict()["events"]["b"]["ts"] == "2024-01-01T00:00:30"


class Payment(BaseModel):
    user: str
    amount: float
    ts: int


def test_pydantic_models_are_events_of_their_class_name() -> None:
    """A pydantic model instance is an event whose type is the class name."""
    engine = Engine.from_string(RULES)
    matches = engine.run([Payment(user="u", amount=1, ts=0), Payment(user="u", amount=2, ts=5)])
    assert [(m.rule, m.ts, m.fields["total"]) for m in matches] == [("rising", 5, 3.0)]


class Login(BaseModel):
    ts: datetime
    user: str


class Logout(BaseModel):
    ts: datetime
    user: str


def test_pydantic_models_with_datetime_times() -> None:
    """A model whose `ts` is a `datetime` is timed by it; its record is reported as dumped."""
    engine = Engine.from_string(
        "rule r { partition by user  pattern a = Login -> b = Logout  within 1m }"
    )
    start = datetime(2024, 1, 1, tzinfo=UTC)
    (match,) = engine.run(
        [Login(ts=start, user="u"), Logout(ts=start + timedelta(seconds=5), user="u")]
    )
    assert match.ts == 1704067205000
    assert match.key == {"user": "u"}
    assert match.to_dict()["events"]["a"] == {"ts": "2024-01-01T00:00:00Z", "user": "u"}


def test_engine_events_are_accepted_as_they_are() -> None:
    """A `cep.Event` is matched as given."""
    engine = Engine.from_string(RULES)
    events = [
        Event("Payment", 0, {"user": "u", "amount": 1.0}),
        Event("Payment", 9, {"user": "u", "amount": 3.0}),
    ]
    assert [m.ts for m in engine.run(events)] == [9]


def test_push_type_overrides_a_missing_type() -> None:
    """`push(record, type="Payment")` gives a record without type field its type."""
    engine = Engine.from_string(RULES)
    assert engine.push({"ts": 0, "user": "u", "amount": 1}, type="Payment") == []
    assert [m.ts for m in engine.push(pay(1, 2, user="u"))] == [1]


def test_type_and_time_field_options() -> None:
    """`type_field` and `time_field` name the fields holding an event's type and time."""
    engine = Engine.from_string(RULES, type_field="kind", time_field="at")
    events = [{"kind": "Payment", "at": 0, "user": "u", "amount": 1}]
    events.append({"kind": "Payment", "at": 7, "user": "u", "amount": 2})
    assert [m.ts for m in engine.run(events)] == [7]


# ------------------------------------------------------------------ errors in events


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ({"ts": 0, "user": "u", "amount": 1}, "type"),
        ({"type": "Payment", "user": "u", "amount": 1}, "time"),
        ({"type": "Payment", "ts": None, "user": "u", "amount": 1}, "time"),
        ({"type": "Payment", "ts": "yesterday", "user": "u", "amount": 1}, "time"),
        ({"type": "Payment", "ts": 0, "user": "u", "amount": "lots"}, "amount"),
        ({"type": "Payment", "ts": 0, "amount": 1}, "user"),
    ],
)
def test_an_event_without_type_time_or_valid_fields_raises_event_error(
    record: dict[str, Any], words: str
) -> None:
    """`EventError` (a `ValueError`) names what is wrong with the event."""
    engine = Engine.from_string(RULES)
    with pytest.raises(EventError, match=words):
        engine.push(record)


def test_event_error_is_a_value_error() -> None:
    """Code that catches `ValueError` also catches a refused event."""
    with pytest.raises(ValueError):
        Engine.from_string(RULES).push({"ts": 0, "user": "u", "amount": 1})


def test_an_invalid_pydantic_event_for_the_schema_raises_event_error() -> None:
    """A model whose fields break the rule file's schema of its type is refused."""

    class Payment(BaseModel):  # same name as the schema, wrong field type
        user: int
        amount: float
        ts: int

    with pytest.raises(EventError):
        Engine.from_string(RULES).push(Payment(user=3, amount=1.0, ts=0))


def test_a_refused_event_changes_nothing() -> None:
    """After an `EventError`, the engine goes on; the refused event did not move time."""
    engine = Engine.from_string(RULES)
    with pytest.raises(EventError):
        engine.push(pay(10_000_000, "lots"))  # type: ignore[arg-type]
    assert engine.push(pay(0, 1)) == []
    assert [m.ts for m in engine.push(pay(1000, 2))] == [1000]
    assert engine.stats().late == 0


def test_an_int_for_a_float_field_is_accepted() -> None:
    """`amount: 1` (an int) is a valid float: matched as 1.0, reported as given."""
    engine = Engine.from_string(RULES)
    events = [pay(0, 1), pay(1000, 2)]
    (match,) = engine.run(events)
    assert match.fields == {"user": "u1", "total": 3.0}
    assert isinstance(match.fields["total"], float)
    assert match.to_dict()["events"]["a"] == events[0]


# ------------------------------------------------------------------ time


def test_advance_to_closes_windows_without_a_new_event() -> None:
    """`advance_to` declares input complete up to a time: an absence at the end fires."""
    engine = Engine.from_string(RULES, rules=["quiet"])
    assert engine.push({"type": "Login", "ts": 0}) == []
    assert engine.advance_to(59_999) == []
    (match,) = engine.advance_to(60_000)
    assert (match.rule, match.ts) == ("quiet", 60_000)


def test_advance_to_accepts_iso_text() -> None:
    """`advance_to("2024-01-01T00:10:00Z")` works like epoch milliseconds."""
    engine = Engine.from_string(RULES, rules=["quiet"])
    engine.push({"type": "Login", "ts": "2024-01-01T00:00:00Z"})
    assert [m.ts for m in engine.advance_to("2024-01-01T00:10:00Z")] == [1704067260000]


def test_advance_to_releases_events_held_for_the_allowed_delay() -> None:
    """Events waiting for the watermark are matched once `advance_to` passes them."""
    engine = Engine.from_string(RULES, allowed_delay="1h")
    assert engine.push(pay(0, 1)) == []
    assert engine.push(pay(1000, 2)) == []
    assert [m.ts for m in engine.advance_to(1000)] == [1000]


def test_finish_without_flush_keeps_windows_open() -> None:
    """`finish()` does not move time on: the absence stays an open run."""
    engine = Engine.from_string(RULES, rules=["quiet"])
    engine.push({"type": "Login", "ts": 0})
    assert engine.finish() == []
    assert engine.stats().rules["quiet"].open_runs == 1


def test_finish_with_flush_closes_every_window() -> None:
    """`finish(flush=True)` moves time to infinity: the absence is reported at t0 + 1m."""
    engine = Engine.from_string(RULES, rules=["quiet"])
    engine.push({"type": "Login", "ts": 0})
    assert [(m.rule, m.ts) for m in engine.finish(flush=True)] == [("quiet", 60_000)]
    assert engine.stats().rules["quiet"].open_runs == 0


# ------------------------------------------------------------------ stats and Match


def test_stats_count_events_matches_and_runs() -> None:
    """`stats()` counts events, late events, and per rule matches and open runs."""
    engine = Engine.from_string(RULES)
    engine.run([pay(0, 1), pay(5000, 2), pay(4000, 9), pay(6000, 0, user="u2")])
    stats = engine.stats()
    assert (stats.events, stats.late, stats.matches) == (4, 1, 1)
    assert stats.rules["rising"].matches == 1
    assert stats.rules["rising"].open_runs == 1  # the run of u2
    assert stats.rules["quiet"].matches == 0


def test_match_to_dict_and_to_json_follow_the_output_contract() -> None:
    """`to_dict()` has the output keys; `to_json()` is the same record as JSON text."""
    text = RULES.replace("within 1m\n  emit", 'within 1m\n  severity low\n  tags "t"\n  emit', 1)
    events = [pay(0, 1), pay(1000, 2)]
    (match,) = Engine.from_string(text).run(events)
    assert isinstance(match, Match)
    record = match.to_dict()
    assert record == {
        "rule": "rising",
        "kind": "match",
        "ts": 1000,
        "key": {"user": "u1"},
        "fields": {"user": "u1", "total": 3.0},
        "events": {"a": events[0], "b": events[1]},
        "severity": "low",
        "tags": ["t"],
    }
    assert json.loads(match.to_json()) == record
    assert match.key == {"user": "u1"}
    assert [e.data["amount"] for e in (match.events["a"], match.events["b"])] == [1.0, 2.0]


@pytest.mark.parametrize("delay", ["soon", "5min", "-5s"])
def test_engine_refuses_a_bad_allowed_delay(delay: str) -> None:
    """`Engine(..., allowed_delay="soon")` raises instead of silently using 0."""
    with pytest.raises(ValueError):
        Engine.from_string("rule ab { pattern a = A -> b = B  within 1m }", allowed_delay=delay)


# ------------------------------------------------------------------ engines


FAILURES = """\
event Payment { user: str, amount: float, status: str }

rule three_failed {
  partition by user
  pattern a = Payment[status == "failed"] -> b = Payment[status == "failed"]
          -> c = Payment[status == "failed"]
  within 1m
  emit user = a.user, total = a.amount + b.amount + c.amount
}
"""

#: a condition the fast path cannot compile (a pattern taken from an earlier event)
ECHO = """\

rule echo {
  partition by user
  pattern a = Payment -> b = Payment[status =~ a.status]
  within 1m
}
"""


def payments(n: int = 300) -> list[dict[str, Any]]:
    return [
        {"type": "Payment", "ts": i * 700 + (i % 4) * 300, "user": f"u{i % 5}",
         "amount": float(i % 7), "status": "failed" if i % 3 else "ok"}
        for i in range(n)
    ]  # fmt: skip


def reports_of(engine: Engine, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(m.to_json()) for m in engine.run(events, flush=True)]


@pytest.mark.parametrize("name", ["fast", "auto"])
def test_the_fast_path_from_python_reports_as_the_interpreter(name: str) -> None:
    """`Engine(engine="fast")` and `"auto"` give the interpreter's reports and counters,
    in order, with an allowed delay too."""
    events = payments()
    interpreter = Engine.from_string(FAILURES, allowed_delay="1s")
    engine = Engine.from_string(FAILURES, allowed_delay="1s", engine=name, batch_size=64)
    assert engine.kind == "fast"
    expected = reports_of(interpreter, events)
    assert expected
    assert reports_of(engine, events) == expected
    assert engine.stats() == interpreter.stats()
    assert [e.ts for e in engine.late] == [e.ts for e in interpreter.late]


def test_push_on_the_fast_path_reports_at_once() -> None:
    """`push` on the fast path matches its event at once, as on the interpreter."""
    engine = Engine.from_string(FAILURES, engine="fast")
    for ts in (0, 1000):
        assert engine.push(payment_failed(ts)) == []
    (match,) = engine.push(payment_failed(2000))
    assert (match.rule, match.ts, match.fields["user"]) == ("three_failed", 2000, "u")


def payment_failed(ts: int) -> dict[str, Any]:
    return {"type": "Payment", "ts": ts, "user": "u", "amount": 1.0, "status": "failed"}


def test_a_rule_the_fast_path_refuses_runs_under_auto() -> None:
    """Under `auto`, a rule the fast path cannot compile runs on the interpreter beside
    the compiled one (the mixed engine); reports merged in the interpreter's order.
    `engine="fast"` refuses it."""
    events = payments()
    engine = Engine.from_string(FAILURES + ECHO, engine="auto")
    assert engine.kind == "mixed"
    expected = reports_of(Engine.from_string(FAILURES + ECHO), events)
    assert {r["rule"] for r in expected} == {"three_failed", "echo"}
    assert reports_of(engine, events) == expected
    with pytest.raises(ValueError, match="rule echo cannot run compiled"):
        Engine.from_string(FAILURES + ECHO, engine="fast")


@pytest.mark.parametrize("make", ["init", "from_string", "from_paths"])
def test_unknown_options_are_refused(make: str, tmp_path: Path) -> None:
    """Options are typed keywords: a misspelt one is a `TypeError`, not ignored."""
    (tmp_path / "r.cep").write_text(RULES)
    with pytest.raises(TypeError, match="allowed_dely"):
        if make == "init":
            Engine(check_sources({"r.cep": RULES}), allowed_dely="5s")  # type: ignore[call-arg]
        elif make == "from_string":
            Engine.from_string(RULES, allowed_dely="5s")  # type: ignore[call-arg]
        else:
            Engine.from_paths(str(tmp_path / "r.cep"), allowed_dely="5s")  # type: ignore[call-arg]


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="engine must be one of"):
        Engine.from_string(RULES, engine="numba")  # type: ignore[arg-type]


def test_the_package_exports_stats_and_ships_its_types() -> None:
    """`cep.Stats`, `cep.RuleStats` and `cep.Match` are importable; `py.typed` ships."""
    assert isinstance(Engine.from_string(RULES).stats(), cep.Stats)
    assert {"Stats", "RuleStats", "Match", "RuleEngine"} <= set(cep.__all__)
    assert (Path(cep.__file__).parent / "py.typed").exists()
