"""Notifier on an SNS topic: each notice published as JSON, with a subject.

A notifier never raises (ports.Notifier): a notice SNS will not take is logged
with the reason and dropped, and the pipeline goes on.
"""

from __future__ import annotations

import logging
from typing import Any

from salesflow.domain.notices import Notice
from salesflow.jsoncodec import to_json

log = logging.getLogger(__name__)
_SUBJECT_LIMIT = 100  # SNS: at most 100 printable ASCII characters, no line breaks


class SnsNotifier:
    """Publishes Notice.to_dict() as the message, the kind as a message attribute (for subscription filters)."""

    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self.topic_arn = topic_arn

    def notify(self, notice: Notice) -> None:
        try:
            self._sns.publish(
                TopicArn=self.topic_arn,
                Subject=subject(notice),
                Message=to_json(notice.to_dict()),
                MessageAttributes={"kind": {"DataType": "String", "StringValue": notice.kind.value}},
            )
        except Exception as exc:  # a notifier must never fail its pipeline, whatever boto3 raises
            log.warning("SNS notice %s about %s dropped: %s", notice.kind.value, notice.subject, exc)

    def close(self) -> None:
        """Nothing to flush: every publish is synchronous."""


def subject(notice: Notice) -> str:
    """``salesflow: execution_failed: orders/x.json``, cut to what SNS accepts."""
    text = f"salesflow: {notice.kind.value}: {notice.subject}"
    printable = "".join(ch if " " <= ch <= "~" else "?" for ch in text)
    return printable[:_SUBJECT_LIMIT]
