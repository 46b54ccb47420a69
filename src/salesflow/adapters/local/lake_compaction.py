"""Compaction of the orders lake that also settles which changes are no longer current.

delta-rs' optimize merges files but knows nothing of their rows, so ``orders_current``
still had to find, over every row of the lake, the changes a later change replaced: a
second scan and an anti-join (0.30 s for the benchmark's units query after compaction,
against 0.06 s for a plain scan). Ours merges an hour's files into two kinds:

- ``*.superseded.parquet``: changes a later change (in the lake or refused) replaced, and
  removals. Never current again, whatever comes later.
- ``*.current.parquet``: the other changes, none of them replaced by a change up to the
  compaction's mark.

The mark is the last sequence the lake held when the compaction read it (the stream's own
application transaction), committed as the application transaction ``salesflow-compaction``
together with the files. Each compaction keeps one promise for the whole version it commits:
no row of any ``.current`` file was replaced by a change at or below the mark. It keeps it
by checking the ``.current`` files of earlier compactions against the changes since, and
splitting again those a later change hit. So ``orders_current`` reads no superseded file,
and looks for replacing changes only among those after the mark (none after a compaction
of every hour). Files the stream appended are neither kind: anything may replace them.

The commit removes the merged files and adds the new ones in one transaction (data_change
false, as optimize's), so a query reads either the old files or the new, never both.
"""

from __future__ import annotations

import fcntl
import json
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, Transaction
from deltalake.transaction import AddAction, RemoveAction

from salesflow.arrow_tables import bool_array, from_stream, int64_values, text_scalar

COMPACTION_APP = "salesflow-compaction"
CURRENT = ".current.parquet"
SUPERSEDED = ".superseded.parquet"
# Written as deltas rather than dictionaries: every value is new (see delta_lake.LAKE_WRITER).
DELTA_COLUMNS = ("sequence", "event_time", "prev_sequence")
# Rows per row group: DuckDB's own (a multiple of its 2,048-row vectors). Buffered as Arrow
# before each write, so this bounds compaction's memory too (about 55 MB of changes).
ROW_GROUP_ROWS = 122_880
# A new file after this many rows (about 100 MB of Parquet, optimize's default target).
FILE_ROWS = 3_000_000


@dataclass(frozen=True, slots=True)
class LakeFile:
    """One data file of a table version, with what its Delta statistics say of sequences."""

    path: str
    dt: str
    hour: str
    size: int
    rows: int | None
    min_sequence: int | None
    max_sequence: int | None

    @property
    def partition(self) -> tuple[str, str]:
        return self.dt, self.hour

    @property
    def kind(self) -> str:
        """``current``, ``superseded``, or ``appended`` (as the stream wrote it)."""
        if self.path.endswith(CURRENT):
            return "current"
        if self.path.endswith(SUPERSEDED):
            return "superseded"
        return "appended"


@dataclass(frozen=True, slots=True)
class CurrentPlan:
    """What orders_current reads of one version: ``rows``, the files that may hold current
    changes, and ``replacing``, the files whose changes may have replaced one of those."""

    rows: list[str]
    replacing: list[str]


def lake_files(table: DeltaTable) -> list[LakeFile]:
    actions = from_stream(table.get_add_actions(flatten=True))
    names = ("path", "partition.dt", "partition.hour", "size_bytes", "num_records", "min.sequence", "max.sequence")
    present = set(actions.column_names)
    columns = [actions.column(n).to_pylist() if n in present else [None] * actions.num_rows for n in names]
    return [LakeFile(*values) for values in zip(*columns, strict=True)]


def current_plan(files: list[LakeFile], mark: int) -> CurrentPlan:
    """The files orders_current needs at a version whose compaction mark is ``mark``.

    A change replaces only changes older than itself, so a row can be replaced only by a
    change after it: for a ``.current`` file, after the mark; for an appended one, after
    its first sequence. The replacing changes are then those after the lowest of these.
    """
    rows = [f for f in files if f.kind != "superseded"]
    floors = [mark if f.kind == "current" else (f.min_sequence or 1) - 1 for f in rows]
    if not floors:
        return CurrentPlan([], [])
    floor = min(floors)
    replacing = [f.path for f in files if f.max_sequence is None or f.max_sequence > floor]
    return CurrentPlan([f.path for f in rows], replacing)


@dataclass(slots=True)
class _Split:
    """The new files of one partition's compaction, and what went where."""

    dt: str
    hour: str
    removed: list[LakeFile]
    added: list[AddAction] = field(default_factory=list)
    current_rows: int = 0
    superseded_rows: int = 0


def compact(
    table: DeltaTable,
    root: Path,
    error_files: list[str],
    partitions: Sequence[tuple[str, str]],
    stream_app: str,
    partition_by: list[str],
    wait: bool = True,
) -> list[dict[str, Any]] | None:
    """Merge and split the files of ``partitions`` (and split again the ``.current`` files a
    later change hit), then commit it all as one version. ``table`` is read as it is: the
    caller brings it up to date. Returns, per partition rewritten, files removed and added
    and rows of each kind; None, without ``wait``, when another compaction is running."""
    with _one_at_a_time(root, wait) as ours:
        if not ours:
            return None
        mark = table.transaction_version(stream_app) or 0
        settled = table.transaction_version(COMPACTION_APP) or 0
        files = lake_files(table)
        wanted = set(partitions)
        merging = [f for p in sorted(wanted) for f in _to_merge([f for f in files if f.partition == p])]
        earlier = [f for f in files if f.kind == "current" and f not in merging]
        floors = [settled] if earlier or any(f.kind == "current" for f in merging) else []
        floors += [(f.min_sequence or 1) - 1 for f in merging if f.kind == "appended"]
        if not floors and not merging:
            return []
        replaced = _replaced_sequences(root, files, error_files, min(floors, default=mark))
        groups: dict[tuple[str, str], list[LakeFile]] = {}
        for f in merging + [f for f in earlier if _was_hit(root, f, replaced)]:
            groups.setdefault(f.partition, []).append(f)
        if not groups:
            return []
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="salesflow-compact") as pool:
            splits = list(pool.map(lambda item: _split(root, item[0], item[1], replaced), sorted(groups.items())))
        _commit(table, splits, mark, partition_by)
    return [
        {
            "dt": s.dt,
            "hour": s.hour,
            "removed": len(s.removed),
            "added": len(s.added),
            "current_rows": s.current_rows,
            "superseded_rows": s.superseded_rows,
        }
        for s in splits
    ]


@contextmanager
def _one_at_a_time(root: Path, wait: bool) -> Iterator[bool]:
    """One compaction at a time per lake, across processes: each checks the ``.current``
    files of the version it read, so two at once could each commit files the other did
    not check under a mark that claims they were. Yields whether the lock is ours (always,
    when ``wait``)."""
    lock = root.parent / ".compaction.lock"
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _to_merge(partition: list[LakeFile]) -> list[LakeFile]:
    """The files of a partition to merge: those the stream appended and the ones of
    earlier compactions short of FILE_ROWS, unless that is at most one of each kind
    already (rewriting them would change nothing). Superseded files are merged too:
    the stream compacts its current hour every ``compact_files`` flushes, and each
    compaction would otherwise leave one more."""
    small = [f for f in partition if f.kind == "appended" or f.rows is None or f.rows < FILE_ROWS]
    kinds = [f.kind for f in small]
    if "appended" not in kinds and kinds.count("current") <= 1 and kinds.count("superseded") <= 1:
        return []
    return small


def _replaced_sequences(root: Path, files: list[LakeFile], error_files: list[str], floor: int) -> np.ndarray:
    """Sorted, the sequences that changes after ``floor`` (and every refused change) replaced."""
    sources = [root / f.path for f in files if f.max_sequence is None or f.max_sequence > floor]
    sources += [Path(path) for path in error_files]

    def prev_of(path: Path) -> np.ndarray:
        return int64_values(pq.ParquetFile(path).read(columns=["prev_sequence"]).column(0).drop_null())

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="salesflow-compact") as pool:
        found = list(pool.map(prev_of, sources))
    return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)


def _member(sequences: np.ndarray, replaced: np.ndarray) -> np.ndarray:
    """Which of ``sequences`` are in the sorted ``replaced``."""
    if not len(replaced):
        return np.zeros(len(sequences), dtype=bool)
    at = np.searchsorted(replaced, sequences).clip(max=len(replaced) - 1)
    return np.asarray(replaced[at] == sequences)


def _was_hit(root: Path, file: LakeFile, replaced: np.ndarray) -> bool:
    """Whether a change replaced a row of this ``.current`` file (its statistics first)."""
    if file.min_sequence is not None and file.max_sequence is not None:
        low, high = np.searchsorted(replaced, [file.min_sequence, file.max_sequence + 1])
        if low == high:
            return False
    sequences = int64_values(pq.ParquetFile(root / file.path).read(columns=["sequence"]).column(0))
    return bool(_member(sequences, replaced).any())


class _SplitWriter:
    """The files of one kind for one partition: buffered into row groups, a new file every
    FILE_ROWS rows."""

    def __init__(self, folder: Path, relative: str, suffix: str, schema: pa.Schema) -> None:
        self.folder, self.relative, self.suffix, self.schema = folder, relative, suffix, schema
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.writer: pq.ParquetWriter | None = None
        self.name = ""
        self.stats = _Stats()
        self.done: list[tuple[str, _Stats]] = []

    def put(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        self.pending.append(rows)
        self.pending_rows += rows.num_rows
        if self.pending_rows >= ROW_GROUP_ROWS:
            self._write()

    def close(self) -> list[tuple[str, _Stats]]:
        if self.pending_rows:
            self._write()
        self._finish()
        return self.done

    def _write(self) -> None:
        rows = pa.concat_tables(self.pending)
        self.pending, self.pending_rows = [], 0
        if self.writer is None:
            self.name = f"compacted-{uuid.uuid4()}{self.suffix}"
            self.writer = pq.ParquetWriter(
                self.folder / self.name,
                self.schema,
                compression="zstd",
                compression_level=1,
                use_dictionary=[n for n in self.schema.names if n not in DELTA_COLUMNS],
                column_encoding={n: "DELTA_BINARY_PACKED" for n in DELTA_COLUMNS},
            )
        self.writer.write_table(rows, row_group_size=ROW_GROUP_ROWS)
        self.stats.add(rows)
        if self.stats.rows >= FILE_ROWS:
            self._finish()

    def _finish(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.done.append((f"{self.relative}/{self.name}", self.stats))
            self.writer, self.stats = None, _Stats()


class _Stats:
    """The Delta statistics of a file being written: rows, nulls, and the sequence range
    (what the planner reads back; other columns' ranges are optional in Delta)."""

    RANGED = ("sequence", "prev_sequence")

    def __init__(self) -> None:
        self.rows = 0
        self.nulls: dict[str, int] = {}
        self.low: dict[str, int] = {}
        self.high: dict[str, int] = {}

    def add(self, rows: pa.Table) -> None:
        self.rows += rows.num_rows
        for name in rows.column_names:
            self.nulls[name] = self.nulls.get(name, 0) + rows.column(name).null_count
        for name in self.RANGED:
            bounds = pc.min_max(rows.column(name))
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if low is not None:
                self.low[name] = min(low, self.low.get(name, low))
                self.high[name] = max(high, self.high.get(name, high))

    def json(self) -> str:
        return json.dumps(
            {"numRecords": self.rows, "minValues": self.low, "maxValues": self.high, "nullCount": self.nulls}
        )


def _split(root: Path, partition: tuple[str, str], files: list[LakeFile], replaced: np.ndarray) -> _Split:
    dt, hour = partition
    relative = f"dt={dt}/hour={hour}"
    folder = root / relative
    schema = pq.read_schema(root / files[0].path).remove_metadata()
    current = _SplitWriter(folder, relative, CURRENT, schema)
    superseded = _SplitWriter(folder, relative, SUPERSEDED, schema)
    remove, false = text_scalar("REMOVE"), bool_array(np.zeros(1, dtype=bool))[0]
    split = _Split(dt, hour, files)
    for file in files:
        rows = pq.ParquetFile(root / file.path).read()
        if not rows.schema.equals(schema):
            rows = rows.select(schema.names).cast(schema)
        if file.kind == "superseded":  # replaced for good, whatever the changes read this time
            superseded.put(rows)
            continue
        gone = bool_array(_member(int64_values(rows.column("sequence")), replaced))
        gone = pc.or_(gone, pc.fill_null(pc.equal(rows.column("event_type"), remove), false))
        superseded.put(rows.filter(gone))
        current.put(rows.filter(pc.invert(gone)))
    now = int(time.time() * 1000)
    rows_of_each = []
    for writer in (current, superseded):
        written = writer.close()
        rows_of_each.append(sum(stats.rows for _, stats in written))
        for path, stats in written:
            size = (root / path).stat().st_size
            split.added.append(AddAction(path, size, {"dt": dt, "hour": hour}, now, False, stats.json()))
    split.current_rows, split.superseded_rows = rows_of_each
    return split


def _commit(table: DeltaTable, splits: list[_Split], mark: int, partition_by: list[str]) -> None:
    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = []
    for split in splits:
        actions += [RemoveAction(f.path, False, now, f.size, {"dt": f.dt, "hour": f.hour}) for f in split.removed]
        actions += split.added
    commit = CommitProperties(
        app_transactions=[Transaction(app_id=COMPACTION_APP, version=mark)] if mark else None,
        custom_metadata={"salesflow.compaction_mark": str(mark)},
        max_commit_retries=10,  # the stream's appends meanwhile touch other files
    )
    table.create_write_transaction(
        actions, mode="append", schema=table.schema(), partition_by=partition_by, commit_properties=commit
    )
