"""KPI tables' access patterns and the Athena engine on moto."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from salesflow.adapters.aws.athena_sql import AthenaSqlEngine, check_select
from salesflow.adapters.aws.clients import client
from salesflow.adapters.aws.dynamo_kpis import DynamoKpiTables
from salesflow.domain.batch import CategoryKpi, OrderKpi
from salesflow.domain.errors import ReadOnlyQuery
from tests.aws.moto import REGION, AwsWorld

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def order_kpi(day: date, revenue: str) -> OrderKpi:
    return OrderKpi(day, 2, Decimal(revenue), 5, Decimal("0.5000"), 2)


def category_kpi(category: str, day: date, revenue: str) -> CategoryKpi:
    return CategoryKpi(category, day, Decimal(revenue), Decimal(revenue) / 2, Decimal("0.2500"))


def tables(aws: AwsWorld) -> DynamoKpiTables:
    return DynamoKpiTables(aws.dynamodb, aws.order_kpi_table, aws.category_kpi_table)


def published(aws: AwsWorld) -> DynamoKpiTables:
    kpis = tables(aws)
    kpis.publish(
        [D1, D2, D3],
        [order_kpi(D1, "10.50"), order_kpi(D2, "20.00"), order_kpi(D3, "30.10")],
        [category_kpi("Toys", D1, "10.50"), category_kpi("Books", D1, "3.00"), category_kpi("Toys", D2, "20.00"),
         category_kpi("Toys", D3, "30.10")],
    )  # fmt: skip
    return kpis


def test_order_kpis_by_date_range_money_to_the_cent(aws: AwsWorld) -> None:
    kpis = published(aws)

    rows = kpis.kpis("order_kpi", "2026-11-02", "2026-11-30")

    assert [(r["order_date"], r["total_revenue"], r["return_rate"]) for r in rows] == [
        ("2026-11-02", "20.00", "0.5000"),
        ("2026-11-03", "30.10", "0.5000"),
    ]
    assert len(kpis.kpis("order_kpi")) == 3
    assert [r["order_date"] for r in kpis.kpis("order_kpi", start="2026-11-03")] == ["2026-11-03"]


def test_one_category_over_a_date_range(aws: AwsWorld) -> None:
    kpis = published(aws)

    rows = kpis.kpis("category_kpi", "2026-11-01", "2026-11-02", category="Toys")

    assert [(r["category"], r["order_date"], r["daily_revenue"]) for r in rows] == [
        ("Toys", "2026-11-01", "10.50"),
        ("Toys", "2026-11-02", "20.00"),
    ]


def test_all_categories_of_one_day_come_from_the_order_date_index(aws: AwsWorld) -> None:
    kpis = published(aws)

    rows = kpis.kpis("category_kpi", "2026-11-01", "2026-11-01")

    assert [(r["category"], r["avg_order_value"]) for r in rows] == [("Books", "1.50"), ("Toys", "5.25")]


def test_publishing_a_touched_date_again_replaces_its_rows(aws: AwsWorld) -> None:
    kpis = published(aws)

    kpis.publish([D1], [order_kpi(D1, "99.99")], [category_kpi("Toys", D1, "99.99")])

    assert [r["category"] for r in kpis.kpis("category_kpi", "2026-11-01", "2026-11-01")] == ["Toys"]
    assert kpis.kpis("order_kpi", "2026-11-01", "2026-11-01")[0]["total_revenue"] == "99.99"
    assert len(kpis.kpis("category_kpi", category="Toys")) == 3


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO orders VALUES (1)",
        "CREATE TABLE x AS SELECT 1",
        "UNLOAD (SELECT 1) TO 's3://b/x' WITH (format = 'PARQUET')",
        "DROP TABLE order_changes",
        "SELECT 1; DROP TABLE order_changes",
        "MSCK REPAIR TABLE order_changes",
        "",
        "-- only a comment",
    ],
)
def test_athena_refuses_anything_but_one_select(sql: str) -> None:
    with pytest.raises(ReadOnlyQuery):
        check_select(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT product_name, SUM(quantity) FROM orders_current GROUP BY 1;",
        "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
        "SELECT 'DROP TABLE x' AS text -- a comment saying DELETE",
    ],
)
def test_athena_lets_a_select_through(sql: str) -> None:
    assert check_select(sql).startswith(("SELECT", "WITH"))


def test_athena_query_starts_polls_and_reads_results(aws: AwsWorld) -> None:
    athena = client("athena", REGION, aws.endpoint)
    athena.create_work_group(Name=f"wg-{aws.bucket}", Configuration={})
    engine = AthenaSqlEngine(athena, f"wg-{aws.bucket}", "salesflow", f"s3://{aws.bucket}/athena/", sleep=_no_sleep)

    result = engine.query("SELECT product_name, SUM(quantity) FROM orders_current GROUP BY 1")

    # moto runs nothing: it answers SUCCEEDED with no rows. The calls and their order are what is proven.
    assert result.rows == []
    [execution] = athena.list_query_executions(WorkGroup=f"wg-{aws.bucket}")["QueryExecutionIds"]
    query = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]
    assert query["Query"].startswith("SELECT product_name")
    assert query["QueryExecutionContext"]["Database"] == "salesflow"


def test_athena_refuses_before_calling_aws(aws: AwsWorld) -> None:
    calls: list[Any] = []

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            raise AssertionError(name)

    with pytest.raises(ReadOnlyQuery, match="only SELECT"):
        AthenaSqlEngine(Recorder(), "wg", "db").query("DELETE FROM orders")
    assert calls == []


def _no_sleep(seconds: float) -> None:
    """Polls in tests do not wait."""
