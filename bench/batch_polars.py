"""The hand-written polars script the batch benchmark compares salesflow with (issue 4).

Computes the issue's two KPI tables from products.csv, orders/*.csv and
order_items/*.csv (files in name order, rows in file order), as someone who knows
polars would write it, in one lazy query per table:

- validation: orders need order_id, user_id and a created_at that parses as ISO
  8601 (naive is UTC; `Z` and offsets are converted to UTC; a bare date is
  midnight UTC); items need order_item_id, product_id, sale_price a number > 0
  and quantity (when the column exists) an integer > 0; products need product_id,
  category and price (when the column exists) a number > 0. Invalid rows are left
  out (and counted);
- deduplication: per key (product_id, order_id, order_item_id) the last valid row wins;
- an inner join of items with orders and products (items of unknown orders or
  products drop out), total_price = quantity x sale_price;
- a line is returned when its item status is `returned` in any case or its
  returned_at is set (when the item file has neither column, the order's decide);
- KPIs per UTC date of created_at, money as Decimal(18, 2), exact. avg_order_value
  is rounded half up to the cent, rates half up to 4 places.

Writes order_kpi.parquet and category_kpi.parquet into OUT and prints one JSON
object: row counts, totals over all dates (money as a decimal string) and seconds.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP
from pathlib import Path

import polars as pl
import pyarrow as pa

from yardstick import CENT, main, ratio

MONEY = pl.Decimal(18, 2)


def present(column: str) -> pl.Expr:
    return pl.col(column).is_not_null() & (pl.col(column).str.strip_chars() != "")


def scan(paths: list[Path]) -> pl.LazyFrame:
    """All columns as text, as they are in the files (an empty field is null)."""
    return pl.scan_csv(paths, infer_schema=False)


def utc_moment(column: str) -> pl.Expr:
    """created_at as a UTC datetime, or null: naive (UTC), with `Z` or an offset, or a bare date."""
    text = pl.col(column).str.strip_chars()
    length = text.str.len_bytes()
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_zone="UTC", time_unit="us")
    zoned = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%#z", strict=False, time_zone="UTC", time_unit="us")
    day = text.str.to_date("%Y-%m-%d", strict=False).cast(pl.Datetime("us", "UTC"))
    return pl.when(length == 19).then(naive).when(length > 19).then(zoned).otherwise(day)


def products_of(path: Path) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    raw = scan([path])
    columns = raw.collect_schema().names()
    valid = present("product_id") & present("category")
    if "price" in columns or "retail_price" in columns:
        price = "price" if "price" in columns else "retail_price"
        valid = valid & (pl.col(price).cast(MONEY, strict=False) > 0).fill_null(False)
    table = raw.filter(valid).filter(pl.col("product_id").is_last_distinct()).select("product_id", "category")
    return table, raw.select(pl.len(), valid.sum().alias("valid"))


def orders_of(paths: list[Path]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    raw = scan(paths).with_columns(created=utc_moment("created_at"))
    valid = present("order_id") & present("user_id") & pl.col("created").is_not_null()
    columns = raw.collect_schema().names()
    keep = ["order_id", "user_id", "created"] + [c for c in ("status", "returned_at") if c in columns]
    table = raw.filter(valid).filter(pl.col("order_id").is_last_distinct()).select(keep)
    return table, raw.select(pl.len(), valid.sum().alias("valid"))


def items_of(paths: list[Path]) -> tuple[pl.LazyFrame, pl.LazyFrame, list[str]]:
    raw = scan(paths)
    columns = raw.collect_schema().names()
    price = "sale_price" if "sale_price" in columns else "price"
    raw = raw.with_columns(_sale=pl.col(price).cast(MONEY, strict=False))
    valid = present("order_item_id") & present("product_id") & (pl.col("_sale") > 0).fill_null(False)
    if "quantity" in columns:
        raw = raw.with_columns(_qty=pl.col("quantity").str.strip_chars().cast(pl.Int64, strict=False))
        valid = valid & (pl.col("_qty") > 0).fill_null(False)
    else:
        raw = raw.with_columns(_qty=pl.lit(1, pl.Int64))
    extra = [c for c in ("status", "returned_at") if c in columns]
    table = (
        raw.filter(valid)
        .filter(pl.col("order_item_id").is_last_distinct())
        .select("order_id", "product_id", "_sale", "_qty", *extra)
    )
    return table, raw.select(pl.len(), valid.sum().alias("valid")), extra


def returned(columns: list[str], suffix: str = "") -> pl.Expr:
    flag = pl.lit(False)
    if "status" in columns:
        flag = flag | (pl.col(f"status{suffix}").str.strip_chars().str.to_lowercase() == "returned").fill_null(False)
    if "returned_at" in columns:
        flag = flag | present(f"returned_at{suffix}")
    return flag


def compute(folder: Path) -> tuple[pa.Table, pa.Table, dict[str, int]]:
    products, product_counts = products_of(folder / "products.csv")
    orders, order_counts = orders_of(sorted((folder / "orders").glob("*.csv")))
    items, item_counts, item_extra = items_of(sorted((folder / "order_items").glob("*.csv")))
    order_extra = [c for c in ("status", "returned_at") if c in orders.collect_schema().names()]
    flag = returned(item_extra) if item_extra else returned(order_extra)  # no clash, so no suffix
    lines = (
        items.join(orders, on="order_id", how="inner", suffix="_order")
        .join(products, on="product_id", how="inner")
        .select(
            "order_id",
            "user_id",
            "category",
            qty="_qty",
            order_date=pl.col("created").dt.date(),
            total=(pl.col("_sale") * pl.col("_qty")).cast(MONEY),
            returned=flag,
        )
    )
    per_order = lines.group_by("order_id").agg(
        pl.col("order_date").first(),
        pl.col("user_id").first(),
        pl.col("total").sum(),
        pl.col("qty").sum(),
        pl.col("returned").any(),
    )
    order_kpi = (
        per_order.group_by("order_date")
        .agg(
            total_orders=pl.len(),
            total_revenue=pl.col("total").sum(),
            total_items_sold=pl.col("qty").sum(),
            returned_orders=pl.col("returned").sum(),
            unique_customers=pl.col("user_id").n_unique(),
        )
        .sort("order_date")
    )
    category_kpi = (
        lines.group_by("category", "order_id")
        .agg(pl.col("order_date").first(), pl.col("total").sum(), pl.col("returned").any())
        .group_by("category", "order_date")
        .agg(daily_revenue=pl.col("total").sum(), orders=pl.len(), returned_orders=pl.col("returned").sum())
        .sort("category", "order_date")
    )
    order_kpi_df, category_kpi_df, p, o, i = pl.collect_all(
        [order_kpi, category_kpi, product_counts, order_counts, item_counts]
    )
    counts = {
        "products_rows": p["len"][0],
        "products_valid": p["valid"][0],
        "orders_rows": o["len"][0],
        "orders_valid": o["valid"][0],
        "items_rows": i["len"][0],
        "items_valid": i["valid"][0],
    }
    return finish_order_kpi(order_kpi_df), finish_category_kpi(category_kpi_df), counts


def finish_order_kpi(frame: pl.DataFrame) -> pa.Table:
    """The small per-date table in the issue's columns: return_rate from counts, rounded half up."""
    rows = frame.to_dict(as_series=False)
    rates = [ratio(r, n) for r, n in zip(rows["returned_orders"], rows["total_orders"], strict=True)]
    return pa.table(
        {
            "order_date": pa.array(rows["order_date"], pa.date32()),
            "total_orders": pa.array(rows["total_orders"], pa.int64()),
            "total_revenue": pa.array(rows["total_revenue"], pa.decimal128(18, 2)),
            "total_items_sold": pa.array(rows["total_items_sold"], pa.int64()),
            "return_rate": pa.array(rates, pa.decimal128(9, 4)),
            "unique_customers": pa.array(rows["unique_customers"], pa.int64()),
        }
    )


def finish_category_kpi(frame: pl.DataFrame) -> pa.Table:
    rows = frame.to_dict(as_series=False)
    revenue, orders, returned_orders = rows["daily_revenue"], rows["orders"], rows["returned_orders"]
    averages = [(money / n).quantize(CENT, rounding=ROUND_HALF_UP) for money, n in zip(revenue, orders, strict=True)]
    rates = [ratio(r, n) for r, n in zip(returned_orders, orders, strict=True)]
    return pa.table(
        {
            "category": pa.array(rows["category"], pa.string()),
            "order_date": pa.array(rows["order_date"], pa.date32()),
            "daily_revenue": pa.array(revenue, pa.decimal128(18, 2)),
            "avg_order_value": pa.array(averages, pa.decimal128(18, 2)),
            "avg_return_rate": pa.array(rates, pa.decimal128(9, 4)),
        }
    )


if __name__ == "__main__":
    main(__doc__, f"polars {pl.__version__}", compute)
