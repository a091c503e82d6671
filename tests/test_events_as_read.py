"""The output contract's `events`: each bound event as read. A JSON line's event is the
text of that line (its spacing, number forms and key order), a CSV, Parquet or Arrow
row's the JSON object of its non-empty cells typed by the schema; every engine writes
the same reports, compared as JSON values, and every line is strict JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cep.cli import main

SCHEMA = "event E { k: str, v: int, x: float?, note: str? }\n"
#: a rule the fast path runs, and one only the interpreter runs (an order between two
#: text fields of two events), for `--engine auto` to mix them
COMPILED = "rule pair { partition by k pattern a = E[v == 1] -> b = E[v == 2] within 1m }\n"
INTERPRETED = (
    "rule order { partition by k pattern a = E[v == 1] -> b = E[note < a.note] within 1m }\n"
)
ENGINES = ("interpreter", "fast", "auto")

#: JSON lines in their own forms: spacing, key order, `1.50`, `1e3`, `-0`, an escape
#: (the second and last have spaces around them: read by the row reader's code)
LINES = [
    '{ "ts":1000 , "type":"E","k":"u1",  "v":1, "x": 1.50, "note": "z\\u00e9" }',
    '   {"v": 2, "k": "u1", "type": "E", "ts": 1001, "x": 1e3, "big": 12345678901234567890}  ',
    '{"type":"E","ts":1002,"k":"u2","v":1,"x":-0.0,"note":"\\ud800","deep":{"a":[1, 2.0]}}',
    '{"type": "E", "ts": 1003, "k": "u2", "v": 2, "x": 2E-7, "note": "a"}\t',
]


def _strict(line: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} is not strict JSON")

    return json.loads(line, parse_constant=refuse)


def _run(tmp_path: Path, rules: str, feed: Path, engine: str, *options: str) -> str:
    path = tmp_path / "r.cep"
    path.write_text(SCHEMA + rules)
    out = tmp_path / f"{engine}.jsonl"
    argv = ["run", str(path), "--input", str(feed), "--output", str(out), "--quiet"]
    assert main([*argv, "--engine", engine, *options]) == 0
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("rules", [COMPILED, COMPILED + INTERPRETED], ids=["fast", "mixed"])
def test_a_json_lines_event_is_the_text_of_its_line(tmp_path, engine: str, rules: str) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text("".join(line + "\n" for line in LINES), encoding="utf-8")
    if engine == "fast" and rules != COMPILED:
        rules = COMPILED  # (`--engine fast` refuses a rule it cannot compile)
    written = _run(tmp_path, rules, feed, engine)
    reports = [_strict(line) for line in written.splitlines()]
    pairs = [r for r in reports if r["rule"] == "pair"]
    assert [r["key"] for r in pairs] == [{"k": "u1"}, {"k": "u2"}]
    for line in LINES:  # each one's own text, without the spaces around it
        assert f":{line.strip()}" in written
    assert pairs[0]["events"]["b"]["big"] == 12345678901234567890
    assert pairs[1]["events"]["a"]["note"] == "\ud800"
    if rules != COMPILED:
        (order,) = [r for r in reports if r["rule"] == "order"]
        assert order["events"] == {"a": _strict(LINES[2]), "b": _strict(LINES[3])}
        assert f'"a":{LINES[2]},"b":{LINES[3].strip()}' in written


def _rows_feed(tmp_path: Path, fmt: str) -> Path:
    feed = tmp_path / f"feed.{fmt}"
    if fmt == "csv":
        feed.write_text(
            "type,ts,k,v,x,note\n"
            "E,1000,u1,1,1.50,zé\n"
            "E,1001,u1,2,,\n"
            'E,1002,u2,1,1e3,"b, c"\n'
            "E,1003,u2,2,7,a\n",
            encoding="utf-8",
        )
        return feed
    table = pa.table(
        {
            "type": ["E"] * 4,
            "ts": pa.array([1000, 1001, 1002, 1003], pa.int64()),
            "k": ["u1", "u1", "u2", "u2"],
            "v": pa.array([1, 2, 1, 2], pa.int32()),
            "x": [1.5, None, 1000.0, 7.0],
            "note": ["zé", None, "b, c", "a"],
        }
    )
    pq.write_table(table, feed)
    return feed


#: the rows' records: their non-empty cells, typed by the schema (`x` is a float, yet a
#: CSV cell `7` reads as the integer 7, as the row reader reads it)
ROWS = [
    {"type": "E", "ts": 1000, "k": "u1", "v": 1, "x": 1.5, "note": "zé"},
    {"type": "E", "ts": 1001, "k": "u1", "v": 2},
    {"type": "E", "ts": 1002, "k": "u2", "v": 1, "x": 1000.0, "note": "b, c"},
    {"type": "E", "ts": 1003, "k": "u2", "v": 2, "x": 7, "note": "a"},
]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_rows_event_is_the_typed_object_of_its_non_empty_cells(tmp_path, fmt: str) -> None:
    feed = _rows_feed(tmp_path, fmt)
    rows = [dict(row) for row in ROWS]
    if fmt == "parquet":
        rows[3]["x"] = 7.0  # (a Parquet float column holds floats)
    reports = {}
    for engine in ENGINES:
        rules = COMPILED if engine == "fast" else COMPILED + INTERPRETED
        written = _run(tmp_path, rules, feed, engine)
        reports[engine] = [_strict(line) for line in written.splitlines()]
    pairs = [r["events"] for r in reports["fast"]]
    assert pairs == [{"a": rows[0], "b": rows[1]}, {"a": rows[2], "b": rows[3]}]
    assert [r for r in reports["interpreter"] if r["rule"] == "pair"] == reports["fast"]
    assert reports["auto"] == reports["interpreter"]
    (order,) = [r for r in reports["interpreter"] if r["rule"] == "order"]
    assert order["events"] == {"a": rows[2], "b": rows[3]}


def test_a_not_a_number_cell_is_written_null(tmp_path) -> None:
    """A Parquet float cell holding NaN or an infinity (of a field the schema does not
    declare) is a non-empty cell: its JSON is null, so the line stays strict JSON, on
    every engine."""
    feed = tmp_path / "feed.parquet"
    pq.write_table(
        pa.table({"type": ["E", "E"], "ts": [1, 2], "k": ["u", "u"], "v": [1, 2],
                  "y": [float("nan"), float("inf")]}),
        feed,
    )  # fmt: skip
    written = {engine: _run(tmp_path, COMPILED, feed, engine) for engine in ENGINES}
    (report,) = [_strict(line) for line in written["fast"].splitlines()]
    assert report["events"]["a"]["y"] is None and report["events"]["b"]["y"] is None
    assert all(_strict(text) == report for text in written.values())
