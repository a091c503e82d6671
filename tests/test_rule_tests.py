"""Every `test` block of the example library and of the ported Flink CEP cases passes
on the interpreter."""

from __future__ import annotations

import pytest

from cep.lang.checker import check_paths
from cep.testing.runner import TestRunner

PATHS = ["rules", "tests/flink"]
_PROGRAM = check_paths(PATHS)
_RUNNER = TestRunner(_PROGRAM)


def _id(item: tuple) -> str:
    path, test = item
    return f"{path}::{test.rule}::{test.description or test.span.line}"


def test_rule_files_check_clean() -> None:
    assert not _PROGRAM.errors, _PROGRAM.render(_PROGRAM.errors)


@pytest.mark.parametrize("item", _PROGRAM.tests, ids=_id)
def test_block_passes(item: tuple) -> None:
    path, test = item
    outcome = _RUNNER.run(path, test)
    assert outcome.passed, f"{outcome.test_id}\n{outcome.message}"
