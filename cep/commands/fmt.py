"""`cep fmt`: rewrite rule files in the canonical layout (`cep.lang.layout`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cep.lang.layout import LayoutError, format_source
from cep.lang.program import RulePathError, collect_rule_files

EXIT_OK, EXIT_CHANGES, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    fmt = commands.add_parser(
        "fmt",
        help="rewrite rule files in the canonical layout",
        description=(
            "Rewrite rule files in the canonical layout, keeping comments. "
            "With --check, change nothing and exit 1 if a file would change (for CI). "
            "PATH `-` formats standard input to standard output."
        ),
    )
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders (*.cep)")
    fmt.add_argument(
        "--check", action="store_true", help="only report files that would change; exit 1 if any"
    )
    fmt.set_defaults(handler=cmd_fmt)


def cmd_fmt(args: argparse.Namespace) -> int:
    if args.paths == ["-"]:
        return _stdin(args.check)
    try:
        files = collect_rule_files(args.paths)
    except RulePathError as error:
        print(f"cep fmt: {error}", file=sys.stderr)
        return EXIT_USAGE
    changed = broken = 0
    for name in files:
        try:
            source = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            print(f"cep fmt: cannot read {name}: {reason}", file=sys.stderr)
            broken += 1
            continue
        try:
            formatted = format_source(source, name)
        except LayoutError as error:
            print(_render(error, source), file=sys.stderr)
            broken += 1
            continue
        if formatted == source:
            continue
        changed += 1
        if args.check:
            print(f"would reformat {name}", file=sys.stderr)
        else:
            Path(name).write_text(formatted, encoding="utf-8")
            print(f"reformatted {name}", file=sys.stderr)
    print(_summary(len(files), changed, broken, args.check), file=sys.stderr)
    return EXIT_CHANGES if broken or (args.check and changed) else EXIT_OK


def _stdin(check: bool) -> int:
    source = sys.stdin.read()
    try:
        formatted = format_source(source, "<stdin>")
    except LayoutError as error:
        print(_render(error, source), file=sys.stderr)
        return EXIT_CHANGES
    if check:
        return EXIT_CHANGES if formatted != source else EXIT_OK
    sys.stdout.write(formatted)
    return EXIT_OK


def _render(error: LayoutError, source: str) -> str:
    return "\n".join(d.render(source) for d in error.diagnostics)


def _summary(files: int, changed: int, broken: int, check: bool) -> str:
    def count(n: int) -> str:
        return f"{n} file{'' if n == 1 else 's'}"

    done = "would be reformatted" if check else "reformatted"
    text = f"{count(changed)} {done}, {count(files - changed - broken)} already formatted"
    return text + (f", {count(broken)} with syntax errors left as they were" if broken else "")
