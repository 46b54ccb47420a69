"""Values that travel between the pipelines and the ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from salesflow.domain.orders import Reason


class ExecutionStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LetterStatus(StrEnum):
    PENDING = "pending"
    REDRIVEN = "redriven"
    DISCARDED = "discarded"


class Pipeline(StrEnum):
    ORDERS = "orders"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refused record on its way to the dead-letter queue: where it was, why, and what it was."""

    position: int
    reasons: list[Reason]
    raw: Any  # the record as it arrived (for an unreadable line, its text)


@dataclass(frozen=True, slots=True)
class Chunk:
    """The outcome of a run of consecutive records of one object, committed as one unit.

    Rows are already encoded, so a chunk crosses a process boundary cheaply and
    the writer does no per-record work beyond the write itself:

    - ``orders``: ``(order_id, record JSON, position)``, in file order (later wins);
    - ``rejected``: ``(position, reasons JSON array, record JSON as it arrived)``.

    ``checkpoint`` is how many records of the object are done once this chunk is in.
    """

    execution_id: str
    key: str
    orders: list[tuple[str, str, int]]
    rejected: list[tuple[int, str, str]]
    checkpoint: int


@dataclass(frozen=True, slots=True)
class Execution:
    """One run of a pipeline over one object (or one batch)."""

    id: str
    pipeline: str
    key: str
    digest: str
    status: ExecutionStatus
    records: int = 0
    stored: int = 0
    rejected: int = 0
    checkpoint: int = 0
    started_at: str = ""
    finished_at: str | None = None
    error: str | None = None
    error_offset: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A refused record in the queue."""

    id: int
    execution_id: str
    key: str
    position: int
    reasons: list[str]
    record: Any
    status: LetterStatus
    created_at: str
    updated_at: str
    note: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
