"""The Python API on a live feed: `idle` and `tick`, `follow`."""

from __future__ import annotations

import itertools
import json
import threading
from pathlib import Path

import pytest

from cep import Engine
from cep.api import EventError

RULES = """
event Order { order: str }
event Shipment { order: str }
rule unshipped { partition by order  pattern o = Order -> not Shipment  within 2s }
"""
T0 = 1_700_000_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tick_moves_time_on_a_quiet_feed() -> None:
    engine = Engine.from_string(RULES, idle="1s")
    assert engine.idle is not None
    clock = engine.idle.clock = FakeClock()
    assert engine.push({"type": "Order", "ts": T0, "order": "o1"}) == []
    clock.now += 1.5
    assert engine.tick() == []  # (the window is not over yet)
    clock.now += 0.5
    [report] = engine.tick()
    assert report.rule == "unshipped" and report.ts == T0 + 2000


def test_tick_without_idle_does_nothing() -> None:
    engine = Engine.from_string(RULES)
    engine.push({"type": "Order", "ts": T0, "order": "o1"})
    assert engine.tick() == []


def test_follow_a_file(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"type": "Order", "ts": T0, "order": "o1"}) + "\n" + "{not json\n")
    engine = Engine.from_string(RULES, idle="1s")
    assert engine.idle is not None
    ticks = itertools.count()
    engine.idle.clock = lambda: next(ticks) * 0.1  # (a clock that moves on each look)
    rejected: list[tuple[int, str]] = []
    stop = threading.Event()
    found = []
    follow = engine.follow(
        str(path), poll=0.0, stop=stop, on_reject=lambda n, why, text: rejected.append((n, why))
    )
    for report in follow:
        found.append(report)
        stop.set()
    assert [r.key for r in found] == [{"order": "o1"}]
    assert [n for n, _ in rejected] == [2]


def test_follow_raises_on_a_bad_line_without_on_reject(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("[1]\n")
    with pytest.raises(EventError, match="line 1"):
        next(Engine.from_string(RULES).follow(str(path), poll=0.0))
