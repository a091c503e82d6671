"""The pytest plugin: each `test` block of a `*.cep` file is a pytest test.

Registered through the `pytest11` entry point, so `pytest rules/` collects rule tests
beside Python tests, with ids such as
`rules/payments.cep::three_failed_payments::fires on the third failure`, and reports a
failing test with the same side-by-side diff and run trace as `cep test`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cep.lang import ast
from cep.lang.checker import check_paths
from cep.testing import Harness
from cep.testing.runner import TestOutcome, TestRunner, test_name


class RuleFileError(Exception):
    """A rule file that does not check: its diagnostics, rendered."""


class RuleTestFailure(Exception):
    """A `test` block whose rule reported something else than expected."""

    def __init__(self, outcome: TestOutcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome


@pytest.fixture
def cep_harness() -> Callable[..., Harness]:
    """A factory of clock-controlled engines: `cep_harness("rules/x.cep")` or
    `cep_harness(rule_text, rules=[...], allowed_delay="5s")`."""
    return Harness.load


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".cep":
        return RuleFile.from_parent(parent, path=file_path)
    return None


class RuleFile(pytest.File):
    """A `*.cep` file: one item per `test` block it declares (imported files' tests are
    collected from their own files)."""

    def collect(self) -> Iterator[pytest.Item]:
        checked = check_paths([str(self.path)])
        if not checked.ok:
            raise RuleFileError(checked.render(checked.errors))
        runner = TestRunner(checked)
        for key, test in checked.tests:
            if os.path.abspath(key) != os.path.abspath(self.path):
                continue
            name = f"{test.rule}::{test_name(test.description, test.span.line)}"
            yield RuleTest.from_parent(self, name=name, runner=runner, key=key, test=test)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, RuleFileError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class RuleTest(pytest.Item):
    """One `test` block."""

    def __init__(self, *, runner: TestRunner, key: str, test: ast.TestDecl, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runner = runner
        self.key = key
        self.test = test

    def runtest(self) -> None:
        outcome = self.runner.run(self.key, self.test)
        if not outcome.passed:
            raise RuleTestFailure(outcome)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:  # type: ignore[override]
        if isinstance(excinfo.value, RuleTestFailure):
            return excinfo.value.outcome.message
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.test.span.line - 1, f"rule test {self.name}"
