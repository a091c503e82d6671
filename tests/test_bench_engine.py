"""Smoke test of benchmarks/bench_engine.py on 10,000 events: counts only, no timing."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
EVENTS, MATCHES = 10_000, 104  # the generator's reference count for its default options


def _load_bench() -> ModuleType:
    path = REPO / "benchmarks" / "bench_engine.py"
    spec = importlib.util.spec_from_file_location("bench_engine", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    generator = bench.find_generator()
    if generator is None or not generator.is_file():
        pytest.skip(
            f"workload generator not found at {bench.DEFAULT_GENERATOR} and "
            f"${bench.GENERATOR_ENV} is not set (it lives outside the repository)"
        )
    pytest.importorskip("numpy", reason="the workload generator needs numpy")
    return bench.ensure_workload(EVENTS, generator, tmp_path_factory.mktemp("bench"))


def test_baseline_counts_the_reference_matches(workload: Path) -> None:
    assert bench.baseline_file(workload) == MATCHES
    assert bench.baseline_records(bench.read_records(workload)) == MATCHES


def test_interpreter_counts_the_reference_matches(workload: Path, tmp_path: Path) -> None:
    assert bench.interpreter_file(workload, tmp_path / "matches.jsonl") == MATCHES
    assert bench.interpreter_events(bench.read_events(workload), bench.load_rule()) == MATCHES


def test_baseline_emits_what_the_rule_emits(workload: Path, tmp_path: Path) -> None:
    out = tmp_path / "matches.jsonl"
    bench.interpreter_file(workload, out)
    with open(out, encoding="utf-8") as lines:
        cep_fields = [json.loads(line)["fields"] for line in lines]
    mine = list(bench.baseline_matches(bench.read_records(workload)))
    assert [(m["user"], m["first_at"]) for m in mine] == [
        (f["user"], f["first_at"]) for f in cep_fields
    ]
    assert [m["total"] for m in mine] == pytest.approx([f["total"] for f in cep_fields])


def test_measure_reports_peak_memory(workload: Path) -> None:
    result = bench.measure("baseline-file", workload)
    assert result["matches"] == MATCHES
    assert result["peak_mib"] > 0
