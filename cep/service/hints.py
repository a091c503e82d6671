"""What to do, said when a run's input mostly went wrong in one way: a hint names the
option that fixes it, so that a run whose input was all rejected does not end in
silence."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

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
    "bad time": "times are read as epoch milliseconds or ISO-8601 text; "
    "--time-field FIELD names the field that holds the time",
    "time out of range": "times are read as epoch milliseconds (years 1970-2200); "
    "times in microseconds or nanoseconds are out of that range",
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
