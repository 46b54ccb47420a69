"""The KPI tables of the batch pipeline on DynamoDB, as the original design names them.

- ``OrderKPI``: partition key ``order_date``; one item per day: total_orders,
  total_revenue, total_items_sold, return_rate, unique_customers.
- ``CategoryKPI``: partition key ``category``, sort key ``order_date``;
  daily_revenue, avg_order_value, avg_return_rate. A GSI ``by_order_date``
  (partition ``order_date``, sort ``category``) serves "all categories of a day"
  with one Query, instead of one Query per category (categories are open-ended,
  and a Query per category would need a list of them first).

Access patterns and their calls:

| question | call |
| --- | --- |
| one day's order KPIs | GetItem (BatchGetItem for a bounded date range) |
| order KPIs, open-ended range | Scan with a filter (one small item per day) |
| one category over a date range | Query category = C AND order_date BETWEEN |
| all categories of one day | Query on by_order_date |
| every category, a range | Scan with a filter |

Numbers are DynamoDB numbers (Decimal, exact); money is read back to the cent
and rates to 4 places, as the domain computes them (domain/batch.py).
Publishing replaces the KPIs of every touched date: rows of that date that the
new KPIs no longer have are deleted, like the embedded face's DELETE + INSERT
(without its single transaction: a reader may see a day half replaced).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from salesflow.adapters.aws.clients import translate_errors
from salesflow.adapters.aws.dynamo_writes import batch_write, from_item, to_item
from salesflow.adapters.aws.provision import ORDER_DATE_INDEX
from salesflow.domain.batch import CENT, RATE, CategoryKpi, OrderKpi
from salesflow.domain.errors import NotFound
from salesflow.retry import RetryPolicy

_GET_LIMIT = 100  # keys per BatchGetItem
_MONEY = ("total_revenue", "daily_revenue", "avg_order_value")
_RATES = ("return_rate", "avg_return_rate")


class DynamoKpiTables:
    """Writes and reads OrderKPI and CategoryKPI."""

    def __init__(self, dynamodb: Any, order_kpi_table: str, category_kpi_table: str, retry: RetryPolicy | None = None):
        self._db = dynamodb
        self.order_table = order_kpi_table
        self.category_table = category_kpi_table
        self._retry = retry or RetryPolicy()

    def publish(
        self, touched: Sequence[date], order_kpis: Sequence[OrderKpi], category_kpis: Sequence[CategoryKpi]
    ) -> None:
        """Replace the KPIs of the touched dates with these."""
        days = sorted({day.isoformat() for day in touched})
        keep_orders = {k.order_date.isoformat() for k in order_kpis}
        keep_categories = {(k.category, k.order_date.isoformat()) for k in category_kpis}
        stale_orders = [day for day in days if day not in keep_orders]
        stale_categories = [
            (row["category"], row["order_date"])
            for day in days
            for row in self._category_day(day)
            if (row["category"], row["order_date"]) not in keep_categories
        ]
        puts = [{"PutRequest": {"Item": to_item(_order_values(k))}} for k in order_kpis]
        deletes = [{"DeleteRequest": {"Key": {"order_date": {"S": day}}}} for day in stale_orders]
        batch_write(self._db, self.order_table, puts + deletes, self._retry)
        puts = [{"PutRequest": {"Item": to_item(_category_values(k))}} for k in category_kpis]
        deletes = [
            {"DeleteRequest": {"Key": {"category": {"S": c}, "order_date": {"S": d}}}} for c, d in stale_categories
        ]
        batch_write(self._db, self.category_table, puts + deletes, self._retry)

    def kpis(
        self, table: str, start: str | None = None, end: str | None = None, category: str | None = None
    ) -> list[dict[str, Any]]:
        """Rows like BatchLedger.kpis: order_kpi by date range; category_kpi by category and range."""
        if table == "order_kpi":
            rows = self.order_kpis(start, end)
        elif table == "category_kpi":
            rows = self.category_kpis(category, start, end)
        else:
            raise NotFound(f"no KPI table {table!r}")
        return rows

    def order_kpis(self, start: str | None = None, end: str | None = None) -> list[dict[str, Any]]:
        if start and end and start <= end and (date.fromisoformat(end) - date.fromisoformat(start)).days < 1000:
            rows = self._get_days(_days(start, end))
        else:
            rows = self._scan(self.order_table, start, end)
        return sorted((_shown(row) for row in rows), key=lambda row: row["order_date"])

    def category_kpis(
        self, category: str | None = None, start: str | None = None, end: str | None = None
    ) -> list[dict[str, Any]]:
        if category is not None:
            rows = self._query_category(category, start, end)
        elif start and start == end:
            rows = self._category_day(start)
        else:
            rows = self._scan(self.category_table, start, end)
        return sorted((_shown(row) for row in rows), key=lambda row: (row["category"], row["order_date"]))

    def _query_category(self, category: str, start: str | None, end: str | None) -> list[dict[str, Any]]:
        condition, values = "category = :c", {":c": {"S": category}}
        if start and end:
            condition += " AND order_date BETWEEN :start AND :end"
        elif start:
            condition += " AND order_date >= :start"
        elif end:
            condition += " AND order_date <= :end"
        values.update({f":{n}": {"S": v} for n, v in (("start", start), ("end", end)) if v})
        return self._query(TableName=self.category_table, KeyConditionExpression=condition,
                           ExpressionAttributeValues=values)  # fmt: skip

    def _category_day(self, day: str) -> list[dict[str, Any]]:
        return self._query(
            TableName=self.category_table,
            IndexName=ORDER_DATE_INDEX,
            KeyConditionExpression="order_date = :d",
            ExpressionAttributeValues={":d": {"S": day}},
        )

    def _query(self, **params: Any) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        with translate_errors(f"querying {params['TableName']}"):
            for page in self._db.get_paginator("query").paginate(**params):
                found.extend(from_item(item) for item in page["Items"])
        return found

    def _scan(self, table: str, start: str | None, end: str | None) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        with translate_errors(f"scanning {table}"):
            for page in self._db.get_paginator("scan").paginate(TableName=table):
                found.extend(from_item(item) for item in page["Items"])
        return [
            row for row in found if (not start or row["order_date"] >= start) and (not end or row["order_date"] <= end)
        ]

    def _get_days(self, days: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for first in range(0, len(days), _GET_LIMIT):
            keys = [{"order_date": {"S": day}} for day in days[first : first + _GET_LIMIT]]
            while keys:
                with translate_errors(f"reading {self.order_table}"):
                    response = self._db.batch_get_item(RequestItems={self.order_table: {"Keys": keys}})
                found.extend(from_item(item) for item in response["Responses"].get(self.order_table, []))
                keys = response.get("UnprocessedKeys", {}).get(self.order_table, {}).get("Keys", [])
        return found


def _days(start: str, end: str) -> list[str]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _order_values(k: OrderKpi) -> dict[str, Any]:
    return {
        "order_date": k.order_date.isoformat(),
        "total_orders": k.total_orders,
        "total_revenue": k.total_revenue,
        "total_items_sold": k.total_items_sold,
        "return_rate": k.return_rate,
        "unique_customers": k.unique_customers,
    }


def _category_values(k: CategoryKpi) -> dict[str, Any]:
    return {
        "category": k.category,
        "order_date": k.order_date.isoformat(),
        "daily_revenue": k.daily_revenue,
        "avg_order_value": k.avg_order_value,
        "avg_return_rate": k.avg_return_rate,
    }


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """Money to the cent and rates to 4 places, as text, like the embedded face's tables."""
    shown = dict(row)
    for name in _MONEY:
        if name in shown:
            shown[name] = str(Decimal(shown[name]).quantize(CENT))
    for name in _RATES:
        if name in shown:
            shown[name] = str(Decimal(shown[name]).quantize(RATE))
    return shown
