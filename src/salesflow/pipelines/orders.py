"""The orders pipeline: one JSON object in the bucket -> orders table or dead-letter queue.

Every record ends up exactly once in one of the two. Records go to the ledger in
chunks; each chunk commits with the execution's checkpoint, so a crash at any
moment resumes after the last committed chunk. A ``.json`` document is read
twice: first only to prove it whole (fast, no records built), so a broken
document applies nothing; then for real.

Reading and validating (pure Python) runs in a child process for large objects
while this one writes (see prefetch.py): the two sides use both cores.
"""

from __future__ import annotations

import gc
import gzip
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import IO

from salesflow.domain.errors import MalformedDocument, SalesflowError, TransientError
from salesflow.domain.orders import Order, Reason, check_order
from salesflow.domain.records import Chunk, Execution, ExecutionStatus, Pipeline
from salesflow.jsoncodec import to_json
from salesflow.pipelines.prefetch import prefetch
from salesflow.pipelines.retry import RetryPolicy
from salesflow.ports import ObjectStore, OrderLedger
from salesflow.readers import (
    FormatName,
    check_document,
    detect_format,
    read_document,
    read_lines,
)
from salesflow.readers.types import Block, Unreadable

Progress = Callable[[int, int | None], None]  # (records done, records in the file if known)
QUARANTINE = "quarantine/"
_WRITE_FAILED = to_json([Reason.WRITE_FAILED])


@dataclass(frozen=True, slots=True)
class IngestSettings:
    chunk_records: int = 20_000
    max_record_bytes: int = 16 << 20
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Objects at least this large are read in a child process (0: never).
    subprocess_min_bytes: int = 8 << 20


@dataclass
class IngestStats:
    """What a caller may want to know beyond the execution row."""

    retries: int = 0


class OrdersPipeline:
    """Runs executions of the orders pipeline over objects of a store."""

    def __init__(self, store: ObjectStore, ledger: OrderLedger, settings: IngestSettings | None = None) -> None:
        self.store = store
        self.ledger = ledger
        self.settings = settings or IngestSettings()
        self.stats = IngestStats()

    def ingest(self, key: str, digest: str | None = None, progress: Progress | None = None) -> Execution:
        """Process one object. The same key and content again has no second effect:
        the succeeded execution is returned as it is."""
        digest = digest or self.store.digest(key)
        retry = self.settings.retry
        execution = retry.call(lambda: self.ledger.start_execution(Pipeline.ORDERS, key, digest))
        if execution.status == ExecutionStatus.SUCCEEDED:
            return execution
        try:
            for chunk_or_total in self._chunks(execution):
                if isinstance(chunk_or_total, Chunk):
                    self._commit(chunk_or_total)
                    if progress:
                        progress(chunk_or_total.checkpoint, None)
                elif progress:
                    progress(execution.checkpoint, chunk_or_total)
        except MalformedDocument as exc:
            self._quarantine(key, execution, exc)
            return self._finish(execution, ExecutionStatus.FAILED, str(exc), exc.offset)
        except SalesflowError as exc:
            # Nothing is lost: the checkpoint holds, and the next run resumes from it.
            return self._finish(execution, ExecutionStatus.FAILED, str(exc))
        return self._finish(execution, ExecutionStatus.SUCCEEDED)

    def _chunks(self, execution: Execution) -> Iterator[Chunk | int]:
        limits = (self.settings.chunk_records, self.settings.max_record_bytes)
        threshold = self.settings.subprocess_min_bytes
        if threshold and self.store.stat(execution.key).size >= threshold:
            return prefetch(produce_chunks, self.store, execution, *limits)
        return produce_chunks(self.store, execution, *limits)

    def _commit(self, chunk: Chunk) -> None:
        """Commit with retries; a chunk the table keeps refusing goes to the queue as write_failed."""
        retry = self.settings.retry
        try:
            retry.call(lambda: self.ledger.commit_chunk(chunk), self._count_retry)
        except TransientError:
            failed = [(position, _WRITE_FAILED, record) for _, record, position in chunk.orders]
            fallback = Chunk(chunk.execution_id, chunk.key, [], failed + chunk.rejected, chunk.checkpoint)
            retry.call(lambda: self.ledger.commit_chunk(fallback), self._count_retry)

    def _count_retry(self, _: BaseException) -> None:
        self.stats.retries += 1

    def _finish(
        self, execution: Execution, status: ExecutionStatus, error: str | None = None, offset: int | None = None
    ) -> Execution:
        return self.settings.retry.call(lambda: self.ledger.finish_execution(execution.id, status, error, offset))

    def _quarantine(self, key: str, execution: Execution, exc: MalformedDocument) -> None:
        target = QUARANTINE + key
        note = {
            "key": key,
            "execution": execution.id,
            "reason": exc.reason,
            "offset": exc.offset,
            "at": datetime.now(UTC).isoformat(),
            "fix": f"repair the file and put it again under {key}; nothing of it was applied",
        }
        try:
            self.store.move(key, target)
            self.store.put(target + ".reason.json", BytesIO(to_json(note).encode()))
        except SalesflowError:
            pass  # the execution still records the reason; the object stays where it was


def produce_chunks(
    store: ObjectStore, execution: Execution, chunk_records: int, max_record_bytes: int
) -> Iterator[Chunk | int]:
    """Read, validate and encode an object's records from its checkpoint on.

    Yields the record count first when the document is proven whole (an int),
    then chunks. Raises MalformedDocument before any chunk if the object
    cannot be read. Pure reading: runs in a child process as well as here.
    """
    key = execution.key
    fmt = detect_format(key)
    if fmt is None:
        raise MalformedDocument("not an orders file: name it .json, .jsonl or .ndjson (optionally .gz)", 0)
    gzipped = key.lower().endswith(".gz")
    with _paused_gc():
        if fmt is FormatName.DOCUMENT:
            with _open(store, key) as stream:
                yield check_document(stream, max_record_bytes=max_record_bytes)
        elif gzipped:
            with _open(store, key) as stream:
                while stream.read(1 << 20):  # prove the compression whole before applying any line
                    pass
        builder = _ChunkBuilder(execution, chunk_records)
        with _open(store, key) as stream:
            reader = read_document if fmt is FormatName.DOCUMENT else read_lines
            for block in reader(stream, max_record_bytes=max_record_bytes):
                yield from builder.add(block)
        if (last := builder.finish()) is not None:
            yield last


@contextmanager
def _open(store: ObjectStore, key: str) -> Iterator[IO[bytes]]:
    with store.open(key) as raw:
        if not key.lower().endswith(".gz"):
            yield raw
            return
        try:
            with gzip.GzipFile(fileobj=raw) as unzipped:
                yield unzipped  # type: ignore[misc]
        except (OSError, EOFError, zlib.error) as exc:
            raise MalformedDocument(f"not a readable gzip file ({exc})", raw.tell()) from None


class _ChunkBuilder:
    """Validates records block by block and cuts them into chunks of about chunk_records."""

    def __init__(self, execution: Execution, chunk_records: int) -> None:
        self.execution = execution
        self.chunk_records = chunk_records
        self.skip = execution.checkpoint  # records committed before a crash: not applied again
        self.done = execution.checkpoint
        self.orders: list[tuple[str, str, int]] = []
        self.rejected: list[tuple[int, str, str]] = []

    def add(self, block: Block) -> Iterator[Chunk]:
        positions, values = block.positions, block.values
        if self.skip:
            skipped = min(self.skip, len(values))
            self.skip -= skipped
            positions, values = positions[skipped:], values[skipped:]
        orders, rejected = self.orders, self.rejected
        for position, value in zip(positions, values, strict=True):
            if isinstance(value, Unreadable):
                rejected.append((position, to_json([value.reason]), to_json(value.raw)))
                continue
            outcome = check_order(value)
            if isinstance(outcome, Order):
                orders.append((outcome.order_id, to_json(outcome.record), position))
            else:
                rejected.append((position, to_json(outcome), to_json(value)))
        self.done += len(values)
        if len(orders) + len(rejected) >= self.chunk_records:
            yield self._cut()

    def finish(self) -> Chunk | None:
        return self._cut() if self.orders or self.rejected else None

    def _cut(self) -> Chunk:
        chunk = Chunk(self.execution.id, self.execution.key, self.orders, self.rejected, self.done)
        self.orders, self.rejected = [], []
        return chunk


@contextmanager
def _paused_gc() -> Iterator[None]:
    """Parsing builds millions of acyclic objects; the cycle collector only slows it down."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
