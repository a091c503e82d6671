"""`cep run`: rules over an event feed, matches out as JSON lines, a summary on stderr."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, TextIO

from cep.api import load_rules
from cep.io.rejects import RejectsWriter
from cep.io.sources import (
    Reject,
    SourceError,
    SourceEvent,
    guess_format,
    open_source,
    read_source,
)
from cep.io.validation import Validator
from cep.lang.checker import check_paths
from cep.lang.program import RulePathError
from cep.lang.values import parse_duration_option
from cep.runtime.engine import DEFAULT_MAX_RUNS_PER_KEY, MatchingEngine, Stats
from cep.runtime.match import Match
from cep.runtime.trace import RunTracer

if TYPE_CHECKING:
    from cep.fast.reporttext import ReportLines

EXIT_OK, EXIT_RULE_ERRORS, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="run rules over an event feed",
        description=(
            "Run rules over events (JSON lines or CSV) and write one JSON object per "
            "match to the output. Bad lines go to the rejects file; a summary goes to "
            "standard error."
        ),
    )
    run.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders (*.cep)")
    run.add_argument("--input", default="-", metavar="FILE|-", help="events (default: stdin)")
    run.add_argument(
        "--format",
        choices=("jsonl", "csv", "parquet", "arrow"),
        help="input format (default: from the file name: .csv, .parquet, .arrow; else jsonl)",
    )
    run.add_argument("--output", default="-", metavar="FILE|-", help="matches (default: stdout)")
    run.add_argument("--rejects", metavar="FILE", help="write bad and late lines here (JSONL)")
    run.add_argument(
        "--allowed-delay",
        default="0s",
        metavar="DURATION",
        help="how late input may arrive, in event time, e.g. 5s (default: 0s)",
    )
    run.add_argument(
        "--flush",
        action="store_true",
        help="at the end of input, move time to infinity: close every window",
    )
    run.add_argument("--rule", action="append", metavar="NAME", help="run only this rule")
    run.add_argument("--type", metavar="NAME", help="event type of lines that have none")
    run.add_argument("--type-field", default="type", metavar="FIELD", help="default: type")
    run.add_argument("--time-field", default="ts", metavar="FIELD", help="default: ts")
    run.add_argument(
        "--max-runs-per-key",
        type=int,
        default=DEFAULT_MAX_RUNS_PER_KEY,
        metavar="N",
        help=f"cap on partial matches per rule and key (default: {DEFAULT_MAX_RUNS_PER_KEY})",
    )
    run.add_argument(
        "--trace",
        action="append",
        metavar="RULE",
        help="write to standard error how each run of RULE ended without a match",
    )
    run.add_argument(
        "--engine",
        choices=("interpreter", "fast", "auto"),
        default="interpreter",
        help="interpreter (every rule, default); fast: numba over columns, for rules "
        "`cep explain` says can run compiled (not with --trace); auto: each "
        "rule on the fast path when it can, the others on the interpreter",
    )
    run.add_argument("--quiet", action="store_true", help="no summary on standard error")
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        delay = parse_duration_option(args.allowed_delay)
    except ValueError as error:
        return _usage(f"--allowed-delay: {error}")
    if args.max_runs_per_key < 1:
        return _usage("--max-runs-per-key must be at least 1")
    try:
        checked = check_paths(args.paths)
    except RulePathError as error:
        return _usage(str(error))
    if checked.diagnostics:
        print(checked.render(), file=sys.stderr)
    if not checked.ok:
        print(f"cep run: {len(checked.errors)} rule error(s); nothing was run", file=sys.stderr)
        return EXIT_RULE_ERRORS
    try:
        rules = load_rules(checked, args.rule)
    except KeyError as error:
        return _usage(str(error.args[0]))
    if not rules:
        return _usage("no rules to run")
    fmt = args.format or _guess_format(args.input)
    # what is loaded so far (modules, rules) lives as long as the run: keep the garbage
    # collector from walking it again and again
    gc.freeze()
    try:
        rejects = RejectsWriter.open(args.rejects) if args.rejects else RejectsWriter()
    except OSError as error:
        return _usage(f"cannot write {args.rejects}: {error.strerror or error}")
    try:
        output = _open_output(args.output)
    except OSError as error:
        rejects.close()
        return _usage(f"cannot write {args.output}: {error.strerror or error}")
    if args.engine == "auto":
        if _fast_problem(rules, fmt, delay, args) is None:
            args.engine = "fast"
        elif _fast_problem([], fmt, delay, args) is None and _any_compiled(rules):
            return _run_mixed(args, checked, rules, fmt, delay, rejects, output)
        else:
            args.engine = "interpreter"
    if args.engine == "fast":
        problem = _fast_problem(rules, fmt, delay, args)
        if problem is not None:
            rejects.close()
            return _usage(problem)
        return _run_mixed(args, checked, rules, fmt, delay, rejects, output)
    engine = MatchingEngine(
        rules,
        allowed_delay_ms=delay,
        max_runs_per_key=args.max_runs_per_key,
        on_late=lambda event: rejects.reject_event(event, "late"),
    )
    tracers = []
    for name in args.trace or ():
        matcher = next((m for m in engine.matchers if m.rule.name == name), None)
        if matcher is None:
            rejects.close()
            return _usage(f"--trace: no rule named {name!r} is being run")
        tracer = RunTracer(matcher.rule, sys.stderr)
        tracer.attach(matcher)
        tracers.append((tracer, matcher))
    records = [0]

    def reports() -> Iterator[list[Match]]:
        with _row_source(args, fmt, checked.schemas) as source:
            for item in source:
                records[0] += 1
                if isinstance(item, Reject):
                    rejects.write(item)
                    continue
                found = engine.push(item)
                if found:
                    yield found
            yield engine.finish(flush=args.flush)
            for tracer, matcher in tracers:
                tracer.finish(matcher)

    return _write(args, reports(), output, rejects, lambda: (records[0], engine.stats()))


def _write(
    args: argparse.Namespace,
    produced: Iterator[list[Match] | list[Match | str] | ReportLines],
    output: TextIO | IO[str],
    rejects: RejectsWriter,
    totals: Callable[[], tuple[int, Stats]],
) -> int:
    """Write the reports (`Match`es, or JSON lines already) as they come; bad input and a
    closed output end the run cleanly; then the summary."""
    streaming = args.input == "-"
    try:
        for found in produced:
            if not found:
                continue
            if not isinstance(found, list):  # ReportLines (numba loads only when asked for)
                _write_utf8(output, found.joined())
            else:
                lines = [report if type(report) is str else report.to_json() for report in found]
                lines.append("")  # each line ends with a newline
                output.write("\n".join(lines))
            if streaming:
                output.flush()
    except SourceError as error:
        return _usage(str(error))
    except BrokenPipeError:
        # the reader of our output went away (`cep run ... | head`): stop quietly
        sys.stdout = None  # type: ignore[assignment]
        return EXIT_OK
    except OSError as error:
        return _usage(f"cannot read {args.input}: {error.strerror or error}")
    finally:
        try:
            output.flush()
            if output is not sys.stdout:
                output.close()
        except BrokenPipeError:
            pass
        rejects.close()
    if not args.quiet:
        records, stats = totals()
        print(summary(records, rejects.counts, stats), file=sys.stderr)
    return EXIT_OK


def _write_utf8(output: TextIO | IO[str], text: bytes) -> None:
    """UTF-8 text written to a text stream: to the bytes under it where it has them."""
    buffer = getattr(output, "buffer", None)
    if buffer is None:
        output.write(text.decode())
        return
    output.flush()
    buffer.write(text)


def _fast_problem(rules: list, fmt: str, delay: int, args: argparse.Namespace) -> str | None:
    from cep.fast.engine import fast_path_refusal  # numba loads only when asked for

    refused = [(rule.name, fast_path_refusal(rule)) for rule in rules]
    refused = [(name, why) for name, why in refused if why is not None]
    if refused:
        return "--engine fast: " + "; ".join(
            f"rule {n} cannot run compiled: {w}" for n, w in refused
        )
    if args.trace:
        return "--trace needs the interpreter (--engine interpreter)"
    return None


def _late_collector(into: list[Reject]) -> Callable[[Any, int], None]:
    def late(batch: Any, i: int) -> None:
        into.append(Reject(int(batch.line[i]), "late", batch.text(i)))

    return late


def _write_rejects(writer: RejectsWriter, found: list[Reject], lates: list[Reject]) -> None:
    """A batch's rejects, bad lines and late events together, in line order."""
    for reject in sorted([*found, *lates], key=lambda r: r.line):
        writer.write(reject)
    lates.clear()


def _any_compiled(rules: list) -> bool:
    from cep.fast.engine import fast_path_refusal

    return any(fast_path_refusal(rule) is None for rule in rules)


def _run_mixed(
    args: argparse.Namespace,
    checked: Any,
    rules: list,
    fmt: str,
    delay: int,
    rejects: RejectsWriter,
    output: TextIO | IO[str],
) -> int:
    """The rules the fast path can run on it, the others (if any) on the interpreter;
    reports merged by release key, so in the order one interpreter would give them.
    With an allowed delay the fast path holds events back and the interpreter matches
    the events it releases, in the order it releases them."""
    from cep.fast.engine import ColumnarRun, fast_path_refusal
    from cep.runtime.engine import KeyedEngine

    compiled = [(i, r) for i, r in enumerate(rules) if fast_path_refusal(r) is None]
    interpreted = [(i, r) for i, r in enumerate(rules) if fast_path_refusal(r) is not None]
    _compile_first(args, fmt, [r for _, r in compiled], checked.schemas)

    lates: list[Reject] = []
    run = ColumnarRun(
        [r for _, r in compiled],
        checked.schemas,
        max_runs_per_key=args.max_runs_per_key,
        on_late=_late_collector(lates),
        indexes=[i for i, _ in compiled],
        as_text=True,
        allowed_delay_ms=delay,
        hold_all=bool(interpreted),  # (the interpreted rules take the events released)
    )
    engine = KeyedEngine(
        [r for _, r in interpreted],
        [i for i, _ in interpreted],
        max_runs_per_key=args.max_runs_per_key,
    )
    validator = Validator(checked.schemas)
    records = [0]

    def reports() -> Iterator[list[Match | str] | ReportLines]:
        with _batches(args, fmt, run.fields(), checked.schemas, run.prepare) as batches:
            for batch in batches:
                records[0] += len(batch) + len(batch.rejects)
                if not interpreted:  # the lines as one text, in the order released
                    lines = run.run_lines(batch)
                    _write_rejects(rejects, batch.rejects, lates)
                    yield lines
                    continue
                keyed = run.run_keyed(batch)
                _write_rejects(rejects, batch.rejects, lates)
                if not delay:
                    for event in _events_of(batch, validator):  # rebuilt for the interpreter
                        keyed.extend(engine.push_keyed(event))
                else:
                    _push_released(engine, run.released, validator, keyed)
                    engine.fire_keyed(run.watermark, keyed)
                keyed.sort(key=lambda item: item[0])
                yield [report for _, report in keyed]
            if not interpreted:
                yield run.finish_lines(flush=args.flush)
                return
            keyed = run.finish_keyed(flush=args.flush)
            if delay:
                _push_released(engine, run.released, validator, keyed)
            keyed.extend(engine.finish_keyed(flush=args.flush))
            keyed.sort(key=lambda item: item[0])
            yield [report for _, report in keyed]

    def totals() -> tuple[int, Stats]:
        stats = run.stats()
        by_rule = {**stats.rules, **engine.stats().rules}
        stats.rules = {rule.name: by_rule[rule.name] for rule in rules}
        return records[0], stats

    return _write(args, reports(), output, rejects, totals)


def _compile_first(args: argparse.Namespace, fmt: str, rules: list, schemas: Any) -> None:
    """Where numba's cache holds no kernel yet: say so on a terminal, and compile the
    kernel here while a helper process compiles the reader (`cep.fast.warmup`)."""
    from cep.fast import warmup
    from cep.fast.cache import kernel_cached

    if kernel_cached():
        return
    if not args.quiet and sys.stderr.isatty():
        print(
            "cep run: compiling the fast path's machine code (the first run takes 20-60 s;"
            " later runs load it from numba's cache)",
            file=sys.stderr,
        )
    helper = warmup.start_reader_compile(
        args.paths, args.rule, fmt, args.type_field, args.time_field
    )
    try:
        warmup.compile_kernel(rules, schemas)
    except Exception:  # (only a head start: what it leaves compiles when first used)
        pass
    finally:
        warmup.wait_for(helper)


def _push_released(
    engine: Any, released: tuple[Any, Any] | None, validator: Validator, out: list
) -> None:
    """The events the fast path released (held back for the allowed delay) pushed to
    the interpreter in the order released, with their sequence numbers."""
    if released is None:
        return
    batch, seqs = released
    for event, seq in zip(_events_of(batch, validator), seqs.tolist(), strict=True):
        out.extend(engine.push_keyed(event, seq))


def _events_of(batch: Any, validator: Validator) -> Iterator[SourceEvent]:
    """The events of a batch as the interpreter's events, each rebuilt from what the
    batch keeps of it as its reader reads it (a JSON line, a CSV row, an Arrow row's
    record: `Batch.record_of`)."""
    kept = batch.kept_of(list(range(len(batch))))
    for i, payload in enumerate(kept):
        record = batch.record_of(payload)
        type_name = batch.type_name(i)
        typed, _ = validator.validate(type_name, record)
        text = payload if type(payload) is str else batch.text(i)
        yield SourceEvent(
            type_name, int(batch.ts[i]), typed or record, 0, int(batch.line[i]),
            raw=record, text=text, json=batch.json_of(payload),
        )  # fmt: skip


def _guess_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".parquet"):
        return "parquet"
    if lower.endswith((".arrow", ".arrows", ".feather", ".ipc")):
        return "arrow"
    return guess_format(path)


@contextmanager
def _batches(
    args: argparse.Namespace,
    fmt: str,
    fields: dict[str, str],
    schemas: Any,
    prepare: Callable[[Any], None] | None = None,
) -> Iterator[Iterator[Any]]:
    """Batches of columns of the input (cep.io.columnar), for the fast path; Parquet and
    Arrow batches are read on a thread, which also calls `prepare` on them."""
    from cep.io import columnar

    options = {
        "fields": fields,
        "type_field": args.type_field,
        "time_field": args.time_field,
        "default_type": args.type,
        "validator": Validator(schemas),
    }
    if fmt in ("parquet", "arrow"):
        reader = columnar.read_parquet_batches if fmt == "parquet" else columnar.read_arrow_batches
        source: Any = args.input
        if args.input == "-":
            source = getattr(sys.stdin, "buffer", sys.stdin)
        elif not os.path.exists(args.input):
            raise SourceError(f"cannot read {args.input}: No such file or directory")
        yield reader(source, **options, prepare=prepare)
        return
    read = columnar.read_csv_batches if fmt == "csv" else columnar.read_jsonl_batches
    with open_source(args.input, fmt) as stream:
        yield read(stream, **options)


@contextmanager
def _row_source(args: argparse.Namespace, fmt: str, schemas: Any) -> Iterator[Iterator[Any]]:
    """Events (and rejects) one by one, for the interpreter. Parquet and Arrow rows are
    read as columns and turned into events, each row being the record of its cells."""
    if fmt in ("parquet", "arrow"):
        validator = Validator(schemas)
        with _batches(args, fmt, {}, schemas) as batches:
            yield _rows_of(batches, validator)
        return
    with open_source(args.input, fmt) as stream:
        yield read_source(
            stream,
            fmt,
            type_field=args.type_field,
            time_field=args.time_field,
            default_type=args.type,
            validator=Validator(schemas),
        )


def _rows_of(batches: Iterator[Any], validator: Validator) -> Iterator[Any]:
    for batch in batches:
        yield from batch.rejects
        yield from _events_of(batch, validator)


def _open_output(path: str) -> TextIO | IO[str]:
    if path == "-":
        return sys.stdout
    return open(path, "w", encoding="utf-8")


def _usage(message: str) -> int:
    print(f"cep run: {message}", file=sys.stderr)
    return EXIT_USAGE


def summary(records: int, rejected: Counter[str], stats: Stats) -> str:
    """The end-of-run summary: where every record read went, and what the rules did."""
    rejects = rejected.total()
    by_reason = ", ".join(f"{kind}: {n}" for kind, n in sorted(rejected.items()))
    lines = [
        f"read {records} records: {stats.events - stats.late} events matched, "
        f"{rejects} rejected" + (f" ({by_reason})" if by_reason else ""),
        f"{stats.matches} matches, {stats.timeouts} timeouts, "
        f"{stats.open_runs} runs open at the end, "
        f"{stats.dropped_runs} runs dropped by --max-runs-per-key",
    ]
    for name, rule in stats.rules.items():
        parts = [f"{rule.matches} matches"]
        if rule.timeouts:
            parts.append(f"{rule.timeouts} timeouts")
        parts.append(f"{rule.open_runs} open")
        if rule.held_matches:
            parts.append(f"{rule.held_matches} held")
        if rule.dropped_runs:
            parts.append(f"{rule.dropped_runs} runs dropped")
        if rule.missing_key:
            parts.append(f"{rule.missing_key} events without the partition key")
        lines.append(f"  {name}: " + ", ".join(parts))
    return "\n".join(lines)
