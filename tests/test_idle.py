"""`--idle`: on a quiet live feed the watermark moves with the wall clock, so absences
fire without another event. The loop is driven here by a clock the test moves (no
timing); the command-line tests only check that the report comes out, with a generous
upper bound."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cep.api import load_rules
from cep.engine import EngineOptions, open_engine
from cep.io.columnar import read_jsonl_batches
from cep.io.follow import Followed
from cep.io.rejects import RejectsWriter, late_reject
from cep.lang.checker import check_sources
from cep.service.feed import Feed
from cep.service.host import Progress
from cep.service.idle import IdleClock
from cep.service.stopping import Stop
from tests.checkpoints import cep_run, environment

RULES = """
event Order { order: str }
event Shipment { order: str }
rule unshipped { partition by order  pattern o = Order -> not Shipment  within 2s }
"""
#: a rule the fast path refuses (a pattern from an earlier event): with it, `auto` runs
#: the mixed engine
REFUSED = """
rule echo { partition by order  pattern o = Order -> s = Shipment[order =~ o.order]  within 2s }
"""
T0 = 1_700_000_000_000


def _order(name: str, ts: int) -> str:
    return json.dumps({"type": "Order", "ts": ts, "order": name}) + "\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _feed(tmp_path: Path, engine_name: str, delay_ms: int = 0) -> tuple[Feed, FakeClock, Path]:
    """A run over a followed file whose every read that finds nothing new moves the
    clock on by a quarter of a second (polls of no wait: an empty batch each)."""
    checked = check_sources({"r.cep": RULES + (REFUSED if engine_name == "auto" else "")})
    lates: list[Any] = []
    options = EngineOptions(
        allowed_delay_ms=delay_ms, json_lines=True, on_late=lambda e: lates.append(late_reject(e))
    )
    engine = open_engine(load_rules(checked), checked.schemas, options, engine_name)
    clock = FakeClock()
    path = tmp_path / "in.jsonl"
    path.write_text("")

    @contextmanager
    def batches(current: Any) -> Iterator[Iterator[Any]]:
        with Followed(str(path)) as followed:
            read = read_jsonl_batches(followed, fields=current.fields(), poll=0.0)

            def ticking() -> Iterator[Any]:
                for batch in read:
                    yield batch
                    if not len(batch):
                        clock.now += 0.25

            yield ticking()

    idle = IdleClock(1000, delay_ms, clock=clock)
    feed = Feed(engine, batches, RejectsWriter(), lates, Progress(), None, str(path), idle=idle)
    return feed, clock, path


def _until_report(
    reports: Iterator[bytes], clock: FakeClock, limit: int = 100
) -> tuple[dict, float]:
    """The next report, and the clock's time when it came out."""
    for _ in range(limit):
        lines = next(reports)
        if lines:
            return json.loads(lines.splitlines()[0]), clock.now
    raise AssertionError("no report came out")


@pytest.mark.parametrize("engine", ["interpreter", "fast", "auto"])
@pytest.mark.parametrize("delay_ms", [0, 500])
def test_an_absence_fires_on_a_quiet_feed(tmp_path: Path, engine: str, delay_ms: int) -> None:
    feed, clock, path = _feed(tmp_path, engine, delay_ms)
    assert feed.engine.kind == {"auto": "mixed"}.get(engine, engine)
    start = clock.now
    path.write_text(_order("o1", T0))
    report, at = _until_report(feed.reports(), clock)
    assert report["kind"] == "match" and report["key"] == {"order": "o1"}
    assert report["ts"] == T0 + 2000
    # the window closes 2 s after the order; the watermark trails the wall clock by the
    # allowed delay; it moves in steps of the reader's polls (a quarter second here)
    assert at - start == pytest.approx(2.0 + delay_ms / 1000, abs=0.26)


def test_event_time_takes_over_again(tmp_path: Path) -> None:
    """A late-comer older than the watermark the wall clock reached is late; a newer
    event moves time as ever."""
    feed, clock, path = _feed(tmp_path, "interpreter")
    path.write_text(_order("o1", T0))
    reports = feed.reports()
    _until_report(reports, clock)
    with path.open("a") as out:
        out.write(_order("late", T0 + 100))
        out.write(_order("o2", T0 + 60_000))
    next(reports)
    assert feed.engine.stats().late == 1 and feed.rejects.counts == {"late": 1}
    assert feed.engine.watermark == T0 + 60_000
    report, _ = _until_report(reports, clock)
    assert report["key"] == {"order": "o2"}


def test_the_clock_waits_for_quiet_and_for_a_first_event() -> None:
    clock = FakeClock()
    idle = IdleClock(1000, 0, clock=clock)
    clock.now += 5
    assert idle.due(-(2**63)) is None  # (no event yet: no time to move on from)
    idle.arrived(T0)
    clock.now += 0.9
    assert idle.due(T0) is None  # (not quiet for a second yet)
    clock.now += 0.2
    assert idle.due(T0) == T0 + 1100
    assert idle.due(T0 + 2000) is None  # (never backwards)
    idle.arrived(T0 - 5000)  # (an older event: the largest time stays, the quiet restarts)
    assert idle.due(T0) is None
    clock.now += 1
    assert idle.due(T0) == T0 + 2100


def test_a_resumed_run_moves_on_from_its_watermark() -> None:
    clock = FakeClock()
    idle = IdleClock(1000, 250, clock=clock)
    idle.start(T0)
    clock.now += 1.5
    assert idle.due(T0) == T0 + 1500
    idle.arrived(T0 + 10_000)
    clock.now += 1
    assert idle.due(T0) == T0 + 10_000 + 1000 - 250


def _live(command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environment(), **kwargs)  # fmt: skip


def _first_line(process: subprocess.Popen[bytes], within: float = 60) -> bytes:
    """The process's first line of output, waiting `within` seconds at most."""
    import selectors

    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(within):
            process.kill()
            raise AssertionError("no report came out")
    return process.stdout.readline()


def test_idle_on_standard_input(tmp_path: Path) -> None:
    """An order and then nothing on a standard input kept open: the absence comes out."""
    rules = tmp_path / "r.cep"
    rules.write_text(RULES)
    process = _live(cep_run(str(rules), "--idle", "1s", "--engine", "interpreter"),
                    stdin=subprocess.PIPE)  # fmt: skip
    assert process.stdin is not None
    started = time.monotonic()
    process.stdin.write(_order("o1", T0).encode())
    process.stdin.flush()
    line = _first_line(process)
    assert json.loads(line)["key"] == {"order": "o1"}
    assert time.monotonic() - started < 60  # (the window is 2 s: generous)
    process.stdin.close()
    assert process.wait(timeout=60) == 0


def test_idle_on_a_followed_file(tmp_path: Path) -> None:
    rules = tmp_path / "r.cep"
    rules.write_text(RULES)
    feed = tmp_path / "in.jsonl"
    feed.write_text(_order("o1", T0))
    process = _live(cep_run(str(rules), "--follow", "--input", str(feed), "--idle", "1s",
                            "--engine", "interpreter"))  # fmt: skip
    assert json.loads(_first_line(process))["key"] == {"order": "o1"}
    process.terminate()
    assert process.wait(timeout=60) == 143


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--idle", "soon"], "--idle: expected a duration"),
        (["--follow"], "--follow reads a file"),
    ],
)
def test_bad_live_options(tmp_path: Path, extra: list[str], words: str) -> None:
    rules = tmp_path / "r.cep"
    rules.write_text(RULES)
    done = subprocess.run(cep_run(str(rules), *extra), capture_output=True, env=environment(),
                          input=b"", timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert words in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_a_stop_while_quiet_is_clean(tmp_path: Path) -> None:
    """The loop over a quiet feed checks for a stop between its empty batches."""
    feed, _, _ = _feed(tmp_path, "interpreter")
    reports = feed.reports()
    next(reports)
    feed.signals.signal = signal.SIGTERM
    with pytest.raises(Stop):
        next(reports)
