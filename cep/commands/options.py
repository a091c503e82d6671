"""What `cep run` and `cep serve` share: the options of which rules run and how an event's
type and time are read from a record, and loading the rules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from cep.api import load_rules
from cep.compile.rule import CompiledRule
from cep.io.time import TIME_UNITS
from cep.lang.checker import CheckedProgram, check_paths
from cep.lang.program import RulePathError
from cep.runtime.engine import DEFAULT_MAX_RUNS_PER_KEY

EXIT_RULE_ERRORS, EXIT_USAGE = 1, 2


def add_event_options(parser: argparse.ArgumentParser, records: str) -> None:
    """`--rule`, `--type` (for `records` without one), `--type-field`, `--time-field`,
    `--time-unit` and `--max-runs-per-key`."""
    parser.add_argument("--rule", action="append", metavar="NAME", help="run only this rule")
    parser.add_argument("--type", metavar="NAME", help=f"event type of {records} that have none")
    parser.add_argument("--type-field", default="type", metavar="FIELD", help="default: type")
    parser.add_argument("--time-field", default="ts", metavar="FIELD", help="default: ts")
    parser.add_argument(
        "--time-unit",
        choices=tuple(TIME_UNITS),
        default="ms",
        help="the unit of numeric event times since the epoch (default: ms; ISO-8601 "
        "text carries its own)",
    )
    parser.add_argument(
        "--max-runs-per-key",
        type=int,
        default=DEFAULT_MAX_RUNS_PER_KEY,
        metavar="N",
        help=f"cap on partial matches per rule and key (default: {DEFAULT_MAX_RUNS_PER_KEY})",
    )


def load_rule_paths(
    command: str, paths: list[str], names: list[str] | None, hints: Iterable[str] = ()
) -> tuple[CheckedProgram, list[CompiledRule]] | int:
    """The rule files checked (diagnostics on standard error) and the rules `names`
    picks (all without it) loaded; else the exit status, the reason said in one line
    (and `hints` after rule errors)."""
    try:
        checked = check_paths(paths)
    except RulePathError as error:
        return _usage(command, str(error))
    if checked.diagnostics:
        print(checked.render(), file=sys.stderr)
    if not checked.ok:
        print(f"cep {command}: {len(checked.errors)} rule error(s); nothing was run",
              file=sys.stderr)  # fmt: skip
        for hint in hints:
            print(hint, file=sys.stderr)
        return EXIT_RULE_ERRORS
    try:
        rules = load_rules(checked, names)
    except KeyError as error:
        return _usage(command, str(error.args[0]))
    if not rules:
        return _usage(command, "no rules to run")
    return checked, rules


def _usage(command: str, message: str) -> int:
    print(f"cep {command}: {message}", file=sys.stderr)
    return EXIT_USAGE
