"""The webhook sink: `--output https://...` POSTs reports as JSON arrays (docs/live.md).

The run hands report lines to a bounded buffer (`write_lines`) and goes on; a delivery
thread sends them in batches of at most `batch` reports, a batch leaving once it is
full or its first report waited `wait_s`. A request that fails for a reason that may
pass (no connection, a timeout, 5xx, 408, 429) is sent again with backoff (doubling
from `BACKOFF_S` to `MAX_BACKOFF_S`, `Retry-After` honoured) for `retry_for_s`; after
that, or at once for any other 4xx, its reports are counted as not delivered and the
next batch goes. When the buffer is full, the run waits (backpressure): no report is
dropped for a slow endpoint.

`flush` waits until every report handed on was delivered or counted as not delivered:
a checkpoint is written only after it, so a checkpoint never claims a report that is
still waiting. Reports delivered after the last checkpoint of a run that is killed are
sent again by the resumed run (at least once); a clean stop (SIGINT, SIGTERM) or the
end of the input flushes first, and its resume repeats nothing. `close` flushes for
`flush_wait_s` at most, then counts what is left as not delivered.

Requests use the standard library's `http.client` on one kept-alive connection."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

# (http.client and ssl are imported by the first request: a run without a webhook
# starts without the TLS library)
if TYPE_CHECKING:
    import http.client

#: the first pause before a failed request is sent again, and the longest
BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
#: statuses that may pass: sent again
RETRY_STATUSES = frozenset({408, 429})


def is_webhook(output: str) -> bool:
    """Whether `--output` names a webhook (an http:// or https:// URL)."""
    return output.startswith(("http://", "https://"))


@dataclass(frozen=True)
class WebhookOptions:
    """How the sink batches, waits and retries (the `--webhook-*` options)."""

    batch: int = 500
    wait_s: float = 1.0
    timeout_s: float = 10.0
    retry_for_s: float = 60.0
    buffer: int = 10_000
    flush_wait_s: float = 30.0
    #: extra request headers (`Authorization`, say), as (name, value) pairs
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class Delivery:
    """The sink's counters: reports delivered, not delivered (and of those, refused by
    the endpoint with a 4xx), requests sent, and the last failure in words."""

    delivered: int = 0
    undelivered: int = 0
    refused: int = 0
    requests: int = 0
    retries: int = 0
    last_error: str = ""


class WebhookError(ValueError):
    """A URL the sink cannot send to (one line, for standard error)."""


class WebhookSink:
    """Reports POSTed to `url` in JSON arrays, from a background thread."""

    def __init__(self, url: str, options: WebhookOptions | None = None) -> None:
        self.url = url
        self.options = options or WebhookOptions()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookError(f"not an http:// or https:// URL: {url}")
        try:
            self._port = parts.port
        except ValueError as error:
            raise WebhookError(f"bad port in {url}: {error}") from None
        self._scheme, self._host = parts.scheme, parts.hostname
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        port = f":{self._port}" if self._port is not None else ""
        #: the URL as the summary names it (no user, password or query: they may be secret)
        self.shown = f"{parts.scheme}://{self._host}{port}{parts.path or '/'}"
        self._headers = {**dict(self.options.headers), "Content-Type": "application/json"}
        self.counts = Delivery()
        self._pending: deque[bytes] = deque()
        self._unsettled = 0  # reports handed on and neither delivered nor counted lost
        self._lock = threading.Condition()
        self._flushing = 0  # callers waiting in `flush`: send without waiting `wait_s`
        self._closing = False
        self._abandon = False
        self._closed = False
        self._connection: http.client.HTTPConnection | None = None
        self._thread = threading.Thread(target=self._deliver, name="cep-webhook", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ the run's side

    def write_lines(self, data: bytes) -> None:
        """Report lines (each a JSON object ended by a newline) to deliver; waits while
        the buffer is full."""
        lines = data.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        limit = self.options.buffer
        with self._lock:
            for line in lines:
                if not line:
                    continue
                while len(self._pending) >= limit and not self._abandon:
                    self._lock.wait()
                if self._abandon:  # (the delivery thread is gone)
                    self.counts.undelivered += 1
                    continue
                self._pending.append(line)
                self._unsettled += 1
                self._lock.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every report handed on was delivered or counted as not delivered
        (`timeout` seconds at most); whether it came to that."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushing += 1
            self._lock.notify_all()
            try:
                while self._unsettled:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    self._lock.wait(left)
                return True
            finally:
                self._flushing -= 1

    def close(self) -> None:
        """Flush for `flush_wait_s` at most, then stop; what is left is counted as not
        delivered."""
        if self._closing:
            return
        self.flush(self.options.flush_wait_s)
        with self._lock:
            self._closing = self._abandon = True
            dropped = len(self._pending)
            self._pending.clear()
            self.counts.undelivered += dropped
            self._unsettled -= dropped
            self._lock.notify_all()
        self._thread.join(self.options.timeout_s + 1)
        with self._lock:  # (a request still in flight: its batch counted here)
            self.counts.undelivered += self._unsettled
            self._unsettled = 0
            self._closed = True
        self._drop()

    def summary(self) -> str:
        """The line of the run's summary about the webhook."""
        c = self.counts
        line = f"webhook {self.shown}: {c.delivered} reports delivered, "
        line += f"{c.undelivered} not delivered"
        if c.refused:
            line += f" ({c.refused} refused by the endpoint)"
        if c.undelivered and c.last_error:
            line += f"; last failure: {c.last_error}"
        return line

    # ----------------------------------------------------------- the delivery thread

    def _deliver(self) -> None:
        try:
            self._deliver_all()
        except BaseException as error:  # (a bug: what waits is counted, never waited on)
            with self._lock:
                self.counts.last_error = f"delivery stopped: {error!r}"
                self.counts.undelivered += self._unsettled
                self._unsettled = 0
                self._pending.clear()
                self._abandon = True
                self._lock.notify_all()

    def _deliver_all(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            delivered = self._send(batch)
            with self._lock:
                if self._closed:
                    return  # (counted by `close`)
                if delivered:
                    self.counts.delivered += len(batch)
                else:
                    self.counts.undelivered += len(batch)
                self._unsettled -= len(batch)
                self._lock.notify_all()

    def _next_batch(self) -> list[bytes] | None:
        """The next batch: up to `batch` reports, once full, or once the first waited
        `wait_s` (at once while someone flushes); None when closed."""
        size, wait = self.options.batch, self.options.wait_s
        with self._lock:
            while not self._pending:
                if self._closing:
                    return None
                self._lock.wait()
            since = time.monotonic()
            while len(self._pending) < size and not self._flushing and not self._closing:
                left = since + wait - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            if self._abandon:
                return None
            batch = [self._pending.popleft() for _ in range(min(size, len(self._pending)))]
            self._lock.notify_all()  # (room in the buffer)
            return batch

    def _send(self, batch: list[bytes]) -> bool:
        """POST one batch, again with backoff while that may help; whether it was
        delivered."""
        body = b"[" + b",".join(batch) + b"]"
        give_up = time.monotonic() + self.options.retry_for_s
        pause = BACKOFF_S
        while True:
            self.counts.requests += 1
            status, error, after = self._post(body)
            if error is None and 200 <= status < 300:
                return True
            retry = error is not None or status >= 500 or status in RETRY_STATUSES
            with self._lock:
                self.counts.last_error = error or f"HTTP {status}"
                if not retry:
                    self.counts.refused += len(batch)
                    return False
            wait = max(pause, after or 0.0)
            if self._abandon or time.monotonic() + wait > give_up:
                return False
            with self._lock:
                self.counts.retries += 1
                self._lock.wait_for(lambda: self._abandon, wait)
            if self._abandon:
                return False
            pause = min(pause * 2, MAX_BACKOFF_S)

    def _post(self, body: bytes) -> tuple[int, str | None, float | None]:
        """(status, None, Retry-After seconds or None), or (0, the failure, None)."""
        import http.client

        try:
            connection = self._connection or self._connect()
            connection.request(
                "POST",
                self._target,
                body=body,
                headers={**self._headers, "Content-Length": str(len(body))},
            )
            response = connection.getresponse()
            response.read()
            if response.will_close:
                self._drop()
            return response.status, None, _retry_after(response.getheader("Retry-After"))
        except TimeoutError:
            self._drop()
            return 0, f"no answer within {self.options.timeout_s:g}s", None
        except (OSError, http.client.HTTPException) as error:
            self._drop()
            return 0, _described(error), None

    def _connect(self) -> http.client.HTTPConnection:
        import http.client
        import ssl

        timeout = self.options.timeout_s
        if self._scheme == "https":
            context = ssl.create_default_context()
            self._connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=context
            )
        else:
            self._connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(float(value), MAX_BACKOFF_S * 12)
    except ValueError:
        return None


def _described(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__
