"""Batches of raw-data/ files, and the KPI tables with their charts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from salesflow.console.charts import Series, line_chart
from salesflow.console.web import render, state_of

router = APIRouter()


@router.get("/batches")
def batches(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(running|succeeded|failed)?$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    state = state_of(request)
    rows = state.queries.batches.batches(status or None, limit)
    steps = {batch.execution_id: state.queries.steps(batch.execution_id) for batch in rows}
    return render(request, "batches.html", {"page": "batches", "rows": rows, "steps": steps, "status": status})


@router.get("/kpis")
def kpis(
    request: Request,
    start: Annotated[dt.date | None, Query(alias="from")] = None,
    end: Annotated[dt.date | None, Query(alias="to")] = None,
    category: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    ledger = state_of(request).queries.batches
    first, last = (d.isoformat() if d else None for d in (start, end))
    orders = ledger.kpis("order_kpi", first, last)
    categories = ledger.kpis("category_kpi", first, last, category or None)
    context = {
        "page": "kpis",
        "orders": orders,
        "categories": categories,
        "start": first or "",
        "end": last or "",
        "category": category or "",
        "charts": _charts(orders, categories),
    }
    return render(request, "kpis.html", context)


def _charts(orders: list[dict[str, Any]], categories: list[dict[str, Any]]) -> list[Any]:
    def series(name: str, rows: list[dict[str, Any]], column: str) -> Series:
        return Series(name, [(row["order_date"], float(Decimal(str(row[column])))) for row in rows])

    by_category: dict[str, list[dict[str, Any]]] = {}
    for row in categories:
        by_category.setdefault(row["category"], []).append(row)
    return [
        line_chart("Revenue per day", [series("revenue", orders, "total_revenue")]),
        line_chart("Orders per day", [series("orders", orders, "total_orders")], "{:,.0f}"),
        line_chart("Return rate", [series("return rate", orders, "return_rate")], "{:.1%}"),
        line_chart(
            "Revenue per category", [series(name, rows, "daily_revenue") for name, rows in sorted(by_category.items())]
        ),
    ]
