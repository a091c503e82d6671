"""`.gz` and `.zst` inputs are read decompressed, on every engine and from a checkpoint;
a damaged one stops the run with one line."""

from __future__ import annotations

import gzip
import json
import signal
from pathlib import Path

import pyarrow as pa
import pytest

from cep.cli import main
from tests.checkpoints import cep_run, new_checkpoint, payments_feed, run, start

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules" / "payments.cep")
FEED = ROOT / "examples" / "payments.jsonl"


def _compress(data: bytes, path: Path) -> Path:
    codec = "gzip" if path.suffix == ".gz" else "zstd"
    with pa.output_stream(str(path), compression=codec) as out:
        out.write(data)
    return path


def _csv() -> bytes:
    names = ["type", "ts", "user", "amount", "status", "country", "card", "merchant"]
    records = [json.loads(line) for line in FEED.read_text().splitlines()]
    rows = [",".join(names)] + [",".join(str(r.get(n, "")) for n in names) for r in records]
    return ("\n".join(rows) + "\n").encode()


def _run(capsys, path: Path, *extra: str) -> tuple[int, str, str]:
    out = path.parent / (path.name + ".out")
    code = main(["run", RULES, "--input", str(path), "--output", str(out), *extra])
    return code, out.read_text() if out.exists() else "", capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("engine", ["interpreter", "fast", "auto"])
def test_compressed_input_reads_as_the_plain_file(
    tmp_path: Path, capsys, suffix: str, fmt: str, engine: str
) -> None:
    data = FEED.read_bytes() if fmt == "jsonl" else _csv()
    plain = tmp_path / f"feed.{fmt}"
    plain.write_bytes(data)
    packed = _compress(data, tmp_path / f"feed.{fmt}{suffix}")
    expected = _run(capsys, plain, "--engine", engine)
    got = _run(capsys, packed, "--engine", engine)  # (the format from the name before .gz)
    assert got == expected
    assert got[0] == 0 and "read 9305 records: 9305 events accepted, 0 rejected" in got[2]


def test_a_damaged_file_stops_the_run_with_one_line(tmp_path: Path, capsys) -> None:
    truncated = tmp_path / "feed.jsonl.gz"
    truncated.write_bytes(gzip.compress(FEED.read_bytes())[:40_000])
    code, _, err = _run(capsys, truncated)
    assert code == 2
    assert err.splitlines()[-1] == (
        f"cep run: cannot read {truncated}: not a valid compressed file "
        "(Truncated compressed stream)"
    )
    plain = tmp_path / "plain.jsonl.zst"
    plain.write_bytes(FEED.read_bytes())
    code, _, err = _run(capsys, plain)
    assert code == 2 and f"cep run: cannot read {plain}: not a valid compressed file" in err


def test_compressed_parquet_is_refused(tmp_path: Path, capsys) -> None:
    path = _compress(b"PAR1", tmp_path / "feed.parquet.gz")
    code, _, err = _run(capsys, path)
    assert code == 2
    assert "parquet files are not read compressed" in err


def test_a_checkpointed_run_resumes_inside_a_compressed_file(tmp_path: Path) -> None:
    plain = payments_feed(15_000, tmp_path)
    packed = _compress(plain.read_bytes(), tmp_path / "feed.jsonl.gz")
    reference = run(cep_run(RULES, "--input", str(plain), "--output", str(tmp_path / "ref")))
    assert reference.code == 0
    command = cep_run(RULES, "--input", str(packed), "--output", str(tmp_path / "out"),
                      "--checkpoint", str(tmp_path / "state"), "--checkpoint-every", "2000",
                      "--engine", "interpreter")  # fmt: skip
    process = start(command)
    new_checkpoint(process, tmp_path / "state" / "checkpoint")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err.decode()  # (stopped inside the file)
    resumed = run(command)
    assert resumed.code == 0, resumed.stderr
    assert (tmp_path / "out").read_text() == (tmp_path / "ref").read_text()
