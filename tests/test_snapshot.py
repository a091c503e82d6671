"""Snapshots of the interpreter: a stream cut anywhere, snapshotted, restored into a
fresh engine and fed the rest gives the reports and counters of one uninterrupted
engine; rules changed between the two keep or drop their state as they should; bad
snapshots are refused with a message."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cep.api import load_rules
from cep.engine import EngineOptions, SnapshotError, open_engine, resume_engine
from cep.engine.state import DATA, dump, load
from cep.lang.checker import check_sources
from cep.runtime.event import Event

SCHEMA = "event E { v: int, k: str }\n"
INTERPRETER = EngineOptions(), "interpreter"


@st.composite
def terms(draw: st.DrawFn, index: int) -> str:
    cond = draw(st.sampled_from(["v == 1", "v == 2", "v in [1, 2]", "v >= 2", "v != 3"]))
    quantifier = draw(st.sampled_from(["", "", "?", "+", "+?", "{2}", "{1,3}", "{2,}", "*?"]))
    return f"t{index} = E[{cond}]{quantifier}"


@st.composite
def rules(draw: st.DrawFn, name: str = "r") -> str:
    parts = [draw(terms(0))]
    for index in range(1, draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["->", "=>", "->>"]))
        if draw(st.integers(0, 4)) == 0 and op != "->>":
            parts.append(f"{op} not E[v == 3]")
            op = "->"
        parts.append(f"{op} {draw(terms(index))}")
    skip = draw(st.sampled_from(["none", "past last", "to next", "to first t0", "to last t0"]))
    within = draw(st.sampled_from(["", "within 3ms", "within 5ms"]))
    partition = draw(st.sampled_from(["", "partition by k"]))
    timeout = ""
    if within and draw(st.booleans()):
        timeout = (
            "on timeout emit n = count(t0)"
            if "{" in parts[0] or "+" in parts[0]
            else ("on timeout emit n = 1")
        )
    return f"rule {name} {{ {partition} pattern {' '.join(parts)} {within} skip {skip} {timeout} }}"


streams = st.lists(
    st.tuples(st.integers(-2, 3), st.integers(1, 3), st.sampled_from(["a", "b"])), max_size=14
)


def _events(stream: list[tuple[int, int, str]]) -> list[Event]:
    ts, out = 10, []
    for gap, value, key in stream:
        ts = max(0, ts + gap)
        out.append(Event("E", ts, {"v": value, "k": key}))
    return out


def _fresh(events: list[Event]) -> list[Event]:
    return [Event(e.type, e.ts, dict(e.data)) for e in events]


def _checked(*texts: str):
    checked = check_sources({"r.cep": SCHEMA + "\n".join(texts)})
    return checked if checked.ok else None


def _uninterrupted(checked, events, delay, flush, engine="interpreter"):
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(delay), engine)
    out = [m for e in _fresh(events) for m in run.push(e)]
    out.extend(run.finish(flush=flush))
    return _values(out), run.stats()


def _resumed(checked, events, cut, delay, flush, first="interpreter", second="interpreter"):
    rules = load_rules(checked)
    run = open_engine(rules, checked.schemas, EngineOptions(delay), first)
    events = _fresh(events)
    out = [m for e in events[:cut] for m in run.push(e)]
    snapshot = run.snapshot()
    resumed, changes = resume_engine(
        snapshot, load_rules(checked), checked.schemas, EngineOptions(delay), second
    )
    assert not changes.any and changes.kept == [r.name for r in rules]
    out.extend(m for e in events[cut:] for m in resumed.push(e))
    out.extend(resumed.finish(flush=flush))
    return _values(out), resumed.stats()


def _values(reports) -> list:
    """Reports as the JSON values a user reads (with each event's number)."""
    return [
        (
            json.loads(m.to_json()),
            [
                (v, e.seq)
                for v, es in m.events.items()
                for e in (es if isinstance(es, list) else [es])
            ],
        )
        for m in reports
    ]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules(), streams, st.data(), st.sampled_from([0, 0, 2]), st.booleans())
def test_a_resumed_interpreter_reports_as_one_that_never_stopped(
    text: str, stream: list, data: st.DataObject, delay: int, flush: bool
) -> None:
    checked = _checked(text)
    if checked is None:
        return  # a shape the checker refuses
    events = _events(stream)
    cut = data.draw(st.integers(0, len(events)))
    assert _resumed(checked, events, cut, delay, flush) == _uninterrupted(
        checked, events, delay, flush
    ), text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules("r"), rules("s"), streams, st.data())
def test_several_rules_share_one_snapshot(text_r, text_s, stream, data) -> None:
    checked = _checked(text_r, text_s)
    if checked is None:
        return
    events = _events(stream)
    cut = data.draw(st.integers(0, len(events)))
    assert _resumed(checked, events, cut, 2, True) == _uninterrupted(checked, events, 2, True)


def _snapshot_by_loop(run) -> bytes:
    """`run`'s snapshot as the general loop over runs makes it, with no table taken in
    bulk (`_runs_in_bulk` declining)."""
    from cep.runtime import snapshot

    bulk = snapshot._runs_in_bulk
    snapshot._runs_in_bulk = lambda *args: None
    try:
        return run.snapshot()
    finally:
        snapshot._runs_in_bulk = bulk


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["partition by k", "partition by k", ""]),
    st.sampled_from(["", "within 2ms", "within 4ms", "within 4ms"]),
    st.sampled_from(["", "", "a2 = E[v == 1] ->"]),
    st.lists(st.tuples(st.integers(0, 2), st.sampled_from([1, 1, 1, 2, 3]),
                       st.sampled_from("abcde")), max_size=30),
    st.sampled_from([0, 0, 0, 2]),
    st.sampled_from([0, 0, 250]),
)  # fmt: skip
@example("partition by k", "within 4ms", "", [(0, 1, "a"), (1, 2, "a"), (0, 1, "b")], 0, 0)
@example("partition by k", "within 4ms", "", [(0, 1, "a"), (1, 2, "a"), (0, 1, "b")], 0, 250)
def test_a_snapshot_taken_in_bulk_is_the_one_the_loop_takes(
    partition: str, within: str, second: str, stream: list, delay: int, apart: int
) -> None:
    """Many runs that bound one event each are written a table at a time (their
    timers' partitions found by the runs their events started); the snapshot is byte
    for byte the one the loop over every run writes, whatever the runs, timers and
    partitions gone since are, and however far apart the events that started the
    runs came (`apart` events that start none after the first)."""
    text = f"rule r {{ {partition} pattern {second} a = E[v == 1] -> b = E[v == 2] {within} }}"
    checked = _checked(text, RULE_S.replace("1m", "3ms"))
    assert checked is not None
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(delay), "interpreter")
    for i, event in enumerate(_events(stream)):
        run.push(event)
        if i == 0:
            for _ in range(apart):
                run.push(Event("E", event.ts, {"v": 4, "k": "z"}))
    assert run.snapshot() == _snapshot_by_loop(run)


def test_a_match_held_beside_runs_of_one_event_each_is_kept() -> None:
    """A match held while an earlier run is open, that run having bound one event: the
    snapshot keeps the match (no table taken in bulk), and the restored engine releases
    it after the earlier run's own match, as one never cut does."""
    text = (
        'rule r { partition by v pattern a = E[k == "s"] -> b = E[k == "e" and v == a.v] '
        "within 1m skip to next }"
    )
    checked = _checked(text.replace("partition by v ", ""))
    assert checked is not None
    events = [Event("E", t, {"v": v, "k": k}) for t, v, k in
              ((0, 1, "s"), (1, 2, "s"), (2, 2, "e"), (3, 1, "e"))]  # fmt: skip
    run = open_engine(load_rules(checked), checked.schemas, *INTERPRETER)
    assert [m for e in _fresh(events[:3]) for m in run.push(e)] == []
    held = run.stats().rules["r"]
    assert (held.open_runs, held.held_matches) == (1, 1)
    snapshot = run.snapshot()
    assert snapshot == _snapshot_by_loop(run)
    resumed, _ = resume_engine(snapshot, load_rules(checked), checked.schemas, *INTERPRETER)
    restored = resumed.stats().rules["r"]
    assert (restored.open_runs, restored.held_matches) == (1, 1)
    out = [m for e in _fresh(events[3:]) for m in resumed.push(e)]
    assert _values(out) == _uninterrupted(checked, events, 0, False)[0] != []


RULE_R = (
    "rule r { partition by k pattern a = E[v == 1] -> b = E[v == 2] -> c = E[v == 3] within 1m }"
)
RULE_S = "rule s { partition by k pattern a = E[v == 1] -> b = E[v == 3] within 1m }"


def _three_step_feed() -> list[Event]:
    return [Event("E", t, {"v": v, "k": "u"}) for t, v in ((1, 1), (2, 2), (3, 3))]


def test_an_unchanged_rule_keeps_its_runs_and_a_changed_one_starts_empty() -> None:
    before = _checked(RULE_R, RULE_S)
    run = open_engine(load_rules(before), before.schemas, EngineOptions(), "interpreter")
    events = _three_step_feed()
    for event in events[:2]:
        assert run.push(event) == []
    snapshot = run.snapshot()
    after = _checked(RULE_R, RULE_S.replace("v == 3", "v >= 3"), RULE_S.replace("rule s", "rule t"))
    resumed, changes = resume_engine(snapshot, load_rules(after), after.schemas, *INTERPRETER)
    assert changes.kept == ["r"] and changes.changed == ["s"] and changes.new == ["t"]
    assert changes.dropped_runs == {"s": 1}
    found = resumed.push(events[2])
    assert [m.rule for m in found] == ["r"]  # s's run (started at 1) was dropped
    assert "changed, started empty: s (1 open runs dropped)" in changes.describe()


def test_a_removed_rule_is_reported_with_its_dropped_runs() -> None:
    before = _checked(RULE_R, RULE_S)
    run = open_engine(load_rules(before), before.schemas, EngineOptions(), "interpreter")
    run.push(_three_step_feed()[0])
    after = _checked(RULE_R)
    _, changes = resume_engine(run.snapshot(), load_rules(after), after.schemas, *INTERPRETER)
    assert changes.removed == ["s"] and changes.dropped_runs == {"s": 1}
    assert "removed: s (1 open runs dropped)" in changes.describe()


def test_a_constant_changed_changes_the_fingerprint() -> None:
    text = "const N = 1\nrule r { pattern a = E[v == N] -> b = E[v == 2] }"
    before, after = _checked(text), _checked(text.replace("N = 1", "N = 3"))
    run = open_engine(load_rules(before), before.schemas, EngineOptions(), "interpreter")
    run.push(Event("E", 1, {"v": 1, "k": "u"}))
    _, changes = resume_engine(run.snapshot(), load_rules(after), after.schemas, *INTERPRETER)
    assert changes.changed == ["r"]


def test_the_snapshot_of_a_restored_engine_is_the_same() -> None:
    checked = _checked(RULE_R, RULE_S)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(5), "interpreter")
    for event in _three_step_feed()[:2]:
        run.push(event)
    snapshot = run.snapshot()
    resumed, _ = resume_engine(
        snapshot, load_rules(checked), checked.schemas, EngineOptions(5), "interpreter"
    )
    assert resumed.snapshot() == snapshot


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], "damaged"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "checksum"),
        (lambda b: b"PK\x03\x04" + b[4:], "not a cep snapshot"),
        (lambda b: b"", "not a cep snapshot"),
        (lambda b: b[:8] + (99).to_bytes(4, "little") + b[12:], "format 99"),
        (lambda b: b[:18], "cut short"),
    ],
)
def test_a_damaged_or_foreign_snapshot_is_refused_with_a_message(damage, message) -> None:
    checked = _checked(RULE_R)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(), "interpreter")
    run.push(_three_step_feed()[0])
    with pytest.raises(SnapshotError, match=message):
        resume_engine(damage(run.snapshot()), load_rules(checked), checked.schemas, *INTERPRETER)


def test_a_snapshot_of_format_2_is_still_read() -> None:
    """Format 2 differs from 3 in its header's checksum only (a CRC-32): a snapshot an
    earlier cep wrote restores, and a damaged one is refused."""
    import zlib

    checked = _checked(RULE_R)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(5), "interpreter")
    for event in _three_step_feed()[:2]:
        run.push(event)
    snapshot = run.snapshot()
    assert int.from_bytes(snapshot[8:12], "little") == 3
    body = snapshot[20:]
    old = b"CEPSTATE" + (2).to_bytes(4, "little") + zlib.crc32(body).to_bytes(4, "little")
    resumed, changes = resume_engine(
        old + body, load_rules(checked), checked.schemas, EngineOptions(5), "interpreter"
    )
    assert changes.kept == ["r"] and resumed.snapshot() == snapshot
    with pytest.raises(SnapshotError, match="checksum"):
        load(old + body[:-1] + bytes([body[-1] ^ 1]))


def test_a_well_formed_snapshot_with_tables_out_of_range_is_refused() -> None:
    checked = _checked(RULE_R)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(), "interpreter")
    run.push(_three_step_feed()[0])
    state = load(run.snapshot())
    broken = state.rules[0]
    broken.cell_event = (99).to_bytes(8, "little")
    with pytest.raises(SnapshotError, match="damaged"):
        resume_engine(dump(state), load_rules(checked), checked.schemas, *INTERPRETER)


def test_a_timer_that_does_not_close_its_window_is_refused() -> None:
    """A window timer closes at its event's time plus the rule's `within` (what a
    snapshot takes it to be); a snapshot where one does not is damaged."""
    checked = _checked(RULE_R)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(), "interpreter")
    run.push(_three_step_feed()[0])
    state = load(run.snapshot())
    close = int.from_bytes(state.rules[0].timer_close, "little", signed=True)
    assert close == 1 + 60_000
    state.rules[0].timer_close = (close + 1).to_bytes(8, "little", signed=True)
    with pytest.raises(SnapshotError, match="timers"):
        resume_engine(dump(state), load_rules(checked), checked.schemas, *INTERPRETER)


def test_the_python_api_snapshots_and_restores() -> None:
    from cep import Engine

    text = SCHEMA + RULE_R
    first = [{"type": "E", "ts": t, "v": v, "k": "u"} for t, v in ((1, 1), (3, 2))]
    engine = Engine.from_string(text, allowed_delay="5ms")
    assert list(engine.feed(first)) == []
    saved = engine.snapshot()
    assert type(saved) is bytes  # (immutable: hashable, what key-value stores take)
    resumed = Engine.from_string(text, allowed_delay="5ms")
    assert resumed.restore(saved).kept == ["r"]
    found = resumed.run(
        [{"type": "E", "ts": 2, "v": 3, "k": "u"}, {"type": "E", "ts": 4, "v": 3, "k": "u"}]
    )
    # held back for 5ms, the events are matched in time order: 1, 2 (v=3), 3, 4
    assert [(m.rule, m.ts) for m in found] == [("r", 4)]
    assert resumed.stats().events == 4


def _one_event_state() -> tuple[object, object]:
    checked = _checked(RULE_R)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(), "interpreter")
    run.push(_three_step_feed()[0])
    return checked, load(run.snapshot())


def _as_text(table, text: bytes, end: int | bytes) -> None:
    """The table's one event made one kept as `text` (ending at `end`)."""
    table.kind, table.values, table.text = bytes(len(table.kind)), [], text
    table.text_end = end if isinstance(end, bytes) else end.to_bytes(8, "little")


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: setattr(t, "kind", bytes([7]) * len(t.kind)),  # no such kind
        lambda t: setattr(t, "type", (5).to_bytes(8, "little") * len(t.kind)),  # no such type
        lambda t: setattr(t, "values", []),  # a value missing
        lambda t: setattr(t, "ts", t.ts[:-1]),  # a partial row
        lambda t: _as_text(t, b"", b""),  # no text
        lambda t: _as_text(t, b"[1]\n", 3),  # not an object
        lambda t: _as_text(t, b'{"v": 1} {}\n', 11),  # two values
        lambda t: _as_text(t, b'{"v":\n', 5),  # cut short
        lambda t: _as_text(t, b"{}\n", 9),  # past the end
        lambda t: _as_text(t, b"\xff\n", 1),  # not UTF-8
    ],
)  # fmt: skip
def test_a_damaged_event_table_is_refused(damage) -> None:
    """Whatever the event table says that does not hold together, a restore refuses it
    with SnapshotError (on either engine), never a traceback."""
    checked, state = _one_event_state()
    damage(state.events)  # type: ignore[attr-defined]
    for kind in ("interpreter", "fast"):
        with pytest.raises(SnapshotError, match="damaged"):
            resume_engine(dump(state), load_rules(checked), checked.schemas, EngineOptions(), kind)  # type: ignore[arg-type]


def test_an_event_value_that_is_not_a_record_is_refused() -> None:
    """An event made in Python is stored as its values; values that are not a record
    (a map of field names) are refused at restore by either engine."""
    checked = _checked(RULE_R)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(), "interpreter")
    run.push(Event("E", 1, {"v": 1, "k": "u", "w": "x"}))
    state = load(run.snapshot())
    assert list(state.events.kind) == [DATA]
    rules, options = load_rules(checked), EngineOptions()
    for value in ([1], {1: 2}):
        state.events.values = [value]
        for kind in ("interpreter", "fast"):
            with pytest.raises(SnapshotError, match="damaged"):
                resume_engine(dump(state), rules, checked.schemas, options, kind)  # type: ignore[arg-type]


def test_event_texts_with_newlines_and_non_ascii_come_back_as_they_were() -> None:
    """An event's text as reports write it is kept byte for byte, whatever it holds."""
    from cep.engine.state import events_of, table_of
    from cep.io.sources import SourceEvent

    texts = ['{"v": 1,\n "k": "é"}', '{"v":2,"k":"\\ud800"}', '{"v":3,"k":"\ud800日本"}']
    events = [
        SourceEvent("E", i, None, i, None, json=text)  # type: ignore[arg-type]
        for i, text in enumerate(texts)
    ]
    events.append(SourceEvent("E", 9, {"v": 1, "k": "a"}, 9, 4, raw={"v": "1", "k": "a"}))
    events.append(Event("E", 10, {"v": 2.5, "k": "b"}, 10))
    table = load(dump(_state_with(table_of(events)))).events
    back = events_of(table)
    assert [e.json for e in back[:3]] == texts  # (a lone surrogate too)
    assert back[3].raw == {"v": "1", "k": "a"} and back[3].line == 4
    assert type(back[4]) is Event and back[4].data == {"v": 2.5, "k": "b"}
    assert table_of(back) == table


def test_many_event_texts_come_back_as_they_were() -> None:
    """Texts joined a part at a time: a text with a newline of its own anywhere among
    tens of thousands, at the end of a part too, keeps every text apart."""
    from cep.engine.state import _TEXTS_AT_ONCE, events_of, table_of
    from cep.io.sources import SourceEvent

    n = 2 * _TEXTS_AT_ONCE + 5
    texts = [f'{{"v":{i},"k":"k{i % 7}"}}' for i in range(n)]
    for at in (0, _TEXTS_AT_ONCE - 1, _TEXTS_AT_ONCE, n - 1):
        texts[at] = f'{{"v":{at},\n"k":"é"}}'
    events = [SourceEvent("E", i, None, i, i, json=text) for i, text in enumerate(texts)]  # type: ignore[arg-type]
    table = load(dump(_state_with(table_of(events)))).events
    assert [e.json for e in events_of(table)] == texts
    plain = texts[1 : _TEXTS_AT_ONCE - 1]
    table = load(dump(_state_with(table_of(events[1 : _TEXTS_AT_ONCE - 1])))).events
    assert [e.json for e in events_of(table)] == plain
    mixed = [*events[:3], Event("E", 3, {"v": 7, "k": "p"}, 3), *events[4:9]]
    back = events_of(load(dump(_state_with(table_of(mixed)))).events)
    assert [getattr(e, "json", None) for e in back] == [*texts[:3], None, *texts[4:9]]
    assert back[3].data == {"v": 7, "k": "p"}


@pytest.mark.parametrize("hold", ["itself", "a view", "a list"])
def test_a_snapshot_kept_is_never_written_over_by_the_next(hold) -> None:
    """An engine encodes a snapshot where its last one was only once nothing else
    holds that one: a snapshot kept (or a view of it) stays as it was and restores."""
    checked = _checked(RULE_R, RULE_S)
    run = open_engine(load_rules(checked), checked.schemas, EngineOptions(5), "interpreter")
    feed = _three_step_feed()
    run.push(feed[0])
    first = run.snapshot()
    was = bytes(first)
    kept = {"itself": first, "a view": memoryview(first)[3:], "a list": [first]}[hold]
    del first
    for event in feed[1:]:
        run.push(event)
    second = run.snapshot()
    del second  # (let go: the next is encoded where it was)
    third = run.snapshot()
    snapshot = bytes(kept[0] if hold == "a list" else kept)
    assert snapshot == (was if hold != "a view" else was[3:]) and was != third
    resumed, _ = resume_engine(was, load_rules(checked), checked.schemas, EngineOptions(5),
                               "interpreter")  # fmt: skip
    assert resumed.snapshot() == was


def _state_with(table: object) -> object:
    from cep.engine.state import EngineState

    return EngineState(engine="test", events=table)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)), max_size=8),
       st.booleans())  # fmt: skip
def test_rows_are_ordered_as_lexsort_orders_them(rows: list, in_order: bool) -> None:
    """Timers and events are put in order as `np.lexsort` puts them, whether or not
    they come in order already."""
    import numpy as np

    from cep.engine.state import lex_order

    keys = tuple(np.array([row[k] for row in rows], np.int64) for k in range(3))
    if in_order:
        keys = tuple(key[np.lexsort(keys)] for key in keys)
    assert lex_order(keys).tolist() == np.lexsort(keys).tolist()
