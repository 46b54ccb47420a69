"""Commands over what the batch pipeline keeps: batches and the KPI tables."""

from __future__ import annotations

from typing import Annotated

import typer

from salesflow.cli import render
from salesflow.cli.context import JsonOption, current_app
from salesflow.domain.batch import RAW_PREFIX

# -- batches and KPIs --------------------------------------------------------------

BATCH_COLUMNS = ("id", "status", "files", "read", "valid", "rejected", "duplicates_removed", "started_at", "error")
kpi_app = typer.Typer(help="Daily KPI tables computed by the batch pipeline.", no_args_is_help=True)


def batches(
    status: Annotated[str | None, typer.Option("--status", help="Only batches in this state.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many, newest first.")] = None,
    json: JsonOption = False,
) -> None:
    """Batches of raw-data/ files: their files, row counts and status, newest first."""
    rows = []
    for batch in current_app().batches.batches(status, limit):
        row = render.as_dict(batch)
        row.update({name: batch.counts.get(name, 0) for name in ("read", "valid", "rejected", "duplicates_removed")})
        row["steps"] = current_app().batches.steps(batch.execution_id)
        rows.append(row)
    if not json:  # a file a line, as under raw-data/: the table stays narrow enough to read
        rows = [row | {"files": "\n".join(key.removeprefix(RAW_PREFIX) for key in row["files"])} for row in rows]
    render.show_rows(rows, BATCH_COLUMNS, "Batches", json)


@kpi_app.command("orders")
def kpi_orders(
    start: Annotated[str | None, typer.Option("--from", help="First order date (YYYY-MM-DD), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last order date (YYYY-MM-DD), inclusive.")] = None,
    json: JsonOption = False,
) -> None:
    """order_kpi: per order date, orders, revenue, items sold, return rate, unique customers."""
    rows = current_app().batches.kpis("order_kpi", start, end)
    render.show_rows(rows, ORDER_KPI_COLUMNS, "Order KPIs", json)


@kpi_app.command("categories")
def kpi_categories(
    start: Annotated[str | None, typer.Option("--from", help="First order date (YYYY-MM-DD), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last order date (YYYY-MM-DD), inclusive.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    json: JsonOption = False,
) -> None:
    """category_kpi: per category and order date, revenue, average order value, return rate.

    By category and date range (--category C --from D --to D), or all categories of a day (--from D --to D).
    """
    rows = current_app().batches.kpis("category_kpi", start, end, category)
    render.show_rows(rows, CATEGORY_KPI_COLUMNS, "Category KPIs", json)


ORDER_KPI_COLUMNS = (
    "order_date", "total_orders", "total_revenue", "total_items_sold", "return_rate", "unique_customers",
)  # fmt: skip
CATEGORY_KPI_COLUMNS = ("category", "order_date", "daily_revenue", "avg_order_value", "avg_return_rate")


# -- orders, sql, status --------------------------------------------------------
