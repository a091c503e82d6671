"""Event-time ordering within an allowed delay."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cep.runtime.event import Event
from cep.runtime.ordering import EventOrderer


def ev(ts: int, seq: int) -> Event:
    return Event("E", ts, {}, seq=seq)


def run(times: list[int], delay: int) -> tuple[list[int], list[int]]:
    """(released seqs in order, late seqs)"""
    orderer = EventOrderer(delay)
    released: list[int] = []
    late: list[int] = []
    for seq, ts in enumerate(times):
        event = ev(ts, seq)
        if orderer.is_late(event):
            late.append(seq)
            continue
        released.extend(e.seq for e in orderer.push(event))
    released.extend(e.seq for e in orderer.drain())
    return released, late


def test_without_delay_events_pass_straight_through_and_older_ones_are_late():
    assert run([10, 20, 20, 15, 30], 0) == ([0, 1, 2, 4], [3])


def test_equal_times_keep_arrival_order():
    assert run([5, 5, 5], 0) == ([0, 1, 2], [])


def test_an_allowed_delay_reorders_within_it():
    assert run([10, 20, 15, 12, 40, 30], 10) == ([0, 3, 2, 1, 5, 4], [])


def test_an_event_older_than_the_watermark_is_late_even_with_a_delay():
    # watermark after 40 is 30: 25 is late, 30 is not
    assert run([40, 25, 30], 10) == ([2, 0], [1])


def test_events_are_held_until_the_watermark_reaches_them():
    orderer = EventOrderer(10)
    assert [e.seq for e in orderer.push(ev(100, 0))] == []
    assert orderer.held == 1
    assert [e.seq for e in orderer.push(ev(105, 1))] == []
    assert [e.seq for e in orderer.push(ev(110, 2))] == [0]
    assert [e.seq for e in orderer.drain()] == [1, 2]


@given(st.lists(st.integers(0, 50), max_size=30), st.integers(0, 20))
def test_every_event_is_released_or_late_and_released_ones_are_sorted(times, delay):
    released, late = run(times, delay)
    assert sorted(released + late) == list(range(len(times)))
    keys = [(times[s], s) for s in released]
    assert keys == sorted(keys)
