"""The interpreter's restore makes a partition's runs only when it is first needed: a
resumed engine still holds and reports exactly what one that never stopped does, for
keys touched again and keys never touched again (their windows close on time), its
state snapshotted again is the same, and a damaged table is refused at restore."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.api import load_rules
from cep.engine import EngineOptions, SnapshotError, open_engine, resume_engine
from cep.engine.state import dump, ints, load
from cep.lang.checker import check_sources
from cep.runtime import restored
from cep.runtime.event import Event
from tests.test_snapshot import _values

SCHEMA = "event E { v: int, k: str, j: int }\n"
RULES = [
    "rule pairs { partition by k pattern a = E[v == 1] -> b = E[v == 2] within 6ms"
    " on timeout emit n = 1 }",
    "rule runs { partition by k, j pattern a = E[v == 1]+ -> b = E[v == 3] within 9ms"
    " skip past last }",
    "rule gaps { partition by j pattern a = E[v == 1] -> not E[v == 2] -> b = E[v == 3]"
    " within 4ms skip to next }",
]

streams = st.lists(
    st.tuples(st.integers(0, 3), st.integers(1, 3), st.integers(0, 9), st.integers(0, 2)),
    max_size=40,
)


def _engine(delay: int):
    checked = check_sources({"r.cep": SCHEMA + "\n".join(RULES)})
    assert checked.ok
    return checked, EngineOptions(delay)


def _feed(stream: list[tuple[int, int, int, int]]) -> list[Event]:
    ts, out = 0, []
    for gap, v, k, j in stream:
        ts += gap
        out.append(Event("E", ts, {"v": v, "k": f"k{k}", "j": j}))
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams, st.data(), st.sampled_from([0, 2]), st.booleans(), st.sampled_from([0, 0.5, 1]))
def test_resumed_on_many_keys_goes_on_and_snapshots_as_one_that_never_stopped(
    stream: list, data: st.DataObject, delay: int, flush: bool, share: float
) -> None:
    """Cut anywhere, the rest touching some keys only, the partitions left made at once
    after any share of them came back: reports, counters, cost and the state
    snapshotted at the end (partitions in the same order) are the uninterrupted
    engine's."""
    kept = restored.BULK_SHARE
    restored.BULK_SHARE = share
    try:
        _resume_and_compare(stream, data, delay, flush)
    finally:
        restored.BULK_SHARE = kept


def _resume_and_compare(stream: list, data: st.DataObject, delay: int, flush: bool) -> None:
    checked, options = _engine(delay)
    events = _feed(stream)
    cut = data.draw(st.integers(0, len(events)))
    whole = open_engine(load_rules(checked), checked.schemas, options, "interpreter")
    expected = [m for e in events for m in whole.push(e)]
    first = open_engine(load_rules(checked), checked.schemas, options, "interpreter")
    found = [m for e in events[:cut] for m in first.push(e)]
    resumed, _ = resume_engine(first.snapshot(), load_rules(checked), checked.schemas, options,
                               "interpreter")  # fmt: skip
    assert resumed.stats() == first.stats()  # (runs not made yet are counted)
    found.extend(m for e in events[cut:] for m in resumed.push(e))
    assert _values(found) == _values(expected)
    assert resumed.stats() == whole.stats()
    _same_cost(resumed, whole)
    assert load(resumed.snapshot()) == load(whole.snapshot())
    assert _values(resumed.finish(flush=flush)) == _values(whole.finish(flush=flush))
    assert resumed.stats() == whole.stats()
    _same_cost(resumed, whole)


def _same_cost(resumed, whole) -> None:
    """The state's cost (`--max-state`) is the uninterrupted engine's, where counted (once
    an event or a timer comes)."""
    for mine, theirs in zip(resumed.matchers, whole.matchers, strict=True):
        if mine._costed:
            assert mine.cost == theirs.cost


def test_keys_never_touched_again_time_out_when_time_passes_their_windows() -> None:
    checked, options = _engine(0)
    first = open_engine(load_rules(checked), checked.schemas, options, "interpreter")
    for t in range(50):  # (ten at each time, 0 to 4)
        first.push(Event("E", t // 10, {"v": 1, "k": f"k{t}", "j": 100 + t}))
    resumed, _ = resume_engine(first.snapshot(), load_rules(checked), checked.schemas, options,
                               "interpreter")  # fmt: skip
    assert resumed.stats().rules["pairs"].open_runs == 50
    # an event at 8 closes the windows (6ms) of the keys started by 2, nothing else
    found = resumed.push(Event("E", 8, {"v": 9, "k": "other", "j": 0}))
    assert [(m.rule, m.kind, m.key) for m in found] == [
        ("pairs", "timeout", {"k": f"k{t}"}) for t in range(30)
    ]
    assert resumed.stats().rules["pairs"].open_runs == 20


def test_the_end_of_a_trace_lists_restored_runs_never_touched() -> None:
    from cep.runtime.trace import RunTracer

    checked, options = _engine(0)
    first = open_engine(load_rules(checked), checked.schemas, options, "interpreter")
    for t in range(4):
        first.push(Event("E", 0, {"v": 1, "k": f"k{t}", "j": t}))
    resumed, _ = resume_engine(first.snapshot(), load_rules(checked), checked.schemas, options,
                               "interpreter")  # fmt: skip
    resumed.push(Event("E", 1, {"v": 1, "k": "k2", "j": 9}))  # (k2 made, the others not)
    matcher = resumed.matchers[0]  # type: ignore[attr-defined]
    tracer = RunTracer(matcher.rule)
    tracer.finish(matcher)
    assert [(ended.run.start.data["k"], ended.reason) for ended in tracer.ended] == [
        (f"k{t}", "still open at the end of the input")
        for t in (0, 1, 2, 2, 3)  # (k2: its restored run, then the new one)
    ]


def _damaged(change) -> bytes:
    checked, options = _engine(0)
    run = open_engine(load_rules(checked), checked.schemas, options, "interpreter")
    for t, (v, k) in enumerate([(1, 1), (1, 1), (1, 2), (3, 2)]):
        run.push(Event("E", t, {"v": v, "k": f"k{k}", "j": 0}))
    state = load(run.snapshot())
    change(next(rule for rule in state.rules if rule.name == "runs"))
    return dump(state)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: setattr(r, "cell_parent", ints([99] * (len(r.cell_parent) // 8))),
        lambda r: setattr(r, "cell_parent", ints(range(len(r.cell_parent) // 8))),  # own parent
        lambda r: setattr(r, "run_state", ints([99] * (len(r.run_state) // 8))),
        lambda r: setattr(r, "run_start", ints([-7] * (len(r.run_start) // 8))),
        lambda r: setattr(r, "keys", [["k1"] for _ in r.keys]),  # a key of one field of two
        lambda r: setattr(r, "keys", [[{"a": 1}, 0] for _ in r.keys]),  # no key at all
        lambda r: setattr(r, "timer_part", ints([5] * (len(r.timer_part) // 8))),
    ],
)  # fmt: skip
def test_damaged_tables_are_refused_at_restore_not_when_first_needed(change) -> None:
    checked, options = _engine(0)
    with pytest.raises(SnapshotError, match="damaged"):
        resume_engine(_damaged(change), load_rules(checked), checked.schemas, options,
                      "interpreter")  # fmt: skip
