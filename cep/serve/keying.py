"""Which rules share a key: rules with the same `partition by` fields run together on
one repartition topic, keyed by those fields' values, so each key's events meet in one
Kafka partition and one engine. Rules without `partition by` form a group with one
constant key: the whole feed in one partition, hence one process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cep.compile.rule import CompiledRule
from cep.runtime.event import Event

#: the key of the group of rules without `partition by` (the whole feed)
WHOLE_FEED_KEY = 0


@dataclass(frozen=True)
class RuleGroup:
    """Rules partitioned by the same fields (`paths`, empty for none)."""

    paths: tuple[tuple[str, ...], ...]
    rules: tuple[CompiledRule, ...]

    @property
    def name(self) -> str:
        """Names the group's repartition topic and state store: it stays the same while
        the key fields do, so rules added or edited under the same key keep the store."""
        if not self.paths:
            return "whole-feed"
        return "by-" + "+".join(".".join(path) for path in self.paths)

    def key_of(self, event: Event) -> Any:
        """The event's key in this group as JSON-able data (the field's value, or a list
        of values for several fields); None when the event lacks a key field, as the
        engine's own partitioning (`RuleMatcher.partition_key`) has it."""
        if not self.paths:
            return WHOLE_FEED_KEY
        values = []
        for parts in self.paths:
            value: Any = event.get(parts[0])
            for part in parts[1:]:
                value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                return None
            values.append(value)
        return values[0] if len(values) == 1 else values


def rule_groups(rules: Sequence[CompiledRule]) -> list[RuleGroup]:
    """The rules grouped by their partition fields, groups and rules in load order."""
    grouped: dict[tuple[tuple[str, ...], ...], list[CompiledRule]] = {}
    for rule in rules:
        paths = tuple(tuple(parts) for _, parts in rule.key_fields)
        grouped.setdefault(paths, []).append(rule)
    return [RuleGroup(paths, tuple(members)) for paths, members in grouped.items()]
