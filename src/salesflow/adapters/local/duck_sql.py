"""Read-only SQL (DuckDB dialect) over the embedded face's tables.

DuckDB runs in memory with no access to files or extensions. The SQLite tables
a query names are copied in as Arrow tables first (only those it names), so a
query can never write to the database. Statements other than SELECT are refused
before they run.

Only what a query reads is copied: the query is planned first over empty tables
of the same columns (typed by a few rows), and the columns its scans read are
loaded, or only the first rows for a plain `SELECT ... FROM t LIMIT n`. Over 1M
orders, a GROUP BY of two columns takes 2.3 s instead of 5.1 s, and
`SELECT * FROM orders LIMIT 10` 0.6 s instead of 5.0 s. Of the filters, only
`text_column = 'text'` on a column SQLite declares TEXT goes to SQLite (a lookup
by order_id: 0.8 s instead of 5.1 s); other comparisons differ between the two
in their types.

The lake's tables (order_changes, orders_current) are views over the Parquet
files of the lake's current version; DuckDB may read files under the lake's
folder and nowhere else.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
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
        reader = SqliteArrowReader(self.database)
        try:
            # No Parquet prefetching: the lake is local, and on its small files the prefetch's
            # reads cost more than they save (units per product over 2,000 files: 0.54 -> 0.49 s).
            con.execute("SET disable_parquet_prefetching = true")
            statements = self._selects_only(con, sql)
            named = self._named_tables(con, sql)
            stored = [name for name in named if name not in LAKE_TABLES]
            shapes = {name: self._shape(reader, name) for name in stored}
            for name, shape in shapes.items():
                con.register(name, shape)  # no rows yet: for planning
            if self.lake is not None and set(named) & set(LAKE_TABLES):
                self._lake_views(con, self.lake, named)
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            plans = _plans(con, statements) if shapes else None  # a lake-only query needs no plan first
            needed = None if plans is None else _projections(plans)
            single = _single_plan(plans, len(named))
            limit = _row_limit(single)
            where = _equal_text(single)
            if where is not None and where[0] not in self._text_columns(reader, stored[0]):
                where = None
            for name, shape in shapes.items():
                con.register(name, self._load(reader, name, _kept(shape, needed), limit, where))
            try:
                return _run(con, statements)
            except duckdb.BinderException:
                if needed is None:
                    raise
                # A column left out after all (the plan over empty tables differed): all of
                # them, every row.
                for name in stored:
                    con.register(name, self._load(reader, name, None, None, None))
                return _run(con, statements)
        except duckdb.Error as exc:
            raise ReadOnlyQuery(f"SQL error: {exc}") from None
        finally:
            con.close()
            reader.close()

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
            # Several statements, or one DuckDB cannot bind without its tables (COLUMNS('re')):
            # every table whose name stands in the text as a word, as any reference to it must.
            named = {table for table in self.tables if re.search(rf"\b{table}\b", sql, re.IGNORECASE)}
        return [table for table in self.tables if table in named]

    @staticmethod
    def _lake_views(con: duckdb.DuckDBPyConnection, lake: LakeSource, named: list[str]) -> None:
        """The lake's views a query names (orders_current needs stream_errors too)."""
        con.execute(f"SET allowed_directories = [{_literal(str(lake.root.resolve()) + '/')}]")
        current = "orders_current" in named
        files, plan = lake.files(current)
        if "order_changes" in named:
            con.execute(f"CREATE VIEW order_changes AS SELECT * FROM {_parquet(con, 'changes', files, lake.empty)}")
        if current or "stream_errors" in named:
            errors = _parquet(con, "errors", lake.error_files(), lake.empty_errors)
            con.execute(f"CREATE VIEW stream_errors AS SELECT * FROM {errors}")
        if current:
            rows = _parquet(con, "current_rows", plan.rows, lake.empty)
            replacing = _parquet(con, "replacing", plan.replacing, lake.empty)
            con.execute(_ORDERS_CURRENT.format(rows=rows, replacing=replacing))

    def _shape(self, reader: SqliteArrowReader, table: str) -> pa.Table:
        """The table's columns, typed as its first rows' values type them (as the whole
        table's will be: SQLite's declared types are loose, some columns declare none), and
        no rows. A column with no value in them is text."""
        if not self.database.exists():
            return empty_table(pa.schema([]))
        sample = reader.query(f"SELECT * FROM {table} LIMIT {_SAMPLE_ROWS}")  # table is one of TABLES
        return empty_table(
            pa.schema([(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in sample.schema])
        )

    def _text_columns(self, reader: SqliteArrowReader, table: str) -> set[str]:
        """The columns SQLite declares TEXT in the table (TEXT affinity stores every value as
        text, so `=` compares text both here and in DuckDB)."""
        if not self.database.exists():
            return set()
        declared = reader.query(f"SELECT name, type FROM pragma_table_info('{table}')").to_pylist()
        return {column["name"] for column in declared if (column["type"] or "").upper() == "TEXT"}

    def _load(
        self,
        reader: SqliteArrowReader,
        table: str,
        columns: list[str] | None,
        rows: int | None,
        where: tuple[str, str] | None,
    ) -> pa.Table:
        """The SQLite table's rows as Arrow (sqlite_arrow: a chunk of rows at a time); only
        ``columns``, the first ``rows`` and those whose column ``where[0]`` equals ``where[1]``
        when given. No user text goes into this SQL but as a parameter: the table is one of
        TABLES, the names come from SQLite, the count from DuckDB's plan."""
        if not self.database.exists():
            return empty_table(pa.schema([]))
        selected = "*" if columns is None else ", ".join(_identifier(name) for name in columns)
        sql = f"SELECT {selected} FROM {table}"
        if where is not None:
            sql += f" WHERE {_identifier(where[0])} = ?"
        if rows is not None:
            sql += f" LIMIT {int(rows)}"
        return reader.query(sql, params=() if where is None else (where[1],))


_SAMPLE_ROWS = 100  # rows that type the columns a query is planned over


def _plans(con: duckdb.DuckDBPyConnection, statements: Sequence[Any]) -> list[Any] | None:
    """Each statement's plan (EXPLAIN as JSON); None when one cannot be planned (its error
    comes from the real run)."""
    try:
        return [
            json.loads(plan)
            for statement in statements
            for _, plan in con.execute(f"EXPLAIN (FORMAT json) {statement.query}").fetchall()
        ]
    except duckdb.Error:
        return None


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    """Every operator of an EXPLAIN (FORMAT json) plan, or of lists of them."""
    if isinstance(plan, list):
        for part in plan:
            yield from _nodes(part)
    elif isinstance(plan, dict):
        yield plan
        yield from _nodes(plan.get("children") or [])


def _projections(plans: list[Any]) -> set[str]:
    """The columns the plans' scans of registered tables read."""
    columns: set[str] = set()
    for node in _nodes(plans):
        info = node.get("extra_info") or {}
        if node.get("name") == _ARROW_SCAN and isinstance(info, dict):
            projected = info.get("Projections", [])
            columns.update([projected] if isinstance(projected, str) else projected)
    return columns


def _single_plan(plans: list[Any] | None, tables: int) -> Any | None:
    """The plan when the query is one statement naming one table (the only shape whose scan
    _row_limit and _equal_text narrow); else None."""
    return plans[0] if plans is not None and len(plans) == 1 and tables == 1 else None


def _row_limit(plan: Any | None) -> int | None:
    """How many rows a single plan (_single_plan) reads when it is a LIMIT straight over the
    scan (`SELECT ... FROM t LIMIT n`: the first n rows, in the table's order either way);
    else None, every row."""
    if not isinstance(plan, list) or len(plan) != 1:
        return None
    root = plan[0]
    children = root.get("children") or []
    info = root.get("extra_info") or {}
    if root.get("name") not in _LIMITS or len(children) != 1 or children[0].get("name") != _ARROW_SCAN:
        return None
    if set(children[0].get("extra_info") or {}) - _PLAIN_SCAN:  # a filter pushed into the scan, say
        return None
    try:
        return int(info["Limit"]) + int(info.get("Offset", 0))
    except (KeyError, TypeError, ValueError):  # a limit that is not a plain count (a percentage)
        return None


def _equal_text(plan: Any | None) -> tuple[str, str] | None:
    """The column and the text of a `column = 'text'` filter a single plan's (_single_plan)
    one scan goes through first; else None. Only that shape: SQLite's comparisons of other
    types and expressions differ from DuckDB's (the caller checks that SQLite declares the
    column TEXT). DuckDB still filters the rows it gets."""
    if plan is None:
        return None
    nodes = list(_nodes(plan))
    filters = [
        node
        for node in nodes
        if node.get("name") == "FILTER"
        and len(children := node.get("children") or []) == 1
        and children[0].get("name") == _ARROW_SCAN
    ]
    if sum(node.get("name") == _ARROW_SCAN for node in nodes) != 1 or len(filters) != 1:
        return None
    match = _EQUAL_TEXT.fullmatch(str((filters[0].get("extra_info") or {}).get("Expression", "")))
    return None if match is None else (match["column"], match["text"].replace("''", "'"))


_EQUAL_TEXT = re.compile(r"\((?P<column>[a-z_][a-z0-9_]*) = '(?P<text>(?:[^']|'')*)'\)")
_ARROW_SCAN = "PYTHON_ARROW_SCAN"
_LIMITS = ("LIMIT", "STREAMING_LIMIT")
_PLAIN_SCAN = {"Function", "Projections", "Estimated Cardinality"}


def _kept(shape: pa.Table, needed: set[str] | None) -> list[str] | None:
    """The columns of a table to load: those any scan reads (a name read from one table is
    kept in every table that has it, so an unqualified name binds as it did in the plan),
    or the first when none is (count(*)); None for all of them."""
    if needed is None or not shape.column_names:
        return None
    kept = [name for name in shape.column_names if name in needed]
    return kept or shape.column_names[:1]


def _run(con: duckdb.DuckDBPyConnection, statements: Sequence[Any]) -> QueryResult:
    result: QueryResult | None = None
    for statement in statements:
        relation = con.execute(statement)
        columns = [d[0] for d in relation.description or []]
        result = QueryResult(columns, relation.fetchall())
    assert result is not None
    return result


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
