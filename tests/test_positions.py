"""Batch positions (`Batch.position`): the byte offset after a batch's last line and
the next line number, read again from there; Parquet rows skipped on a resume."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from cep.io.columnar import (
    read_arrow_batches,
    read_csv_batches,
    read_jsonl_batches,
    read_parquet_batches,
)
from cep.io.lines import ByteLines


def _lines(n: int) -> list[bytes]:
    return [b'{"type": "A", "ts": %d, "x": %d}' % (1000 + i, i) for i in range(n)]


@pytest.mark.parametrize("ending", [b"\n", b""])
def test_jsonl_positions_resume_where_they_say(tmp_path: Path, ending: bytes) -> None:
    lines = _lines(50)
    lines[7] = b"{bad"
    data = b"\n".join(lines) + ending
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    batches = list(read_jsonl_batches(str(path), batch_size=8))
    assert batches[-1].position == (len(data), 51)
    for batch in batches[:-1]:
        offset, line = batch.position
        assert data[:offset].count(b"\n") == line - 1 and data[offset - 1 : offset] == b"\n"
        rest = list(read_jsonl_batches(str(path), batch_size=8, start=(offset, line)))
        numbers = [int(n) for b in rest for n in b.line] + [r.line for b in rest for r in b.rejects]
        assert sorted(numbers) == list(range(line, 51))


def test_csv_record_over_a_block_boundary(tmp_path: Path) -> None:
    rows = [f'{1000 + i},A,"x\n{i}"' if i % 5 == 4 else f"{1000 + i},A,y{i}" for i in range(30)]
    data = ("ts,type,note\n" + "\n".join(rows) + "\n").encode()
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    batches = list(read_csv_batches(str(path), batch_size=4))
    for batch in batches[:-1]:
        offset, line = batch.position
        assert data[:offset].count(b"\n") == line - 1
        rest = list(
            read_csv_batches(str(path), start=(offset, line), header=["ts", "type", "note"])
        )
        got = [int(t) for b in rest for t in b.ts]
        later = [int(t) for b in batches if b.position[0] > offset for t in b.ts]
        assert got == later


def test_parquet_rows_skipped(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{"type": "A", "ts": 1000 + i} for i in range(100)])
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=30)
    resumed = list(read_parquet_batches(str(tmp_path / "in.parquet"), batch_size=16, skip=37))
    assert [int(n) for b in resumed for n in b.line] == list(range(38, 101))
    assert resumed[-1].position == (None, 101)


def test_interrupted_read_hands_on_whole_lines() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.chunks = [b"a\n" * 10_000 + b"c", KeyboardInterrupt()]  # (no pause)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:
            chunk = self.chunks.pop(0)
            if isinstance(chunk, BaseException):
                raise chunk
            size = min(len(chunk), len(buffer))
            buffer[:size] = chunk[:size]
            if size < len(chunk):
                self.chunks.insert(0, chunk[size:])
            return size

    lines = ByteLines(Pipe(), 100_000)
    block = lines.next_block()
    assert block is not None and len(block) == 10_000 and lines.offset == 20_000
    with pytest.raises(KeyboardInterrupt):
        lines.next_block()


def test_arrow_rows_skipped(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pylist([{"type": "A", "ts": 1000 + i} for i in range(100)])
    with pa.ipc.new_file(str(tmp_path / "in.arrow"), table.schema) as writer:
        for piece in table.to_batches(max_chunksize=30):
            writer.write_batch(piece)
    resumed = list(read_arrow_batches(str(tmp_path / "in.arrow"), batch_size=16, skip=61))
    assert [int(n) for b in resumed for n in b.line] == list(range(62, 101))
    assert resumed[-1].position == (None, 101)


def test_arrow_stream_numbered_on(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    table = pa.Table.from_pylist([{"type": "A", "ts": 1000 + i} for i in range(10)])
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    stream = io.BytesIO(sink.getvalue())
    stream.seekable = lambda: False  # type: ignore[method-assign]  # (as a pipe is)
    batches = list(read_arrow_batches(stream, first=41))
    assert [int(n) for b in batches for n in b.line] == list(range(41, 51))
    assert batches[-1].position == (None, 51)
