"""Matching semantics through the Python API (spec "Semantics" 1-8 and "Settled details").

Events carry an `id` field (`a1`, `b2`, ...); `brief` writes a report as `{a1; b1 b2}@ts`,
the bound events in pattern order (a list variable's events separated by spaces), with
`timeout ` in front of a timeout report.
"""

from __future__ import annotations

from typing import Any

import pytest

from cep import Engine, Match


def ev(type_: str, ts: int, id_: str, **fields: Any) -> dict[str, Any]:
    """One input event."""
    return {"type": type_, "ts": ts, "id": id_, **fields}


def feed(spec: str, step: int = 1000, **fields: Any) -> list[dict[str, Any]]:
    """Events from `"a1 b1 x1@5000"`: type = the letters upper-cased, id = the token,
    time = `@ms` when given, else the position times `step`."""
    out = []
    for i, token in enumerate(spec.split()):
        name, _, at = token.partition("@")
        type_ = "".join(c for c in name if c.isalpha()).upper()
        out.append(ev(type_, int(at) if at else i * step, name, **fields))
    return out


def brief(match: Match) -> str:
    """`{a1; b1 b2}@2000` (with `timeout ` in front for a timeout report)."""
    parts = []
    for value in match.to_dict()["events"].values():
        if isinstance(value, list):
            parts.append(" ".join(item["id"] for item in value))
        else:
            parts.append(value["id"])
    prefix = "timeout " if match.kind == "timeout" else ""
    return f"{prefix}{{{'; '.join(parts)}}}@{match.ts}"


def shapes(matches: list[Match]) -> list[str]:
    """The bound events of each report, without its time."""
    return [brief(m).split("@")[0] for m in matches]


def engine(body: str, *, head: str = "", **options: Any) -> Engine:
    """An engine for one rule `r` with the given clauses (and schemas in `head`)."""
    return Engine.from_string(f"{head}\nrule r {{\n{body}\n}}\n", **options)


def run(
    body: str, events: list[dict[str, Any]], *, flush: bool = False, **options: Any
) -> list[str]:
    """Run one rule `r` over `events`; the reports in `brief` form."""
    return [brief(m) for m in engine(body, **options).run(events, flush=flush)]


AB = "pattern a = A -> b = B\nwithin 1m"


# ------------------------------------------------------------------ 1. partitions


def test_partition_by_one_field_matches_each_key_independently() -> None:
    """Each user's A pairs with that user's B, whatever the other users do."""
    eng = engine("partition by user\n" + AB)
    events = [
        ev("A", 0, "a1", user="u1"),
        ev("A", 1000, "a2", user="u2"),
        ev("B", 2000, "b1", user="u2"),
        ev("B", 3000, "b2", user="u1"),
    ]
    matches = eng.run(events)
    assert [brief(m) for m in matches] == ["{a2; b1}@2000", "{a1; b2}@3000"]
    assert [m.key for m in matches] == [{"user": "u2"}, {"user": "u1"}]
    assert matches[0].fields == {"user": "u2"}


def test_partition_by_two_fields_needs_both_values_equal() -> None:
    """With two key fields, a B of the same user but another region does not match."""
    eng = engine("partition by user, region\n" + AB)
    events = [
        ev("A", 0, "a1", user="u1", region="eu"),
        ev("B", 1000, "b1", user="u1", region="us"),
        ev("B", 2000, "b2", user="u2", region="eu"),
        ev("B", 3000, "b3", user="u1", region="eu"),
    ]
    matches = eng.run(events)
    assert [brief(m) for m in matches] == ["{a1; b3}@3000"]
    assert matches[0].key == {"user": "u1", "region": "eu"}


def test_partition_by_a_dotted_path_reaches_into_records() -> None:
    """`partition by account.id` keys on a nested field."""
    eng = engine("partition by account.id\n" + AB)
    events = [
        ev("A", 0, "a1", account={"id": 1}),
        ev("B", 1000, "b1", account={"id": 2}),
        ev("B", 2000, "b2", account={"id": 1}),
    ]
    matches = eng.run(events)
    assert [brief(m) for m in matches] == ["{a1; b2}@2000"]
    assert matches[0].key == {"account.id": 1}


def test_events_lacking_the_key_never_match_and_are_counted() -> None:
    """An A or B without `user` takes no part in matching, and the rule counts it."""
    eng = engine("partition by user\n" + AB)
    events = [
        ev("A", 0, "a1"),
        ev("B", 1000, "b1", user="u1"),
        ev("A", 2000, "a2", user="u1"),
        ev("B", 3000, "b2"),
        ev("B", 4000, "b3", user="u1"),
    ]
    assert [brief(m) for m in eng.run(events)] == ["{a2; b3}@4000"]
    assert eng.stats().rules["r"].missing_key == 2


def test_a_key_with_a_null_value_counts_as_missing() -> None:
    """`user: null` is a missing key: the event does not match and is counted."""
    eng = engine("partition by user\n" + AB)
    events = [ev("A", 0, "a1", user=None), ev("B", 1000, "b1", user=None)]
    assert eng.run(events) == []
    assert eng.stats().rules["r"].missing_key == 2


def test_without_partition_by_the_key_is_null() -> None:
    """A rule without `partition by` reports `key: null` and the whole feed is one partition."""
    eng = engine(AB)
    events = [ev("A", 0, "a1", user="u1"), ev("B", 1000, "b1", user="u2")]
    (match,) = eng.run(events)
    assert match.key is None
    assert match.to_dict()["key"] is None
    assert match.fields == {}


# ------------------------------------------------------------------ 2. order


def test_out_of_order_input_within_the_allowed_delay_is_matched_in_time_order() -> None:
    """A B that arrives before an earlier A still follows it, once the watermark passes both."""
    eng = engine(AB, allowed_delay="5s")
    assert eng.push(ev("B", 2000, "b1")) == []
    assert eng.push(ev("A", 1000, "a1")) == []
    assert eng.push(ev("X", 6999, "x1")) == []  # watermark 1999: A released, B still held
    assert [brief(m) for m in eng.push(ev("X", 7000, "x2"))] == ["{a1; b1}@2000"]
    assert eng.stats().late == 0


def test_held_events_are_matched_at_the_end_of_input() -> None:
    """Events still held back for the allowed delay are matched when the input ends."""
    events = [ev("B", 2000, "b1"), ev("A", 1000, "a1")]
    assert run(AB, events, allowed_delay=5000) == ["{a1; b1}@2000"]


def test_equal_times_keep_arrival_order() -> None:
    """Of an A and a B at the same time, the one that arrived first comes first."""
    assert run(AB, [ev("A", 1000, "a1"), ev("B", 1000, "b1")]) == ["{a1; b1}@1000"]
    assert run(AB, [ev("B", 1000, "b1"), ev("A", 1000, "a1")]) == []


def test_equal_times_keep_arrival_order_after_reordering() -> None:
    """Held back and reordered, events of equal time still keep their arrival order."""
    events = [ev("X", 3000, "x1"), ev("B", 1000, "b1"), ev("A", 1000, "a1")]
    assert run(AB, events, allowed_delay="5s") == []
    events = [ev("X", 3000, "x1"), ev("A", 1000, "a1"), ev("B", 1000, "b1")]
    assert run(AB, events, allowed_delay="5s") == ["{a1; b1}@1000"]


def test_an_event_older_than_the_watermark_is_late_counted_and_not_matched() -> None:
    """With no allowed delay, a B older than an event of another type is late: no match."""
    eng = engine(AB)
    events = [ev("A", 0, "a1"), ev("X", 5000, "x1"), ev("B", 3000, "b1"), ev("B", 6000, "b2")]
    assert [brief(m) for m in eng.run(events)] == ["{a1; b2}@6000"]
    stats = eng.stats()
    assert stats.late == 1
    assert stats.events == 4


def test_an_event_within_the_allowed_delay_is_not_late() -> None:
    """The same feed with a 2s allowed delay matches the B at 3s."""
    eng = engine(AB, allowed_delay="2s")
    events = [ev("A", 0, "a1"), ev("X", 5000, "x1"), ev("B", 3000, "b1"), ev("B", 6000, "b2")]
    assert [brief(m) for m in eng.run(events)] == ["{a1; b1}@3000"]
    assert eng.stats().late == 0


def test_an_event_at_the_watermark_is_not_late() -> None:
    """An event exactly at the watermark (not older) is accepted."""
    eng = engine(AB, allowed_delay="2s")
    events = [ev("A", 0, "a1"), ev("X", 5000, "x1"), ev("B", 3000, "b1")]
    assert [brief(m) for m in eng.run(events)] == ["{a1; b1}@3000"]
    assert eng.stats().late == 0


# ------------------------------------------------------------------ 3. runs and forking


def test_followed_by_binds_the_first_later_event() -> None:
    """`a -> b` gives one match, with the first B, even under `skip none`."""
    assert run(AB + "\nskip none", feed("a1 x1 b1 b2")) == ["{a1; b1}@2000"]


def test_followed_by_any_gives_one_match_per_later_candidate() -> None:
    """`a ->> b` gives a match for each later B."""
    body = "pattern a = A ->> b = B\nwithin 1m\nskip none"
    assert run(body, feed("a1 b1 x1 b2")) == ["{a1; b1}@1000", "{a1; b2}@3000"]


def test_followed_by_any_under_the_default_skip_reports_the_first() -> None:
    """Under `skip past last`, the first match of `a ->> b` discards the run."""
    body = "pattern a = A ->> b = B\nwithin 1m"
    assert run(body, feed("a1 b1 b2")) == ["{a1; b1}@1000"]


def test_next_requires_the_very_next_event() -> None:
    """`a => b` fails when any other event comes between A and B."""
    body = "pattern a = A => b = B\nwithin 1m"
    assert run(body, feed("a1 x1 b1")) == []
    assert run(body, feed("a1 b1")) == ["{a1; b1}@1000"]


def test_next_ignores_events_of_other_partitions() -> None:
    """An event of another partition between A and B does not break `a => b`."""
    body = "partition by user\npattern a = A => b = B\nwithin 1m"
    events = [ev("A", 0, "a1", user="u1"), ev("X", 1000, "x1", user="u2")]
    events.append(ev("B", 2000, "b1", user="u1"))
    assert run(body, events) == ["{a1; b1}@2000"]


def test_next_fails_on_an_event_of_an_unrelated_type_in_the_partition() -> None:
    """Strict contiguity counts events of every type, not only those in the pattern."""
    body = "partition by user\npattern a = A => b = B\nwithin 1m"
    events = [
        ev("A", 0, "a1", user="u1"),
        ev("X", 1000, "x1", user="u1"),
        ev("B", 2000, "b1", user="u1"),
    ]
    assert run(body, events) == []


def test_every_event_that_binds_the_first_term_starts_a_run() -> None:
    """Under `skip none`, each earlier A pairs with the B."""
    assert run(AB + "\nskip none", feed("a1 a2 b1")) == ["{a1; b1}@2000", "{a2; b1}@2000"]


def test_not_between_two_terms_forbids_the_event_in_between() -> None:
    """`a -> not B -> c`: a B between A and C prevents the match; another event does not."""
    body = "pattern a = A -> not B -> c = C\nwithin 1m"
    assert run(body, feed("a1 b1 c1")) == []
    assert run(body, feed("a1 x1 c1")) == ["{a1; c1}@2000"]


def test_not_next_at_the_end_reports_at_the_next_event() -> None:
    """`a => not B` matches at the event right after A when it is not a B."""
    body = "pattern a = A => not B\nwithin 1m"
    assert run(body, feed("a1 c1")) == ["{a1}@1000"]
    assert run(body, feed("a1 b1 c1")) == []


def test_a_full_greedy_repetition_ends_the_run() -> None:
    """Greedy `b{1,2}` followed by a third B: the run dies (as in Flink); reluctant
    `b{1,2}?` matches."""
    body = "pattern a = A -> b = B{1,2} -> c = C\nwithin 1m\nskip none"
    assert run(body, feed("a1 b1 b2 b3 c1")) == []
    reluctant = body.replace("{1,2}", "{1,2}?")
    assert run(reluctant, feed("a1 b1 b2 b3 c1")) == ["{a1; b1 b2; c1}@4000", "{a1; b1; c1}@4000"]


def test_strict_contiguity_after_an_optional_that_took_nothing() -> None:
    """`a -> b? => c`: C right after A matches; an X between them breaks it."""
    body = "pattern a = A -> b = B? => c = C\nwithin 1m"
    assert run(body, feed("a1 c1")) == ["{a1; c1}@1000"]
    assert run(body, feed("a1 x1 c1")) == []
    assert run(body, feed("a1 x1 b1 c1")) == ["{a1; b1; c1}@3000"]


# ------------------------------------------------------------------ 4. windows


def test_within_accepts_a_match_shorter_than_the_window() -> None:
    """A and B 59.999s apart are within 1m."""
    assert run(AB, [ev("A", 0, "a1"), ev("B", 59_999, "b1")]) == ["{a1; b1}@59999"]


def test_within_rejects_a_match_exactly_one_window_long() -> None:
    """A and B exactly 1m apart do not match, and the expired run is discarded."""
    eng = engine(AB)
    assert eng.run([ev("A", 0, "a1"), ev("B", 60_000, "b1")]) == []
    rule = eng.stats().rules["r"]
    assert rule.open_runs == 0
    assert rule.expired_runs == 1


TIMEOUT_RULE = """\
pattern a = A -> b = B -> c = C
within 1m
on timeout emit first = a.id, seen = count([a, b])
"""


def test_timeout_is_reported_when_the_watermark_passes_the_window_close() -> None:
    """`on timeout emit` reports at start + window, once a later event passes that time."""
    eng = engine("pattern a = A -> b = B\nwithin 1m\non timeout emit first = a.id")
    assert eng.push(ev("A", 0, "a1")) == []
    assert eng.push(ev("X", 59_999, "x1")) == []
    (report,) = eng.push(ev("X", 60_000, "x2"))
    assert brief(report) == "timeout {a1}@60000"
    assert report.kind == "timeout"
    assert report.fields == {"first": "a1"}
    assert eng.stats().rules["r"].timeouts == 1


def test_timeout_reports_the_variables_bound_so_far() -> None:
    """A timed-out run reports the A and B it bound, at the window close, before later matches."""
    eng = engine(
        "pattern a = A -> b = B -> c = C\nwithin 1m\non timeout emit first = a.id, last = b.id"
    )
    events = [ev("A", 0, "a1"), ev("B", 1000, "b1"), ev("A", 70_000, "a2")]
    events += [ev("B", 71_000, "b2"), ev("C", 72_000, "c1")]
    reports = eng.run(events)
    assert [brief(m) for m in reports] == ["timeout {a1; b1}@60000", "{a2; b2; c1}@72000"]
    assert reports[0].fields == {"first": "a1", "last": "b1"}


def test_timeout_is_not_reported_without_on_timeout_emit() -> None:
    """Without `on timeout emit`, an expired run disappears silently (and is counted)."""
    eng = engine(AB)
    assert eng.run([ev("A", 0, "a1"), ev("X", 90_000, "x1")], flush=True) == []
    assert eng.stats().rules["r"].expired_runs == 1


def test_a_completed_match_is_not_also_a_timeout() -> None:
    """A run that completed does not time out later."""
    body = "pattern a = A -> b = B\nwithin 1m\non timeout emit first = a.id"
    assert run(body, feed("a1 b1"), flush=True) == ["{a1; b1}@1000"]


# ------------------------------------------------------------------ 5. time moves only with events

ABSENCE = "pattern a = A -> not B\nwithin 1m"


def test_absence_at_the_end_is_not_reported_at_end_of_input() -> None:
    """`a -> not B` stays open at the end of input: no match, one open run."""
    eng = engine(ABSENCE)
    assert eng.run([ev("A", 0, "a1"), ev("X", 30_000, "x1")]) == []
    assert eng.stats().rules["r"].open_runs == 1
    assert eng.stats().open_runs == 1


def test_absence_is_reported_at_the_window_close_when_a_later_event_passes_it() -> None:
    """The absence fires at t0 + 1m, stamped with that time, when an event at 90s arrives."""
    assert run(ABSENCE, [ev("A", 0, "a1"), ev("X", 90_000, "x1")]) == ["{a1}@60000"]


def test_absence_fires_when_an_event_reaches_the_window_close_exactly() -> None:
    """An event exactly at t0 + D closes the window (the window is [t0, t0 + D))."""
    eng = engine(ABSENCE)
    assert eng.push(ev("A", 0, "a1")) == []
    assert [brief(m) for m in eng.push(ev("X", 60_000, "x1"))] == ["{a1}@60000"]


def test_a_b_at_the_window_close_does_not_cancel_the_absence() -> None:
    """A B at exactly t0 + D is outside the window: the absence has already fired."""
    assert run(ABSENCE, [ev("A", 0, "a1"), ev("B", 60_000, "b1")]) == ["{a1}@60000"]


def test_absence_is_reported_at_end_of_input_with_flush() -> None:
    """`flush=True` moves time to infinity: the absence fires at t0 + 1m."""
    assert run(ABSENCE, [ev("A", 0, "a1"), ev("X", 30_000, "x1")], flush=True) == ["{a1}@60000"]


def test_a_b_inside_the_window_cancels_the_absence() -> None:
    """A B inside the window means there is no absence to report, even with flush."""
    eng = engine(ABSENCE)
    assert eng.run([ev("A", 0, "a1"), ev("B", 59_999, "b1")], flush=True) == []
    assert eng.stats().rules["r"].open_runs == 0


def test_end_of_input_moves_time_to_the_largest_time_seen() -> None:
    """With an allowed delay, the end of input moves the watermark to the last time seen
    (closing a window that ends there), and no further."""
    events = [ev("A", 0, "a1"), ev("X", 60_000, "x1")]
    assert run(ABSENCE, events, allowed_delay="10s") == ["{a1}@60000"]
    events = [ev("A", 0, "a1"), ev("X", 59_999, "x1")]
    assert run(ABSENCE, events, allowed_delay="10s") == []


def test_timeouts_at_the_end_need_flush() -> None:
    """A run open at the end is counted, not reported, unless flushed."""
    body = "pattern a = A -> b = B\nwithin 1m\non timeout emit first = a.id"
    eng = engine(body)
    assert eng.run(feed("a1")) == []
    assert eng.stats().rules["r"].open_runs == 1
    assert eng.stats().rules["r"].timeouts == 0
    assert run(body, feed("a1"), flush=True) == ["timeout {a1}@60000"]


def test_windows_close_before_an_event_at_the_close_time_is_matched() -> None:
    """Before an event at time T is matched, windows closing by T close (timeouts first)."""
    body = "pattern a = A -> b = B\nwithin 1m\non timeout emit first = a.id\nskip none"
    events = [ev("A", 0, "a1"), ev("A", 30_000, "a2"), ev("B", 60_000, "b1")]
    assert run(body, events) == ["timeout {a1}@60000", "{a2; b1}@60000"]


# ------------------------------------------------------------------ 6. reporting


def test_matches_completed_by_one_event_are_ordered_by_their_first_event() -> None:
    """Two matches completed by one B come out in the time order of their A, not arrival."""
    body = AB + "\nskip none"
    events = [ev("A", 1000, "a1"), ev("A", 500, "a2"), ev("B", 1500, "b1")]
    assert run(body, events, allowed_delay="1s") == ["{a2; b1}@1500", "{a1; b1}@1500"]


def test_a_trailing_repetition_completes_at_its_minimum_under_the_default_skip() -> None:
    """`T{3,}` at the end reports the first three events only."""
    body = "pattern b = B{3,}\nwithin 1m"
    assert run(body, feed("b1 b2 b3 b4 b5")) == ["{b1 b2 b3}@2000"]


def test_a_trailing_repetition_under_skip_none_reports_every_extension() -> None:
    """Under `skip none`, each longer run of B is a match of its own, as in Flink."""
    body = "pattern b = B{3,}\nwithin 1m\nskip none"
    assert run(body, feed("b1 b2 b3 b4 b5")) == [
        "{b1 b2 b3}@2000",
        "{b1 b2 b3 b4}@3000",
        "{b2 b3 b4}@3000",
        "{b1 b2 b3 b4 b5}@4000",
        "{b2 b3 b4 b5}@4000",
        "{b3 b4 b5}@4000",
    ]


def test_a_trailing_optional_completes_without_waiting() -> None:
    """`a -> b?` reports at the A; under the default skip the later B adds nothing."""
    body = "pattern a = A -> b = B?\nwithin 1m"
    assert run(body, feed("a1 b1")) == ["{a1}@0"]
    assert run(body + "\nskip none", feed("a1 b1")) == ["{a1}@0", "{a1; b1}@1000"]


def test_greedy_repetition_keeps_an_event_that_could_end_it() -> None:
    """Greedy `b+` takes M (a B and a C) into the loop; the match ends at the next C."""
    body = (
        "pattern a = A -> b = X[p == 1 or p == 3]+ -> c = X[p == 2 or p == 3]\nwithin 1m\nskip none"
    )
    events = [ev("A", 0, "a1"), ev("X", 1000, "b1", p=1), ev("X", 2000, "m1", p=3)]
    events.append(ev("X", 3000, "c1", p=2))
    assert run(body, events) == ["{a1; b1 m1; c1}@3000"]


def test_reluctant_repetition_ends_as_soon_as_the_rest_can_go_on() -> None:
    """Reluctant `b+?` lets M end the match, and also goes on to the later C."""
    body = (
        "pattern a = A -> b = X[p == 1 or p == 3]+? -> c = X[p == 2 or p == 3]\n"
        "within 1m\nskip none"
    )
    events = [ev("A", 0, "a1"), ev("X", 1000, "b1", p=1), ev("X", 2000, "m1", p=3)]
    events.append(ev("X", 3000, "c1", p=2))
    assert run(body, events) == ["{a1; b1; m1}@2000", "{a1; b1 m1; c1}@3000"]


# ------------------------------------------------------------------ 7. skip strategies

TRAILING_B3 = "pattern b = B{3,}\nwithin 1m\nskip "


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        ("past last", ["{b1 b2 b3}@2000"]),
        ("to next", ["{b1 b2 b3}@2000", "{b2 b3 b4}@3000", "{b3 b4 b5}@4000"]),
        # later-started matches stay held while b1's run is open (as in Flink)
        ("to first b", ["{b1 b2 b3}@2000", "{b1 b2 b3 b4}@3000", "{b1 b2 b3 b4 b5}@4000"]),
        ("to last b", ["{b1 b2 b3}@2000", "{b3 b4 b5}@4000"]),
        ("none", None),
    ],
)
def test_each_skip_strategy_gives_its_own_result(skip: str, expected: list[str] | None) -> None:
    """`B{3,}` over five Bs: each skip strategy reports a different set of matches."""
    got = run(TRAILING_B3 + skip, feed("b1 b2 b3 b4 b5"))
    if expected is None:
        assert len(got) == 6
    else:
        assert got == expected


def test_matches_held_under_skip_to_first_come_out_when_the_earlier_runs_close() -> None:
    """With `flush`, b1's and b2's runs expire and the held matches come out, each stamped
    with the time of the event that completed it."""
    got = run(TRAILING_B3 + "to first b", feed("b1 b2 b3 b4 b5"), flush=True)
    assert got == [
        "{b1 b2 b3}@2000",
        "{b1 b2 b3 b4}@3000",
        "{b1 b2 b3 b4 b5}@4000",
        "{b2 b3 b4}@3000",
        "{b2 b3 b4 b5}@4000",
        "{b3 b4 b5}@4000",
    ]


def test_skip_to_first_keeps_a_match_that_skip_to_next_drops() -> None:
    """`a ->> b -> c`: two matches start at a1; `to next` and `to first b` keep one,
    `to first a` and `none` keep both."""
    body = "pattern a = A ->> b = B -> c = C\nwithin 1m\nskip "
    both = ["{a1; b1; c1}@3000", "{a1; b2; c1}@3000"]
    assert run(body + "none", feed("a1 b1 b2 c1")) == both
    assert run(body + "to first a", feed("a1 b1 b2 c1")) == both
    assert run(body + "to next", feed("a1 b1 b2 c1")) == both[:1]
    assert run(body + "to first b", feed("a1 b1 b2 c1")) == both[:1]
    assert run(body + "past last", feed("a1 b1 b2 c1")) == both[:1]


def test_skip_to_last_drops_a_run_started_inside_the_match() -> None:
    """`a -> b{2} -> c`: a run started at a2 between b1 and b2 survives `to first b` and
    `to next`, but not `to last b` or `past last`."""
    body = "pattern a = A -> b = B{2} -> c = C\nwithin 1m\nskip "
    events = feed("a1 b1 a2 b2 c1 b3 c2")
    two = ["{a1; b1 b2; c1}@4000", "{a2; b2 b3; c2}@6000"]
    assert run(body + "to first b", events) == two
    assert run(body + "to next", events) == two
    assert run(body + "none", events) == two
    assert run(body + "to last b", events) == two[:1]
    assert run(body + "past last", events) == two[:1]


def test_skip_to_a_variable_that_bound_nothing_skips_nothing() -> None:
    """`skip to first b` with `b?` unbound prunes no run: a2's match survives (held while
    a1's run waits for a B, released when its window closes, with c1's time)."""
    body = "pattern a = A -> b = B? -> c = C\nwithin 1m\nskip to first b"
    assert run(body, feed("a1 a2 c1"), flush=True) == ["{a1; c1}@2000", "{a2; c1}@2000"]
    past_last = body.replace("to first b", "past last")
    assert run(past_last, feed("a1 a2 c1"), flush=True) == ["{a1; c1}@2000"]


@pytest.mark.parametrize(
    ("skip", "expected"),
    [
        ("none", ["{a1; m1}@1000", "{m1; b1}@2000"]),
        ("to next", ["{a1; m1}@1000", "{m1; b1}@2000"]),
        ("past last", ["{a1; m1}@1000"]),
    ],
)
def test_a_completing_event_that_also_starts_a_run(skip: str, expected: list[str]) -> None:
    """M is both an A and a B: `past last` discards the run M started, `to next` keeps it."""
    body = f"pattern a = X[isa] -> b = X[isb]\nwithin 1m\nskip {skip}"
    events = [
        ev("X", 0, "a1", isa=True, isb=False),
        ev("X", 1000, "m1", isa=True, isb=True),
        ev("X", 2000, "b1", isa=False, isb=True),
    ]
    assert run(body, events) == expected


HELD = "pattern s = S -> e = E[n == s.n]\nwithin 1m\nskip "
HELD_EVENTS = [ev("S", 0, "s1", n=1), ev("S", 1000, "s2", n=2), ev("E", 2000, "e2", n=2)]
HELD_EVENTS.append(ev("E", 3000, "e1", n=1))


def test_under_skip_none_matches_are_released_at_once() -> None:
    """`skip none` never holds a match: s2's match comes out at e2."""
    assert run(HELD + "none", HELD_EVENTS) == ["{s2; e2}@2000", "{s1; e1}@3000"]


def test_a_held_match_waits_for_the_earlier_run_and_keeps_its_own_time() -> None:
    """Under `to next`, s2's match is held while s1's run is open, then comes out after s1's
    match, stamped with the time of e2 that completed it."""
    eng = engine(HELD + "to next")
    out = [[brief(m) for m in eng.push(event)] for event in HELD_EVENTS]
    assert out == [[], [], [], ["{s1; e1}@3000", "{s2; e2}@2000"]]


def test_a_held_match_is_dropped_when_the_earlier_match_skips_past_it() -> None:
    """Under `past last`, s1's match at e1 discards the held match of s2."""
    eng = engine(HELD + "past last")
    assert [brief(m) for m in eng.run(HELD_EVENTS)] == ["{s1; e1}@3000"]
    assert eng.stats().rules["r"].held_matches == 0


def test_a_held_match_is_released_when_the_earlier_run_times_out() -> None:
    """When s1's run expires, s2's held match comes out, still stamped with e2's time."""
    body = "pattern s = S -> e = E[n == s.n]\nwithin 10s\non timeout emit first = s.id"
    events = [*HELD_EVENTS[:3], ev("X", 12_000, "x1")]
    eng = engine(body)
    assert [brief(m) for m in eng.run(events[:3])] == []
    eng = engine(body)
    assert [brief(m) for m in eng.run(events)] == ["{s2; e2}@2000", "timeout {s1}@10000"]


def test_a_held_match_is_counted_at_the_end() -> None:
    """A match still held at the end of input is counted in `held_matches`, not reported."""
    eng = engine(HELD + "to next")
    assert eng.run(HELD_EVENTS[:3]) == []
    rule = eng.stats().rules["r"]
    assert rule.held_matches == 1
    assert rule.open_runs == 1


def test_ties_report_the_match_whose_events_arrived_earliest() -> None:
    """Of two matches completed by one event from one start, the earlier-bound one wins."""
    body = "pattern a = A ->> b = B -> c = C\nwithin 1m"
    assert run(body, feed("a1 b1 b2 c1")) == ["{a1; b1; c1}@3000"]


def test_ties_are_broken_by_bound_events_in_pattern_order_not_flinks_heap() -> None:
    """Under `to next`, of the matches starting at c1 the one binding a3 (the earlier A) is
    reported, where Flink reports `{c1 c2; a4; b5}` (docs/design/nfa.md 6.15)."""
    body = (
        'pattern v0 = X[k == "b" or k == "c"]+ ->> v1 = X[k == "a"]{1,3} -> v2 = X[k == "b"]\n'
        "within 1m\nskip to next"
    )
    names = ["c0", "c1", "c2", "a3", "a4", "b5"]
    events = [ev("X", i * 1000, n, k=n[0]) for i, n in enumerate(names)]
    assert run(body, events) == [
        "{c0 c1 c2; a3 a4; b5}@5000",
        "{c1 c2; a3 a4; b5}@5000",
        "{c2; a3 a4; b5}@5000",
    ]


# ------------------------------------------------------------------ 8. several rules


def test_several_rules_see_every_event() -> None:
    """One B is part of a match of `ab` and of a match of `bc`."""
    eng = Engine.from_string(
        "rule ab { pattern a = A -> b = B within 1m }\n"
        "rule bc { pattern b = B -> c = C within 1m }\n"
    )
    matches = eng.run(feed("a1 b1 c1"))
    assert [(m.rule, brief(m)) for m in matches] == [
        ("ab", "{a1; b1}@1000"),
        ("bc", "{b1; c1}@2000"),
    ]
    assert eng.stats().matches == 2


def test_rules_with_different_partitions_share_one_feed() -> None:
    """A rule keyed by user and one keyed by card both match on the same event."""
    eng = Engine.from_string(
        "rule by_user { partition by user\n pattern a = A -> b = B within 1m }\n"
        "rule by_card { partition by card\n pattern a = A -> b = B within 1m }\n"
    )
    events = [
        ev("A", 0, "a1", user="u1", card="c1"),
        ev("A", 1000, "a2", user="u2", card="c2"),
        ev("B", 2000, "b1", user="u1", card="c2"),
    ]
    got = [(m.rule, brief(m), m.key) for m in eng.run(events)]
    assert got == [
        ("by_user", "{a1; b1}@2000", {"user": "u1"}),
        ("by_card", "{a2; b1}@2000", {"card": "c2"}),
    ]


# ------------------------------------------------------------------ 9. settled details


def test_where_false_at_completion_lets_the_run_go_on() -> None:
    """A B failing `where` does not complete the run; a later B that passes does."""
    body = "pattern a = A -> b = B\nwhere b.n > a.n\nwithin 1m"
    events = [ev("A", 0, "a1", n=5), ev("B", 1000, "b1", n=1), ev("B", 2000, "b2", n=9)]
    assert run(body, events) == ["{a1; b2}@2000"]


def test_where_false_counts_the_event_as_not_matching_the_last_term() -> None:
    """`F{2}` with `where sum(f.n) > 10`: f2 fails `where`, so the run skips it and ends
    with f3."""
    body = "pattern f = F{2}\nwhere sum(f.n) > 10\nwithin 1m"
    events = [ev("F", 0, "f1", n=1), ev("F", 1000, "f2", n=2), ev("F", 2000, "f3", n=10)]
    assert run(body, events) == ["{f1 f3}@2000"]


def test_an_unbound_optional_is_absent_from_events_and_null_in_expressions() -> None:
    """`b = B?` that bound nothing: no `b` in `events`, `b.n` is null, `exists` is false."""
    body = (
        "pattern a = A -> b = B? -> c = C\nwithin 1m\n"
        "emit bn = b.n, has_b = exists(b.n), either = coalesce(b.n, -1)"
    )
    (match,) = engine(body).run(feed("a1 c1"))
    assert "b" not in match.events
    assert set(match.to_dict()["events"]) == {"a", "c"}
    assert match.fields == {"bn": None, "has_b": False, "either": -1}


def test_a_bound_optional_is_a_single_event() -> None:
    """`b = B?` that bound an event reports that event, not a list."""
    body = "pattern a = A -> b = B? -> c = C\nwithin 1m\nemit bn = b.n"
    events = [ev("A", 0, "a1"), ev("B", 1000, "b1", n=7), ev("C", 2000, "c1")]
    (match,) = engine(body).run(events)
    assert match.to_dict()["events"]["b"] == events[1]
    assert match.fields == {"bn": 7}


def test_a_list_variable_that_bound_nothing_is_an_empty_list() -> None:
    """`b = B*` with no B: `count(b)` is 0, `first(b)` is null, and `b` is absent from events."""
    body = (
        "pattern a = A -> b = B* -> c = C\nwithin 1m\nemit nb = count(b), fb = first(b), ns = b.n"
    )
    (match,) = engine(body).run(feed("a1 c1"))
    assert match.fields == {"nb": 0, "fb": None, "ns": []}
    assert set(match.to_dict()["events"]) == {"a", "c"}


def test_alternation_forks_when_an_event_satisfies_both_options() -> None:
    """An X that is both `b` and `c` gives one match per branch (under `skip none`)."""
    body = "pattern a = A -> (b = X[n > 0] | c = X[n < 10])\nwithin 1m\nskip none"
    matches = engine(body).run([ev("A", 0, "a1"), ev("X", 1000, "x1", n=5)])
    assert sorted(sorted(m.events) for m in matches) == [["a", "b"], ["a", "c"]]


def test_alternation_takes_the_branch_that_holds() -> None:
    """An X satisfying only `c` binds `c`; `b` is then absent and null."""
    body = "pattern a = A -> (b = X[n > 0] | c = X[n < 0])\nwithin 1m\nemit bn = b.n, cn = c.n"
    (match,) = engine(body).run([ev("A", 0, "a1"), ev("X", 1000, "x1", n=-5)])
    assert set(match.events) == {"a", "c"}
    assert match.fields == {"bn": None, "cn": -5}


@pytest.mark.parametrize("spec", ["a1 b1", "b1 a1"])
def test_all_matches_its_members_in_any_order(spec: str) -> None:
    """`all(a = A, b = B)` matches an A and a B whichever comes first."""
    body = "pattern all(a = A, b = B)\nwithin 1m"
    assert shapes(engine(body).run(feed(spec))) == ["{a1; b1}"]


def test_all_binds_the_first_later_event_of_each_member() -> None:
    """Each member of `all` binds the first later event that satisfies it."""
    body = "pattern x = X -> all(a = A, b = B)\nwithin 1m"
    assert run(body, feed("x1 a1 a2 b1 b2")) == ["{x1; a1; b1}@3000"]


def test_regex_match_searches_the_text() -> None:
    """`=~ "ell"` finds "hello"; `=~ "^ell$"` does not."""
    events = [ev("A", 0, "a1", name="hello")]
    assert run('pattern a = A[name =~ "ell"]\nwithin 1m', events) == ["{a1}@0"]
    assert run('pattern a = A[name =~ "^ell$"]\nwithin 1m', events) == []
    assert run('pattern a = A[name =~ "^h.*o$"]\nwithin 1m', events) == ["{a1}@0"]


def test_an_int_is_accepted_for_a_float_field() -> None:
    """`amount: 10` is a valid float; the reported event keeps the int as given."""
    head = "event P { user: str, amount: float }"
    eng = engine("pattern p = P\nwithin 1m\nemit total = p.amount * 2", head=head)
    (match,) = eng.run([{"type": "P", "ts": 0, "user": "u", "amount": 10}])
    assert match.fields == {"total": 20.0}
    assert match.to_dict()["events"]["p"]["amount"] == 10


def test_undeclared_fields_of_a_schema_are_kept_and_usable() -> None:
    """Schemas are open: a field the schema does not declare can be used in conditions."""
    head = "event P { user: str }"
    eng = engine('pattern p = P[colour == "red"]\nwithin 1m', head=head)
    events = [{"type": "P", "ts": 0, "user": "u", "colour": "blue"}]
    events.append({"type": "P", "ts": 1, "user": "u", "colour": "red"})
    (match,) = eng.run(events)
    assert match.to_dict()["events"]["p"]["colour"] == "red"


def test_a_missing_optional_field_is_null_and_comparisons_with_null_are_false() -> None:
    """`device?` missing: `device == null` and `device != "x"` are both false."""
    head = "event L { user: str, device: str? }"
    body = 'pattern l = L[device != "x" or device == null]\nwithin 1m'
    assert run(body, [{"type": "L", "ts": 0, "id": "l1", "user": "u"}], head=head) == []
    body = "pattern l = L[not exists(device)]\nwithin 1m"
    assert run(body, [{"type": "L", "ts": 0, "id": "l1", "user": "u"}], head=head) == ["{l1}@0"]


def test_a_condition_can_use_the_events_its_own_repetition_holds() -> None:
    """A rising run of three consecutive ticks: each price above the last one taken."""
    body = "pattern b = T[count(b) == 0 or price > last(b).price]{3} consecutive\nwithin 1m"
    events = [ev("T", i * 1000, f"t{i}", price=p) for i, p in enumerate([5, 3, 4, 6])]
    assert run(body, events) == ["{t1 t2 t3}@3000"]


def test_emit_computes_aggregates_over_a_repetition() -> None:
    """`sum`, `count`, indexing and `last` over a list variable, as in the spec's first file."""
    head = "event Payment { user: str, amount: float, status: str }"
    body = (
        "partition by user\n"
        'pattern f = Payment[status == "failed"]{3}\nwithin 1m\n'
        "emit user = f[0].user, total = sum(f.amount), n = count(f), last_at = last(f).ts"
    )
    events = [
        {"type": "Payment", "ts": 0, "user": "u1", "amount": 10, "status": "failed"},
        {"type": "Payment", "ts": 20_000, "user": "u1", "amount": 11, "status": "ok"},
        {"type": "Payment", "ts": 30_000, "user": "u1", "amount": 12, "status": "failed"},
        {"type": "Payment", "ts": 59_000, "user": "u1", "amount": 13, "status": "failed"},
    ]
    (match,) = engine(body, head=head).run(events)
    assert match.ts == 59_000
    assert match.fields == {"user": "u1", "total": 35, "n": 3, "last_at": 59_000}


# ------------------------------------------------------------------ 10. --max-runs-per-key


def test_runs_beyond_the_cap_are_dropped_and_counted() -> None:
    """With a cap of 2 runs per key, five As keep two runs; three are dropped and counted."""
    eng = engine(AB + "\nskip none", max_runs_per_key=2)
    matches = eng.run(feed("a1 a2 a3 a4 a5 b1"))
    rule = eng.stats().rules["r"]
    assert rule.dropped_runs == 3
    assert eng.stats().dropped_runs == 3
    assert len(matches) == 2


def test_the_cap_applies_per_partition_key() -> None:
    """The cap counts runs of one key: two users with two runs each lose nothing."""
    eng = engine("partition by user\n" + AB + "\nskip none", max_runs_per_key=2)
    events = [ev("A", i * 1000, f"a{i}", user=f"u{i % 2}") for i in range(4)]
    events.append(ev("B", 5000, "b0", user="u0"))
    assert len(eng.run(events)) == 2
    assert eng.stats().rules["r"].dropped_runs == 0


def test_a_cap_below_one_is_refused() -> None:
    """`max_runs_per_key=0` is an error, not a silent no-op."""
    with pytest.raises(ValueError):
        engine(AB, max_runs_per_key=0)
