"""Notifier that keeps what it was told, for tests and examples."""

from __future__ import annotations

from salesflow.domain.notices import Notice, NoticeKind


class InMemoryNotifier:
    """A Notifier that records every notice, in order, in ``notices``."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    def notify(self, notice: Notice) -> None:
        self.notices.append(notice)  # list.append is atomic, so notifying threads need no lock

    def of_kind(self, kind: NoticeKind) -> list[Notice]:
        """The notices of one kind, in the order they came."""
        return [notice for notice in self.notices if notice.kind is kind]
