"""`Match.to_json()` writes one line of strict JSON, by one encoder, that reads back as
`to_dict()` (events as read: a JSON line's event is the text of its line)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.sources import SourceEvent
from cep.runtime.event import Event
from cep.runtime.match import Match


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not strict JSON")

    assert "\n" not in text
    return json.loads(text, parse_constant=refuse)


_keys = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["type", "ts", "amount", "é", "\u2028", 'a"b', "\\", "\ud800"]),
)
_floats = st.one_of(
    st.floats(),
    st.sampled_from([1e16, 1e-5, 1e-4, 9999999999999998.0, 0.0, -0.0, 1e22, 5e-324]),
    st.builds(lambda m, e: m * 10.0**e, st.floats(-10, 10), st.integers(-8, 20)),
)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), _floats, st.text(max_size=8),
    st.sampled_from(["\x00", "\x1f\x7f", "\ud800", "line\nbreak", "1e5", "0.00001"]),
)  # fmt: skip
_odd = st.one_of(
    st.just((1, 2)), st.just({2: "a", True: "b", None: "c"}),
    st.lists(_scalars, max_size=3), st.dictionaries(_keys, _scalars, max_size=3),
)  # fmt: skip
_records = st.dictionaries(_keys, st.one_of(_scalars, _scalars, _scalars, _odd), max_size=6)


@st.composite
def _matches(draw) -> Match:
    def event() -> Event:
        record = draw(_records)
        return SourceEvent("T", 0, record, raw=record)

    events: dict[str, Event | list[Event]] = {}
    for name in draw(st.lists(st.sampled_from(["a", "b", "f"]), unique=True, max_size=3)):
        events[name] = (
            event() if draw(st.booleans()) else [event() for _ in range(draw(st.integers(0, 3)))]
        )
    fields = draw(st.dictionaries(st.text(max_size=4), st.one_of(_scalars, _odd), max_size=4))
    if events and draw(st.booleans()):
        fields["whole"] = next(iter(events.values()))  # an emit may return events
    key = draw(st.one_of(st.none(), st.dictionaries(st.text(max_size=4), _scalars, max_size=2)))
    return Match(
        draw(st.text(max_size=5)),
        draw(st.sampled_from(["match", "timeout"])),
        draw(st.integers()),
        key,
        fields,
        events,
        draw(st.one_of(st.none(), st.text(max_size=4))),
        draw(st.one_of(st.none(), st.lists(st.text(max_size=3), max_size=2).map(tuple))),
    )


@settings(max_examples=600, deadline=None)
@given(_matches())
def test_to_json_is_strict_json_that_reads_back_as_to_dict(match: Match) -> None:
    """NaN and infinities are null; a lone surrogate is written as its escape."""
    assert _strict(match.to_json()) == json.loads(json.dumps(match.to_dict()))


def test_a_json_lines_event_is_written_as_the_text_of_its_line() -> None:
    line = '{"type": "T",  "ts":0, "amount": 1.50, "big": 1e3, "esc": "\\ud800"}'
    record = json.loads(line)
    event = SourceEvent("T", 0, record, raw=record, text=line, json=line)
    match = Match("r", "match", 1, {"k": record["esc"]}, {"x": 1e16}, {"a": event, "b": [event]})
    text = match.to_json()
    assert f'"a":{line},"b":[{line}]' in text
    assert _strict(text)["key"] == {"k": "\ud800"}


def test_other_values_are_written_by_the_one_encoder() -> None:
    """A value JSON has no type for (a date of a Parquet cell, say) is written as
    msgspec writes it, or else as its `str`."""
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    match = Match("r", "match", 1, None, {"at": moment, "odd": object}, {})
    fields = _strict(match.to_json())["fields"]
    assert fields == {"at": "2024-01-01T00:00:00Z", "odd": str(object)}
