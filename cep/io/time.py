"""Event times: epoch milliseconds from an integer or an ISO-8601 string.

An integer is milliseconds since the Unix epoch (a float with no fraction is taken as
one); a string is an ISO-8601 timestamp as `datetime.fromisoformat` reads it, with no
zone meaning UTC and `Z` accepted; from Python, a `datetime` (naive meaning UTC).
Booleans, other floats, out-of-range numbers and anything else are not times. Times must
fit a signed 64-bit integer.

An event's own time may be given in another unit (`--time-unit`, `TIME_UNITS`): a number
is then read in seconds, microseconds or nanoseconds since the epoch and floored to the
millisecond (`event_ms`, `ints_to_ms`); with seconds a float may have a fraction. Text
and `datetime`s carry their own unit. Declared `time` fields are always milliseconds.

An event's own time must also fall in a plausible window, `TIME_WINDOW` (from
1970-01-01 up to, not including, 2200-01-01 UTC): a single event stamped at the end of
time would otherwise move the watermark past every later event. Readers reject an event
whose time lies outside with reason `time out of range` (`TIME_OUT_OF_RANGE`);
`cep.Engine.push` raises `EventError`. Declared `time` fields are not bound by it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

MIN_MS = -(2**63)
MAX_MS = 2**63 - 1

MISSING_TIME = "missing time"
BAD_TIME = "bad time"
TIME_OUT_OF_RANGE = "time out of range"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


#: the event times accepted: epoch ms from 1970-01-01 (inclusive) to 2200-01-01 (exclusive)
TIME_WINDOW = (0, (datetime(2200, 1, 1, tzinfo=UTC) - _EPOCH) // _ONE_MS)


def in_window(ms: int) -> bool:
    """Whether an event time (epoch ms) lies in `TIME_WINDOW`."""
    return TIME_WINDOW[0] <= ms < TIME_WINDOW[1]


def window_mask(ts: np.ndarray) -> np.ndarray:
    """`in_window` for each of an int64 array of event times."""
    return (ts >= TIME_WINDOW[0]) & (ts < TIME_WINDOW[1])  # type: ignore[no-any-return]


class BadTime(ValueError):
    """A value that is not a time."""


def parse_time(value: object) -> int:
    """`value` as epoch milliseconds; raises `BadTime` when it is not a time."""
    if isinstance(value, bool):
        raise BadTime(f"not a time: {value!r}")
    if isinstance(value, datetime):
        return datetime_ms(value)
    if isinstance(value, int):
        ms = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise BadTime(f"not a whole number of milliseconds: {value!r}")
        ms = int(value)
    elif isinstance(value, str):
        ms = parse_iso(value)
    else:
        raise BadTime(f"not a time: {value!r}")
    if not MIN_MS <= ms <= MAX_MS:
        raise BadTime(f"time out of range: {value!r}")
    return ms


#: `--time-unit`: each unit an event's numeric time may be in, as (multiply, divide) to
#: make milliseconds
TIME_UNITS = {"ms": (1, 1), "s": (1000, 1), "us": (1, 1000), "ns": (1, 1_000_000)}
UNIT_NAMES = {"ms": "milliseconds", "s": "seconds", "us": "microseconds", "ns": "nanoseconds"}


def event_ms(value: Any, unit: str = "ms") -> int | None:
    """An event's time read as `unit` where it is a number (`TIME_UNITS`; floored to the
    millisecond, and with `ms` a float must be whole), as `parse_time` reads it
    otherwise; None where it is not a time."""
    if unit == "ms" or isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return parse_time(value)
        except BadTime:
            return None
    multiply, divide = TIME_UNITS[unit]
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        ms = math.floor(value * multiply / divide)
    else:
        ms = value * multiply // divide
    return ms if MIN_MS <= ms <= MAX_MS else None


def ints_to_ms(ts: np.ndarray, unit: str) -> np.ndarray:
    """Integer event times read in `unit`, as epoch ms (floored); those that do not fit
    in int64 as `MIN_MS`, outside `TIME_WINDOW` (so rejected as out of range)."""
    multiply, divide = TIME_UNITS[unit]
    if multiply > 1:
        fits = (ts > MIN_MS // multiply) & (ts < MAX_MS // multiply)
        return np.where(fits, ts * multiply, MIN_MS)  # type: ignore[no-any-return]
    return ts // divide if divide > 1 else ts  # type: ignore[no-any-return]


def datetime_ms(moment: datetime) -> int:
    """A `datetime` as epoch milliseconds (naive: UTC; a fraction of a ms floored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def parse_iso(text: str) -> int:
    """An ISO-8601 timestamp as epoch milliseconds (no zone means UTC; sub-ms is floored)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise BadTime(f"not an ISO-8601 time: {text!r}") from error
    return datetime_ms(moment)
