"""Deep input (issue 27, item 5): JSON nested deeper than `MAX_DEPTH` (64 levels, the
event's object being level 1) is rejected the same way by every reader and engine, and
what is accepted, up to the limit itself, is written out as read by every engine."""

from __future__ import annotations

import inspect
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.api import Engine, EventError
from cep.cli import main
from cep.io import jsonscan
from cep.io.arrow import ArrowReader
from cep.io.jsonl import deep_lines
from cep.io.sources import DEEP_JSON, RecordMaker, convert_cell, json_line
from cep.io.validation import MAX_DEPTH, TOO_DEEP, text_depth, too_deep_text, too_deep_value
from cep.lang.types import Type
from cep.runtime.event import Event

ROOT = Path(__file__).resolve().parent.parent
RULES = (
    "rule each { pattern a = A  within 1m }\n"
    "rule ab { partition by user  pattern a = A -> b = B  within 1m }\n"
)
ENGINES = ("interpreter", "fast", "auto")
#: the depths tried: one below the limit, the limit, one above, far above
DEPTHS = (MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 10_000)
#: brackets in strings, which never count
NOISE = '"[[[[{{{{\\"[[' + "[" * 200 + '"'


def nested(levels: int, kind: str) -> str:
    """A JSON value that opens `levels` levels: arrays (`a`), objects (`o`) or both in
    turn (`m`), with `0` innermost."""
    head, tail = [], []
    for i in range(levels):
        obj = kind == "o" or (kind == "m" and i % 2 == 1)
        head.append('{"k":' if obj else "[")
        tail.append("}" if obj else "]")
    return "".join(head) + "0" + "".join(reversed(tail))


def line(depth: int, kind: str, ts: int) -> str:
    """An `A` event line `depth` levels deep (its object is level 1)."""
    return f'{{"type":"A","ts":{ts},"user":"u","s":{NOISE},"d":{nested(depth - 1, kind)}}}'


def _lines() -> tuple[list[str], list[int]]:
    """Input lines, and the numbers of those nested too deep."""
    lines, deep = [], []
    for depth in DEPTHS:
        for kind in "aom":
            lines.append(line(depth, kind, 1000 + len(lines)))
            if depth > MAX_DEPTH:
                deep.append(len(lines))
    # many brackets, none deep: an array of 100 objects, and brackets only in strings
    wide = ",".join('{"x":[1]}' for _ in range(100))
    lines.append('{"type":"A","ts":1100,"user":"u","w":[' + wide + "]}")
    lines.append('{"type":"A","ts":1101,"user":"u","s":"' + "{[" * 500 + '"}')
    # not an object, not JSON, but too deep all the same: the depth decides first
    lines.append("[" * 70)
    deep.append(len(lines))
    lines.append('{"type":"A","ts":1102,"user":"u","d":' + "[" * 64 + "}")
    deep.append(len(lines))
    lines.append('{"type":"B","ts":5000,"user":"u"}')
    return lines, deep


LINES, DEEP = _lines()
ACCEPTED = [i + 1 for i in range(len(LINES)) if i + 1 not in DEEP]
_SUMMARY = re.compile(r"read (\d+) records: (\d+) events accepted, (\d+) rejected")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("deep")
    (folder / "r.cep").write_text(RULES)
    (folder / "in.jsonl").write_text("\n".join(LINES) + "\n")
    return folder


def _run_file(folder: Path, engine: str, capsys: Any) -> tuple[str, str, str]:
    rejects = folder / f"file-{engine}.rejects"
    args = ["run", str(folder / "r.cep"), "--input", str(folder / "in.jsonl")]
    code = main([*args, "--engine", engine, "--rejects", str(rejects)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out, rejects.read_text(), _summary(err)


def _run_stdin(folder: Path, engine: str) -> tuple[str, str, str]:
    rejects = folder / f"stdin-{engine}.rejects"
    args = ["run", str(folder / "r.cep"), "--input", "-", "--engine", engine]
    proc = subprocess.run(
        [sys.executable, "-m", "cep.cli", *args, "--rejects", str(rejects)],
        input=("\n".join(LINES) + "\n").encode(),
        capture_output=True,
        env=_env(),
        timeout=600,
        check=False,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return proc.stdout.decode(), rejects.read_text(), _summary(err)


def _summary(err: str) -> str:
    return next(text for text in err.splitlines() if text.startswith("read "))


def _check(out: str, rejects: str, summary: str) -> None:
    """Deep lines rejected with their numbers and `DEEP_JSON`; the others matched, each
    written as read; read = accepted + rejected."""
    found = [json.loads(text) for text in rejects.splitlines()]
    assert [(r["line"], r["reason"]) for r in found] == [(n, DEEP_JSON) for n in DEEP]
    assert [r["raw"] for r in found] == [LINES[n - 1] for n in DEEP]
    read, matched, rejected = map(int, _SUMMARY.match(summary).groups())  # type: ignore[union-attr]
    assert (read, matched, rejected) == (len(LINES), len(ACCEPTED), len(DEEP))
    assert f"(bad json: {len(DEEP)})" in summary
    reports = out.splitlines()
    for n in ACCEPTED:
        if LINES[n - 1].startswith('{"type":"A"'):
            # byte for byte: the line's text is the event's text in a report
            assert any(LINES[n - 1] in report for report in reports), n
    for report in reports:
        json.loads(report)


def test_deep_lines_from_a_file_and_stdin_on_every_engine(files: Path, capsys: Any) -> None:
    results = {}
    for engine in ENGINES:
        results[f"file {engine}"] = _run_file(files, engine, capsys)
        results[f"stdin {engine}"] = _run_stdin(files, engine)
    first = results["file interpreter"]
    _check(*first)
    for name, result in results.items():
        assert result == first, name


def test_the_trace_writes_deep_events_lines(files: Path, capsys: Any) -> None:
    args = ["run", str(files / "r.cep"), "--input", str(files / "in.jsonl"), "--trace", "ab"]
    assert main([*args, "--rejects", str(files / "trace.rejects")]) == 0
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    assert "run started at line 4 " in err  # a depth-64 event's run


# ------------------------------------------------------------------------------ the helper


@pytest.mark.parametrize(
    "text, depth",
    [
        ("", 0),
        ("1", 0),
        ("{}", 1),
        ('{"a":[1]}', 2),
        ('{"a":[{"b":[]}]}', 4),
        ('"[[[{{{"', 0),
        ('{"a":"\\"[[[", "b":"\\\\"}', 1),
        ('{"a":"[[[', 1),  # an unclosed string runs to the end
        ("]]][", 1),  # a closing bracket with none open closes nothing
        ("[]][[[", 3),
    ],
)
def test_text_depth(text: str, depth: int) -> None:
    assert text_depth(text) == depth
    assert text_depth(text.encode()) == depth


_JSON = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(alphabet='[]{}"\\ab')),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text("[{"), inner)),
    max_leaves=30,
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_text_depth_is_the_values_depth(value: Any) -> None:
    text = json.dumps(value)
    assert text_depth(text) == _depth(value)
    assert too_deep_value(value) == (_depth(value) > MAX_DEPTH)


def test_depths_at_the_limit() -> None:
    for kind in "aom":
        at, over = line(MAX_DEPTH, kind, 1), line(MAX_DEPTH + 1, kind, 1)
        assert text_depth(at) == MAX_DEPTH and text_depth(over) == MAX_DEPTH + 1
        assert not too_deep_text(at) and too_deep_text(over)
        assert not too_deep_value(json.loads(at)) and too_deep_value(json.loads(over))
    assert f"nested deeper than {MAX_DEPTH} levels" == TOO_DEEP
    assert f"bad json: {TOO_DEEP}" == DEEP_JSON


def test_the_scanner_reads_no_deeper_than_the_limit() -> None:
    """The scanner's lines need no other check: a value of the line's object may open
    the levels left below `MAX_DEPTH`, no more."""
    assert jsonscan._MAX_NESTING == MAX_DEPTH - 1
    keys = jsonscan.Keys(["type", "user"], 0, ["A"])
    for depth in (MAX_DEPTH, MAX_DEPTH + 1):
        data = line(depth, "m", 1).encode()
        scanned = jsonscan.scan(data, np.array([0]), np.array([len(data)]), keys)
        assert bool(scanned.good[0]) == (depth <= MAX_DEPTH)


def test_the_prescreen_finds_the_deep_lines_msgspec_could_read() -> None:
    """`deep_lines` finds the deep lines long enough to be JSON (a deep line that is not
    JSON fails msgspec, and the row reader rejects it as deep)."""
    buf = ("\n".join(LINES) + "\n").encode()
    ends = np.array([m.start() for m in re.finditer(b"\n", buf)], np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    found = deep_lines(buf, np.arange(len(LINES)), starts, ends)
    assert (found + 1).tolist() == [n for n in DEEP if len(LINES[n - 1]) > 2 * MAX_DEPTH]
    assert (found + 1).tolist() == DEEP[:-2]


def test_the_row_reader_rejects_before_reading_json() -> None:
    maker = RecordMaker("type", "ts", None, None)
    for number, text in enumerate(LINES, 1):
        result = json_line(maker, number, text)
        if number in DEEP:
            assert result is not None and getattr(result, "reason", None) == DEEP_JSON
        else:
            assert not hasattr(result, "reason"), number


def test_no_recursion_limit_is_approached() -> None:
    """A line at the limit is read and written with little of the stack to spare."""
    old = sys.getrecursionlimit()
    engine = Engine.from_string(RULES)
    record = json.loads(line(MAX_DEPTH, "m", 1000))
    sys.setrecursionlimit(len(_stack()) + 150)
    try:
        maker = RecordMaker("type", "ts", None, None)
        read = json_line(maker, 1, line(MAX_DEPTH, "m", 1000))
        matches = engine.push(record)
        texts = [m.to_json() for m in matches] + [json.dumps(m.to_dict()) for m in matches]
    finally:
        sys.setrecursionlimit(old)
    assert isinstance(read, Event)
    assert texts and all(text_depth(text) == MAX_DEPTH + 2 for text in texts)  # in "events"


def _stack() -> list[Any]:
    return inspect.stack(0)


# ------------------------------------------------------------------------------ the API


@pytest.mark.parametrize("engine", ENGINES)
def test_api_events_nested_too_deep_are_event_errors(engine: str) -> None:
    api = Engine.from_string(RULES, engine=engine)  # type: ignore[arg-type]
    at = json.loads(line(MAX_DEPTH, "m", 1000))
    matches = api.push(at)
    assert [m.rule for m in matches] == ["each"]
    assert json.loads(matches[0].to_json())["events"]["a"] == at
    assert matches[0].to_dict()["events"]["a"] == at
    for depth in (MAX_DEPTH + 1, 10_000):
        for kind in "aom":
            record: Any = 0
            for i in range(depth - 1):
                record = {"k": record} if kind == "o" or (kind == "m" and i % 2) else [record]
            with pytest.raises(EventError, match=TOO_DEEP):
                api.push({"type": "A", "ts": 2000, "user": "u", "d": record})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(EventError, match=TOO_DEEP):
        api.push({"type": "A", "ts": 2000, "user": "u", "d": loop})
    deep_event = Event("A", 2000, {"user": "u", "d": json.loads(nested(MAX_DEPTH, "a"))})
    with pytest.raises(EventError, match=TOO_DEEP):
        api.push(deep_event)
    assert api.stats().events == 1


# ------------------------------------------------------------------------------ rule tests


@pytest.mark.parametrize("levels, passed", [(MAX_DEPTH - 1, True), (MAX_DEPTH, False)])
def test_rule_test_events_nested_too_deep(
    tmp_path: Path, capsys: Any, levels: int, passed: bool
) -> None:
    path = tmp_path / "t.cep"
    value = "[" * levels + "1" + "]" * levels  # in the event (level 1): levels + 1 deep
    path.write_text(
        "rule each { pattern a = A  within 1m }\n"
        f"test each {{\n  given\n    A {{ ts: 0s, d: {value} }}\n  expect 1 each\n}}\n"
    )
    code = main(["test", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in out + err
    if passed:
        assert code == 0, out + err
    else:
        assert code == 1
        assert f"t.cep:4:5: invalid event: {TOO_DEEP}" in out + err


# ------------------------------------------------------------------------------ CSV, Arrow


def test_csv_list_cells_count_from_the_record() -> None:
    """A `list` cell is level 2: one nested deeper than the limit stays text (and
    validation rejects it), whatever its depth; none is read by Python's json."""
    kind = Type("list")
    at = nested(MAX_DEPTH - 1, "a")
    assert convert_cell(at, kind) == json.loads(at)
    for levels in (MAX_DEPTH, 10_000):
        cell = nested(levels, "a")
        assert convert_cell(cell, kind) == cell


def _list_column(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("engine", ["interpreter", "auto"])
def test_arrow_columns_at_the_limit_are_read_and_written(
    tmp_path: Path, capsys: Any, engine: str
) -> None:
    """Arrow IPC holds types nested up to 63 levels (a row: 64); their rows are read and
    written out as every other row is."""
    rows = [
        {"type": "A", "ts": 1000, "user": "u", "d": _list_column(MAX_DEPTH - 1)},
        {"type": "B", "ts": 2000, "user": "u"},
    ]
    table = pa.Table.from_pylist(rows)
    path = tmp_path / "in.arrow"
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    (tmp_path / "r.cep").write_text(RULES)
    code = main(["run", str(tmp_path / "r.cep"), "--input", str(path), "--engine", engine])
    out, err = capsys.readouterr()
    assert code == 0, err
    reports = [json.loads(text) for text in out.splitlines()]
    assert [r["rule"] for r in reports] == ["each", "ab"]
    assert reports[0]["events"]["a"]["d"] == rows[0]["d"]


def test_arrow_rows_nested_too_deep_are_rejected() -> None:
    """In memory, Arrow nests deeper than its files do: such rows are rejected."""
    for levels, rejected in ((MAX_DEPTH - 1, False), (MAX_DEPTH, True), (200, True)):
        rows = [
            {"type": "A", "ts": 1000, "user": "u", "d": _list_column(levels)},
            {"type": "A", "ts": 1001, "user": "u"},
        ]
        batch = pa.Table.from_pylist(rows).to_batches()[0]
        reader = ArrowReader([("user", "str")], "type", "ts", None, None)
        result = reader.batch(batch, 1)
        reasons = [(r.line, r.reason) for r in result.rejects]
        assert reasons == ([(1, TOO_DEEP)] if rejected else [])
        assert len(result.ts) == 2 - rejected


@pytest.mark.parametrize("fields", [(), (("user", "str"),)])
@pytest.mark.parametrize("given", ["bytes", "lines"])
def test_batches_of_bytes_and_of_lines_reject_alike(fields: Any, given: str) -> None:
    """A stream of bytes and an iterable of lines (the API's readers), with the scanner
    (columns wanted) and without, reject the same lines."""
    from cep.io.columnar import read_jsonl_batches

    text = "\n".join(LINES) + "\n"
    source: Any = io.BytesIO(text.encode()) if given == "bytes" else text.splitlines(True)
    batches = list(read_jsonl_batches(source, fields=fields))
    rejects = [(r.line, r.reason) for b in batches for r in b.rejects]
    assert rejects == [(n, DEEP_JSON) for n in DEEP]
    assert sum(len(b.ts) for b in batches) == len(ACCEPTED)


# ------------------------------------------------------------------------------ checkpoints


@pytest.mark.parametrize("engine", ENGINES)
def test_events_at_the_limit_are_kept_by_a_checkpoint(
    tmp_path: Path, capsys: Any, engine: str
) -> None:
    """Events at the limit held in open runs go through a checkpoint and a resume, and
    are written as read when the rest of the input completes their matches."""
    rules = tmp_path / "r.cep"
    rules.write_text(RULES)
    first, rest = [], []
    for i, (depth, kind) in enumerate((d, k) for d in DEPTHS for k in "aom"):
        user = f"u{i}"
        first.append(line(depth, kind, 1000 + i).replace('"user":"u"', f'"user":"{user}"'))
        rest.append(f'{{"type":"B","ts":{2000 + i},"user":"{user}"}}')
    whole = tmp_path / "whole.jsonl"
    whole.write_text("\n".join(first + rest) + "\n")
    growing = tmp_path / "in.jsonl"
    growing.write_text("\n".join(first) + "\n")

    def run(path: Path, out: str, *extra: str) -> str:
        args = ["run", str(rules), "--input", str(path), "--engine", engine]
        code = main([*args, "--output", str(tmp_path / out), *extra])
        _, err = capsys.readouterr()
        assert code == 0, err
        return _summary(err)

    reference = run(whole, "ref.jsonl", "--rejects", str(tmp_path / "ref.rej"))
    resumed = ["--rejects", str(tmp_path / "out.rej"), "--checkpoint", str(tmp_path / "state")]
    run(growing, "out.jsonl", *resumed)
    with growing.open("a") as file:
        file.write("\n".join(rest) + "\n")
    last = run(growing, "out.jsonl", *resumed)
    assert (tmp_path / "out.jsonl").read_text() == (tmp_path / "ref.jsonl").read_text()
    assert (tmp_path / "out.rej").read_text() == (tmp_path / "ref.rej").read_text()
    assert last == reference
    reports = [json.loads(text) for text in (tmp_path / "ref.jsonl").read_text().splitlines()]
    written = (tmp_path / "ref.jsonl").read_text()
    assert sum(r["rule"] == "ab" for r in reports) == 6  # the As at 63 and 64 levels
    assert all(text in written for text in first[:6])


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_line_endings_and_a_last_line_without_one(tmp_path: Path, ending: str) -> None:
    """CRLF lines, and a deep last line with no newline (the framing adds one), with a
    BOM on line 1: rejected and read as with plain newlines."""
    from cep.io.columnar import read_jsonl_batches

    lines = LINES[:-1]  # the last one nested too deep
    text = "\ufeff" + "\r\n".join(lines) if ending == "\r\n" else "\n".join(lines)
    text += ending
    for fields in ((), (("user", "str"),)):
        batches = list(read_jsonl_batches(io.BytesIO(text.encode()), fields=fields))
        rejects = [(r.line, r.reason) for b in batches for r in b.rejects]
        assert rejects == [(n, DEEP_JSON) for n in DEEP]
        assert DEEP[-1] == len(lines)
        assert sum(len(b.ts) for b in batches) == len(ACCEPTED) - 1
