"""The conventions a command-line tool is expected to keep: `--version`, `python -m`,
each command's own usage on a bad option, and `cep explain` for every rule, drawn."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import cep
from cep.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAYMENTS = str(ROOT / "rules" / "payments.cep")


def test_version_is_the_installed_distributions() -> None:
    assert cep.__version__ == metadata.version("cep-rules")


def test_cep_version_and_python_dash_m(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"cep {cep.__version__}\n"
    run = subprocess.run(
        [sys.executable, "-m", "cep", "check", PAYMENTS], capture_output=True, text=True
    )
    assert run.returncode == 0 and "checked 1 file: 4 rules" in run.stdout


def test_the_program_runs_the_fast_path_without_loading_scipy(tmp_path) -> None:
    """numba's start-up would import SciPy's BLAS, which compiled rules never use."""
    events = tmp_path / "events.jsonl"
    events.write_text('{"type": "Payment", "ts": 1, "user": "u", "amount": 5}\n')
    argv = ["cep", "run", PAYMENTS, "--input", str(events), "--engine", "fast", "--quiet"]
    probe = textwrap.dedent(f"""
        import runpy, sys
        sys.argv = {argv!r}
        try:
            runpy.run_module("cep", run_name="__main__")
        except SystemExit:
            pass
        print("scipy loaded:", sys.modules.get("scipy.linalg") is not None)
    """)
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.stdout.endswith("scipy loaded: False\n"), run.stderr


def test_an_unknown_option_prints_that_commands_usage(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", PAYMENTS, "--bogus"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cep run ") and "unrecognized arguments: --bogus" in err


def test_explain_without_rule_explains_every_rule(capsys) -> None:
    assert main(["explain", PAYMENTS]) == 0
    out = capsys.readouterr().out
    names = ["three_failed_payments", "card_testing", "payment_velocity", "impossible_travel"]
    assert [line.split()[1] for line in out.splitlines() if line.startswith("rule ")] == names


def test_explain_as_dot_draws_one_box_per_rule(capsys) -> None:
    assert main(["explain", PAYMENTS, "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph cep {")
    assert dot.count("subgraph cluster_") == 4
    assert 'label="rule card_testing"' in dot
    assert "shape=doublecircle" in dot and "1. take\\nif probes" in dot


def test_explain_without_graphviz_says_what_to_install(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # (no `dot` program on it)
    assert main(["explain", PAYMENTS, "--format", "svg"]) == 2
    err = capsys.readouterr().err
    assert "install the system package `graphviz`" in err and "--format dot" in err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's `dot` is not installed")
def test_explain_draws_svg_and_png_with_graphviz(tmp_path) -> None:
    for form, magic in (("svg", b"<?xml"), ("png", b"\x89PNG")):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "cep",
                "explain",
                PAYMENTS,
                "--rule",
                "card_testing",
                "--format",
                form,
            ],
            capture_output=True,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith(magic)
    svg = subprocess.run(
        [sys.executable, "-m", "cep", "explain", PAYMENTS, "--format", "svg"],
        capture_output=True,
        text=True,
    ).stdout
    assert "rule card_testing" in svg and "cash_out" in svg
