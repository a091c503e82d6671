"""Patterns compiled into NFAs in the SASE+ / Flink CEP model.

The construction follows Flink CEP's `NFACompiler` (docs/design/nfa.md, section 2): the
pattern is a chain of elements (terms, negations, groups), converted backwards from the
last one, each element becoming states whose ordered edges (TAKE, IGNORE, PROCEED) point
at the states already built for the rest of the pattern. Edge order matters: it is the
order in which a run's children are created.

Two forms have no Flink counterpart and are ours (docs/LANGUAGE.md):

- `A | B`: a branch state with a PROCEED edge to each option's first state; waiting
  before the branch (the relation to the previous term) is done by the branch state,
  so an event that binds no option is skipped once, and one that binds several forks.
- `all(A, B, ...)`: every order of the members, as an alternation of sequences (each
  member binds the first later event that satisfies it).

The rule's `where` is checked where a run would complete: on a TAKE edge into the final
state it is and-ed with the term's condition (so a false `where` makes the event count
as not matching that term), and the interpreter checks it before any other completion.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cep.compile.conditions import TRUE, Cond, EdgeTest, NotCond, TermCond, conj, disj
from cep.lang import ast

TAKE, IGNORE, PROCEED = "take", "ignore", "proceed"
START, NORMAL, FINAL, STOP, PENDING = "start", "normal", "final", "stop", "pending"

# how an element relates to the one before it (Flink's consuming strategies)
STRICT, NEXT, ANY, NOT_NEXT, NOT_FOLLOW = "strict", "next", "any", "not next", "not follow"
_OP_STRATEGY = {"->": NEXT, "=>": STRICT, "->>": ANY}
_CONTIGUITY = {"relaxed": NEXT, "strict": STRICT, "any": ANY}

#: more members than this in `all(...)` would compile into too many orders
MAX_ALL_MEMBERS = 5


class PatternCompileError(Exception):
    """A pattern the checker accepted but the NFA compiler cannot build."""


# ---------------------------------------------------------------------------- the graph


@dataclass(eq=False)
class Edge:
    action: str
    source: State
    target: State
    cond: Cond
    test: EdgeTest = None

    def render(self) -> str:
        return f"{self.action} -> {self.target.name}" + (
            "" if self.cond is TRUE else f"  if {self.cond.render()}"
        )


@dataclass(eq=False)
class State:
    """A state: `var` is the variable its TAKE edges bind (the element's name)."""

    name: str
    var: str
    kind: str = NORMAL
    edges: list[Edge] = field(default_factory=list)
    #: set by `NFA.finalize`: a FINAL state can be reached by PROCEED edges alone
    proceeds_to_final: bool = False
    #: set by `NFA.finalize`: the state has no PROCEED edge
    plain: bool = False

    def add(self, action: str, target: State | None, cond: Cond) -> None:
        self.edges.append(Edge(action, self, target or self, cond))


@dataclass(eq=False)
class NFA:
    """The compiled automaton of one rule."""

    start: State
    states: list[State]
    window_ms: int | None
    #: the event types that can bind any term (None: some term takes any type)
    relevant_types: frozenset[str] | None = None
    #: events no term can use leave every run as it was, so they can be skipped
    skips_irrelevant: bool = False

    def finalize(self) -> NFA:
        """Compile edge conditions and work out the static facts the runtime uses."""
        for state in self.states:
            for edge in state.edges:
                edge.test = edge.cond.compile()
        for state in self.states:
            state.proceeds_to_final = _proceeds_to_final(state)
            state.plain = all(edge.action != PROCEED for edge in state.edges)
        self.skips_irrelevant = all(_idle_without_terms(s) for s in self.states)
        return self

    def render(self) -> str:
        lines = []
        order = self._display_order()
        for state in order:
            label = f"{state.name} ({state.kind})" if state.kind != NORMAL else state.name
            lines.append(label)
            if not state.edges:
                lines.append("    (no edges)")
            for edge in state.edges:
                lines.append("    " + edge.render())
        return "\n".join(lines)

    def _display_order(self) -> list[State]:
        """States reachable from the start, breadth first, then any others."""
        seen: list[State] = []
        queue = [self.start]
        while queue:
            state = queue.pop(0)
            if state in seen:
                continue
            seen.append(state)
            queue.extend(edge.target for edge in state.edges)
        return seen + [s for s in self.states if s not in seen]


def _proceeds_to_final(state: State) -> bool:
    """Whether PROCEED edges (whatever their conditions) lead from `state` to the final
    state."""
    seen: set[int] = set()
    stack = [state]
    while stack:
        current = stack.pop()
        for edge in current.edges:
            if edge.action != PROCEED:
                continue
            if edge.target.kind == FINAL:
                return True
            if id(edge.target) not in seen:
                seen.add(id(edge.target))
                stack.append(edge.target)
    return False


def _idle_without_terms(state: State) -> bool:
    """Whether an event that satisfies no term leaves a run in `state` as it was."""
    if state.kind in (FINAL, STOP):
        return True
    edges: list[Edge] = []
    stack = [state]
    while stack:
        current = stack.pop()
        for edge in current.edges:
            if edge.cond.holds_when_no_term_does():
                if edge.action == PROCEED:
                    stack.append(edge.target)
                else:
                    edges.append(edge)
    if state.kind == START:
        return all(edge.action == IGNORE for edge in edges)
    return len(edges) == 1 and edges[0].action == IGNORE and edges[0].target is state


# ---------------------------------------------------------------------------- elements


@dataclass(eq=False)
class Element:
    """One element of a pattern chain (Flink's `Pattern`): a term, a negation, a group
    (`chain`) or an alternation (`options`), with its quantifier."""

    name: str
    kind: str  # "term" | "not" | "group" | "alt"
    strategy: str
    cond: Cond = TRUE
    chain: list[Element] = field(default_factory=list)
    options: list[list[Element]] = field(default_factory=list)
    quant: str = "single"  # "single" | "times" | "looping"
    lo: int = 1
    hi: int = 1
    optional: bool = False
    greedy: bool = False
    inner: str = NEXT
    previous: Element | None = None


class ChainBuilder:
    """Turns the AST of a pattern into element chains."""

    def __init__(self, terms: dict[int, TermCond]) -> None:
        self.terms = terms  # id(ast.Term) -> its condition
        self.counter = itertools.count(1)

    def chain(self, pattern: ast.Pattern, first_strategy: str) -> list[Element]:
        items, ops = _flatten(pattern)
        chain: list[Element] = []
        for index, item in enumerate(items):
            strategy = first_strategy if index == 0 else _OP_STRATEGY[ops[index - 1]]
            element = self.element(item, strategy)
            element.previous = chain[-1] if chain else None
            chain.append(element)
        return chain

    def element(self, node: ast.Pattern, strategy: str) -> Element:
        match node:
            case ast.Term():
                return Element(self._term_name(node), "term", strategy, cond=self.terms[id(node)])
            case ast.Negation(body=body):
                conds = [self.terms[id(t)] for t in _terms_of(body)]
                names = [self._term_name(t) for t in _terms_of(body)]
                kind = NOT_NEXT if strategy == STRICT else NOT_FOLLOW
                return Element("|".join(names), "not", kind, cond=disj(list(conds)))
            case ast.Quantified():
                return self._quantified(node, strategy)
            case ast.Alternation(options=options):
                chains = [self.chain(option, STRICT) for option in options]
                return self._alternation(chains, strategy)
            case ast.AllOf(members=members):
                if len(members) > MAX_ALL_MEMBERS:
                    raise PatternCompileError(
                        f"all(...) with more than {MAX_ALL_MEMBERS} members is not supported"
                    )
                chains = []
                for order in itertools.permutations(members):
                    chain: list[Element] = []
                    for index, member in enumerate(order):
                        part = self.chain(member, STRICT if index == 0 else NEXT)
                        if chain:
                            part[0].previous = chain[-1]
                        chain.extend(part)
                    chains.append(chain)
                return self._alternation(chains, strategy)
        raise PatternCompileError(f"cannot compile {type(node).__name__}")

    def _alternation(self, chains: list[list[Element]], strategy: str) -> Element:
        firsts = [chain[0].cond for chain in chains]
        return Element(
            f"branch{next(self.counter)}", "alt", strategy, cond=disj(firsts), options=chains
        )

    def _group(self, body: ast.Pattern, strategy: str) -> Element:
        inner = self.chain(body, NEXT)
        return Element(
            f"group{next(self.counter)}", "group", strategy, cond=inner[0].cond, chain=inner
        )

    def _quantified(self, node: ast.Quantified, strategy: str) -> Element:
        body = node.body
        if isinstance(body, ast.Term):
            element = self.element(body, strategy)
        else:
            element = self._group(body, strategy)
        element.inner = _CONTIGUITY[node.contiguity]
        lo, hi = node.min_count, node.max_count
        if node.form == "?":
            element.quant, element.optional = "single", True
        elif hi is None:
            element.quant, element.lo, element.hi = "looping", max(lo, 1), max(lo, 1)
            element.optional = lo == 0
        elif hi == 1 and lo <= 1:
            element.quant, element.optional = "single", lo == 0
        else:
            element.quant, element.lo, element.hi = "times", max(lo, 1), hi
            element.optional = lo == 0
        element.greedy = (
            node.greedy
            and node.form != "?"
            and element.kind == "term"
            and node.contiguity != "any"
            and element.quant != "single"
        )
        return element

    def _term_name(self, term: ast.Term) -> str:
        return self.terms[id(term)].term.name


def _flatten(pattern: ast.Pattern) -> tuple[list[ast.Pattern], list[str]]:
    """A sequence's items and operators, with unquantified nested sequences inlined."""
    if not isinstance(pattern, ast.Sequence):
        return [pattern], []
    items: list[ast.Pattern] = []
    ops: list[str] = []
    for index, item in enumerate(pattern.items):
        if index:
            ops.append(pattern.ops[index - 1])
        sub_items, sub_ops = _flatten(item)
        items.extend(sub_items)
        ops.extend(sub_ops)
    return items, ops


def _terms_of(node: ast.Pattern) -> list[ast.Term]:
    match node:
        case ast.Term():
            return [node]
        case ast.Alternation(options=options):
            return [t for option in options for t in _terms_of(option)]
        case ast.Quantified(body=body) | ast.Negation(body=body):
            return _terms_of(body)
    raise PatternCompileError("`not` applies to a term or an alternation of terms")


# ---------------------------------------------------------------------------- compiler


class NFACompiler:
    """Builds the states of one pattern, backwards, as Flink's NFACompiler does."""

    def __init__(self, where: Callable[[str], Cond] | None = None) -> None:
        self.states: list[State] = []
        self.stop_states: dict[str, State] = {}
        self.name_counts: dict[str, int] = {}
        self.current: Element | None = None
        self.following: Element | None = None
        self.current_group: Element | None = None
        self.first_of_loop: dict[int, bool] = {}
        self.where = where
        self.completing: set[int] = set()

    # -- entry point

    def compile(self, chain: list[Element], window_ms: int | None) -> NFA:
        final = self._state("$end", FINAL)
        self.completing = _completing(chain)
        self.current = chain[-1]
        sink = self._middle(chain, final)
        start = self._convert(sink)
        start.kind = START
        return NFA(start, self.states, window_ms)

    # -- states

    def _state(self, base: str, kind: str = NORMAL) -> State:
        count = self.name_counts.get(base, -1)  # the first is `base`, then `base:0`, ...
        self.name_counts[base] = count + 1
        state = State(base if count < 0 else f"{base}:{count}", base, kind)
        self.states.append(state)
        return state

    def _stop_state(self, element: Element) -> State:
        stop = self.stop_states.get(element.name)
        if stop is None:
            stop = self._state(element.name, STOP)
            stop.add(TAKE, None, element.cond)
            self.stop_states[element.name] = stop
        return stop

    # -- the chain, backwards

    def _middle(self, chain: list[Element], sink: State) -> State:
        last = sink
        for index in range(len(chain) - 1, 0, -1):
            element = chain[index]
            self.current = element
            if element.strategy == NOT_FOLLOW:
                if last.kind == FINAL:
                    pending = self._state(element.name, PENDING)
                    pending.add(PROCEED, self._stop_state(element), element.cond)
                    pending.add(IGNORE, None, NotCond(element.cond))
                    last = pending
            elif element.strategy == NOT_NEXT:
                not_next = self._state(element.name)
                stop = self._stop_state(element)
                if last.kind == FINAL:
                    not_next.add(IGNORE, last, NotCond(element.cond))
                else:
                    not_next.add(PROCEED, last, NotCond(element.cond))
                not_next.add(PROCEED, stop, element.cond)
                last = not_next
            else:
                last = self._convert(last)
            self.following = element
        self.current = chain[0]
        return last

    def _convert(self, sink: State) -> State:
        element = self._element()
        if element.quant == "looping":
            self._set_first_of_loop(False)
            looping = self._looping(self._copy_without_transitive_nots(sink))
            self._set_first_of_loop(True)
            last = self._times(looping, sink, element.lo, element.lo)
        elif element.quant == "times":
            last = self._times(sink, sink, element.lo, element.hi)
        else:
            last = self._singleton(
                sink, sink, element.cond, self._ignore_strategy(element), self._is_optional(element)
            )
        self._add_stop_states(last)
        return last

    def _element(self) -> Element:
        assert self.current is not None
        return self.current

    # -- negations

    def _current_nots(self) -> list[Element]:
        nots = []
        element = self._element()
        while element.previous is not None and (
            element.previous.optional or element.previous.strategy == NOT_FOLLOW
        ):
            element = element.previous
            if element.strategy == NOT_FOLLOW:
                nots.append(element)
        return nots

    def _add_stop_states(self, state: State) -> None:
        for element in self._current_nots():
            state.add(PROCEED, self._stop_state(element), element.cond)

    def _add_stop_to_looping(self, state: State) -> None:
        following = self.following
        if following is not None and following.strategy == NOT_FOLLOW:
            state.add(PROCEED, self._stop_state(following), following.cond)

    def _copy_without_transitive_nots(self, sink: State) -> State:
        nots = self._current_nots()
        if not nots or not self._element().optional:
            return sink
        names = {element.name for element in nots}
        copy = self._state(sink.var, sink.kind)
        for edge in sink.edges:
            if edge.action == PROCEED:
                if edge.target.kind == STOP:
                    if edge.target.var in names:
                        continue
                    copy.add(PROCEED, edge.target, edge.cond)
                else:
                    copy.add(PROCEED, self._copy_without_transitive_nots(edge.target), edge.cond)
            else:
                copy.add(edge.action, copy if edge.target is sink else edge.target, edge.cond)
        return copy

    # -- strategies

    def _headed_group(self, element: Element) -> Element | None:
        """The group being compiled, where `element` is its first element."""
        return self.current_group if element.previous is None else None

    def _group_first_of_loop(self) -> bool:
        group = self.current_group
        return True if group is None else self.first_of_loop.get(id(group), True)

    def _set_first_of_loop(self, value: bool) -> None:
        element = self._element()
        if element.kind == "group":
            self.first_of_loop[id(element)] = value

    def _is_optional(self, element: Element) -> bool:
        if group := self._headed_group(element):
            return self._group_first_of_loop() and group.optional
        return element.optional

    def _ignore_strategy(self, element: Element) -> str:
        if group := self._headed_group(element):
            return group.strategy if self._group_first_of_loop() else group.inner
        return element.strategy

    def _inner_strategy(self, element: Element) -> str:
        group = self._headed_group(element)
        return element.inner if group is None else group.inner

    # -- element shapes

    def _times(self, sink: State, proceed_to: State, lo: int, hi: int) -> State:
        element = self._element()
        self._set_first_of_loop(False)
        inner = self._inner_strategy(element)
        if element.greedy and lo != hi:
            _greedy_update(sink, element.cond)
        last = sink
        for _ in range(lo, hi):
            last = self._singleton(last, proceed_to, element.cond, inner, True)
            self._add_stop_to_looping(last)
        for _ in range(lo - 1):
            last = self._singleton(last, None, element.cond, inner, False)
            self._add_stop_to_looping(last)
        self._set_first_of_loop(True)
        return self._singleton(
            last, proceed_to, element.cond, self._ignore_strategy(element), element.optional
        )

    def _singleton(
        self,
        sink: State,
        proceed_to: State | None,
        take: Cond,
        ignore_strategy: str,
        optional: bool,
    ) -> State:
        element = self._element()
        if element.kind == "group":
            return self._group_state(element, sink, proceed_to, optional)
        state = self._state(element.name)
        target = self._copy_without_transitive_nots(sink)
        take_edges = self._take_edges(element, target, take)
        for action, edge_target, cond in take_edges:
            state.add(action, edge_target, cond)
        if optional and self._headed_group(element) is None:
            assert proceed_to is not None
            state.add(PROCEED, proceed_to, TRUE)
        ignore = _ignore_cond(ignore_strategy, take_edges, take)
        if ignore is not None:
            if optional:
                ignore_state = self._ignore_state(element, take_edges, ignore)
                self._add_stop_states(ignore_state)
            else:
                ignore_state = state
            state.add(IGNORE, ignore_state, ignore)
        return state

    def _ignore_state(
        self, element: Element, take_edges: list[tuple[str, State, Cond]], ignore: Cond
    ) -> State:
        """A state that binds as `element` does, or ignores an event by `ignore`."""
        state = self._state(element.name)
        for action, target, cond in take_edges:
            state.add(action, target, cond)
        state.add(IGNORE, None, ignore)
        return state

    def _take_edges(
        self, element: Element, target: State, take: Cond
    ) -> list[tuple[str, State, Cond]]:
        """What binds the element: a TAKE for a term, PROCEEDs to the options of `|`."""
        if element.kind == "alt":
            return [(PROCEED, head, TRUE) for head in self._option_heads(element, target)]
        if (
            self.where is not None
            and id(element) in self.completing
            and (target.kind == FINAL or _proceeds_to_final(target))
        ):
            take = conj(take, self.where(element.name))
        return [(TAKE, target, take)]

    @contextmanager
    def _inside(self, chain: list[Element], group: Element | None) -> Iterator[None]:
        """Compile `chain` (an option of `|`, or `group`'s body), then go back to the
        element being compiled."""
        saved = (self.current, self.following, self.current_group)
        self.current_group = group
        self.current = chain[-1]
        yield
        self.current, self.following, self.current_group = saved

    def _option_heads(self, element: Element, sink: State) -> list[State]:
        heads = []
        for chain in element.options:
            with self._inside(chain, None):
                heads.append(self._convert(self._middle(chain, sink)))
        return heads

    def _group_state(
        self, group: Element, sink: State, proceed_to: State | None, optional: bool
    ) -> State:
        with self._inside(group.chain, group):
            last = self._convert(self._middle(group.chain, sink))
            if optional:
                assert proceed_to is not None
                last.add(PROCEED, proceed_to, TRUE)
        return last

    def _looping(self, sink: State) -> State:
        element = self._element()
        if element.kind == "group":
            return self._looping_group(element, sink)
        looping = self._state(element.name)
        looping.add(PROCEED, sink, TRUE)
        if element.greedy:
            _greedy_update(sink, element.cond)
        take_edges = self._take_edges(element, looping, element.cond)
        for action, target, cond in take_edges:
            looping.add(action, target, cond)
        self._add_stop_to_looping(looping)
        ignore = _ignore_cond(self._inner_strategy(element), take_edges, element.cond)
        if ignore is not None:
            ignore_state = self._ignore_state(element, take_edges, ignore)
            looping.add(IGNORE, ignore_state, ignore)
            self._add_stop_to_looping(ignore_state)
        return looping

    def _looping_group(self, group: Element, sink: State) -> State:
        dummy = self._state(group.name)
        with self._inside(group.chain, group):
            last = self._convert(self._middle(group.chain, dummy))
            last.add(PROCEED, sink, TRUE)
            dummy.add(PROCEED, last, TRUE)
        return last


def _completing(chain: list[Element]) -> set[int]:
    """The elements whose takes can complete a match: the last one that is not a `not`
    (through alternations)."""
    for element in reversed(chain):
        if element.kind == "not":
            continue
        found = {id(element)}
        for option in element.options:
            found |= _completing(option)
        return found
    return set()


def _greedy_update(state: State, take: Cond) -> None:
    """Flink's `updateWithGreedyCondition`: the state after a greedy repetition may not
    use an event the repetition can take."""
    for edge in state.edges:
        edge.cond = conj(edge.cond, NotCond(take))


def _ignore_cond(
    strategy: str, take_edges: list[tuple[str, State, Cond]], take: Cond
) -> Cond | None:
    """The IGNORE condition for a strategy: none (strict), `not take` (next), `true` (any).

    For `next`, "take" is what the element's edges actually bind on (with `where` when
    they complete the match, the options' first terms for `|`).
    """
    if strategy == STRICT:
        return None
    if strategy == ANY:
        return TRUE
    binding = [cond for action, _, cond in take_edges if action == TAKE]
    if binding and len(binding) == len(take_edges):
        return NotCond(disj(binding))
    if take_edges and all(action == PROCEED for action, _, _ in take_edges):
        firsts = [_binding_cond(target) for _, target, _ in take_edges]
        return NotCond(disj(firsts))
    return NotCond(take)


def _binding_cond(state: State) -> Cond:
    """What can bind the first event at `state` (its TAKE conditions, through PROCEEDs)."""
    conds: list[Cond] = []
    seen: set[int] = set()
    stack = [state]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for edge in current.edges:
            if edge.action == TAKE and current.kind != STOP:
                conds.append(edge.cond)
            elif edge.action == PROCEED and edge.target.kind not in (STOP, FINAL):
                stack.append(edge.target)
    return disj(conds) if conds else TRUE
