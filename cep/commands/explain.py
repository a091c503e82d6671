"""`cep explain`: the NFA each rule compiles into, as text or as a Graphviz drawing."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cep.api import load_rules
from cep.compile.conditions import TRUE
from cep.compile.nfa import FINAL, IGNORE, PROCEED, TAKE
from cep.compile.rule import CompiledRule
from cep.lang.checker import check_paths
from cep.lang.diagnostics import did_you_mean
from cep.lang.program import RulePathError

if TYPE_CHECKING:
    import graphviz

EXIT_OK, EXIT_RULE_ERRORS, EXIT_USAGE = 0, 1, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    explain = commands.add_parser(
        "explain",
        help="print or draw the automaton each rule compiles into",
        description=(
            "Print each rule's compiled NFA: its states and their ordered edges; or draw "
            "it (--format dot|svg|png, to standard output) with Graphviz."
        ),
    )
    explain.add_argument("paths", nargs="+", metavar="PATH", help="rule files or folders")
    explain.add_argument("--rule", metavar="NAME", help="only this rule (default: every rule)")
    explain.add_argument(
        "--format",
        choices=("text", "dot", "svg", "png"),
        default="text",
        help="text, Graphviz's DOT language, or a drawing made by Graphviz's `dot` program",
    )
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
    if args.rule is not None and args.rule not in checked.rules:
        hints = did_you_mean(args.rule, checked.rules)
        print(f"cep explain: no rule named {args.rule!r}", file=sys.stderr)
        for hint in hints:
            print(f"  {hint}", file=sys.stderr)
        return EXIT_USAGE
    rules = load_rules(checked, None if args.rule is None else [args.rule])
    if args.format == "text":
        print("\n\n".join(map(explain, rules)))
        return EXIT_OK
    return _draw(rules, args.format)


def _draw(rules: list[CompiledRule], form: str) -> int:
    if form == "png" and sys.stdout.isatty():
        print("cep explain: a PNG is not for a terminal; redirect it: > rules.png", file=sys.stderr)
        return EXIT_USAGE
    import graphviz  # (only here: every other command starts without it)

    graph = automaton_graph(rules)
    if form == "dot":
        print(graph.source, end="")
        return EXIT_OK
    try:
        picture = graph.pipe(format=form)
    except graphviz.ExecutableNotFound:
        print(
            f"cep explain: --format {form} needs Graphviz's `dot` program, which is not "
            "installed: install the system package `graphviz` (apt-get install graphviz, "
            "brew install graphviz, ...); --format dot works without it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.stdout.buffer.write(picture)
    return EXIT_OK


_EDGE_STYLE = {TAKE: "solid", IGNORE: "dashed", PROCEED: "dotted"}


def automaton_graph(rules: list[CompiledRule]) -> graphviz.Digraph:
    """One drawing, one box per rule: states as circles (the final one doubled), edges
    labelled with their action and condition in the order runs try them."""
    import graphviz

    graph = graphviz.Digraph("cep", graph_attr={"rankdir": "LR", "fontname": "Helvetica"})
    graph.attr("node", shape="circle", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9")
    for number, rule in enumerate(rules):
        with graph.subgraph(name=f"cluster_{number}") as box:
            box.attr(label=f"rule {rule.name}", style="rounded")
            node = {state: f"r{number}s{i}" for i, state in enumerate(rule.nfa.states)}
            box.node(f"r{number}start", "", shape="point")
            box.edge(f"r{number}start", node[rule.nfa.start])
            for state in rule.nfa.states:
                shape = "doublecircle" if state.kind == FINAL else "circle"
                box.node(node[state], state.name, shape=shape)
                for order, edge in enumerate(state.edges, start=1):
                    label = f"{order}. {edge.action}"
                    if edge.cond is not TRUE:
                        label += f"\\nif {edge.cond.render()}"
                    style = _EDGE_STYLE.get(edge.action, "solid")
                    box.edge(node[state], node[edge.target], label=label, style=style)
    return graph


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
