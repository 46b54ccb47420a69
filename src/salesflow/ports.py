"""The capabilities the pipelines need, as Protocols. Adapters implement them.

Every method says what it raises beyond the SalesflowError tree. A pipeline
imports this module and the domain, never an adapter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any, Protocol

from salesflow.domain.notices import Notice
from salesflow.domain.orders import Order, Reason
from salesflow.domain.records import (
    Chunk,
    DeadLetter,
    Execution,
    ExecutionStatus,
    LetterStatus,
)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """An object in the bucket. ``version`` changes whenever the content may have."""

    key: str
    size: int
    version: str
    modified_at: float  # seconds since the epoch, UTC


class ObjectStore(Protocol):
    """A bucket of objects addressed by keys like ``orders/2026-11-25.json``."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every complete object under prefix; objects still being written are not listed."""
        ...

    def stat(self, key: str) -> ObjectInfo:
        """Raises NotFound."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """A binary stream of the object (gzip is not undone here). Raises NotFound."""
        ...

    def digest(self, key: str) -> str:
        """A content hash (hex): the same bytes always give the same digest. Raises NotFound."""
        ...

    def put(self, key: str, source: IO[bytes]) -> ObjectInfo:
        """Store source under key atomically: readers see the old object or the whole new one."""
        ...

    def move(self, key: str, new_key: str) -> None:
        """Rename an object (quarantine, archive). Raises NotFound."""
        ...

    def writer(self, key: str) -> AbstractContextManager[IO[bytes]]:
        """A binary file to write an object into; it appears whole when the block exits
        without error, and not at all otherwise."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; no error if it is not there."""
        ...


class OrderLedger(Protocol):
    """The durable side of the orders pipeline: the orders table, its change log,
    the dead-letter queue and execution checkpoints.

    Each method is atomic: after a crash, either all of its effect is there or
    none of it. Raises TransientError when a retry may succeed.
    """

    def start_execution(self, pipeline: str, key: str, digest: str) -> Execution:
        """The execution for (key, digest): a new one; the running one (after a crash) or
        the failed one (made running again) to resume from its checkpoint; or the
        succeeded one, and then the caller does nothing."""
        ...

    def commit_chunk(self, chunk: Chunk) -> None:
        """Upsert the chunk's orders, queue its rejected records, advance the checkpoint."""
        ...

    def finish_execution(
        self, execution_id: str, status: ExecutionStatus, error: str | None = None, error_offset: int | None = None
    ) -> Execution:
        """Close an execution with its outcome."""
        ...

    def redrive(self, letter_id: int, outcome: Order | list[Reason], record: Any, actor: str) -> LetterStatus:
        """Settle one dead letter after re-validation: into orders (redriven) or back in the
        queue with the new reasons (pending). Raises NotFound, PermanentError if not pending."""
        ...

    def discard(self, letter_id: int, why: str, actor: str) -> None:
        """Mark a pending dead letter discarded, keeping it for the record. Raises NotFound."""
        ...

    def delete_orders(self, order_ids: Sequence[str]) -> int:
        """Remove orders (each removal is a REMOVE change); returns how many existed."""
        ...


class OrderQueries(Protocol):
    """Read-only views of the ledger for the CLI and the console."""

    def execution(self, execution_id: str) -> Execution:
        """Raises NotFound."""
        ...

    def executions(self, status: str | None = None, limit: int | None = None) -> list[Execution]: ...

    def dead_letter(self, letter_id: int) -> DeadLetter:
        """Raises NotFound."""
        ...

    def dead_letters(
        self, reason: str | None = None, key: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]: ...

    def order(self, order_id: str) -> dict[str, Any]:
        """Raises NotFound."""
        ...

    def status(self) -> dict[str, Any]:
        """Counts per table and per execution status, and the last error."""
        ...


# The notifier port came after the others; its import sits here so the lines above stay as they were.


class Notifier(Protocol):
    """Tells people what happened (log, webhooks, SNS): execution outcomes, DLQ depth, stream lag.

    ``notify`` never blocks and never raises: a notifier that cannot deliver logs why
    and drops or queues the notice; a pipeline never fails because of its notifier.
    """

    def notify(self, notice: Notice) -> None: ...


class BatchLedger(Protocol):
    """The batch pipeline's durable state: waiting files, batches and their steps, the
    current processed state, KPI tables and refused rows. Each method is atomic."""

    def register_file(self, key: str, version: str, table: str, modified_at: float) -> bool: ...

    def pending_files(self) -> list[Any]: ...

    def state_keys(self) -> dict[str, str]: ...

    def start_batch(self, batch_id: str, files: Sequence[str]) -> Any: ...

    def step(self, execution_id: str, step: str, status: str, detail: dict[str, Any] | None = None) -> None: ...

    def publish(
        self,
        batch_id: str,
        state: dict[str, str],
        touched: Sequence[Any],
        kpis: Callable[[], tuple[Sequence[Any], Sequence[Any]]],
        rejected: Sequence[tuple[str, int, str, str]],
        counts: dict[str, Any],
    ) -> None:
        """Make a batch's results visible, all together. ``kpis`` gives the order and category
        KPI rows; it is called after the refused rows are written, so a caller may compute them
        meanwhile."""
        ...

    def finish_batch(self, batch_id: str, status: ExecutionStatus, error: str | None = None) -> Any: ...

    def batches(self, status: str | None = None, limit: int | None = None) -> list[Any]: ...

    def execution_of(self, batch_id: str) -> Execution: ...

    def kpis(
        self, table: str, start: str | None = None, end: str | None = None, category: str | None = None
    ) -> list[dict[str, Any]]: ...


class ChangeFeed(Protocol):
    """The orders table's change records, in sequence order (like a DynamoDB stream).

    Rows come as an Arrow table with the columns of salesflow.domain.changes.Change:
    the stream transforms many at once, so it gets them as columns, not objects.
    """

    def read_after(self, sequence: int, limit: int) -> Any:
        """Up to limit changes with a sequence above the given one, oldest first (a pyarrow.Table)."""
        ...

    def newest(self) -> tuple[int, str | None]:
        """The highest sequence so far (0 when none) and its event time."""
        ...

    def first_event_time_after(self, sequence: int) -> str | None:
        """When the first change after this sequence committed, or None when there is none
        (the next sequence itself need not exist: nothing here assumes sequences without gaps)."""
        ...


class Lake(Protocol):
    """The partitioned lake the stream writes (Delta Lake locally, S3 + Glue on AWS).

    ``append`` is one atomic commit that also records the last sequence it holds,
    so after a crash the stream resumes right after what the lake has.
    """

    def written_through(self) -> int:
        """The last change sequence the lake holds (0 when none)."""
        ...

    def append(self, rows: Any, errors: Any, through: int) -> None:
        """Commit transformed rows and refused changes (pyarrow.Tables), recording through."""
        ...

    def compact(
        self, partitions: Sequence[tuple[str, str]] | None = None, wait: bool = True
    ) -> list[dict[str, Any]] | None:
        """Merge the small files of the given (dt, hour) partitions (all when None), setting
        apart the changes a later change replaced. With ``wait`` false, return None at once
        when another compaction of the lake is running."""
        ...

    def vacuum(self) -> int:
        """Delete files no version within the retention needs; returns how many."""
        ...

    def partitions(self) -> list[dict[str, Any]]:
        """Per (dt, hour): files and bytes."""
        ...

    def file_count(self, dt: str, hour: str) -> int:
        """How many files one partition has (0 when it has none)."""
        ...

    def errors(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Refused changes, newest first."""
        ...

    def error_count(self) -> int: ...
