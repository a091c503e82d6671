"""`cep test`: run every `test` block under the given paths, pytest style."""

from __future__ import annotations

import argparse
import sys
import time

from cep.io.time import TIME_UNITS
from cep.lang.checker import check_paths
from cep.lang.program import RulePathError
from cep.testing.runner import TestOutcome, TestRunner, test_id

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    test = commands.add_parser(
        "test",
        help="run the rule tests (`test` blocks) in rule files",
        description="Run every `test` block under PATH; exit 1 if any fails.",
    )
    test.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    test.add_argument(
        "-k", dest="select", metavar="SUBSTRING", help="only tests whose id contains this"
    )
    test.add_argument(
        "--time-unit",
        choices=tuple(TIME_UNITS),
        default="ms",
        help="the unit of times given as bare numbers in `given` events and `expect ... at` "
        "(default: ms; durations such as 20s and ISO-8601 text carry their own)",
    )
    test.set_defaults(handler=cmd_test)


def cmd_test(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        checked = check_paths(args.paths)
    except RulePathError as error:
        print(f"cep test: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not checked.ok:
        print(checked.render(checked.errors))
        print(f"\ncep test: {len(checked.errors)} rule error(s); no test was run")
        return EXIT_FAILED
    runner = TestRunner(checked, args.time_unit)
    outcomes: list[TestOutcome] = []
    for path, test in checked.tests:
        if args.select and args.select not in test_id(path, test):
            continue
        outcome = runner.run(path, test)
        outcomes.append(outcome)
        print(f"{outcome.test_id} {'PASSED' if outcome.passed else 'FAILED'}")
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        print(f"\n___ {outcome.test_id} ___")
        print(outcome.message)
    seconds = time.perf_counter() - started
    parts = [f"{len(outcomes) - len(failed)} passed"]
    if failed:
        parts.insert(0, f"{len(failed)} failed")
    if not outcomes:
        parts = ["no tests ran"]
    print(f"\n{', '.join(parts)} in {seconds:.2f}s")
    return EXIT_FAILED if failed else EXIT_OK
