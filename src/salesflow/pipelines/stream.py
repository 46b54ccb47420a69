"""The stream pipeline: every change of the orders table, transformed, buffered, into the lake.

Like DynamoDB Streams -> a Lambda transform -> Firehose -> S3, in one thread:

- read changes after the lake's last sequence, in order, a few thousand at a time;
- transform them (salesflow.pipelines.stream_transform); refused changes become
  error rows, and the stream goes on;
- buffer the results; flush when the buffer holds ``buffer_mb`` or its oldest change
  has waited ``buffer_seconds`` (Firehose's buffering hints), and on shutdown;
- each flush is one lake commit recording the last sequence it holds, so a crash at
  any moment, then a restart, leaves every change in the lake exactly once;
- an hour with more than ``compact_files`` files is compacted after a flush, and old
  files are vacuumed once they are ``retention_hours`` old.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from salesflow.domain.changes import event_moment
from salesflow.ports import ChangeFeed, Lake
from salesflow.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class StreamOptions:
    buffer_bytes: int = 5 << 20
    buffer_seconds: float = 1.0
    compact_files: int = 50
    poll_seconds: float = 0.1
    # Two slices are in memory at once (the feed reads the next one ahead): 10,000 changes
    # kept the stream of 1M changes at 269 MB peak, 20,000 at 297-304 MB, as fast.
    read_rows: int = 10_000
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(retries=5, base=0.1, cap=5.0))


@dataclass
class _Buffer:
    rows: list[pa.Table] = field(default_factory=list)
    errors: list[pa.Table] = field(default_factory=list)
    bytes: int = 0
    through: int = 0  # the last sequence read into the buffer
    since: float | None = None  # monotonic time the oldest buffered change was read

    def add(self, rows: pa.Table, errors: pa.Table, through: int, now: float) -> None:
        self.rows.append(rows)  # even when empty: a flush must move the position all the same
        self.errors.append(errors)
        self.bytes += rows.nbytes + errors.nbytes
        self.through = through
        if self.since is None:
            self.since = now

    def clear(self) -> None:
        self.rows, self.errors, self.bytes, self.since = [], [], 0, None


@dataclass
class StreamCounters:
    """What the stream did since it started, for status and metrics."""

    changes: int = 0
    written: int = 0
    errors: int = 0
    flushes: int = 0
    compactions: int = 0
    last_flush_at: str | None = None


class StreamPipeline:
    """Moves changes from a feed into a lake; one per lake (see runtime.stream_lock)."""

    def __init__(
        self,
        feed: ChangeFeed,
        lake: Lake,
        transform: Callable[[pa.Table], tuple[pa.Table, pa.Table]],
        options: StreamOptions = StreamOptions(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.feed = feed
        self.lake = lake
        self.transform = transform
        self.options = options
        self.clock = clock
        self.counters = StreamCounters()
        self._buffer = _Buffer()
        self._read_through: int | None = None  # the last sequence read (lake's, at start)

    def drain(self) -> int:
        """Move every change there is now into the lake; returns how many were moved."""
        moved = 0
        while (read := self.step()) > 0:
            moved += read
        self.flush()
        return moved

    def run(self, stop: threading.Event) -> None:
        """Follow the feed until stop is set, then flush what is buffered."""
        while not stop.is_set():
            if self.step() == 0:
                stop.wait(self.options.poll_seconds)
        self.flush()

    def step(self) -> int:
        """Read and transform one slice of changes; flush when the buffer is full or old.
        Returns how many changes were read (0: caught up)."""
        after = self._position()
        changes = self.feed.read_after(after, self.options.read_rows)
        if changes.num_rows:
            rows, errors = self.transform(changes)
            through = int(changes.column("sequence")[-1].as_py())
            self._buffer.add(rows, errors, through, self.clock())
            self._read_through = through
            self.counters.changes += changes.num_rows
        if self._due():
            self.flush()
        return int(changes.num_rows)

    def flush(self) -> None:
        """Commit the buffer to the lake as one commit (nothing when it is empty)."""
        buffer = self._buffer
        if buffer.since is None:
            return
        rows, errors = pa.concat_tables(buffer.rows), pa.concat_tables(buffer.errors)
        self.options.retry.call(lambda: self.lake.append(rows, errors, buffer.through))
        self.counters.written += rows.num_rows
        self.counters.errors += errors.num_rows
        self.counters.flushes += 1
        self.counters.last_flush_at = datetime.now(UTC).isoformat(timespec="milliseconds")
        touched = _partitions_of(rows) if rows.num_rows else set()
        buffer.clear()
        self._compact_crowded(touched)

    def reset(self) -> None:
        """Forget the buffer and the position: after a failure, start over from the lake's."""
        self._buffer.clear()
        self._read_through = None

    def close(self) -> None:
        for part in (self.transform, self.feed):
            close = getattr(part, "close", None)
            if close is not None:
                close()

    def lag(self) -> dict[str, Any]:
        """Where the lake is against the change log: the last change it holds, the newest
        change, and how far behind it is in changes and in seconds (the age of the oldest
        change not in the lake yet)."""
        written = self.lake.written_through()
        newest, _ = self.feed.newest()
        oldest_waiting = self.feed.first_event_time_after(written) if newest > written else None
        lag_seconds = 0.0
        if oldest_waiting is not None:
            lag_seconds = max(0.0, (datetime.now(UTC) - event_moment(oldest_waiting)).total_seconds())
        return {
            "written_through": written,
            "newest_change": newest,
            "lag_changes": newest - written,
            "lag_seconds": round(lag_seconds, 3),
        }

    def status(self) -> dict[str, Any]:
        """The lag, refused changes, and files per partition."""
        return {**self.lag(), "errors": self.lake.error_count(), "partitions": self.lake.partitions()}

    # -- helpers --------------------------------------------------------------------

    def _position(self) -> int:
        if self._read_through is None:
            self._read_through = self.lake.written_through()
        return self._read_through

    def _due(self) -> bool:
        buffer = self._buffer
        if buffer.since is None:
            return False
        full = buffer.bytes >= self.options.buffer_bytes
        return full or self.clock() - buffer.since >= self.options.buffer_seconds

    def _compact_crowded(self, touched: set[tuple[str, str]]) -> None:
        if not touched:
            return
        # Only the partitions this flush wrote to: listing them all grows with the lake's age.
        crowded = sorted(p for p in touched if self.lake.file_count(*p) > self.options.compact_files)
        # Not waiting for a compaction already running (`salesflow lake compact`, minutes on a
        # big lake): the changes keep flowing, and the next flush finds the hour still crowded.
        if crowded and self.lake.compact(crowded, wait=False) is not None:
            self.lake.vacuum()
            self.counters.compactions += len(crowded)


def _partitions_of(rows: pa.Table) -> set[tuple[str, str]]:
    # In Python (a millisecond for a flush): pyarrow's group_by and compute functions with
    # a Python argument import pandas (about 40 MB) to look for its types.
    return set(zip(rows.column("dt").to_pylist(), rows.column("hour").to_pylist(), strict=True))
