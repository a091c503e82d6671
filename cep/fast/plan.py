"""Which rules the fast path takes, and how it tests each edge condition.

Each edge condition is split in two: the part that depends only on the event (term
tests, evaluated once per event for a whole batch, becoming rows of bits) and the part
that depends on the run (iterative term conditions and `where`, compiled to programs
the kernel runs against the run's history: cep/compile/programs.py). A rule is eligible
when every run-dependent condition compiles (`fast_path_refusal` says why not). A term
condition NumPy cannot test is compiled too, or worked out per distinct value of the one
field it reads, or left to the interpreter event by event (`term_tests` says which).
"""

from __future__ import annotations

import numpy as np

from cep.compile.conditions import AndCond, Cond, NotCond, OrCond, TermCond, TrueCond, WhereCond
from cep.compile.programs import ProgramCompiler, Programs, StringCodes, Unsupported
from cep.compile.rule import CompiledRule
from cep.fast.emit import EmitPlan
from cep.fast.vector import BatchPredicates, BatchTest


def fast_path_refusal(rule: CompiledRule) -> str | None:
    """Why a rule cannot run on the fast path, or None when it can."""
    try:
        EdgePlan(rule)
    except Unsupported as problem:
        return (
            f"a condition on earlier events uses {problem} (the kernel compiles numbers and"
            " text of declared types)"
        )
    return None


def term_tests(rule: CompiledRule) -> list[str]:
    """How the fast path tests each term of an eligible rule (`cep explain`)."""
    plan = EdgePlan(rule)
    out = []
    for term in rule.terms:
        if not term.independent:
            how = "type per batch (NumPy); condition per run, compiled (reads earlier events)"
        elif term.index in plan.term_programs:
            how = "type per batch (NumPy); condition compiled (numba), per event of the type"
        elif term.index in plan.term_by_value:
            how = (
                "per batch (NumPy), the parts that read one field by the interpreter once per"
                " distinct value of it"
            )
        elif term.index in plan.term_refusals:
            reason = plan.term_refusals[term.index]
            how = f"by the interpreter, event by event (does not compile: {reason})"
        else:
            how = "per batch (NumPy)"
        out.append(f"{term.name}: {how}")
    return out


def _depends_on_run(cond: Cond) -> bool:
    if isinstance(cond, WhereCond):
        return True
    if isinstance(cond, TermCond):
        return not cond.term.independent
    if isinstance(cond, NotCond):
        return _depends_on_run(cond.inner)
    if isinstance(cond, AndCond | OrCond):
        return any(_depends_on_run(item) for item in cond.items)
    return False


class EdgePlan:
    """A rule's edges for the kernel: per edge, a bits row (its run-independent part;
    -1 for none) and a program (its run-dependent part; -1 for none). Raises
    `Unsupported` when a run-dependent part does not compile."""

    def __init__(self, rule: CompiledRule) -> None:
        names = list(rule.binding_order)
        for state in rule.nfa.states:
            if state.var not in names:
                names.append(state.var)
        self.var_names = names
        self.var_index = {name: i for i, name in enumerate(names)}
        #: conditions evaluated per batch (rows of bits), kept alive for their ids
        self.conds: list[Cond] = []
        self._rows: dict[tuple[int, ...], int] = {}
        self._kept: list[Cond] = []
        self.strings = StringCodes()
        compiler = ProgramCompiler(
            resolutions=rule.resolutions,
            expr_types=rule.expr_types,
            repeated=rule.repeated,
            var_index=self.var_index,
            term_conditions={i: node.condition for i, node in enumerate(rule.term_nodes)},
            where=rule.rule.where,
            row_of=self.row_of,
            strings=self.strings,
        )
        self.edge_rows: list[int] = []
        self.edge_programs: list[int] = []
        programs: dict[tuple[int, ...], int] = {}
        for state in rule.nfa.states:
            for edge in state.edges:
                items = edge.cond.items if isinstance(edge.cond, AndCond) else (edge.cond,)
                fixed = [c for c in items if not isinstance(c, TrueCond) and not _depends_on_run(c)]
                moving = [c for c in items if _depends_on_run(c)]
                self.edge_rows.append(self.row_of(*fixed) if fixed else -1)
                key = tuple(id(c) for c in moving)
                if moving and key not in programs:
                    cond = moving[0] if len(moving) == 1 else AndCond(tuple(moving))
                    self._kept.append(cond)  # alive while its id is a cache key
                    programs[key] = compiler.condition(cond)
                self.edge_programs.append(programs[key] if moving else -1)
        self.where_program = compiler.completes()
        #: per term, its test over a batch (`BatchPredicates.term`): the whole test;
        #: only the event type where the condition looks at the run (an edge program
        #: does the rest) or is a term program (`term_programs`); with the parts that
        #: read one field worked out per distinct value (`term_by_value`); None where
        #: the interpreter tests the term event by event (`term_refusals` says why)
        self.tests: list[BatchTest | None] = []
        self.term_programs: dict[int, int] = {}
        self.term_by_value: set[int] = set()
        self.term_refusals: dict[int, str] = {}
        strict = BatchPredicates(rule.resolutions)
        by_value = BatchPredicates(rule.resolutions, by_value=True)
        for term, node in zip(rule.terms, rule.term_nodes, strict=True):
            types = term.event_types
            condition = node.condition if term.independent else None
            test = strict.term(types, condition)
            if test is None:  # a condition outside NumPy's family
                assert condition is not None
                try:
                    self.term_programs[term.index] = compiler.term_test(condition)
                    test = strict.term(types, None)
                except Unsupported as problem:
                    test = by_value.term(types, condition)
                    if test is not None:
                        self.term_by_value.add(term.index)
                    else:
                        self.term_refusals[term.index] = str(problem)
            self.tests.append(test)
        #: `emit` as programs for reports written in bulk (None: the interpreter's); the
        #: slots from `emit_slots_from` on are read only by them
        self.emit_slots_from = len(compiler.out.slots)
        self.emit = EmitPlan.compile(compiler, rule.rule)
        self.programs: Programs = compiler.out

    def row_of(self, *items: Cond) -> int:
        """The bits row of the conjunction of run-independent conditions."""
        key = tuple(id(c) for c in items)
        row = self._rows.get(key)
        if row is None:
            cond = items[0] if len(items) == 1 else AndCond(tuple(items))
            row = self._rows[key] = len(self.conds)
            self.conds.append(cond)
        return row


def vectorize(cond: Cond, bits: np.ndarray) -> np.ndarray:
    """A condition's truth for every event of a batch, from the term bits."""
    if isinstance(cond, TrueCond):
        return np.ones(bits.shape[1], dtype=np.bool_)
    if isinstance(cond, TermCond):
        return bits[cond.term.index]
    if isinstance(cond, NotCond):
        return ~vectorize(cond.inner, bits)
    if isinstance(cond, AndCond | OrCond):
        combine = np.logical_and if isinstance(cond, AndCond) else np.logical_or
        return combine.reduce([vectorize(item, bits) for item in cond.items])
    raise TypeError(f"condition {cond.render()!r} cannot run on the fast path")
