"""One SQLite database in WAL mode holds the tables and queues of the embedded face.

The schema lives here, with the change-log triggers that give every insert,
update and delete of ``orders`` a change record in the same transaction, like
DynamoDB Streams with new and old images.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from salesflow.domain.errors import ConfigError, PermanentError, TransientError

SCHEMA = """
-- The change log is where order records live. Each write of an order appends
-- one change holding the new image (the normalised record JSON) and a pointer
-- to the change that held the previous image; order_heads points every order
-- at its latest change. So the old image of a change is one lookup away and
-- no record is ever written twice: half the bytes of a table plus a
-- trigger-copied change log (measured in docs/decisions.md).
-- One row per transaction that changed orders: where its records came from and
-- when it committed (the event time of its changes), kept once, not per record.
CREATE TABLE IF NOT EXISTS commits (
    id           INTEGER PRIMARY KEY,
    execution_id TEXT,            -- NULL for changes made by hand (orders delete)
    source_key   TEXT,
    committed_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS change_log (
    sequence        INTEGER PRIMARY KEY,  -- rows are never deleted, so never reused
    order_id        TEXT NOT NULL,
    image           TEXT,                 -- NULL for a removal
    prev_sequence   INTEGER,              -- NULL when the order did not exist
    commit_id       INTEGER NOT NULL,
    source_position INTEGER,
    event_type      TEXT GENERATED ALWAYS AS (
        CASE WHEN image IS NULL THEN 'REMOVE' WHEN prev_sequence IS NULL THEN 'INSERT' ELSE 'MODIFY' END
    ) VIRTUAL
);

CREATE TABLE IF NOT EXISTS order_heads (
    order_id TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL
) WITHOUT ROWID;

-- Applying a change moves the order's head, in the same statement: row by row,
-- so a later record for the same order in one chunk sees the earlier one.
CREATE TRIGGER IF NOT EXISTS change_log_put AFTER INSERT ON change_log WHEN new.image IS NOT NULL BEGIN
    INSERT INTO order_heads (order_id, sequence) VALUES (new.order_id, new.sequence)
    ON CONFLICT (order_id) DO UPDATE SET sequence = excluded.sequence;
END;

CREATE TRIGGER IF NOT EXISTS change_log_remove AFTER INSERT ON change_log WHEN new.image IS NULL BEGIN
    DELETE FROM order_heads WHERE order_id = new.order_id;
END;

CREATE VIEW IF NOT EXISTS orders AS
SELECT h.order_id,
       c.image ->> '$.contact_info.name'       AS customer_name,
       c.image ->> '$.contact_info.email'      AS customer_email,
       c.image ->> '$.order_info.item_id'      AS item_id,
       c.image ->> '$.order_info.product_name' AS product_name,
       c.image ->> '$.order_info.quantity'     AS quantity,
       c.image ->> '$.order_info.price'        AS price,
       c.image                                 AS record,
       m.source_key,
       c.source_position,
       m.committed_at                          AS updated_at
FROM order_heads AS h
JOIN change_log AS c ON c.sequence = h.sequence
JOIN commits AS m ON m.id = c.commit_id;

-- Every change with both images, as DynamoDB Streams shows them.
CREATE VIEW IF NOT EXISTS changes AS
SELECT c.sequence, c.event_type, c.order_id, p.image AS old_image, c.image AS new_image,
       m.committed_at AS event_time, m.source_key, c.source_position
FROM change_log AS c
JOIN commits AS m ON m.id = c.commit_id
LEFT JOIN change_log AS p ON p.sequence = c.prev_sequence;

CREATE TABLE IF NOT EXISTS executions (
    id           TEXT PRIMARY KEY,
    pipeline     TEXT NOT NULL,
    key          TEXT NOT NULL,
    digest       TEXT NOT NULL,
    status       TEXT NOT NULL,
    records      INTEGER NOT NULL DEFAULT 0,
    stored       INTEGER NOT NULL DEFAULT 0,
    rejected     INTEGER NOT NULL DEFAULT 0,
    checkpoint   INTEGER NOT NULL DEFAULT 0,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    error        TEXT,
    error_offset INTEGER
);
CREATE INDEX IF NOT EXISTS executions_by_object ON executions (key, digest);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status, started_at);

CREATE TABLE IF NOT EXISTS dead_letters (
    id           INTEGER PRIMARY KEY,
    execution_id TEXT NOT NULL,
    key          TEXT NOT NULL,
    position     INTEGER NOT NULL,
    reasons      TEXT NOT NULL,   -- JSON array of reason codes
    record       TEXT NOT NULL,   -- JSON of the record as it arrived (a string for unreadable lines)
    status       TEXT NOT NULL DEFAULT 'pending',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    note         TEXT
);
CREATE INDEX IF NOT EXISTS dead_letters_by_status ON dead_letters (status, id);
CREATE INDEX IF NOT EXISTS dead_letters_by_key ON dead_letters (key, position);

-- Who did what to a dead letter, and when: edits, redrives, discards.
CREATE TABLE IF NOT EXISTS dead_letter_actions (
    id        INTEGER PRIMARY KEY,
    letter_id INTEGER NOT NULL,
    action    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    at        TEXT NOT NULL,
    detail    TEXT NOT NULL       -- JSON: what changed
);
CREATE INDEX IF NOT EXISTS dead_letter_actions_by_letter ON dead_letter_actions (letter_id, id);

-- The batch pipeline. Files under raw-data/ wait here until a batch takes them.
CREATE TABLE IF NOT EXISTS batch_files (
    key         TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    modified_at REAL NOT NULL,
    batch_id    TEXT              -- NULL while pending
);

CREATE TABLE IF NOT EXISTS batches (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    status       TEXT NOT NULL,   -- running, succeeded, failed
    files        TEXT NOT NULL,   -- JSON array of keys
    counts       TEXT NOT NULL DEFAULT '{}',
    published    INTEGER NOT NULL DEFAULT 0,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    error        TEXT
);

-- The current processed state: one object per table (Arrow IPC; Parquet before 2026-11-26), swapped atomically.
CREATE TABLE IF NOT EXISTS batch_state (
    table_name TEXT PRIMARY KEY,
    key        TEXT NOT NULL,
    batch_id   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS order_kpi (
    order_date       TEXT PRIMARY KEY,
    total_orders     INTEGER NOT NULL,
    total_revenue    TEXT NOT NULL,   -- exact decimal, to the cent
    total_items_sold INTEGER NOT NULL,
    return_rate      TEXT NOT NULL,
    unique_customers INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS category_kpi (
    category        TEXT NOT NULL,
    order_date      TEXT NOT NULL,
    daily_revenue   TEXT NOT NULL,
    avg_order_value TEXT NOT NULL,
    avg_return_rate TEXT NOT NULL,
    PRIMARY KEY (category, order_date)
);

CREATE TABLE IF NOT EXISTS rejected_rows (
    batch_id TEXT NOT NULL,
    key      TEXT NOT NULL,
    row      INTEGER NOT NULL,    -- record number in the file (the header is 0)
    reasons  TEXT NOT NULL,       -- JSON array of reason codes
    record   TEXT NOT NULL        -- JSON object of the row as it came
);

-- The steps of an execution, as a Step Functions execution view shows them.
CREATE TABLE IF NOT EXISTS execution_steps (
    execution_id TEXT NOT NULL,
    step         TEXT NOT NULL,
    status       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    detail       TEXT,
    PRIMARY KEY (execution_id, step)
);

-- Objects already seen in the bucket, so a scan hashes only what changed.
CREATE TABLE IF NOT EXISTS objects (
    key          TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    digest       TEXT NOT NULL,
    execution_id TEXT,
    seen_at      TEXT NOT NULL
);

-- For the console (issue 6), measured in docs/decisions.md: its executions list
-- newest first, whole or by pipeline, without sorting the table; the overview's
-- counts per pipeline and status from an index instead of the table; its last
-- errors from the few executions that have one.
CREATE INDEX IF NOT EXISTS executions_by_start ON executions (started_at, id);
CREATE INDEX IF NOT EXISTS executions_by_pipeline ON executions (pipeline, started_at, id);
CREATE INDEX IF NOT EXISTS executions_counts ON executions (pipeline, status, records, stored, rejected);
CREATE INDEX IF NOT EXISTS executions_with_error ON executions (finished_at) WHERE error IS NOT NULL;
"""

SCHEMA_VERSION = 2  # every change so far only adds tables and indexes: older files are upgraded in place

# SQLite result codes (primary, low byte) that a retry can get past.
_TRANSIENT_CODES = {5, 6, 10, 13, 15}  # BUSY, LOCKED, IOERR, FULL, PROTOCOL


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open the database (creating it and its schema unless read_only)."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint of the WAL; safe against kill -9
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-16384")  # 16 MiB: bounded whatever the file size (64 MiB was no faster)
    if not read_only:
        _create_or_check(conn, path)
    return conn


def _create_or_check(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        conn.close()
        raise ConfigError(
            f"{path} was made by a newer salesflow (schema {version}, this one reads "
            f"{SCHEMA_VERSION}); move it away to start afresh"
        )
    conn.executescript(SCHEMA)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def newest_first(conn: sqlite3.Connection, select: str, status: str | None, limit: int | None) -> list[Any]:
    """Rows of ``select`` (a SELECT without WHERE) in one status, or all, newest first."""
    sql = select
    args: list[Any] = []
    if status:
        sql += " WHERE status = ?"
        args.append(status)
    sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
    args.append(-1 if limit is None else limit)
    with translate_errors():
        return conn.execute(sql, args).fetchall()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error, SQLite errors mapped to ours."""
    with translate_errors():
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Map sqlite3 errors to TransientError / PermanentError by result code, never by text."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in _TRANSIENT_CODES:
            raise TransientError(f"the database is busy or failed to write ({exc}); retrying") from exc
        raise PermanentError(f"database error: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise PermanentError(f"database error: {exc}") from exc
