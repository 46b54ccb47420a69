"""WebhookNotifier against a real HTTP server on 127.0.0.1: what an endpoint receives, what is
retried, and that a slow or dead endpoint never holds up the pipeline that notifies.

Nothing here measures time. A test that needs the endpoint slow stalls its handler on a
threading.Event, and waits for deliveries with ``close()``, which returns once the queue is
drained (its timeout is only a bound in case of a bug).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from salesflow import __version__
from salesflow.adapters.local.notifiers import FanOutNotifier, LogNotifier, WebhookNotifier
from salesflow.adapters.memory.notifier import InMemoryNotifier
from salesflow.domain.errors import ConfigError
from salesflow.domain.notices import Notice, NoticeKind
from salesflow.retry import RetryPolicy

NO_WAIT = RetryPolicy(retries=3, base=0.0, cap=0.0)
BOUND = 30.0  # seconds: only reached if delivery is broken
SECRET = "s3cr3t-token"  # webhook URLs often carry a secret in the path; logs must not


def a_notice(n: int = 1, kind: NoticeKind = NoticeKind.EXECUTION_SUCCEEDED) -> Notice:
    return Notice(
        kind=kind,
        subject=f"batch {n}",
        summary=f"batch {n} published 3 orders",
        details={"n": n, "valid": 3, "rejected": 1, "revenue": Decimal("1234.50")},
        at="2026-11-25T10:00:00+00:00",
    )


class Endpoint:
    """A webhook receiver: records what it accepts, can answer ``status`` to the first
    ``failures`` requests, and can be stalled until released."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0
        self.failures = 0
        self.status = 500
        self.stalled = threading.Event()  # set: requests wait for release()
        self.entered = threading.Event()  # set once a request is held by the stall
        self._released = threading.Event()
        self._lock = threading.Lock()
        self.url = ""
        self.shown = ""  # the URL as logs may show it

    def stall(self) -> None:
        self.stalled.set()

    def release(self) -> None:
        self._released.set()

    def received(self) -> list[dict[str, Any]]:
        return [json.loads(body, parse_float=Decimal) for body in self.bodies]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if endpoint.stalled.is_set():
                    endpoint.entered.set()
                    endpoint._released.wait(BOUND)
                with endpoint._lock:
                    endpoint.attempts += 1
                    failing = endpoint.attempts <= endpoint.failures
                    if not failing:
                        endpoint.bodies.append(body)
                        endpoint.headers.append(dict(self.headers))
                self.send_response(endpoint.status if failing else 200)
                if failing and 300 <= endpoint.status < 400:
                    self.send_header("Location", endpoint.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
                pass

        return Handler


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint()
    server = ThreadingHTTPServer(("127.0.0.1", 0), endpoint.handler())
    endpoint.shown = f"http://127.0.0.1:{server.server_address[1]}/…"
    endpoint.url = endpoint.shown.replace("…", f"services/T0/B0/{SECRET}")
    # A short poll interval: shutdown() waits for the serving loop to look at its flag.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        endpoint.release()
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def webhooks() -> Iterator[Callable[..., WebhookNotifier]]:
    """Makes WebhookNotifiers (tiny retry waits) and closes them all after the test."""
    made: list[WebhookNotifier] = []

    def make(*urls: str, retry: RetryPolicy = NO_WAIT, capacity: int = 1000) -> WebhookNotifier:
        notifier = WebhookNotifier(list(urls), timeout=BOUND, retry=retry, capacity=capacity)
        made.append(notifier)
        return notifier

    yield make
    for notifier in made:
        notifier.close(BOUND)


def dead_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (a port taken and given back)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_the_endpoint_gets_the_notice_as_json(endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier]) -> None:
    notifier = webhooks(endpoint.url)

    notifier.notify(a_notice(7, NoticeKind.EXECUTION_FAILED))

    assert notifier.close(BOUND) is True
    assert endpoint.received() == [
        {
            "kind": "execution_failed",
            "subject": "batch 7",
            "summary": "batch 7 published 3 orders",
            "details": {"n": 7, "valid": 3, "rejected": 1, "revenue": Decimal("1234.50")},
            "at": "2026-11-25T10:00:00+00:00",
        }
    ]
    [headers] = endpoint.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"salesflow/{__version__}"


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_transient_failure_is_retried_until_the_notice_is_delivered(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier], status: int
) -> None:
    endpoint.failures, endpoint.status = 2, status
    notifier = webhooks(endpoint.url)

    notifier.notify(a_notice())

    assert notifier.close(BOUND) is True
    assert endpoint.attempts == 3
    assert [body["subject"] for body in endpoint.received()] == ["batch 1"]


def test_after_the_last_retry_the_notice_is_given_up_with_a_warning(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.failures = 100
    notifier = webhooks(endpoint.url, retry=RetryPolicy(retries=2, base=0.0, cap=0.0))

    notifier.notify(a_notice(1))
    notifier.notify(a_notice(2))

    assert notifier.close(BOUND) is True
    assert endpoint.attempts == 6  # three tries for each notice: the first failure does not stop the second
    gave_up = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert len(gave_up) == 2
    assert endpoint.shown in gave_up[0]
    assert "500" in gave_up[0]
    assert not any(SECRET in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [400, 404, 302])
def test_a_refusal_is_not_retried_and_is_logged_once(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    endpoint.failures, endpoint.status = 1, status
    notifier = webhooks(endpoint.url)

    notifier.notify(a_notice(1))

    assert notifier.close(BOUND) is True
    assert endpoint.attempts == 1
    assert endpoint.bodies == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert endpoint.shown in warnings[0]
    assert str(status) in warnings[0]
    assert SECRET not in warnings[0]


def test_a_dead_endpoint_does_not_stop_the_others(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    dead = dead_url()
    notifier = webhooks(dead, endpoint.url)

    notifier.notify(a_notice(1))
    notifier.notify(a_notice(2))

    assert notifier.close(BOUND) is True
    assert [body["n"] for body in (b["details"] for b in endpoint.received())] == [1, 2]
    gave_up = [r.getMessage() for r in caplog.records if "gave up" in r.getMessage()]
    assert len(gave_up) == 2
    assert all(dead.removesuffix("hook") + "…" in message for message in gave_up)


def test_notify_returns_while_the_endpoint_is_stalled(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier]
) -> None:
    endpoint.stall()
    notifier = webhooks(endpoint.url)

    notifier.notify(a_notice(1))
    assert endpoint.entered.wait(BOUND)  # the first POST is now held by the endpoint
    notifier.notify(a_notice(2))
    notifier.notify(a_notice(3))

    assert endpoint.bodies == []  # notify came back while nothing had been delivered
    endpoint.release()
    assert notifier.close(BOUND) is True
    assert [body["subject"] for body in endpoint.received()] == ["batch 1", "batch 2", "batch 3"]


def test_close_delivers_what_is_queued(endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier]) -> None:
    notifier = webhooks(endpoint.url)

    for n in range(1, 11):
        notifier.notify(a_notice(n))

    assert notifier.close(BOUND) is True
    assert [body["details"]["n"] for body in endpoint.received()] == list(range(1, 11))


def test_when_the_queue_is_full_new_notices_are_dropped_with_a_warning(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.stall()
    notifier = webhooks(endpoint.url, capacity=1)

    notifier.notify(a_notice(1))
    assert endpoint.entered.wait(BOUND)  # 1 is being sent, so the queue is empty again
    notifier.notify(a_notice(2))  # queued
    notifier.notify(a_notice(3))  # no room: dropped

    endpoint.release()
    assert notifier.close(BOUND) is True
    assert [body["subject"] for body in endpoint.received()] == ["batch 1", "batch 2"]
    [dropped] = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert "batch 3" in dropped
    assert "queue is full" in dropped


def test_close_gives_up_after_its_timeout_and_drops_what_is_left(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint.stall()
    notifier = webhooks(endpoint.url)
    notifier.notify(a_notice(1))
    assert endpoint.entered.wait(BOUND)
    notifier.notify(a_notice(2))

    assert notifier.close(0.0) is False  # 1 is still held by the endpoint
    notifier.notify(a_notice(3))  # closed: dropped, not raised

    endpoint.release()
    assert notifier.close(BOUND) is True  # waits for the delivery still under way
    assert [body["subject"] for body in endpoint.received()] == ["batch 1"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("dropped 1 queued notice" in m for m in messages)
    assert any("batch 3" in m and "closed" in m for m in messages)


def test_a_url_that_is_not_a_valid_http_url_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match=r"'file'.*salesflow\.toml"):
        WebhookNotifier(["file:///etc/passwd"], timeout=1.0, retry=NO_WAIT)
    with pytest.raises(ConfigError, match=r"salesflow\.toml"):
        WebhookNotifier(["http://127.0.0.1:99999/hook"], timeout=1.0, retry=NO_WAIT)


def test_a_fan_out_of_log_and_webhook_keeps_going_when_one_raises(
    endpoint: Endpoint, webhooks: Callable[..., WebhookNotifier], caplog: pytest.LogCaptureFixture
) -> None:
    class Raising:
        def notify(self, notice: Notice) -> None:
            raise OSError("disk full")

    notifier = webhooks(endpoint.url)
    kept = InMemoryNotifier()
    fan_out = FanOutNotifier([Raising(), LogNotifier(), notifier, kept])

    with caplog.at_level(logging.INFO, logger="salesflow.notify"):
        fan_out.notify(a_notice(1, NoticeKind.DLQ_DEPTH))

    assert fan_out.close(BOUND) is True
    assert [body["kind"] for body in endpoint.received()] == ["dlq_depth"]
    assert [n.subject for n in kept.notices] == ["batch 1"]
    assert any(r.name == "salesflow.notify" and "dlq_depth batch 1" in r.getMessage() for r in caplog.records)
