"""`cep explain`: the NFA a rule compiles into, as text."""

from __future__ import annotations

import argparse
import sys

from cep.api import load_rules
from cep.compile.rule import CompiledRule
from cep.lang.checker import check_paths
from cep.lang.diagnostics import did_you_mean
from cep.lang.program import RulePathError

EXIT_OK, EXIT_RULE_ERRORS, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser(
        "explain",
        help="print the automaton a rule compiles into",
        description="Print a rule's compiled NFA: its states and their ordered edges.",
    )
    explain.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    explain.add_argument("--rule", required=True, metavar="NAME", help="the rule to explain")
    explain.set_defaults(handler=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        checked = check_paths(args.paths)
    except RulePathError as error:
        print(f"cep explain: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not checked.ok:
        print(checked.render(checked.errors), file=sys.stderr)
        return EXIT_RULE_ERRORS
    if args.rule not in checked.rules:
        hints = did_you_mean(args.rule, checked.rules)
        print(f"cep explain: no rule named {args.rule!r}", file=sys.stderr)
        for hint in hints:
            print(f"  {hint}", file=sys.stderr)
        return EXIT_USAGE
    (rule,) = load_rules(checked, [args.rule])
    print(explain(rule))
    return EXIT_OK


def explain(rule: CompiledRule) -> str:
    """The rule's automaton: header, terms, then states with their edges in order."""
    from cep.fast.plan import fast_path_refusal, term_tests  # numba loads only now

    refusal = fast_path_refusal(rule)
    engine = (
        "can run compiled (numba fast path), or on the interpreter"
        if refusal is None
        else f"interpreter only: {refusal}"
    )
    nfa = rule.nfa
    window = f"{rule.window_ms} ms" if rule.window_ms is not None else "none"
    skip = rule.skip.replace("_", " ") + (f" {rule.skip_var}" if rule.skip_var else "")
    keys = ", ".join(name for name, _ in rule.key_fields) or "none (one partition)"
    lines = [
        f"rule {rule.name} ({rule.file})",
        f"  engine: {engine}",
        f"  partition by: {keys}",
        f"  window: {window}; skip: {skip}",
        f"  states: {len(nfa.states)}; events of other types "
        + ("are skipped" if nfa.skips_irrelevant and nfa.relevant_types else "are looked at"),
        "terms:",
    ]
    lines.extend(f"  {term.name}: {term.source}" for term in rule.terms)
    if rule.where is not None:
        lines.append("  where: the rule's `where`, checked where a match would complete")
    if refusal is None:
        lines.append("term tests on the fast path:")
        lines.extend(f"  {line}" for line in term_tests(rule))
    lines.append("states (edges in the order runs try them):")
    lines.extend("  " + line for line in nfa.render().splitlines())
    return "\n".join(lines)
