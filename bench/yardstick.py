"""What the two hand-written KPI scripts (batch_polars.py, batch_pandas.py) share: their
rounding, the totals the benchmark compares, and the command line that runs them.

Only the KPI computation differs between them; that part is what the benchmark measures.
The scripts run as `python bench/<script>.py FOLDER OUT`, so they import this as a sibling.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

CENT = Decimal("0.01")
RATE = Decimal("0.0001")

Compute = Callable[[Path], tuple[pa.Table, pa.Table, dict[str, int]]]


def ratio(part: int, whole: int) -> Decimal:
    """A rate to 4 places, rounded half up (int() also takes numpy integers)."""
    return (Decimal(int(part)) / Decimal(int(whole))).quantize(RATE, rounding=ROUND_HALF_UP)


def summary(order_kpi: pa.Table, category_kpi: pa.Table) -> dict[str, object]:
    """Totals over all dates, as the benchmark compares them with salesflow's tables."""
    return {
        "order_kpi_rows": order_kpi.num_rows,
        "category_kpi_rows": category_kpi.num_rows,
        "total_orders": sum(order_kpi.column("total_orders").to_pylist()),
        "total_revenue": str(sum(order_kpi.column("total_revenue").to_pylist(), Decimal("0.00"))),
        "total_items_sold": sum(order_kpi.column("total_items_sold").to_pylist()),
        "category_revenue": str(sum(category_kpi.column("daily_revenue").to_pylist(), Decimal("0.00"))),
    }


def main(description: str | None, engine: str, compute: Compute) -> None:
    """Compute the KPIs of FOLDER, write them as Parquet into OUT, print one JSON object."""
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="holds products.csv, orders/*.csv and order_items/*.csv")
    parser.add_argument("out", type=Path, help="folder for order_kpi.parquet and category_kpi.parquet")
    args = parser.parse_args()
    order_kpi, category_kpi, counts = compute(args.folder)
    computed = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    pq.write_table(order_kpi, args.out / "order_kpi.parquet")
    pq.write_table(category_kpi, args.out / "category_kpi.parquet")
    result = {
        "engine": engine,
        **summary(order_kpi, category_kpi),
        **counts,
        "seconds": time.perf_counter() - started,
        "compute_seconds": computed - started,
    }
    sys.stdout.write(json.dumps(result) + "\n")
