"""A first fast run compiles in two processes (`cep.fast.warmup`): the made-up input the
helper reads is valid in every format, and `cep run` starts the helper only when
numba's cache holds no kernel, with the same output either way."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from cep.api import load_rules
from cep.cli import main
from cep.fast import cache, warmup
from cep.fast.engine import ColumnarRun
from cep.io.columnar import read_batches
from cep.io.validation import Validator
from cep.lang.checker import check_paths


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "arrow"])
def test_the_made_up_input_reads_as_events_in_every_format(tmp_path: Path, fmt: str) -> None:
    checked = check_paths(["rules/payments.cep"])
    records = warmup.made_up_records(checked.schemas, "type", "ts")
    assert {r["type"] for r in records} == set(checked.schemas)
    path = tmp_path / f"made-up.{fmt}"
    warmup._write(path, fmt, records)
    fields = ColumnarRun(load_rules(checked), checked.schemas).fields()
    validator = Validator(checked.schemas)
    batches = list(read_batches(str(path), fmt, fields=fields, validator=validator))
    assert sum(len(b) for b in batches) == len(records)
    assert not [r for b in batches for r in b.rejects]


def test_the_helper_reads_the_made_up_input(tmp_path: Path) -> None:
    job = {"paths": ["rules/payments.cep"], "rules": None, "format": "csv",
           "type_field": "type", "time_field": "ts"}  # fmt: skip
    warmup.compile_readers(job)  # (in this process: numba's cache is warm by now)


def test_cep_run_compiles_first_only_without_a_cached_kernel(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    started: list[tuple] = []

    def start(*args: object) -> subprocess.Popen | None:
        started.append(args)
        return None

    monkeypatch.setattr(warmup, "start_reader_compile", start)
    argv = ["run", "rules/payments.cep", "--input", "examples/payments.jsonl", "--engine",
            "fast", "--quiet", "--output"]  # fmt: skip
    outputs = []
    for cached in (True, False):
        monkeypatch.setattr(cache, "kernel_cached", lambda cached=cached: cached)
        out = tmp_path / f"{cached}.jsonl"
        assert main([*argv, str(out)]) == 0
        outputs.append(out.read_text())
    assert started == [(["rules/payments.cep"], None, "jsonl", "type", "ts")]
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) > 10
    assert json.loads(outputs[0].splitlines()[0])["rule"]
