"""The reference interpreter for one rule: partitions, runs, windows, skip strategies.

This is docs/design/nfa.md section 8 with the project's decisions (section 7): for
each event of a partition, every run (and the implicit start run) computes its
children along the NFA's edges; runs reaching the final state are matches, released
by the skip strategy's rules; `advance` closes windows (timeouts, absences).

Orders (docs/LANGUAGE.md, Semantics 6-7 and Settled details):

- runs are kept in creation order; matches are released in order of their first
  event, then of the event that completed them, then (ties) of their bound events in
  pattern order, earliest first;
- under every skip strategy but `none`, a completed match is held while a run of the
  same partition that started earlier is open.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cep.compile.conditions import AndCond, Cond, NotCond, OrCond, TermCond, TrueCond
from cep.compile.expressions import Env
from cep.compile.nfa import FINAL, IGNORE, PENDING, PROCEED, START, STOP, TAKE, State
from cep.compile.rule import CompiledRule, Path, path_events
from cep.runtime.budget import EVENT_COST, NO_BUDGET, RUN_COST
from cep.runtime.event import Event
from cep.runtime.match import Match

if TYPE_CHECKING:
    from cep.runtime.restored import PendingPartitions

_FINAL = State("$end", "$end", FINAL)
FINAL_STATE = _FINAL  # the final state, for runs rebuilt from completed matches
_NOTHING: list[Match] = []  # shared empty result (callers only read it)
_NO_RUNS: list[Run] = []


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, list | dict) else value


class Run:
    """A partial match: where it is, what it bound (`size` events), and the event that
    started it."""

    __slots__ = ("path", "size", "start", "state")

    def __init__(
        self, state: State, path: Path, start: Event | None, size: int | None = None
    ) -> None:
        self.state = state
        self.path = path
        self.start = start
        self.size = -1 if size is None else size  # (-1: counted by `recount`)


class Completed:
    """A finished match waiting to be released (or released at once)."""

    __slots__ = ("path", "size", "sort_key", "start", "ts")

    def __init__(
        self, path: Path, start: Event, ts: int, sort_key: tuple, size: int | None = None
    ) -> None:
        self.path = path
        self.start = start
        self.ts = ts
        self.sort_key = sort_key
        self.size = -1 if size is None else size  # (-1: counted by `recount`)


class Partition:
    """The matching state of one partition key; `cost`: what its runs and held matches
    cost (`cep.runtime.budget`)."""

    __slots__ = ("completed", "cost", "key", "runs", "timer")

    def __init__(self, key: Any) -> None:
        self.key = key
        self.runs: list[Run] = []
        self.completed: list[Completed] = []
        self.timer = -(2**63)
        self.cost = 0


def _cost_of(part: Partition) -> int:
    """What a partition's runs and held matches cost (docs/limits.md)."""
    runs = part.runs
    completed = part.completed
    events = 0
    for run in runs:
        events += run.size
    for held in completed:
        events += held.size
    return RUN_COST * (len(runs) + len(completed)) + EVENT_COST * events


def _key_of(event: Event) -> tuple[int, int]:
    return (event.ts, event.seq)


def _history_free(cond: Cond) -> bool:
    """Whether a condition reads only the candidate event, not the run's history."""
    if isinstance(cond, TrueCond):
        return True
    if isinstance(cond, TermCond):
        return cond.term.independent
    if isinstance(cond, NotCond):
        return _history_free(cond.inner)
    if isinstance(cond, AndCond | OrCond):
        return all(_history_free(item) for item in cond.items)
    return False


def _history_free_states(start: State) -> set[State]:
    """The states whose edges, followed through PROCEED edges, test only the candidate
    event: every run in such a state takes the same edges for an event, so they are
    chosen once per event (`RuleMatcher._edges`) rather than once per run."""
    seen: list[State] = []
    stack = [start]
    found: set[int] = set()
    while stack:
        state = stack.pop()
        if id(state) in found:
            continue
        found.add(id(state))
        seen.append(state)
        stack.extend(edge.target for edge in state.edges)
    free: set[State] = set()
    for state in seen:
        closure = [state]
        reached = {id(state)}
        ok = True
        while closure and ok:
            current = closure.pop()
            for edge in current.edges:
                if not _history_free(edge.cond):
                    ok = False
                    break
                if edge.action is PROCEED and id(edge.target) not in reached:
                    reached.add(id(edge.target))
                    closure.append(edge.target)
        if ok:
            free.add(state)
    return free


class RuleMatcher:
    """Runs one compiled rule over events, partition by partition."""

    def __init__(
        self,
        rule: CompiledRule,
        *,
        max_runs_per_key: int = 10_000,
        schedule: Callable[[int, RuleMatcher, Any], None] | None = None,
        budget: int = NO_BUDGET,
    ) -> None:
        self.rule = rule
        self.nfa = rule.nfa
        self.start_state = rule.nfa.start
        self.window = rule.window_ms
        self.skip = rule.skip
        self.max_runs = max_runs_per_key
        #: this rule's share of `--max-state` (docs/limits.md), and what its runs and held
        #: matches cost now (counted afresh first: `_costed`, after a restore)
        self.budget = budget
        self.cost = 0
        self._costed = False
        self.partitions: dict[Any, Partition] = {}
        #: a restore's partitions not made yet, each made when first needed
        #: (cep/runtime/restored.py): `partitions` and these are the rule's state
        self.pending: PendingPartitions | None = None
        self.schedule = schedule
        self.step = 0  # one per event or time step: the order in which matches complete
        key_fields = rule.key_fields
        self.key_paths = [parts for _, parts in key_fields]
        self.key_names = [name for name, _ in key_fields]
        types = rule.nfa.relevant_types
        self.filter_types = types if rule.nfa.skips_irrelevant else None
        self.term_types = types
        # when an event that satisfies no term changes nothing, and terms do not depend
        # on runs, the terms are tested once per event and the rest is skipped
        self.screen = (
            [(term.index, term.test) for term in rule.terms]
            if rule.nfa.skips_irrelevant and all(term.independent for term in rule.terms)
            else None
        )
        self._key_of = self._key_getter()
        start = rule.nfa.start
        self.start_takes = (
            [edge for edge in start.edges if edge.action == TAKE] if start.plain else None
        )
        self.history_free = _history_free_states(start)
        #: per event: the edges each history-free state takes (`_edges`), and whether
        #: each reaches the final state by PROCEED edges
        self._chosen: dict[State, list] = {}
        self._finals: dict[State, bool] = {}
        self._steps: dict[State, tuple[list[tuple[State, str | None, bool, bool]], bool]] = {}
        # counters
        self.matches = 0
        self.timeouts = 0
        self.dropped_runs = 0
        self.budget_dropped = 0
        self.missing_key = 0
        self.expired_runs = 0
        #: called as `tracer(run, reason, event_or_None)` when a run ends without a
        #: match (see cep/runtime/trace.py); None when nobody traces this rule
        self.tracer: Callable[[Run, str, Event | None], None] | None = None

    # ------------------------------------------------------------------ events

    def relevant(self, event: Event) -> bool:
        """Whether the event can change any run of this rule."""
        types = self.filter_types
        return types is None or event.type in types

    def partition_key(self, event: Event) -> Any:
        """The event's partition key, `()` without `partition by`, or `None` when the
        event lacks a key field. One field gives its value, several a tuple."""
        return self._key_of(event)

    def _key_getter(self) -> Callable[[Event], Any]:
        paths = self.key_paths
        if not paths:
            return lambda event: ()
        if len(paths) == 1 and len(paths[0]) == 1 and paths[0][0] not in ("ts", "type"):
            name = paths[0][0]

            def single(event: Event) -> Any:
                value = event.data.get(name)
                if value is None or value.__class__ is str or value.__class__ is int:
                    return value
                return _hashable(value)

            return single

        def several(event: Event) -> Any:
            values = []
            for parts in paths:
                value: Any = event.get(parts[0])
                for part in parts[1:]:
                    value = value.get(part) if isinstance(value, dict) else None
                if value is None:
                    return None
                values.append(_hashable(value))
            return values[0] if len(values) == 1 else tuple(values)

        return several

    def process(self, event: Event) -> list[Match]:
        """Match one event (in time order) and return the matches it releases."""
        cache: dict[int, bool] = {}
        screen = self.screen
        if screen is not None:
            hit = False
            for index, test in screen:
                if test(event, None):
                    cache[index] = hit = True
                else:
                    cache[index] = False
            if not hit:
                return _NOTHING
        elif self.filter_types is not None and event.type not in self.filter_types:
            return _NOTHING
        key = self._key_of(event)
        if key is None:
            if self.term_types is None or event.type in self.term_types:
                self.missing_key += 1
            return _NOTHING
        partitions = self.partitions
        part = partitions.get(key)
        if part is None and self.pending is not None:
            part = self.pending.take(key)
        if not self._costed:
            self.recount()
        if part is None:
            takes = self.start_takes
            if takes is not None:
                # a new partition: nothing happens unless the event can start a run
                for edge in takes:
                    if edge.test is None or edge.test(event, None, cache):
                        break
                else:
                    return _NOTHING
            part = Partition(key)
            out = self._process(part, event, cache)
            if part.runs or part.completed:
                partitions[key] = part
        else:
            out = self._process(part, event, cache)
            if not part.runs and not part.completed:
                del partitions[key]
        before = self.cost
        cost = _cost_of(part)
        self.cost = after = before + cost - part.cost
        part.cost = cost
        if after > self.budget and after > before:
            shed = self._shed(event)
            if shed:
                out = [*out, *shed]
        return out

    # ------------------------------------------------------------------ budget

    def recount(self) -> None:
        """Count the cost of every partition afresh (new or restored state)."""
        lengths: dict[int, int] = {}

        def length(path: Path) -> int:
            chain = []
            while path is not None and id(path) not in lengths:
                chain.append(path)
                path = path[2]
            n = 0 if path is None else lengths[id(path)]
            for cell in reversed(chain):
                n += 1
                lengths[id(cell)] = n
            return n

        total = 0 if self.pending is None else self.pending.cost
        for part in self.partitions.values():
            for item in (*part.runs, *part.completed):
                if item.size < 0:
                    item.size = length(item.path)
            part.cost = _cost_of(part)
            total += part.cost
        self.cost = total
        self._costed = True

    def _shed(self, event: Event) -> list[Match]:
        """Over the budget after `event`: drop the oldest open runs (by the event that
        started them, then their place in their partition's list), across partitions,
        until the cost is at most 7/8 of the budget; then release what the partitions
        that lost runs no longer hold back, in the order of their first dropped run."""
        self.make_pending()
        candidates = []
        for part in self.partitions.values():
            for place, run in enumerate(part.runs):
                start = run.start
                assert start is not None
                candidates.append((start.ts, start.seq, place, part, run))
        candidates.sort(key=lambda c: c[:3])
        low = self.budget - self.budget // 8
        cost = self.cost
        dropped: dict[int, tuple[Partition, set[int]]] = {}
        tracer = self.tracer
        count = 0
        for _, _, _, part, run in candidates:
            if cost <= low:
                break
            cost -= RUN_COST + EVENT_COST * run.size
            count += 1
            dropped.setdefault(id(part), (part, set()))[1].add(id(run))
            if tracer is not None:
                tracer(run, "dropped by --max-state", event)
        self.budget_dropped += count
        out: list[Match] = []
        for part, gone in dropped.values():
            part.runs = [run for run in part.runs if id(run) not in gone]
            if part.completed:
                out.extend(self._release(part, []))
            cost = _cost_of(part)
            self.cost += cost - part.cost
            part.cost = cost
            if not part.runs and not part.completed:
                del self.partitions[part.key]
        return out

    def _process(
        self, part: Partition, event: Event, cache: dict[int, bool] | None = None
    ) -> list[Match]:
        self.step += 1
        if cache is None:
            cache = {}
        self._chosen.clear()
        self._finals.clear()
        self._steps.clear()
        potential: list[Completed] = []
        fresh: list[Run] = []
        children = self._children
        tracer = self.tracer
        steps = self._steps if tracer is None and self.rule.where is None else None
        free = self.history_free
        for run in part.runs:
            state = run.state
            if steps is not None and state in free:
                # the same steps for every run in this state (`_step_of`)
                step = steps.get(state)
                if step is None:
                    step = steps[state] = self._step_of(state, event, cache)
                moves, stopped = step
                path = run.path
                size = run.size
                for target, var, final, completes in moves:
                    if var is None:
                        kid = run if target is state else Run(target, path, run.start, size)
                    else:
                        taken = (var, event, path)
                        kid = Run(target, taken, run.start, size + 1)
                        if completes:
                            potential.append(
                                self._completed(Run(_FINAL, taken, run.start, size + 1), event.ts)
                            )
                    if final:
                        potential.append(self._completed(kid, event.ts))
                    elif not stopped:
                        fresh.append(kid)
                continue
            kids, stopped = children(run, state, run.path, run.start, event, cache, False)
            for kid in kids:
                if kid.state.kind is FINAL:
                    potential.append(self._completed(kid, event.ts))
                elif not stopped:
                    fresh.append(kid)
            if tracer is not None and (stopped or not kids):
                tracer(run, "stopped by `not`" if stopped else "no edge", event)
        runs_before = len(fresh)
        takes = self.start_takes
        if takes is not None:
            # a start state without PROCEED edges: only its TAKE edges matter
            for edge in takes:
                test = edge.test
                if test is None or test(event, None, cache):
                    target = edge.target
                    if target.kind is STOP:
                        del fresh[runs_before:]
                        break
                    taken: Path = (edge.source.var, event, None)
                    if target.kind is FINAL:
                        potential.append(self._completed(Run(target, taken, event, 1), event.ts))
                        continue
                    fresh.append(Run(target, taken, event, 1))
                    if (
                        target.proceeds_to_final
                        and self._final_after_proceed(target, event, None, cache)
                        and self.rule.completes(taken)
                    ):
                        potential.append(self._completed(Run(_FINAL, taken, event, 1), event.ts))
        else:
            kids, stopped = children(None, self.start_state, None, None, event, cache, True)
            for kid in kids:
                if kid.state.kind is FINAL:
                    potential.append(self._completed(kid, event.ts))
                elif not stopped:
                    fresh.append(kid)
        started = len(fresh) > runs_before
        if len(fresh) > self.max_runs:
            self.dropped_runs += len(fresh) - self.max_runs
            if tracer is not None:
                for run in fresh[self.max_runs :]:
                    tracer(run, "dropped by --max-runs-per-key", event)
            del fresh[self.max_runs :]
        part.runs = fresh
        if started and self.window is not None and self.schedule is not None:
            close = event.ts + self.window
            if close > part.timer:
                part.timer = close
                self.schedule(close, self, part.key)
        if not potential and not part.completed:
            return _NOTHING
        return self._release(part, potential)

    def _children(
        self,
        run: Run | None,
        state: State,
        path: Path,
        start: Event | None,
        event: Event,
        cache: dict[int, bool],
        is_start: bool,
    ) -> tuple[list[Run], bool]:
        """The runs one run becomes on `event`, and whether it hit a stop state."""
        if state in self.history_free:
            edges = self._chosen.get(state)
            if edges is None:
                edges = self._chosen[state] = self._edges(state, event, None, cache)
        else:
            edges = self._edges(state, event, path, cache)
        if not edges:
            return _NO_RUNS, False
        out: list[Run] = []
        stopped = False
        size = 0 if run is None else run.size
        for edge in edges:
            target = edge.target
            if edge.action is IGNORE:
                if is_start:
                    continue
                if target is state and run is not None:
                    out.append(run)  # the run stays as it is
                    continue
                if target.kind is FINAL and not self.rule.completes(path):
                    continue
                out.append(Run(target, path, start, size))
                continue
            if target.kind is STOP:
                stopped = True
                continue
            taken: Path = (edge.source.var, event, path)
            first = event if is_start else start
            out.append(Run(target, taken, first, size + 1))
            if (
                target.proceeds_to_final
                and self._proceeds_to_final(target, event, path, cache)
                and self.rule.completes(taken)
            ):
                out.append(Run(_FINAL, taken, first, size + 1))
        return out, stopped

    def _step_of(
        self, state: State, event: Event, cache: dict[int, bool]
    ) -> tuple[list[tuple[State, str | None, bool, bool]], bool]:
        """What every run in a history-free state becomes on `event`, for a rule without
        `where` (`_children`, once for all of them): its moves `(target, the variable
        taken or None, whether the kid is a completed match, whether it also completes
        by PROCEED edges)`, and whether it hit a stop state."""
        edges = self._chosen.get(state)
        if edges is None:
            edges = self._chosen[state] = self._edges(state, event, None, cache)
        moves: list[tuple[State, str | None, bool, bool]] = []
        stopped = False
        for edge in edges:
            target = edge.target
            if edge.action is IGNORE:
                moves.append((target, None, target.kind is FINAL, False))
                continue
            if target.kind is STOP:
                stopped = True
                continue
            completes = target.proceeds_to_final and self._proceeds_to_final(
                target, event, None, cache
            )
            moves.append((target, edge.source.var, target.kind is FINAL, completes))
        return moves, stopped

    def _edges(self, state: State, event: Event, path: Path, cache: dict[int, bool]) -> list:
        """The edges a run in `state` with history `path` takes on `event` (PROCEED
        edges followed)."""
        if state.plain:
            return [
                edge for edge in state.edges if edge.test is None or edge.test(event, path, cache)
            ]
        edges = []
        stack = [state]
        while stack:
            current = stack.pop()
            for edge in current.edges:
                test = edge.test
                if test is None or test(event, path, cache):
                    if edge.action is PROCEED:
                        stack.append(edge.target)
                    else:
                        edges.append(edge)
        return edges

    def _proceeds_to_final(
        self, state: State, event: Event, path: Path, cache: dict[int, bool]
    ) -> bool:
        """`_final_after_proceed`, once per event for a history-free state."""
        if state not in self.history_free:
            return self._final_after_proceed(state, event, path, cache)
        found = self._finals.get(state)
        if found is None:
            found = self._finals[state] = self._final_after_proceed(state, event, None, cache)
        return found

    @staticmethod
    def _final_after_proceed(
        state: State, event: Event, path: Path, cache: dict[int, bool]
    ) -> bool:
        stack = [state]
        while stack:
            current = stack.pop()
            for edge in current.edges:
                if edge.action is not PROCEED:
                    continue
                test = edge.test
                if test is None or test(event, path, cache):
                    if edge.target.kind == FINAL:
                        return True
                    stack.append(edge.target)
        return False

    def _completed(self, run: Run, ts: int) -> Completed:
        start = run.start
        assert start is not None
        return Completed(
            run.path,
            start,
            ts,
            (start.ts, start.seq, self.step, self._tie_key(run.path)),
            run.size,
        )

    def _tie_key(self, path: Path) -> tuple:
        positions: dict[str, list[tuple[int, int]]] = {}
        for var, event in path_events(path):
            positions.setdefault(var, []).append(_key_of(event))
        order: list[tuple[int, int]] = []
        for var in self.rule.binding_order:
            order.extend(positions.get(var, ()))
        return tuple(order)

    # ------------------------------------------------------------------ time

    def advance(self, key: Any, now: int) -> list[Match]:
        """Close the windows of partition `key` that end at or before `now`: runs time
        out (reported with `on timeout emit`), absences at the end become matches."""
        part = self.partitions.get(key)
        if part is None and self.pending is not None:
            part = self.pending.take(key)
        if part is None or self.window is None:
            return []
        if not self._costed:
            self.recount()
        window = self.window
        self.step += 1
        potential: list[Completed] = []
        fresh: list[Run] = []
        expired: list[Run] = []
        for run in part.runs:
            start = run.start
            assert start is not None
            if now - start.ts >= window:
                if run.state.kind == PENDING:
                    if self.rule.completes(run.path):
                        potential.append(
                            Completed(
                                run.path,
                                start,
                                start.ts + window,
                                (
                                    start.ts,
                                    start.seq,
                                    self.step,
                                    self._tie_key(run.path),
                                ),
                                run.size,
                            )
                        )
                else:
                    expired.append(run)
            else:
                fresh.append(run)
        part.runs = fresh
        out = self._release(part, potential) if (potential or part.completed) else []
        self.expired_runs += len(expired)
        if self.tracer is not None:
            for run in expired:
                self.tracer(run, f"window closed at {now}", None)
        if self.rule.timeout_emit is not None:
            expired.sort(key=lambda r: (_key_of(r.start), self._tie_key(r.path)))
            for run in expired:
                assert run.start is not None
                out.append(self._report(run.path, run.start.ts + window, "timeout", part.key))
        cost = _cost_of(part)
        self.cost += cost - part.cost
        part.cost = cost
        if not part.runs and not part.completed:
            self.partitions.pop(key, None)
        return out

    def flush(self) -> list[Match]:
        """End of time: close every window, partition by partition (used by `--flush`)."""
        out = []
        self.make_pending()
        for key in list(self.partitions):
            out.extend(self.advance(key, 2**62))
        return out

    # ------------------------------------------------------------------ release

    def _release(self, part: Partition, potential: list[Completed]) -> list[Match]:
        completed = part.completed
        if potential:
            if len(potential) > 1:
                potential.sort(key=lambda c: c.sort_key)
            for item in potential:
                bisect.insort(completed, item, key=lambda c: c.sort_key)
        out: list[Match] = []
        holds = self.skip != "none"
        while completed:
            first = completed[0]
            if holds and part.runs:
                earliest = min(_key_of(r.start) for r in part.runs if r.start is not None)
                if _key_of(first.start) > earliest:
                    break
            completed.pop(0)
            if holds:
                self._prune(part, first.path)
            out.append(self._report(first.path, first.ts, "match", part.key))
        return out

    def _prune(self, part: Partition, path: Path) -> None:
        cells = path_events(path)
        skip = self.skip
        if skip == "past_last":
            pid, inclusive = _key_of(cells[-1][1]), True
        elif skip == "to_next":
            pid, inclusive = _key_of(cells[0][1]), True
        else:
            bound = [_key_of(e) for v, e in cells if v == self.rule.skip_var]
            if not bound:
                return
            pid = bound[0] if skip == "to_first" else bound[-1]
            inclusive = False

        def pruned(start: Event | None) -> bool:
            if start is None:
                return False
            key = _key_of(start)
            return key <= pid if inclusive else key < pid

        if any(pruned(r.start) for r in part.runs):
            if self.tracer is not None:
                reason = f"skipped ({skip.replace('_', ' ')}) after a match ending at event"
                for run in part.runs:
                    if pruned(run.start):
                        self.tracer(run, reason, cells[-1][1])
            part.runs = [r for r in part.runs if not pruned(r.start)]
        if any(pruned(c.start) for c in part.completed):
            if self.tracer is not None:
                reason = f"completed, but dropped ({skip.replace('_', ' ')}) after a match"
                for held in part.completed:
                    if pruned(held.start):
                        self.tracer(Run(_FINAL, held.path, held.start), reason, cells[-1][1])
            part.completed[:] = [c for c in part.completed if not pruned(c.start)]

    def _report(self, path: Path, ts: int, kind: str, key: Any) -> Match:
        rule = self.rule
        key_record = self.key_record(key)
        fields, events = self.content(path, kind, key_record)
        if kind == "match":
            self.matches += 1
        else:
            self.timeouts += 1
        return Match(rule.name, kind, ts, key_record, fields, events, rule.severity, rule.tags)

    def key_record(self, key: Any) -> dict[str, Any] | None:
        """A partition key as the report's `key` record (None without `partition by`)."""
        names = self.key_names
        if not names:
            return None
        if len(names) == 1:
            return {names[0]: key}
        return dict(zip(names, key, strict=True))

    def content(
        self, path: Path, kind: str, key_record: dict[str, Any] | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A report's `fields` (its `emit` values) and `events`, from its history."""
        rule = self.rule
        bindings = rule.bindings(path)
        emit = rule.emit if kind == "match" else rule.timeout_emit
        if emit is None:
            fields = dict(key_record) if key_record else {}
        else:
            env = Env(None, bindings)
            fields = {name: fn(env) for name, fn in emit}
        events: dict[str, Any] = {}
        for name in rule.variables:
            value = bindings.get(name)
            if value is None or (isinstance(value, list) and not value):
                continue
            events[name] = value
        return fields, events

    # ------------------------------------------------------------------ state

    def make_pending(self) -> None:
        """Make every partition a restore left to be made when needed (for what goes
        through them all), in the order a restore making them at once gives."""
        if self.pending is not None:
            self.pending.take_all()
            self.pending = None

    @property
    def open_runs(self) -> int:
        pending = 0 if self.pending is None else self.pending.open_runs
        return pending + sum(len(p.runs) for p in self.partitions.values())

    @property
    def held_matches(self) -> int:
        pending = 0 if self.pending is None else self.pending.held_matches
        return pending + sum(len(p.completed) for p in self.partitions.values())


__all__ = ["START", "RuleMatcher", "Run"]
