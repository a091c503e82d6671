"""The options of `cep run` for live feeds: `--follow`, `--idle` and the webhook sink's
(docs/live.md); what they ask of the input and the output, checked before the run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from cep.io.compressed import codec_of
from cep.lang.values import format_duration, parse_duration_option
from cep.service.idle import IdleClock
from cep.service.webhook import WebhookOptions, is_webhook


def add_live_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--follow",
        action="store_true",
        help="keep reading the --input file as it grows, and go on across rotation (the "
        "file replaced or truncated), as `tail -F` does; JSON lines; stop with SIGINT or "
        "SIGTERM",
    )
    run.add_argument(
        "--idle",
        metavar="DURATION",
        help="when no event has arrived for DURATION of wall time, move the watermark "
        "on with the wall clock (largest time seen + wall time since it arrived - the "
        "allowed delay), so that absences and timeouts fire on a quiet live feed "
        "(default: off; event time only)",
    )
    hooks = run.add_argument_group(
        "webhook output (--output http://... or https://...: reports POSTed as JSON arrays)"
    )
    defaults = WebhookOptions()
    hooks.add_argument(
        "--webhook-header",
        action="append",
        metavar="'NAME: VALUE'",
        help="send this header with every request (repeatable), e.g. 'Authorization: Bearer TOKEN'",
    )
    hooks.add_argument(
        "--webhook-batch",
        type=int,
        default=defaults.batch,
        metavar="N",
        help=f"at most N reports a request (default: {defaults.batch})",
    )
    hooks.add_argument(
        "--webhook-wait",
        default=_seconds(defaults.wait_s),
        metavar="DURATION",
        help="send a batch once its first report waited this long (default: "
        f"{_seconds(defaults.wait_s)})",
    )
    hooks.add_argument(
        "--webhook-timeout",
        default=_seconds(defaults.timeout_s),
        metavar="DURATION",
        help=f"give up on a request after this long (default: {_seconds(defaults.timeout_s)})"
        ", and try it again",
    )
    hooks.add_argument(
        "--webhook-retry-for",
        default=_seconds(defaults.retry_for_s),
        metavar="DURATION",
        help="retry a batch (5xx, 408, 429, no connection, a timeout) with backoff for "
        "this long before it is counted as not delivered (default: "
        f"{_seconds(defaults.retry_for_s)})",
    )
    hooks.add_argument(
        "--webhook-buffer",
        type=int,
        default=defaults.buffer,
        metavar="N",
        help="reports waiting for delivery at most; when it is full the run waits "
        f"(default: {defaults.buffer})",
    )
    hooks.add_argument(
        "--webhook-flush-wait",
        default=_seconds(defaults.flush_wait_s),
        metavar="DURATION",
        help="at the end of the run, wait this long at most for the reports still "
        "waiting to be delivered; those left are counted as not delivered (default: "
        f"{_seconds(defaults.flush_wait_s)})",
    )


def _seconds(value: float) -> str:
    return format_duration(round(value * 1000))


@dataclass(frozen=True)
class LiveSettings:
    """What the live options decided: an idle clock (or None), whether to follow the
    input, and the webhook's options (used when the output is a URL)."""

    idle: IdleClock | None
    follow: bool
    webhook: WebhookOptions


def live_settings(args: argparse.Namespace, fmt: str, allowed_delay_ms: int) -> LiveSettings:
    """The live options checked; ValueError with a usage message."""
    idle = None
    if args.idle is not None:
        try:
            idle_ms = parse_duration_option(args.idle)
        except ValueError as error:
            raise ValueError(f"--idle: {error}") from None
        idle = IdleClock(idle_ms, allowed_delay_ms)
    if args.follow:
        if args.input == "-":
            raise ValueError("--follow reads a file (--input FILE), not standard input")
        if fmt != "jsonl":
            raise ValueError(f"--follow reads JSON lines, not {fmt}")
        if codec_of(args.input):
            raise ValueError("--follow reads a file as it is written, not compressed")
    if idle is not None and not args.follow and fmt not in ("jsonl", "csv"):
        raise ValueError(f"--idle reads JSON lines or CSV, not {fmt}")
    webhook = _webhook_options(args)
    return LiveSettings(idle, args.follow, webhook)


def _webhook_options(args: argparse.Namespace) -> WebhookOptions:
    durations = {}
    for name in ("wait", "timeout", "retry_for", "flush_wait"):
        text = getattr(args, f"webhook_{name}")
        try:
            durations[name] = parse_duration_option(text) / 1000
        except ValueError as error:
            flag = "--webhook-" + name.replace("_", "-")
            raise ValueError(f"{flag}: {error}") from None
    if args.webhook_batch < 1:
        raise ValueError("--webhook-batch must be at least 1")
    if args.webhook_buffer < args.webhook_batch:
        raise ValueError("--webhook-buffer must hold at least one batch (--webhook-batch)")
    if durations["timeout"] <= 0:
        raise ValueError("--webhook-timeout must be more than 0s")
    headers = []
    for header in args.webhook_header or ():
        name, colon, value = header.partition(":")
        if not colon or not name.strip() or any(c in header for c in "\r\n"):
            raise ValueError(f"--webhook-header: expected 'NAME: VALUE', not {header!r}")
        headers.append((name.strip(), value.strip()))
    return WebhookOptions(
        headers=tuple(headers),
        batch=args.webhook_batch,
        wait_s=durations["wait"],
        timeout_s=durations["timeout"],
        retry_for_s=durations["retry_for"],
        buffer=args.webhook_buffer,
        flush_wait_s=durations["flush_wait"],
    )


def notice(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Where `--follow` says a file was replaced: standard error, unless `--quiet`."""
    if args.quiet:
        return None

    def say(line: str) -> None:
        print(f"cep run: --follow: {line}", file=sys.stderr, flush=True)

    return say


__all__ = ["LiveSettings", "add_live_options", "is_webhook", "live_settings", "notice"]
