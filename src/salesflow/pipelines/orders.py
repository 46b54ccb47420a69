"""The orders pipeline: one JSON object in the bucket -> orders table or dead-letter queue.

Every record ends up exactly once in one of the two. An execution runs in
three moves:

1. plan: one cheap pass proves the object readable (a broken ``.json``
   document applies nothing) and maps it into spans of whole records;
2. read: spans are grouped into segments of about ``chunk_records`` records;
   each segment is parsed and validated into one chunk, by worker processes
   for large objects (reading is pure Python; see prefetch.py), in order;
3. write: this process commits the chunks in segment order, each with the
   execution's checkpoint, so a crash at any moment resumes after the last
   committed chunk and nothing is applied twice.

Gzipped objects cannot be read from the middle: they are proven whole, then
read from the start in one process.
"""

from __future__ import annotations

import gc
import gzip
import logging
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import IO, Any

import msgspec

from salesflow.domain.errors import MalformedDocument, SalesflowError, TransientError
from salesflow.domain.orders import Order, Reason, check_order
from salesflow.domain.records import Chunk, Execution, ExecutionStatus, Pipeline
from salesflow.jsoncodec import to_json
from salesflow.logcontext import bound
from salesflow.pipelines.prefetch import prefetch
from salesflow.ports import ObjectStore, OrderLedger
from salesflow.readers import (
    FormatName,
    check_document,
    detect_format,
    plan_document,
    plan_lines,
    read_document,
    read_document_span,
    read_lines,
    read_lines_span,
)
from salesflow.readers.types import Block, Span, Unreadable
from salesflow.retry import RetryPolicy

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]  # (records done, records in the file if known)
QUARANTINE = "quarantine/"
_WRITE_FAILED = to_json([Reason.WRITE_FAILED])


@dataclass(frozen=True, slots=True)
class IngestSettings:
    chunk_records: int = 8_000
    max_record_bytes: int = 16 << 20
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Objects at least this large are read by ``workers`` processes (0: never).
    subprocess_min_bytes: int = 8 << 20
    workers: int = 2


class Stopped(Exception):
    """The caller asked to stop: the execution stays running and resumes next time."""


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

    def ingest(
        self,
        key: str,
        digest: str | None = None,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Execution:
        """Process one object. The same key and content again has no second effect:
        the succeeded execution is returned as it is.

        ``should_stop`` is asked between chunks; when it says yes, Stopped is
        raised and the execution stays running, to resume on the next ingest.
        """
        digest = digest or self.store.digest(key)
        retry = self.settings.retry
        execution = retry.call(lambda: self.ledger.start_execution(Pipeline.ORDERS, key, digest))
        if execution.status == ExecutionStatus.SUCCEEDED:
            return execution
        with bound(execution_id=execution.id, key=key):
            log.info("execution started at record %s", execution.checkpoint)
            try:
                with _paused_gc():  # unpickling chunks makes millions of tuples: no cycles to find
                    self._run(execution, progress, should_stop)
            except MalformedDocument as exc:
                self._quarantine(key, execution, exc)
                return self._finish(execution, ExecutionStatus.FAILED, str(exc), exc.offset)
            except SalesflowError as exc:
                # Nothing is lost: the checkpoint holds, and the next run resumes from it.
                return self._finish(execution, ExecutionStatus.FAILED, str(exc))
            return self._finish(execution, ExecutionStatus.SUCCEEDED)

    def _run(self, execution: Execution, progress: Progress | None, should_stop: Callable[[], bool] | None) -> None:
        for chunk_or_total in self._chunks(execution):
            if isinstance(chunk_or_total, Chunk):
                self._commit(chunk_or_total)
                if should_stop and should_stop():
                    raise Stopped(f"stopped at record {chunk_or_total.checkpoint} of {execution.key}")
                if progress:
                    progress(chunk_or_total.checkpoint, None)
            elif progress:
                progress(execution.checkpoint, chunk_or_total)

    def _chunks(self, execution: Execution) -> Iterator[Chunk | int]:
        """The record count (once known), then the chunks in order."""
        limit = self.settings.max_record_bytes
        spans = plan_object(self.store, execution.key, limit)
        if spans is None:
            yield from produce_sequentially(self.store, execution, self.settings.chunk_records, limit)
            return
        yield sum(span.count for span in spans)
        segments = group_segments(spans, self.settings.chunk_records, execution.checkpoint)
        workers = self._workers(execution.key)
        if workers == 1:
            yield from produce_segments(self.store, execution, segments, limit)
            return
        readers = [
            prefetch(produce_segments, self.store, execution, segments[k::workers], limit) for k in range(workers)
        ]
        try:
            for index in range(len(segments)):
                yield next(readers[index % workers])
        finally:
            for reader in readers:
                reader.close()  # type: ignore[attr-defined]

    def _workers(self, key: str) -> int:
        threshold = self.settings.subprocess_min_bytes
        if not threshold or self.settings.workers < 2 or self.store.stat(key).size < threshold:
            return 1
        return self.settings.workers

    def _commit(self, chunk: Chunk) -> None:
        """Commit with retries; a chunk the table keeps refusing goes to the queue as write_failed."""
        retry = self.settings.retry
        try:
            retry.call(lambda: self.ledger.commit_chunk(chunk), self._count_retry)
        except TransientError:
            originals = self._records_as_they_arrived(chunk.key, {position for _, _, position in chunk.orders})
            failed = [
                (position, _WRITE_FAILED, to_json(originals[position]) if position in originals else record)
                for _, record, position in chunk.orders
            ]
            fallback = Chunk(chunk.execution_id, chunk.key, [], failed + chunk.rejected, chunk.checkpoint)
            retry.call(lambda: self.ledger.commit_chunk(fallback), self._count_retry)

    def _records_as_they_arrived(self, key: str, positions: set[int]) -> dict[int, Any]:
        """Read records again from the object (a rare path: only valid records are not kept
        as they arrived). Missing ones, if the object is gone, keep their normalised form."""
        reader = read_document if detect_format(key) is FormatName.DOCUMENT else read_lines
        found: dict[int, Any] = {}
        try:
            with open_unzipped(self.store, key) as stream:
                for block in reader(stream, max_record_bytes=self.settings.max_record_bytes):
                    found.update((p, v) for p, v in zip(block.positions, block.values, strict=True) if p in positions)
                    if len(found) == len(positions):
                        break
        except SalesflowError:
            pass
        return found

    def _count_retry(self, _: BaseException) -> None:
        self.stats.retries += 1

    def _finish(
        self, execution: Execution, status: ExecutionStatus, error: str | None = None, offset: int | None = None
    ) -> Execution:
        done = self.settings.retry.call(lambda: self.ledger.finish_execution(execution.id, status, error, offset))
        level = logging.INFO if status == ExecutionStatus.SUCCEEDED else logging.WARNING
        log.log(level, "execution %s: %s records, %s stored, %s refused%s", status, done.records, done.stored,
                done.rejected, f"; {error}" if error else "")  # fmt: skip
        return done

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


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive spans that become one chunk; ``end`` is the checkpoint once it is in."""

    spans: tuple[Span, ...]
    end: int


def plan_object(store: ObjectStore, key: str, max_record_bytes: int) -> list[Span] | None:
    """Prove the object readable and map its records into spans.

    Returns None for gzip, which is proven whole but must be read from the
    start. Raises MalformedDocument when the object cannot be read.
    """
    fmt = detect_format(key)
    if fmt is None:
        raise MalformedDocument("not an orders file: name it .json, .jsonl or .ndjson (optionally .gz)", 0)
    with _paused_gc(), open_unzipped(store, key) as stream:
        if key.lower().endswith(".gz"):
            if fmt is FormatName.DOCUMENT:
                check_document(stream, max_record_bytes=max_record_bytes)
            else:
                while stream.read(1 << 20):
                    pass
            return None
        if fmt is FormatName.DOCUMENT:
            return plan_document(stream, max_record_bytes=max_record_bytes)
        return plan_lines(stream, max_record_bytes=max_record_bytes)


def group_segments(spans: list[Span], chunk_records: int, checkpoint: int) -> list[Segment]:
    """Spans grouped into segments of at least chunk_records records; segments that
    a previous run committed in full (ending at or before checkpoint) are left out."""
    segments: list[Segment] = []
    group: list[Span] = []
    count = 0
    for span in spans:
        group.append(span)
        count += span.count
        if count >= chunk_records:
            segments.append(Segment(tuple(group), span.first + span.count))
            group, count = [], 0
    if group:
        segments.append(Segment(tuple(group), group[-1].first + group[-1].count))
    return [segment for segment in segments if segment.end > checkpoint]


def produce_segments(
    store: ObjectStore, execution: Execution, segments: list[Segment], max_record_bytes: int
) -> Iterator[Chunk]:
    """Read and validate segments: one chunk each, in the order given.

    Pure reading, run in worker processes as well as here. Records before the
    execution's checkpoint were committed by an earlier run and are skipped.
    """
    key = execution.key
    read_span = _read_document_span if detect_format(key) is FormatName.DOCUMENT else _read_lines_span
    with _paused_gc(), store.open(key) as stream:
        for segment in segments:
            builder = _ChunkBuilder(execution)
            for span in segment.spans:
                block = read_span(stream, span, max_record_bytes)
                builder.add(block, skip=max(0, execution.checkpoint - span.first))
            yield builder.cut(segment.end)


def produce_packed_segments(
    store: ObjectStore, execution: Execution, segments: list[Segment], max_record_bytes: int
) -> Iterator[bytes]:
    """produce_segments for a worker process: each chunk packed as MessagePack, which
    crosses the pipe at a third of pickle's cost (measured in docs/decisions.md)."""
    for chunk in produce_segments(store, execution, segments, max_record_bytes):
        yield _pack_chunk(chunk)


_pack_chunk = msgspec.msgpack.Encoder().encode
_unpack_chunk = msgspec.msgpack.Decoder(Chunk).decode


def produce_sequentially(
    store: ObjectStore, execution: Execution, chunk_records: int, max_record_bytes: int
) -> Iterator[Chunk]:
    """Read and validate an object from its start (gzip), cutting chunks of chunk_records."""
    key = execution.key
    reader = read_document if detect_format(key) is FormatName.DOCUMENT else read_lines
    builder = _ChunkBuilder(execution)
    done = cut = 0
    with _paused_gc(), open_unzipped(store, key) as stream:
        for block in reader(stream, max_record_bytes=max_record_bytes):
            builder.add(block, skip=max(0, execution.checkpoint - done))
            done += len(block.values)
            if builder.size >= chunk_records:
                yield builder.cut(done)
                cut = done
    if done > max(cut, execution.checkpoint):
        yield builder.cut(done)


def _read_lines_span(stream: IO[bytes], span: Span, max_record_bytes: int) -> Block:
    return read_lines_span(stream, span, max_record_bytes=max_record_bytes)


def _read_document_span(stream: IO[bytes], span: Span, max_record_bytes: int) -> Block:
    return read_document_span(stream, span)


@contextmanager
def open_unzipped(store: ObjectStore, key: str) -> Iterator[IO[bytes]]:
    """The object as a stream, gzip undone; a broken gzip is a MalformedDocument."""
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
    """Validates records block by block into the rows of one chunk."""

    def __init__(self, execution: Execution) -> None:
        self.execution = execution
        self.orders: list[tuple[str, str, int]] = []
        self.rejected: list[tuple[int, str, str]] = []

    @property
    def size(self) -> int:
        return len(self.orders) + len(self.rejected)

    def add(self, block: Block, skip: int = 0) -> None:
        """Validate the block's records, leaving out the first ``skip`` (already committed)."""
        positions, values = block.positions, block.values
        if skip:
            positions, values = positions[skip:], values[skip:]
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

    def cut(self, checkpoint: int) -> Chunk:
        """The rows so far as a chunk that brings the execution to checkpoint."""
        chunk = Chunk(self.execution.id, self.execution.key, self.orders, self.rejected, checkpoint)
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
