"""A brute-force matcher for a small family of patterns, written from the semantics.

It never simulates the NFA: it enumerates the assignments of events to terms (every
term binds an increasing run of event positions, terms in order) and keeps those the
rules below allow. It is the reference the property tests of `tests/test_oracle.py`
hold the interpreter to.

The family: a sequence of 1 to 4 terms `v = E[cond]`, where `cond` tests the candidate
event's own field `v`, or compares it with `a.v` when the first term `a` is a plain
term (then `a` is bound at a run's start, so every condition is fixed per start); each
term optionally quantified (`?`, `{n}`, `{n,m}`, `{n,}`, `+`, `*`, `{0,m}`; greedy or
reluctant; repetitions relaxed, `consecutive` or `any`); the operators `->`, `=>`,
`->>` between terms; an optional `within D`; `skip none`, `past last` or `to next`;
optionally `partition by k`. A repetition written greedy right before an optional term
(`T+ -> U?`) is outside the family: the checker rejects it, as Flink does
(docs/design/nfa.md 2.10, 7.5).

Notation: `C_j` is term j's condition (given the run's `a`); a *bound event* is one that
an assignment binds; for two bound events p < q, "(p, q)" are the events of the
partition strictly between them. A term that binds nothing is *empty* (only optional
terms can be).

Which assignments are matches (LANGUAGE.md "Patterns", Semantics 3-4, Settled details;
docs/design/nfa.md 2.2-2.6, 6.1-6.5, 6.13, 6.17):

1. Every bound event satisfies its term's condition; term j binds between `lo_j` and
   `hi_j` events (`?` and `{0,m}` and `*` may bind none); at least one event is bound.
2. Entry of a term. Let q be the first event of a non-empty term j and p the last bound
   event before it (of the nearest non-empty earlier term: a term that bound nothing
   plays no part, so its own operator is ignored, nfa.md 6.5 and flink/README Doubt 10).
   By term j's operator: `->` no event in (p, q) satisfies C_j (q is the first later
   event that satisfies it); `=>` q is the event right after p; `->>` no constraint.
   A match whose first bound term is j starts at q: any event satisfying C_j starts
   a run (the start state skips the empty optional terms before it).
3. Repetitions. Between consecutive events p < q of one term j: relaxed, no event in
   (p, q) satisfies C_j; `consecutive`, q is right after p; `any`, no constraint.
4. Greedy (Settled "Greedy and reluctant", nfa.md 2.2, 6.1, 6.2). A repetition is
   greedy when it is not reluctant, not `?`, not `any`, and is not a fixed count:
   Flink rewrites the state after `times(n, m)` only when `n != m` (with `n` raised to 1
   for `{0,m}`, so `{0,1}` is never greedy) and after every unbounded loop (nfa.md 2.4,
   2.5). The state after a greedy term g, i.e. the first state of term g + 1, has its
   edges and-ed with `not C_g`. So, where q is the first event of term g + 1 and p the
   last bound event before q: no event in (p, q] satisfies C_g (an event satisfying C_g
   while the run waits for term g + 1 is taken by the loop, or kills the run when the
   loop is full or strict). If nothing is bound before q, only q itself is tested (the
   start run never waits). A greedy last term changes nothing (its sink is final).
5. Window: `within D` means last.ts - first.ts < D, strictly.
6. A match completes at its last bound event (a repetition at the end completes as soon
   as its minimum is reached, and every longer extension is a match of its own; a
   trailing optional term that bound nothing completes with the term before it).

Reports (Semantics 6-7, Settled "Ties" and "Time", nfa.md 4):

- `skip none`: every match, ordered by its completing event (arrival order), then by
  its bound events in pattern order, earliest first (a shorter prefix first); the first
  of these is its first event. A match is reported at its completing event's `ts`.
- `skip past last` / `skip to next`, per partition: go through the start events in
  arrival order. A start that an earlier reported match pruned is passed over (past
  last prunes the starts at or before that match's last event, to next those at or
  before its first). Otherwise, if the start has matches, its first one (earliest
  completing event, then the tie order above) is reported with its completing event's
  `ts` (a held match keeps its time), and prunes as said. A start without matches
  holds back the matches of later starts until its last run ends; if one waits past
  the end of the input, nothing after it is reported.
- When a report is released (which orders reports of different partitions): under
  `none`, at its completing event; otherwise at the later of its completing event, the
  release of the partition's previous report, and the end of every earlier unpruned
  start's last run. A run ends at the event that it cannot skip, or when its window
  closes: the window timer of start s fires just before the first event with
  ts >= s.ts + D (at the end of the input only with `flush`); timers that fire together
  go by close time, then by the event that set them (a partition's first event at
  s.ts that left a run waiting). A run waits after its last bound event p (term j,
  rules 1-5 holding for what it bound so far) while every later event is skippable:
  inside term j (fewer than `hi_j` events; relaxed, the event does not satisfy C_j;
  consecutive, never; any, always), or for a later term j' (term j complete, the terms
  between optional, the event skippable before j' as in rule 2, and not satisfying
  C_{j'-1} if term j'-1 is greedy). Timers fire before the event; reports released
  together go in start order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]
#: a match: the events' positions (indexes into the input), per term, in pattern order
Binding = tuple[tuple[int, ...], ...]

OPS = ("->", "=>", "->>")
SKIPS = ("none", "past last", "to next")


_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
    "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y,
}


@dataclass(frozen=True)
class Cond:
    """A condition on the candidate event's field `v`: `v OP value` (`op` one of
    `== != < <= > >=`), `v in [...]`, `true` (no condition), or, with `ref`, `v OP a.v`
    where `a` is the first term (then a plain term, so `a.v` is known from the start)."""

    op: str
    value: int | tuple[int, ...] = 0
    ref: bool = False

    def holds(self, event: Event, first: Event | None = None) -> bool:
        """Whether `event` satisfies it; `first` is the event bound to `a`, if any."""
        v = event["v"]
        value = self.value
        if self.ref:
            return first is not None and _COMPARE[self.op](v, first["v"])
        if self.op == "true":
            return True
        if self.op == "in":
            assert isinstance(value, tuple)
            return v in value
        assert isinstance(value, int)
        return _COMPARE[self.op](v, value)

    def text(self) -> str:
        if self.ref:
            return f"[v {self.op} a.v]"
        if self.op == "true":
            return ""
        if self.op == "in":
            assert isinstance(self.value, tuple)
            return f"[v in [{', '.join(map(str, self.value))}]]"
        return f"[v {self.op} {self.value}]"


@dataclass(frozen=True)
class Term:
    """One term: `var = E[cond]` with a quantifier.

    `form` is `""` (exactly one), `"?"`, `"{n}"`, `"{n,m}"`, `"{n,}"`, `"+"` or `"*"`;
    `lo`/`hi` are the bounds it stands for (`hi` None: unbounded). `op` relates the term
    to the one before (ignored on the first term)."""

    var: str
    cond: Cond
    form: str = ""
    lo: int = 1
    hi: int | None = 1
    reluctant: bool = False
    contiguity: str = "relaxed"
    op: str = "->"

    @property
    def optional(self) -> bool:
        return self.lo == 0

    @property
    def greedy(self) -> bool:
        """Whether the state after this term gets Flink's greedy rewrite (rule 4)."""
        if self.reluctant or self.form in ("", "?") or self.contiguity == "any":
            return False
        return self.hi is None or max(self.lo, 1) != self.hi

    def quantifier(self) -> str:
        """The quantifier as written in a rule."""
        if self.form in ("", "?", "+", "*"):
            text = self.form
        elif self.form == "{n}":
            text = f"{{{self.lo}}}"
        elif self.form == "{n,}":
            text = f"{{{self.lo},}}"
        else:
            text = f"{{{self.lo},{self.hi}}}"
        if self.reluctant:
            text += "?"
        if self.contiguity != "relaxed":
            text += " " + self.contiguity
        return text

    def text(self) -> str:
        return f"{self.var} = E{self.cond.text()}{self.quantifier()}"

    def skips_between(self, event: Event, first: Event | None) -> bool:
        """Whether `event` may lie between two repetitions of this term (rule 3)."""
        if self.contiguity == "consecutive":
            return False
        return self.contiguity == "any" or not self.cond.holds(event, first)

    def skips_before(self, event: Event, first: Event | None) -> bool:
        """Whether `event` may lie between the previous bound event and this term's first
        event (rule 2)."""
        if self.op == "=>":
            return False
        return self.op == "->>" or not self.cond.holds(event, first)


@dataclass(frozen=True)
class Pattern:
    """A rule of the family: terms, window (ms), skip strategy, partitioning."""

    terms: tuple[Term, ...]
    within: int | None = None
    skip: str = "none"
    partitioned: bool = False

    def __post_init__(self) -> None:
        assert len(self.terms) >= 1 and not all(t.optional for t in self.terms)
        for before, after in zip(self.terms, self.terms[1:], strict=False):
            # rules 4 and the waiting runs assume the state after a greedy term is the
            # first state of a mandatory term
            assert not (before.greedy and after.optional), "greedy before optional"
        assert self.skip in SKIPS

    def text(self, name: str = "r") -> str:
        """The rule (with the event schema) as rule-language text."""
        pattern = self.terms[0].text()
        for term in self.terms[1:]:
            pattern += f" {term.op} {term.text()}"
        lines = ["event E { id: int, k: str?, v: int }", f"rule {name} {{"]
        if self.partitioned:
            lines.append("  partition by k")
        lines.append(f"  pattern {pattern}")
        if self.within is not None:
            lines.append(f"  within {self.within}ms")
        lines.append(f"  skip {self.skip}")
        lines.append("}")
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Report:
    """One reported match: `ts`, partition `key` (None without `partition by`), and the
    ids bound per variable in pattern order (`()` for a variable that bound nothing)."""

    ts: int
    key: str | None
    ids: tuple[tuple[int, ...], ...]


#: when a report leaves the engine: (event index, phase, window close, timer order).
#: Phase 0 is the window timers that fire before the event at that index (the index is
#: the number of events for those that fire at the end), in order of their close time,
#: then of the event that set them; phase 1 is the matching of the event itself.
Moment = tuple[int, int, int, int]


@dataclass
class _Start:
    """What the assignments from one start event give: its matches (completing position,
    binding) and the last position after which a run from it still waits (-1: none)."""

    matches: list[tuple[int, Binding]] = field(default_factory=list)
    open_until: int = -1


class _Partition:
    """The assignments over the events of one partition (positions are local to it;
    `indexes` maps them to positions in the whole input `stream`)."""

    def __init__(
        self, pattern: Pattern, stream: Sequence[Event], indexes: list[int], flush: bool
    ) -> None:
        self.pattern = pattern
        self.terms = pattern.terms
        self.stream = stream
        self.indexes = indexes
        self.events = [stream[i] for i in indexes]
        self.flush = flush
        self._tables: dict[int | None, list[list[bool]]] = {}
        self._use_start(None)

    def _use_start(self, first: int | None) -> None:
        """Evaluate conditions for runs whose `a` is the event at `first` (None: unbound);
        `sat[j][q]`: whether event q satisfies term j's condition."""
        self.first = None if first is None else self.events[first]
        if first not in self._tables:
            self._tables[first] = [
                [t.cond.holds(e, self.first) for e in self.events] for t in self.terms
            ]
        self.sat = self._tables[first]

    # -- rules 2-5 for one step from bound event p to bound event q ----------------------

    def _between(self, p: int, q: int, ok: Callable[[Event, Event | None], bool]) -> bool:
        return all(ok(self.events[i], self.first) for i in range(p + 1, q))

    def _entry_ok(self, p: int | None, q: int, j: int) -> bool:
        """Rules 2 and 4: q is the first event of term j, p the last bound event before it
        (None: q starts the match)."""
        term = self.terms[j]
        if p is not None and not self._between(p, q, term.skips_before):
            return False
        if j > 0 and self.terms[j - 1].greedy:  # term j's first state is j - 1's sink
            first = q if p is None else p + 1
            if any(self.sat[j - 1][i] for i in range(first, q + 1)):
                return False
        return True

    def _window_ok(self, start: int, q: int) -> bool:
        within = self.pattern.within
        return within is None or self.events[q]["ts"] - self.events[start]["ts"] < within

    def _later_terms(self, j: int) -> Iterator[int]:
        """The terms that may bind the next event after term j: j + 1 and, past optional
        terms, the ones after them."""
        for j2 in range(j + 1, len(self.terms)):
            yield j2
            if not self.terms[j2].optional:
                return

    def _first_terms(self) -> Iterator[int]:
        """The terms a match may start with: the first and, past optional ones, later."""
        yield 0
        if self.terms[0].optional:
            yield from self._later_terms(0)

    # -- enumeration ---------------------------------------------------------------------

    def starts(self) -> dict[int, _Start]:
        """Every start position with its matches and how long a run from it waits."""
        out: dict[int, _Start] = {}
        for q in range(len(self.events)):
            for j in self._first_terms():
                self._use_start(q if j == 0 else None)
                if self.sat[j][q] and self._entry_ok(None, q, j):
                    result = out.setdefault(q, _Start())
                    binding: list[list[int]] = [[] for _ in self.terms]
                    binding[j].append(q)
                    self._extend(q, j, binding, result)
        return out

    def _extend(self, start: int, j: int, binding: list[list[int]], result: _Start) -> None:
        """Depth first over the assignments that extend `binding` (term j bound last)."""
        term = self.terms[j]
        p = binding[j][-1]
        count = len(binding[j])
        complete = count >= term.lo
        if complete and all(t.optional for t in self.terms[j + 1 :]):
            result.matches.append((p, tuple(tuple(b) for b in binding)))
        result.open_until = max(result.open_until, self._open_until(j, p, count))
        for q in range(p + 1, len(self.events)):
            if not self._window_ok(start, q):
                break
            if (  # another repetition of term j
                (term.hi is None or count < term.hi)
                and self.sat[j][q]
                and self._between(p, q, term.skips_between)
            ):
                binding[j].append(q)
                self._extend(start, j, binding, result)
                binding[j].pop()
            if complete:  # the first event of a later term
                for j2 in self._later_terms(j):
                    if self.sat[j2][q] and self._entry_ok(p, q, j2):
                        binding[j2].append(q)
                        self._extend(start, j2, binding, result)
                        binding[j2].pop()

    # -- runs that wait ------------------------------------------------------------------

    def _open_until(self, j: int, p: int, count: int) -> int:
        """The last position after which a run that bound p (term j's `count`-th event)
        still waits, inside term j or for a later term (-1: it never waits)."""
        term = self.terms[j]

        def last_skipped(ok: Callable[[Event, Event | None], bool]) -> int:
            i = p + 1
            while i < len(self.events) and ok(self.events[i], self.first):
                i += 1
            return i - 1

        best = -1
        if term.hi is None or count < term.hi:
            best = last_skipped(term.skips_between)
        if count >= term.lo:
            for j2 in self._later_terms(j):
                nxt, before = self.terms[j2], self.terms[j2 - 1]
                best = max(
                    best,
                    last_skipped(
                        lambda e, a, nxt=nxt, before=before: (
                            nxt.skips_before(e, a)
                            and not (before.greedy and before.cond.holds(e, a))
                        )
                    ),
                )
        return best

    def _starts_a_run(self, q: int) -> bool:
        """Whether event q leaves a waiting run (it binds a first term and the match
        goes on), which sets a window timer."""
        last = len(self.terms) - 1
        for j in self._first_terms():
            self._use_start(q if j == 0 else None)
            waits = not (j == last and self.terms[j].hi == 1)
            if waits and self.sat[j][q] and self._entry_ok(None, q, j):
                return True
        return False

    def _death(self, s: int, result: _Start) -> Moment | None:
        """When the last run from start s (which has no match) ends: killed by an event,
        or at its window's close; None if it waits past the end of the input."""
        moments: list[Moment] = []
        if result.open_until < len(self.events) - 1:
            moments.append((self.indexes[result.open_until + 1], 1, 0, 0))
        within = self.pattern.within
        if within is not None:
            close = self.events[s]["ts"] + within
            fires = next((g for g, e in enumerate(self.stream) if e["ts"] >= close), None)
            if fires is None and self.flush:
                fires = len(self.stream)
            if fires is not None:
                setter = next(
                    (
                        q
                        for q, e in enumerate(self.events)
                        if e["ts"] == close - within and self._starts_a_run(q)
                    ),
                    s,
                )
                moments.append((fires, 0, close, self.indexes[setter]))
        return min(moments, default=None)

    # -- reports -------------------------------------------------------------------------

    def reports(self, key: str | None) -> list[tuple[tuple[Moment, tuple[int, ...]], Report]]:
        """The partition's reports, each with its sort key (when it is released, then its
        bound positions in the whole input)."""
        out = []

        def report(completing: int, binding: Binding, moment: Moment) -> None:
            glob = tuple(tuple(self.indexes[i] for i in b) for b in binding)
            ids = tuple(tuple(self.stream[i]["id"] for i in b) for b in glob)
            out.append(((moment, _flat(glob)), Report(self.events[completing]["ts"], key, ids)))

        starts = sorted(self.starts().items())
        if self.pattern.skip == "none":
            for _, result in starts:
                for completing, binding in result.matches:
                    report(completing, binding, (self.indexes[completing], 1, 0, 0))
            return out
        pruned_to = -1
        released: Moment = (-1, 0, 0, 0)
        for s, result in starts:
            if s <= pruned_to:
                continue
            if result.matches:
                completing, binding = min(result.matches, key=lambda m: (m[0], _flat(m[1])))
                released = max(released, (self.indexes[completing], 1, 0, 0))
                report(completing, binding, released)
                pruned_to = completing if self.pattern.skip == "past last" else s
            else:
                death = self._death(s, result)
                if death is None:
                    break
                released = max(released, death)
        return out


def _flat(binding: Binding) -> tuple[int, ...]:
    return tuple(i for positions in binding for i in positions)


def oracle(pattern: Pattern, events: Sequence[Event], *, flush: bool = False) -> list[Report]:
    """The reports of `pattern` on `events` (dicts with `ts`, `id`, `v` and maybe `k`,
    in non-decreasing `ts`), in the order they are released; see the module docstring.
    Events lacking `k` take part in no partition, but move time (window timers).
    `flush`: at the end of the input, time moves to infinity (every window closes)."""
    groups: dict[str | None, list[int]] = {}
    for i, event in enumerate(events):
        if not pattern.partitioned:
            groups.setdefault(None, []).append(i)
        elif event.get("k") is not None:  # an event lacking the key matches nothing
            groups.setdefault(event["k"], []).append(i)
    found = []
    for key, indexes in groups.items():
        found.extend(_Partition(pattern, events, indexes, flush).reports(key))
    found.sort(key=lambda item: item[0])
    return [r for _, r in found]
