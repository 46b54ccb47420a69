"""The change feed of the embedded face: the SQLite change log, read as Arrow.

Reads go through ADBC on a read-only connection, straight into Arrow columns
(about 0.6 s per million changes; sqlite3 tuples cost 3x as much), so the
stream never holds a Python object per change. Queries are ours, with integers
formatted in: no user text ever reaches them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

CHANGE_SCHEMA = pa.schema(
    [
        ("sequence", pa.int64()),
        ("event_type", pa.string()),
        ("order_id", pa.string()),
        ("event_time", pa.string()),
        ("new_image", pa.string()),
        ("old_image", pa.string()),
        ("prev_sequence", pa.int64()),
    ]
)

_READ = """
SELECT c.sequence, c.event_type, c.order_id, m.committed_at AS event_time,
       c.image AS new_image, p.image AS old_image, c.prev_sequence
FROM change_log AS c
JOIN commits AS m ON m.id = c.commit_id
LEFT JOIN change_log AS p ON p.sequence = c.prev_sequence
WHERE c.sequence > {after}
ORDER BY c.sequence
LIMIT {limit}
"""


class SqliteChangeFeed:
    """Changes of the orders table in the home's database, oldest first."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._adbc: Any = None

    def read_after(self, sequence: int, limit: int) -> pa.Table:
        # An all-NULL column (no removals yet, say) comes back typed null: cast to the schema.
        return self._query(_READ.format(after=int(sequence), limit=int(limit))).cast(CHANGE_SCHEMA)

    def newest(self) -> tuple[int, str | None]:
        found = self._query(
            "SELECT c.sequence, m.committed_at FROM change_log AS c JOIN commits AS m ON m.id = c.commit_id"
            " ORDER BY c.sequence DESC LIMIT 1"
        ).to_pylist()
        return (0, None) if not found else (int(found[0]["sequence"]), str(found[0]["committed_at"]))

    def event_time(self, sequence: int) -> str | None:
        found = self._query(
            "SELECT m.committed_at FROM change_log AS c JOIN commits AS m ON m.id = c.commit_id"
            f" WHERE c.sequence = {int(sequence)}"
        ).to_pylist()
        return None if not found else str(found[0]["committed_at"])

    def close(self) -> None:
        if self._adbc is not None:
            for handle in reversed(self._adbc):
                handle.close()
            self._adbc = None

    def _query(self, sql: str) -> pa.Table:
        """Run one query (its numbers formatted in by the callers, as ints) into Arrow."""
        statement = self._statement()
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        return pa.RecordBatchReader._import_from_c(stream.address).read_all()

    def _statement(self) -> Any:
        # ADBC's own API, not its DB-API layer: that one imports polars and pandas (130 MB of
        # the stream's memory), and opens a transaction that pins its first snapshot. A
        # connection of the ADBC API is in autocommit, so each read sees the newest changes.
        if self._adbc is None:
            import adbc_driver_manager
            import adbc_driver_sqlite

            database = adbc_driver_sqlite.connect(f"file:{self.database}?mode=ro")
            connection = adbc_driver_manager.AdbcConnection(database)
            statement = adbc_driver_manager.AdbcStatement(connection)
            # One Arrow batch per read, so column types come from every row, not the first 1,024.
            statement.set_options(**{"adbc.sqlite.query.batch_rows": str(1 << 30)})
            self._adbc = (database, connection, statement)
        return self._adbc[2]
