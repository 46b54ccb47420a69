"""Notifiers of the embedded face: to the log, to webhooks, and to several at once.

Each implements ``salesflow.ports.Notifier``: ``notify`` never blocks and never raises.
A notifier that cannot deliver says so in the log; a pipeline never fails because
nobody could be told about it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from salesflow import __version__
from salesflow.domain.errors import ConfigError, PermanentError, TransientError
from salesflow.domain.notices import Notice
from salesflow.jsoncodec import to_json
from salesflow.ports import Notifier
from salesflow.retry import RetryPolicy

NOTICE_LOGGER = "salesflow.notify"
USER_AGENT = f"salesflow/{__version__}"
_READ_LIMIT = 64 * 1024

# Problems of delivery go to this module's logger, apart from the notices themselves.
log = logging.getLogger(__name__)


class LogNotifier:
    """Writes one line per notice to the ``salesflow.notify`` logger: INFO for a success,
    WARNING for anything a person may have to act on. The whole notice rides along as
    ``extra={"notice": ...}`` for handlers that write structured logs."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(NOTICE_LOGGER)

    def notify(self, notice: Notice) -> None:
        level = logging.WARNING if notice.kind.is_problem else logging.INFO
        try:
            # Line breaks in an error message would split the notice over several log lines.
            summary = notice.summary.replace("\r", "\\r").replace("\n", "\\n")
            self._logger.log(
                level,
                "%s %s: %s %s",
                notice.kind.value,
                notice.subject,
                summary,
                to_json(notice.details),
                extra={"notice": notice.to_dict()},
            )
        except Exception:  # a broken handler must not fail the pipeline that notified
            log.exception("could not log notice %s about %s", notice.kind.value, notice.subject)


class FanOutNotifier:
    """Hands every notice to each notifier in turn. One that raises is logged and skipped,
    so the others are still told."""

    def __init__(self, notifiers: Iterable[Notifier]) -> None:
        self._notifiers = list(notifiers)

    def notify(self, notice: Notice) -> None:
        for notifier in self._notifiers:
            try:
                notifier.notify(notice)
            except Exception:
                log.exception(
                    "%s failed to deliver notice %s about %s; the other notifiers still get it",
                    type(notifier).__name__,
                    notice.kind.value,
                    notice.subject,
                )

    def close(self, timeout: float = 5.0) -> bool:
        """Close the notifiers that can be closed, sharing ``timeout`` seconds between them.
        True when all of them delivered everything they held."""
        deadline = time.monotonic() + timeout
        done = True
        for notifier in self._notifiers:
            close = getattr(notifier, "close", None)
            if close is None:
                continue
            try:
                done = bool(close(max(0.0, deadline - time.monotonic()))) and done
            except Exception:
                log.exception("%s failed to close", type(notifier).__name__)
                done = False
        return done


class _Outbox:
    """A bounded FIFO that refuses (rather than waits) when full, and can be closed."""

    def __init__(self, capacity: int) -> None:
        self._items: deque[bytes] = deque()
        self._capacity = capacity
        self._closed = False
        self._ready = threading.Condition()

    def put(self, item: bytes) -> bool:
        with self._ready:
            if self._closed or len(self._items) >= self._capacity:
                return False
            self._items.append(item)
            self._ready.notify()
            return True

    def get(self) -> bytes | None:
        """The next item, waiting for one; None once closed and empty."""
        with self._ready:
            while not self._items and not self._closed:
                self._ready.wait()
            return self._items.popleft() if self._items else None

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def clear(self) -> int:
        with self._ready:
            count = len(self._items)
            self._items.clear()
            return count


def _opener() -> Any:
    """An opener that follows no redirect: urllib would turn a redirected POST into a GET
    without the body and report success. (urllib.request and http.client are imported here,
    not by every command: 15-20 ms of start-up that only webhooks need.)"""
    import urllib.request

    class RefuseRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(RefuseRedirects)


def _shown(url: str) -> str:
    """The URL as logs show it: scheme, host and port. Webhook paths and queries often hold the
    secret (Slack, Teams, Discord), and logs travel further than salesflow.toml."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return (
        f"{parts.scheme}://{host}{port}/…"
        if parts.path not in ("", "/") or parts.query
        else f"{parts.scheme}://{host}{port}"
    )


class WebhookNotifier:
    """POSTs each notice as JSON to every URL, from background threads.

    ``notify`` only encodes the notice and queues it, so a slow or dead endpoint never holds
    up a pipeline. Each URL has its own queue (``capacity`` notices; when full, new notices
    for that URL are dropped with a warning) and its own daemon thread, so one dead endpoint
    does not delay the others. A refused connection, a timeout, a 5xx or a 429 is retried with
    ``retry`` (exponential backoff, full jitter); any other 4xx or 3xx is logged once and not
    retried. ``close`` delivers what is queued, for at most its timeout. Logs show a URL's
    scheme, host and port only: its path may be a secret.
    """

    def __init__(
        self, urls: Sequence[str], timeout: float = 5.0, retry: RetryPolicy | None = None, capacity: int = 1000
    ) -> None:
        """Raises ConfigError for a URL that is not http(s)://host/... (urllib would also open file: URLs)."""
        for url in urls:
            scheme = urlsplit(url).scheme
            try:
                valid = scheme in ("http", "https") and bool(urlsplit(url).hostname) and bool(_shown(url))
            except ValueError:  # a port that is not a number, or out of range
                valid = False
            if not valid:
                raise ConfigError(
                    f"a webhook URL (scheme {scheme!r}) is not a valid http:// or https:// URL with a host;"
                    " fix it in salesflow.toml"
                )
        if capacity < 1:
            raise ConfigError(f"webhook queue capacity must be at least 1, not {capacity}")
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._opener = _opener()
        self._outboxes = {url: _Outbox(capacity) for url in dict.fromkeys(urls)}
        self._closing = threading.Event()
        self._deadline = float("inf")  # set by close(); past it, queued notices are dropped
        self._threads = [
            threading.Thread(target=self._deliver_all, args=(url, outbox), name=f"webhook {_shown(url)}", daemon=True)
            for url, outbox in self._outboxes.items()
        ]
        for thread in self._threads:
            thread.start()

    def notify(self, notice: Notice) -> None:
        """Queue the notice for every URL; never blocks, never raises."""
        try:
            body = to_json(notice.to_dict()).encode()
            for url, outbox in self._outboxes.items():
                if not outbox.put(body):
                    why = "the notifier is closed" if self._closing.is_set() else "its queue is full"
                    log.warning(
                        "dropped notice %s about %s for %s: %s", notice.kind.value, notice.subject, _shown(url), why
                    )
        except Exception:
            log.exception("could not queue notice %s about %s", notice.kind.value, notice.subject)

    def close(self, timeout: float = 5.0) -> bool:
        """Stop taking notices and deliver those queued, for at most ``timeout`` seconds; what is
        left after that is dropped with a warning. True when everything queued was handled
        (delivered or given up on) in time. Calling it again waits again for a delivery still
        under way."""
        self._deadline = time.monotonic() + timeout
        self._closing.set()
        for outbox in self._outboxes.values():
            outbox.close()
        for thread in self._threads:
            thread.join(max(0.0, self._deadline - time.monotonic()))
        done = not any(thread.is_alive() for thread in self._threads)
        if not done:
            # A thread still retrying: it is a daemon, so it will not keep the process alive.
            for url, outbox in self._outboxes.items():
                dropped = outbox.clear()
                if dropped:
                    log.warning("dropped %d queued notice(s) for %s: not delivered before close", dropped, _shown(url))
        return done

    def __enter__(self) -> WebhookNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the background side ------------------------------------------------------------

    def _deliver_all(self, url: str, outbox: _Outbox) -> None:
        while (body := outbox.get()) is not None:
            if time.monotonic() > self._deadline:
                dropped = 1 + outbox.clear()
                log.warning("dropped %d queued notice(s) for %s: not delivered before close", dropped, _shown(url))
                return
            self._deliver(url, body)

    def _deliver(self, url: str, body: bytes) -> None:
        shown = _shown(url)

        def retrying(error: BaseException) -> None:
            log.debug("webhook %s: %s; retrying", shown, error)

        try:
            self._retry.call(lambda: self._post(url, body), on_retry=retrying)
        except TransientError as exc:
            log.warning("gave up on webhook %s after %d tries: %s", shown, self._retry.retries + 1, exc)
        except PermanentError as exc:
            log.warning("webhook %s refused a notice, not retried: %s", shown, exc)
        except Exception:  # never let the thread die: later notices still deserve a try
            log.exception("webhook %s: unexpected error delivering a notice", shown)

    def _post(self, url: str, body: bytes) -> None:
        """One POST. Raises TransientError when a later try may succeed, PermanentError otherwise."""
        import urllib.request
        from http.client import HTTPException
        from urllib.error import HTTPError, URLError

        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read(_READ_LIMIT)  # the answer does not matter, only its status
        except HTTPError as exc:
            with contextlib.closing(exc):  # an HTTPError holds the open response
                status = exc.code
            if status >= 500 or status == 429:
                raise TransientError(f"answered {status}") from exc
            if 300 <= status < 400:
                raise PermanentError(
                    f"answered {status} (a redirect); notices are not redirected, set the final URL"
                ) from exc
            raise PermanentError(f"answered {status}; check the URL and what the endpoint expects") from exc
        except (URLError, HTTPException, OSError) as exc:  # refused, reset, timed out, name not resolved
            raise TransientError(f"could not be reached: {exc}") from exc
