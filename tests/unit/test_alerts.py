"""Alerts: outcomes of orders executions, and thresholds that notify once each way."""

from __future__ import annotations

from typing import Any

from salesflow.adapters.memory.notifier import InMemoryNotifier
from salesflow.domain.notices import NoticeKind
from salesflow.domain.records import Execution, ExecutionStatus
from salesflow.runtime.alerts import Alerts


def execution(pipeline: str = "orders", status: ExecutionStatus = ExecutionStatus.SUCCEEDED, **more: Any) -> Execution:
    return Execution("ex-1", pipeline, "orders/a.json", "d", status, records=5, stored=3, rejected=2, **more)


def test_an_orders_execution_is_told_with_its_counts() -> None:
    notifier = InMemoryNotifier()
    Alerts(notifier, 10, 60).execution_finished(execution())
    (notice,) = notifier.notices
    assert notice.kind is NoticeKind.EXECUTION_SUCCEEDED
    assert notice.subject == "orders/a.json"
    assert {"execution": "ex-1", "records": 5, "stored": 3, "rejected": 2}.items() <= notice.details.items()


def test_a_failed_execution_is_told_with_its_error_and_offset() -> None:
    notifier = InMemoryNotifier()
    failed = execution(status=ExecutionStatus.FAILED, error="truncated", error_offset=218)
    Alerts(notifier, 10, 60).execution_finished(failed)
    (notice,) = notifier.notices
    assert notice.kind is NoticeKind.EXECUTION_FAILED
    assert "truncated" in notice.summary
    assert notice.details["error_offset"] == 218


def test_batches_are_not_told_twice() -> None:
    notifier = InMemoryNotifier()
    Alerts(notifier, 10, 60).execution_finished(execution(pipeline="batch"))
    assert notifier.notices == []


def test_a_deep_queue_is_told_once_when_crossed_and_once_when_back_under() -> None:
    notifier = InMemoryNotifier()
    depths = iter([5, 11, 50, 12, 3, 4])
    alerts = Alerts(notifier, 10, 60, pending_letters=lambda: next(depths))
    for _ in range(6):
        alerts.check()
    told = notifier.of_kind(NoticeKind.DLQ_DEPTH)
    assert [notice.details["over"] for notice in told] == [True, False]
    assert told[0].details["pending"] == 11
    assert told[1].details["pending"] == 3


def test_stream_lag_over_the_threshold_is_told() -> None:
    notifier = InMemoryNotifier()
    lags = iter([1.0, 90.0, 120.0, 0.0])
    alerts = Alerts(
        notifier, 10, 60, stream_lag=lambda: {"lag_seconds": next(lags), "lag_changes": 7, "written_through": 3}
    )
    for _ in range(4):
        alerts.check()
    told = notifier.of_kind(NoticeKind.STREAM_LAG)
    assert [notice.details["over"] for notice in told] == [True, False]
    assert "90 s" in told[0].summary
