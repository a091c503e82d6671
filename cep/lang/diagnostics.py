"""Errors and warnings about rule files, rendered the way a good compiler renders them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from cep.lang.ast import Span

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One message about a place in a rule file."""

    severity: Severity
    message: str
    span: Span
    #: extra lines shown under the source excerpt ("did you mean ...?", what was expected)
    notes: tuple[str, ...] = field(default=())
    #: a short stable identifier of the kind of problem, for editors and tests
    code: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def headline(self) -> str:
        return escape_controls(f"{self.span.location}: {self.severity}: {self.message}")

    def render(self, source: str | None) -> str:
        """The headline, the source line with a caret under the spot, and the notes."""
        lines = [self.headline(), *_excerpt(source, self.span)]
        lines.extend(escape_controls(f"  = {note}") for note in self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            **self.span._asdict(),  # file, line, column, end_line, end_column
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "notes": list(self.notes),
        }


#: the widest excerpt shown; a longer line is cut around the spot
EXCERPT_WIDTH = 120


def escape_controls(text: str) -> str:
    """`text` with control characters (NUL, escape, ...) written as `\\xNN` escapes, so
    a diagnostic never sends them to the terminal."""
    if text.isprintable():
        return text
    return "".join(_escape_char(char) for char in text)


def _escape_char(char: str) -> str:
    if char.isprintable() or char == " ":
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _excerpt(source: str | None, span: Span) -> list[str]:
    if source is None:
        return []
    source_lines = source.splitlines()
    if not 1 <= span.line <= len(source_lines):
        return []
    raw = source_lines[span.line - 1].removeprefix("\ufeff" if span.line == 1 else "")
    start = max(span.column - 1, 0)
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = 1
    width = max(1, min(width, max(len(raw) - start, 1)))
    # escape character by character, moving the caret by what each one becomes
    pieces = [" " if char == "\t" else _escape_char(char) for char in raw]
    shown_start = sum(map(len, pieces[:start]))
    shown_width = max(1, sum(map(len, pieces[start : start + width])))
    text = "".join(pieces)
    if len(text) > EXCERPT_WIDTH:
        cut = max(0, min(shown_start - EXCERPT_WIDTH // 3, len(text) - EXCERPT_WIDTH))
        text = ("..." if cut else "") + text[cut : cut + EXCERPT_WIDTH]
        if cut + EXCERPT_WIDTH < len("".join(pieces)):
            text += "..."
        shown_start = shown_start - cut + (3 if cut else 0)
        shown_width = max(1, min(shown_width, EXCERPT_WIDTH - (shown_start - (3 if cut else 0))))
    gutter = f"{span.line:>4} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * shown_start + "^" + "~" * (shown_width - 1)
    return [gutter + text, caret]


def misspelling_of(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate `name` is most likely a misspelling of: one within a small edit
    distance (letters added, dropped, changed or swapped: at most 1 for names of 4 or 5
    letters, 2 for longer ones; names of 3 letters or fewer, `A` beside `B`, are too
    short to tell), the nearest first; None when none is that close."""
    if len(name) <= 3:
        return None
    limit = 1 if len(name) <= 5 else 2
    found = [(edit_distance(name, c), c) for c in sorted(set(candidates)) if c != name]
    near = [(d, c) for d, c in found if d <= limit]
    return min(near)[1] if near else None


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps
    of two neighbouring letters, each counting one."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def did_you_mean(name: str, candidates: Iterable[str]) -> tuple[str, ...]:
    """A "did you mean ...?" note when a candidate is close to `name`, else nothing."""
    pool = sorted({c for c in candidates if c != name})
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return (f"help: did you mean `{close[0]}`?",) if close else ()


class DiagnosticSink:
    """Collects diagnostics in the order they are found."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, message: str, span: Span, *notes: str, code: str = "") -> None:
        self.items.append(Diagnostic("error", message, span, tuple(notes), code))

    def warning(self, message: str, span: Span, *notes: str, code: str = "") -> None:
        self.items.append(Diagnostic("warning", message, span, tuple(notes), code))

    def declared_twice(self, what: str, span: Span, first: Span, code: str) -> None:
        """`what` (such as "rule `x`") declared again at `span`, first at `first`."""
        note = f"note: first declared at {first.location}"
        self.error(f"{what} is declared twice", span, note, code=code)

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.is_error]


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int]:
    s = diagnostic.span
    return (s.file, s.line, s.column)
