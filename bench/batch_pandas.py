"""The same KPIs as batch_polars.py, written with pandas, as the benchmark's second yardstick (issue 4).

Same rules as batch_polars.py (see its docstring): validation of required fields,
price > 0, quantity > 0 and a parseable ISO 8601 created_at; the last valid row per
key wins; inner joins of items with orders and products; returned when the item
status is `returned` in any case or returned_at is set; KPIs per UTC date of
created_at. Written the way pandas is usually written: read_csv as text,
pd.to_numeric / pd.to_datetime(format="ISO8601", utc=True) with errors="coerce",
drop_duplicates, merge, groupby. Money is kept in integer cents (prices have at
most two decimals), so sums are exact; the finished tables are identical to the
polars script's, and written the same way.

Writes order_kpi.parquet and category_kpi.parquet into OUT and prints one JSON
object: row counts, totals over all dates (money as a decimal string) and seconds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa

from yardstick import CENT, main, ratio


def read(paths: list[Path]) -> pd.DataFrame:
    """All columns as text; only an empty field is missing (no 'NA' guessing)."""
    frames = [pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]) for path in paths]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def present(column: pd.Series) -> pd.Series:
    return column.notna() & (column.str.strip() != "")


def positive_number(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    number = pd.to_numeric(column, errors="coerce")
    return number, (number > 0) & number.notna() & (number != float("inf"))


def products_of(path: Path) -> tuple[pd.DataFrame, tuple[int, int]]:
    raw = read([path])
    valid = present(raw["product_id"]) & present(raw["category"])
    price = "price" if "price" in raw.columns else "retail_price" if "retail_price" in raw.columns else None
    if price:
        valid &= positive_number(raw[price])[1]
    table = raw.loc[valid, ["product_id", "category"]].drop_duplicates(subset="product_id", keep="last")
    return table, (len(raw), int(valid.sum()))


def orders_of(paths: list[Path]) -> tuple[pd.DataFrame, tuple[int, int]]:
    raw = read(paths)
    created = pd.to_datetime(raw["created_at"].str.strip(), format="ISO8601", utc=True, errors="coerce")
    valid = present(raw["order_id"]) & present(raw["user_id"]) & created.notna()
    keep = ["order_id", "user_id"] + [c for c in ("status", "returned_at") if c in raw.columns]
    table = raw.loc[valid, keep].assign(order_date=created[valid].dt.normalize())
    table = table.drop_duplicates(subset="order_id", keep="last")
    return table, (len(raw), int(valid.sum()))


def items_of(paths: list[Path]) -> tuple[pd.DataFrame, tuple[int, int], list[str]]:
    raw = read(paths)
    price, valid = positive_number(raw["sale_price" if "sale_price" in raw.columns else "price"])
    valid &= present(raw["order_item_id"]) & present(raw["product_id"])
    if "quantity" in raw.columns:
        quantity = pd.to_numeric(raw["quantity"], errors="coerce")
        valid &= (quantity > 0) & (quantity % 1 == 0)
    else:
        quantity = pd.Series(1, index=raw.index)
    extra = [c for c in ("status", "returned_at") if c in raw.columns]
    table = raw.loc[valid, ["order_item_id", "order_id", "product_id", *extra]].assign(
        cents=(price[valid] * 100).round().astype("int64"), qty=quantity[valid].astype("int64")
    )
    table = table.drop_duplicates(subset="order_item_id", keep="last").drop(columns="order_item_id")
    return table, (len(raw), int(valid.sum())), extra


def returned(lines: pd.DataFrame, columns: list[str], suffix: str) -> pd.Series:
    flag = pd.Series(False, index=lines.index)
    if "status" in columns:
        flag |= lines[f"status{suffix}"].str.strip().str.lower().eq("returned").fillna(False).astype(bool)
    if "returned_at" in columns:
        flag |= present(lines[f"returned_at{suffix}"])
    return flag


def compute(folder: Path) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    products, (products_rows, products_valid) = products_of(folder / "products.csv")
    orders, (orders_rows, orders_valid) = orders_of(sorted((folder / "orders").glob("*.csv")))
    items, (items_rows, items_valid), item_extra = items_of(sorted((folder / "order_items").glob("*.csv")))
    order_extra = [c for c in ("status", "returned_at") if c in orders.columns]
    lines = items.merge(orders, on="order_id", how="inner", suffixes=("", "_order")).merge(
        products, on="product_id", how="inner"
    )
    lines["total"] = lines["cents"] * lines["qty"]
    lines["returned"] = returned(lines, *((item_extra, "") if item_extra else (order_extra, "")))

    per_order = lines.groupby("order_id", sort=False).agg(
        order_date=("order_date", "first"),
        user_id=("user_id", "first"),
        total=("total", "sum"),
        qty=("qty", "sum"),
        returned=("returned", "any"),
    )
    order_kpi = (
        per_order.groupby("order_date")
        .agg(
            total_orders=("total", "size"),
            total_revenue=("total", "sum"),
            total_items_sold=("qty", "sum"),
            returned_orders=("returned", "sum"),
            unique_customers=("user_id", "nunique"),
        )
        .reset_index()
        .sort_values("order_date")
    )
    category_kpi = (
        lines.groupby(["category", "order_id"], sort=False)
        .agg(order_date=("order_date", "first"), total=("total", "sum"), returned=("returned", "any"))
        .groupby(["category", "order_date"])
        .agg(daily_revenue=("total", "sum"), orders=("total", "size"), returned_orders=("returned", "sum"))
        .reset_index()
        .sort_values(["category", "order_date"])
    )
    counts = {
        "products_rows": products_rows,
        "products_valid": products_valid,
        "orders_rows": orders_rows,
        "orders_valid": orders_valid,
        "items_rows": items_rows,
        "items_valid": items_valid,
    }
    return finish_order_kpi(order_kpi), finish_category_kpi(category_kpi), counts


def money(cents: int) -> Decimal:
    return Decimal(int(cents)).scaleb(-2)


def finish_order_kpi(frame: pd.DataFrame) -> pa.Table:
    """The small per-date table in the issue's columns, exactly as batch_polars.py finishes it."""
    rates = [ratio(r, n) for r, n in zip(frame["returned_orders"], frame["total_orders"], strict=True)]
    return pa.table(
        {
            "order_date": pa.array(frame["order_date"].dt.date.tolist(), pa.date32()),
            "total_orders": pa.array(frame["total_orders"].tolist(), pa.int64()),
            "total_revenue": pa.array([money(c) for c in frame["total_revenue"]], pa.decimal128(18, 2)),
            "total_items_sold": pa.array(frame["total_items_sold"].tolist(), pa.int64()),
            "return_rate": pa.array(rates, pa.decimal128(9, 4)),
            "unique_customers": pa.array(frame["unique_customers"].tolist(), pa.int64()),
        }
    )


def finish_category_kpi(frame: pd.DataFrame) -> pa.Table:
    revenue = [money(c) for c in frame["daily_revenue"]]
    orders = frame["orders"].tolist()
    averages = [(total / n).quantize(CENT, rounding=ROUND_HALF_UP) for total, n in zip(revenue, orders, strict=True)]
    rates = [ratio(r, n) for r, n in zip(frame["returned_orders"], orders, strict=True)]
    return pa.table(
        {
            "category": pa.array(frame["category"].tolist(), pa.string()),
            "order_date": pa.array(frame["order_date"].dt.date.tolist(), pa.date32()),
            "daily_revenue": pa.array(revenue, pa.decimal128(18, 2)),
            "avg_order_value": pa.array(averages, pa.decimal128(18, 2)),
            "avg_return_rate": pa.array(rates, pa.decimal128(9, 4)),
        }
    )


if __name__ == "__main__":
    main(__doc__, f"pandas {pd.__version__}", compute)
