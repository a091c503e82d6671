"""The Python-side testing helpers (`cep.testing`) and the pytest plugin."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from cep.testing import Harness, event, expect_reports, run_rule

RULES = """
event Payment { user: str, amount: float, status: str }
rule three "three failures in a minute" {
  partition by user
  pattern f = Payment[status == "failed"]{3}
  within 1m
  emit user = f[0].user, total = sum(f.amount)
  on timeout emit user = f[0].user, failures = count(f)
}
"""


def failures(*times: str, user: str = "u1") -> list[dict]:
    return [event("Payment", t, user=user, amount=10, status="failed") for t in times]


def test_run_rule_reports_matches_on_a_virtual_clock() -> None:
    """`run_rule` runs one rule over terse events; times are durations from 0."""
    reports = run_rule(RULES, "three", failures("0s", "20s", "59s"))
    expect_reports(reports, [{"user": "u1", "total": 30}], at=["59s"])


def test_expect_reports_shows_expected_next_to_reported() -> None:
    """A wrong expectation fails with both records side by side, fields aligned."""
    reports = run_rule(RULES, "three", failures("0s", "20s", "59s"))
    with pytest.raises(AssertionError) as failure:
        expect_reports(reports, [{"user": "u1", "total": 31}], at=["59s"])
    text = str(failure.value)
    assert "expected 1 match report(s), got 1" in text
    assert "total: 31" in text and "total: 30.0" in text
    assert "^" in text


def test_harness_moves_time_only_when_told() -> None:
    """A timeout is reported once the clock passes the window, not before."""
    harness = Harness.load(RULES)
    harness.send("Payment", "0s", user="u1", amount=5, status="failed")
    assert harness.advance("59s") == []
    reported = harness.advance("1m")
    assert [(r.kind, r.ts, r.fields) for r in reported] == [
        ("timeout", 60_000, {"user": "u1", "failures": 1})
    ]
    assert harness.timeouts("three") == reported


def test_harness_loads_rule_files(tmp_path: Path) -> None:
    """`Harness.load` takes a path to a rule file as well as rule text."""
    path = tmp_path / "rules.cep"
    path.write_text(RULES)
    harness = Harness.load(str(path))
    for item in failures("0s", "1s", "2s"):
        harness.send_all([item])
    assert [m.fields["total"] for m in harness.matches()] == [30.0]


def test_cep_harness_fixture(cep_harness: Callable[..., Harness]) -> None:
    """The plugin's `cep_harness` fixture builds clock-controlled engines."""
    harness = cep_harness(RULES, rules=["three"])
    harness.send_all(failures("0s", "1s", "2s", user="u2"))
    assert [m.key for m in harness.matches()] == [{"user": "u2"}]


def test_pytest_collects_rule_tests_with_ids_and_diffs(tmp_path: Path) -> None:
    """`pytest rules/` collects each test block with its own id and reports a failing
    one with the side-by-side diff and the closest run."""
    (tmp_path / "r.cep").write_text(
        RULES
        + textwrap.dedent("""
        test three "fires on the third failure" {
          given
            Payment { ts: 0s, user: "u1", amount: 10, status: "failed" }
            Payment { ts: 1s, user: "u1", amount: 10, status: "failed" }
            Payment { ts: 2s, user: "u1", amount: 10, status: "failed" }
          expect three { user: "u1", total: 30 } at 2s
        }
        test three "too slow" {
          given
            Payment { ts: 0s, user: "u1", amount: 10, status: "failed" }
            Payment { ts: 30s, user: "u1", amount: 10, status: "failed" }
            Payment { ts: 1m, user: "u1", amount: 10, status: "failed" }
          expect three { user: "u1" }
        }
        """)
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "r.cep"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout
    assert result.returncode == 1, out
    assert "1 failed, 1 passed" in out
    assert "FAILED r.cep::three::too slow" in out
    assert "closest run: run started at event 1" in out
    assert "fell outside it" in out


def test_a_held_match_is_explained_in_the_failure(tmp_path: Path) -> None:
    """A match held behind an earlier-started open run is named as such in the trace."""
    from cep.lang.checker import check_paths
    from cep.testing.runner import TestRunner

    path = tmp_path / "h.cep"
    path.write_text(
        textwrap.dedent("""
        event E { n: str, d: int }
        rule held {
          pattern s = E[n == "s"] -> e = E[n == "e" and d == s.d]
          within 1m
          skip to next
          emit s = s.d
        }
        test held "held" {
          given
            E { ts: 0s, n: "s", d: 1 }
            E { ts: 1s, n: "s", d: 2 }
            E { ts: 2s, n: "e", d: 2 }
          expect held { s: 2 }
        }
        """)
    )
    checked = check_paths([str(path)])
    ((key, test),) = checked.tests
    outcome = TestRunner(checked).run(key, test)
    assert not outcome.passed
    assert "it had completed; completed, but still held at the end of the input" in (
        outcome.message
    )
