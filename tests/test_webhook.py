"""The webhook sink against a real HTTP server on 127.0.0.1 that fails, stalls and
recovers: every report delivered once it recovers, counted right, none repeated."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cep.service.webhook import WebhookOptions, WebhookSink
from tests.checkpoints import EXAMPLE, PAYMENTS, cep_run, environment

#: how long a stalled answer takes: well past the client's timeout in these tests
STALL_S = 2.5
QUICK = {"wait_s": 0.02, "timeout_s": 1.0, "retry_for_s": 30.0}


class Endpoint:
    """A webhook endpoint whose answers follow a script: `500`, `400`, `stall` (answers
    200 after `STALL_S`, when the client has given up), then 200 for the rest. It keeps
    the reports of the requests it answered 200 in time (`received`)."""

    def __init__(self, script: list[str] | None = None, pause_s: float = 0.0) -> None:
        self.script = list(script or [])
        self.pause_s = pause_s
        self.received: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.requests = 0
        self.lock = threading.Lock()
        self.seen: Callable[[], None] = lambda: None
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with endpoint.lock:
                    endpoint.headers.append(dict(self.headers))
                    endpoint.requests += 1
                    step = endpoint.script.pop(0) if endpoint.script else "200"
                endpoint.seen()
                if step == "stall":
                    time.sleep(STALL_S)
                    step = "200"
                elif step == "200":
                    time.sleep(endpoint.pause_s)
                    assert self.headers["Content-Type"] == "application/json"
                    with endpoint.lock:
                        endpoint.received.extend(json.loads(body))
                try:
                    self.send_response(int(step))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # (the client gave up on a stalled request)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Callable[..., Endpoint]]:
    made: list[Endpoint] = []

    def make(script: list[str] | None = None, pause_s: float = 0.0) -> Endpoint:
        made.append(Endpoint(script, pause_s))
        return made[-1]

    yield make
    for one in made:
        one.close()


def _lines(n: int, start: int = 0) -> bytes:
    return b"".join(b'{"n":%d}\n' % i for i in range(start, start + n))


def test_failures_and_a_stall_then_every_report_delivered(endpoint: Any) -> None:
    server = endpoint(["500", "500", "stall", "503", "429"])
    sink = WebhookSink(server.url, WebhookOptions(batch=10, **QUICK))
    for start in range(0, 45, 9):
        sink.write_lines(_lines(9, start))
    sink.close()
    assert [r["n"] for r in server.received] == list(range(45))
    assert (sink.counts.delivered, sink.counts.undelivered) == (45, 0)
    assert sink.counts.retries >= 5
    assert "45 reports delivered, 0 not delivered" in sink.summary()


def test_a_refused_batch_is_counted_and_not_sent_again(endpoint: Any) -> None:
    server = endpoint(["400"])
    sink = WebhookSink(server.url, WebhookOptions(batch=5, **QUICK))
    sink.write_lines(_lines(5))
    assert sink.flush(30)
    sink.write_lines(_lines(5, 5))
    sink.close()
    assert [r["n"] for r in server.received] == list(range(5, 10))
    assert server.requests == 2
    assert (sink.counts.delivered, sink.counts.undelivered, sink.counts.refused) == (5, 5, 5)
    assert "5 not delivered (5 refused by the endpoint); last failure: HTTP 400" in sink.summary()


def test_an_endpoint_that_never_recovers_is_given_up_on(endpoint: Any) -> None:
    server = endpoint(["500"] * 1000)
    options = WebhookOptions(batch=4, wait_s=0.01, timeout_s=0.4, retry_for_s=0.3)
    sink = WebhookSink(server.url, options)
    sink.write_lines(_lines(10))
    sink.close()
    assert server.received == []
    assert (sink.counts.delivered, sink.counts.undelivered) == (0, 10)
    assert server.requests < 100  # (backoff, not a tight loop)


def test_no_endpoint_at_all(endpoint: Any) -> None:
    server = endpoint()
    server.close()  # (its port now refuses connections)
    options = WebhookOptions(batch=4, wait_s=0.01, timeout_s=0.4, retry_for_s=0.2)
    sink = WebhookSink(server.url, options)
    sink.write_lines(_lines(6))
    sink.close()
    assert (sink.counts.delivered, sink.counts.undelivered) == (0, 6)
    assert "connection refused" in sink.summary()


def test_close_waits_a_bounded_time(endpoint: Any) -> None:
    """An endpoint that stalls every request: the end of the run gives up after the
    flush wait and counts what is left."""
    server = endpoint(["stall"] * 1000)
    options = WebhookOptions(batch=2, wait_s=0.01, timeout_s=0.2, retry_for_s=60, flush_wait_s=0.5)
    sink = WebhookSink(server.url, options)
    sink.write_lines(_lines(6))
    sink.close()
    assert (sink.counts.delivered, sink.counts.undelivered) == (0, 6)


def test_a_full_buffer_makes_the_run_wait(endpoint: Any) -> None:
    server = endpoint(pause_s=0.01)
    sink = WebhookSink(server.url, WebhookOptions(batch=3, buffer=6, **QUICK))
    high = []
    server.seen = lambda: high.append(len(sink._pending))
    for i in range(40):
        sink.write_lines(_lines(1, i))
    sink.close()
    assert [r["n"] for r in server.received] == list(range(40))
    assert max(high) <= 6


# ------------------------------------------------------------------ the command line


def _file_run(tmp_path: Path, feed: Path = EXAMPLE, *extra: str) -> list[dict]:
    out = tmp_path / "file.jsonl"
    subprocess.run(cep_run(PAYMENTS, "--input", str(feed), "--output", str(out),
                           "--engine", "interpreter", *extra),
                   check=True, capture_output=True, env=environment(), timeout=300)  # fmt: skip
    return [json.loads(line) for line in out.read_text().splitlines()]


def _key(report: dict) -> str:
    return json.dumps(report, sort_keys=True)


def test_cep_run_posts_its_reports(tmp_path: Path, endpoint: Any) -> None:
    server = endpoint(["500", "stall", "502"])
    done = subprocess.run(
        cep_run(PAYMENTS, "--input", str(EXAMPLE), "--output", server.url, "--engine",
                "interpreter", "--flush", "--webhook-batch", "4", "--webhook-wait", "20ms",
                "--webhook-timeout", "1s", "--webhook-header", "Authorization: Bearer t0k"),
        capture_output=True, env=environment(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    expected = _file_run(tmp_path, EXAMPLE, "--flush")
    assert sorted(map(_key, server.received)) == sorted(map(_key, expected))
    assert f"{len(expected)} reports delivered, 0 not delivered" in done.stderr.decode()
    assert {h["Authorization"] for h in server.headers} == {"Bearer t0k"}


def test_bad_webhook_options(tmp_path: Path) -> None:
    for extra, words in [
        (["--output", "http://"], "not an http:// or https:// URL"),
        (["--output", "http://127.0.0.1:1/", "--webhook-batch", "0"], "--webhook-batch"),
        (["--output", "http://127.0.0.1:1/", "--webhook-wait", "soon"], "--webhook-wait"),
        (["--output", "http://127.0.0.1:1/", "--webhook-header", "nocolon"], "NAME: VALUE"),
    ]:
        done = subprocess.run(cep_run(PAYMENTS, *extra), capture_output=True, input=b"",
                              env=environment(), timeout=120)  # fmt: skip
        assert done.returncode == 2
        assert words in done.stderr.decode() and "Traceback" not in done.stderr.decode()


def test_a_checkpointed_run_repeats_nothing_across_a_clean_stop(
    tmp_path: Path, endpoint: Any
) -> None:
    """A followed file, reports to a failing endpoint, stopped with SIGTERM and resumed:
    the checkpoint waits for delivery, so the resumed run sends none again."""
    server = endpoint(["500", "500", "stall"])
    feed = tmp_path / "in.jsonl"
    lines = EXAMPLE.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])
    # (an event a day later moves time past every window, as the end of a file does)
    lines.append(json.dumps({**last, "ts": last["ts"] + 86_400_000, "user": "later"}) + "\n")
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(lines))
    expected = _file_run(tmp_path, whole)
    half = len(lines) // 2
    feed.write_text("".join(lines[:half]))
    command = cep_run(PAYMENTS, "--follow", "--input", str(feed), "--output", server.url,
                      "--checkpoint", str(tmp_path / "ck"), "--engine", "interpreter",
                      "--webhook-wait", "20ms", "--webhook-timeout", "1s")  # fmt: skip

    def until(count: int) -> None:
        deadline = time.monotonic() + 120
        while len(server.received) < count:
            assert time.monotonic() < deadline, "the reports never arrived"
            time.sleep(0.05)

    def stop(process: subprocess.Popen[bytes]) -> str:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 143
        assert process.stderr is not None
        return process.stderr.read().decode()

    first = subprocess.Popen(command, stderr=subprocess.PIPE, env=environment())
    until(1)
    said = stop(first)
    assert " 0 not delivered" in said
    with feed.open("a") as more:
        more.write("".join(lines[half:]))
    second = subprocess.Popen(command, stderr=subprocess.PIPE, env=environment())
    until(len(expected))
    said = stop(second)
    assert " 0 not delivered" in said
    assert sorted(map(_key, server.received)) == sorted(map(_key, expected))
