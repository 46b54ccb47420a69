"""The orders ledger on SQLite: orders, change log, dead letters, executions.

A chunk goes in with one executemany per table inside one transaction that
also advances the execution's checkpoint: after kill -9 a chunk is all there
or not at all.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any

from salesflow.adapters.local.sqlite_db import newest_first, transaction, translate_errors
from salesflow.clock import utc_now
from salesflow.domain.errors import NotFound, PermanentError
from salesflow.domain.orders import Order, Reason
from salesflow.domain.records import (
    Chunk,
    DeadLetter,
    Execution,
    ExecutionStatus,
    LetterStatus,
)
from salesflow.jsoncodec import from_json, to_json

# Rows are (order_id, record JSON, position), exactly as a Chunk carries them, so
# executemany binds them with no Python work per row; the commit they belong to
# is the newest row of commits, written first in the same transaction.
_PUT_ORDER = """
INSERT INTO change_log (order_id, image, prev_sequence, commit_id, source_position)
VALUES (?1, ?2, (SELECT sequence FROM order_heads WHERE order_id = ?1), (SELECT max(id) FROM commits), ?3)
"""

_REMOVE_ORDER = """
INSERT INTO change_log (order_id, image, prev_sequence, commit_id)
SELECT order_id, NULL, sequence, (SELECT max(id) FROM commits) FROM order_heads WHERE order_id = ?
"""

_NEW_COMMIT = "INSERT INTO commits (execution_id, source_key, committed_at) VALUES (?, ?, ?)"

_QUEUE_LETTERS = """
INSERT INTO dead_letters (execution_id, key, position, reasons, record, status, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)
"""

_ADVANCE = """
UPDATE executions SET checkpoint = :checkpoint, records = :checkpoint,
       stored = stored + :stored, rejected = rejected + :rejected
WHERE id = :execution_id
"""


class SqliteOrderLedger:
    """OrderLedger and OrderQueries on one SQLite connection (one writer at a time)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def close(self) -> None:
        self._conn.close()

    # -- writes -------------------------------------------------------------

    def start_execution(self, pipeline: str, key: str, digest: str) -> Execution:
        with transaction(self._conn) as conn:
            row = conn.execute(
                "SELECT * FROM executions WHERE pipeline = ? AND key = ? AND digest = ?"
                " ORDER BY started_at DESC, rowid DESC LIMIT 1",
                (pipeline, key, digest),
            ).fetchone()
            if row is None:
                execution_id = new_execution_id()
                conn.execute(
                    "INSERT INTO executions (id, pipeline, key, digest, status, started_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (execution_id, pipeline, key, digest, ExecutionStatus.RUNNING, utc_now()),
                )
            else:
                execution_id = row[0]
                # A failed execution is redriven, like Step Functions does: same id, from its checkpoint.
                conn.execute(
                    "UPDATE executions SET status = 'running', finished_at = NULL, error = NULL, error_offset = NULL"
                    " WHERE id = ? AND status = 'failed'",
                    (execution_id,),
                )
            return execution_from_row(conn.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone())

    def commit_chunk(self, chunk: Chunk) -> None:
        now, key, execution_id = utc_now(), chunk.key, chunk.execution_id
        with transaction(self._conn) as conn:
            if chunk.orders:
                conn.execute(_NEW_COMMIT, (execution_id, key, now))
                conn.executemany(_PUT_ORDER, chunk.orders)
            if chunk.rejected:
                conn.executemany(
                    _QUEUE_LETTERS,
                    [(execution_id, key, pos, why, rec, now, now) for pos, why, rec in chunk.rejected],
                )
            conn.execute(
                _ADVANCE,
                {
                    "checkpoint": chunk.checkpoint,
                    "stored": len(chunk.orders),
                    "rejected": len(chunk.rejected),
                    "execution_id": chunk.execution_id,
                },
            )

    def finish_execution(
        self, execution_id: str, status: ExecutionStatus, error: str | None = None, error_offset: int | None = None
    ) -> Execution:
        with transaction(self._conn) as conn:
            conn.execute(
                "UPDATE executions SET status = ?, finished_at = ?, error = ?, error_offset = ? WHERE id = ?",
                (status, utc_now(), error, error_offset, execution_id),
            )
        return self.execution(execution_id)

    def redrive(self, letter_id: int, outcome: Order | list[Reason], record: Any, actor: str) -> LetterStatus:
        now = utc_now()
        with transaction(self._conn) as conn:
            letter = self._pending_letter(conn, letter_id, "redrive")
            detail: dict[str, Any] = {"reasons_before": letter.reasons}
            if record != letter.record:
                detail["record_before"] = letter.record
                detail["record_after"] = record
            if isinstance(outcome, Order):
                conn.execute(_NEW_COMMIT, (letter.execution_id, letter.key, now))
                conn.execute(_PUT_ORDER, (outcome.order_id, to_json(outcome.record), letter.position))
                status = LetterStatus.REDRIVEN
                detail["result"] = "stored"
                detail["order_id"] = outcome.order_id
            else:
                status = LetterStatus.PENDING
                detail["result"] = "refused"
                detail["reasons_after"] = list(outcome)
            reasons = letter.reasons if isinstance(outcome, Order) else list(outcome)
            conn.execute(
                "UPDATE dead_letters SET status = ?, reasons = ?, record = ?, updated_at = ? WHERE id = ?",
                (status, to_json(reasons), to_json(record), now, letter_id),
            )
            self._record_action(conn, letter_id, "redrive", actor, now, detail)
            return status

    def discard(self, letter_id: int, why: str, actor: str) -> None:
        now = utc_now()
        with transaction(self._conn) as conn:
            self._pending_letter(conn, letter_id, "discard")
            conn.execute(
                "UPDATE dead_letters SET status = 'discarded', note = ?, updated_at = ? WHERE id = ?",
                (why, now, letter_id),
            )
            self._record_action(conn, letter_id, "discard", actor, now, {"why": why})

    def delete_orders(self, order_ids: Sequence[str]) -> int:
        with transaction(self._conn) as conn:
            now = utc_now()
            conn.execute(_NEW_COMMIT, (None, None, now))
            return sum(conn.execute(_REMOVE_ORDER, (order_id,)).rowcount for order_id in dict.fromkeys(order_ids))

    # -- objects seen by the watcher ------------------------------------------

    def seen_objects(self) -> dict[str, tuple[str, str]]:
        """key -> (version, digest) of every object already handled."""
        with translate_errors():
            rows = self._conn.execute("SELECT key, version, digest FROM objects").fetchall()
        return {key: (version, digest) for key, version, digest in rows}

    def remember_object(self, key: str, version: str, digest: str, execution_id: str | None) -> None:
        with transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO objects (key, version, digest, execution_id, seen_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET version = excluded.version, digest = excluded.digest,"
                " execution_id = excluded.execution_id, seen_at = excluded.seen_at",
                (key, version, digest, execution_id, utc_now()),
            )

    # -- reads ----------------------------------------------------------------

    def execution(self, execution_id: str) -> Execution:
        with translate_errors():
            row = self._conn.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
        if row is None:
            raise NotFound(f"no execution {execution_id!r}; `salesflow executions` lists them")
        return execution_from_row(row)

    def executions(self, status: str | None = None, limit: int | None = None) -> list[Execution]:
        return [execution_from_row(row) for row in newest_first(self._conn, "SELECT * FROM executions", status, limit)]

    def dead_letter(self, letter_id: int) -> DeadLetter:
        with translate_errors():
            row = self._conn.execute("SELECT * FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()
            if row is None:
                raise NotFound(f"no dead letter {letter_id}; `salesflow dlq list` lists them")
            history = [
                {"action": a, "actor": who, "at": at, "detail": from_json(detail)}
                for a, who, at, detail in self._conn.execute(
                    "SELECT action, actor, at, detail FROM dead_letter_actions WHERE letter_id = ? ORDER BY id",
                    (letter_id,),
                )
            ]
        return letter_from_row(row, history)

    def dead_letters(
        self, reason: str | None = None, key: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        clauses: list[str] = []
        args: list[Any] = []
        if reason:
            clauses.append("EXISTS (SELECT 1 FROM json_each(reasons) WHERE value = ?)")
            args.append(reason)
        if key:
            clauses.append("key = ?")
            args.append(key)
        if status:
            clauses.append("status = ?")
            args.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        args.append(-1 if limit is None else limit)
        with translate_errors():
            rows = self._conn.execute(f"SELECT * FROM dead_letters{where} ORDER BY id LIMIT ?", args).fetchall()
        return [letter_from_row(row, []) for row in rows]

    def reasons_of(self, execution_id: str) -> dict[str, int]:
        """How many of an execution's dead letters carry each reason."""
        with translate_errors():
            rows = self._conn.execute(
                "SELECT r.value, count(*) FROM dead_letters, json_each(dead_letters.reasons) AS r"
                " WHERE execution_id = ? GROUP BY r.value ORDER BY count(*) DESC",
                (execution_id,),
            ).fetchall()
        return dict(rows)

    def order(self, order_id: str) -> dict[str, Any]:
        with translate_errors():
            cursor = self._conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,))
            row = cursor.fetchone()
        if row is None:
            raise NotFound(f"no order {order_id!r}")
        names = [d[0] for d in cursor.description]
        found = dict(zip(names, row, strict=True))
        found["record"] = from_json(found["record"])
        return found

    def newest_change(self) -> int:
        """The sequence of the newest change record, 0 when there is none (one index lookup)."""
        with translate_errors():
            return int(self._conn.execute("SELECT coalesce(max(sequence), 0) FROM change_log").fetchone()[0])

    def pending_letters(self) -> int:
        """Dead letters waiting for a fix, redrive or discard (index-only; status() counts much more)."""
        with translate_errors():
            return int(self._conn.execute("SELECT count(*) FROM dead_letters WHERE status = 'pending'").fetchone()[0])

    def status(self) -> dict[str, Any]:
        with translate_errors():
            conn = self._conn
            counts = {
                "orders": conn.execute("SELECT count(*) FROM order_heads").fetchone()[0],
                "change_log": self.newest_change(),
                "dead_letters": dict(conn.execute("SELECT status, count(*) FROM dead_letters GROUP BY status")),
                "executions": dict(conn.execute("SELECT status, count(*) FROM executions GROUP BY status")),
            }
            last = conn.execute(
                "SELECT id, key, error, finished_at FROM executions WHERE error IS NOT NULL"
                " ORDER BY finished_at DESC LIMIT 1"
            ).fetchone()
        counts["last_error"] = (
            None if last is None else {"execution": last[0], "key": last[1], "error": last[2], "at": last[3]}
        )
        return counts

    # -- helpers --------------------------------------------------------------

    def _pending_letter(self, conn: sqlite3.Connection, letter_id: int, action: str) -> DeadLetter:
        row = conn.execute("SELECT * FROM dead_letters WHERE id = ?", (letter_id,)).fetchone()
        if row is None:
            raise NotFound(f"no dead letter {letter_id}; `salesflow dlq list` lists them")
        letter = letter_from_row(row, [])
        if letter.status != LetterStatus.PENDING:
            raise PermanentError(f"dead letter {letter_id} is {letter.status} already; only pending ones can {action}")
        return letter

    @staticmethod
    def _record_action(
        conn: sqlite3.Connection, letter_id: int, action: str, actor: str, at: str, detail: dict[str, Any]
    ) -> None:
        conn.execute(
            "INSERT INTO dead_letter_actions (letter_id, action, actor, at, detail) VALUES (?, ?, ?, ?, ?)",
            (letter_id, action, actor, at, to_json(detail)),
        )


def new_execution_id() -> str:
    """Short, unique, sortable enough for people to type: ``ex-`` and 12 hex digits."""
    return f"ex-{uuid.uuid4().hex[:12]}"


_EXECUTION_COLUMNS = (
    "id", "pipeline", "key", "digest", "status", "records", "stored", "rejected",
    "checkpoint", "started_at", "finished_at", "error", "error_offset",
)  # fmt: skip


def execution_from_row(row: tuple[Any, ...]) -> Execution:
    values = dict(zip(_EXECUTION_COLUMNS, row, strict=True))
    values["status"] = ExecutionStatus(values["status"])
    return Execution(**values)


def letter_from_row(row: tuple[Any, ...], history: list[dict[str, Any]]) -> DeadLetter:
    letter_id, execution_id, key, position, reasons, record, status, created, updated, note = row
    return DeadLetter(
        id=letter_id,
        execution_id=execution_id,
        key=key,
        position=position,
        reasons=from_json(reasons),
        record=from_json(record),
        status=LetterStatus(status),
        created_at=created,
        updated_at=updated,
        note=note,
        history=history,
    )
