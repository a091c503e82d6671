"""How a worker of `cep serve` belongs to its consumer group (docs/serve.md, Membership).

A worker started with `--instance NAME` is a static member (Kafka's `group.instance.id`,
KIP-345): a process that starts under the name of one that died takes its place in the
group, and its partitions, without a rebalance of the others; and the worker's own
restart (a store rebuilt from its changelog) keeps its place too, where a dynamic member
would leave the group and join it again. A static member that stops does not leave the
group: Kafka keeps its partitions for it until its session times out. A clean stop
(SIGTERM, SIGINT) is meant to hand them over at once, so there the worker leaves
explicitly before its consumer closes."""

from __future__ import annotations

import time
from typing import Any

#: how long a stopping static member waits for its partitions to be revoked (its last
#: commit made) before it closes without having left the group
LEAVE_BOUND_S = 10.0


def membership_config(session_timeout_ms: int, instance: str | None) -> dict[str, Any]:
    """The consumer's group settings: its session, its heartbeat, and with `--instance`
    its static name."""
    config: dict[str, Any] = {
        "session.timeout.ms": session_timeout_ms,
        "heartbeat.interval.ms": heartbeat_ms(session_timeout_ms),
    }
    if instance is not None:
        config["group.instance.id"] = instance
    return config


def heartbeat_ms(session_timeout_ms: int) -> int:
    """How often a worker heartbeats: a tenth of its session, between 0.5 and 1 s, so
    that a member's last sign of life is recent when it dies (its replacement has the
    rest of the session to take its place)."""
    return min(max(session_timeout_ms // 10, 500), 1000)


def leave_on_clean_stop(app: Any, stops: list[int], bound_s: float = LEAVE_BOUND_S) -> None:
    """Make the application's consumer leave its group before it closes when a stop
    signal was noted in `stops` (a static member's close alone does not leave).

    Unsubscribing revokes the partitions (Quix Streams commits what it processed, as
    at any revocation) and, once they are unassigned, sends the LeaveGroup; the
    consumer is polled until then, messages it still returns left to the next owner
    (their offsets are not committed)."""
    consumer = app._consumer
    close = consumer.close

    def leaving_close() -> None:
        try:
            kafka = consumer._inner_consumer  # (None: never subscribed)
            if stops and kafka is not None:
                _leave(kafka, bound_s)
        finally:
            close()

    consumer.close = leaving_close


def _leave(kafka: Any, bound_s: float) -> None:
    from confluent_kafka import KafkaException

    try:
        kafka.unsubscribe()
        deadline = time.monotonic() + bound_s
        while kafka.assignment() and time.monotonic() < deadline:
            kafka.poll(0.1)
    except (KafkaException, RuntimeError):
        pass  # (closing alone still stops the worker; the session times it out)
