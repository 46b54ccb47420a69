"""The change feed of the embedded face: the SQLite change log, read as Arrow.

Reads go through Python's sqlite3 on a read-only connection, a chunk of rows at
a time into Arrow columns (see sqlite_arrow for why not ADBC's faster SQLite).
After a full slice the next one is read ahead on a thread of its own, while the
stream transforms and writes this one (Arrow and delta-rs work without the GIL).
Queries are ours, with integers formatted in: no user text ever reaches them.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
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
        self._ahead_reader = SqliteArrowReader(database)  # a connection per thread
        self._ahead_thread: ThreadPoolExecutor | None = None
        self._ahead: tuple[tuple[int, int], Future[pa.Table]] | None = None

    def read_after(self, sequence: int, limit: int) -> pa.Table:
        changes = self._read_ahead(sequence, limit)
        if changes is None:
            changes = self._reader.query(_slice(sequence, limit), CHANGE_SCHEMA)
        if changes.num_rows == limit:  # a full slice: the next one is most likely there already
            after = int(changes.column("sequence")[-1].as_py())
            if self._ahead_thread is None:
                self._ahead_thread = ThreadPoolExecutor(1, thread_name_prefix="salesflow-feed")
            read = self._ahead_thread.submit(self._ahead_reader.query, _slice(after, limit), CHANGE_SCHEMA)
            self._ahead = ((after, limit), read)
        return changes

    def _read_ahead(self, sequence: int, limit: int) -> pa.Table | None:
        """The slice read ahead, if it is the one asked for (a restart may ask for another)
        and full. A full slice read ahead is the slice read now: sequences are given in
        commit order, so the changes after a sequence that one snapshot holds come first in
        any later one. A short one may have ended before changes committed since (a drain
        asked after them must see them): it is read again."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        wanted, read = ahead
        try:
            changes = read.result()
        except Exception:  # read again, on this thread: its error, if it stays, is raised there
            return None
        return changes if wanted == (sequence, limit) and changes.num_rows == limit else None

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
        self._read_ahead(-1, 0)  # wait for a read in flight, and drop it
        if self._ahead_thread is not None:
            self._ahead_thread.shutdown()
        self._ahead_reader.close()
        self._reader.close()


def _slice(after: int, limit: int) -> str:
    return _READ.format(after=int(after), limit=int(limit))
