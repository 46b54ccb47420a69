"""Notices, the log notifier and the fan-out: what a person or a receiving system gets told."""

from __future__ import annotations

import json
import logging
from decimal import Decimal

import pytest

from salesflow.adapters.local.notifiers import FanOutNotifier, LogNotifier
from salesflow.adapters.memory.notifier import InMemoryNotifier
from salesflow.domain.notices import Notice, NoticeKind
from salesflow.jsoncodec import to_json


def a_notice(kind: NoticeKind = NoticeKind.EXECUTION_FAILED, summary: str = "failed at byte 120") -> Notice:
    return Notice(
        kind=kind,
        subject="orders/2026-11-25.json",
        summary=summary,
        details={"execution_id": "e-1", "records": 3, "revenue": Decimal("12.30"), "reasons": ["invalid_price"]},
        at="2026-11-25T10:00:00+00:00",
    )


# -- the notice ---------------------------------------------------------------------


def test_the_json_body_holds_every_field_with_the_kind_as_text() -> None:
    body = json.loads(to_json(a_notice().to_dict()), parse_float=Decimal)

    assert body == {
        "kind": "execution_failed",
        "subject": "orders/2026-11-25.json",
        "summary": "failed at byte 120",
        "details": {"execution_id": "e-1", "records": 3, "revenue": Decimal("12.30"), "reasons": ["invalid_price"]},
        "at": "2026-11-25T10:00:00+00:00",
    }


def test_changing_the_body_leaves_the_notice_as_it_was() -> None:
    notice = a_notice()

    body = notice.to_dict()
    body["details"]["reasons"].append("invalid_email")
    body["details"]["records"] = 0

    assert notice.details == {
        "execution_id": "e-1",
        "records": 3,
        "revenue": Decimal("12.30"),
        "reasons": ["invalid_price"],
    }


def test_a_kind_given_as_text_becomes_the_enum_and_an_unknown_one_is_refused() -> None:
    notice = Notice("dlq_depth", "dead letters", "1200 pending", {}, "2026-11-25T10:00:00+00:00")  # type: ignore[arg-type]
    assert notice.kind is NoticeKind.DLQ_DEPTH

    with pytest.raises(ValueError, match="dlq_deep"):
        Notice("dlq_deep", "dead letters", "1200 pending", {}, "2026-11-25T10:00:00+00:00")  # type: ignore[arg-type]


# -- the log notifier -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        (NoticeKind.EXECUTION_SUCCEEDED, logging.INFO),
        (NoticeKind.EXECUTION_FAILED, logging.WARNING),
        (NoticeKind.DLQ_DEPTH, logging.WARNING),
        (NoticeKind.STREAM_LAG, logging.WARNING),
    ],
)
def test_the_log_line_says_what_happened_at_info_for_success_and_warning_otherwise(
    caplog: pytest.LogCaptureFixture, kind: NoticeKind, level: int
) -> None:
    with caplog.at_level(logging.INFO, logger="salesflow.notify"):
        LogNotifier().notify(a_notice(kind))

    [record] = caplog.records
    assert record.name == "salesflow.notify"
    assert record.levelno == level
    line = record.getMessage()
    assert line.startswith(f"{kind.value} orders/2026-11-25.json: failed at byte 120 ")
    assert json.loads(line.split("120 ", 1)[1], parse_float=Decimal)["revenue"] == Decimal("12.30")
    assert record.notice == a_notice(kind).to_dict()  # type: ignore[attr-defined]


def test_a_multi_line_error_still_makes_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="salesflow.notify"):
        LogNotifier().notify(a_notice(summary="failed:\nTraceback (most recent call last)\r\n  ..."))

    [record] = caplog.records
    assert "\n" not in record.getMessage()
    assert "\r" not in record.getMessage()
    assert "failed:\\nTraceback (most recent call last)\\r\\n  ..." in record.getMessage()


# -- the fan-out --------------------------------------------------------------------------


class BrokenNotifier:
    """A notifier that breaks its promise, as a buggy plug-in might."""

    def __init__(self) -> None:
        self.calls = 0

    def notify(self, notice: Notice) -> None:
        self.calls += 1
        raise RuntimeError("smtp server on fire")


def test_the_fan_out_tells_every_notifier_even_when_one_raises(caplog: pytest.LogCaptureFixture) -> None:
    first, broken, last = InMemoryNotifier(), BrokenNotifier(), InMemoryNotifier()
    fan_out = FanOutNotifier([first, broken, last])

    fan_out.notify(a_notice(NoticeKind.EXECUTION_SUCCEEDED))
    fan_out.notify(a_notice(NoticeKind.STREAM_LAG))

    assert [n.kind for n in first.notices] == [NoticeKind.EXECUTION_SUCCEEDED, NoticeKind.STREAM_LAG]
    assert last.notices == first.notices
    assert broken.calls == 2
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert "BrokenNotifier" in errors[0].getMessage()
    assert errors[0].exc_info is not None
    assert "smtp server on fire" in str(errors[0].exc_info[1])


class ClosableNotifier(InMemoryNotifier):
    def __init__(self, done: bool) -> None:
        super().__init__()
        self.done = done
        self.closed_with: list[float] = []

    def close(self, timeout: float = 5.0) -> bool:
        self.closed_with.append(timeout)
        return self.done


def test_closing_the_fan_out_closes_what_can_be_closed_and_says_whether_all_was_delivered() -> None:
    finished, behind = ClosableNotifier(done=True), ClosableNotifier(done=False)

    assert FanOutNotifier([finished, InMemoryNotifier()]).close(10.0) is True
    assert FanOutNotifier([finished, behind, InMemoryNotifier()]).close(10.0) is False
    assert len(finished.closed_with) == 2
    assert behind.closed_with
    assert all(0 <= timeout <= 10.0 for timeout in finished.closed_with + behind.closed_with)
