"""`salesflow sql` over SQLite tables reads only what a query needs (the columns its plan
scans, the first rows for a plain LIMIT, the rows a `text_column = 'text'` filter keeps),
and answers exactly as it did when it copied every table whole into DuckDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from salesflow.adapters.local import duck_sql
from salesflow.adapters.local.duck_sql import DuckSqlEngine
from salesflow.adapters.local.sqlite_arrow import SqliteArrowReader
from tests.integration.conftest import cli


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Orders with updates, deletes and invalid records (dead letters), their change records
    and executions, all through the real pipeline."""
    home = tmp_path_factory.mktemp("pushdown") / "home"
    for extra in (["--deletes", "0.1"], ["--invalid", "0.1", "--to", "bucket"]):
        generated = cli(home, "generate", "--rate", "400", "--duration", "0.5s", "--seed", "5", "--updates", "0.2",
                        *extra)  # fmt: skip
        assert generated.code == 0, generated.stderr
    assert cli(home, "run", "--once").code == 0
    return home / "salesflow.db"


def whole_tables_answer(database: Path, sql: str) -> list[tuple[Any, ...]]:
    """The reference: every table a query names copied in whole, as before the pushdown."""
    con = duckdb.connect()
    reader = SqliteArrowReader(database)
    try:
        for name in duck_sql.TABLES:
            con.register(name, reader.query(f"SELECT * FROM {name}"))
        rows: list[tuple[Any, ...]] = []
        for statement in con.extract_statements(sql):
            rows = con.execute(statement).fetchall()
        return rows
    finally:
        reader.close()
        con.close()


QUERIES = [
    "SELECT product_name, SUM(quantity) AS units FROM orders GROUP BY product_name",
    "SELECT count(*) FROM orders",
    "SELECT * FROM orders",
    "SELECT * EXCLUDE (record) FROM orders WHERE quantity > 1",
    "SELECT COLUMNS('customer_.*') FROM orders",
    "SELECT event_type, count(*) FROM changes GROUP BY ALL",
    # `key` is in both tables: an unqualified name is ambiguous with both whole, and must stay so.
    "SELECT d.key, e.status FROM dead_letters d JOIN executions e ON e.id = d.execution_id",
    "SELECT status, count(*) FROM executions GROUP BY status",
    "SELECT count(*) FROM dead_letters WHERE note IS NULL",
    "WITH latest AS (SELECT order_id, max(sequence) AS s FROM changes GROUP BY order_id) "
    "SELECT c.event_type, count(*) FROM changes c JOIN latest l ON l.order_id = c.order_id AND l.s = c.sequence "
    "GROUP BY ALL",
    "SELECT order_id FROM orders WHERE order_id IN (SELECT order_id FROM changes WHERE event_type = 'MODIFY')",
    "SELECT count(*) FROM orders; SELECT max(sequence) FROM changes",
    "SELECT * FROM orders ORDER BY order_id LIMIT 5",
    "SELECT * FROM orders WHERE quantity = 2 LIMIT 3",
    "SELECT * FROM orders WHERE order_id = '{order_id}'",
    "SELECT count(*), max(quantity) FROM orders WHERE order_id = '{order_id}'",
    "SELECT * FROM orders WHERE customer_name = '{customer_name}'",
    "SELECT a.order_id FROM orders a JOIN orders b ON b.order_id = a.order_id WHERE a.order_id = '{order_id}'",
    "SELECT event_type FROM changes WHERE order_id = '{order_id}' ORDER BY sequence",
]


@pytest.fixture(scope="module")
def an_order(database: Path) -> dict[str, str]:
    [(order_id, customer_name)] = whole_tables_answer(database, "SELECT order_id, customer_name FROM orders LIMIT 1")
    return {"order_id": order_id, "customer_name": customer_name}


@pytest.mark.parametrize("sql", QUERIES)
def test_a_query_answers_as_it_did_over_whole_tables(database: Path, an_order: dict[str, str], sql: str) -> None:
    sql = sql.format(**an_order)
    found = DuckSqlEngine(database).query(sql).rows

    assert sorted(map(repr, found)) == sorted(map(repr, whole_tables_answer(database, sql)))
    assert found


def test_a_plain_limit_reads_only_the_first_rows_of_the_columns_it_shows(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = spy_on_sqlite(monkeypatch)

    found = DuckSqlEngine(database).query("SELECT order_id, quantity FROM orders LIMIT 4 OFFSET 2").rows
    aggregated = DuckSqlEngine(database).query("SELECT product_name, SUM(quantity) FROM orders GROUP BY 1").rows

    assert len(found) == 4
    assert set(found) <= set(whole_tables_answer(database, "SELECT order_id, quantity FROM orders"))
    assert 'SELECT "order_id", "quantity" FROM orders LIMIT 6' in issued
    assert 'SELECT "product_name", "quantity" FROM orders' in issued
    assert sorted(aggregated) == sorted(
        whole_tables_answer(database, "SELECT product_name, SUM(quantity) FROM orders GROUP BY 1")
    )


def test_a_text_lookup_reads_only_the_rows_it_keeps(
    database: Path, an_order: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = spy_on_sqlite(monkeypatch)
    engine = DuckSqlEngine(database)

    found = engine.query(f"SELECT order_id, quantity FROM orders WHERE order_id = '{an_order['order_id']}'").rows
    quoted = engine.query("SELECT count(*) FROM orders WHERE order_id = 'it''s not there'").rows
    untyped = engine.query(f"SELECT count(*) FROM orders WHERE customer_name = '{an_order['customer_name']}'").rows

    assert [order_id for order_id, _ in found] == [an_order["order_id"]]
    assert quoted == [(0,)]
    assert untyped[0][0] >= 1
    assert 'SELECT "order_id", "quantity" FROM orders WHERE "order_id" = ?' in issued
    # customer_name declares no type in SQLite: its values keep the type they came with, so
    # SQLite's `=` could differ from DuckDB's; the whole column is read.
    assert 'SELECT "customer_name" FROM orders' in issued


def test_several_statements_read_only_the_tables_they_name(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = spy_on_sqlite(monkeypatch)

    DuckSqlEngine(database).query("SELECT count(*) FROM orders; SELECT COLUMNS('event_.*') FROM changes")

    read = {sql.split(" FROM ")[1].split()[0] for sql in issued if " FROM " in sql and "pragma" not in sql}
    assert read == {"orders", "changes"}


def test_a_column_the_plan_left_out_is_read_after_all(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As if the plan over the sampled rows had read no column: the run's binder error brings
    # every column back, and the answer is whole.
    monkeypatch.setattr(duck_sql, "_projections", lambda plans: set())
    sql = "SELECT customer_email, quantity FROM orders WHERE quantity > 1"

    assert sorted(DuckSqlEngine(database).query(sql).rows) == sorted(whole_tables_answer(database, sql))


def test_an_sql_error_still_names_the_problem(database: Path) -> None:
    with pytest.raises(Exception, match="no_such_column"):
        DuckSqlEngine(database).query("SELECT no_such_column FROM orders")


def spy_on_sqlite(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    issued: list[str] = []
    real = SqliteArrowReader.query

    def query(self: SqliteArrowReader, sql: str, schema: Any = None, params: Any = ()) -> Any:
        issued.append(sql)
        return real(self, sql, schema, params)

    monkeypatch.setattr(SqliteArrowReader, "query", query)
    return issued
