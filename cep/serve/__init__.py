"""`cep serve`: the rules as a Quix Streams application on Kafka (docs/serve.md).

Quix Streams brings what a cluster needs: partition assignment and rebalancing in a
consumer group, per-key state in RocksDB backed by changelog topics, exactly-once
delivery through Kafka transactions. cep brings the rules: `keying` decides which
rules share a key (and so a repartition topic), `keyed` runs one engine per key over
the state store, `app` wires the topics together. Quix Streams is an optional extra;
`quix()` says which when it is missing."""

from __future__ import annotations

from types import ModuleType

EXTRA = "pip install 'cep-rules[serve]'"


class ServeError(Exception):
    """Something `cep serve` cannot start with (a missing extra, bad options)."""


def quix() -> ModuleType:
    """The `quixstreams` module; ServeError naming the extra when it is missing."""
    try:
        import quixstreams
    except ImportError:
        raise ServeError(f"cep serve needs Quix Streams: {EXTRA}") from None
    return quixstreams
