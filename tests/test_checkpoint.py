"""`cep run --checkpoint`: refusals (damaged, truncated, foreign checkpoints), resumes on
standard input, CSV and Parquet, a rule changed between runs, a finished run on a file
that grew, and clean stops without a checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.checkpoints import (
    PAYMENTS,
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
    lines = _payments(3000)
    lines[100] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    return path


def _command(tmp: Path, feed: Path, *extra: str) -> list[str]:
    return cep_run(PAYMENTS, "--input", str(feed), "--output", str(tmp / "out.jsonl"),
                   "--rejects", str(tmp / "out.rej"), "--checkpoint", str(tmp / "state"),
                   *extra)  # fmt: skip


def _stdin_command(tmp: Path) -> list[str]:
    return cep_run(PAYMENTS, "--output", str(tmp / "out.jsonl"), "--rejects",
                   str(tmp / "out.rej"), "--checkpoint", str(tmp / "state"))  # fmt: skip


def _refused(outcome_stderr: str, code: int) -> None:
    assert code == 2
    lines = outcome_stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cep run: cannot resume from"), lines
    assert "Traceback" not in outcome_stderr


def test_rerun_of_a_finished_run_changes_nothing(tmp_path: Path, feed: Path) -> None:
    first = run(_command(tmp_path, feed, "--checkpoint-every", "500"))
    assert first.code == 0, first.stderr
    before = (tmp_path / "out.jsonl").read_bytes(), (tmp_path / "out.rej").read_bytes()
    again = run(_command(tmp_path, feed, "--checkpoint-every", "500"))
    assert again.code == 0, again.stderr
    assert summary_of(again.stderr) == summary_of(first.stderr)
    assert before == ((tmp_path / "out.jsonl").read_bytes(), (tmp_path / "out.rej").read_bytes())
    assert b"bad json" in before[1]


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "foreign", "version"])
def test_damaged_checkpoints_are_refused(tmp_path: Path, feed: Path, damage: str) -> None:
    assert run(_command(tmp_path, feed)).code == 0
    path = tmp_path / "state" / "checkpoint"
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0xFF
    elif damage == "empty":
        data = bytearray()
    elif damage == "foreign":
        data = bytearray(b"PK\x03\x04 not a checkpoint at all")
    else:
        data[8] = 99  # (the format number)
    path.write_bytes(bytes(data))
    outcome = run(_command(tmp_path, feed))
    _refused(outcome.stderr, outcome.code)
    if damage == "version":
        assert "format 99" in outcome.stderr


def test_another_input_is_refused(tmp_path: Path, feed: Path) -> None:
    assert run(_command(tmp_path, feed)).code == 0
    other = tmp_path / "other.jsonl"
    other.write_text("\n".join(_payments(50, 9)) + "\n")
    outcome = run(_command(tmp_path, other))
    _refused(outcome.stderr, outcome.code)
    assert "another input" in outcome.stderr
    feed.write_text("\n".join(_payments(3000, 1)) + "\n")  # (replaced under its name)
    outcome = run(_command(tmp_path, feed))
    _refused(outcome.stderr, outcome.code)
    assert "not the file it was taken on" in outcome.stderr


def test_other_options_are_refused(tmp_path: Path, feed: Path) -> None:
    assert run(_command(tmp_path, feed)).code == 0
    outcome = run(_command(tmp_path, feed, "--time-field", "time"))
    _refused(outcome.stderr, outcome.code)
    assert "--time-field" in outcome.stderr


def test_a_shortened_output_is_refused(tmp_path: Path, feed: Path) -> None:
    assert run(_command(tmp_path, feed)).code == 0
    (tmp_path / "out.jsonl").write_text("")
    outcome = run(_command(tmp_path, feed))
    _refused(outcome.stderr, outcome.code)


def test_a_grown_file_goes_on(tmp_path: Path) -> None:
    lines = _payments(4000)
    whole = tmp_path / "whole.jsonl"
    whole.write_text("\n".join(lines) + "\n")
    reference = run(cep_run(PAYMENTS, "--input", str(whole), "--output",
                            str(tmp_path / "ref.jsonl")))  # fmt: skip
    growing = tmp_path / "in.jsonl"
    growing.write_text("\n".join(lines[:2500]) + "\n")
    assert run(_command(tmp_path, growing)).code == 0
    with growing.open("a") as file:
        file.write("\n".join(lines[2500:]) + "\n")
    last = run(_command(tmp_path, growing))
    assert last.code == 0, last.stderr
    # (the end of the first part released what it held: the rest matches as if fed on)
    same_lines(tmp_path / "out.jsonl", tmp_path / "ref.jsonl")
    assert summary_of(last.stderr) == summary_of(reference.stderr)


def test_standard_input_resumes_with_what_arrives(tmp_path: Path) -> None:
    lines = _payments(3000)
    reference = run(cep_run(PAYMENTS, "--output", str(tmp_path / "ref.jsonl")),
                    stdin=("\n".join(lines) + "\n").encode())  # fmt: skip
    command = _stdin_command(tmp_path)
    first = run(command, stdin=("\n".join(lines[:1800]) + "\n").encode())
    assert first.code == 0, first.stderr
    second = run(command, stdin=("\n".join(lines[1800:]) + "\n").encode())
    assert second.code == 0, second.stderr
    same_lines(tmp_path / "out.jsonl", tmp_path / "ref.jsonl")
    assert summary_of(second.stderr) == summary_of(reference.stderr)


def test_sigterm_on_standard_input_waiting(tmp_path: Path) -> None:
    """A run waiting on a quiet pipe stops at once, checkpoints what it fed, and a
    resume goes on with what arrives next (line numbers go on too)."""
    lines = _payments(600)
    lines[550] = "{broken"
    command = _stdin_command(tmp_path)
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=environment())  # fmt: skip
    assert process.stdin is not None
    process.stdin.write(("\n".join(lines[:500]) + "\n").encode())
    process.stdin.flush()
    time.sleep(2.5)
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
    time.sleep(2.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert "stopped by SIGINT after line 700" in err.decode()
    text = (tmp_path / "out.jsonl").read_text()
    assert text and text.endswith("\n")
    for line in text.splitlines():
        json.loads(line)


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
    process = start(command)
    time.sleep(2.0)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode in (0, 143)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_resume(tmp_path: Path, fmt: str) -> None:
    pa = pytest.importorskip("pyarrow")
    records = [json.loads(line) for line in _payments(6000)]
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
    command = _command(tmp_path, path, "--checkpoint-every", "1000")
    _stopped_midway(tmp_path, command)
    last = run(command)
    assert last.code == 0, last.stderr
    same_lines(tmp_path / "out.jsonl", tmp_path / "ref.jsonl")
    assert summary_of(last.stderr) == summary_of(ref.stderr)
