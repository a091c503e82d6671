"""The `cep` command line: a thin layer that wires the library's pieces together."""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import import_module
from types import FrameType
from typing import TYPE_CHECKING

import cep
from cep.io.arrowpool import use_jemalloc
from cep.methodcode import keep_method_code
from cep.service.stopping import EXIT_STATUS, quiet_stdout

if TYPE_CHECKING:
    from cep.lang.checker import CheckedProgram

EXIT_OK, EXIT_RULE_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: the commands in the order `cep --help` lists them, each with the module that adds its
#: options (`add_parser`) and handler (`check`'s are here); a command's module, and what
#: it imports, is imported only where that command runs or the list is printed
COMMANDS = {
    "check": None,
    "run": "cep.commands.run",
    "serve": "cep.commands.serve",
    "test": "cep.commands.test",
    "fmt": "cep.commands.fmt",
    "explain": "cep.commands.explain",
}


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
    from cep.lang.checker import check_paths
    from cep.lang.program import RulePathError

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


class _Version(argparse.Action):
    """`--version`, the version read only when asked for (`cep.__version__`)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"cep {cep.__version__}")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with every command (for `cep --help`), or with
    `command` alone, the one about to run."""
    parser = argparse.ArgumentParser(
        prog="cep",
        description="cep: complex event processing rules, written, tested and run.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        if command is not None and name != command:
            continue
        if module is None:
            _add_check(commands)
        else:
            import_module(module).add_parser(commands)
    return parser


def _add_check(commands: argparse._SubParsersAction) -> None:
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


def command_of(argv: Sequence[str]) -> str | None:
    """The command `argv` runs, where its first word names one; else None (no command,
    an unknown one, or an option of `cep` itself: the whole parser answers those)."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def _subparser(parser: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    return parser


class Interrupted(BaseException):
    """SIGINT or SIGTERM outside a run's own handling (`cep.service.stopping`)."""

    def __init__(self, number: signal.Signals) -> None:
        super().__init__(number.name)
        self.signal = number


def _interrupt(number: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(number))


@contextmanager
def _signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Interrupted` while a command runs (main thread only:
    elsewhere signals cannot be handled); the handlers before are put back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {number: signal.signal(number, _interrupt) for number in EXIT_STATUS}
    try:
        yield
    finally:
        for number, handler in old.items():
            signal.signal(number, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """The command's exit status. Every command stops on SIGINT or SIGTERM with one
    line on standard error and status 130 or 143 (`cep run` first finishes its batch
    and checkpoints). When the reader of standard output goes away (`| head -1`) it
    stops quietly with status 0: the reader had all it wanted, which is no failure."""
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(command_of(argv))
    args, extra = parser.parse_known_args(argv)
    _started()
    if extra:  # (an unknown option of a command: that command's usage, not the top one's)
        command = _subparser(parser, args.command)
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        with _signals():
            status = int(args.handler(args))
            if sys.stdout is not None:
                sys.stdout.flush()  # (here, not at exit: a closed pipe is caught below)
            return status
    except BrokenPipeError:
        quiet_stdout()
        return EXIT_OK
    except (Interrupted, KeyboardInterrupt) as error:
        number = error.signal if isinstance(error, Interrupted) else signal.SIGINT
        print(f"cep {args.command}: stopped by {number.name}", file=sys.stderr)
        return EXIT_STATUS[number]
    except Exception as error:  # a bug in cep, not in the rules or the input
        return _internal_error(error)


#: whether the program (`console`) holds the garbage collector off while it starts
_held_collector = False


def _started() -> None:
    """The command's modules are imported: what start-up made (modules, classes) lives
    as long as the process, so it is frozen (`gc.freeze`) and the collector, if the
    program held it off, runs again."""
    global _held_collector
    if _held_collector:
        _held_collector = False
        gc.freeze()
        gc.enable()


def _internal_error(error: Exception) -> int:
    """Report a bug as one: exit status 3, a request to report it, the traceback under
    CEP_DEBUG=1 (exit status 1 means rule errors, so a crash must not read as one)."""
    if os.environ.get("CEP_DEBUG"):
        import traceback

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


def console() -> int:
    """The `cep` program (the script, `python -m cep`): `main` in a process of its own.

    numba's CPU target, when it first loads or compiles a function, imports SciPy's
    BLAS where SciPy is installed (for `np.dot` and `np.linalg`, which cep's compiled
    code does not use): about a quarter of a second of every run's start. The program
    hides `scipy.linalg` from that import; `main` called from Python leaves the caller's
    SciPy alone. For the same reason the program asks NumPy's OpenBLAS for no threads
    of its own (`OPENBLAS_NUM_THREADS=1` unless set): it starts one a processor when
    NumPy is imported, which costs a short run a sixth of its CPU time on two. The
    program also keeps the methods `dataclasses` compiles for it (`cep.methodcode`),
    which a process importing cep as a library does not, and has pyarrow allocate from
    jemalloc (`cep.io.arrowpool`), which a library leaves to its host.

    Importing a command's modules makes objects by the ten thousand that live as long as
    the process; the cyclic garbage collector would walk them again and again as they
    come (some fifty collections, a twentieth of a short run's CPU time), so the
    program holds it off until they are in (`_started`), and then freezes them.

    When the command is done, every object left is frozen (`gc.freeze`): the collection
    Python makes as it exits then does not walk all that the run loaded (a tenth of a
    short run's CPU time). What it would find is garbage the run left in cycles, which
    holds nothing to flush: commands close their files and flush standard output."""
    global _held_collector
    if gc.isenabled():
        gc.disable()
        _held_collector = True
    sys.modules.setdefault("scipy.linalg", None)  # type: ignore[arg-type]
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    use_jemalloc()
    keep_method_code()
    status = main()
    gc.freeze()
    return status


if __name__ == "__main__":
    sys.exit(console())
