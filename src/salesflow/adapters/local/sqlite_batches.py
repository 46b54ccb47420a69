"""The batch pipeline's state on SQLite: waiting files, batches, the processed-state
manifest, KPI tables, refused rows and execution steps.

``publish`` is the one transaction that makes a batch visible: the new state
objects, the KPIs of every date it touched, its refused rows and its counts
go in together, or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from salesflow.adapters.local.sqlite_db import newest_first, transaction, translate_errors
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger, new_execution_id
from salesflow.clock import utc_now
from salesflow.domain.batch import CategoryKpi, OrderKpi
from salesflow.domain.errors import NotFound
from salesflow.domain.records import Execution, ExecutionStatus
from salesflow.jsoncodec import from_json, to_json


@dataclass(frozen=True, slots=True)
class PendingFile:
    key: str
    table: str
    modified_at: float


@dataclass(frozen=True, slots=True)
class Batch:
    id: str
    execution_id: str
    status: str
    files: list[str]
    counts: dict[str, Any]
    published: bool
    started_at: str
    finished_at: str | None
    error: str | None


class SqliteBatchLedger:
    """BatchLedger on the home's SQLite database (its own connection)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def close(self) -> None:
        self._conn.close()

    # -- files --------------------------------------------------------------------

    def register_file(self, key: str, version: str, table: str, modified_at: float) -> bool:
        """Note a raw-data object; True when it is new or changed (then pending again)."""
        with transaction(self._conn) as conn:
            row = conn.execute("SELECT version FROM batch_files WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] == version:
                return False
            conn.execute(
                "INSERT INTO batch_files (key, version, table_name, modified_at, batch_id) VALUES (?, ?, ?, ?, NULL)"
                " ON CONFLICT (key) DO UPDATE SET version = excluded.version, table_name = excluded.table_name,"
                " modified_at = excluded.modified_at, batch_id = NULL",
                (key, version, table, modified_at),
            )
            return True

    def known_versions(self) -> dict[str, str]:
        with translate_errors():
            return dict(self._conn.execute("SELECT key, version FROM batch_files"))

    def pending_files(self) -> list[PendingFile]:
        with translate_errors():
            rows = self._conn.execute(
                "SELECT key, table_name, modified_at FROM batch_files WHERE batch_id IS NULL ORDER BY key"
            ).fetchall()
        return [PendingFile(*row) for row in rows]

    def forget_file(self, key: str) -> None:
        with transaction(self._conn) as conn:
            conn.execute("DELETE FROM batch_files WHERE key = ?", (key,))

    # -- batches ------------------------------------------------------------------

    def start_batch(self, batch_id: str, files: Sequence[str]) -> Batch:
        """Take the files for a new batch (fixed from now on) and open its execution."""
        now = utc_now()
        execution_id = new_execution_id()
        with transaction(self._conn) as conn:
            conn.executemany("UPDATE batch_files SET batch_id = ? WHERE key = ?", [(batch_id, k) for k in files])
            conn.execute(
                "INSERT INTO executions (id, pipeline, key, digest, status, started_at)"
                " VALUES (?, 'batch', ?, ?, ?, ?)",
                (execution_id, f"raw-data/ ({batch_id})", batch_id, ExecutionStatus.RUNNING, now),
            )
            conn.execute(
                "INSERT INTO batches (id, execution_id, status, files, started_at) VALUES (?, ?, 'running', ?, ?)",
                (batch_id, execution_id, to_json(list(files)), now),
            )
        return self.batch(batch_id)

    def step(self, execution_id: str, step: str, status: str, detail: dict[str, Any] | None = None) -> None:
        """Record a step starting (running) or ending (succeeded / failed)."""
        now = utc_now()
        with transaction(self._conn) as conn:
            conn.execute(
                "INSERT INTO execution_steps (execution_id, step, status, started_at, detail) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (execution_id, step) DO UPDATE SET status = excluded.status,"
                " finished_at = CASE WHEN excluded.status = 'running' THEN NULL ELSE ? END,"
                " detail = coalesce(excluded.detail, detail)",
                (execution_id, step, status, now, to_json(detail) if detail is not None else None, now),
            )

    def steps(self, execution_id: str) -> list[dict[str, Any]]:
        with translate_errors():
            rows = self._conn.execute(
                "SELECT step, status, started_at, finished_at, detail FROM execution_steps"
                " WHERE execution_id = ? ORDER BY started_at, rowid",
                (execution_id,),
            ).fetchall()
        return [
            {"step": s, "status": st, "started_at": a, "finished_at": b, "detail": from_json(d) if d else None}
            for s, st, a, b, d in rows
        ]

    def state_keys(self) -> dict[str, str]:
        """table -> the object holding its current processed state."""
        with translate_errors():
            return dict(self._conn.execute("SELECT table_name, key FROM batch_state"))

    def publish(
        self,
        batch_id: str,
        state: dict[str, str],
        touched: Sequence[date],
        kpis: Callable[[], tuple[Sequence[OrderKpi], Sequence[CategoryKpi]]],
        rejected: Sequence[tuple[str, int, str, str]],
        counts: dict[str, Any],
    ) -> None:
        """Make the batch's results visible, all together. The KPIs of every touched date are
        replaced: a date or category left without lines keeps no row. The refused rows go in
        first (108,732 of them on the benchmark's batch: 0.27 s on one core); the caller may
        compute the KPIs meanwhile."""
        days = [(day.isoformat(),) for day in touched]
        with transaction(self._conn) as conn:
            conn.executemany(
                "INSERT INTO rejected_rows (batch_id, key, row, reasons, record) VALUES (?, ?, ?, ?, ?)",
                [(batch_id, *row) for row in rejected],
            )
            order_kpis, category_kpis = kpis()
            conn.executemany("DELETE FROM order_kpi WHERE order_date = ?", days)
            conn.executemany("DELETE FROM category_kpi WHERE order_date = ?", days)
            conn.executemany(
                "INSERT INTO batch_state (table_name, key, batch_id) VALUES (?, ?, ?)"
                " ON CONFLICT (table_name) DO UPDATE SET key = excluded.key, batch_id = excluded.batch_id",
                [(table, key, batch_id) for table, key in state.items()],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO order_kpi VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (k.order_date.isoformat(), k.total_orders, str(k.total_revenue), k.total_items_sold,
                     str(k.return_rate), k.unique_customers)
                    for k in order_kpis
                ],
            )  # fmt: skip
            conn.executemany(
                "INSERT OR REPLACE INTO category_kpi VALUES (?, ?, ?, ?, ?)",
                [
                    (k.category, k.order_date.isoformat(), str(k.daily_revenue), str(k.avg_order_value),
                     str(k.avg_return_rate))
                    for k in category_kpis
                ],
            )  # fmt: skip
            conn.execute("UPDATE batches SET published = 1, counts = ? WHERE id = ?", (to_json(counts), batch_id))

    def finish_batch(self, batch_id: str, status: ExecutionStatus, error: str | None = None) -> Batch:
        """Close the batch and its execution; a failed batch gives its files back (pending)."""
        now = utc_now()
        with transaction(self._conn) as conn:
            batch = conn.execute("SELECT execution_id, counts FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if batch is None:
                raise NotFound(f"no batch {batch_id!r}")
            execution_id, counts_json = batch
            counts = from_json(counts_json)
            conn.execute(
                "UPDATE batches SET status = ?, finished_at = ?, error = ? WHERE id = ?", (status, now, error, batch_id)
            )
            conn.execute(
                "UPDATE executions SET status = ?, finished_at = ?, error = ?, records = ?, stored = ?, rejected = ?"
                " WHERE id = ?",
                (status, now, error, counts.get("read", 0), counts.get("valid", 0), counts.get("rejected", 0),
                 execution_id),
            )  # fmt: skip
            if status == ExecutionStatus.FAILED:
                conn.execute("UPDATE batch_files SET batch_id = NULL WHERE batch_id = ?", (batch_id,))
            else:
                conn.execute("DELETE FROM batch_files WHERE batch_id = ?", (batch_id,))
        return self.batch(batch_id)

    def execution_of(self, batch_id: str) -> Execution:
        batch = self.batch(batch_id)
        return SqliteOrderLedger(self._conn).execution(batch.execution_id)

    def batch(self, batch_id: str) -> Batch:
        with translate_errors():
            row = self._conn.execute(f"{_SELECT_BATCHES} WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise NotFound(f"no batch {batch_id!r}; `salesflow batches` lists them")
        return _batch(row)

    def batches(self, status: str | None = None, limit: int | None = None) -> list[Batch]:
        select = (
            "SELECT id, execution_id, status, files, counts, published, started_at, finished_at, error FROM batches"
        )
        return [_batch(row) for row in newest_first(self._conn, select, status, limit)]

    def kpis(
        self, table: str, start: str | None = None, end: str | None = None, category: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows of order_kpi or category_kpi, by date range (and category)."""
        if table not in ("order_kpi", "category_kpi"):
            raise NotFound(f"no KPI table {table!r}")
        clauses, args = ["1 = 1"], []
        if start:
            clauses.append("order_date >= ?")
            args.append(start)
        if end:
            clauses.append("order_date <= ?")
            args.append(end)
        if category and table == "category_kpi":
            clauses.append("category = ?")
            args.append(category)
        order = "order_date" if table == "order_kpi" else "category, order_date"
        with translate_errors():
            cursor = self._conn.execute(
                f"SELECT * FROM {table} WHERE {' AND '.join(clauses)} ORDER BY {order}",  # names are fixed above
                args,
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]


_SELECT_BATCHES = (
    "SELECT id, execution_id, status, files, counts, published, started_at, finished_at, error FROM batches"
)


def _batch(row: tuple[Any, ...]) -> Batch:
    batch_id, execution_id, status, files, counts, published, started, finished, error = row
    return Batch(
        batch_id, execution_id, status, from_json(files), from_json(counts), bool(published), started, finished, error
    )
