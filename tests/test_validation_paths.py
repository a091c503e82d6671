"""Validation is decided once: every reader path and `Engine.push` accept and reject a
declared field's value alike, with the same reason and typed value.

Random schemas (fields of random declared kinds, lists of them, optional or not) and
random records go through the JSON lines row reader, the numba scanner, the msgspec
structs (the scanner turned off), the CSV row reader and its pyarrow path, the Arrow
reader and its row path, and the Python API.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.api import Engine, EventError
from cep.io.arrow import arrow_records
from cep.io.columnar import read_arrow_batches, read_csv_batches, read_jsonl_batches
from cep.io.jsonl import JsonlReader
from cep.io.sources import RecordMaker
from cep.io.validation import Validator
from cep.lang.program import load_sources
from tests.row_readers import read_csv, read_jsonl
from tests.test_columnar import batch_view, row_view, same

_SCALAR_KINDS = ["int", "float", "str", "bool", "time", "duration"]
_DECLARED = st.one_of(
    *[st.sampled_from(_SCALAR_KINDS)] * 3,
    st.recursive(
        st.sampled_from(_SCALAR_KINDS),
        lambda inner: inner.map(lambda t: f"list[{t}]"),
        max_leaves=3,
    ),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**66), 2**66),
    st.integers(-5, 2_000_000_000_000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 3.0, -0.0, 1e19, -1e19, 9.2e18, 1e300, 2**63 - 1, 2**63, -(2**63)]),
    st.sampled_from([2**53 + 1, 9007199254740993, 0.1, 12.5, 10**30]),
    st.text(max_size=3),
    st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01", "12", "-0", "1.5", "true", "FALSE"]),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.lists(st.lists(_SCALARS, max_size=2), max_size=2),
)


_GOOD = {
    "int": st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([3.0, -0.0, 1e20])),
    "duration": st.integers(0, 10**9),
    "float": st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-9, 2**60)),
    "str": st.text(max_size=4),
    "bool": st.booleans(),
    "time": st.one_of(
        st.integers(0, 2**41), st.sampled_from(["2024-01-01T00:00:00Z", "2024-02-03", 5.0])
    ),
}


def _good(declared: str) -> st.SearchStrategy[Any]:
    """Values of a declared type (mostly valid: lists may hold an odd item)."""
    if declared.startswith("list["):
        item = _good(declared[5:-1])
        return st.one_of(*[st.lists(item, max_size=3)] * 4, st.lists(st.one_of(item, _SCALARS)))
    return _GOOD[declared]


#: event times outside `TIME_WINDOW` or at its edges (1970-01-01, 2200-01-01)
_EDGE_TIMES = st.sampled_from(
    [-1, 0, 7258118399999, 7258118400000, 2**63 - 1, -(2**63), 7258118400000.0, -1.0,
     "1969-12-31T23:59:59.999Z", "2199-12-31T23:59:59.999", "2200-01-01", "9999-12-31"]
)  # fmt: skip
#: event times: mostly epoch ms, else any time or any value (the time rule decides)
_TIMES = st.one_of(*[st.integers(0, 2**41)] * 4, _GOOD["time"], _SCALARS, _EDGE_TIMES)
#: how the Python API words a reject the readers give for the event time
_API_TIME_ERRORS = {
    "missing time": "event has no time",
    "bad time": "bad time",
    "time out of range": "time out of range",
}


@st.composite
def _cases(draw: st.DrawFn) -> tuple[str, dict[str, str], list[dict[str, Any]]]:
    """A schema of event type E (its text), its fields' declared types, and records; a
    third of them scalar fields with mostly valid values (lines the scanner reads)."""
    count = draw(st.integers(1, 3))
    plain = draw(st.integers(0, 2)) == 0
    kinds = st.sampled_from(_SCALAR_KINDS) if plain else _DECLARED
    declared = {f"f{i}": draw(kinds) for i in range(count)}
    optional = {name: draw(st.booleans()) for name in declared}
    text = "event E { " + ", ".join(
        f"{name}: {kind}{'?' if optional[name] else ''}" for name, kind in declared.items()
    ) + " }"  # fmt: skip
    records = []
    for _ in range(draw(st.integers(1, 4))):
        record: dict[str, Any] = {"type": "E", "ts": draw(_TIMES)}
        for name in declared:
            if draw(st.integers(0, 5)):
                good = draw(st.integers(0, 19 if plain else 4))
                record[name] = draw(_good(declared[name]) if good else _VALUES)
        records.append(record)
    return text, declared, records


def _validator(text: str) -> Validator:
    return Validator(load_sources({"s.cep": text}).schemas)


def _fields(declared: dict[str, str]) -> dict[str, Any]:
    schema = load_sources({"s.cep": "event E { " + ", ".join(
        f"{name}: {kind}" for name, kind in declared.items()
    ) + " }"}).schemas["E"]  # fmt: skip
    return {name: info.type for name, info in schema.fields.items()}


_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_cases())
def test_json_lines_paths_decide_alike(case: Any) -> None:
    text, declared, records = case
    validator = _validator(text)
    fields = _fields(declared)
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    expected = row_view(read_jsonl(io.BytesIO(data), validator=validator), fields)
    scanned = read_jsonl_batches(io.BytesIO(data), fields=fields, validator=validator)
    same(expected, batch_view(scanned, fields))
    with pytest.MonkeyPatch.context() as patch:  # msgspec and the row reader alone
        scan = JsonlReader.scan

        def no_scan(reader: Any, plan: Any, block: Any, candidates: Any, *rest: Any) -> Any:
            rows, _ = scan(reader, plan, block, candidates[:0], *rest)
            return rows, candidates

        patch.setattr(JsonlReader, "scan", no_scan)
        decoded = read_jsonl_batches(io.BytesIO(data), fields=fields, validator=validator)
        same(expected, batch_view(decoded, fields))


@_SETTINGS
@given(_cases())
def test_the_python_api_decides_as_the_readers(case: Any) -> None:
    text, _, records = case
    engine = Engine.from_string(text)
    data = "".join(json.dumps(record) + "\n" for record in records)
    for record, read in zip(
        records, read_jsonl(io.StringIO(data), validator=_validator(text)), strict=True
    ):
        reason = getattr(read, "reason", None)
        try:
            engine.push(record)
        except EventError as error:
            assert reason is not None
            if reason.startswith("invalid: "):
                assert str(error) == f"invalid E: {reason.removeprefix('invalid: ')}"
            else:
                assert str(error).startswith(_API_TIME_ERRORS[reason])
        else:
            assert reason is None


def _cell(value: Any) -> str:
    """A value as a CSV cell that `convert_cell` reads back as it (null: no cell)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)
    return str(value) if not isinstance(value, float) else repr(value)


@_SETTINGS
@given(_cases())
def test_csv_paths_decide_alike(case: Any) -> None:
    text, declared, records = case
    validator = _validator(text)
    fields = _fields(declared)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["type", "ts", *declared])
    for record in records:
        writer.writerow([record["type"], record["ts"], *(_cell(record.get(n)) for n in declared)])
    data = out.getvalue().encode()
    expected = row_view(read_csv(io.BytesIO(data), validator=validator), fields)
    got = batch_view(read_csv_batches(io.BytesIO(data), fields=fields, validator=validator), fields)
    same(expected, got)


@_SETTINGS
@given(_cases())
def test_arrow_paths_decide_alike(case: Any) -> None:
    text, declared, records = case
    validator = _validator(text)
    fields = _fields(declared)
    try:
        table = pa.Table.from_pylist(records)
    except (pa.ArrowException, OverflowError):
        table = None  # values no one Arrow column holds together: nothing to read
    if table is None:
        return
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    maker = RecordMaker("type", "ts", None, validator)
    rows = list(range(table.num_rows))
    expected_items = [
        maker.make(record, i + 1, "")
        for i, record in zip(rows, arrow_records(table, rows), strict=True)
    ]
    expected = row_view(expected_items, fields)
    got = batch_view(read_arrow_batches(io.BytesIO(sink.getvalue()), fields=fields,
                                        validator=validator), fields)  # fmt: skip
    assert [e[:4] for e in got[0]] == [e[:4] for e in expected[0]]
    assert [r[:2] for r in got[1]] == [r[:2] for r in expected[1]]
