"""The `cep` command line: a thin layer that wires the library's pieces together."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence

from cep.commands import explain as explain_command
from cep.commands import run as run_command
from cep.commands import test as test_command
from cep.lang.checker import CheckedProgram, check_paths
from cep.lang.program import RulePathError

EXIT_OK, EXIT_RULE_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(checked: CheckedProgram) -> str:
    files = len(checked.program.files)
    return (
        f"checked {_plural(files, 'file')}: {_plural(len(checked.rules), 'rule')}, "
        f"{_plural(len(checked.tests), 'test')}, {_plural(len(checked.errors), 'error')}, "
        f"{_plural(len(checked.warnings), 'warning')}"
    )


def cmd_check(args: argparse.Namespace) -> int:
    try:
        checked = check_paths(args.paths)
    except RulePathError as error:
        print(f"cep check: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        report = {
            "files": len(checked.program.files),
            "rules": len(checked.rules),
            "tests": len(checked.tests),
            "errors": len(checked.errors),
            "warnings": len(checked.warnings),
            "diagnostics": [d.to_json() for d in checked.diagnostics],
        }
        print(json.dumps(report, indent=2))
    else:
        rendered = checked.render()
        if rendered:
            print(rendered)
            print()
        print(summary_line(checked))
    return EXIT_OK if checked.ok else EXIT_RULE_ERRORS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cep",
        description="cep: complex event processing rules, written, tested and run.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="parse, type-check and lint rule files",
        description="Parse, type-check and lint rule files; exit 1 on any error.",
    )
    check.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders (*.cep)")
    check.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="how to print diagnostics (default: text)",
    )
    check.set_defaults(handler=cmd_check)
    run_command.add_parser(commands)
    test_command.add_parser(commands)
    explain_command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.handler(args))
    except BrokenPipeError:
        raise  # the output closed: not a bug (handled where the process ends)
    except Exception as error:  # a bug in cep, not in the rules or the input
        return _internal_error(error)


def _internal_error(error: Exception) -> int:
    """Report a bug as one: exit status 3, a request to report it, the traceback under
    CEP_DEBUG=1 (exit status 1 means rule errors, so a crash must not read as one)."""
    if os.environ.get("CEP_DEBUG"):
        traceback.print_exc()
    print(
        f"cep: internal error: {type(error).__name__}: {error}"[:500].replace("\n", " "),
        file=sys.stderr,
    )
    print(
        "cep: this is a bug in cep; please report it with the command and files that "
        "caused it (set CEP_DEBUG=1 to see the traceback)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
