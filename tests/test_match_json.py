"""`Match.to_json()` writes exactly `json.dumps(match.to_dict(), ensure_ascii=False,
default=str)`: the output contract's text, whichever encoder writes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.sources import SourceEvent
from cep.runtime.event import Event
from cep.runtime.match import Match

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
    st.just(datetime(2024, 1, 1, tzinfo=UTC)), st.just((1, 2)),
    st.just({2: "a", True: "b", None: "c"}),
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
def test_to_json_is_the_json_module_text_of_to_dict(match: Match) -> None:
    assert match.to_json() == json.dumps(match.to_dict(), ensure_ascii=False, default=str)


def test_floats_are_written_as_python_writes_them() -> None:
    """Floats whose shortest form has an exponent keep Python's form (`1e+16`)."""
    record = {"big": 1e16, "small": 1e-05, "plain": 71.7, "nan": float("nan")}
    match = Match("r", "match", 1, None, {}, {"a": SourceEvent("T", 0, record, raw=record)})
    assert '"big": 1e+16, "small": 1e-05, "plain": 71.7, "nan": null' in match.to_json()
