"""`cep run`: rules over an event feed, matches out as JSON lines, a summary on stderr."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TextIO

from cep.commands.options import add_event_options, load_rule_paths
from cep.engine import (
    EngineOptions,
    InterpreterEngine,
    RuleEngine,
    SnapshotError,
    Stats,
    fast_refusals,
    open_engine,
    resume_engine,
)
from cep.engine.state import load as load_state
from cep.io.compressed import codec_of, plain_name
from cep.io.follow import Following
from cep.io.kafka import KafkaError, KafkaInput, is_kafka
from cep.io.rejects import RejectsWriter, late_reject
from cep.io.sources import Reject, SourceError, guess_format, open_source
from cep.io.validation import Validator
from cep.lang.regex import bad_data_patterns
from cep.lang.values import parse_duration_option
from cep.runtime.budget import DEFAULT_MAX_STATE, format_size, parse_size
from cep.runtime.trace import RunTracer
from cep.service import positions
from cep.service.checkpoint import Checkpoint, CheckpointError, OutputState, path_in
from cep.service.feed import Feed
from cep.service.hints import TimeUnitCheck, data_paths, input_hints, never_arrived
from cep.service.host import DEFAULT_EVERY, Checkpointer, Every, Progress, open_checkpoint
from cep.service.live import LiveSettings, add_live_options, live_settings, notice
from cep.service.meter import ProgressMeter
from cep.service.promote import Promoter, chain
from cep.service.stopping import Stop, quiet_stdout
from cep.service.watch import RuleWatcher
from cep.service.webhook import WebhookError, WebhookSink, is_webhook

EXIT_OK, EXIT_RULE_ERRORS, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run",
        help="run rules over an event feed",
        description=(
            "Run rules over events (JSON lines, CSV, Parquet or Arrow IPC) and write one "
            "JSON object per match to the output. Bad lines go to the rejects file; a "
            "summary goes to standard error."
        ),
    )
    run.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders (*.cep)")
    run.add_argument("--input", default="-", metavar="FILE|-|URL",
                     help="events (default: stdin); kafka://HOST:PORT/TOPIC?group=NAME reads "
                     "a topic (docs/kafka.md)")  # fmt: skip
    run.add_argument(
        "--format",
        choices=("jsonl", "csv", "parquet", "arrow"),
        help="input format (default: from the file name: .csv, .parquet, .arrow; else jsonl)",
    )
    run.add_argument("--output", default="-", metavar="FILE|-|URL",
                     help="matches (default: stdout); kafka://HOST:PORT/TOPIC writes a message "
                     "per match; an http(s):// URL: POSTed in JSON arrays (the --webhook-* "
                     "options)")  # fmt: skip
    run.add_argument(
        "--rejects",
        metavar="FILE|URL",
        help="write bad and late lines here (JSONL, or kafka://...)",
    )
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
    add_event_options(run, "lines")
    run.add_argument(
        "--max-state",
        metavar="SIZE",
        help="budget of live state (open runs and held matches, by an estimate both "
        "engines count alike), split evenly between the rules, e.g. 512MB or 2GiB; when "
        "a rule goes over its share, its oldest runs are dropped and counted (default: "
        f"an eighth of physical memory, at most 256 MiB: here {format_size(DEFAULT_MAX_STATE)}"
        "); see docs/limits.md",
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
        default="auto",
        help="auto (default): each rule on the fast path when it can, the others on the "
        "interpreter (until the fast path is first compiled, in the background, the "
        "interpreter); fast: numba over columns, for rules `cep explain` says can run "
        "compiled (not with --trace), compiling first if need be; interpreter: every rule "
        "in Python",
    )
    run.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="keep the run's state in DIR and resume from it when started again with "
        "the same command: file outputs are cut back to the checkpoint and the input read "
        "on from its position, so the outputs equal an uninterrupted run's (standard "
        "output cannot be cut back: use --output FILE); see docs/checkpoints.md",
    )
    run.add_argument(
        "--checkpoint-every",
        metavar="N|DURATION",
        help=f"checkpoint after N records (e.g. 100000) or a wall-clock duration "
        f"(e.g. 30s; default {DEFAULT_EVERY}), at a clean stop (SIGINT, SIGTERM) and at "
        "the end of the input",
    )
    run.add_argument(
        "--watch",
        action="store_true",
        help="check the rule files again when they change and go on with the new rules "
        "(unchanged rules keep their state); a change with errors is reported and the "
        "rules in use go on",
    )
    run.add_argument("--quiet", action="store_true", help="no summary on standard error")
    add_live_options(run)
    run.set_defaults(handler=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    try:
        delay = parse_duration_option(args.allowed_delay)
    except ValueError as error:
        return _usage(f"--allowed-delay: {error}")
    if args.max_runs_per_key < 1:
        return _usage("--max-runs-per-key must be at least 1")
    max_state = DEFAULT_MAX_STATE
    if args.max_state is not None:
        try:
            max_state = parse_size(args.max_state)
        except ValueError as error:
            return _usage(f"--max-state: {error}")
    hints = (f"hint: {name} looks like events, not rules: give it as --input {name}"
             for name in data_paths(args.paths))  # fmt: skip
    loaded = load_rule_paths("run", args.paths, args.rule, hints)
    if isinstance(loaded, int):
        return loaded
    checked, rules = loaded
    fmt = args.format or _guess_format(args.input)
    try:
        live = live_settings(args, fmt, delay)
    except ValueError as error:
        return _usage(str(error))
    kafka = None
    if is_kafka(args.input):
        try:
            idle_ms = live.idle.idle_ms if live.idle is not None else None
            kafka = KafkaInput.of(args.input, fmt, bool(args.checkpoint), idle_ms)
            kafka.clock = live.idle
        except KafkaError as error:
            return _usage(str(error))
    if args.watch and args.trace:
        return _usage("--trace cannot follow runs across rules reloaded by --watch")
    saved: Checkpoint | None = None
    every = Every()
    if args.checkpoint_every is not None and not args.checkpoint:
        return _usage("--checkpoint-every needs --checkpoint DIR")
    if args.checkpoint:
        try:
            every = Every.parse(args.checkpoint_every or DEFAULT_EVERY)
        except ValueError as error:
            return _usage(f"--checkpoint-every: {error}")
        try:
            saved = open_checkpoint(args.checkpoint, args.input, fmt, _fixed(args))
        except CheckpointError as error:
            return _usage(f"cannot resume from {path_in(args.checkpoint)}: {error}")
    # what is loaded so far (modules, rules) lives as long as the run: keep the garbage
    # collector from walking it again and again
    gc.freeze()
    try:
        rejects = RejectsWriter()
        if args.rejects:
            cut = saved.rejects if saved is not None else None
            rejects = RejectsWriter(_open_output(args.rejects, cut), close=True)
    except (OSError, CheckpointError, KafkaError) as error:
        return _cannot_write(args, args.rejects, error)
    try:
        output = _open_output(args.output, saved.output if saved is not None else None, live)
    except WebhookError as error:
        rejects.close()
        return _usage(f"--output: {error}")
    except (OSError, CheckpointError, KafkaError) as error:
        rejects.close()
        return _cannot_write(args, args.output, error)
    if kafka is not None:
        rejects.where = kafka.places.where
        kafka.before_commit = lambda: (output.flush(), rejects.flush())
    lates: list[Reject] = []
    options = EngineOptions(
        allowed_delay_ms=delay,
        max_runs_per_key=args.max_runs_per_key,
        on_late=lambda event: lates.append(late_reject(event)),
        json_lines=True,
        max_state=max_state,
    )
    name, promote = _first_engine(args, fmt)
    try:
        engine = _open_engine(args, rules, checked.schemas, options, saved, name)
    except (ValueError, SnapshotError) as error:
        rejects.close()
        if isinstance(error, SnapshotError):
            return _usage(f"cannot resume from {path_in(args.checkpoint)}: {error}")
        return _usage(str(error))
    if not isinstance(engine, InterpreterEngine):
        refused = fast_refusals(rules)
        compiled = [rule for rule in rules if rule.name not in refused]
        _compile_first(args, fmt, compiled, checked.schemas)
    tracers = []
    for name in args.trace or ():
        assert isinstance(engine, InterpreterEngine)
        matcher = next((m for m in engine.matchers if m.rule.name == name), None)
        if matcher is None:
            rejects.close()
            return _usage(f"--trace: no rule named {name!r} is being run")
        tracer = RunTracer(matcher.rule, sys.stderr)
        tracer.attach(matcher)
        tracers.append((tracer, matcher))
    progress = Progress()
    if saved is not None:
        progress = Progress(saved.records, saved.input.offset, saved.input.line, saved.finished,
                            types=set(saved.types))  # fmt: skip
        progress.partitions = saved.input.partitions
        rejects.counts.update(saved.rejected)
    keeper = None
    if args.checkpoint:
        keeper = Checkpointer(
            args.checkpoint, every, args.input, fmt, _fixed(args), args.output,
            None if output is sys.stdout else output, args.rejects, rejects.stream,
            last_records=progress.records,
        )  # fmt: skip
        if saved is None and any(hasattr(s, "checkpoint_state") for s in (output, rejects.stream)):
            # (a sink that cannot be cut back, as a file is, needs its state in a
            # checkpoint before it is written to: docs/kafka.md)
            keeper.take(engine, progress, rejects.counts)
    schemas = [checked.schemas]  # (the latest rules' schemas, with --watch)
    times = TimeUnitCheck(args.time_unit, args.quiet)
    following = Following(args.input, notice(args)) if live.follow else None
    if keeper is not None and following is not None:
        keeper.identity = following.identity
    poll = live.idle.poll_s if live.idle is not None else None
    feed = Feed(
        engine, lambda current: _batches(args, fmt, current.fields(), schemas[0],
                                         current.prepare, progress, every.events, times,
                                         poll=poll, following=following, kafka=kafka),
        rejects, lates, progress, keeper, args.input, args.flush,
        at_end=lambda: [tracer.finish(matcher) for tracer, matcher in tracers],
        idle=live.idle,
    )  # fmt: skip
    reloader = Reloader(args, checked, rules, options, schemas, name) if args.watch else None
    promoter = None
    if promote:

        def open_fast() -> RuleEngine:
            current = reloader.rules if reloader is not None else rules
            if reloader is not None:
                reloader.name = args.engine
            return open_engine(current, schemas[0], options, args.engine)

        promoter = Promoter(open_fast, args.quiet)
    feed.reload = chain(promoter, reloader)
    if args.input == "-" and not args.quiet and sys.stdin is not None and sys.stdin.isatty():
        print("cep run: reading events from standard input (the terminal); end with Ctrl-D,"
              " or give --input FILE", file=sys.stderr, flush=True)  # fmt: skip
    feed.signals.install()
    try:
        in_use = lambda: reloader.rules if reloader is not None else rules  # noqa: E731
        status = _write(args, feed, output, rejects, fmt, in_use)
    finally:
        feed.signals.restore()
    return status if feed.exit_status is None else feed.exit_status


class Reloader:
    """`--watch`: between batches, rules changed on disk and checking cleanly replace the
    running ones (`RuleWatcher`), in an engine that takes over the old one's state
    through a snapshot; a line on standard error says what happened to each rule."""

    def __init__(
        self,
        args: argparse.Namespace,
        checked: Any,
        rules: list,
        options: EngineOptions,
        schemas: list,
        name: str,
    ) -> None:
        self.args, self.options, self.schemas = args, options, schemas
        self.watcher = RuleWatcher(args.paths, checked, args.rule)
        #: the engine new rules run on, and the rules in use
        self.name, self.rules = name, rules

    def __call__(self, engine: RuleEngine) -> tuple[RuleEngine, bool] | None:
        found = self.watcher.poll()
        if found is None:
            return None
        args, fields = self.args, engine.fields()
        name = self.name
        try:
            if name == "fast":
                _check_fast(args, found.rules)
            state = load_state(engine.snapshot())
            fresh = open_engine(found.rules, found.checked.schemas, self.options, name)
            changes = fresh.restore(state)
            read_again = not _covers(fields, fresh.fields())
            if read_again and not os.path.isfile(args.input):
                # standard input (or a pipe) cannot be read again: rules that need other
                # columns than those read run on the interpreter, which reads records
                fresh = open_engine(found.rules, found.checked.schemas, self.options,
                                    "interpreter")  # fmt: skip
                changes = fresh.restore(state)
                read_again = False
        except (ValueError, SnapshotError) as error:
            print(f"cep run: --watch: {error}; the rules in use go on", file=sys.stderr)
            return None
        self.schemas[0], self.rules = found.checked.schemas, found.rules
        print(f"cep run: --watch: rules reloaded ({fresh.kind}): {changes.describe()}",
              file=sys.stderr, flush=True)  # fmt: skip
        return fresh, read_again


def _covers(read: dict[str, str], wanted: dict[str, str]) -> bool:
    """Whether columns read as `read` serve an engine that wants `wanted`."""
    return all(read.get(name) == kind for name, kind in wanted.items())


def _fixed(args: argparse.Namespace) -> dict[str, Any]:
    """The options a resume must share with the run it resumes (how the input is read,
    where the outputs go; the allowed delay and the cap on runs may change)."""
    return {
        "type": args.type,
        "type_field": args.type_field,
        "time_field": args.time_field,
        "time_unit": args.time_unit,
        "output": args.output,
        "rejects": args.rejects,
    }


def _cannot_write(args: argparse.Namespace, path: str, error: Exception) -> int:
    if isinstance(error, CheckpointError):
        return _usage(f"cannot resume from {path_in(args.checkpoint)}: {error}")
    if isinstance(error, KafkaError):
        return _usage(str(error))
    assert isinstance(error, OSError)
    return _usage(f"cannot write {path}: {error.strerror or error}")


def _first_engine(args: argparse.Namespace, fmt: str) -> tuple[str, bool]:
    """The engine the run starts on, and whether it moves to the fast path later: `auto`
    before the fast path was ever compiled starts a background compile and runs on the
    interpreter meanwhile (`cep.service.promote`), so a first run waits for no compiler
    (a line on standard error says so). Standard input cannot be read again for the
    columns the fast path reads: that run stays on the interpreter."""
    if args.engine != "auto" or args.trace:
        return ("interpreter" if args.trace else args.engine), False
    from cep.fast import warmup
    from cep.fast.cache import kernel_cached

    if kernel_cached() and not warmup.compiling():
        _build_native(args, fmt)
        return "auto", False
    sample = None
    stream = args.input == "-" or is_kafka(args.input)
    if not stream:  # (the first records of a file are run in the background too)
        sample = {"input": os.path.abspath(args.input), "time_unit": args.time_unit,
                  "allowed_delay_ms": parse_duration_option(args.allowed_delay)}  # fmt: skip
    started = warmup.start_background_compile(
        args.paths, args.rule, fmt, args.type_field, args.time_field, sample
    )
    if not started and not warmup.compiling():
        return "auto", False  # (no cache to fill: compile here, as `fast` does)
    if not args.quiet:
        then = (
            "this run reads standard input on the interpreter"
            if stream
            else "the run starts on the interpreter and moves to it when it is ready"
        )
        print(f"cep run: compiling the fast path in the background (once per machine and "
              f"cep version); {then}", file=sys.stderr, flush=True)  # fmt: skip
    return "interpreter", not stream


def _open_engine(
    args: argparse.Namespace,
    rules: list,
    schemas: Any,
    options: EngineOptions,
    saved: Checkpoint | None,
    name: str,
) -> RuleEngine:
    """The engine named, resumed from a checkpoint's snapshot when there is one (a line
    on standard error when rules changed since); ValueError saying why the fast path
    cannot take the rules, SnapshotError when the snapshot cannot be restored."""
    if args.engine == "fast":
        _check_fast(args, rules)
    if saved is not None:
        engine, changes = resume_engine(saved.snapshot, rules, schemas, options, name)
        if changes.any:
            print(f"cep run: rules changed since the checkpoint: {changes.describe()}",
                  file=sys.stderr)  # fmt: skip
        return engine
    return open_engine(rules, schemas, options, name)


def _check_fast(args: argparse.Namespace, rules: list) -> None:
    """ValueError unless `--engine fast` can run every rule (and no `--trace`)."""
    refused = fast_refusals(rules)
    if refused:
        raise ValueError(
            "--engine fast: "
            + "; ".join(f"rule {n} cannot run compiled: {w}" for n, w in refused.items())
        )
    if args.trace:
        raise ValueError("--trace needs the interpreter (--engine interpreter)")


def _write(
    args: argparse.Namespace,
    feed: Feed,
    output: TextIO | IO[str],
    rejects: RejectsWriter,
    fmt: str,
    rules_in_use: Callable[[], list[Any]],
) -> int:
    """Write the reports (UTF-8 JSON lines) as they come; bad input and a closed output
    end the run cleanly; a `Stop` is taken (`Feed.stopped`) with the outputs still open;
    then the summary, and where a stop left the run."""
    # (a live input's reports go out as they come; a sink that is not a file sends them)
    live_input = args.input == "-" or args.follow or is_kafka(args.input)
    streaming = live_input and not hasattr(output, "write_lines")
    bad_patterns_before = bad_data_patterns()
    meter = None  # (on a terminal, unless the reports go to that terminal too)
    if not args.quiet and sys.stderr.isatty() and not (output is sys.stdout and output.isatty()):
        meter = ProgressMeter(sys.stderr)
    matches = 0
    try:
        for lines in feed.reports():
            if meter is not None:
                matches += lines.count(b"\n")
                meter.update(feed.progress.records, matches)
            if not lines:
                continue
            _write_utf8(output, lines)
            if streaming:
                output.flush()
    except Stop:
        try:
            feed.stopped()
        except CheckpointError as error:
            return _usage(str(error))
    except CheckpointError as error:  # (one that could not be written)
        return _usage(str(error))
    except SourceError as error:
        return _usage(str(error))
    except BrokenPipeError:
        # the reader of our output went away (`cep run ... | head`): stop quietly
        quiet_stdout()
        return EXIT_OK
    except OSError as error:
        return _usage(f"cannot read {args.input}: {error.strerror or error}")
    finally:
        if meter is not None:
            meter.clear()
        try:
            if output is sys.stdout:
                output.flush()
            else:  # (a file's close flushes it; a webhook's waits a bounded time)
                output.close()
        except BrokenPipeError:
            pass
        rejects.close()
    if not args.quiet:
        stats = feed.engine.stats()
        stats.bad_patterns = bad_data_patterns() - bad_patterns_before
        print(summary(feed.progress.records, rejects.counts, stats), file=sys.stderr)
        if isinstance(output, WebhookSink):
            print(output.summary(), file=sys.stderr)
        for line in never_arrived(feed.progress.types, rules_in_use()):
            print(line, file=sys.stderr)
        for hint in input_hints(feed.progress.records, rejects.counts, fmt):
            print(hint, file=sys.stderr)
    if feed.stop_line:
        print(feed.stop_line, file=sys.stderr)
    return EXIT_OK


def _write_utf8(output: TextIO | IO[str], text: bytes | bytearray) -> None:
    """UTF-8 text written to a text stream: to the bytes under it where it has them.
    A sink that is not a file (`cep.service.sinks`) takes whole report lines as bytes
    through `write_lines`."""
    write_lines = getattr(output, "write_lines", None)
    if write_lines is not None:
        write_lines(bytes(text))
        return
    buffer = getattr(output, "buffer", None)
    if buffer is None:
        output.write(text.decode())
        return
    output.flush()
    buffer.write(text)


def _compile_first(args: argparse.Namespace, fmt: str, rules: list, schemas: Any) -> None:
    """Where numba's cache holds no kernel yet: say so on a terminal, and compile the
    kernel here while a helper process compiles the reader (`cep.fast.warmup`)."""
    from cep.fast import warmup
    from cep.fast.cache import kernel_cached

    if kernel_cached():
        _build_native(args, fmt)
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


def _build_native(args: argparse.Namespace, fmt: str) -> None:
    """numba's cache holds the fast path: where no native module of it is there, have
    one built in the background (`cep.fast.nativebuild`), so that later runs start
    without numba."""
    from cep.fast.nativebuild import start_native_build

    sample = None
    if args.input != "-" and not is_kafka(args.input):
        sample = {"input": os.path.abspath(args.input), "time_unit": args.time_unit,
                  "allowed_delay_ms": parse_duration_option(args.allowed_delay)}  # fmt: skip
    start_native_build(args.paths, args.rule, fmt, args.type_field, args.time_field, sample)


def _guess_format(path: str) -> str:
    lower = plain_name(path).lower()
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
    start: Progress | None = None,
    every: int | None = None,
    times: Callable[[Iterator[Any]], Iterator[Any]] = iter,
    *,
    poll: float | None = None,
    following: Following | None = None,
    kafka: KafkaInput | None = None,
) -> Iterator[Iterator[Any]]:
    """Batches of columns of the input (cep.io.columnar), for the fast path; Parquet and
    Arrow batches are read on a thread, which also calls `prepare` on them. A resumed
    run reads a file on from `start`'s position; checkpoints every `every` records
    make batches no larger (at least 1,024 records). `times` looks at the batches
    (`TimeUnitCheck`). With `poll` (`--idle`), a live input gives an empty batch when
    nothing arrived for that long; `following` (`--follow`) reads the file as it grows."""
    from cep.io import columnar

    stdin = args.input == "-"
    line = start.line if start is not None else 1
    sizes = {}
    if every is not None:
        size = max(every, 1024)
        sizes = {"batch_size": min(size, columnar.BATCH_SIZE)}
        if fmt in ("parquet", "arrow"):
            sizes = {"batch_size": min(size, columnar.ARROW_BATCH_SIZE)}
    options = {
        "fields": fields,
        "type_field": args.type_field,
        "time_field": args.time_field,
        "time_unit": args.time_unit,
        "default_type": args.type,
        "validator": Validator(schemas),
        **sizes,
    }
    if kafka is not None:
        size = sizes.get("batch_size", columnar.BATCH_SIZE)
        partitions = start.partitions if start is not None else None
        yield times(iter(kafka.batches(options, partitions, line, size)))
        return
    if fmt in ("parquet", "arrow"):
        if stdin:  # (a stream goes on with what arrives, its rows numbered on)
            options["first"] = line
        else:
            options["skip"] = line - 1
        reader = columnar.read_parquet_batches if fmt == "parquet" else columnar.read_arrow_batches
        source: Any = args.input
        if args.input == "-":
            source = getattr(sys.stdin, "buffer", sys.stdin)
        elif not os.path.exists(args.input):
            raise SourceError(f"cannot read {args.input}: No such file or directory")
        elif codec_of(args.input):
            raise SourceError(f"cannot read {args.input}: {fmt} files are not read compressed "
                              f"(their columns are compressed inside the file)")  # fmt: skip
        yield times(reader(source, **options, prepare=prepare))
        return
    offset = start.offset if start is not None and not stdin else None
    if offset is not None or line > 1:
        options["start"] = (offset or 0, line)
        if fmt == "csv" and not stdin and line > 1:
            options["header"] = positions.csv_header(args.input)
    read = columnar.read_csv_batches if fmt == "csv" else columnar.read_jsonl_batches
    if poll is not None:
        options["poll"] = poll
    if following is not None:
        with following.open(offset or 0) as followed:
            yield times(read(followed, **options))
        return
    with open_source(args.input, fmt, offset or 0) as stream:
        yield times(read(stream, **options))


def _open_output(path: str, saved: OutputState | None, live: LiveSettings | None = None) -> Any:
    """Standard output, a Kafka topic (`cep.service.kafka_sink`), a webhook
    (`cep.service.webhook`), or a file (cut back to the checkpoint's length on a
    resume)."""
    if path == "-":
        return sys.stdout
    if is_kafka(path):
        from cep.service.kafka_sink import open_sink

        return open_sink(path, saved.sink if saved is not None else None)
    if is_webhook(path):
        return WebhookSink(path, live.webhook if live is not None else None)
    return positions.open_output(path, saved)


def _usage(message: str) -> int:
    print(f"cep run: {message}", file=sys.stderr)
    return EXIT_USAGE


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def summary(records: int, rejected: Counter[str], stats: Stats) -> str:
    """The end-of-run summary: where every record read went, and what the rules did."""
    rejects = rejected.total()
    by_reason = ", ".join(f"{kind}: {n}" for kind, n in sorted(rejected.items()))
    lines = [
        f"read {_count(records, 'record')}: "
        f"{_count(stats.events - stats.late, 'event')} accepted, "
        f"{rejects} rejected" + (f" ({by_reason})" if by_reason else ""),
        f"{_count(stats.matches, 'match', 'matches')}, {_count(stats.timeouts, 'timeout')}, "
        f"{_count(stats.open_runs, 'run')} open at the end, "
        f"{_count(stats.dropped_runs, 'run')} dropped by --max-runs-per-key"
        + (f", {stats.budget_dropped} by --max-state" if stats.budget_dropped else ""),
    ]
    if stats.bad_patterns:
        lines.append(f"{stats.bad_patterns} bad patterns from data (`=~` tests made false)")
    for name, rule in stats.rules.items():
        parts = [_count(rule.matches, "match", "matches")]
        if rule.timeouts:
            parts.append(_count(rule.timeouts, "timeout"))
        parts.append(f"{rule.open_runs} open")
        if rule.held_matches:
            parts.append(f"{rule.held_matches} held")
        if rule.dropped_runs:
            parts.append(f"{_count(rule.dropped_runs, 'run')} dropped")
        if rule.budget_dropped:
            parts.append(f"{_count(rule.budget_dropped, 'run')} dropped by --max-state")
        if rule.missing_key:
            parts.append(f"{_count(rule.missing_key, 'event')} without the partition key")
        lines.append(f"  {name}: " + ", ".join(parts))
    return "\n".join(lines)
