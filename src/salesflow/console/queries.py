"""What the console reads, on read-only SQLite connections (one per server thread).

The ledgers' own read methods are reused where they fit; the filtered,
paginated lists and the overview counts the CLI has no need for are here.
They belong in the ledger adapters once the console settles (see the report
of issue 6).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from salesflow.adapters.local.sqlite_batches import Batch, SqliteBatchLedger
from salesflow.adapters.local.sqlite_db import translate_errors
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger, execution_from_row, letter_from_row
from salesflow.domain.records import DeadLetter, Execution, LetterStatus

T = TypeVar("T")
PIPELINES = ("orders", "batch")
_CODE = re.compile(r"[a-z_]+")  # a reason code as the domain spells them
MMAP_BYTES = 1 << 30


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its rows, its number (from 1) and whether another follows."""

    rows: list[T]
    number: int
    size: int
    has_next: bool


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    pipeline: str | None = None
    status: str | None = None
    key: str | None = None  # a part of the object key
    since: str | None = None  # started at or after (ISO 8601 date or date-time, UTC)
    until: str | None = None  # started before


@dataclass(frozen=True, slots=True)
class LetterFilter:
    reason: str | None = None
    key: str | None = None  # a part of the object key (the file)
    status: str | None = None


class ConsoleQueries:
    """Read-only views of one home's database for the console's pages and metrics."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        """This thread's read-only connection (sqlite3 connections are not for sharing)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, isolation_level=None)
            conn.execute("PRAGMA busy_timeout=5000")
            # Read the file through shared memory, not a private cache per thread: the overview's
            # counts visit every page of a few big indexes, and copying them in by read() calls was
            # most of their time (docs/decisions.md).
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            self._local.conn = conn
        return conn

    @property
    def ledger(self) -> SqliteOrderLedger:
        return SqliteOrderLedger(self.conn())

    @property
    def batches(self) -> SqliteBatchLedger:
        return SqliteBatchLedger(self.conn())

    # -- executions ---------------------------------------------------------------

    def executions(self, where: ExecutionFilter, number: int, size: int) -> Page[Execution]:
        clauses, args = _execution_clauses(where)
        sql = f"SELECT * FROM executions{clauses} ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?"
        rows = self._all(sql, [*args, size + 1, (number - 1) * size])
        return Page([execution_from_row(row) for row in rows[:size]], number, size, len(rows) > size)

    def steps(self, execution_id: str) -> list[dict[str, Any]]:
        """The recorded steps of an execution (batches have them), each with its duration."""
        steps = self.batches.steps(execution_id)
        for step in steps:
            step["seconds"] = seconds_between(step["started_at"], step["finished_at"])
        return steps

    def batch_of(self, execution_id: str) -> Batch | None:
        row = self._all("SELECT id FROM batches WHERE execution_id = ?", [execution_id])
        return self.batches.batch(row[0][0]) if row else None

    # -- dead letters -------------------------------------------------------------

    def letters(self, where: LetterFilter, number: int, size: int) -> Page[DeadLetter]:
        clauses: list[str] = []
        args: list[Any] = []
        if where.reason and _CODE.fullmatch(where.reason):
            # A code is a bare word and reasons a JSON array of them: the quoted code is in the
            # text exactly when it is in the array, and instr is twice as fast as json_each.
            clauses.append("instr(reasons, ?) > 0")
            args.append(f'"{where.reason}"')
        elif where.reason:
            clauses.append("EXISTS (SELECT 1 FROM json_each(reasons) WHERE value = ?)")
            args.append(where.reason)
        if where.key:
            clauses.append("instr(key, ?) > 0")  # instr, not LIKE: % and _ in a key are plain text
            args.append(where.key)
        if where.status:
            clauses.append("status = ?")
            args.append(where.status)
        sql = f"SELECT * FROM dead_letters{_where(clauses)} ORDER BY id LIMIT ? OFFSET ?"
        rows = self._all(sql, [*args, size + 1, (number - 1) * size])
        return Page([letter_from_row(row, []) for row in rows[:size]], number, size, len(rows) > size)

    def letter_ids(self, where: LetterFilter) -> list[int]:
        """Ids of every pending letter matching a filter (for "redrive all of these")."""
        page = self.letters(LetterFilter(where.reason, where.key, "pending"), 1, 1_000_000)
        return [letter.id for letter in page.rows]

    # -- overview and metrics -------------------------------------------------------

    def execution_counts(self) -> list[dict[str, Any]]:
        """Per pipeline and status: executions, records read, stored and refused."""
        rows = self._all(
            "SELECT pipeline, status, count(*), total(records), total(stored), total(rejected)"
            " FROM executions GROUP BY pipeline, status ORDER BY pipeline, status",
            [],
        )
        return [
            {"pipeline": p, "status": s, "executions": n, "records": int(r), "stored": int(st), "rejected": int(rj)}
            for p, s, n, r, st, rj in rows
        ]

    def letter_counts(self) -> dict[str, int]:
        """Dead letters per status (statuses with none left out).

        Pending letters are most of a big queue; they are counted as all letters less the
        others, in one read transaction: SQLite counts a whole table page by page but an
        index range entry by entry, three times slower on a million letters.
        """
        others = [status.value for status in LetterStatus if status != LetterStatus.PENDING]
        with translate_errors():
            conn = self.conn()
            conn.execute("BEGIN")
            try:
                total = int(conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
                counts: dict[str, int] = dict(
                    conn.execute(
                        f"SELECT status, count(*) FROM dead_letters WHERE status IN ({', '.join('?' * len(others))})"
                        " GROUP BY status",
                        others,
                    ).fetchall()
                )
            finally:
                conn.execute("COMMIT")
        pending = total - sum(counts.values())
        return {LetterStatus.PENDING.value: pending, **counts} if pending else counts

    def batch_counts(self) -> dict[str, int]:
        return dict(self._all("SELECT status, count(*) FROM batches GROUP BY status", []))

    def order_count(self) -> int:
        return int(self._all("SELECT count(*) FROM order_heads", [])[0][0])

    def last_errors(self, limit: int = 5) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT id, pipeline, key, error, error_offset, finished_at FROM executions"
            " WHERE error IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
            [limit],
        )
        names = ("id", "pipeline", "key", "error", "error_offset", "finished_at")
        return [dict(zip(names, row, strict=True)) for row in rows]

    def refused_by_reason(self) -> list[tuple[str, str, int]]:
        """(pipeline, reason, count): dead letters of the orders pipeline, refused rows of batches."""
        letters = self._all(
            "SELECT r.value, count(*) FROM dead_letters, json_each(dead_letters.reasons) AS r GROUP BY r.value", []
        )
        rows = self._all(
            "SELECT r.value, count(*) FROM rejected_rows, json_each(rejected_rows.reasons) AS r GROUP BY r.value", []
        )
        return [("orders", reason, n) for reason, n in letters] + [("batch", reason, n) for reason, n in rows]

    def step_durations(self) -> list[tuple[str, float]]:
        """(step, seconds) of every finished step, for the histogram."""
        rows = self._all(
            "SELECT step, (julianday(finished_at) - julianday(started_at)) * 86400.0 FROM execution_steps"
            " WHERE finished_at IS NOT NULL",
            [],
        )
        return [(step, max(0.0, float(seconds))) for step, seconds in rows if seconds is not None]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _all(self, sql: str, args: list[Any]) -> list[Any]:
        with translate_errors():
            return self.conn().execute(sql, args).fetchall()


def _execution_clauses(where: ExecutionFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if where.pipeline:
        # With a status too, the status index finds the rows: "+" keeps the pipeline index
        # (one pipeline is nearly every row) from being walked for a rare status.
        clauses.append("+pipeline = ?" if where.status else "pipeline = ?")
        args.append(where.pipeline)
    if where.status:
        clauses.append("status = ?")
        args.append(where.status)
    if where.key:
        clauses.append("instr(key, ?) > 0")
        args.append(where.key)
    # started_at is ISO 8601 text in UTC, so a date or date-time compares as text.
    if where.since:
        clauses.append("started_at >= ?")
        args.append(where.since)
    if where.until:
        clauses.append("started_at < ?")
        args.append(where.until)
    return _where(clauses), args


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one ISO 8601 time to another, or None when either is missing."""
    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 3)
