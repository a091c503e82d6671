"""`--time-unit`: numeric event times in seconds, microseconds or nanoseconds read alike
by every reader and engine; times that look like another unit are not taken silently;
`datetime`s from Python."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cep
from cep.cli import main
from cep.io.time import TIME_WINDOW, event_ms, ints_to_ms

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules" / "payments.cep")
RECORDS = [json.loads(line) for line in (ROOT / "examples" / "payments.jsonl").open()][:3000]
IN_UNIT = {
    "s": lambda ms: ms / 1000,  # (floats with a fraction: seconds allow one)
    "us": lambda ms: ms * 1000,
    "ns": lambda ms: ms * 1_000_000,
}
NAMES = ["type", "ts", "user", "amount", "status", "country", "card", "merchant", "currency"]


def _write(path: Path, records: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif path.suffix == ".csv":
        rows = [",".join(NAMES)] + [",".join(str(r.get(n, "")) for n in NAMES) for r in records]
        path.write_text("\n".join(rows) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path)
    return path


def _reports(path: Path, capsys, *args: str) -> tuple[list[dict], str]:
    out = path.with_suffix(".out")
    assert main(["run", RULES, "--input", str(path), "--output", str(out), *args]) == 0
    reports = [json.loads(line) for line in out.read_text().splitlines()]
    for report in reports:
        del report["events"]  # (the events as read hold the times in their own unit)
    return reports, capsys.readouterr().err


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> list[dict]:
    path = _write(tmp_path_factory.mktemp("ms") / "ms.jsonl", RECORDS)
    out = path.with_suffix(".out")
    assert main(["run", RULES, "--input", str(path), "--output", str(out), "--quiet"]) == 0
    reports = [json.loads(line) for line in out.read_text().splitlines()]
    assert reports
    return [{k: v for k, v in r.items() if k != "events"} for r in reports]


@pytest.mark.parametrize("unit", ["s", "us", "ns"])
@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
@pytest.mark.parametrize("engine", ["interpreter", "fast", "auto"])
def test_every_reader_and_engine_reads_times_in_a_unit(
    tmp_path: Path, capsys, expected, unit: str, suffix: str, engine: str
) -> None:
    records = [{**r, "ts": IN_UNIT[unit](r["ts"])} for r in RECORDS]
    path = _write(tmp_path / f"feed{suffix}", records)
    reports, err = _reports(path, capsys, "--time-unit", unit, "--engine", engine)
    assert reports == expected
    assert "read 3000 records: 3000 events accepted, 0 rejected" in err
    assert "warning" not in err


@pytest.mark.parametrize("engine", ["interpreter", "fast"])
def test_whole_seconds_read_as_milliseconds_get_a_warning(
    tmp_path: Path, capsys, expected, engine: str
) -> None:
    records = [{**r, "ts": r["ts"] // 1000} for r in RECORDS]
    path = _write(tmp_path / "seconds.jsonl", records)
    _, err = _reports(path, capsys, "--engine", engine)
    first = err.splitlines()[0]
    assert first == (
        "cep run: warning: the event times read fall around 1970-01-21 as milliseconds: "
        "if they are in seconds, give --time-unit s"
    )
    reports, err = _reports(path, capsys, "--engine", engine, "--time-unit", "s")
    assert "warning" not in err
    assert [r["rule"] for r in reports] == [r["rule"] for r in expected]


def test_microseconds_read_as_milliseconds_are_rejected_with_a_hint(tmp_path: Path, capsys) -> None:
    records = [{**r, "ts": r["ts"] * 1000} for r in RECORDS]
    _, err = _reports(_write(tmp_path / "us.jsonl", records), capsys)
    assert "3000 rejected (time out of range: 3000)" in err
    assert "hint: 3000 of 3000 records rejected (time out of range)" in err
    assert "--time-unit ms|s|us|ns" in err


def test_feeds_with_times_near_zero_get_no_warning(tmp_path: Path, capsys) -> None:
    records = [{**r, "ts": i * 1000} for i, r in enumerate(RECORDS[:50])]
    _, err = _reports(_write(tmp_path / "small.jsonl", records), capsys)
    assert "warning" not in err


def test_a_bad_unit_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", RULES, "--input", "-", "--time-unit", "h"])
    assert done.value.code == 2
    assert "--time-unit: invalid choice: 'h'" in capsys.readouterr().err


@pytest.mark.parametrize("engine", ["interpreter", "fast", "auto"])
def test_the_python_api_takes_a_unit_and_datetimes(engine: str) -> None:
    base = {"type": "Payment", "user": "u", "amount": 5.0, "status": "failed", "country": "US"}
    in_seconds = cep.Engine.from_paths(RULES, time_unit="s", engine=engine)
    found = [m for i in range(3) for m in in_seconds.push({**base, "ts": 1.7e9 + i * 10.5})]
    assert [m.ts for m in found] == [1_700_000_021_000]
    with_datetimes = cep.Engine.from_paths(RULES, engine=engine)
    moments = [datetime.datetime(2026, 1, 1, 0, 0, i, tzinfo=datetime.UTC) for i in range(3)]
    found = [m for t in moments for m in with_datetimes.push({**base, "ts": t})]
    assert [m.ts for m in found] == [1_767_225_602_000]
    assert with_datetimes.advance_to(moments[-1]) == []
    with pytest.raises(cep.EventError, match=r"1\.5 is not a time in milliseconds"):
        with_datetimes.push({**base, "ts": 1.5})
    with pytest.raises(ValueError, match="time_unit is one of ms, s, us, ns"):
        cep.Engine.from_paths(RULES, time_unit="h")  # type: ignore[arg-type]


_WINDOW_S = (TIME_WINDOW[0] // 1000, TIME_WINDOW[1] // 1000)


@given(st.sampled_from(["ms", "s", "us", "ns"]), st.integers(-(2**63), 2**63 - 1))
def test_numbers_and_columns_of_a_unit_are_read_alike(unit: str, value: int) -> None:
    """The row reader's time (`event_ms`) and the columnar readers' (`ints_to_ms`)."""
    one = event_ms(value, unit)
    column = int(ints_to_ms(np.array([value], np.int64), unit)[0])
    in_window = one is not None and TIME_WINDOW[0] <= one < TIME_WINDOW[1]
    assert in_window == (TIME_WINDOW[0] <= column < TIME_WINDOW[1])
    if in_window:
        assert one == column


@given(st.integers(*_WINDOW_S), st.integers(0, 999))
def test_seconds_with_a_fraction_floor_to_the_millisecond(seconds: int, ms: int) -> None:
    assert event_ms(seconds + ms / 1000 + 0.0001, "s") == seconds * 1000 + ms


RULE_TESTS = """\
event Payment { user: str, amount: float, status: str }
rule three { partition by user  pattern f = Payment[status == "failed"]{3}  within 1m }
test three "61 seconds apart: too far apart for a minute" {
  given
    Payment { ts: 1700000000, user: "u", amount: 1, status: "failed" }
    Payment { ts: 1700000030, user: "u", amount: 1, status: "failed" }
    Payment { ts: 1700000061, user: "u", amount: 1, status: "failed" }
  expect no three
}
test three "durations carry their own unit" {
  given
    Payment { ts: 0s, user: "u", amount: 1, status: "failed" }
    Payment { ts: 20s, user: "u", amount: 1, status: "failed" }
    Payment { ts: 59s, user: "u", amount: 1, status: "failed" }
  expect three at 59s
}
test three "the time of an expectation in the unit too" {
  given
    Payment { ts: 1700000000, user: "u", amount: 1, status: "failed" }
    Payment { ts: 1700000020, user: "u", amount: 1, status: "failed" }
    Payment { ts: 1700000059, user: "u", amount: 1, status: "failed" }
  expect three at 1700000059
}
"""


def test_rule_tests_read_bare_numbers_in_the_unit(tmp_path: Path, capsys) -> None:
    path = tmp_path / "seconds.cep"
    path.write_text(RULE_TESTS)
    assert main(["test", str(path), "--time-unit", "s"]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-1].startswith("3 passed")
    assert main(["test", str(path)]) == 1  # (as milliseconds, 61 ms apart: a match)
    assert "61 seconds apart: too far apart for a minute FAILED" in capsys.readouterr().out
