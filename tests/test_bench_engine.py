"""Smoke test of benchmarks/bench_engine.py: counts only, no timing.

It uses 10,000 events from the shared generator when it is there (reference count
104), else the bundled examples/payments.jsonl (9,305 events of
`examples/make_payments.py`, 8 matches, as `cep run` reports on it), so that it runs on
every checkout.
"""

from __future__ import annotations

import importlib.util
import itertools
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


BUNDLED, BUNDLED_MATCHES = REPO / "examples" / "payments.jsonl", 8
MATCHES_OF: dict[Path, int] = {}


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    generator = bench.find_generator()
    if generator is None or not generator.is_file():
        MATCHES_OF[BUNDLED] = BUNDLED_MATCHES
        return BUNDLED
    path = bench.ensure_workload(EVENTS, generator, tmp_path_factory.mktemp("bench"))
    MATCHES_OF[path] = MATCHES
    return path


def test_baseline_counts_the_reference_matches(workload: Path) -> None:
    assert bench.baseline_file(workload) == MATCHES_OF[workload]
    assert bench.baseline_records(bench.read_records(workload)) == MATCHES_OF[workload]


def test_interpreter_counts_the_reference_matches(workload: Path, tmp_path: Path) -> None:
    assert bench.interpreter_file(workload, tmp_path / "matches.jsonl") == MATCHES_OF[workload]
    assert (
        bench.interpreter_events(bench.read_events(workload), bench.load_rule())
        == MATCHES_OF[workload]
    )


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
    assert result["matches"] == MATCHES_OF[workload]
    assert result["peak_mib"] > 0


def test_the_delayed_workload_gives_the_reference_matches(workload: Path, tmp_path: Path) -> None:
    """The workload out of time order (each event up to 2 s late), matched with
    `--allowed-delay 5s` by either engine, gives the same reports as in order."""
    copy = tmp_path / workload.name
    copy.write_bytes(workload.read_bytes())
    delayed = bench.delayed_file(copy)
    lines = delayed.read_bytes().splitlines()
    assert sorted(lines) == sorted(copy.read_bytes().splitlines())
    times = [json.loads(line)["ts"] for line in lines]
    assert any(later < earlier for earlier, later in itertools.pairwise(times))
    in_order = tmp_path / "in-order.jsonl"
    bench.cep_run(copy, in_order)
    for engine in ("interpreter", "fast"):
        out = tmp_path / f"{engine}.jsonl"
        assert bench.cep_run(delayed, out, engine) == MATCHES_OF[workload]
        assert out.read_text() == in_order.read_text()


def test_bench_process_measures_a_whole_process(workload: Path, tmp_path: Path) -> None:
    """bench_process runs `cep run` as its own process, timed from outside: wall and CPU
    seconds, peak memory, and the match count of its output."""
    spec = importlib.util.spec_from_file_location(
        "bench_process", REPO / "benchmarks" / "bench_process.py"
    )
    assert spec is not None and spec.loader is not None
    process = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(process)
    output = tmp_path / "matches.jsonl"
    result = process.run_process(process.cep_command(workload, "interpreter", output), output)
    assert result["matches"] == MATCHES_OF[workload]
    assert result["wall"] > 0 and result["cpu"] > 0 and result["peak_mib"] > 1
