"""Input and stops that must not break a run (issue 27): times out of range, unclosed CSV
quotes, signals and closed pipes. End to end, as a user sees them."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.api import Engine, EventError
from cep.cli import main
from cep.io.columnar import read_csv_batches
from cep.io.time import TIME_WINDOW
from cep.runtime.event import Event
from tests.row_readers import read_csv
from tests.test_columnar import batch_view, row_view, same

ROOT = Path(__file__).resolve().parent.parent
RULES = "rule ab { partition by user  pattern a = A -> b = B  within 1m }\n"
END_OF_TIME = 2**63 - 1
#: event times of the lines to run: the 2nd to 4th are out of range
TIMES = [1000, END_OF_TIME, -5, TIME_WINDOW[1], 2000]


#: `cep run --engine auto` says so while the fast path is compiled in the background
COMPILING = "cep run: compiling the fast path in the background"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _run(tmp_path: Path, capsys: Any, path: Path, engine: str) -> tuple[list[Any], list[Any], str]:
    rules = tmp_path / "r.cep"
    rules.write_text(RULES)
    rej = tmp_path / f"{engine}.rejects"
    args = ["run", str(rules), "--input", str(path), "--engine", engine, "--rejects", str(rej)]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    return records, [json.loads(line) for line in rej.read_text().splitlines()], err


def _records() -> list[dict[str, Any]]:
    types = ["A", "A", "A", "A", "B"]
    return [{"type": t, "ts": ts, "user": "u"} for t, ts in zip(types, TIMES, strict=True)]


def _write(tmp_path: Path, fmt: str) -> Path:
    records = _records()
    path = tmp_path / f"in.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif fmt == "csv":
        lines = ["type,ts,user", *(f"{r['type']},{r['ts']},{r['user']}" for r in records)]
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        table = pa.Table.from_pylist(records)
        with pa.ipc.new_file(path, table.schema) as writer:
            writer.write_table(table)
    return path


@pytest.mark.parametrize("engine", ["interpreter", "auto"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "arrow"])
def test_times_out_of_range_are_rejected_and_do_not_move_the_watermark(
    tmp_path: Path, capsys: Any, fmt: str, engine: str
) -> None:
    """An event at the end of time (or before 1970) is a `time out of range` reject; the
    B at 2000 after it is not late and matches the A at 1000."""
    records, rejects, err = _run(tmp_path, capsys, _write(tmp_path, fmt), engine)
    assert [(r["rule"], r["events"]["a"]["ts"], r["events"]["b"]["ts"]) for r in records] == [
        ("ab", 1000, 2000)
    ]
    assert (
        [(r["line"], r["reason"]) for r in rejects]
        == [(line, "time out of range") for line in (3, 4, 5)]
        if fmt == "csv"
        else [(line, "time out of range") for line in (2, 3, 4)]
    )
    assert "read 5 records: 2 events accepted, 3 rejected (time out of range: 3)" in err


@pytest.mark.parametrize("ts", ["2200-01-01T00:00:00Z", "1969-12-31T23:59:59Z", END_OF_TIME, -1])
def test_iso_and_epoch_times_out_of_range_are_rejected_alike(
    tmp_path: Path, capsys: Any, ts: Any
) -> None:
    path = tmp_path / "in.jsonl"
    lines = [{"type": "A", "ts": ts, "user": "u"}, {"type": "A", "ts": 5, "user": "u"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    _, rejects, _ = _run(tmp_path, capsys, path, "auto")
    assert rejects == [{"line": 1, "reason": "time out of range", "raw": json.dumps(lines[0])}]


def test_the_python_api_refuses_a_time_out_of_range() -> None:
    engine = Engine.from_string(RULES)
    engine.push({"type": "A", "ts": 1000, "user": "u"})
    with pytest.raises(EventError, match="time out of range"):
        engine.push({"type": "A", "ts": END_OF_TIME, "user": "u"})
    with pytest.raises(EventError, match="time out of range"):
        list(engine.feed([{"type": "A", "ts": "2500-01-01", "user": "u"}]))
    assert [m.rule for m in engine.push({"type": "B", "ts": 2000, "user": "u"})] == ["ab"]


# ------------------------------------------------------------------ CSV quotes


@pytest.mark.parametrize("engine", ["interpreter", "auto"])
@pytest.mark.parametrize("tail", [0, 150])
def test_an_unclosed_csv_quote_is_one_reject_where_it_starts(
    tmp_path: Path, capsys: Any, engine: str, tail: int
) -> None:
    """A quote open to the end of the file (`tail` 0: few lines follow) or past 100 lines
    (`tail` 150) rejects its first line only; the rows after it are read as rows."""
    rows = ["type,ts,user", "A,1000,u", 'A,1500,"v', "B,2000,u"]
    rows += [f"A,{3000 + i},w{i}" for i in range(tail)]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(rows) + "\n")
    records, rejects, err = _run(tmp_path, capsys, path, engine)
    assert [(r["events"]["a"]["ts"], r["events"]["b"]["ts"]) for r in records] == [(1000, 2000)]
    assert rejects == [{"line": 3, "reason": "unclosed quote", "raw": 'A,1500,"v'}]
    total = len(rows) - 1
    assert f"read {total} records: {total - 1} events accepted, 1 rejected" in err


def test_a_quoted_cell_over_lines_within_the_limit_is_one_record(
    tmp_path: Path, capsys: Any
) -> None:
    rows = ["type,ts,user", 'A,1000,"u', *["more"] * 98, 'end"', "B,2000,x"]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(rows) + "\n")
    _, rejects, err = _run(tmp_path, capsys, path, "auto")
    assert rejects == []
    assert "read 2 records: 2 events accepted, 0 rejected" in err


# ------------------------------------------------------------------ signals and pipes

#: runs a cep command whose work first waits (a slow command), saying so on stderr
_SLOW = """\
import sys, time
import cep.cli as cli

real = cli.build_parser

class Slow:
    def __init__(self, *command):
        self.parser = real(*command)

    def parse_known_args(self, argv):
        args = self.parser.parse_args(argv)
        handler = args.handler

        def slow(a):
            print("ready", file=sys.stderr, flush=True)
            time.sleep(60)
            return handler(a)

        args.handler = slow
        return args, []

cli.build_parser = Slow
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(
    "args", [["check", "rules"], ["test", "rules"], ["explain", "rules", "--rule", "brute_force"]]
)
def test_a_signal_stops_a_command_with_one_line(args: list[str], sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW, *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    assert proc.stderr.readline() == "ready\n"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    assert err == f"cep {args[0]}: stopped by {sig.name}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["test", "rules"],
        ["check", "rules"],
        ["check", "rules", "--format", "json"],
        ["run", "rules/payments.cep", "--input", "examples/payments.jsonl"],
    ],
)
def test_a_closed_output_pipe_ends_quietly(args: list[str]) -> None:
    """The reader of standard output is gone before anything is written (`| head -1`,
    made certain): status 0, nothing on standard error (but the line saying that the
    fast path is being compiled, when a background compile started by another test is
    still running)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cep.cli", *args],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    said = [line for line in err.splitlines() if not line.startswith(COMPILING)]
    assert said == []


def test_head_takes_the_first_line_of_cep_test() -> None:
    shell = f"'{sys.executable}' -m cep.cli test rules | head -1; echo ${{PIPESTATUS[0]}} >&2"
    done = subprocess.run(
        ["bash", "-c", shell], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120
    )
    assert len(done.stdout.splitlines()) == 1
    assert done.stderr == "0\n"


def test_an_engine_event_out_of_range_is_refused_too() -> None:
    engine = Engine.from_string(RULES)
    with pytest.raises(EventError, match="time out of range"):
        engine.push(Event("A", END_OF_TIME, {"user": "u"}))


_CSV_LINES = st.sampled_from(
    ["A,1,u", "B,2,v", 'A,3,"open', 'close",x', 'A,4,"a""b"', '"', "", "A,5", 'B,"6",w']
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_CSV_LINES, max_size=300), st.sampled_from([3, 50, 65_536]))
def test_csv_batches_and_the_row_reader_agree_on_quotes(lines: list[str], size: int) -> None:
    """Stray and closing quotes anywhere, records cut by batch ends: the batch reader
    rejects and reads on as the row reader does, and every line is accounted for."""
    data = "type,ts,user\n" + "".join(line + "\n" for line in lines)
    fields = {"user": "str"}
    expected = row_view(read_csv(io.StringIO(data)), fields)
    got = batch_view(read_csv_batches(io.BytesIO(data.encode()), fields=fields,
                                      batch_size=size), fields)  # fmt: skip
    same(expected, got)
    unclosed = [line for line, reason, _ in got[1] if reason == "unclosed quote"]
    assert all(data.split("\n")[line - 1].count('"') % 2 for line in unclosed)
