"""The example library and the ported Flink CEP cases check clean.

Their `test` blocks run as pytest items of their own through the project's pytest
plugin (`cep.testing.pytest_plugin`): `pytest` collects `rules/` and `tests/flink/`.
"""

from __future__ import annotations

from cep.lang.checker import check_paths


def test_rule_files_check_clean() -> None:
    """No errors in the library or the Flink cases (warnings are allowed)."""
    program = check_paths(["rules", "tests/flink"])
    assert not program.errors, program.render(program.errors)
    assert len(program.tests) >= 200


def test_plugin_collects_every_test_block(pytestconfig) -> None:
    """The plugin is registered, so the blocks above run as their own tests."""
    assert pytestconfig.pluginmanager.has_plugin("cep")
