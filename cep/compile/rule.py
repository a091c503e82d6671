"""A checked rule compiled for the interpreter: its NFA, term tests, `where`, outputs.

Runs keep their history as an immutable linked list of cells `(var, event, parent)`
(`None` is the empty history): a TAKE adds one cell, every other move shares the list,
so runs that fork share the events they bound before the fork.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cep.compile.conditions import Cond, TermCond, TermTest, WhereCond
from cep.compile.expressions import Env, EventPredicates, ExpressionCompiler
from cep.compile.nfa import NEXT, NFA, ChainBuilder, NFACompiler
from cep.lang import ast
from cep.lang.checker import CheckedRule, pattern_terms
from cep.lang.printer import format_expr
from cep.lang.program import Schema
from cep.runtime.event import Event

Path = tuple[str, Event, Any] | None
_EMPTY: dict[str, Any] = {}


def path_events(path: Path) -> list[tuple[str, Event]]:
    """The (var, event) cells of a history, oldest first."""
    cells = []
    while path is not None:
        cells.append((path[0], path[1]))
        path = path[2]
    cells.reverse()
    return cells


@dataclass(eq=False)
class CompiledRule:
    """Everything the interpreter needs to run one rule."""

    name: str
    file: str
    rule: ast.Rule
    nfa: NFA
    window_ms: int | None
    skip: str
    skip_var: str | None
    key_fields: list[tuple[str, tuple[str, ...]]]
    #: variables reported in `events`, in pattern order
    variables: list[str]
    #: every element name in pattern order (unnamed terms included): the tie order
    binding_order: list[str]
    repeated: frozenset[str]
    emit: list[tuple[str, Callable[[Env], Any]]] | None
    timeout_emit: list[tuple[str, Callable[[Env], Any]]] | None
    where: Callable[[Env], bool] | None
    severity: str | None
    tags: tuple[str, ...] | None
    terms: list[TermTest]
    #: the AST term of each entry of `terms`, and the checker's name resolutions
    term_nodes: list[ast.Term] = dataclasses.field(default_factory=list)
    resolutions: dict[int, Any] = dataclasses.field(default_factory=dict)
    #: the checker's type of each expression node (by id)
    expr_types: dict[int, Any] = dataclasses.field(default_factory=dict)

    def bindings(self, path: Path) -> dict[str, Any]:
        """What expressions see: each variable's event, or list of events (`[]` when a
        repeated variable bound nothing)."""
        result: dict[str, Any] = {name: [] for name in self.repeated}
        repeated = self.repeated
        for var, event in path_events(path):
            if var in repeated:
                result[var].append(event)
            else:
                result[var] = event
        return result

    def completes(self, path: Path) -> bool:
        """Whether `where` holds for a finished match with history `path`."""
        return self.where is None or self.where(Env(None, self.bindings(path)))


def subtypes_of(schemas: dict[str, Schema]) -> dict[str, frozenset[str]]:
    """For each schema, itself and every schema that extends it (transitively)."""
    parents = {name: schema.decl.extends for name, schema in schemas.items()}
    result: dict[str, set[str]] = {name: {name} for name in schemas}
    for name in schemas:
        seen = set()
        parent = parents.get(name)
        while parent is not None and parent not in seen:
            seen.add(parent)
            result.setdefault(parent, {parent}).add(name)
            parent = parents.get(parent)
    return {name: frozenset(members) for name, members in result.items()}


def expr_nodes(expr: Any) -> list[Any]:
    """An expression and every expression node inside it."""
    out = [expr]
    if dataclasses.is_dataclass(expr):
        for item in dataclasses.fields(expr):
            value = getattr(expr, item.name)
            if isinstance(value, tuple):
                for element in value:
                    if isinstance(element, tuple):
                        out.extend(n for part in element for n in expr_nodes(part))
                    else:
                        out.extend(expr_nodes(element))
            elif dataclasses.is_dataclass(value) and not isinstance(value, ast.Span):
                out.extend(expr_nodes(value))
    return out


def uses_variables(expr: ast.Expr | None, resolutions: dict[int, Any]) -> bool:
    """Whether an expression refers to a pattern variable (so depends on a run)."""
    if expr is None:
        return False
    for node in expr_nodes(expr):
        if isinstance(node, ast.Name):
            resolution = resolutions.get(id(node))
            if resolution is not None and resolution.kind in ("var", "own"):
                return True
    return False


class RuleCompiler:
    """Compiles one checked rule."""

    def __init__(self, checked: CheckedRule, schemas: dict[str, Schema]) -> None:
        self.checked = checked
        self.rule = checked.rule
        self.subtypes = subtypes_of(schemas)
        self.exprs = ExpressionCompiler(checked.results.resolutions)
        self.resolutions = checked.results.resolutions
        self.repeated = frozenset(n for n, v in checked.variables.items() if v.repeated)
        self._rule_ref: list[CompiledRule] = []

    def compile(self) -> CompiledRule:
        rule = self.rule
        assert rule.pattern is not None
        terms = pattern_terms(rule.pattern)
        tests: dict[int, TermCond] = {}
        term_tests = []
        names = []
        for index, term in enumerate(terms):
            name = term.var or f"{term.event_type or 'any'}#{index + 1}"
            test = self._term_test(index, name, term)
            term_tests.append(test)
            tests[id(term)] = TermCond(test)
            names.append(name)
        chain = ChainBuilder(tests).chain(rule.pattern, NEXT)
        compiler = NFACompiler(self._where_cond if rule.where is not None else None)
        nfa = compiler.compile(chain, self.checked.within_ms).finalize()
        types = [test.event_types for test in term_tests]
        nfa.relevant_types = None if None in types else frozenset().union(*types)
        skip = rule.skip.kind if rule.skip else "past_last"
        variables = [name for name, info in self.checked.variables.items() if not info.negated]
        compiled = CompiledRule(
            name=rule.name,
            file=self.checked.file,
            rule=rule,
            nfa=nfa,
            window_ms=self.checked.within_ms,
            skip=skip,
            skip_var=rule.skip.var if rule.skip else None,
            key_fields=[(".".join(p.parts), p.parts) for p in rule.partition],
            variables=variables,
            binding_order=list(dict.fromkeys(names)),
            repeated=self.repeated,
            emit=self._emit(rule.emit),
            timeout_emit=self._emit(rule.timeout_emit),
            where=self.exprs.condition(rule.where) if rule.where is not None else None,
            severity=rule.severity,
            tags=rule.tags,
            terms=term_tests,
            term_nodes=terms,
            resolutions=self.resolutions,
            expr_types=self.checked.results.types,
        )
        self._rule_ref.append(compiled)
        return compiled

    def _emit(
        self, fields: tuple[ast.EmitField, ...] | None
    ) -> list[tuple[str, Callable[[Env], Any]]] | None:
        if fields is None:
            return None
        return [(item.name, self.exprs.compile(item.expr)) for item in fields]

    def _term_test(self, index: int, name: str, term: ast.Term) -> TermTest:
        types = (
            None
            if term.event_type is None
            else self.subtypes.get(term.event_type, frozenset({term.event_type}))
        )
        condition = self.exprs.condition(term.condition) if term.condition is not None else None
        independent = not uses_variables(term.condition, self.resolutions)
        source = term.event_type or "any"
        if term.condition is not None:
            source += f"[{format_expr(term.condition)}]"
        if term.var:
            source = f"{term.var} = {source}"
        rule_ref = self._rule_ref

        fast = (
            EventPredicates(self.resolutions).build(term.condition)
            if independent and term.condition is not None
            else None
        )
        if fast is not None:
            if types is None:

                def test(event: Event, path: Any) -> bool:
                    return fast(event)

            else:

                def test(event: Event, path: Any) -> bool:
                    return event.type in types and fast(event)

        elif independent:

            def test(event: Event, path: Any) -> bool:
                if types is not None and event.type not in types:
                    return False
                return condition is None or condition(Env(event, _EMPTY))

        else:
            assert condition is not None

            def test(event: Event, path: Any) -> bool:
                if types is not None and event.type not in types:
                    return False
                return condition(Env(event, rule_ref[0].bindings(path)))

        return TermTest(index, name, source, test, independent, types)

    def _where_cond(self, var: str) -> Cond:
        rule_ref = self._rule_ref

        def test(event: Event, path: Any) -> bool:
            return rule_ref[0].completes((var, event, path))

        return WhereCond(test, var)


def compile_rule(checked: CheckedRule, schemas: dict[str, Schema]) -> CompiledRule:
    """Compile a rule that passed checking."""
    return RuleCompiler(checked, schemas).compile()
