"""The compiled fast path: rules whose conditions depend only on the event run on the
numba kernel (cep/fast/kernel.py), batch by batch, with the interpreter's meaning.

A rule is eligible when no term condition refers to a pattern variable and it has no
`where` (both would make an edge's truth depend on the run). For an eligible rule the
term tests are evaluated once per event, the edge conditions become rows of bits, and
events that satisfy no term are dropped before any per-run work when they cannot change
a run. Reports are built in Python from the histories the kernel returns, and merged
across rules in the order the interpreter releases them.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import numpy as np
from numba import types
from numba.typed import List

from cep.compile.conditions import AndCond, Cond, NotCond, OrCond, TermCond, TrueCond
from cep.compile.nfa import FINAL, IGNORE, PENDING, PROCEED, START, STOP, TAKE
from cep.compile.rule import CompiledRule
from cep.fast import kernel
from cep.runtime.engine import DEFAULT_MAX_RUNS_PER_KEY, RuleStats, Stats
from cep.runtime.event import Event
from cep.runtime.match import Match
from cep.runtime.matcher import RuleMatcher
from cep.runtime.ordering import EventOrderer

_KINDS = {
    "normal": kernel.NORMAL,
    START: kernel.START,
    FINAL: kernel.FINAL,
    STOP: kernel.STOP,
    PENDING: kernel.PENDING,
}
_ACTIONS = {TAKE: kernel.TAKE, IGNORE: kernel.IGNORE, PROCEED: kernel.PROCEED}
_SKIPS = {
    "none": kernel.SKIP_NONE,
    "past_last": kernel.SKIP_PAST_LAST,
    "to_next": kernel.SKIP_TO_NEXT,
    "to_first": kernel.SKIP_TO_FIRST,
    "to_last": kernel.SKIP_TO_LAST,
}
BATCH = 65_536


def fast_path_refusal(rule: CompiledRule) -> str | None:
    """Why a rule cannot run on the fast path, or None when it can."""
    if rule.where is not None:
        return "it has a `where` (checked against each run's events)"
    for term in rule.terms:
        if not term.independent:
            return f"the condition of `{term.name}` refers to earlier events of the run"
    return None


def _vectorize(cond: Cond, bits: np.ndarray) -> np.ndarray:
    """A condition's truth for every event of a batch, from the term bits."""
    if isinstance(cond, TrueCond):
        return np.ones(bits.shape[1], dtype=np.bool_)
    if isinstance(cond, TermCond):
        return bits[cond.term.index]
    if isinstance(cond, NotCond):
        return ~_vectorize(cond.inner, bits)
    if isinstance(cond, AndCond):
        out = _vectorize(cond.items[0], bits).copy()
        for item in cond.items[1:]:
            out &= _vectorize(item, bits)
        return out
    if isinstance(cond, OrCond):
        out = _vectorize(cond.items[0], bits).copy()
        for item in cond.items[1:]:
            out |= _vectorize(item, bits)
        return out
    raise TypeError(f"condition {cond.render()!r} cannot run on the fast path")


class FastRule:
    """One eligible rule: its NFA as arrays, its kernel state, its partitions."""

    def __init__(self, rule: CompiledRule, max_runs_per_key: int) -> None:
        self.rule = rule
        self.matcher = RuleMatcher(rule, max_runs_per_key=max_runs_per_key)
        nfa = rule.nfa
        states = nfa.states
        index = {id(s): i for i, s in enumerate(states)}
        names = list(rule.binding_order)
        for state in states:
            if state.var not in names:
                names.append(state.var)
        self.var_names = names
        var_index = {name: i for i, name in enumerate(names)}
        rank = np.array(
            [rule.binding_order.index(n) if n in rule.binding_order else len(names) + i
             for i, n in enumerate(names)],
            dtype=np.int64,
        )  # fmt: skip
        conds: list[Cond] = []
        cond_row: dict[int, int] = {}
        kinds, plain, ptf, first, count = [], [], [], [], []
        act, tgt, row, var = [], [], [], []
        for state in states:
            kinds.append(_KINDS[state.kind])
            plain.append(1 if state.plain else 0)
            ptf.append(1 if state.proceeds_to_final else 0)
            first.append(len(act))
            count.append(len(state.edges))
            for edge in state.edges:
                act.append(_ACTIONS[edge.action])
                tgt.append(index[id(edge.target)])
                var.append(var_index[edge.source.var])
                if isinstance(edge.cond, TrueCond):
                    row.append(-1)
                else:
                    if id(edge.cond) not in cond_row:
                        cond_row[id(edge.cond)] = len(conds)
                        conds.append(edge.cond)
                    row.append(cond_row[id(edge.cond)])
        self.conds = conds
        start = nfa.start
        start_takes = [
            first[index[id(start)]] + j for j, edge in enumerate(start.edges) if edge.action == TAKE
        ]
        as_array = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
        self.nfa = (
            as_array(kinds), as_array(plain), as_array(ptf), as_array(first),
            as_array(count), as_array(act), as_array(tgt), as_array(row), as_array(var),
            rank, as_array(start_takes),
        )  # fmt: skip
        skip_var = var_index.get(rule.skip_var, -1) if rule.skip_var else -1
        self.params = np.array(
            [
                index[id(start)],
                rule.window_ms if rule.window_ms is not None else -1,
                _SKIPS[rule.skip],
                skip_var,
                max_runs_per_key,
                1 if rule.timeout_emit is not None else 0,
                1 if start.plain else 0,
            ],
            dtype=np.int64,
        )
        self.lists = tuple(List.empty_list(types.int64) for _ in range(kernel.N_LISTS))
        for _ in range(5):
            self.lists[kernel.SC].append(0)
        self.codes: dict[Any, int] = {}
        self.keys: list[Any] = []
        self.events: dict[int, Event] = {}
        self.screen = rule.nfa.skips_irrelevant
        self.term_types = self.matcher.term_types
        self.missing_key = 0

    def _code(self, key: Any) -> int:
        code = self.codes.get(key)
        if code is None:
            code = self.codes[key] = len(self.keys)
            self.keys.append(key)
            for which in (kernel.P_HEAD, kernel.P_COMP, kernel.P_TIMER):
                self.lists[which].append(-1 if which != kernel.P_TIMER else -(2**62))
        return code

    def run(self, events: list[Event], fire_up_to: int) -> list[tuple[tuple, Match]]:
        """Match a batch (in processing order); returns (release key, report) pairs."""
        terms = self.rule.terms
        chosen: list[Event] = []
        codes: list[int] = []
        rows: list[list[bool]] = []
        key_of = self.matcher.partition_key
        for event in events:
            hits = [term.test(event, None) for term in terms]
            if self.screen and not any(hits):
                continue
            key = key_of(event)
            if key is None:
                if self.term_types is None or event.type in self.term_types:
                    self.missing_key += 1
                continue
            chosen.append(event)
            codes.append(self._code(key))
            rows.append(hits)
        n = len(chosen)
        term_bits = np.array(rows, dtype=np.bool_).reshape(n, len(terms)).T
        bits = np.zeros((max(len(self.conds), 1), n), dtype=np.uint8)
        for i, cond in enumerate(self.conds):
            bits[i] = _vectorize(cond, term_bits)
        L = self.lists
        first_g = len(L[kernel.E_TS])
        first_cell = len(L[kernel.C_EV])
        kernel.run_batch(
            self.nfa,
            self.params,
            np.array([e.ts for e in chosen], dtype=np.int64),
            np.array([e.seq for e in chosen], dtype=np.int64),
            np.array(codes, dtype=np.int64),
            bits,
            fire_up_to,
            L,
        )
        # keep the events that histories refer to
        g_to_event = {}
        processed = len(L[kernel.E_TS]) - first_g
        if processed:
            # the kernel skips events that cannot start a run in an empty partition;
            # map processing indexes back to events by their (ts, seq)
            wanted = {}
            for c in range(first_cell, len(L[kernel.C_EV])):
                wanted[L[kernel.C_EV][c]] = None
            if wanted:
                by_key = {(e.ts, e.seq): e for e in chosen}
                for g in wanted:
                    g_to_event[g] = by_key[(L[kernel.E_TS][g], L[kernel.E_SEQ][g])]
        self.events.update(g_to_event)
        return self._reports()

    def _reports(self) -> list[tuple[tuple, Match]]:
        L = self.lists
        out = []
        kinds = L[kernel.O_KIND]
        for j in range(len(kinds)):
            kind = "match" if kinds[j] == 0 else "timeout"
            path = self._path(L[kernel.O_CELL][j])
            key = self.keys[L[kernel.O_PART][j]]
            report = self.matcher._report(path, L[kernel.O_TS][j], kind, key)
            release = (L[kernel.O_T][j], L[kernel.O_PHASE][j], L[kernel.O_A][j], L[kernel.O_B][j])
            out.append((release, report))
        for which in range(kernel.O_KIND, kernel.O_B + 1):
            L[which].clear()
        return out

    def _path(self, cell: int) -> Any:
        L = self.lists
        cells = []
        while cell >= 0:
            cells.append(cell)
            cell = L[kernel.C_PARENT][cell]
        path = None
        for c in reversed(cells):
            path = (self.var_names[L[kernel.C_VAR][c]], self.events[L[kernel.C_EV][c]], path)
        return path

    def stats(self) -> RuleStats:
        L = self.lists
        sc = L[kernel.SC]
        open_runs = 0
        for head in L[kernel.P_HEAD]:
            r = head
            while r >= 0:
                open_runs += 1
                r = L[kernel.R_NEXT][r]
        held = 0
        for head in L[kernel.P_COMP]:
            k = head
            while k >= 0:
                held += 1
                k = L[kernel.K_NEXT][k]
        return RuleStats(
            matches=sc[kernel.S_MATCHES],
            timeouts=sc[kernel.S_TIMEOUTS],
            open_runs=open_runs,
            held_matches=held,
            dropped_runs=sc[kernel.S_DROPPED],
            expired_runs=sc[kernel.S_EXPIRED],
            missing_key=self.missing_key,
        )


class FastEngine:
    """Like `MatchingEngine`, for rules that are all eligible for the fast path; events
    are matched in batches (reports come out when a batch is matched)."""

    def __init__(
        self,
        rules: list[CompiledRule],
        *,
        allowed_delay_ms: int = 0,
        max_runs_per_key: int = DEFAULT_MAX_RUNS_PER_KEY,
        on_late: Any = None,
        batch_size: int = BATCH,
    ) -> None:
        for rule in rules:
            reason = fast_path_refusal(rule)
            if reason is not None:
                raise ValueError(f"rule {rule.name} cannot run on the fast path: {reason}")
        self.rules = [FastRule(rule, max_runs_per_key) for rule in rules]
        self.orderer = EventOrderer(allowed_delay_ms)
        self.on_late = on_late
        self.seq = itertools.count()
        self.pending: list[Event] = []
        self.batch_size = batch_size
        self.events = 0
        self.late = 0

    def push(self, event: Event) -> list[Match]:
        event.seq = next(self.seq)
        self.events += 1
        if self.orderer.is_late(event):
            self.late += 1
            if self.on_late is not None:
                self.on_late(event)
            return []
        self.pending.extend(self.orderer.push(event))
        if len(self.pending) >= self.batch_size:
            return self._run(self.orderer.watermark)
        return []

    def feed(self, events: Iterable[Event]) -> list[Match]:
        out: list[Match] = []
        for event in events:
            out.extend(self.push(event))
        return out

    def finish(self, *, flush: bool = False) -> list[Match]:
        self.pending.extend(self.orderer.drain())
        out = self._run(self.orderer.max_seen)
        if flush:
            out.extend(self._run(2**62))
        return out

    def _run(self, fire_up_to: int) -> list[Match]:
        batch, self.pending = self.pending, []
        keyed = []
        for index, rule in enumerate(self.rules):
            for order, (release, report) in enumerate(rule.run(batch, fire_up_to)):
                keyed.append(((*release, index, order), report))
        keyed.sort(key=lambda item: item[0])
        return [report for _, report in keyed]

    def stats(self) -> Stats:
        stats = Stats(self.events, self.late, self.orderer.held + len(self.pending))
        for rule in self.rules:
            stats.rules[rule.rule.name] = rule.stats()
        return stats
