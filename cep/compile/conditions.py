"""Edge conditions of the compiled NFA, kept symbolic so they can be printed, analysed
and compiled once into Python closures.

A condition is evaluated for a candidate event in the context of one run (its history,
`path`) and a per-event `cache` of the run-independent term tests.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cep.runtime.event import Event

#: `test(event, path, cache) -> bool`; `None` stands for "always true"
EdgeTest = Callable[[Event, Any, dict], bool] | None


@dataclass(eq=False)
class TermTest:
    """One term of the pattern: its type and condition, compiled.

    `test(event, path)` is true when `event` can bind the term in a run whose history is
    `path`; `independent` terms do not look at the history, so their result is computed
    once per event and shared by every run.
    """

    index: int
    name: str
    source: str
    test: Callable[[Event, Any], bool]
    independent: bool
    event_types: frozenset[str] | None  # None: any type


@dataclass(frozen=True, eq=False)
class Cond(ABC):
    """Base of symbolic conditions."""

    @abstractmethod
    def render(self) -> str:
        """The condition as text (`cep explain`)."""

    @abstractmethod
    def compile(self) -> EdgeTest:
        """The condition as a closure of (event, run history, per-event cache)."""

    @abstractmethod
    def holds_when_no_term_does(self) -> bool:
        """The value when every term test is false (used to find irrelevant events)."""


@dataclass(frozen=True, eq=False)
class TrueCond(Cond):
    def render(self) -> str:
        return "true"

    def compile(self) -> EdgeTest:
        return None

    def holds_when_no_term_does(self) -> bool:
        return True


TRUE = TrueCond()


@dataclass(frozen=True, eq=False)
class TermCond(Cond):
    term: TermTest

    def render(self) -> str:
        return self.term.name

    def compile(self) -> EdgeTest:
        test = self.term.test
        if not self.term.independent:
            return lambda event, path, cache: test(event, path)
        key = self.term.index

        def cached(event: Event, path: Any, cache: dict) -> bool:
            result = cache.get(key)
            if result is None:
                result = cache[key] = test(event, None)
            return result

        return cached

    def holds_when_no_term_does(self) -> bool:
        return False


@dataclass(frozen=True, eq=False)
class WhereCond(Cond):
    """The rule's `where`, evaluated as if the candidate event completed the match."""

    test: Callable[[Event, Any], bool]
    #: the variable the candidate event binds
    var: str | None = None

    def render(self) -> str:
        return "where"

    def compile(self) -> EdgeTest:
        test = self.test
        return lambda event, path, cache: test(event, path)

    def holds_when_no_term_does(self) -> bool:
        return True  # only ever and-ed with a term test


@dataclass(frozen=True, eq=False)
class NotCond(Cond):
    inner: Cond

    def render(self) -> str:
        text = self.inner.render()
        return f"not {text}" if isinstance(self.inner, TermCond | TrueCond) else f"not ({text})"

    def compile(self) -> EdgeTest:
        inner = self.inner.compile()
        if inner is None:
            return lambda event, path, cache: False
        return lambda event, path, cache: not inner(event, path, cache)

    def holds_when_no_term_does(self) -> bool:
        return not self.inner.holds_when_no_term_does()


@dataclass(frozen=True, eq=False)
class AndCond(Cond):
    items: tuple[Cond, ...] = field(default=())

    def render(self) -> str:
        return " and ".join(_wrap(item, AndCond) for item in self.items)

    def compile(self) -> EdgeTest:
        tests = [t for t in (item.compile() for item in self.items) if t is not None]
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        if len(tests) == 2:
            first, second = tests
            return lambda event, path, cache: (
                first(event, path, cache) and second(event, path, cache)
            )
        return lambda event, path, cache: all(t(event, path, cache) for t in tests)

    def holds_when_no_term_does(self) -> bool:
        return all(item.holds_when_no_term_does() for item in self.items)


@dataclass(frozen=True, eq=False)
class OrCond(Cond):
    items: tuple[Cond, ...] = field(default=())

    def render(self) -> str:
        return " or ".join(_wrap(item, OrCond) for item in self.items)

    def compile(self) -> EdgeTest:
        tests = [item.compile() for item in self.items]
        if any(t is None for t in tests):
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda event, path, cache: any(t(event, path, cache) for t in tests)

    def holds_when_no_term_does(self) -> bool:
        return any(item.holds_when_no_term_does() for item in self.items)


def _wrap(item: Cond, parent: type) -> str:
    text = item.render()
    return (
        f"({text})" if isinstance(item, AndCond | OrCond) and not isinstance(item, parent) else text
    )


def conj(*items: Cond) -> Cond:
    """`a and b`, flattening nested conjunctions and dropping `true`."""
    flat: list[Cond] = []
    for item in items:
        if isinstance(item, AndCond):
            flat.extend(item.items)
        elif not isinstance(item, TrueCond):
            flat.append(item)
    if not flat:
        return TRUE
    return flat[0] if len(flat) == 1 else AndCond(tuple(flat))


def disj(items: list[Cond]) -> Cond:
    """`a or b`, flattening nested disjunctions."""
    flat: list[Cond] = []
    for item in items:
        flat.extend(item.items if isinstance(item, OrCond) else [item])
    return flat[0] if len(flat) == 1 else OrCond(tuple(flat))
