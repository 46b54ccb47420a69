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


class Refreshing:
    """A reading made again every `every` seconds on a thread of its own, so that pages show
    the latest one at once instead of each doing the reading (the overview's counts: tens of
    milliseconds of SQL on a big home, per request).

    It reads only while someone looks: after `idle` seconds without a call the thread waits,
    and the next call waits for a fresh reading (as the very first one does), so a console
    nobody has open costs `salesflow run` nothing.
    """

    def __init__(
        self,
        read: Callable[[], dict[str, Any]],
        every: float = 1.0,
        release: Callable[[], None] | None = None,
        idle: float = 30.0,
    ) -> None:
        self._read = read
        self._every = every
        self._idle = idle
        self._release = release  # called by the refreshing thread when it ends
        self._lock = threading.Lock()
        self._latest: dict[str, Any] | None = None
        self._error: Exception | None = None
        self._asked_at = time.monotonic()
        self._fresh = threading.Event()  # set while the latest reading is current
        self._wanted = threading.Event()  # wakes an idle thread
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def value(self) -> dict[str, Any]:
        """The latest reading; raises what the last reading raised, if it failed."""
        with self._lock:
            self._asked_at = time.monotonic()
            self._wanted.set()
            if self._thread is None:
                self._thread = threading.Thread(target=self._refresh, name="console-refresh", daemon=True)
                self._thread.start()
        self._fresh.wait(timeout=30)
        if self._error is not None:
            raise self._error
        if self._latest is None:
            raise TimeoutError("no reading yet")
        return self._latest

    def close(self) -> None:
        self._stop.set()
        self._wanted.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)

    def _refresh(self) -> None:
        try:
            while not self._stop.is_set():
                with self._lock:  # the same lock as value(): a call is never missed while going idle
                    idle = time.monotonic() - self._asked_at > self._idle
                    if idle:
                        self._fresh.clear()
                        self._wanted.clear()
                if idle:
                    self._wanted.wait()
                    continue
                try:
                    self._latest, self._error = self._read(), None
                except Exception as exc:  # kept for the page to show, like a direct reading would
                    self._error = exc
                self._fresh.set()
                self._stop.wait(self._every)
        finally:
            if self._release is not None:
                self._release()


class StreamProbe:
    """The stream's status (lag, partitions, refused changes), read every max_age seconds off
    the request path: a reading opens the lake's log (0.1-0.2 s on a big lake, measured by
    bench/console.py, where it was most of the overview's time).

    The probe never writes: it builds its own StreamPipeline only to call ``status()``.
    """

    def __init__(self, build: Callable[[], StreamPipeline], max_age: float = 1.0) -> None:
        self._build = build
        self._stream: StreamPipeline | None = None
        self._reading = Refreshing(self._read, every=max_age, release=self._release)
        self._failing: str | None = None  # the problem last logged, until a reading works again

    def status(self) -> dict[str, Any] | None:
        """The latest status, or None when the stream cannot be read. A problem is logged
        once, not at every request of every page that shows the stream, and again when it
        changes or comes back after a reading that worked."""
        try:
            value = self._reading.value()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            if problem != self._failing:
                self._failing = problem
                log.exception("could not read the stream's status (logged again only if this changes)")
            return None
        self._failing = None
        return value

    def close(self) -> None:
        self._reading.close()

    def _read(self) -> dict[str, Any]:
        self._stream = self._stream or self._build()
        return self._stream.status()

    def _release(self) -> None:
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
    overview: Refreshing | None = None  # set by the app: the overview's numbers, read every second
    owns_app: bool = True  # close the App with the console (False when the caller handed it in)
    write_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def writing(self) -> Iterator[App]:
        """The App, for one write at a time."""
        with self.write_lock:
            yield self.app

    def close(self) -> None:
        if self.overview is not None:
            self.overview.close()
        self.stream.close()
        self.queries.close()
        if self.owns_app:
            self.app.close()
