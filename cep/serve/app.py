"""The Quix Streams application that `cep serve` runs.

    input topic --parse--> rejects topic            (lines that are no event)
         |
         +--group_by(key of group 1)--> repartition topic --keyed engines--> output / rejects
         +--group_by(key of group 2)--> ...

The input stage reads each message's value as one JSON event (`cep.io.sources`), so a
bad message is rejected once, with its topic, partition and offset. Each rule group
(`keying`) re-keys the events that carry its key fields through its own repartition
topic, Quix Streams' `group_by`, so that one key's events meet in one partition; there
`KeyedRules` runs them (`stage`), its state in the group's state store (changelogged). Reports
go to the output topic keyed by their partition key, as `cep run` writes them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cep.compile.rule import CompiledRule
from cep.io.sources import RecordMaker, SourceEvent, json_line
from cep.io.validation import Validator
from cep.serve import quix
from cep.serve.keyed import KeyedRules
from cep.serve.keying import RuleGroup, rule_groups
from cep.serve.membership import membership_config
from cep.serve.stage import idle_poll_s, keyed_stage


@dataclass(frozen=True)
class ServeConfig:
    """Everything `cep serve` was told (see `cep serve --help`)."""

    kafka: str
    input_topic: str
    output_topic: str
    group: str
    rejects_topic: str | None = None
    guarantee: str = "exactly-once"
    state_dir: str = "state"
    allowed_delay_ms: int = 0
    max_runs_per_key: int = 10_000
    type_field: str = "type"
    time_field: str = "ts"
    time_unit: str = "ms"
    default_type: str | None = None
    commit_interval_s: float = 1.0
    #: how soon a worker that stops heartbeating loses its partitions to the others (a
    #: static member's replacement must join within it to take its place)
    session_timeout_ms: int = 10_000
    #: how soon the broker aborts the open transaction of a worker that died: reports
    #: in it stay unread by read_committed consumers until then
    transaction_timeout_ms: int = 10_000
    #: the worker's stable name: its Kafka transactional id, so that a replacement
    #: started under the same name fences and aborts what the dead one left open
    instance: str | None = None
    #: `--idle`: a partition with no event for this long moves its time on with the
    #: wall clock (None: event time only)
    idle_ms: int | None = None
    #: Quix Streams' log level; at DEBUG the Kafka client's consumer group too
    log_level: str = "WARNING"


class InputStage:
    """Parses and validates each input message once; says which keys it has."""

    def __init__(self, groups: list[RuleGroup], schemas: Mapping[str, Any], config: ServeConfig):
        self.groups = groups
        validator = Validator(schemas) if schemas else None
        self.maker = RecordMaker(
            config.type_field, config.time_field, config.default_type, validator, config.time_unit
        )

    def __call__(self, value: bytes | None) -> dict[str, Any] | None:
        from quixstreams import message_context

        context = message_context()
        at = [context.topic, context.partition, context.offset]
        made = json_line(self.maker, 0, value or b"")
        if made is None:
            return {"at": at, "reject": "blank", "line": ""}
        if not isinstance(made, SourceEvent):
            return {"at": at, "reject": made.reason, "line": made.raw}
        return {"at": at, "line": made.text, "keys": [g.key_of(made) for g in self.groups]}


def build_application(
    rules: list[CompiledRule], schemas: Mapping[str, Any], config: ServeConfig
) -> Any:
    """The application, its topics and dataframes defined; `run()` it."""
    quixstreams = quix()
    app = quixstreams.Application(
        broker_address=config.kafka,
        consumer_group=config.group,
        auto_offset_reset="earliest",
        processing_guarantee=config.guarantee,
        state_dir=str(Path(config.state_dir)),
        commit_interval=config.commit_interval_s,
        consumer_poll_timeout=1.0 if config.idle_ms is None else idle_poll_s(config.idle_ms),
        loglevel=config.log_level,
        consumer_extra_config=_consumer_config(config),
        producer_extra_config=_producer_config(config),
    )
    groups = rule_groups(rules)
    source = app.topic(config.input_topic, value_deserializer="bytes", key_deserializer="bytes")
    output = app.topic(config.output_topic, value_serializer="bytes", key_serializer="bytes")
    rejects = (
        app.topic(config.rejects_topic, value_serializer="json", key_serializer="bytes")
        if config.rejects_topic
        else None
    )
    parsed = app.dataframe(source).apply(InputStage(groups, schemas, config))
    if rejects is not None:
        parsed.filter(lambda v: "reject" in v).apply(_input_reject).to_topic(rejects)
    events = parsed.filter(lambda v: "reject" not in v)
    for index, group in enumerate(groups):
        keyed = events.filter(lambda v, i=index: v["keys"][i] is not None).group_by(
            lambda v, i=index: v["keys"][i],
            name=f"cep-{group.name}",
            key_deserializer="bytes",
        )
        engines = KeyedRules(
            group,
            schemas,
            allowed_delay_ms=config.allowed_delay_ms,
            max_runs_per_key=config.max_runs_per_key,
            type_field=config.type_field,
            time_field=config.time_field,
            time_unit=config.time_unit,
            default_type=config.default_type,
            idle_ms=config.idle_ms,
        )
        released = keyed_stage(keyed, engines)
        released.filter(lambda o: o.kind == "report").apply(lambda o: o.value).to_topic(output)
        if rejects is not None:
            released.filter(lambda o: o.kind == "reject").apply(lambda o: o.value).to_topic(rejects)
    return app


def _consumer_config(config: ServeConfig) -> dict[str, Any]:
    extra = membership_config(config.session_timeout_ms, config.instance)
    if config.log_level == "DEBUG":
        extra["debug"] = "cgrp"
    return extra


def _producer_config(config: ServeConfig) -> dict[str, Any]:
    extra: dict[str, Any] = {"transaction.timeout.ms": config.transaction_timeout_ms}
    if config.instance is not None and config.guarantee == "exactly-once":
        extra["transactional.id"] = config.instance  # (Quix Streams prefixes the group)
    return extra


def _input_reject(value: Mapping[str, Any]) -> dict[str, Any]:
    topic, partition, offset = value["at"]
    return {"topic": topic, "partition": partition, "offset": offset,
            "reason": value["reject"], "raw": value["line"]}  # fmt: skip
