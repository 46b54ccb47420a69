"""What `salesflow run` tells people about besides batches (which notify from their own
step): each orders execution's outcome, a dead-letter queue deeper than
`notify.dlq_depth`, and a lake further behind than `notify.stream_lag_seconds`.

Thresholds notify once when crossed and once more when back under, not on every
check: a queue that stays deep for a day is one notice, not 8,640.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from salesflow.clock import utc_now
from salesflow.domain.notices import Notice, NoticeKind
from salesflow.domain.records import Execution, ExecutionStatus, Pipeline
from salesflow.ports import Notifier

log = logging.getLogger(__name__)


@dataclass
class Alerts:
    notifier: Notifier
    dlq_depth: int
    stream_lag_seconds: float
    pending_letters: Callable[[], int] | None = None  # set by start_alerts, in the thread that checks
    stream_lag: Callable[[], dict[str, Any]] | None = None
    _over: set[NoticeKind] = field(default_factory=set)

    def execution_finished(self, execution: Execution) -> None:
        """Tell the outcome of an orders execution (batches tell their own)."""
        if execution.pipeline != Pipeline.ORDERS:
            return
        ok = execution.status == ExecutionStatus.SUCCEEDED
        counts = f"{execution.records:,} records: {execution.stored:,} stored, {execution.rejected:,} refused"
        summary = counts if ok else f"failed: {execution.error}"
        details = {
            "execution": execution.id,
            "key": execution.key,
            "records": execution.records,
            "stored": execution.stored,
            "rejected": execution.rejected,
            "error": execution.error,
            "error_offset": execution.error_offset,
        }
        kind = NoticeKind.EXECUTION_SUCCEEDED if ok else NoticeKind.EXECUTION_FAILED
        self.notifier.notify(Notice(kind, execution.key, summary, details, utc_now()))

    def check(self) -> None:
        """Compare the queue depth and the stream lag with their thresholds."""
        if self.pending_letters is not None:
            self._check_depth(self.pending_letters())
        if self.stream_lag is not None:
            self._check_lag(self.stream_lag())

    def _check_depth(self, depth: int) -> None:
        self._threshold(
            NoticeKind.DLQ_DEPTH,
            depth > self.dlq_depth,
            "dead letters",
            f"{depth:,} dead letters pending (threshold {self.dlq_depth:,}); `salesflow dlq list` shows them",
            f"{depth:,} dead letters pending, back under the threshold of {self.dlq_depth:,}",
            {"pending": depth, "threshold": self.dlq_depth},
        )

    def _check_lag(self, lag: dict[str, Any]) -> None:
        seconds = float(lag["lag_seconds"])
        self._threshold(
            NoticeKind.STREAM_LAG,
            seconds > self.stream_lag_seconds,
            "stream",
            f"the lake is {seconds:,.0f} s ({lag['lag_changes']:,} changes) behind the orders table "
            f"(threshold {self.stream_lag_seconds:,.0f} s); `salesflow stream status` tells more",
            f"the lake caught up: {seconds:,.1f} s behind",
            {**lag, "threshold_seconds": self.stream_lag_seconds},
        )

    def watch(self, stop: threading.Event, every: float) -> None:
        """check() every `every` seconds until stop is set; a failed check is logged and retried."""
        while not stop.wait(every):
            try:
                self.check()
            except Exception:
                log.exception("could not check the dead-letter queue and the stream lag")

    def _threshold(
        self, kind: NoticeKind, over: bool, subject: str, crossed: str, cleared: str, details: dict[str, Any]
    ) -> None:
        if over == (kind in self._over):
            return  # no change since the last check
        if over:
            self._over.add(kind)
            self.notifier.notify(Notice(kind, subject, crossed, {**details, "over": True}, utc_now()))
        else:
            self._over.discard(kind)
            # Back under: the same kind, so a receiver can close what the first one opened.
            self.notifier.notify(Notice(kind, subject, cleared, {**details, "over": False}, utc_now()))


def alerts_for(settings: Any, notifier: Notifier) -> Alerts:
    config = settings.notify
    return Alerts(notifier, config.dlq_depth, config.stream_lag_seconds)


def start_alerts(settings: Any, alerts: Alerts, stop: threading.Event) -> threading.Thread:
    """Check the thresholds on a thread of its own, with connections of its own (the
    runner's thread owns the app's), until stop is set."""

    def watch() -> None:
        from salesflow.adapters.local.sqlite_db import connect
        from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
        from salesflow.runtime.stream import build_stream

        ledger = SqliteOrderLedger(connect(settings.database))
        stream = build_stream(settings)
        alerts.pending_letters = ledger.pending_letters
        alerts.stream_lag = stream.lag
        try:
            alerts.watch(stop, settings.notify.check_seconds)
        finally:
            stream.close()
            ledger.close()

    thread = threading.Thread(target=watch, name="alerts", daemon=True)
    thread.start()
    return thread
