"""`cep serve`: the rules as a Quix Streams application on Kafka (docs/serve.md)."""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

from cep.commands.options import add_event_options, load_rule_paths
from cep.lang.values import parse_duration_option
from cep.serve import ServeError, quix

EXIT_OK, EXIT_RULE_ERRORS, EXIT_USAGE = 0, 1, 2
#: the broker cannot be reached or refuses (as `cep run` exits for an input it cannot read)
EXIT_KAFKA = 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run rules as a Quix Streams application on Kafka (scale-out)",
        description=(
            "Run rules as a Quix Streams application: every process started with the "
            "same --group shares the input topic's partitions; each key's state lives in "
            "the application's state store, backed by changelog topics. Reports go to "
            "the output topic, keyed by their partition key. See docs/serve.md."
        ),
    )
    serve.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders (*.cep)")
    serve.add_argument("--kafka", required=True, metavar="HOST:PORT", help="bootstrap servers")
    serve.add_argument("--input-topic", required=True, metavar="TOPIC", help="events (JSON)")
    serve.add_argument("--output-topic", required=True, metavar="TOPIC", help="reports")
    serve.add_argument("--group", required=True, metavar="NAME", help="consumer group")
    serve.add_argument("--rejects-topic", metavar="TOPIC", help="bad and late events (JSON)")
    serve.add_argument(
        "--guarantee",
        choices=("exactly-once", "at-least-once"),
        default="exactly-once",
        help="exactly-once (default: Kafka transactions) or at-least-once (after a crash, "
        "reports since the last commit may be written again)",
    )
    serve.add_argument(
        "--instance",
        metavar="NAME",
        help="this worker's stable name within the group: a static member (Kafka's "
        "group.instance.id) and, with exactly-once, its transactional id; a replacement "
        "started under a dead worker's name within --session-timeout takes its "
        "partitions without a rebalance and aborts the transaction it left open "
        "(default: a fresh dynamic member each start)",
    )
    serve.add_argument(
        "--session-timeout",
        default="10s",
        metavar="DURATION",
        help="how long the group waits for a worker that stops heartbeating before its "
        "partitions go to the others; with --instance, how long a replacement under its "
        "name has to take its place without a rebalance (default: 10s)",
    )
    serve.add_argument(
        "--state-dir",
        default="cep-state",
        metavar="DIR",
        help="where this process keeps its local state stores (default: cep-state); "
        "a lost DIR is rebuilt from the changelog topics",
    )
    serve.add_argument(
        "--commit-interval",
        default="1s",
        metavar="DURATION",
        help="how often offsets, state and reports are committed (default: 1s)",
    )
    serve.add_argument(
        "--allowed-delay",
        default="0s",
        metavar="DURATION",
        help="how late input may arrive, in event time, within a Kafka partition (default: 0s)",
    )
    serve.add_argument(
        "--idle",
        metavar="DURATION",
        help="when a partition has had no event for DURATION of wall time, move its "
        "time on with the wall clock (largest time seen + wall time since it arrived - "
        "the allowed delay), so that absences and timeouts fire on a quiet topic "
        "(default: off; event time only)",
    )
    serve.add_argument(
        "--log-level",
        choices=("warning", "info", "debug"),
        default="warning",
        help="what Quix Streams logs to standard error: warning (default), info (also "
        "state recovery), debug (also the Kafka client's consumer group: joins, "
        "assignments, heartbeats)",
    )
    add_event_options(serve, "messages")
    serve.set_defaults(handler=cmd_serve)


def _usage(message: str) -> int:
    print(f"cep serve: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        quix()
    except ServeError as error:
        return _usage(str(error))
    from cep.serve.app import ServeConfig, build_application
    from cep.serve.membership import leave_on_clean_stop

    durations: dict[str, int | None] = {}  # (milliseconds; None: not given)
    for option in ("allowed_delay", "commit_interval", "session_timeout", "idle"):
        text = getattr(args, option)
        try:
            durations[option] = None if text is None else parse_duration_option(text)
        except ValueError as error:
            return _usage(f"--{option.replace('_', '-')}: {error}")
    delay, commit_ms, session_ms, idle_ms = durations.values()
    assert delay is not None and commit_ms is not None and session_ms is not None
    if session_ms < 1000:
        return _usage("--session-timeout must be at least 1s")
    if args.max_runs_per_key < 1:
        return _usage("--max-runs-per-key must be at least 1")
    loaded = load_rule_paths("serve", args.paths, args.rule)
    if isinstance(loaded, int):
        return loaded
    checked, rules = loaded
    config = ServeConfig(
        kafka=args.kafka,
        input_topic=args.input_topic,
        output_topic=args.output_topic,
        group=args.group,
        rejects_topic=args.rejects_topic,
        guarantee=args.guarantee,
        state_dir=args.state_dir,
        allowed_delay_ms=delay,
        max_runs_per_key=args.max_runs_per_key,
        type_field=args.type_field,
        time_field=args.time_field,
        time_unit=args.time_unit,
        default_type=args.type,
        commit_interval_s=max(commit_ms, 1) / 1000,
        session_timeout_ms=session_ms,
        instance=args.instance,
        idle_ms=idle_ms,
        log_level=args.log_level.upper(),
    )
    from confluent_kafka import KafkaException
    from quixstreams.state.exceptions import InvalidStoreChangelogOffset

    print(f"cep serve: {len(rules)} rule(s) in group {args.group}: {args.input_topic} -> "
          f"{args.output_topic} ({args.guarantee})", file=sys.stderr)  # fmt: skip
    stops: list[int] = []
    while True:
        try:
            app = build_application(rules, checked.schemas, config)
            _note_stops(app, stops)
            if config.instance is not None:
                leave_on_clean_stop(app, stops)
            app.run()  # (returns once a stop signal has been handled and the last commit made)
        except KafkaException as error:
            print(f"cep serve: Kafka at {args.kafka}: {error.args[0].str()}", file=sys.stderr)
            return EXIT_KAFKA
        except InvalidStoreChangelogOffset:
            # A partition given back to this worker, whose local store has more than
            # the broker says its changelog holds: Tansu's ListOffsets answers the
            # first offset of the last batch + 1, short of the end when that batch
            # holds several records (docs/serve.md, Guarantees). The changelog is the
            # state: drop the local copy and join again, restoring from it.
            print("cep serve: a local state store is ahead of the end of its changelog "
                  "topic as the broker reports it: rebuilding it from the changelog",
                  file=sys.stderr)  # fmt: skip
            app.clear_state()
            if stops:
                break
            continue
        break
    if not stops:
        return EXIT_OK
    number = signal.Signals(stops[0])
    print(f"cep serve: stopped by {number.name}, offsets and state committed", file=sys.stderr)
    return 128 + number


def _note_stops(app: Any, stops: list[int]) -> None:
    """Keep the signal that stops the application: Quix Streams handles SIGINT and
    SIGTERM itself (a clean stop, committing), and the exit status says which came,
    130 or 143 as for `cep run`. Its handlers are looked up on the application when
    it starts, so wrapping them there is enough."""
    for name in ("_on_sigint", "_on_sigterm"):
        handler = getattr(app, name)

        def noted(number: int, frame: Any, handler: Any = handler) -> None:
            stops.append(number)
            handler(number, frame)

        setattr(app, name, noted)
