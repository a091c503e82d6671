"""`cep run --checkpoint`: refusals (damaged, truncated, foreign checkpoints), resumes on
standard input, CSV and Parquet, a rule changed between runs, a finished run on a file
that grew, and clean stops without a checkpoint."""

from __future__ import annotations

import fcntl
import json
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
import zlib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cep.service import checkpoint
from tests.checkpoints import (
    PAYMENTS,
    Outcome,
    cep_run,
    environment,
    run,
    same_lines,
    start,
    summary_of,
)


def _payments(n: int, start_at: int = 0) -> list[str]:
    """n payments, some failing in bursts (three_failed_payments matches)."""
    lines = []
    for i in range(start_at, start_at + n):
        status = "failed" if i % 7 < 3 else "ok"
        record = {"type": "Payment", "ts": 1_700_000_000_000 + i * 1000, "user": f"u{i % 5}",
                  "amount": 10.0 + i % 13, "status": status, "country": "US"}  # fmt: skip
        lines.append(json.dumps(record))
    return lines


@pytest.fixture
def feed(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    lines = _payments(1500)
    lines[100] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    return path


def _command(tmp: Path, feed: Path | str, *extra: str) -> list[str]:
    return cep_run(PAYMENTS, "--input", str(feed), "--output", str(tmp / "out.jsonl"),
                   "--rejects", str(tmp / "out.rej"), "--checkpoint", str(tmp / "state"),
                   *extra)  # fmt: skip


#: a run of `_command` with paths relative to its folder, which a test copies
RELATIVE = _command(Path("."), "in.jsonl", "--checkpoint-every", "500")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A folder with an input, the outputs and checkpoint of a whole run over it (paths
    relative to the folder), and the run's summary."""
    folder = tmp_path_factory.mktemp("finished")
    lines = _payments(1500)
    lines[100] = "{not json"
    (folder / "in.jsonl").write_text("\n".join(lines) + "\n")
    first = run(RELATIVE, cwd=folder)
    assert first.code == 0, first.stderr
    return folder, summary_of(first.stderr)


@pytest.fixture
def copied(finished: tuple[Path, str], tmp_path: Path) -> Path:
    shutil.copytree(finished[0], tmp_path / "run")
    return tmp_path / "run"


def _stdin_command(tmp: Path) -> list[str]:
    return cep_run(PAYMENTS, "--output", str(tmp / "out.jsonl"), "--rejects",
                   str(tmp / "out.rej"), "--checkpoint", str(tmp / "state"))  # fmt: skip


def _refused(outcome: Outcome, *words: str) -> None:
    assert outcome.code == 2, outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cep run: cannot resume from"), lines
    assert "Traceback" not in outcome.stderr
    for word in words:
        assert word in lines[0]


def test_rerun_of_a_finished_run_changes_nothing(copied: Path, finished: tuple[Path, str]) -> None:
    before = (copied / "out.jsonl").read_bytes(), (copied / "out.rej").read_bytes()
    again = run(RELATIVE, cwd=copied)
    assert again.code == 0, again.stderr
    assert summary_of(again.stderr) == finished[1]
    assert before == ((copied / "out.jsonl").read_bytes(), (copied / "out.rej").read_bytes())
    assert b"bad json" in before[1]


def test_a_checkpoint_of_format_1_is_still_read(copied: Path, finished: tuple[Path, str]) -> None:
    """Format 1: one msgpack body, the snapshot inside it, with a CRC-32."""
    path = copied / "state" / "checkpoint"
    saved = checkpoint.decode(path.read_bytes())
    body = msgspec.msgpack.encode(msgspec.structs.replace(saved, snapshot=bytes(saved.snapshot)))
    path.write_bytes(struct.pack("<8sIQI", b"CEPCHKPT", 1, len(body), zlib.crc32(body)) + body)
    before = (copied / "out.jsonl").read_bytes(), (copied / "out.rej").read_bytes()
    again = run(RELATIVE, cwd=copied)
    assert again.code == 0, again.stderr
    assert summary_of(again.stderr) == finished[1]
    assert before == ((copied / "out.jsonl").read_bytes(), (copied / "out.rej").read_bytes())


@pytest.mark.parametrize(
    "damage", ["truncated", "flipped", "flipped host", "empty", "foreign", "version"]
)
def test_damaged_checkpoints_are_refused(copied: Path, damage: str) -> None:
    path = copied / "state" / "checkpoint"
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":  # (in the snapshot)
        data[len(data) // 2] ^= 0xFF
    elif damage == "flipped host":  # (in the run's part, after the header)
        data[40] ^= 0xFF
    elif damage == "empty":
        data = bytearray()
    elif damage == "foreign":
        data = bytearray(b"PK\x03\x04 not a checkpoint at all")
    else:
        data[8] = 99  # (the format number)
    path.write_bytes(bytes(data))
    said = {"truncated": "truncated", "flipped": "checksum", "flipped host": "checksum",
            "version": "format 99"}  # fmt: skip
    _refused(run(RELATIVE, cwd=copied), said.get(damage, "not a cep checkpoint"))


def test_another_input_is_refused(copied: Path) -> None:
    (copied / "other.jsonl").write_text("\n".join(_payments(50, 9)) + "\n")
    _refused(run(_command(Path("."), "other.jsonl"), cwd=copied), "another input")
    (copied / "in.jsonl").write_text("\n".join(_payments(1500, 1)) + "\n")
    _refused(run(RELATIVE, cwd=copied), "not the file it was taken on")


def test_other_options_are_refused(copied: Path) -> None:
    _refused(run([*RELATIVE, "--time-field", "time"], cwd=copied), "--time-field")


def test_a_shortened_output_is_refused(copied: Path) -> None:
    (copied / "out.jsonl").write_text("")
    _refused(run(RELATIVE, cwd=copied), "shorter")


def test_a_grown_file_goes_on(tmp_path: Path) -> None:
    lines = _payments(2000)
    whole = tmp_path / "whole.jsonl"
    whole.write_text("\n".join(lines) + "\n")
    reference = run(cep_run(PAYMENTS, "--input", str(whole), "--output",
                            str(tmp_path / "ref.jsonl")))  # fmt: skip
    growing = tmp_path / "in.jsonl"
    growing.write_text("\n".join(lines[:1200]) + "\n")
    assert run(_command(tmp_path, growing)).code == 0
    with growing.open("a") as file:
        file.write("\n".join(lines[1200:]) + "\n")
    last = run(_command(tmp_path, growing))
    assert last.code == 0, last.stderr
    # (the end of the first part released what it held: the rest matches as if fed on)
    same_lines(tmp_path / "out.jsonl", tmp_path / "ref.jsonl")
    assert summary_of(last.stderr) == summary_of(reference.stderr)


def test_sigterm_on_standard_input_waiting(tmp_path: Path) -> None:
    """A burst of lines on a pipe is matched while the pipe stays open; a run waiting on
    a quiet pipe stops at once, checkpoints what it fed, and a resume goes on with what
    arrives next (line numbers go on too)."""
    lines = _payments(600)
    lines[550] = "{broken"
    command = _stdin_command(tmp_path)
    # (a checkpoint after the first batch says the run has fed it: then it waits)
    process = subprocess.Popen([*command, "--checkpoint-every", "100"], stdin=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=environment())  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(("\n".join(lines[:500]) + "\n").encode())
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while not (tmp_path / "state" / "checkpoint").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    # a burst of lines on a pipe that then goes quiet is matched at once, not held
    assert (tmp_path / "state" / "checkpoint").exists(), "the lines read were not matched"
    time.sleep(0.2)  # (back to waiting on the pipe)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err.decode()
    assert "after line 500 of standard input" in err.decode()
    rest = run(command, stdin=("\n".join(lines[500:]) + "\n").encode())
    assert rest.code == 0, rest.stderr
    reject = json.loads((tmp_path / "out.rej").read_text())
    assert reject["line"] == 551
    reference = run(cep_run(PAYMENTS, "--output", str(tmp_path / "ref.jsonl")),
                    stdin=("\n".join(lines) + "\n").encode())  # fmt: skip
    same_lines(tmp_path / "out.jsonl", tmp_path / "ref.jsonl")
    assert summary_of(rest.stderr) == summary_of(reference.stderr)


def test_sigterm_without_checkpoint_flushes_whole_lines(tmp_path: Path) -> None:
    command = cep_run(PAYMENTS, "--output", str(tmp_path / "out.jsonl"))
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment())  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(("\n".join(_payments(700)) + "\n").encode())
    process.stdin.flush()
    _wait_until_read(process.stdin)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert "stopped by SIGINT after line 700" in err.decode()
    text = (tmp_path / "out.jsonl").read_text()
    assert text and text.endswith("\n")
    for line in text.splitlines():
        json.loads(line)


def _wait_until_read(pipe: Any) -> None:
    """Wait until the process on the other end has read all that was written to `pipe`
    (the bytes left in it, FIONREAD, are none), and a moment more to take it in: a
    loaded machine can take seconds to start the process."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0")
        if not int.from_bytes(left, sys.byteorder):
            break
        time.sleep(0.05)
    time.sleep(1)


def test_a_changed_rule_is_said(tmp_path: Path, feed: Path) -> None:
    rules = tmp_path / "rules.cep"
    source = Path(PAYMENTS).read_text()
    rules.write_text(source)
    command = cep_run(str(rules), "--input", str(feed), "--output", str(tmp_path / "out.jsonl"),
                      "--checkpoint", str(tmp_path / "state"))  # fmt: skip
    assert run(command).code == 0
    changed = source.replace("const WINDOW = 1m ", "const WINDOW = 2m ")
    assert changed != source
    rules.write_text(changed)
    again = run(command)
    assert again.code == 0, again.stderr
    said = [line for line in again.stderr.splitlines() if "rules changed" in line]
    assert len(said) == 1 and "three_failed_payments" in said[0], again.stderr


def _stopped_midway(tmp_path: Path, command: list[str]) -> None:
    """Start `command`, and stop it with SIGTERM once it took its first checkpoint."""
    process = start(command)
    deadline = time.monotonic() + 60
    while not (tmp_path / "state" / "checkpoint").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err.decode()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_resume(tmp_path: Path, fmt: str) -> None:
    pa = pytest.importorskip("pyarrow")
    records = [json.loads(line) for line in _payments(4000)]
    path = tmp_path / f"in.{fmt}"
    if fmt == "csv":
        fields = list(records[0])
        rows = [",".join(str(r[f]) for f in fields) for r in records]
        path.write_text(",".join(fields) + "\n" + "\n".join(rows) + "\n")
    else:
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), path, row_group_size=1000)
    ref = run(cep_run(PAYMENTS, "--input", str(path), "--output", str(tmp_path / "ref.jsonl")))
    assert ref.code == 0, ref.stderr
    command = _command(tmp_path, path, "--checkpoint-every", "500")
    _stopped_midway(tmp_path, command)
    last = run(command)
    assert last.code == 0, last.stderr
    same_lines(tmp_path / "out.jsonl", tmp_path / "ref.jsonl")
    assert summary_of(last.stderr) == summary_of(ref.stderr)


def test_flush_end_is_kept(tmp_path: Path, feed: Path) -> None:
    """With --flush the end checkpoint is taken after the flush: a rerun of the same
    command changes nothing (no window closes twice)."""
    first = run(_command(tmp_path, feed, "--flush"))
    assert first.code == 0, first.stderr
    before = (tmp_path / "out.jsonl").read_bytes()
    again = run(_command(tmp_path, feed, "--flush"))
    assert again.code == 0, again.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == before
    assert summary_of(again.stderr) == summary_of(first.stderr)
