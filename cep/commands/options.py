"""Options that `cep run` and `cep serve` share: which rules run, and how an event's type
and time are read from a record."""

from __future__ import annotations

import argparse

from cep.io.time import TIME_UNITS
from cep.runtime.engine import DEFAULT_MAX_RUNS_PER_KEY


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
