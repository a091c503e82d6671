"""Parquet batches of one event type whose every cell is there (the usual file) are read
as the row reader reads them: their columns typed whole, a NaN or infinite amount and
a time outside the plausible window still rejected with the row reader's reason."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cep.io.columnar import read_parquet_batches
from cep.io.sources import RecordMaker
from cep.runtime.match import encode
from tests.test_columnar import VALIDATOR, batch_view, row_view, same

FIELDS = {"user": "str", "amount": "float", "status": "str"}


def _file(amounts: list[float], times: list[int]) -> io.BytesIO:
    n = len(amounts)
    table = pa.table(
        {
            "type": ["Payment"] * n,
            "ts": pa.array(times, pa.int64()),
            "user": [f"u{i % 3}" for i in range(n)],
            "amount": pa.array(amounts, pa.float64()),
            "status": ["failed" if i % 2 else "ok" for i in range(n)],
            "country": ["US"] * n,
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=4)
    sink.seek(0)
    return sink


def _expected(source: io.BytesIO) -> list[Any]:
    maker = RecordMaker("type", "ts", None, VALIDATOR)
    rows = pq.read_table(source).to_pylist()
    source.seek(0)
    out = []
    for number, row in enumerate(rows, 1):
        record = {k: v for k, v in row.items() if v is not None}
        out.append(maker.make(record, number, encode(record).decode()))
    return out


@pytest.mark.parametrize(
    ("odd_amount", "odd_time", "reason"),
    [
        (2.5, 1_700_000_000_005, None),
        (float("nan"), 1_700_000_000_005, 'invalid: field "amount"'),
        (float("inf"), 1_700_000_000_005, 'invalid: field "amount"'),
        (2.5, -1, "time out of range"),
        (2.5, 2**62, "time out of range"),
    ],
)
def test_one_type_with_every_cell_is_read_as_the_row_reader_reads_it(
    odd_amount: float, odd_time: int, reason: str | None
) -> None:
    amounts = [1.25, 3.0, 0.1, 99.99, odd_amount, 7.0, 12.5, 0.5, 1e-4, 20.0]
    times = [1_700_000_000_000 + i for i in range(10)]
    times[4] = odd_time
    source = _file(amounts, times)
    expected = _expected(source)
    batches = list(read_parquet_batches(source, fields=FIELDS, validator=VALIDATOR, batch_size=4))
    same(row_view(expected, FIELDS), batch_view(batches, FIELDS))
    rejects = [(r.line, r.reason) for b in batches for r in b.rejects]
    if reason is None:
        assert not rejects
    else:
        assert len(rejects) == 1 and rejects[0][0] == 5 and rejects[0][1].startswith(reason)
