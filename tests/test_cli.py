"""`cep check` as a user runs it: output, summary line, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cep.cli import main

REPO = Path(__file__).resolve().parent.parent

GOOD = """\
event Login { user: str, ok: bool }
rule brute "failed logins" {
  partition by user
  pattern f = Login[not ok]{3}
  within 5m
}
test brute "three failures" {
  given
    Login { ts: 0s, user: "u", ok: false }
    Login { ts: 1s, user: "u", ok: false }
    Login { ts: 2s, user: "u", ok: false }
  expect 1 brute
}
"""

BAD = """\
event Login { user: str, ok: bool }
rule brute {
  partition by usr
  pattern f = Login[not ok]{3}
  within 5m
}
rule no_window { pattern Login }
"""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_clean_file_exits_0_with_a_summary(tmp_path, capsys):
    (tmp_path / "good.cep").write_text(GOOD)
    code, out, _ = run(capsys, "check", str(tmp_path))
    assert code == 0
    assert out.strip() == "checked 1 file: 1 rule, 1 test, 0 errors, 0 warnings"


def test_errors_exit_1_and_are_rendered_with_a_caret(tmp_path, capsys):
    path = tmp_path / "bad.cep"
    path.write_text(BAD)
    code, out, _ = run(capsys, "check", str(path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{path}:3:16: error: partition field `usr` is not a field of `Login`"
    assert lines[1] == "   3 |   partition by usr"
    assert lines[2] == "     |                ^~~"
    assert lines[3] == "  = help: did you mean `user`?"
    assert f"{path}:7:6: warning: rule `no_window` has no `within`" in out
    assert lines[-1] == "checked 1 file: 2 rules, 0 tests, 1 error, 1 warning"


def test_warnings_alone_exit_0(tmp_path, capsys):
    (tmp_path / "w.cep").write_text("event A { x: int }\nrule r { pattern a = A -> b = A }\n")
    code, out, _ = run(capsys, "check", str(tmp_path / "w.cep"))
    assert code == 0
    assert out.splitlines()[-1] == "checked 1 file: 1 rule, 0 tests, 0 errors, 1 warning"


def test_json_format(tmp_path, capsys):
    (tmp_path / "bad.cep").write_text(BAD)
    code, out, _ = run(capsys, "check", "--format", "json", str(tmp_path))
    assert code == 1
    report = json.loads(out)
    assert (report["files"], report["rules"], report["errors"], report["warnings"]) == (1, 2, 1, 1)
    first = report["diagnostics"][0]
    assert first["line"] == 3 and first["column"] == 16 and first["severity"] == "error"
    assert first["code"] == "unknown-field"
    assert first["notes"] == ["help: did you mean `user`?"]


def test_missing_path_exits_2(tmp_path, capsys):
    code, _, err = run(capsys, "check", str(tmp_path / "nope.cep"))
    assert code == 2
    assert "no such file or folder" in err


def test_no_command_exits_2(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "usage: cep" in err


def test_bad_option_exits_2(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["check", "--format", "xml", "x.cep"])
    assert exited.value.code == 2


def test_the_bundled_rule_library_checks_clean():
    result = subprocess.run(
        [sys.executable, "-m", "cep.cli", "check", str(REPO / "rules")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().endswith(", 0 errors, 0 warnings")


# ---------------------------------------------------------------------------- cep test

TESTED = """\
event Payment { user: str, amount: float, status: str }
rule three "three failures in a minute" {
  partition by user
  pattern f = Payment[status == "failed"]{3}
  within 1m
  emit user = f[0].user, total = sum(f.amount)
}
test three "fires on the third failure" {
  given
    Payment { ts: 0s, user: "u1", amount: 10, status: "failed" }
    Payment { ts: 1s, user: "u1", amount: 10, status: "failed" }
    Payment { ts: 2s, user: "u1", amount: 10, status: "failed" }
  expect three { user: "u1", total: 30 } at 2s
}
test three "window edge" {
  given
    Payment { ts: 0s, user: "u1", amount: 10, status: "failed" }
    Payment { ts: 30s, user: "u1", amount: 10, status: "failed" }
    Payment { ts: 1m, user: "u1", amount: 10, status: "failed" }
  expect 1 three
}
"""


def test_cep_test_prints_one_line_per_test_and_a_summary(tmp_path, capsys):
    path = tmp_path / "r.cep"
    path.write_text(TESTED)
    code, out, _ = run(capsys, "test", str(path))
    assert code == 1
    assert f"{path}::three::fires on the third failure PASSED" in out
    assert f"{path}::three::window edge FAILED" in out
    assert "expected 1 match of three, got 0" in out
    assert "closest run: run started at event 1 (Payment at 0s) bound events f = 1, 2" in out
    assert out.rstrip().splitlines()[-1].startswith("1 failed, 1 passed in ")


def test_cep_test_k_selects_tests(tmp_path, capsys):
    path = tmp_path / "r.cep"
    path.write_text(TESTED)
    code, out, _ = run(capsys, "test", str(path), "-k", "third")
    assert code == 0
    assert "window edge" not in out
    assert out.rstrip().splitlines()[-1].startswith("1 passed in ")


def test_cep_test_with_rule_errors_exits_1(tmp_path, capsys):
    path = tmp_path / "r.cep"
    path.write_text(TESTED.replace("status ==", "stat =="))
    code, out, _ = run(capsys, "test", str(path))
    assert code == 1
    assert "no test was run" in out


def test_cep_test_on_the_rule_library_passes(capsys):
    code, out, _ = run(capsys, "test", "rules")
    assert code == 0, out
    assert " failed" not in out


def test_cep_run_trace_tells_how_runs_ended(tmp_path, capsys):
    rules = tmp_path / "r.cep"
    rules.write_text(TESTED)
    feed = tmp_path / "in.jsonl"
    lines = [
        {"type": "Payment", "ts": 0, "user": "u1", "amount": 10, "status": "failed"},
        {"type": "Payment", "ts": 30_000, "user": "u1", "amount": 10, "status": "failed"},
        {"type": "Payment", "ts": 90_000, "user": "u1", "amount": 10, "status": "failed"},
    ]
    feed.write_text("".join(json.dumps(line) + "\n" for line in lines))
    code, out, err = run(
        capsys, "run", str(rules), "--input", str(feed), "--trace", "three", "--quiet"
    )
    assert code == 0 and out == ""
    assert (
        "trace three: run started at line 1 (Payment at 0s) bound lines f = 1, 2 "
        "(2 of at least 3); it waited for `f`; its window closed at 1m (`within 1m`)"
    ) in err
    assert "still open at the end of the input" in err


def test_cep_run_trace_runs_on_the_interpreter_under_auto(tmp_path, capsys):
    """`--trace` follows the interpreter's runs: `--engine auto` runs the rules there
    and traces them; `--engine fast` says it cannot (exit 2)."""
    rules = tmp_path / "r.cep"
    rules.write_text(TESTED)
    feed = tmp_path / "in.jsonl"
    line = {"type": "Payment", "ts": 0, "user": "u1", "amount": 10, "status": "failed"}
    feed.write_text(json.dumps(line) + "\n")
    argv = ["run", str(rules), "--input", str(feed), "--trace", "three", "--quiet"]
    code, _, err = run(capsys, *argv, "--engine", "auto")
    assert code == 0
    assert "trace three: run started at line 1" in err
    code, _, err = run(capsys, *argv, "--engine", "fast")
    assert code == 2
    assert "--trace needs the interpreter" in err


def test_cep_run_trace_of_an_unknown_rule_is_bad_usage(tmp_path, capsys):
    rules = tmp_path / "r.cep"
    rules.write_text(TESTED)
    feed = tmp_path / "in.jsonl"
    feed.write_text("")
    code, _, err = run(capsys, "run", str(rules), "--input", str(feed), "--trace", "nope")
    assert code == 2
    assert "--trace: no rule named 'nope'" in err
