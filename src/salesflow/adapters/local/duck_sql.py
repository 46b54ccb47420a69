"""Read-only SQL (DuckDB dialect) over the embedded face's tables.

DuckDB runs in memory with no access to files or extensions. The SQLite tables
a query names are copied in as Arrow tables first (only those it names), so a
query can never write to the database. Statements other than SELECT are refused
before they run.

The lake's tables (order_changes, orders_current) are views over the Parquet
files of the lake's current version; DuckDB may read files under the lake's
folder and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from salesflow.adapters.local.lake_compaction import CurrentPlan
from salesflow.adapters.local.sqlite_arrow import SqliteArrowReader
from salesflow.arrow_tables import empty_table
from salesflow.domain.errors import ReadOnlyQuery

# Tables (or views) of the SQLite database that SQL may name.
TABLES = (
    "orders", "dead_letters", "executions", "changes",
    "order_kpi", "category_kpi", "rejected_rows", "batches", "execution_steps",
)  # fmt: skip


# The lake's views. orders_current is each order's latest change, unless that removed it:
# the changes no later change replaced (prev_sequence points at the replaced one; refused
# changes count too). An anti-join on integers: a window over 10M order ids took 10x longer,
# and NOT EXISTS 3-4x longer (DuckDB decorrelates it through a DISTINCT of every outer sequence).
# Compaction sets the replaced changes apart, so the view reads only the files that may hold
# current changes and looks for replacing changes only where they may be
# (after a compaction of every hour, nowhere: see lake_compaction). The file
# lists go in as read_parquet calls, not views: DuckDB binds a view over 2,000 files (about
# 20 ms) on its creation and again at each reference.
LAKE_TABLES = ("order_changes", "orders_current", "stream_errors")
_ORDERS_CURRENT = """
CREATE VIEW orders_current AS
SELECT c.order_id, c.customer_name, c.customer_email, c.item_id, c.product_name, c.quantity, c.price,
       c.new_image AS record, c.event_time AS updated_at, c.sequence
FROM {rows} AS c
ANTI JOIN (
    SELECT prev_sequence FROM {replacing} WHERE prev_sequence IS NOT NULL
    UNION ALL
    SELECT prev_sequence FROM stream_errors WHERE prev_sequence IS NOT NULL
) AS replaced ON replaced.prev_sequence = c.sequence
WHERE c.event_type <> 'REMOVE'
"""


@dataclass(frozen=True, slots=True)
class LakeSource:
    """Where the lake's Parquet files are: its folder (the only one SQL may read), the
    files of its current version with those orders_current reads of them, and an empty
    table of its schema for an empty lake."""

    root: Path
    files: Callable[[bool], tuple[list[str], CurrentPlan]]
    empty: pa.Table
    error_files: Callable[[], list[str]]
    empty_errors: pa.Table


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class DuckSqlEngine:
    """Answers read-only SQL over the SQLite database at ``database``."""

    def __init__(self, database: Path, tables: Sequence[str] = TABLES, lake: LakeSource | None = None) -> None:
        self.database = database
        self.tables = tuple(tables) + (LAKE_TABLES if lake is not None else ())
        self.lake = lake

    def query(self, sql: str) -> QueryResult:
        """Run one or more SELECT statements; the last one's result is returned.

        Raises ReadOnlyQuery for anything that is not a SELECT, and for SQL
        errors (with DuckDB's message, which names the problem).
        """
        con = duckdb.connect(
            ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        try:
            # No Parquet prefetching: the lake is local, and on its small files the prefetch's
            # reads cost more than they save (units per product over 2,000 files: 0.54 -> 0.49 s).
            con.execute("SET disable_parquet_prefetching = true")
            statements = self._selects_only(con, sql)
            named = self._named_tables(con, sql)
            for name in named:
                if name not in LAKE_TABLES:
                    con.register(name, self._load(name))
            if self.lake is not None and set(named) & set(LAKE_TABLES):
                self._lake_views(con, self.lake, named)
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

    @staticmethod
    def _lake_views(con: duckdb.DuckDBPyConnection, lake: LakeSource, named: list[str]) -> None:
        """The lake's views a query names (orders_current needs stream_errors too)."""
        con.execute(f"SET allowed_directories = [{_literal(str(lake.root.resolve()) + '/')}]")
        current = "orders_current" in named
        files, plan = lake.files(current)
        if "order_changes" in named:
            con.execute(f"CREATE VIEW order_changes AS SELECT * FROM {_parquet(con, 'changes', files, lake.empty)}")
        errors = _parquet(con, "errors", lake.error_files(), lake.empty_errors)
        con.execute(f"CREATE VIEW stream_errors AS SELECT * FROM {errors}")
        if current:
            rows = _parquet(con, "current_rows", plan.rows, lake.empty)
            replacing = _parquet(con, "replacing", plan.replacing, lake.empty)
            con.execute(_ORDERS_CURRENT.format(rows=rows, replacing=replacing))

    def _load(self, table: str) -> pa.Table:
        """The SQLite table as Arrow (sqlite_arrow: a chunk of rows at a time)."""
        if not self.database.exists():
            return empty_table(pa.schema([]))
        reader = SqliteArrowReader(self.database)
        try:
            return reader.query(f"SELECT * FROM {table}")  # table is one of TABLES, never user text
        finally:
            reader.close()


def _parquet(con: duckdb.DuckDBPyConnection, name: str, files: list[str], empty: pa.Table) -> str:
    """What a FROM reads for these Parquet files of the lake: a read_parquet call, or an
    empty table of their schema when there are none."""
    if not files:
        con.register(f"{name}_empty", empty)
        return f"{name}_empty"
    # The paths as a parameter, not as literals in the statement: parsing 2,000 paths took
    # about 25 ms of every query over an uncompacted lake.
    con.execute(f"SET VARIABLE {name}_files = $1::VARCHAR[]", [files])
    # dt and hour from the path: only the orders' files sit in partitions.
    hive = "true, hive_types = {'dt': VARCHAR, 'hour': VARCHAR}" if name == "changes" else "false"
    return f"read_parquet(getvariable('{name}_files'), hive_partitioning = {hive})"


def _literal(text: str) -> str:
    """A SQL string literal (paths come from the lake, but quote them all the same)."""
    return "'" + text.replace("'", "''") + "'"
