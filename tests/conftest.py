"""Fixtures shared by test modules: a real Kafka broker (Tansu) for the Kafka tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from kafka_broker import Broker, running_broker

# The suite runs on numba, whatever native module the machine's cache holds, and its
# runs build none (tests/test_native.py builds its own); `CEP_NATIVE=1 pytest` runs it
# on the native module where one is built.
os.environ.setdefault("CEP_NATIVE", "0")
if os.environ["CEP_NATIVE"] == "0":
    from cep import jit

    jit.use_numba()  # (cep's pytest plugin imported cep.jit before this file was read)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """One Tansu broker for the session (started only when a test asks for it)."""
    with running_broker() as broker:
        yield broker
