"""`LazyMatch`: a report whose fields and events are worked out when first read looks
and behaves like a plain `Match`."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from cep.runtime.event import Event
from cep.runtime.match import LazyMatch, Match


def _lazy(calls: list[int]) -> LazyMatch:
    def content() -> tuple[dict, dict]:
        calls.append(1)
        return {"total": 3}, {"a": Event("E", 5, {"v": 1})}

    return LazyMatch.pending("r", "match", 5, {"k": "x"}, "high", ("t",), content)


def test_fields_and_events_are_worked_out_once_when_first_read() -> None:
    calls: list[int] = []
    match = _lazy(calls)
    assert (match.rule, match.kind, match.ts, match.key) == ("r", "match", 5, {"k": "x"})
    assert calls == []
    assert match.fields == {"total": 3}
    assert match.events["a"].data == {"v": 1}
    assert calls == [1]


def test_written_as_the_same_match_would_be() -> None:
    lazy = _lazy([])
    plain = Match("r", "match", 5, {"k": "x"}, {"total": 3}, {"a": Event("E", 5, {"v": 1})},
                  "high", ("t",))  # fmt: skip
    assert lazy.to_json() == plain.to_json()
    assert lazy.to_dict() == plain.to_dict()
    assert repr(lazy).replace("LazyMatch", "Match") == repr(plain)


def test_pickles_as_its_content() -> None:
    calls: list[int] = []
    copy = pickle.loads(pickle.dumps(_lazy(calls)))
    assert calls == [1]
    assert copy.fields == {"total": 3}
    assert copy.to_dict()["events"] == {"a": {"v": 1}}


def test_replaced_and_copied_as_a_match_is() -> None:
    lazy = _lazy([])
    assert dataclasses.replace(lazy, kind="timeout").to_dict() == {
        **lazy.to_dict(),
        "kind": "timeout",
    }
    assert copy.copy(lazy).fields == {"total": 3}


def test_other_missing_attributes_still_raise() -> None:
    with pytest.raises(AttributeError, match="nothing"):
        _lazy([]).nothing  # noqa: B018
