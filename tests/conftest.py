"""Fixtures shared by test modules: a real Kafka broker (Tansu) for the Kafka tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka_broker import Broker, running_broker


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """One Tansu broker for the session (started only when a test asks for it)."""
    with running_broker() as broker:
        yield broker
