"""The batch pipeline end to end through the CLI: CSV files in, KPIs out (hand-computed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
from typer.testing import CliRunner

from salesflow.cli.main import app

PRODUCTS = "id,category,retail_price,name\nP1,Toys,10.00,car\nP2,Books,5.5,book\nP3,,1,nameless\n"
ORDERS = (
    "order_id,customer_id,order_date,status\n"
    "O1,U1,2026-11-01T10:00:00Z,Complete\nO2,U2,2026-11-01,Returned\nO3,U1,not a date,\n,U3,2026-11-02,\n"
)
ITEMS = (
    "id,order_id,product_id,price,quantity\n"
    "I1,O1,P1,10.00,2\nI2,O1,P2,5.50,1\nI3,O2,P1,10,1\nI4,O1,P1,-1,1\nI5,O1,P1,1,0\nI6,O9,P1,1,1\n"
)


def invoke(home: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def put(home: Path, tmp: Path, name: str, text: str, key: str) -> None:
    source = tmp / name
    source.write_text(text)
    invoke(home, "put", str(source), key)


def test_a_batch_turns_csv_files_into_kpis_and_keeps_refused_rows(tmp_path: Path) -> None:
    home = tmp_path / "home"
    put(home, tmp_path, "products.csv", PRODUCTS, "raw-data/products.csv")
    put(home, tmp_path, "o.csv", ORDERS, "raw-data/orders/o.csv")
    put(home, tmp_path, "i.csv", ITEMS, "raw-data/order_items/i.csv")

    invoke(home, "run", "--once")

    (day,) = json.loads(invoke(home, "kpi", "orders", "--json"))
    # O1: 2 x 10.00 + 5.50 = 25.50; O2: 10 (returned, by its order's status); O3 refused.
    assert day == {
        "order_date": "2026-11-01",
        "total_orders": 2,
        "total_revenue": "35.50",
        "total_items_sold": 4,
        "return_rate": "0.5000",
        "unique_customers": 2,
    }
    categories = json.loads(invoke(home, "kpi", "categories", "--from", "2026-11-01", "--to", "2026-11-01", "--json"))
    assert [(c["category"], c["daily_revenue"], c["avg_order_value"], c["avg_return_rate"]) for c in categories] == [
        ("Books", "5.50", "5.50", "0.0000"),
        ("Toys", "30.00", "15.00", "0.5000"),
    ]
    refused = json.loads(invoke(home, "sql", "SELECT key, row, reasons FROM rejected_rows ORDER BY key, row", "--json"))
    assert [(r["key"], r["row"], json.loads(r["reasons"])) for r in refused] == [
        ("raw-data/order_items/i.csv", 4, ["invalid_sale_price"]),
        ("raw-data/order_items/i.csv", 5, ["invalid_quantity"]),
        ("raw-data/order_items/i.csv", 6, ["unknown_order"]),
        ("raw-data/orders/o.csv", 3, ["invalid_created_at"]),
        ("raw-data/orders/o.csv", 4, ["missing_order_id"]),
        ("raw-data/products.csv", 3, ["missing_category"]),
    ]
    (batch,) = json.loads(invoke(home, "batches", "--json"))
    assert (batch["status"], batch["read"], batch["valid"], batch["rejected"]) == ("succeeded", 13, 7, 6)
    assert [s["step"] for s in batch["steps"]] == ["validate", "transform", "publish", "archive", "notify", "cleanup"]
    (row,) = [line for line in invoke(home, "batches").splitlines() if batch["id"] in line]
    # The table names a file a line, as under raw-data/ (the first here), and the counts beside it.
    assert "order_items/i.csv" in row
    assert "raw-data/" not in row
    assert [word for word in row.split() if word in ("succeeded", "13", "7", "6")] == ["succeeded", "13", "7", "6"]
    bucket = home / "bucket"
    assert not list((bucket / "raw-data").rglob("*.csv"))
    assert sorted(p.name for p in (bucket / "archive").rglob("*.csv")) == ["i.csv", "o.csv", "products.csv"]
    assert (bucket / "processed/kpi/order_kpi.parquet").is_file()
    [lines] = (bucket / "processed/lines").glob("*.parquet")
    assert pl.read_parquet(lines).columns == [
        "order_item_id", "order_id", "product_id", "quantity", "sale_price", "returned", "user_id", "created_at",
        "category", "total_price", "order_date", "order_month",
    ]  # fmt: skip
    # As another reader sees them: the text columns are text, whatever polars keeps them as.
    read = duckdb.sql(
        "SELECT order_item_id, order_id, product_id, user_id, category, order_month, total_price::VARCHAR,"
        f" returned FROM '{lines}' ORDER BY order_item_id"
    ).fetchall()
    assert read == [
        ("I1", "O1", "P1", "U1", "Toys", "2026-11", "20.000000", False),
        ("I2", "O1", "P2", "U1", "Books", "2026-11", "5.500000", False),
        ("I3", "O2", "P1", "U2", "Toys", "2026-11", "10.000000", True),
    ]


def test_a_later_batch_replaces_an_item_and_the_kpis_of_its_date_follow(tmp_path: Path) -> None:
    home = tmp_path / "home"
    put(home, tmp_path, "products.csv", PRODUCTS, "raw-data/products.csv")
    put(home, tmp_path, "o.csv", ORDERS, "raw-data/orders/o.csv")
    put(home, tmp_path, "i.csv", ITEMS, "raw-data/order_items/i.csv")
    invoke(home, "run", "--once")

    # Next batch: the products are known already; I1 now sells 3 units, a new order O4 on 2026-11-02.
    put(home, tmp_path, "o2.csv", "order_id,user_id,created_at\nO4,U9,2026-11-02T08:00:00\n", "raw-data/orders/o2.csv")
    put(
        home,
        tmp_path,
        "i2.csv",
        "id,order_id,product_id,price,quantity\nI1,O1,P1,10.00,3\nI9,O4,P2,2.25,2\n",
        "raw-data/order_items/i2.csv",
    )
    invoke(home, "run", "--once")

    days = {d["order_date"]: d for d in json.loads(invoke(home, "kpi", "orders", "--json"))}
    assert days["2026-11-01"]["total_revenue"] == "45.50"  # I1: 3 x 10.00 now
    assert days["2026-11-01"]["total_items_sold"] == 5
    assert (days["2026-11-02"]["total_orders"], days["2026-11-02"]["total_revenue"]) == (1, "4.50")


def test_files_copied_straight_into_the_bucket_folder_make_a_batch(tmp_path: Path) -> None:
    """A user or another tool may land files by copying them into the home's bucket folder, as
    with `aws s3 cp`; no `salesflow put` needed. A plain copy (not even a rename) is read once
    it has been still for watch.settle_seconds."""
    home = tmp_path / "home"
    raw = home / "bucket" / "raw-data"
    for name, text in (("products.csv", PRODUCTS), ("orders/o.csv", ORDERS), ("order_items/i.csv", ITEMS)):
        source = tmp_path / "outside" / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text)
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, raw / name)

    invoke(home, "run", "--once")

    (day,) = json.loads(invoke(home, "kpi", "orders", "--json"))
    assert (day["order_date"], day["total_orders"], day["total_revenue"]) == ("2026-11-01", 2, "35.50")
    (batch,) = json.loads(invoke(home, "batches", "--json"))
    assert (batch["status"], batch["read"], batch["valid"], batch["rejected"]) == ("succeeded", 13, 7, 6)
    assert not list(raw.rglob("*.csv"))
    assert sorted(p.name for p in (home / "bucket" / "archive").rglob("*.csv")) == ["i.csv", "o.csv", "products.csv"]
