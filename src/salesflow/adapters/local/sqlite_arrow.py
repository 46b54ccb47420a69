"""SQLite queries into Arrow, through Python's own sqlite3.

Not through ADBC's SQLite driver any more, though it was twice as fast: it carries a copy
of SQLite of its own, and two copies in one process break SQLite's locking. Its locks are
POSIX advisory locks, which belong to the process, so one copy releasing its lock on a
byte releases the other copy's too: while the stream read through ADBC inside `salesflow
run`, another process could take the write lock from under a transaction of the run's
own (tests/integration/test_sqlite_arrow.py shows it), and two writers corrupt the file.
One copy of SQLite per process knows its own connections and never does that.

Rows come in chunks and become Arrow columns from their buffers (arrow_tables.rows_to_table),
so no pandas is loaded and no more than a chunk of Python objects is alive at a time. The
connection is in autocommit, so each query sees the newest rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from salesflow.adapters.local.sqlite_db import connect, translate_errors
from salesflow.arrow_tables import rows_to_table, unify

CHUNK_ROWS = 4_096  # rows converted at a time: a bound on the Python objects alive at once


class SqliteArrowReader:
    """Read-only queries on one SQLite database; the connection opens with the first."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._conn: sqlite3.Connection | None = None

    def query(self, sql: str, schema: pa.Schema | None = None, params: Sequence[Any] = ()) -> pa.Table:
        """Run one query into Arrow, typed by ``schema`` when given (its names in the query's
        order), else by the values."""
        with translate_errors():  # a busy database is a TransientError, as everywhere
            cursor = self._connection().execute(sql, params)
            names = [column[0] for column in cursor.description]
            chunks = []
            while rows := cursor.fetchmany(CHUNK_ROWS):
                chunks.append(rows_to_table(rows, names, schema))
        if not chunks:
            return rows_to_table([], names, schema)
        return unify(chunks) if schema is None else pa.concat_tables(chunks)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = connect(self.database, read_only=True)
            # Reads go through the page cache once, in order: a small cache (connect's 16 MiB
            # was most of what this connection added to the stream's resident memory).
            conn.execute("PRAGMA cache_size=-2048")
            self._conn = conn
        return self._conn
