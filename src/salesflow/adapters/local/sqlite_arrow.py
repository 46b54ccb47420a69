"""SQLite queries straight into Arrow, through ADBC's own API.

Not ADBC's DB-API layer: that one imports polars and pandas (about 130 MB of a
process's memory), and opens a transaction that pins its first snapshot. A
connection of the ADBC API is in autocommit, so each query sees the newest rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa


class SqliteArrowReader:
    """Read-only queries on one SQLite database; the connection opens with the first."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._adbc: Any = None

    def query(self, sql: str) -> pa.Table:
        """Run one query (no parameters: callers format their own integers in) into Arrow."""
        statement = self._statement()
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        return pa.RecordBatchReader._import_from_c(stream.address).read_all()

    def close(self) -> None:
        if self._adbc is not None:
            for handle in reversed(self._adbc):
                handle.close()
            self._adbc = None

    def _statement(self) -> Any:
        if self._adbc is None:
            import adbc_driver_manager
            import adbc_driver_sqlite

            database = adbc_driver_sqlite.connect(f"file:{self.database}?mode=ro")
            connection = adbc_driver_manager.AdbcConnection(database)
            statement = adbc_driver_manager.AdbcStatement(connection)
            # One Arrow batch per query, so column types come from every row, not the first 1,024.
            statement.set_options(**{"adbc.sqlite.query.batch_rows": str(1 << 30)})
            self._adbc = (database, connection, statement)
        return self._adbc[2]
