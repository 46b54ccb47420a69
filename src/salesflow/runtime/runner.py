"""The event router and the watcher: which object goes to which pipeline, and when.

The bucket is the source of truth. File events (watchfiles) only say "look
now"; what to process is always decided by a reconciliation scan that compares
the bucket with the objects already handled. A dropped event therefore delays
an object by at most ``watch.scan_seconds``; it never loses it. An object is
read only once it has been still for ``watch.settle_seconds``, so a file being
copied in place is not read half-way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from salesflow.clock import utc_now
from salesflow.domain.batch import RAW_PREFIX, table_of
from salesflow.domain.errors import NotFound
from salesflow.domain.records import Execution
from salesflow.pipelines.orders import Progress, Stopped
from salesflow.ports import ObjectInfo
from salesflow.runtime.bootstrap import App
from salesflow.runtime.locks import exclusive

ORDERS_PREFIX = "orders/"

OnExecution = Callable[[Execution], None]
Handler = Callable[[str, str, Progress | None, Callable[[], bool]], Execution]
OnStart = Callable[[ObjectInfo], Progress | None]


@dataclass
class Runner:
    """Finds pending objects and runs the pipeline each one belongs to."""

    app: App
    on_start: OnStart | None = None  # called before an object is processed; may return a progress callback
    on_execution: OnExecution | None = None  # called after
    stop: threading.Event = field(default_factory=threading.Event)  # set it to stop between chunks

    def routes(self) -> dict[str, Handler]:
        """Key prefix -> the pipeline that handles objects under it."""
        return {ORDERS_PREFIX: self.app.orders.ingest}

    def pending(self) -> list[ObjectInfo]:
        """Objects under a routed prefix that are new or changed since they were handled,
        and raw-data/ files not yet noted for a batch."""
        seen = self.app.ledger.seen_objects()
        found = []
        for prefix in self.routes():
            for info in self.app.store.list(prefix):
                known = seen.get(info.key)
                if known is None or known[0] != info.version:
                    found.append(info)
        noted = self.app.batches.known_versions()
        found += [
            info
            for info in self.app.store.list(RAW_PREFIX)
            if noted.get(info.key) != info.version and table_of(info.key) is not None
        ]
        return sorted(found, key=lambda info: info.key)

    def run_once(self, at_once: bool = True) -> list[Execution]:
        """Process everything pending (waiting for objects still being written), then return.

        Batches of raw-data/ files start at once (``at_once``), or, when watching,
        only once the batch has settled (batch.settle_seconds) or is full."""
        executions: list[Execution] = []
        while not self.stop.is_set() and (pending := self.pending()):
            settled = [info for info in pending if self._unsettled_for(info) <= 0]
            for info in settled:
                if self.stop.is_set():
                    break
                executions.extend(self._process(info))
            if not settled:  # only objects still being written: wait until the first may be done
                time.sleep(min(self._unsettled_for(info) for info in pending))
        executions.extend(self._run_batches(at_once))
        return executions

    def recover(self) -> list[Execution]:
        """Settle what a crash left half done (batches), before anything new starts."""
        return self.app.batch.recover()

    def _run_batches(self, at_once: bool) -> Iterator[Execution]:
        batch = self.app.batch
        while not self.stop.is_set():
            files = batch.ready(time.time(), at_once)
            if not files:
                return
            execution = batch.run(files)
            if self.on_execution:
                self.on_execution(execution)
            yield execution

    def watch(self, stop: threading.Event | None = None) -> None:
        """Process pending objects now, then on every bucket event and every scan interval,
        until the stop event (``self.stop`` unless one is given) is set."""
        if stop is not None:
            self.stop = stop
        stop = self.stop
        settings = self.app.settings.watch
        self.run_once(at_once=False)
        # Wake at least every second, so a batch starts once it has settled.
        tick = min(settings.scan_seconds, 1.0)
        changes = watchfiles.watch(
            self.app.store.root,
            stop_event=stop,
            rust_timeout=int(tick * 1000),
            yield_on_timeout=True,
            debounce=200,
            step=50,
        )
        last_scan = time.monotonic()
        for changed in changes:
            if stop.is_set():
                break
            if changed or time.monotonic() - last_scan >= settings.scan_seconds:
                self.run_once(at_once=False)
                last_scan = time.monotonic()
            else:
                list(self._run_batches(at_once=False))

    def _unsettled_for(self, info: ObjectInfo) -> float:
        """Seconds until the object has been still for watch.settle_seconds (<= 0: now)."""
        return info.modified_at + self.app.settings.watch.settle_seconds - time.time()

    def _process(self, info: ObjectInfo) -> Iterator[Execution]:
        if info.key.startswith(RAW_PREFIX):
            self.app.batch.register(info)  # batches start from _run_batches, once ready
            return
        ledger, store = self.app.ledger, self.app.store
        try:
            digest = store.digest(info.key)
        except NotFound:
            return  # gone since the scan: nothing to do
        handler = next(h for prefix, h in self.routes().items() if info.key.startswith(prefix))
        asked_at = utc_now()
        progress = self.on_start(info) if self.on_start else None
        try:
            execution = handler(info.key, digest, progress, self.stop.is_set)
        except Stopped:
            return  # left pending: the next run resumes it from its checkpoint
        ledger.remember_object(info.key, info.version, digest, execution.id)
        if execution.finished_at is not None and execution.finished_at < asked_at:
            return  # the same content was done before: no second effect, nothing to report
        if self.on_execution:
            self.on_execution(execution)
        yield execution


def exclusive_home(home: Path) -> AbstractContextManager[None]:
    """Hold the home's run lock: two watchers on one home would race for the same objects."""
    return exclusive(
        home / ".run.lock",
        lambda pid: f"{home} is in use by salesflow run (pid {pid}); stop it first or use another --home",
    )
