"""Notices: what the pipelines tell people about, whatever carries it (log, webhook, SNS).

A notice is a plain value. It is made by a pipeline or the console, handed to
a ``Notifier`` (see ``salesflow.ports``), and serialised by the adapter with
:meth:`Notice.to_dict`; the time is given by the caller, the domain has no clock.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class NoticeKind(StrEnum):
    """What happened. Everything but a success is something a person may have to act on."""

    EXECUTION_SUCCEEDED = "execution_succeeded"
    EXECUTION_FAILED = "execution_failed"
    DLQ_DEPTH = "dlq_depth"  # the dead-letter queue is deeper than its threshold
    STREAM_LAG = "stream_lag"  # a stream consumer is further behind than its threshold

    @property
    def is_problem(self) -> bool:
        """True for every kind but a success: log it as a warning, page someone about it."""
        return self is not NoticeKind.EXECUTION_SUCCEEDED


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification.

    - ``subject``: what it is about, short enough for a mail subject or a chat line
      (``orders/2026-11-25.json``, ``batch 20261125-1``, ``dead letters``);
    - ``summary``: one sentence for a person;
    - ``details``: the figures a machine may act on (counts, execution id, error,
      threshold); JSON values, Decimals included;
    - ``at``: when it happened, ISO 8601 in UTC.
    """

    kind: NoticeKind
    subject: str
    summary: str
    details: dict[str, Any]
    at: str

    def __post_init__(self) -> None:
        # A kind given as its text ("execution_failed") becomes the enum; an unknown one is refused here,
        # where the mistake is made, rather than by whoever reads the notice.
        object.__setattr__(self, "kind", NoticeKind(self.kind))

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the notice: ``kind`` (its text), ``subject``, ``summary``, ``details``, ``at``.

        The details are a deep copy, so the receiver may change them without touching the notice.
        """
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "summary": self.summary,
            "details": copy.deepcopy(self.details),
            "at": self.at,
        }
