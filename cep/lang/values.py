"""Literal values of the language: strings, durations and their canonical spelling."""

from __future__ import annotations

import operator
import re

#: the comparison operators as plain functions (they also work element-wise on arrays)
OPERATORS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
#: `a OP b` is `b FLIPPED[OP] a`
FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "0": "\0"}
_ENCODED = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def parse_duration(text: str) -> int:
    """`1m30s` -> 90000 (milliseconds)."""
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _DURATION_PART.findall(text))


_DURATION_TEXT = re.compile(r"(?:\d+(?:ms|s|m|h|d))+")


def parse_duration_option(text: str) -> int:
    """A duration given as an option (`5s`, `1m30s`, `250ms`); raises `ValueError` for
    anything else, naming what is expected."""
    cleaned = text.strip()
    if not _DURATION_TEXT.fullmatch(cleaned):
        raise ValueError(
            f"expected a duration such as 5s, 1m30s or 250ms (units ms, s, m, h, d), not {text!r}"
        )
    return parse_duration(cleaned)


def format_duration(ms: int) -> str:
    """90000 -> `1m30s`; the inverse of `parse_duration` for non-negative values."""
    if ms == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNIT_MS[unit]
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)


def decode_string(token: str) -> tuple[str, str | None]:
    """The value of a double-quoted string token, and a problem with it if there is one.

    Known escapes are `\\n \\t \\r \\" \\\\ \\/ \\0 \\uXXXX`; any other backslash is
    kept as written, so regular expressions such as `"\\d+"` read naturally.
    """
    body = token[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\" or i + 1 >= len(body):
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u":
            digits = body[i + 2 : i + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append(chr(int(digits, 16)))
                i += 6
            else:
                return "".join(out), "`\\u` must be followed by four hexadecimal digits"
        else:
            out.append(char + nxt)
            i += 2
    return "".join(out), None


def encode_string(value: str) -> str:
    """A double-quoted token whose `decode_string` is `value`."""
    out = ['"']
    for char in value:
        if char in _ENCODED:
            out.append(_ENCODED[char])
        elif ord(char) < 0x20 or 0xD800 <= ord(char) <= 0xDFFF or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)
