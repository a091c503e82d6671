"""Input side of `cep run`: times, schema validation, JSONL and CSV sources, rejects."""

from __future__ import annotations

import io
import json
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.io.rejects import RejectsWriter, late_reject, reason_kind
from cep.io.sources import (
    Reject,
    SourceError,
    SourceEvent,
    convert_cell,
    guess_format,
    infer_cell,
    open_source,
)
from cep.io.time import BadTime, parse_time
from cep.io.validation import Validator
from cep.lang.program import load_sources
from cep.lang.types import Type, list_of
from cep.runtime.event import Event
from cep.runtime.match import raw_of
from tests.row_readers import read_csv, read_jsonl, read_source

SCHEMAS = """
event Payment { user: str, amount: float, status: str, country: str }
event Order {
  id: int
  total: float
  paid: bool
  placed: time
  wait: duration
  tags: list[str]?
  note: str?
}
event Express extends Order { courier: str }
event Odd { schema: int, model_config: str?, _hidden: str? }
"""

JAN_1_2024 = 1_704_067_200_000


@pytest.fixture(scope="module")
def validator() -> Validator:
    program = load_sources({"schemas.cep": SCHEMAS})
    assert not program.diagnostics
    return Validator(program.schemas)


def order(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": 7,
        "total": 12.5,
        "paid": True,
        "placed": JAN_1_2024,
        "wait": 1500,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def events(items: list[SourceEvent | Reject]) -> list[SourceEvent]:
    return [item for item in items if isinstance(item, SourceEvent)]


def rejects(items: list[SourceEvent | Reject]) -> list[Reject]:
    return [item for item in items if isinstance(item, Reject)]


def jsonl(*lines: str, **options: Any) -> list[SourceEvent | Reject]:
    return list(read_jsonl(io.StringIO("".join(line + "\n" for line in lines)), **options))


def csv_rows(*lines: str, **options: Any) -> list[SourceEvent | Reject]:
    return list(read_csv(io.StringIO("".join(line + "\n" for line in lines)), **options))


# ------------------------------------------------------------------------------ time


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (0, 0),
        (1_700_000_000_123, 1_700_000_000_123),
        (-1000, -1000),
        (1.7e12, 1_700_000_000_000),
        ("2024-01-01T00:00:00Z", JAN_1_2024),
        ("2024-01-01T00:00:00", JAN_1_2024),
        ("2024-01-01", JAN_1_2024),
        ("2024-01-01 00:00:01.5", JAN_1_2024 + 1500),
        ("2024-01-01T02:00:00+02:00", JAN_1_2024),
        ("2024-01-01T00:00:00.0009Z", JAN_1_2024),
    ],
)
def test_parse_time_accepts_epoch_ms_and_iso(value: object, ms: int) -> None:
    assert parse_time(value) == ms


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        1.5,
        float("nan"),
        float("inf"),
        "yesterday",
        "1700000000000",
        "",
        [1],
        {},
        2**63,
    ],
)
def test_parse_time_refuses_what_is_not_a_time(value: object) -> None:
    with pytest.raises(BadTime):
        parse_time(value)


# ------------------------------------------------------------------------------ validation


def test_valid_record_is_typed_in_a_copy(validator: Validator) -> None:
    record = order(total=12, placed="2024-01-01T00:00:00Z", extra={"kept": 1})
    before = json.loads(json.dumps(record))
    typed, reason = validator.validate("Order", record)
    assert reason is None and typed is not None
    assert record == before  # the record as read is untouched
    assert typed["total"] == 12.0 and isinstance(typed["total"], float)
    assert typed["placed"] == JAN_1_2024
    assert typed["extra"] == {"kept": 1}  # schemas are open


def test_unchanged_record_is_returned_as_is(validator: Validator) -> None:
    record = {"user": "u1", "amount": 1.5, "status": "ok", "country": "US"}
    typed, reason = validator.validate("Payment", record)
    assert reason is None and typed is record


def test_type_without_schema_is_not_validated(validator: Validator) -> None:
    record = {"anything": object()}
    assert validator.validate("Unknown", record) == (record, None)
    assert validator.schema("Unknown") is None


def test_optional_fields(validator: Validator) -> None:
    typed, reason = validator.validate("Order", order(note=None))
    assert reason is None and typed is not None and typed["note"] is None
    typed, reason = validator.validate("Order", order())
    assert reason is None and typed is not None
    assert "note" not in typed and "tags" not in typed  # missing stays missing


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"id": ...}, 'missing field "id"'),
        ({"id": None}, 'field "id": expected an integer, got null'),
        ({"id": "12"}, 'field "id": expected an integer, got "12"'),
        ({"id": 12.5}, 'field "id": expected an integer, got 12.5'),
        ({"id": True}, 'field "id": expected an integer, got true'),
        ({"total": "abc"}, 'field "total": expected a number, got "abc"'),
        ({"total": False}, 'field "total": expected a number, got false'),
        ({"paid": 1}, 'field "paid": expected true or false, got 1'),
        ({"paid": "true"}, 'field "paid": expected true or false, got "true"'),
        ({"placed": "soon"}, 'field "placed": expected a time (epoch milliseconds or ISO-8601)'),
        ({"wait": "5s"}, 'field "wait": expected a duration (integer milliseconds), got "5s"'),
        ({"tags": "a"}, 'field "tags": expected a list[str], got "a"'),
        ({"tags": ["a", 3]}, 'field "tags[1]": expected a string, got 3'),
        ({"note": 5}, 'field "note": expected a string, got 5'),
    ],
)
def test_invalid_records_have_clear_reasons(
    validator: Validator, changes: dict[str, Any], reason: str
) -> None:
    typed, got = validator.validate("Order", order(**changes))
    assert typed is None
    assert got is not None and got.startswith(reason)


def test_whole_floats_are_integers(validator: Validator) -> None:
    typed, reason = validator.validate("Order", order(id=12.0, wait=3.0))
    assert reason is None and typed is not None
    assert typed["id"] == 12 and isinstance(typed["id"], int)
    assert typed["wait"] == 3 and isinstance(typed["wait"], int)


def test_extended_schema_checks_inherited_fields(validator: Validator) -> None:
    assert validator.validate("Express", order(courier="dhl"))[1] is None
    assert validator.validate("Express", order(id="x", courier="dhl"))[1] == (
        'field "id": expected an integer, got "x"'
    )
    assert validator.validate("Express", order())[1] == 'missing field "courier"'


def test_field_names_that_clash_with_pydantic(validator: Validator) -> None:
    record = {"schema": 1, "model_config": "x", "_hidden": "y"}
    assert validator.validate("Odd", record) == (record, None)
    assert validator.validate("Odd", {"schema": 1, "_hidden": 2})[1] == (
        'field "_hidden": expected a string, got 2'
    )


def test_long_values_are_cut_in_reasons(validator: Validator) -> None:
    reason = validator.validate("Order", order(id="x" * 500))[1]
    assert reason is not None and len(reason) < 100 and reason.endswith("...")


def test_schemas_are_open() -> None:
    program = load_sources({"s.cep": "event A { n: int }"})
    typed, reason = Validator(program.schemas).validate("A", {"n": 1.0, "other": "kept"})
    assert reason is None and typed == {"n": 1, "other": "kept"}


# ------------------------------------------------------------------------------ JSONL


def test_jsonl_events_have_type_time_seq_and_line() -> None:
    items = jsonl(
        '{"type": "A", "ts": 5, "x": 1}',
        "",
        '{"type": "B", "ts": "2024-01-01T00:00:00Z"}',
    )
    assert [(e.type, e.ts, e.seq, e.line) for e in events(items)] == [
        ("A", 5, 0, 1),
        ("B", JAN_1_2024, 1, 3),
    ]
    first = events(items)[0]
    assert isinstance(first, Event)
    assert first.data == {"type": "A", "ts": 5, "x": 1} and first.get("x") == 1
    assert first.text == '{"type": "A", "ts": 5, "x": 1}'


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("nope", "bad json: a value is missing at character 1"),
        ('{"type": "A", "ts": 1', "bad json: a comma is missing at the end"),
        ('{"type": "A" "ts": 1}', "bad json: a comma is missing at character 14"),
        ('{"type" "A"}', "bad json: a colon is missing at character 9"),
        ("{type: 1}", "bad json: a key is not a quoted string at character 2"),
        ('{"type": "A', "bad json: a string is not closed at character 10"),
        ('{"type": "\x01"}', "bad json: a control character in a string at character 11"),
        ('{"type": "\\q"}', "bad json: a bad escape in a string at character 11"),
        ('{"type": "\\u12"}', "bad json: a bad escape in a string at character 12"),
        ('{"type": "A"} x', "bad json: more after the object at character 15"),
        ("[" * 100_000, "bad json: nested deeper than 64 levels"),
        ('{"type": "A", "ts": 1, "n": ' + "9" * 5000 + "}", "bad json: a number too long"),
        ('{"type": "A", "ts": NaN}', "bad json: NaN is not valid JSON"),
        ("[1, 2]", "not an object"),
        ('"text"', "not an object"),
        ('{"ts": 1}', "no type"),
        ('{"type": "", "ts": 1}', "no type"),
        ('{"type": 3, "ts": 1}', "bad type"),
        ('{"type": "A"}', "missing time"),
        ('{"type": "A", "ts": null}', "missing time"),
        ('{"type": "A", "ts": true}', "bad time"),
        ('{"type": "A", "ts": 1.5}', "bad time"),
        ('{"type": "A", "ts": "noon"}', "bad time"),
        ('{"type": "Payment", "ts": 1, "user": "u"}', 'invalid: missing field "amount"'),
        (
            '{"type": "Payment", "ts": 1, "user": "u", "amount": "abc", "status": "ok", '
            '"country": "US"}',
            'invalid: field "amount": expected a number, got "abc"',
        ),
    ],
)
def test_jsonl_rejects(validator: Validator, line: str, reason: str) -> None:
    items = jsonl('{"type": "A", "ts": 1}', line, validator=validator)
    assert rejects(items) == [Reject(2, reason, line)]
    assert len(events(items)) == 1


def test_jsonl_deeply_nested_line_is_a_reject() -> None:
    line = "[" * 100_000 + "]" * 100_000
    (reject,) = jsonl(line)
    assert isinstance(reject, Reject) and reject.reason.startswith("bad json")


def test_jsonl_keeps_the_record_as_read_for_output(validator: Validator) -> None:
    line = (
        '{"type": "Payment", "ts": "2024-01-01", "user": "u", "amount": 10, "status": "ok", '
        '"country": "US", "note": "extra"}'
    )
    (event,) = jsonl(line, validator=validator)
    assert isinstance(event, SourceEvent)
    assert event.ts == JAN_1_2024
    assert event.data["amount"] == 10.0 and isinstance(event.data["amount"], float)
    assert event.raw == json.loads(line) and isinstance(event.raw["amount"], int)
    assert raw_of(event) is event.raw
    assert raw_of(Event("A", 1, {"x": 1})) == {"x": 1}


def test_jsonl_type_and_time_fields_are_configurable() -> None:
    items = jsonl(
        '{"kind": "A", "at": 7}',
        '{"at": 8}',
        '{"kind": "B", "ts": 9}',
        type_field="kind",
        time_field="at",
        default_type="D",
    )
    assert [(e.type, e.ts) for e in events(items)] == [("A", 7), ("D", 8)]
    assert rejects(items) == [Reject(3, "missing time", '{"kind": "B", "ts": 9}')]


def test_default_type_does_not_override_the_type_field() -> None:
    items = jsonl('{"type": "A", "ts": 1}', '{"ts": 2}', default_type="Payment")
    assert [e.type for e in events(items)] == ["A", "Payment"]


def test_jsonl_blank_lines_are_skipped() -> None:
    items = jsonl("", "   ", "\t", '{"type": "A", "ts": 1}', "")
    assert [(e.line, e.seq) for e in events(items)] == [(4, 0)]
    assert rejects(items) == []


def test_jsonl_from_bytes_crlf_bom_and_bad_utf8() -> None:
    data = b'\xef\xbb\xbf{"type": "A", "ts": 1}\r\n{"type": "A", "ts": 2, "x": "\xff"}\r\n'
    data += '{"type": "A", "ts": 3, "x": "é"}\n'.encode()
    items = list(read_jsonl(io.BytesIO(data)))
    assert [(e.line, e.get("x")) for e in events(items)] == [(1, None), (3, "é")]
    (reject,) = rejects(items)
    assert (reject.line, reason_kind(reject.reason)) == (2, "not UTF-8")
    assert not reject.raw.endswith("\r")


def test_raw_text_has_no_line_ending() -> None:
    (reject,) = list(read_jsonl(["oops\r\n"]))
    assert reject == Reject(1, "bad json: a value is missing at character 1", "oops")


def test_reading_is_lazy() -> None:
    def lines() -> Any:
        yield '{"type": "A", "ts": 1}\n'
        raise AssertionError("read past the first event")

    assert next(read_jsonl(lines())).ts == 1  # type: ignore[union-attr]


def test_jsonl_streams_from_a_pipe() -> None:
    read_end, write_end = os.pipe()
    results: queue.Queue[SourceEvent | Reject | None] = queue.Queue()
    with os.fdopen(read_end, "rb") as reader, os.fdopen(write_end, "wb") as writer:

        def consume() -> None:
            for item in read_jsonl(reader):
                results.put(item)
            results.put(None)

        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        writer.write(b'{"type": "A", "ts": 1}\n')
        writer.flush()
        first = results.get(timeout=10)  # arrives while the pipe is still open
        assert isinstance(first, SourceEvent) and first.ts == 1
        assert thread.is_alive()
        writer.write(b'{"type": "A", "ts": 2}\n')
        writer.close()
        thread.join(timeout=10)
    second = results.get(timeout=1)
    assert isinstance(second, SourceEvent) and second.ts == 2
    assert results.get(timeout=1) is None


LINE_KINDS = {
    "event": (
        '{"type": "Payment", "ts": 1, "user": "u", "amount": 1, "status": "ok", "country": "US"}'
    ),
    "untyped": '{"type": "Free", "ts": "2024-01-01T00:00:00Z", "x": [1]}',
    "blank": "  ",
    "bad json": '{"type": ',
    "not an object": "[]",
    "no type": '{"ts": 1}',
    "missing time": '{"type": "Free"}',
    "bad time": '{"type": "Free", "ts": false}',
    "invalid": '{"type": "Payment", "ts": 1, "user": 5}',
}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(LINE_KINDS)), max_size=40), st.booleans())
def test_every_jsonl_line_is_accounted_for_once(kinds: list[str], final_newline: bool) -> None:
    program = load_sources({"s.cep": SCHEMAS})
    text = "\n".join(LINE_KINDS[kind] for kind in kinds) + ("\n" if final_newline else "")
    items = list(read_jsonl(io.StringIO(text), validator=Validator(program.schemas)))
    lines = text.splitlines()
    blank = {n for n, line in enumerate(lines, 1) if not line.strip()}
    seen = [item.line for item in items] + sorted(blank)
    assert sorted(seen) == list(range(1, len(lines) + 1))  # each line exactly once
    for item in items:
        kind = kinds[item.line - 1]  # type: ignore[operator]
        if isinstance(item, Reject):
            assert reason_kind(item.reason) == kind
            assert item.raw == lines[item.line - 1]
        else:
            assert kind in ("event", "untyped")
    assert [e.seq for e in events(items)] == list(range(len(events(items))))


# ------------------------------------------------------------------------------ CSV

BENCH_HEADER = "ts,user,amount,status,country"


def test_csv_bench_file_read_with_a_default_type(validator: Validator) -> None:
    items = csv_rows(
        BENCH_HEADER,
        "1700000000000,u1,12.0,ok,US",
        "1700000000500,u2,3.25,failed,DE",
        default_type="Payment",
        validator=validator,
    )
    assert rejects(items) == []
    first, second = events(items)
    assert (first.type, first.ts, first.seq, first.line) == ("Payment", 1_700_000_000_000, 0, 2)
    assert first.data == {
        "ts": 1_700_000_000_000,
        "user": "u1",
        "amount": 12.0,
        "status": "ok",
        "country": "US",
    }
    assert (second.ts, second.line, second.get("amount")) == (1_700_000_000_500, 3, 3.25)
    assert first.text == "1700000000000,u1,12.0,ok,US"


def test_csv_without_a_type_is_rejected() -> None:
    items = csv_rows(BENCH_HEADER, "1,u1,1,ok,US")
    assert rejects(items) == [Reject(2, "no type", "1,u1,1,ok,US")]


def test_csv_cells_follow_the_schema(validator: Validator) -> None:
    items = csv_rows(
        "type,ts,id,total,paid,placed,wait,tags,note,code",
        'Order,1,7,10,TRUE,2024-01-01,250,"[""a"", ""b""]",007,007',
        validator=validator,
    )
    (event,) = events(items)
    assert event.data == {
        "type": "Order",
        "ts": 1,
        "id": 7,
        "total": 10.0,
        "paid": True,
        "placed": JAN_1_2024,
        "wait": 250,
        "tags": ["a", "b"],
        "note": "007",  # declared str: kept as text
        "code": 7,  # undeclared: inferred
    }
    assert event.raw["placed"] == "2024-01-01" and event.raw["total"] == 10


def test_csv_cells_without_a_schema_are_inferred() -> None:
    items = csv_rows("type,ts,a,b,c,d,e", "X,2024-01-01T00:00:00Z,1,-2.5,1e3,abc,nan")
    (event,) = events(items)
    assert event.ts == JAN_1_2024
    expected = {"type": "X", "ts": "2024-01-01T00:00:00Z", "a": 1, "b": -2.5, "c": 1000.0}
    assert event.data == {**expected, "d": "abc", "e": "nan"}


def test_csv_empty_cell_is_a_missing_field(validator: Validator) -> None:
    items = csv_rows(
        "type,ts,id,total,paid,placed,wait,note",
        "Order,1,7,1.5,false,0,10,",
        "Order,2,,1.5,false,0,10,hi",
        ",3,1,1,true,0,0,",
        validator=validator,
    )
    first, second, third = items
    assert isinstance(first, SourceEvent) and "note" not in first.data
    assert second == Reject(3, 'invalid: missing field "id"', "Order,2,,1.5,false,0,10,hi")
    assert third == Reject(4, "no type", ",3,1,1,true,0,0,")


def test_csv_wrong_values_are_rejected_with_the_schema_reason(validator: Validator) -> None:
    items = csv_rows(
        "type,ts,id,total,paid,placed,wait",
        "Order,1,7.5,1,yes,0,0",
        "Order,x,7,1,true,0,0",
        validator=validator,
    )
    assert [r.reason for r in rejects(items)] == [
        'invalid: field "id": expected an integer, got 7.5',
        "bad time",
    ]


def test_csv_rows_of_the_wrong_width_and_blank_lines() -> None:
    items = csv_rows("", "type,ts,a", "", "A,1,x", "A,2", "A,3,x,y", "  ", "A,4,z")
    assert [(e.line, e.get("a")) for e in events(items)] == [(4, "x"), (8, "z")]
    assert rejects(items) == [
        Reject(5, "bad csv: 2 cells, the header has 3", "A,2"),
        Reject(6, "bad csv: 4 cells, the header has 3", "A,3,x,y"),
    ]


def test_csv_quoted_cell_spanning_lines() -> None:
    items = csv_rows("type,ts,note", 'A,1,"two', 'lines"', "A,2,x")
    first, second = events(items)
    assert (first.line, first.get("note"), first.text) == (2, "two\nlines", 'A,1,"two\nlines"')
    assert second.line == 4


def test_csv_type_and_time_columns_are_configurable() -> None:
    options = {"type_field": "kind", "time_field": "when", "default_type": "D"}
    items = csv_rows("kind,when,v", "A,5,1", ",6,2", **options)
    assert [(e.type, e.ts, e.get("v")) for e in events(items)] == [("A", 5, 1), ("D", 6, 2)]


def test_csv_bad_utf8_row() -> None:
    data = b"type,ts,a\nA,1,\xff\nA,2,ok\n"
    items = list(read_csv(io.BytesIO(data)))
    assert [(type(i).__name__, i.line) for i in items] == [("Reject", 2), ("SourceEvent", 3)]
    assert rejects(items)[0].reason == "not UTF-8"


def test_csv_streams() -> None:
    def lines() -> Any:
        yield "type,ts\n"
        yield "A,1\n"
        raise AssertionError("read past the first event")

    assert next(read_csv(lines())).ts == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("cell", "declared", "value"),
    [
        ("12", None, 12),
        ("-12", None, -12),
        ("1.5", None, 1.5),
        (".5", None, 0.5),
        ("1_000", None, "1_000"),
        (" 1", None, " 1"),
        ("inf", None, "inf"),
        ("12", Type("str"), "12"),
        ("12", Type("float"), 12),
        ("True", Type("bool"), True),
        ("no", Type("bool"), "no"),
        ("[1, 2]", list_of(Type("int")), [1, 2]),
        ("[1, 2", list_of(Type("int")), "[1, 2"),
        ('{"a": 1}', list_of(Type("int")), '{"a": 1}'),
        ("2024-01-01", Type("time"), "2024-01-01"),
    ],
)
def test_convert_cell(cell: str, declared: Type | None, value: object) -> None:
    assert convert_cell(cell, declared) == value
    assert type(convert_cell(cell, declared)) is type(value)
    if declared is None:
        assert infer_cell(cell) == value


# ------------------------------------------------------------------------------ opening


def test_open_source_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "A", "ts": 1}\n', encoding="utf-8")
    with open_source(str(path), "jsonl") as stream:
        (event,) = read_source(stream, "jsonl")
    assert isinstance(event, SourceEvent) and event.ts == 1
    assert stream.closed


def test_open_source_reads_standard_input(monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"type,ts\nA,1\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    with open_source("-", "csv") as stream:
        items = list(read_source(stream, "csv"))
    assert [e.ts for e in events(items)] == [1]
    assert not stdin.closed  # standard input is not closed


def test_open_source_errors(tmp_path: Path) -> None:
    with (
        pytest.raises(SourceError, match="cannot read"),
        open_source(str(tmp_path / "no"), "jsonl"),
    ):
        pass
    with pytest.raises(SourceError, match="parquet"), open_source("-", "parquet"):
        pass
    with pytest.raises(SourceError):
        read_source([], "xml")


def test_guess_format() -> None:
    assert guess_format("a/b.CSV") == "csv"
    assert guess_format("events.jsonl") == "jsonl"
    assert guess_format("-") == "jsonl"


# ------------------------------------------------------------------------------ rejects


def test_rejects_writer_writes_json_lines_and_counts_by_kind() -> None:
    out = io.StringIO()
    writer = RejectsWriter(out)
    writer.write(Reject(2, "bad json: Expecting value", "nope"))
    writer.write(Reject(5, 'invalid: field "a": expected a string, got 1', '{"a": 1}'))
    writer.write(Reject(9, 'invalid: missing field "b"', "{}"))
    writer.write(Reject(10, "late", "é"))
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"line": 2, "reason": "bad json: Expecting value", "raw": "nope"},
        {"line": 5, "reason": 'invalid: field "a": expected a string, got 1', "raw": '{"a": 1}'},
        {"line": 9, "reason": 'invalid: missing field "b"', "raw": "{}"},
        {"line": 10, "reason": "late", "raw": "é"},
    ]
    assert writer.counts == {"bad json": 1, "invalid": 2, "late": 1}
    assert writer.total == 4


def test_rejects_writer_without_a_file_only_counts() -> None:
    writer = RejectsWriter()
    writer.write(Reject(1, "no type", "{}"))
    assert writer.counts == {"no type": 1}


def test_late_reject_uses_the_line_as_read() -> None:
    out = io.StringIO()
    writer = RejectsWriter(out)
    (event,) = jsonl("", '{"type":"A","ts":1}')
    assert isinstance(event, SourceEvent)
    writer.write(late_reject(event, "late"))
    writer.write(late_reject(Event("B", 2, {"x": 1}, line=7)))
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"line": 2, "reason": "late", "raw": '{"type":"A","ts":1}'},
        {"line": 7, "reason": "late", "raw": '{"x":1}'},  # (by `encode`)
    ]


def test_rejects_writer_open_closes_its_file(tmp_path: Path) -> None:
    path = tmp_path / "rejects.jsonl"
    with RejectsWriter.open(str(path)) as writer:
        writer.write(Reject(3, "bad time", '{"ts": "x"}'))
    assert writer.stream is not None and writer.stream.closed
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "line": 3,
        "reason": "bad time",
        "raw": '{"ts": "x"}',
    }


_QUICK_SCHEMA = """
event Q { i: int, f: float, s: str, b: bool, d: duration, o: str?, of: float? }
"""
_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["i", "f", "s", "b", "d", "o", "of", "x"]), _ANY_VALUE))
def test_validation_types_declared_fields_only(record: dict) -> None:
    """A valid record comes back itself where no value changed, else as a copy that
    differs only in declared fields; the record given is never changed."""
    schema = load_sources({"q.cep": _QUICK_SCHEMA}).schemas["Q"]
    before = dict(record)
    typed, reason = Validator({"Q": schema}).validate("Q", record)
    assert record.keys() == before.keys()
    assert all(record[name] is value for name, value in before.items())
    assert (typed is None) == (reason is not None)
    if typed is not None:
        assert typed.keys() == record.keys()
        changed = [name for name in record if typed[name] is not record[name]]
        assert set(changed) <= set(schema.fields)
        assert (typed is record) == (not changed)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("type,ts\nA," + "9" * 200_000 + "\n", "bad csv: a cell is too long"),
        ("type,ts\nA,1\rB\n", "bad csv: a line break in an unquoted cell"),
    ],
)
def test_csv_rejects_say_why_in_the_projects_words(data: str, reason: str) -> None:
    """A row `csv` refuses gets a reason of the project's words, from either reader."""
    from cep.io.columnar import read_csv_batches

    (reject,) = [item for item in read_csv(io.StringIO(data)) if isinstance(item, Reject)]
    assert (reject.line, reject.reason) == (2, reason)
    batches = list(read_csv_batches(io.BytesIO(data.encode())))
    assert [(r.line, r.reason) for b in batches for r in b.rejects] == [(2, reason)]
