"""The change feed of the embedded face: the SQLite change log, read as Arrow.

Reads go through ADBC on a read-only connection, straight into Arrow columns
(about 0.6 s per million changes; sqlite3 tuples cost 3x as much), so the
stream never holds a Python object per change.
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
WHERE c.sequence > ?
ORDER BY c.sequence
LIMIT ?
"""


class SqliteChangeFeed:
    """Changes of the orders table in the home's database, oldest first."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._adbc: Any = None

    def read_after(self, sequence: int, limit: int) -> pa.Table:
        cursor = self._cursor()
        cursor.execute(_READ, (sequence, limit))
        # An all-NULL column (no removals yet, say) comes back typed null: cast to the schema.
        return cursor.fetch_arrow_table().cast(CHANGE_SCHEMA)

    def newest(self) -> tuple[int, str | None]:
        cursor = self._cursor()
        cursor.execute(
            "SELECT c.sequence, m.committed_at FROM change_log AS c JOIN commits AS m ON m.id = c.commit_id"
            " ORDER BY c.sequence DESC LIMIT 1"
        )
        row = cursor.fetchone()
        return (0, None) if row is None else (int(row[0]), str(row[1]))

    def event_time(self, sequence: int) -> str | None:
        cursor = self._cursor()
        cursor.execute(
            "SELECT m.committed_at FROM change_log AS c JOIN commits AS m ON m.id = c.commit_id WHERE c.sequence = ?",
            (sequence,),
        )
        row = cursor.fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        if self._adbc is not None:
            cursor, conn = self._adbc
            cursor.close()
            conn.close()
            self._adbc = None

    def _cursor(self) -> Any:
        if self._adbc is None:
            import adbc_driver_sqlite.dbapi as adbc

            # Autocommit: without it the first read opens a transaction that pins its snapshot,
            # and changes committed later would never be seen.
            conn = adbc.connect(f"file:{self.database}?mode=ro", autocommit=True)
            cursor = conn.cursor()
            # One Arrow batch per read, so column types come from every row, not the first 1,024.
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(1 << 30)})
            self._adbc = (cursor, conn)
        return self._adbc[0]
