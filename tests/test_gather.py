"""Rows of several batches as one batch (`cep.io.gather`): every row reads as it read in
the batch it came from, whatever the format, the order asked for and the dictionaries."""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cep.fast.reporttext import piece_texts
from cep.io.columnar import (
    read_csv_batches,
    read_jsonl_batches,
    read_parquet_batches,
)
from cep.io.gather import gather_rows

FIELDS = {"k": "str", "v": "int", "w": "float", "note": "object"}

RECORDS = [
    {"type": "E", "ts": 5, "k": "a", "v": 1, "w": 2.5, "note": [1, 2]},
    {"type": "E", "ts": 3, "k": "b\u00e9", "v": 2},
    {"type": "F", "ts": 4, "k": "a", "v": "not an int", "w": 1},  # v: of another kind
    {"type": "E", "ts": 9, "k": "c", "w": 0.1},
    {"type": "E", "ts": 1, "k": "b\u00e9", "v": 7, "note": {"x": None}},
    {"type": "F", "ts": 2, "v": 3, "k": "z\\"},
    {"type": "E", "ts": 8, "k": "a", "v": -4, "w": 1e300},
]


def _view(batch, i: int) -> tuple:
    """What matching and reports read of row `i` (a JSON line's text in reports is its
    line where it lies in the batch's buffer, a row's its record encoded)."""
    pieces = batch.record_pieces(np.array([i], np.int64))
    record = piece_texts(pieces)[0] if pieces is not None else None
    lines = batch.line_texts()
    if lines is not None and lines[2][i] >= 0:
        buf, starts, ends = lines
        record = bytes(buf[starts[i] : ends[i]]).decode()
    return (batch.type_name(i), int(batch.ts[i]), int(batch.line[i]), batch.values(i),
            batch.text(i), record, batch.record_of(batch.kept_of([i])[0]))  # fmt: skip


def _jsonl(records: list[dict], size: int) -> list:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    return list(read_jsonl_batches(io.BytesIO(data), fields=FIELDS, batch_size=size))


def _csv(records: list[dict], size: int) -> list:
    """CSV rows: one with a quoted cell (read by `csv.reader`), the others split by
    pyarrow (their record texts made from their bytes)."""
    rows = ["type,ts,k,v"] + [
        f"{r['type']},{r['ts']},{quoted(r.get('k', ''))},{r.get('v', '')}"
        for quoted, r in zip(
            [str] * 3 + [lambda k: f'"{k}"'] + [str] * len(records), records, strict=False
        )
    ]
    data = "".join(row + "\n" for row in rows).encode()
    return list(read_csv_batches(io.BytesIO(data), fields=FIELDS, batch_size=size))


def _parquet(records: list[dict], size: int, tmp_path) -> list:
    table = pa.table({
        "type": [r["type"] for r in records],
        "ts": [r["ts"] for r in records],
        "k": [r.get("k") for r in records],
        "v": [r["v"] if isinstance(r.get("v"), int) else None for r in records],
        "w": [float(r["w"]) if "w" in r else None for r in records],
    })  # fmt: skip
    path = tmp_path / "feed.parquet"
    pq.write_table(table, path)
    return list(read_parquet_batches(str(path), fields=FIELDS, batch_size=size))


@st.composite
def _choice(draw: st.DrawFn) -> tuple[int, list[tuple[int, list[int]]], list[int] | None]:
    """A batch size, some rows of some batches, and maybe an order for them."""
    size = draw(st.sampled_from([2, 3, 7]))
    batch = st.integers(0, len(RECORDS) // size)
    parts = []
    for b in draw(st.lists(batch, min_size=1, max_size=3, unique=True)):
        parts.append((b, draw(st.lists(st.integers(0, size - 1), unique=True))))
    shuffle = draw(st.booleans())
    return size, parts, draw(st.randoms()) if shuffle else None


def _check(batches: list, parts: list[tuple[int, list[int]]], shuffle) -> None:
    """Rows of batches gathered (those of `parts` that are there), in order or shuffled."""
    chosen = {b % len(batches): rows for b, rows in parts}
    taken = [
        (batches[b], np.array([i for i in rows if i < len(batches[b])], np.int64))
        for b, rows in chosen.items()
    ]
    total = sum(len(rows) for _, rows in taken)
    order = None
    if shuffle is not None:
        order = list(range(total))
        shuffle.shuffle(order)
    gathered = gather_rows(taken, None if order is None else np.array(order, np.int64))
    expected = [_view(batch, int(i)) for batch, rows in taken for i in rows]
    if order is not None:
        expected = [expected[k] for k in order]
    assert [_view(gathered, i) for i in range(len(gathered))] == expected
    assert (gathered.rejects, gathered.lines) == ([], 0)


@settings(max_examples=60, deadline=None)
@given(_choice())
def test_json_lines_rows_read_as_they_did(choice) -> None:
    size, parts, order = choice
    _check(_jsonl(RECORDS, size), parts, order)


@settings(max_examples=40, deadline=None)
@given(_choice())
def test_csv_rows_read_as_they_did(choice) -> None:
    size, parts, order = choice
    _check(_csv(RECORDS, size), parts, order)


def test_parquet_rows_read_as_they_did(tmp_path) -> None:
    batches = _parquet(RECORDS, 3, tmp_path)
    assert len(batches) == 3
    _check(batches, [(0, [2, 0]), (2, [0]), (1, [1, 2])], None)
    _check(batches, [(0, [1]), (1, [0, 1, 2]), (2, [0])], random.Random(7))


def test_rows_of_readers_with_their_own_dictionaries_keep_their_strings() -> None:
    """Two readers code "a" and "b\u00e9" differently: the gathered batch codes each
    string once, in a dictionary of its own."""
    first, second = _jsonl(RECORDS[:2], 8)[0], _jsonl(RECORDS[1::-1], 8)[0]
    assert first.columns["k"].dictionary is not second.columns["k"].dictionary
    gathered = gather_rows([(first, np.array([0, 1])), (second, np.array([0, 1]))])
    k = gathered.columns["k"]
    assert [k.get(i) for i in range(4)] == ["a", "b\u00e9", "b\u00e9", "a"]
    assert k.values[0] == k.values[3] and k.values[1] == k.values[2]
    assert [gathered.type_name(i) for i in range(4)] == ["E"] * 4


def test_no_rows_no_batch() -> None:
    with pytest.raises(ValueError, match="no rows"):
        gather_rows([])


def test_batches_of_different_formats_are_refused() -> None:
    jsonl, csv = _jsonl(RECORDS, 8)[0], _csv(RECORDS, 8)[0]
    with pytest.raises(ValueError, match="different formats"):
        gather_rows([(jsonl, np.array([0])), (csv, np.array([0]))])
