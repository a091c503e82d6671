"""A rule's fingerprint: what its saved state means. Two rules with the same fingerprint
compile to the same NFA (states numbered alike), read events of the same schemas, and
use the same constants, so one's open runs are valid runs of the other; a rule whose
fingerprint changed starts with no state (docs/state.md)."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import msgspec

from cep.compile.rule import CompiledRule
from cep.digest import sha256
from cep.lang.printer import format_item

#: bumped when the compiler numbers states or lays out histories differently, so that
#: state saved by an older compiler is never read as this one's
COMPILED_FORM = 1


#: each compiled rule's fingerprint, made once (a rule is compiled against its schemas,
#: which do not change under it): every checkpoint asks again
_MADE: weakref.WeakKeyDictionary[CompiledRule, str] = weakref.WeakKeyDictionary()


def rule_fingerprint(rule: CompiledRule, schemas: Mapping[str, Any]) -> str:
    """A short hex digest of the rule's compiled form and of the schemas it reads."""
    found = _MADE.get(rule)
    if found is None:
        found = _MADE[rule] = _digest(rule, schemas)
    return found


def _digest(rule: CompiledRule, schemas: Mapping[str, Any]) -> str:
    consts = sorted(
        {(r.name, repr(r.value)) for r in rule.resolutions.values() if r.kind == "const"}
    )
    wanted = rule.nfa.relevant_types
    names = sorted(schemas) if wanted is None else sorted(_with_parents(wanted, schemas))
    parts = {
        "form": COMPILED_FORM,
        "rule": format_item(rule.rule),
        "nfa": rule.nfa.render(),
        "window": rule.window_ms,
        "consts": consts,
        "schemas": [format_item(schemas[name].decl) for name in names if name in schemas],
    }
    return sha256(msgspec.json.encode(parts)).hexdigest()[:24]


def _with_parents(names: frozenset[str], schemas: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in found or name not in schemas:
            continue
        found.add(name)
        parent = schemas[name].decl.extends
        if parent is not None:
            todo.append(parent)
    return found
