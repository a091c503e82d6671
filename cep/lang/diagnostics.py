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
        return f"{self.span.location}: {self.severity}: {self.message}"

    def render(self, source: str | None) -> str:
        """The headline, the source line with a caret under the spot, and the notes."""
        lines = [self.headline()]
        excerpt = _excerpt(source, self.span)
        if excerpt:
            lines.extend(excerpt)
        lines.extend(f"  = {note}" for note in self.notes)
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            **self.span._asdict(),  # file, line, column, end_line, end_column
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "notes": list(self.notes),
        }


def _excerpt(source: str | None, span: Span) -> list[str]:
    if source is None:
        return []
    source_lines = source.splitlines()
    if not 1 <= span.line <= len(source_lines):
        return []
    text = source_lines[span.line - 1].expandtabs(1)
    gutter = f"{span.line:>4} | "
    start = max(span.column - 1, 0)
    if span.end_line == span.line and span.end_column > span.column:
        width = span.end_column - span.column
    else:
        width = 1
    width = max(1, min(width, max(len(text) - start, 1)))
    caret = " " * (len(gutter) - 2) + "| " + " " * start + "^" + "~" * (width - 1)
    return [gutter + text, caret]


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

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if not d.is_error]


def sort_key(diagnostic: Diagnostic) -> tuple[str, int, int]:
    s = diagnostic.span
    return (s.file, s.line, s.column)
