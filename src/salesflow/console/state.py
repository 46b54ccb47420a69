"""What the routes share: the home's App for writes, read-only queries, the token guard,
and a cached view of the stream.

Writes go through the App's ledger, whose single SQLite connection must not run
two transactions at once, so they take ``write_lock``. Reads use
``ConsoleQueries``' per-thread read-only connections and never wait for writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salesflow.console.queries import ConsoleQueries
from salesflow.console.security import Guard
from salesflow.runtime.bootstrap import App
from salesflow.runtime.settings import ConsoleSettings

if TYPE_CHECKING:
    from salesflow.pipelines.stream import StreamPipeline

log = logging.getLogger(__name__)


class StreamProbe:
    """The stream's status (lag, partitions, refused changes), read at most once a second.

    The probe never writes: it builds its own StreamPipeline only to call ``status()``,
    which reads the change log and the lake's log.
    """

    def __init__(self, build: Callable[[], StreamPipeline], max_age: float = 1.0) -> None:
        self._build = build
        self._max_age = max_age
        self._lock = threading.Lock()
        self._stream: StreamPipeline | None = None
        self._cached: tuple[float, dict[str, Any] | None] = (-1e9, None)

    def status(self) -> dict[str, Any] | None:
        """The last status, or None when the stream cannot be read (logged)."""
        with self._lock:
            at, cached = self._cached
            if time.monotonic() - at < self._max_age:
                return cached
            try:
                if self._stream is None:
                    self._stream = self._build()
                fresh: dict[str, Any] | None = self._stream.status()
            except Exception:
                log.exception("could not read the stream's status")
                fresh = None
            self._cached = (time.monotonic(), fresh)
            return fresh

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None


@dataclass
class ConsoleState:
    """Everything a request handler needs, made once per console."""

    app: App
    console: ConsoleSettings
    guard: Guard
    queries: ConsoleQueries
    stream: StreamProbe
    owns_app: bool = True  # close the App with the console (False when the caller handed it in)
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def writing(self) -> Iterator[App]:
        """The App, for one write at a time."""
        with self.write_lock:
            yield self.app

    def close(self) -> None:
        self.stream.close()
        self.queries.close()
        if self.owns_app:
            self.app.close()
