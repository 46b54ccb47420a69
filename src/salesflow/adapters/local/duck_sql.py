"""Read-only SQL (DuckDB dialect) over the embedded face's tables.

DuckDB runs in memory with no access to files or extensions. The SQLite tables
a query names are copied in as Arrow tables first (only those it names), so a
query can never write to the database. Statements other than SELECT are refused
before they run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from salesflow.domain.errors import ReadOnlyQuery

# Tables (or views) of the SQLite database that SQL may name.
TABLES = (
    "orders", "dead_letters", "executions", "changes",
    "order_kpi", "category_kpi", "rejected_rows", "batches", "execution_steps",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class DuckSqlEngine:
    """Answers read-only SQL over the SQLite database at ``database``."""

    def __init__(self, database: Path, tables: Sequence[str] = TABLES) -> None:
        self.database = database
        self.tables = tuple(tables)

    def query(self, sql: str) -> QueryResult:
        """Run one or more SELECT statements; the last one's result is returned.

        Raises ReadOnlyQuery for anything that is not a SELECT, and for SQL
        errors (with DuckDB's message, which names the problem).
        """
        con = duckdb.connect(
            ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        try:
            statements = self._selects_only(con, sql)
            for name in self._named_tables(con, sql):
                con.register(name, self._load(name))
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            result: QueryResult | None = None
            for statement in statements:
                relation = con.execute(statement)
                columns = [d[0] for d in relation.description or []]
                result = QueryResult(columns, relation.fetchall())
            assert result is not None
            return result
        except duckdb.Error as exc:
            raise ReadOnlyQuery(f"SQL error: {exc}") from None
        finally:
            con.close()

    @staticmethod
    def _selects_only(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise ReadOnlyQuery(f"SQL error: {exc}") from None
        if not statements:
            raise ReadOnlyQuery("no SQL statement given")
        for statement in statements:
            if statement.type != duckdb.StatementType.SELECT:
                raise ReadOnlyQuery(
                    f"only SELECT is allowed here, not {statement.type.name}: salesflow sql is read-only"
                )
        return statements

    def _named_tables(self, con: duckdb.DuckDBPyConnection, sql: str) -> list[str]:
        try:
            named = {name.lower() for name in con.get_table_names(sql)}
        except duckdb.Error:
            named = set(self.tables)
        return [table for table in self.tables if table in named]

    def _load(self, table: str) -> pa.Table:
        """The SQLite table as Arrow, through ADBC (4x faster than sqlite3 rows)."""
        if not self.database.exists():
            return pa.table({})
        import adbc_driver_sqlite.dbapi as adbc

        with adbc.connect(f"file:{self.database}?mode=ro") as conn, conn.cursor() as cursor:
            # ADBC infers column types from the first batch; one batch sees every row,
            # so a column that starts with NULLs does not get the wrong type.
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(1 << 30)})
            cursor.execute(f"SELECT * FROM {table}")  # table is one of TABLES, never user text
            return cursor.fetch_arrow_table()
