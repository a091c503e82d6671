"""What to do, said when a run's input mostly went wrong in one way: a hint names the
option that fixes it, so that a run whose input was all rejected does not end in
silence."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from cep.io.time import UNIT_NAMES

_DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet", ".arrow", ".feather",
                  ".ipc", ".gz", ".zst")  # fmt: skip

#: reject kind -> what to do about it, for most of a run's records rejected so
_HINTS = {
    "late": "the events are out of time order: --allowed-delay DURATION (e.g. 1m) holds "
    "each event back that long to put them in order",
    "no type": "records need an event type: --type NAME gives one to every record that has "
    "none, --type-field FIELD names the field that holds it (default: type)",
    "missing time": "records need a time: --time-field FIELD names the field that holds it "
    "(default: ts)",
    "bad time": "times are read as epoch numbers (--time-unit ms|s|us|ns) or ISO-8601 "
    "text; --time-field FIELD names the field that holds the time",
    "time out of range": "times must fall in the years 1970-2199 as read: --time-unit "
    "ms|s|us|ns says which unit numeric times are in (default: ms)",
    "not UTF-8": "the input is not UTF-8 text: a compressed file, or binary data?",
    "bad json": "the input is not JSON lines: --format csv|parquet|arrow reads other formats",
}
_CSV_HEADER = "a CSV file's first line must name the fields (type, ts, ...)"


def data_paths(paths: list[str]) -> list[str]:
    """The rule paths that look like event data (a data file's name, or text starting
    with `{` or `[`): given where `--input` was meant."""
    found = []
    for name in paths:
        path = Path(name)
        if not path.is_file():
            continue
        if path.suffix.lower() in _DATA_SUFFIXES:
            found.append(name)
            continue
        try:
            with path.open("rb") as file:
                start = file.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")
        except OSError:
            continue
        if start[:1] in (b"{", b"["):
            found.append(name)
    return found


def input_hints(records: int, rejected: Counter[str], fmt: str) -> list[str]:
    """A line for each reason that rejected at least half of the records read."""
    if not records:
        return []
    lines = []
    for kind, count in rejected.most_common():
        if 2 * count < records:
            break
        hint = _HINTS.get(kind)
        if fmt == "csv" and kind in ("no type", "missing time", "bad time"):
            hint = f"{hint}; {_CSV_HEADER}" if hint else _CSV_HEADER
        if hint:
            lines.append(f"hint: {count} of {records} records rejected ({kind}): {hint}")
    return lines


#: event times (epoch ms) from here up to `_AS_MS_END` are in the first days of 1970 to
#: early 1973 as milliseconds: times in seconds of any recent year read as milliseconds
_AS_MS_START, _AS_MS_END = 10**8, 10**11


class TimeUnitCheck:
    """The first event times read, looked at once: times that look like another unit than
    `--time-unit` says (seconds read as milliseconds land in January 1970) get one
    warning on standard error naming `--time-unit`."""

    def __init__(self, unit: str, quiet: bool) -> None:
        self.unit, self.quiet = unit, quiet
        self.done = quiet

    def __call__(self, batches: Iterable[Any]) -> Iterator[Any]:
        for batch in batches:
            if not self.done and len(batch):
                self.done = True
                warning = unit_warning(batch.ts, self.unit)
                if warning:
                    print(warning, file=sys.stderr, flush=True)
            yield batch


def unit_warning(ts: np.ndarray, unit: str) -> str | None:
    """A warning when most of these event times (epoch ms) fall in 1970-1973, where no
    feed's times are, but seconds (or, read as us or ns, milliseconds) read too small do."""
    middle = int(np.median(ts))
    if not _AS_MS_START <= middle < _AS_MS_END:
        return None
    when = datetime.fromtimestamp(middle / 1000, UTC).strftime("%Y-%m-%d")
    larger = {"ms": "s", "us": "ms", "ns": "us"}.get(unit)
    if larger is None:
        return None
    return (
        f"cep run: warning: the event times read fall around {when} as {UNIT_NAMES[unit]}: "
        f"if they are in {UNIT_NAMES[larger]}, give --time-unit {larger}"
    )


def never_arrived(seen: set[str], rules: list[Any]) -> list[str]:
    """A line for each event type some rule waits for (a term not under `not`) of which
    no event was read: a misspelt type, or a feed that lacks it."""
    waiting: dict[str, list[str]] = {}
    for rule in rules:
        for name in dict.fromkeys(_awaited(rule.rule.pattern)):
            if name not in seen:
                waiting.setdefault(name, []).append(rule.name)
    lines = []
    for name, names in sorted(waiting.items()):
        who = f"rule {names[0]} waits" if len(names) == 1 else f"rules {', '.join(names)} wait"
        lines.append(f"no {name} events were read; {who} for them")
    return lines


def _awaited(pattern: Any) -> Iterator[str]:
    """The event types of a pattern's terms that are not under `not`."""
    from cep.lang import ast

    match pattern:
        case ast.Term(event_type=name):
            if name is not None:
                yield name
        case ast.Negation():
            return
        case ast.Quantified(body=body):
            yield from _awaited(body)
        case ast.Sequence(items=items) | ast.AllOf(members=items):
            for item in items:
                yield from _awaited(item)
        case ast.Alternation(options=options):
            for option in options:
                yield from _awaited(option)
