"""The change feed of the embedded face: the SQLite change log, read as Arrow.

Reads go through Python's sqlite3 on a read-only connection, a chunk of rows at
a time into Arrow columns (see sqlite_arrow for why not ADBC's faster SQLite).
Queries are ours, with integers formatted in: no user text ever reaches them.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from salesflow.adapters.local.sqlite_arrow import SqliteArrowReader

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
        self._reader = SqliteArrowReader(database)

    def read_after(self, sequence: int, limit: int) -> pa.Table:
        return self._reader.query(_READ.format(after=int(sequence), limit=int(limit)), CHANGE_SCHEMA)

    def newest(self) -> tuple[int, str | None]:
        found = self._reader.query(
            "SELECT c.sequence, m.committed_at FROM change_log AS c JOIN commits AS m ON m.id = c.commit_id"
            " ORDER BY c.sequence DESC LIMIT 1"
        ).to_pylist()
        return (0, None) if not found else (int(found[0]["sequence"]), str(found[0]["committed_at"]))

    def first_event_time_after(self, sequence: int) -> str | None:
        found = self._reader.query(
            "SELECT m.committed_at FROM change_log AS c JOIN commits AS m ON m.id = c.commit_id"
            f" WHERE c.sequence > {int(sequence)} ORDER BY c.sequence LIMIT 1"
        ).to_pylist()
        return None if not found else str(found[0]["committed_at"])

    def close(self) -> None:
        self._reader.close()
