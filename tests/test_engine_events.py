"""A batch's events as the interpreter's events (`cep.engine.events.events_of`): every
row comes back as `event_at` makes it, in order, whatever the format, however the
batch is cut into the pieces rebuilt at a time; and a piece is rebuilt only as the
caller gets to it, so a large batch's records are never all held at once."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cep.engine import events
from cep.io.batch import Batch
from cep.io.columnar import read_csv_batches, read_jsonl_batches, read_parquet_batches
from cep.io.validation import Validator

FIELDS = {"user": "str", "amount": "float"}
VALIDATOR = Validator({})


def _records(n: int) -> list[dict]:
    return [
        {"type": "P", "ts": 1000 + i // 3, "user": f"u{i % 7}", "amount": i / 4} for i in range(n)
    ]


def _batches(fmt: str, records: list[dict], size: int, folder) -> list:
    if fmt == "jsonl":
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        return list(read_jsonl_batches(io.BytesIO(data), fields=FIELDS, batch_size=size))
    if fmt == "csv":
        rows = ["type,ts,user,amount"] + [
            f"{r['type']},{r['ts']},{r['user']},{r['amount']}" for r in records
        ]
        data = "".join(row + "\n" for row in rows).encode()
        return list(read_csv_batches(io.BytesIO(data), fields=FIELDS, batch_size=size))
    path = folder / "feed.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    return list(read_parquet_batches(str(path), fields=FIELDS, batch_size=size))


def _view(event) -> tuple:
    return (event.type, event.ts, event.line, event.data, event.raw, event.text, event.json)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(1, 60), size=st.integers(1, 70), at_once=st.integers(1, 25))
def test_every_row_comes_back_as_event_at_makes_it(fmt, n, size, at_once, tmp_path, monkeypatch):
    monkeypatch.setattr(events, "EVENTS_AT_ONCE", at_once)
    batches = _batches(fmt, _records(n), size, tmp_path)
    got = [_view(e) for batch in batches for e in events.events_of(batch, VALIDATOR)]
    want = [_view(events.event_at(b, i, VALIDATOR)) for b in batches for i in range(len(b))]
    assert got == want
    assert [line for _, _, line, *_ in got] == list(
        range(1 + (fmt == "csv"), n + 1 + (fmt == "csv"))
    )


def test_a_large_batch_is_rebuilt_a_piece_at_a_time(tmp_path, monkeypatch):
    """The records of a 5,000-row Parquet batch are made 512 at a time, as they are
    taken: the first event comes with only its piece's records made."""
    monkeypatch.setattr(events, "EVENTS_AT_ONCE", 512)
    (batch,) = _batches("parquet", _records(5000), 8192, tmp_path)
    asked: list[int] = []
    records_of = Batch.records_of
    monkeypatch.setattr(
        Batch, "records_of", lambda self, kept: asked.append(len(kept)) or records_of(self, kept)
    )
    taken = events.events_of(batch, VALIDATOR)
    first = next(taken)
    assert first.ts == 1000 and asked == [512]
    assert 1 + sum(1 for _ in taken) == 5000
    assert asked == [512] * 9 + [392]
