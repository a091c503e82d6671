"""`cep run --engine interpreter|fast|auto` write the same reports, the same rejects and
the same summary on every feed of the project: the example payments (JSON lines and
Parquet) and the given events of the `test` blocks of the rule library and the Flink
cases, one feed per rule (rules without `within` keep every combination of their
events, so rules do not share a feed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cep.api import load_rules
from cep.cli import main
from cep.engine import fast_refusals
from cep.lang.checker import check_paths
from cep.testing.runner import TestRunner

RULE_FILES = [
    path
    for path in sorted(Path("rules").glob("*.cep")) + sorted(Path("tests/flink").glob("*.cep"))
    if check_paths([str(path)]).tests
]
#: between the events of two test blocks in one feed: their windows stay apart
GAP_MS = 3_600_000


@pytest.fixture(scope="module", autouse=True)
def _fast_path_compiled(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The fast path's machine code in numba's cache before `auto` is compared: where it
    is missing (a fresh cache, or sources just changed) `auto` compiles it in the
    background and says so, which the interpreter does not. `--engine fast` compiles
    it in the process first."""
    folder = tmp_path_factory.mktemp("compiled")
    code = main(["run", "rules/payments.cep", "--input", "examples/payments.jsonl", "--output",
                 str(folder / "out.jsonl"), "--engine", "fast", "--quiet"])  # fmt: skip
    assert code == 0


def _test_feeds(rules: Path, folder: Path) -> dict[str, Path]:
    """For each rule with tests, the given events of its test blocks, one block after
    the other (each moved to start after the one before), as JSON lines."""
    checked = check_paths([str(rules)])
    runner = TestRunner(checked)
    lines: dict[str, list[str]] = {}
    offsets: dict[str, int] = {}
    for path, test in checked.tests:
        consts = checked.program.files[path].consts
        events = [runner._event(literal, consts) for literal in test.given]
        offset = offsets.get(test.rule, 0)
        for event in events:
            record = {"type": event.type, **event.data, "ts": event.ts + offset}
            lines.setdefault(test.rule, []).append(json.dumps(record, default=str))
        offsets[test.rule] = offset + max((e.ts for e in events), default=0) + GAP_MS
    feeds = {}
    for rule, texts in lines.items():
        feeds[rule] = folder / f"{rule}.jsonl"
        feeds[rule].write_text("".join(line + "\n" for line in texts))
    return feeds


def _run(rules: Path, feed: Path, tmp_path: Path, engine: str, extra: list[str], capsys):
    out, rejected = tmp_path / f"{engine}.out", tmp_path / f"{engine}.rejects"
    code = main(["run", str(rules), "--input", str(feed), "--output", str(out), "--rejects",
                 str(rejected), "--engine", engine, *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    return out.read_text(), rejected.read_text(), err


def _same_on_every_engine(
    rules: Path, feed: Path, tmp_path: Path, options: list[str], capsys, names: list[str]
) -> tuple[str, str, str]:
    """auto over the rules named (all: none named), and fast over those of them it
    compiles, as the interpreter; the interpreter's (output, rejects, stderr)."""
    chosen = [flag for name in names for flag in ("--rule", name)]
    expected = _run(rules, feed, tmp_path, "interpreter", [*options, *chosen], capsys)
    assert _run(rules, feed, tmp_path, "auto", [*options, *chosen], capsys) == expected
    loaded = load_rules(check_paths([str(rules)]), names or None)
    compiled = [rule.name for rule in loaded if rule.name not in fast_refusals(loaded)]
    if not compiled:
        return expected
    only = [*options, *(flag for name in compiled for flag in ("--rule", name))]
    interpreted = expected
    if len(compiled) < len(loaded):
        interpreted = _run(rules, feed, tmp_path, "interpreter", only, capsys)
    assert _run(rules, feed, tmp_path, "fast", only, capsys) == interpreted
    return expected


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda path: path.name)
@pytest.mark.parametrize("extra", [["--flush"], ["--allowed-delay", "5s"]])
def test_test_block_feeds_run_alike_on_every_engine(
    rules: Path, extra: list[str], tmp_path: Path, capsys
) -> None:
    reported = 0
    for rule, feed in _test_feeds(rules, tmp_path).items():
        output, _, err = _same_on_every_engine(rules, feed, tmp_path, extra, capsys, [rule])
        reported += output.count("\n")
        assert "read " in err
    assert reported


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
@pytest.mark.parametrize("extra", [["--flush"], ["--allowed-delay", "5s", "--flush"]])
def test_the_example_payments_run_alike_on_every_engine(
    fmt: str, extra: list[str], tmp_path: Path, capsys
) -> None:
    feed = Path("examples/payments.jsonl")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        with feed.open(encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines]
        feed = tmp_path / "payments.parquet"
        pq.write_table(pa.Table.from_pylist(records), feed)
    output, _, err = _same_on_every_engine(Path("rules/payments.cep"), feed, tmp_path, extra,
                                           capsys, [])  # fmt: skip
    assert output.count("\n") == 25
    assert "read 9305 records: 9305 events accepted" in err
