"""Regular expressions for `=~`, in RE2: matching takes time linear in the text whatever
the pattern, so no rule and no event can make a condition run away (Python's `re`
backtracks: `(a+)+$` against 50 a's and a b never ends).

One compile for the checker (a literal pattern) and for the engines (a pattern read from
event data), so both accept the same patterns. RE2 reads an overlong repeat count such as
`a{99999999999}` as literal text; such a count is refused here instead, like any count
over RE2's limit of 1000 (see docs/LANGUAGE.md, "Regular expressions").
"""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from typing import Any

#: RE2's largest repeat count (`{n}`, `{n,}`, `{n,m}`)
MAX_REPEAT = 1000
#: compiled patterns from event data kept (least recently used dropped first)
CACHE_SIZE = 1024

_REPEAT = re.compile(
    r"\\Q.*?(?:\\E|\Z)|\\.|\[\^?\]?(?:\\.|[^\]\\])*\]?|\{(\d+)(?:,(\d*))?\}", re.DOTALL
)


def _over_limit(pattern: str) -> str | None:
    """An error for a repeat count over `MAX_REPEAT` outside a class and not escaped:
    RE2 rejects 1001..2**31 itself but takes a longer number as literal text."""
    for found in _REPEAT.finditer(pattern):
        for count in found.groups():
            if count and (len(count) > 9 or int(count) > MAX_REPEAT):
                return f"repeat count {count} is over the limit of {MAX_REPEAT}"
    return None


@functools.cache
def _re2() -> tuple[Any, Any]:
    """RE2 and its options, imported when a rule or an event first has a pattern."""
    import re2

    options = re2.Options()
    options.log_errors = False  # errors are diagnosed or counted, not printed by RE2
    return re2, options


def compile_regex(pattern: str) -> tuple[Any, str | None]:
    """`(compiled, None)`, or `(None, why)` for a pattern RE2 does not take."""
    problem = _over_limit(pattern)
    if problem is not None:
        return None, problem
    re2, options = _re2()
    try:
        return re2.compile(pattern, options), None
    except re2.error as error:
        message = error.args[0] if error.args else str(error)
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        return None, str(message)
    except (ValueError, OverflowError, TypeError) as error:  # e.g. a lone surrogate
        return None, str(error)


def search(compiled: Any, text: str) -> bool:
    """Whether `compiled` matches somewhere in `text`. RE2 reads UTF-8, which a lone
    surrogate (from a JSON `\\ud800` escape) is not: it is searched as U+FFFD."""
    try:
        return compiled.search(text) is not None
    except UnicodeEncodeError:
        cleaned = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        return compiled.search(cleaned) is not None


class DataPatterns:
    """Patterns read from event data, compiled once each (a bounded LRU), and a count
    of the tests that met one RE2 does not take (each is false)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.bad = 0
        self._compiled: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def search(self, text: str, pattern: str) -> bool:
        """Whether `pattern` matches somewhere in `text`; false (counted) if it is bad."""
        cache = self._compiled
        with self._lock:
            compiled = cache.get(pattern, _MISSING)
            if compiled is _MISSING:
                compiled = compile_regex(pattern)[0]
                cache[pattern] = compiled
                if len(cache) > self.size:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(pattern)
            if compiled is None:
                self.bad += 1
                return False
        return search(compiled, text)


_MISSING = object()

#: the process's cache; `bad` only grows (a run reports how much it grew while it ran)
DATA_PATTERNS = DataPatterns()


def bad_data_patterns() -> int:
    """Tests so far, in this process, whose pattern from data RE2 did not take."""
    return DATA_PATTERNS.bad
