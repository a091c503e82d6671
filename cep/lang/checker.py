"""Name resolution, type checking and lints for loaded rule files.

`check_program` turns a loaded `Program` into a `CheckedProgram`: the rules and tests
with what the compiler needs to know about them (variables, resolved names, types,
window length), plus every error and warning found.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from cep.lang import ast
from cep.lang.diagnostics import (
    Diagnostic,
    DiagnosticSink,
    did_you_mean,
    misspelling_of,
    sort_key,
)
from cep.lang.expr_types import ExprTyper, Scope, TypeResults, VarInfo
from cep.lang.lints import always_false, pattern_can_be_empty
from cep.lang.program import (
    ConstInfo,
    NotConstant,
    Program,
    Schema,
    constant_value,
    load_program,
    load_sources,
)
from cep.lang.test_checks import check_test
from cep.lang.types import a, event_of


@dataclass
class CheckedRule:
    """A rule that passed (or failed) checking, with what the compiler needs."""

    rule: ast.Rule
    file: str
    variables: dict[str, VarInfo]
    results: TypeResults
    within_ms: int | None
    consts: dict[str, ConstInfo]
    ok: bool = True

    @property
    def name(self) -> str:
        return self.rule.name


@dataclass
class CheckedProgram:
    """The outcome of checking: rules, tests, schemas and diagnostics."""

    program: Program
    rules: dict[str, CheckedRule] = field(default_factory=dict)
    tests: list[tuple[str, ast.TestDecl]] = field(default_factory=list)

    @property
    def schemas(self) -> dict[str, Schema]:
        return self.program.schemas

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return sorted(self.program.diagnostics, key=sort_key)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]

    @property
    def ok(self) -> bool:
        return not self.errors

    def render(self, diagnostics: list[Diagnostic] | None = None) -> str:
        shown = self.diagnostics if diagnostics is None else diagnostics
        return "\n".join(d.render(self.program.source_of(d.span.file)) for d in shown)


def check_paths(paths: list[str]) -> CheckedProgram:
    """Load and check the rule files under `paths` (raises `RulePathError` for bad paths)."""
    return check_program(load_program(paths))


def check_sources(sources: dict[str, str]) -> CheckedProgram:
    """Load and check in-memory rule files (file name -> text)."""
    return check_program(load_sources(sources))


def check_program(program: Program) -> CheckedProgram:
    checked = CheckedProgram(program)
    sink = program.sink
    first_rule: dict[str, ast.Rule] = {}
    for path, loaded in program.files.items():
        for rule in loaded.module.of_type(ast.Rule):
            if rule.name in first_rule:
                first = first_rule[rule.name].name_span
                sink.declared_twice(f"rule `{rule.name}`", rule.name_span, first, "duplicate-rule")
                continue
            first_rule[rule.name] = rule
            checked.rules[rule.name] = _RuleChecker(program, path, rule).check()
    for path, loaded in program.files.items():
        visible_rules = {
            rule.name: checked.rules[rule.name]
            for other in program.visible_files(path)
            for rule in program.files[other].module.of_type(ast.Rule)
            if rule.name in checked.rules
        }
        broken = set().union(*(program.files[f].broken_names for f in program.visible_files(path)))
        for test in loaded.module.of_type(ast.TestDecl):
            check_test(test, loaded, program, visible_rules, broken, sink)
            checked.tests.append((path, test))
    return checked


# ---------------------------------------------------------------------------- rules


class _RuleChecker:
    def __init__(self, program: Program, path: str, rule: ast.Rule) -> None:
        self.program = program
        self.rule = rule
        self.consts = program.files[path].consts
        self.path = path
        self.local = DiagnosticSink()
        self.results = TypeResults()
        self.typer = ExprTyper(self.local, self.results, program.schemas)
        self.variables: dict[str, VarInfo] = {}

    def check(self) -> CheckedRule:
        rule = self.rule
        within_ms = self._within()
        if rule.pattern is None:
            self.local.error(
                f"rule `{rule.name}` has no `pattern` clause",
                rule.name_span,
                "help: every rule needs a pattern, e.g. `pattern a = Login -> b = Logout`",
                code="missing-pattern",
            )
        else:
            self._collect_variables(rule.pattern, repeated=False, optional=False, negated=False)
            self._check_structure(rule.pattern, within_ms)
            self._check_conditions(rule.pattern, {}, frozenset())
        bound = {n: v for n, v in self.variables.items() if not v.negated}
        plain = Scope(self.program.schemas, self.consts, bound, self.variables)
        if rule.where is not None:
            self.typer.check_condition(rule.where, plain, "a `where` condition")
            self._lint_always_false(rule.where)
        for emit_field in (*(rule.emit or ()), *(rule.timeout_emit or ())):
            self.typer.check(emit_field.expr, plain)
        self._check_partition()
        self._check_skip()
        self._lints(within_ms)
        self.program.sink.extend(self.local.items)
        ok = not self.local.errors
        return CheckedRule(
            rule, self.path, self.variables, self.results, within_ms, self.consts, ok
        )

    # -- clauses

    def _within(self) -> int | None:
        expr = self.rule.within
        if expr is None:
            return None
        try:
            value, value_type = constant_value(expr, self.consts)
        except NotConstant as problem:
            self.local.error(
                "`within` takes a duration such as `1m` or a constant naming one",
                expr.span,
                *problem.hints(self.consts),
                code="bad-within",
            )
            return None
        if value_type.kind != "duration":
            self.local.error(
                f"`within` takes a duration such as `1m`, not {a(value_type)}",
                expr.span,
                code="bad-within",
            )
            return None
        if not isinstance(value, int) or value <= 0:
            self.local.error("`within` must be longer than zero", expr.span, code="bad-within")
            return None
        return value

    def _check_partition(self) -> None:
        known = self.program.schemas
        names = dict.fromkeys(t.event_type for t in pattern_terms(self.rule.pattern))
        schemas = [known[name] for name in names if name in known]
        for path in self.rule.partition:
            head = path.parts[0]
            for schema in schemas:
                field_type = schema.field_type(head)
                close = did_you_mean(head, schema.field_names())
                if field_type is None and close:
                    self.local.error(
                        f"partition field `{head}` is not a field of `{schema.name}`",
                        path.span,
                        *close,
                        code="unknown-field",
                    )
                    break
                if field_type is not None and len(path.parts) > 1 and not field_type.is_dynamic:
                    self.local.error(
                        f"`{head}` is {a(field_type)}; it has no field `{path.parts[1]}`",
                        path.span,
                        code="not-a-record",
                    )
                    break

    def _check_skip(self) -> None:
        skip = self.rule.skip
        if skip is None or skip.var is None:
            return
        known = self.variables.get(skip.var)
        if known is None or known.negated:
            self.local.error(
                f"`skip to {skip.kind.removeprefix('to_')} {skip.var}` names an unknown variable",
                skip.span,
                *did_you_mean(skip.var, [n for n, v in self.variables.items() if not v.negated]),
                code="unknown-variable",
            )
        else:
            self.results.used_variables.add(skip.var)

    # -- pattern

    def _collect_variables(
        self, node: ast.Pattern, *, repeated: bool, optional: bool, negated: bool
    ) -> None:
        match node:
            case ast.Term(var=var):
                if var is None:
                    return
                if var in self.variables:
                    self.local.error(
                        f"variable `{var}` is bound twice in one pattern",
                        node.span,
                        "help: give each term its own name",
                        code="duplicate-variable",
                    )
                    return
                if var in self.consts:
                    self.local.error(
                        f"variable `{var}` has the name of a constant",
                        node.span,
                        code="variable-shadows-const",
                    )
                self.variables[var] = VarInfo(
                    var, node.event_type, repeated, optional, negated, node.span
                )
            case ast.Quantified(body=body):
                single = isinstance(body, ast.Term) and node.form == "?"
                self._collect_variables(
                    body,
                    repeated=repeated or not single,
                    optional=optional or node.min_count == 0,
                    negated=negated,
                )
            case ast.Negation(body=body):
                self._collect_variables(body, repeated=repeated, optional=True, negated=True)
            case (
                ast.Sequence(items=items)
                | ast.AllOf(members=items)
                | ast.Alternation(options=items)
            ):
                optional = optional or isinstance(node, ast.Alternation)
                for item in items:
                    self._collect_variables(
                        item, repeated=repeated, optional=optional, negated=negated
                    )

    def _check_structure(self, pattern: ast.Pattern, within_ms: int | None) -> None:
        """Shapes that cannot run: misplaced `not`, impossible repetitions, and so on."""
        first = _first_item(pattern)
        if isinstance(first, ast.Negation):
            self.local.error(
                "a pattern cannot start with `not`",
                first.span,
                "help: absence is measured after something happened: `a = A -> not B`",
                code="leading-negation",
            )
        if isinstance(pattern, ast.Negation):
            return
        last_op, last = _last_item(pattern)
        if isinstance(last, ast.Negation):
            if last_op == "->>":
                self.local.error(
                    "`->>` cannot lead into `not`; write `->` (no such event) or `=>` "
                    "(not the very next event)",
                    last.span,
                    code="any-into-not",
                )
            elif last_op == "->" and within_ms is None:
                self.local.error(
                    "a pattern that ends with `-> not ...` needs `within`",
                    last.span,
                    "help: absence can only be decided once a window closes, e.g. `within 1h`",
                    code="trailing-negation-without-within",
                )
        elif pattern_can_be_empty(pattern):
            self.local.error(
                "this pattern can match without any event",
                pattern.span,
                "help: make at least one term required (not under `?` or `*`)",
                code="empty-pattern",
            )
        self._walk_structure(pattern)

    def _walk_structure(self, node: ast.Pattern) -> None:
        match node:
            case ast.Quantified(body=body):
                if _contains_negation_at_edge(body):
                    self.local.error(
                        "a repetition cannot apply to `not`",
                        node.span,
                        "help: repeat the events around it instead, or move `not` inside "
                        "a group between two terms",
                        code="quantified-negation",
                    )
                if node.form == "?" and not node.greedy:
                    self.local.error(
                        "`??`: an optional term has no reluctant form",
                        node.span,
                        code="reluctant-optional",
                    )
                if node.contiguity != "relaxed" and node.max_count == 1:
                    self.local.warning(
                        f"`{'consecutive' if node.contiguity == 'strict' else 'any'}` "
                        "relates repeated events, but this repeats at most once",
                        node.span,
                        code="pointless-contiguity",
                    )
                self._walk_structure(body)
            case ast.Negation(body=body):
                if any(
                    isinstance(n, ast.Negation | ast.Quantified | ast.AllOf | ast.Sequence)
                    for n in pattern_nodes(body)
                ):
                    self.local.error(
                        "`not` applies to a single term (or `|` of terms)",
                        node.span,
                        code="complex-negation",
                    )
            case ast.Sequence(items=items):
                for item in items:
                    self._walk_structure(item)
                for before, after in itertools.pairwise(items):
                    previous, following = _last_item(before)[1], _first_item(after)
                    if _is_greedy_repetition(previous) and _is_optional(following):
                        self.local.error(
                            "an optional term cannot follow a greedy repetition: it would "
                            "only ever be skipped by an event the repetition cannot take "
                            "(Flink CEP refuses it too)",
                            following.span,
                            "help: make the repetition reluctant (`+?`, `{n,m}?`) or the "
                            "term required",
                            code="optional-after-greedy",
                        )
            case ast.Alternation(options=options):
                for option in options:
                    if isinstance(option, ast.Negation):
                        self.local.error(
                            "`not` cannot be one side of `|`", option.span, code="negated-option"
                        )
                    self._walk_structure(option)
            case ast.AllOf(members=members):
                for member in members:
                    if isinstance(_first_item(member), ast.Negation):
                        self.local.error(
                            "a member of `all(...)` cannot start with `not`",
                            member.span,
                            code="leading-negation",
                        )
                    self._walk_structure(member)

    def _check_conditions(
        self, node: ast.Pattern, visible: dict[str, VarInfo], exclusive: frozenset[str]
    ) -> dict[str, VarInfo]:
        """Type-check term conditions in pattern order; returns the variables `node` binds."""
        match node:
            case ast.Term():
                own = self.variables.get(node.var) if node.var else None
                if node.event_type is not None and node.event_type not in self.program.schemas:
                    self._schema_hint(node)
                if node.condition is not None:
                    scope = Scope(
                        self.program.schemas,
                        self.consts,
                        visible,
                        self.variables,
                        candidate=event_of(
                            node.event_type if node.event_type in self.program.schemas else None
                        ),
                        own_var=own,
                        exclusive=exclusive,
                    )
                    self.typer.check_condition(node.condition, scope, "a term's condition")
                    self._lint_always_false(node.condition)
                return {node.var: own} if own is not None and not own.negated else {}
            case ast.Quantified(body=body):
                return self._check_conditions(body, visible, exclusive)
            case ast.Negation(body=body):
                self._check_conditions(body, visible, exclusive)
                return {}
            case ast.Sequence(items=items):
                current = dict(visible)
                bound: dict[str, VarInfo] = {}
                for item in items:
                    found = self._check_conditions(item, current, exclusive)
                    current.update(found)
                    bound.update(found)
                return bound
            case ast.Alternation(options=options):
                bound = {}
                branch_vars = [{t.var for t in pattern_terms(o) if t.var} for o in options]
                for i, option in enumerate(options):
                    others = set().union(*(v for j, v in enumerate(branch_vars) if j != i))
                    bound.update(
                        self._check_conditions(option, visible, exclusive | frozenset(others))
                    )
                return bound
            case ast.AllOf(members=members):
                bound = {}
                for member in members:
                    bound.update(self._check_conditions(member, visible, exclusive))
                return bound
        raise AssertionError(f"unknown pattern node {node!r}")

    def _schema_hint(self, term: ast.Term) -> None:
        """A pattern's event type with no schema: an error where it is a misspelling of
        a declared one (the rule could never match), else a warning (its fields are
        typed from the data, unchecked)."""
        name = str(term.event_type)
        near = misspelling_of(name, self.program.schemas)
        if near is not None:
            self.local.error(
                f"no event type `{name}` is declared, but `{near}` is: this term would never match",
                term.span,
                f"help: did you mean `{near}`?",
                code="misspelt-type",
            )
            return
        self.local.warning(
            f"no schema is declared for event type `{name}` in any loaded file; "
            "its events' fields are typed from the data, unchecked",
            term.span,
            *did_you_mean(name, self.program.schemas),
            code="unknown-schema",
        )

    # -- lints

    def _lint_always_false(self, condition: ast.Expr) -> None:
        reason = always_false(condition, self.consts)
        if reason:
            self.local.warning(
                f"this condition is always false ({reason})", condition.span, code="always-false"
            )

    def _lints(self, within_ms: int | None) -> None:
        rule = self.rule
        if rule.within is None and rule.pattern is not None:
            self.local.warning(
                f"rule `{rule.name}` has no `within`: its partial matches are kept forever",
                rule.name_span,
                "help: bound the time a match may take, e.g. `within 10m`",
                code="no-within",
            )
            if any(
                (isinstance(n, ast.Sequence) and "->>" in n.ops)
                or (isinstance(n, ast.Quantified) and n.contiguity == "any")
                for n in pattern_nodes(rule.pattern)
            ):
                self.local.warning(
                    "`->>` without `within` keeps every combination of events forever",
                    rule.name_span,
                    code="any-without-within",
                )
        if rule.emit is not None:
            for name, var in self.variables.items():
                if name not in self.results.used_variables:
                    self.local.warning(
                        f"variable `{name}` is never used",
                        var.span,
                        "help: drop the name (`Type[...]` alone) or use it in "
                        "`emit`, `where` or a condition",
                        code="unused-variable",
                    )


# ---------------------------------------------------------------------------- pattern helpers


def pattern_nodes(node: ast.Pattern | None) -> list[ast.Pattern]:
    """A pattern and every pattern node inside it, in source order."""
    if node is None:
        return []
    out = [node]
    match node:
        case ast.Quantified(body=body) | ast.Negation(body=body):
            out.extend(pattern_nodes(body))
        case (
            ast.Sequence(items=children)
            | ast.Alternation(options=children)
            | ast.AllOf(members=children)
        ):
            for child in children:
                out.extend(pattern_nodes(child))
    return out


def pattern_terms(node: ast.Pattern | None) -> list[ast.Term]:
    return [n for n in pattern_nodes(node) if isinstance(n, ast.Term)]


def _first_item(node: ast.Pattern) -> ast.Pattern:
    while isinstance(node, ast.Sequence):
        node = node.items[0]
    return node


def _last_item(node: ast.Pattern) -> tuple[str | None, ast.Pattern]:
    op = None
    while isinstance(node, ast.Sequence):
        op = node.ops[-1]
        node = node.items[-1]
    return op, node


def _is_greedy_repetition(node: ast.Pattern) -> bool:
    """A repetition of a single term with a greedy form (not `?`, not `any`, not a group)."""
    return (
        isinstance(node, ast.Quantified)
        and node.greedy
        and node.form != "?"
        and node.contiguity != "any"
        and isinstance(node.body, ast.Term)
        and not (node.max_count == 1 and node.min_count <= 1)
    )


def _is_optional(node: ast.Pattern) -> bool:
    return isinstance(node, ast.Quantified) and node.min_count == 0


def _contains_negation_at_edge(node: ast.Pattern) -> bool:
    """A group whose first or last element is `not` (which a repetition cannot repeat)."""
    return isinstance(_first_item(node), ast.Negation) or isinstance(
        _last_item(node)[1], ast.Negation
    )
