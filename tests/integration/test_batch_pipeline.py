"""The batch pipeline on a real home: dedup, replacement by later batches, refused rows,
returns, configured columns, readiness, failures, crash recovery and notifications.

build_app(load_settings(home)) and Runner(app), as `salesflow run --once` wires them, on a
folder bucket and a SQLite database in tmp_path. Every KPI below is computed by hand in
the comments.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesflow.adapters.local.folder_store import FolderObjectStore
from salesflow.adapters.memory.notifier import InMemoryNotifier
from salesflow.domain.errors import PermanentError
from salesflow.domain.notices import NoticeKind
from salesflow.domain.records import Execution, ExecutionStatus
from salesflow.pipelines import batch_frames
from salesflow.ports import ObjectInfo
from salesflow.runtime.bootstrap import App, build_app
from salesflow.runtime.runner import Runner
from salesflow.runtime.settings import load_settings
from tests.integration.conftest import cli

PRODUCTS = "product_id,category,price\nP1,Toys,10.00\nP2,Books,5.00\n"
ITEMS_HEADER = "order_item_id,order_id,product_id,sale_price,quantity\n"
ORDERS_HEADER = "order_id,user_id,created_at\n"

Kpis = tuple[list[dict[str, Any]], list[dict[str, Any]]]


@contextmanager
def home(path: Path, config: str = "") -> Iterator[App]:
    """An app on a home whose salesflow.toml is [watch] settle_seconds = 0 plus config."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "salesflow.toml").write_text(f"[watch]\nsettle_seconds = 0\n{config}")
    app = build_app(load_settings(path))
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with home(tmp_path / "home") as opened:
        yield opened


def put(app: App, key: str, data: str | bytes) -> None:
    app.store.put(key, io.BytesIO(data.encode() if isinstance(data, str) else data))


def put_all(app: App, files: dict[str, str]) -> None:
    for key, text in files.items():
        put(app, key, text)


def run(app: App) -> list[Execution]:
    """Runner(app).run_once(), stopped after its first batch: a failed batch would otherwise be
    started again and again (see test_a_failed_batch_is_started_once_per_run)."""
    runner = Runner(app)
    runner.on_execution = lambda _: runner.stop.set()
    return runner.run_once()


def run_ok(app: App) -> Execution:
    [execution] = run(app)
    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    return execution


def kpis(app: App) -> Kpis:
    return app.batches.kpis("order_kpi"), app.batches.kpis("category_kpi")


def days(app: App) -> dict[str, tuple[int, str, int, str, int]]:
    """order_date -> (total_orders, total_revenue, total_items_sold, return_rate, unique_customers)"""
    return {
        r["order_date"]: (
            r["total_orders"],
            r["total_revenue"],
            r["total_items_sold"],
            r["return_rate"],
            r["unique_customers"],
        )
        for r in app.batches.kpis("order_kpi")
    }


def categories(app: App) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(category, order_date) -> (daily_revenue, avg_order_value, avg_return_rate)"""
    return {
        (r["category"], r["order_date"]): (r["daily_revenue"], r["avg_order_value"], r["avg_return_rate"])
        for r in app.batches.kpis("category_kpi")
    }


def raw_keys(app: App) -> list[str]:
    return [info.key for info in app.store.list("raw-data/")]


def clean_run(path: Path, batches: list[dict[str, str]], config: str = "") -> Kpis:
    """The KPIs of a fresh home that ran these batches, one after the other, without incident."""
    with home(path, config) as fresh:
        for files in batches:
            put_all(fresh, files)
            run_ok(fresh)
        return kpis(fresh)


# -- dedup and replacement -----------------------------------------------------------------


def test_identical_rows_count_once_and_the_last_row_of_a_key_wins(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": "product_id,category\nP1,Toys\n",
            # O2 first on 05-01, then 05-02 further down the same file, then 05-03 for U9 in the next file.
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\nO1,U1,2026-05-01\nO2,U2,2026-05-01\n"
            "O2,U2,2026-05-02\n",
            "raw-data/orders/b.csv": f"{ORDERS_HEADER}O3,U3,2026-05-01\nO2,U9,2026-05-03\n",
            # I1 twice the same; I3 at 3.00 x 1, then 4.00 x 2.
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,1.00,1\nI1,O1,P1,1.00,1\nI2,O2,P1,2.00,1\n"
            "I3,O3,P1,3.00,1\nI3,O3,P1,4.00,2\n",
        },
    )
    run_ok(app)

    assert days(app) == {
        "2026-05-01": (2, "9.00", 3, "0.0000", 2),  # O1 1.00 x 1, O3 4.00 x 2
        "2026-05-03": (1, "2.00", 1, "0.0000", 1),  # O2, last seen in orders/b.csv
    }
    [batch] = cli(app.settings.home, "batches", "--json").json()
    # 1 product, 6 orders, 5 items read; removed: O1 once, O2 twice, I1 once, I3 once.
    assert (batch["read"], batch["valid"], batch["rejected"], batch["duplicates_removed"]) == (12, 12, 0, 5)


def test_a_replaced_item_is_a_duplicate_and_only_the_last_of_its_key_can_be_refused_as_unknown(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\n",
            # I1: first of an unknown order, then of O1 (a line). I2: first of O1, then of an unknown
            # product (refused, and no line: the earlier row was replaced). I3: unknown, twice the same.
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O9,P1,1.00,1\nI1,O1,P1,1.00,1\nI2,O1,P1,2.00,1\n"
            "I2,O1,P9,2.00,1\nI3,O8,P1,3.00,1\nI3,O8,P1,3.00,1\n",
        },
    )
    run_ok(app)

    assert refused(app) == [
        ("raw-data/order_items/a.csv", 4, ["unknown_product"]),
        ("raw-data/order_items/a.csv", 6, ["unknown_order"]),
    ]
    assert days(app) == {"2026-05-01": (1, "1.00", 1, "0.0000", 1)}  # I1's line alone
    [batch] = cli(app.settings.home, "batches", "--json").json()
    # 2 products, 1 order, 6 items read, all valid as rows; I1, I2 and I3 once each removed; 2 refused.
    assert (batch["read"], batch["valid"], batch["rejected"], batch["duplicates_removed"]) == (9, 7, 2, 3)


class SlowToOpen(FolderObjectStore):
    """The bucket, where one file takes a while to open: read beside the others (two files
    at a time), it is done after the file that follows it."""

    slow = "raw-data/orders/a.csv"

    def open(self, key: str) -> IO[bytes]:
        if key == self.slow:
            time.sleep(0.3)
        return super().open(key)


def test_files_read_side_by_side_still_count_in_name_order(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            # O1 on 05-01 in a.csv, then on 05-02 in b.csv: b.csv's row is the last, even though
            # a.csv is read after it.
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\n",
            "raw-data/orders/b.csv": f"{ORDERS_HEADER}O1,U1,2026-05-02\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,5.00,1\n",
        },
    )
    app.batch.store = SlowToOpen(app.settings.bucket)
    run_ok(app)
    assert days(app) == {"2026-05-02": (1, "5.00", 1, "0.0000", 1)}


def test_a_later_batch_replaces_an_item_and_an_order_moved_to_another_date(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\nO2,U2,2026-05-01\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,5.00,1\nI2,O2,P1,3.00,1\nI3,O2,P2,1.00,1\n",
        },
    )
    run_ok(app)
    assert days(app) == {"2026-05-01": (2, "9.00", 3, "0.0000", 2)}

    # O1 moves to 05-02; I3 now sells 4 units.
    put(app, "raw-data/orders/b.csv", f"{ORDERS_HEADER}O1,U1,2026-05-02T09:00:00Z\n")
    put(app, "raw-data/order_items/b.csv", f"{ITEMS_HEADER}I3,O2,P2,1.00,4\n")
    run_ok(app)

    assert days(app) == {
        "2026-05-01": (1, "7.00", 5, "0.0000", 1),  # O2: 3.00 + 4 x 1.00
        "2026-05-02": (1, "5.00", 1, "0.0000", 1),  # O1
    }
    assert categories(app) == {
        ("Books", "2026-05-01"): ("4.00", "4.00", "0.0000"),
        ("Toys", "2026-05-01"): ("3.00", "3.00", "0.0000"),
        ("Toys", "2026-05-02"): ("5.00", "5.00", "0.0000"),
    }


def test_an_order_moved_to_another_date_leaves_its_old_date_recomputed_on_its_own(app: App) -> None:
    # Nothing else of the second batch is on the old date: only the order's move tells it.
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\nO2,U2,2026-05-03\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,5.00,1\nI2,O2,P1,3.00,1\n",
        },
    )
    run_ok(app)
    put(app, "raw-data/orders/b.csv", f"{ORDERS_HEADER}O1,U1,2026-05-02\n")
    put(app, "raw-data/order_items/b.csv", f"{ITEMS_HEADER}I2,O2,P1,3.00,2\n")
    run_ok(app)

    assert days(app) == {
        "2026-05-02": (1, "5.00", 1, "0.0000", 1),  # O1, moved here: 05-01 has no order left
        "2026-05-03": (1, "6.00", 2, "0.0000", 1),  # O2: 2 x 3.00
    }


def test_a_state_stored_as_parquet_by_an_earlier_version_is_read_by_the_next_batch(app: App) -> None:
    """Until 2026-11-26 the state was Parquet (processed/state/<table>/<batch>.parquet, with the
    row numbers and sources of its rows); a home left so goes on from it."""
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\nO2,U2,2026-05-01\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,5.00,1\nI2,O2,P1,3.00,1\n",
        },
    )
    run_ok(app)
    for table, key in app.batches.state_keys().items():
        assert key.endswith(".arrow")
        with app.store.open(key) as stream:
            frame = pl.read_ipc(stream).with_columns(pl.lit(1, pl.UInt32).alias("_row"))
        old_key = key.removesuffix(".arrow") + ".parquet"
        with app.store.writer(old_key) as out:
            frame.write_parquet(out)
        app.store.delete(key)
        with closing(sqlite3.connect(app.settings.database)) as conn, conn:
            conn.execute("UPDATE batch_state SET key = ? WHERE table_name = ?", (old_key, table))

    put(app, "raw-data/orders/b.csv", f"{ORDERS_HEADER}O1,U1,2026-05-02T09:00:00Z\n")
    put(app, "raw-data/order_items/b.csv", f"{ITEMS_HEADER}I2,O2,P1,3.00,2\n")
    run_ok(app)

    assert days(app) == {
        "2026-05-01": (1, "6.00", 2, "0.0000", 1),  # O2: 2 x 3.00
        "2026-05-02": (1, "5.00", 1, "0.0000", 1),  # O1
    }
    assert all(key.endswith(".arrow") for key in app.batches.state_keys().values())
    assert not [info.key for info in app.store.list("processed/state/") if info.key.endswith(".parquet")]


def test_an_item_moved_to_an_order_of_another_date_leaves_its_old_date_recomputed(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\nO2,U2,2026-05-02\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,1.00,1\nI2,O2,P1,2.00,1\nI3,O2,P1,4.00,1\n",
        },
    )
    run_ok(app)

    # I3 now belongs to O1 (05-01); O3 is new, without items.
    put(app, "raw-data/orders/b.csv", f"{ORDERS_HEADER}O3,U3,2026-05-05\n")
    put(app, "raw-data/order_items/b.csv", f"{ITEMS_HEADER}I3,O1,P1,4.00,1\n")
    run_ok(app)

    assert days(app) == {
        "2026-05-01": (1, "5.00", 2, "0.0000", 1),  # I1 + I3
        "2026-05-02": (1, "2.00", 1, "0.0000", 1),  # I2 alone now
    }


def test_a_product_that_changes_category_moves_its_revenue_on_every_date(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": "product_id,category\nP1,Toys\nP2,Books\nP3,Toys\n",
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\nO2,U2,2026-05-02\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,10.00,1\nI2,O1,P2,5.00,1\nI3,O1,P3,1.00,1\n"
            "I4,O2,P1,3.00,1\nI5,O2,P3,2.00,1\n",
        },
    )
    run_ok(app)
    assert categories(app)[("Toys", "2026-05-01")] == ("11.00", "11.00", "0.0000")

    # P1 becomes a book. A batch needs orders and items too: O3 on 05-03 buys P2.
    put(app, "raw-data/products.csv", "product_id,category\nP1,Books\n")
    put(app, "raw-data/orders/b.csv", f"{ORDERS_HEADER}O3,U3,2026-05-03\n")
    put(app, "raw-data/order_items/b.csv", f"{ITEMS_HEADER}I6,O3,P2,1.00,1\n")
    run_ok(app)

    assert categories(app) == {
        ("Books", "2026-05-01"): ("15.00", "15.00", "0.0000"),  # P1 10.00 + P2 5.00
        ("Books", "2026-05-02"): ("3.00", "3.00", "0.0000"),
        ("Books", "2026-05-03"): ("1.00", "1.00", "0.0000"),
        ("Toys", "2026-05-01"): ("1.00", "1.00", "0.0000"),  # P3 alone
        ("Toys", "2026-05-02"): ("2.00", "2.00", "0.0000"),
    }


def test_a_date_or_category_left_without_lines_has_no_kpis_left(tmp_path: Path, app: App) -> None:
    first = {
        "raw-data/products.csv": "product_id,category\nP1,Toys\n",
        "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\n",
        "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,1.00,1\n",
    }
    # O1 moves to 05-02 and P1 becomes a book: nothing is sold on 05-01 any more, and no toys at all.
    second = {
        "raw-data/products.csv": "product_id,category\nP1,Books\n",
        "raw-data/orders/b.csv": f"{ORDERS_HEADER}O1,U1,2026-05-02\n",
        "raw-data/order_items/b.csv": f"{ITEMS_HEADER}I1,O1,P1,1.00,1\n",
    }
    put_all(app, first)
    run_ok(app)
    put_all(app, second)
    run_ok(app)

    assert days(app) == {"2026-05-02": (1, "1.00", 1, "0.0000", 1)}
    assert categories(app) == {("Books", "2026-05-02"): ("1.00", "1.00", "0.0000")}
    assert kpis(app) == clean_run(tmp_path / "clean", [{**first, **second}])


# -- refused rows ----------------------------------------------------------------------------


def refused(app: App) -> list[tuple[str, int, list[str]]]:
    rows = cli(app.settings.home, "sql", "SELECT key, row, reasons FROM rejected_rows ORDER BY key, row", "--json")
    return [(r["key"], r["row"], json.loads(r["reasons"])) for r in rows.json()]


def test_items_of_unknown_orders_or_products_are_refused_against_the_batch_and_stored_data(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,1.00,1\nI2,O9,P1,1.00,1\nI3,O1,P9,1.00,1\n"
            "I4,O9,P9,1.00,1\n",
        },
    )
    run_ok(app)
    assert refused(app) == [
        ("raw-data/order_items/a.csv", 2, ["unknown_order"]),
        ("raw-data/order_items/a.csv", 3, ["unknown_product"]),
        ("raw-data/order_items/a.csv", 4, ["unknown_order", "unknown_product"]),
    ]

    # O1 and the products are stored; O2 comes in this batch; O8 nowhere.
    put(app, "raw-data/orders/b.csv", f"{ORDERS_HEADER}O2,U2,2026-05-01\n")
    put(app, "raw-data/order_items/b.csv", f"{ITEMS_HEADER}I5,O1,P2,2.00,1\nI6,O2,P1,3.00,1\nI7,O8,P1,1.00,1\n")
    run_ok(app)

    assert refused(app)[3:] == [("raw-data/order_items/b.csv", 3, ["unknown_order"])]
    assert days(app) == {"2026-05-01": (2, "6.00", 3, "0.0000", 2)}  # I1 1.00, I5 2.00, I6 3.00


def test_refused_rows_go_to_a_rejected_csv_with_their_reasons(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,-1,1\nI2,O9,P1,1.0,+2\nI3,O1,P1,1.00,1\n",
        },
    )
    execution = run_ok(app)
    [batch] = app.batches.batches()
    assert batch.execution_id == execution.id
    with app.store.open(f"rejected/{batch.id}/order_items/a.csv") as stream:
        rows = list(csv.DictReader(io.StringIO(stream.read().decode())))
    assert [(r["order_item_id"], r["reasons"]) for r in rows] == [("I1", "invalid_sale_price"), ("I2", "unknown_order")]
    # Refused after the join (unknown_order), a row still reads as it came, not as parsed:
    # 1.0 and +2, not 1.000000 and 2.
    assert (rows[1]["sale_price"], rows[1]["quantity"]) == ("1.0", "+2")
    [record] = cli(app.settings.home, "sql", "SELECT record FROM rejected_rows WHERE row = 2", "--json").json()
    assert json.loads(record["record"]) == {
        "order_item_id": "I2", "order_id": "O9", "product_id": "P1", "sale_price": "1.0", "quantity": "+2",
    }  # fmt: skip


# -- returns ---------------------------------------------------------------------------------


def test_item_status_decides_returns_and_without_it_the_order_status_does(app: App) -> None:
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": "order_id,user_id,created_at,status,returned_at\n"
            "O1,U1,2026-05-01,Returned,\nO2,U2,2026-05-01,Complete,\nO3,U3,2026-05-01,,2026-05-09\n"
            "O4,U4,2026-05-02,RETURNED,\nO5,U5,2026-05-02,Complete,\nO6,U6,2026-05-02,Complete,\n",
            # 05-01: the items have no status of their own, so the orders' decide.
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I11,O1,P1,1,1\nI12,O1,P2,1,1\nI21,O2,P1,1,1\nI31,O3,P2,1,1\n",
            # 05-02: the items' status and returned_at decide, whatever their order says.
            "raw-data/order_items/b.csv": "order_item_id,order_id,product_id,sale_price,status,returned_at\n"
            "I41,O4,P1,1,Complete,\nI51,O5,P1,1,returned,\nI52,O5,P2,1,,\nI61,O6,P2,1,,2026-05-09\n",
        },
    )
    run_ok(app)

    assert days(app) == {
        "2026-05-01": (3, "4.00", 4, "0.6667", 3),  # O1 and O3 returned
        "2026-05-02": (3, "4.00", 4, "0.6667", 3),  # O5 and O6; not O4, whose item was kept
    }
    assert categories(app) == {
        ("Books", "2026-05-01"): ("2.00", "1.00", "1.0000"),  # O1, O3: both returned
        ("Toys", "2026-05-01"): ("2.00", "1.00", "0.5000"),  # O1 returned, O2 not
        ("Books", "2026-05-02"): ("2.00", "1.00", "0.5000"),  # O5's book kept, O6's returned
        ("Toys", "2026-05-02"): ("2.00", "1.00", "0.5000"),  # O4's toy kept, O5's returned
    }


# -- configured columns ------------------------------------------------------------------------

MAPPED = """
[batch]
item_key = ["order_id", "order_item_id"]
[batch.columns.orders]
created_at = "order_purchase_timestamp"
status = "order_status"
[batch.columns.products]
category = "product_category_name"
[batch.columns.order_items]
order_item_id = "line"
sale_price = "amount"
"""


def test_columns_mapped_in_salesflow_toml_and_an_item_key_of_two_columns(tmp_path: Path) -> None:
    with home(tmp_path / "home", MAPPED) as app:
        put_all(
            app,
            {
                "raw-data/products.csv": "product_id,product_category_name\nP1,toys\nP2,books\n",
                "raw-data/orders/a.csv": "order_id,customer_id,order_purchase_timestamp,order_status\n"
                "O1,U1,2026-05-01 10:00:00,delivered\nO2,U2,2026-05-01 11:00:00,returned\n",
                # Line 1 is in both orders: two items, not one.
                "raw-data/order_items/a.csv": "order_id,line,product_id,amount\n"
                "O1,1,P1,10.00\nO1,2,P1,5.00\nO2,1,P2,7.00\n",
            },
        )
        run_ok(app)
        assert days(app) == {"2026-05-01": (2, "22.00", 3, "0.5000", 2)}

        # (O1, 2) costs 6.00 now; (O1, 1) and (O2, 1) stay. O3 has no items yet.
        put(app, "raw-data/orders/b.csv", "order_id,customer_id,order_purchase_timestamp\nO3,U3,2026-05-02\n")
        put(app, "raw-data/order_items/b.csv", "order_id,line,product_id,amount\nO1,2,P1,6.00\n")
        run_ok(app)

        assert days(app) == {"2026-05-01": (2, "23.00", 3, "0.5000", 2)}
        assert categories(app) == {
            ("books", "2026-05-01"): ("7.00", "7.00", "1.0000"),
            ("toys", "2026-05-01"): ("16.00", "16.00", "0.0000"),
        }


# -- readiness -------------------------------------------------------------------------------


def test_products_alone_wait_and_orders_without_products_wait(app: App) -> None:
    put(app, "raw-data/orders/a.csv", f"{ORDERS_HEADER}O1,U1,2026-05-01\n")
    put(app, "raw-data/order_items/a.csv", f"{ITEMS_HEADER}I1,O1,P1,1.00,1\n")
    assert run(app) == []  # no products known: the items could only be refused

    put(app, "raw-data/products.csv", PRODUCTS)
    run_ok(app)
    assert days(app) == {"2026-05-01": (1, "1.00", 1, "0.0000", 1)}

    put(app, "raw-data/products.csv", "product_id,category\nP3,Games\n")
    assert run(app) == []  # products alone
    put(app, "raw-data/orders/b.csv", f"{ORDERS_HEADER}O2,U2,2026-05-02\n")
    assert run(app) == []  # still no items
    assert sorted(raw_keys(app)) == ["raw-data/orders/b.csv", "raw-data/products.csv"]

    # Products are stored now: orders and items are enough.
    put(app, "raw-data/order_items/b.csv", f"{ITEMS_HEADER}I2,O2,P3,2.00,1\n")
    run_ok(app)
    assert ("Games", "2026-05-02") in categories(app)
    assert raw_keys(app) == []


def info(key: str, modified_at: float) -> ObjectInfo:
    return ObjectInfo(key=key, size=10, version=f"v-{modified_at}", modified_at=modified_at)


def test_a_batch_waits_while_files_are_still_arriving_unless_it_is_full(tmp_path: Path) -> None:
    with home(tmp_path / "home", "[batch]\nsettle_seconds = 10\nmax_files = 4\n") as app:
        pipeline = app.batch
        assert pipeline.register(info("raw-data/products.csv", 1000.0))
        assert pipeline.register(info("raw-data/orders/a.csv", 1005.0))
        assert pipeline.ready(now=1100.0) is None  # no items
        assert pipeline.register(info("raw-data/order_items/a.csv", 1008.0))
        assert not pipeline.register(info("raw-data/notes.txt", 1008.0))  # not a batch input

        files = ["raw-data/order_items/a.csv", "raw-data/orders/a.csv", "raw-data/products.csv"]
        assert pipeline.ready(now=1017.9) is None  # the last file came 9.9 s ago
        assert sorted(pipeline.ready(now=1018.0) or []) == files
        assert sorted(pipeline.ready(now=1009.0, at_once=True) or []) == files  # run --once

        # A fourth file makes the batch full: it starts although files are still coming.
        assert pipeline.register(info("raw-data/orders/b.csv", 1020.0))
        assert sorted(pipeline.ready(now=1020.5) or []) == sorted([*files, "raw-data/orders/b.csv"])


class ReceivesFilesDuringTheBatch(FolderObjectStore):
    """The home's bucket, where new raw files land while the batch reads its first file."""

    def __init__(self, root: Path, arriving: dict[str, str]) -> None:
        super().__init__(root)
        self.arriving = arriving

    def open(self, key: str) -> IO[bytes]:
        for new_key, text in self.arriving.items():
            self.put(new_key, io.BytesIO(text.encode()))
        self.arriving = {}
        return super().open(key)


def test_files_arriving_during_a_batch_form_the_next_batch(app: App) -> None:
    late = {
        "raw-data/orders/late.csv": f"{ORDERS_HEADER}O2,U2,2026-05-02\n",
        "raw-data/order_items/late.csv": f"{ITEMS_HEADER}I2,O2,P1,2.00,1\n",
    }
    app.batch.store = ReceivesFilesDuringTheBatch(app.settings.bucket, late)
    put_all(
        app,
        {
            "raw-data/products.csv": PRODUCTS,
            "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\n",
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,1.00,1\n",
        },
    )
    run_ok(app)
    assert sorted(raw_keys(app)) == sorted(late)
    assert list(days(app)) == ["2026-05-01"]

    run_ok(app)
    assert list(days(app)) == ["2026-05-01", "2026-05-02"]
    newest, _ = app.batches.batches()
    assert sorted(newest.files) == sorted(late)


# -- failures --------------------------------------------------------------------------------

FIRST = {
    "raw-data/products.csv": PRODUCTS,
    "raw-data/orders/a.csv": f"{ORDERS_HEADER}O1,U1,2026-05-01\n",
    "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,10.00,2\n",
}
SECOND = {
    "raw-data/orders/b.csv": f"{ORDERS_HEADER}O2,U2,2026-05-01\nO3,U3,2026-05-02\n",
    "raw-data/order_items/b.csv": f"{ITEMS_HEADER}I2,O2,P2,5.00,1\nI3,O3,P1,1.00,3\nI1,O1,P1,10.00,1\n",
}
SECOND_BROKEN = {**SECOND, "raw-data/orders/b.csv": "order_id,user_id\nO2,U2\nO3,U3\n"}


def test_a_failed_batch_keeps_its_raw_files_and_the_previous_kpis_and_a_fixed_retry_succeeds(
    tmp_path: Path, app: App
) -> None:
    put_all(app, FIRST)
    run_ok(app)
    before = kpis(app)
    exported = app.store.path("processed/kpi/order_kpi.parquet").read_bytes()

    put_all(app, SECOND_BROKEN)
    [failed] = run(app)
    assert failed.status == ExecutionStatus.FAILED
    assert failed.error is not None
    assert "raw-data/orders/b.csv" in failed.error
    assert "'created_at'" in failed.error
    assert "[batch.columns.orders] created_at" in failed.error
    assert sorted(raw_keys(app)) == sorted(SECOND)
    assert kpis(app) == before
    assert app.store.path("processed/kpi/order_kpi.parquet").read_bytes() == exported
    assert [b.status for b in app.batches.batches()] == ["failed", "succeeded"]

    put(app, "raw-data/orders/b.csv", SECOND["raw-data/orders/b.csv"])  # fixed, under the same key
    run_ok(app)
    assert raw_keys(app) == []
    assert kpis(app) == clean_run(tmp_path / "clean", [FIRST, SECOND])
    assert days(app) == {
        "2026-05-01": (2, "15.00", 2, "0.0000", 2),  # I1 now 10.00 x 1, I2 5.00
        "2026-05-02": (1, "3.00", 3, "0.0000", 1),
    }


def test_kpis_failing_in_the_publish_step_publish_none_of_the_batch(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    # The refused rows are written while the KPIs are computed, in the same transaction: a
    # failure of the KPIs takes them back with everything else of the batch.
    put_all(app, FIRST)
    run_ok(app)
    before = kpis(app)

    def broken(lines: pl.DataFrame) -> Any:
        raise PermanentError("the KPI step broke")

    monkeypatch.setattr(batch_frames, "kpis", broken)
    put_all(app, {**SECOND, "raw-data/order_items/b.csv": SECOND["raw-data/order_items/b.csv"] + "I9,O2,P1,-1,1\n"})
    [failed] = run(app)

    assert failed.status == ExecutionStatus.FAILED
    assert "the KPI step broke" in (failed.error or "")
    assert kpis(app) == before
    [newest, _] = app.batches.batches()
    with closing(sqlite3.connect(app.settings.database)) as conn:
        refused = conn.execute("SELECT count(*) FROM rejected_rows WHERE batch_id = ?", (newest.id,)).fetchone()
    assert refused == (0,)
    assert sorted(raw_keys(app)) == sorted(SECOND)


def test_a_failed_batch_is_started_once_per_run(app: App) -> None:
    put_all(app, {**FIRST, **SECOND_BROKEN})
    runner = Runner(app)
    seen: list[Execution] = []

    def count(execution: Execution) -> None:
        seen.append(execution)
        if len(seen) == 3:  # give up on the run instead of hanging the test
            runner.stop.set()

    runner.on_execution = count
    executions = runner.run_once()
    # Nothing changed after the failure: starting the same batch again can only fail again.
    assert [e.status for e in executions] == [ExecutionStatus.FAILED]


def test_an_unreadable_file_fails_the_batch_with_a_message_naming_it(app: App) -> None:
    put_all(app, FIRST)
    put(app, "raw-data/orders/a.csv", f"{ORDERS_HEADER}O1,".encode() + "Zoë".encode("latin-1") + b",2026-05-01\n")
    [failed] = run(app)
    assert failed.status == ExecutionStatus.FAILED
    assert failed.error is not None
    assert "raw-data/orders/a.csv" in failed.error
    assert "UTF-8" in failed.error
    assert sorted(raw_keys(app)) == sorted(FIRST)
    assert kpis(app) == ([], [])


# -- crash recovery ----------------------------------------------------------------------------


class Crash(Exception):
    """Not a SalesflowError: the process dies here, as on a power cut."""


class CrashesOnMove(FolderObjectStore):
    """The bucket, where the process dies at the second archive move (after publish)."""

    moves = 0

    def move(self, key: str, new_key: str) -> None:
        self.moves += 1
        if self.moves == 2:
            raise Crash(f"power cut while moving {key}")
        super().move(key, new_key)


class CrashesOnStateWrite(FolderObjectStore):
    """The bucket, where the process dies writing the new processed state (before publish)."""

    def writer(self, key: str) -> AbstractContextManager[IO[bytes]]:
        if key.startswith("processed/state/"):
            raise Crash(f"power cut while writing {key}")
        return super().writer(key)


def start_and_crash(app: App, store: FolderObjectStore) -> None:
    """Register the raw files and run their batch on a bucket where the process dies."""
    for raw in app.store.list("raw-data/"):
        app.batch.register(raw)
    files = app.batch.ready(now=0.0, at_once=True)
    assert files is not None
    app.batch.store = store
    with pytest.raises(Crash):
        app.batch.run(files)
    app.batch.store = app.store
    [running] = app.batches.batches(status="running")
    assert sorted(running.files) == sorted(files)


def test_a_batch_that_crashed_after_publish_is_finished_on_the_next_start(tmp_path: Path, app: App) -> None:
    put_all(app, FIRST)
    start_and_crash(app, CrashesOnMove(app.settings.bucket))
    [running] = app.batches.batches(status="running")
    assert running.published
    assert len(raw_keys(app)) == 2  # one file archived before the crash

    [recovered] = Runner(app).recover()

    assert recovered.status == ExecutionStatus.SUCCEEDED
    assert [b.status for b in app.batches.batches()] == ["succeeded"]
    assert raw_keys(app) == []
    archived = sorted(info.key.split("/", 2)[2] for info in app.store.list("archive/"))
    assert archived == sorted(key.removeprefix("raw-data/") for key in FIRST)
    assert kpis(app) == clean_run(tmp_path / "clean", [FIRST])
    assert run(app) == []  # nothing left to do, nothing done twice


def test_a_batch_that_crashed_before_publish_is_rolled_back_on_the_next_start(tmp_path: Path, app: App) -> None:
    put_all(app, FIRST)
    run_ok(app)
    before = kpis(app)
    put_all(app, SECOND)
    start_and_crash(app, CrashesOnStateWrite(app.settings.bucket))
    assert kpis(app) == before  # nothing of the crashed batch is visible

    [recovered] = Runner(app).recover()

    assert recovered.status == ExecutionStatus.FAILED
    assert recovered.error is not None
    assert "rolled back" in recovered.error
    assert kpis(app) == before
    assert sorted(raw_keys(app)) == sorted(SECOND)  # pending again, for the next batch
    run_ok(app)
    assert kpis(app) == clean_run(tmp_path / "clean", [FIRST, SECOND])
    assert raw_keys(app) == []


def test_a_rolled_back_batch_leaves_no_processed_lines_behind(app: App) -> None:
    put_all(app, FIRST)
    start_and_crash(app, CrashesOnStateWrite(app.settings.bucket))
    Runner(app).recover()
    [crashed] = app.batches.batches()
    run_ok(app)
    [succeeded] = [b for b in app.batches.batches() if b.status == "succeeded"]

    # Readers of processed/ must not count the lines of a batch that never happened.
    lines = [info.key for info in app.store.list("processed/lines/")]
    assert lines == [f"processed/lines/{succeeded.id}.parquet"], f"left by {crashed.id}"


# -- notifications ----------------------------------------------------------------------------


def test_a_batch_tells_its_success_with_the_counts_and_its_failure_with_the_error(app: App) -> None:
    notifier = InMemoryNotifier()
    app.batch.notifier = notifier
    put_all(
        app,
        {
            **FIRST,
            "raw-data/order_items/a.csv": f"{ITEMS_HEADER}I1,O1,P1,10.00,2\nI1,O1,P1,10.00,2\nI2,O1,P1,0,1\n",
        },
    )
    ok = run_ok(app)
    [success] = notifier.notices
    assert success.kind is NoticeKind.EXECUTION_SUCCEEDED
    assert success.details["execution"] == ok.id
    # 2 products, 1 order, 3 items read; I2 refused; the second I1 removed.
    counts = {name: success.details[name] for name in ("read", "valid", "rejected", "duplicates_removed")}
    assert counts == {"read": 6, "valid": 5, "rejected": 1, "duplicates_removed": 1}
    assert "6 rows read" in success.summary

    put_all(app, SECOND_BROKEN)
    failed = run(app)[0]
    [failure] = notifier.notices[1:]
    assert failure.kind is NoticeKind.EXECUTION_FAILED
    assert failure.details["execution"] == failed.id
    assert failure.details["error"] == failed.error
    assert failed.error is not None
    assert failed.error in failure.summary
    assert "raw files stay in raw-data/" in failure.summary


# -- any split, the same KPIs -------------------------------------------------------------------


ORDERS_WITH_STATUS = "order_id,user_id,created_at,status\n"
ITEMS_WITH_STATUS = "order_item_id,order_id,product_id,sale_price,quantity,status\n"
SPLIT_PRODUCTS = "product_id,category\nP0,Toys\nP1,Books\nP2,Toys\n"


@dataclass(frozen=True)
class Split:
    """Rows of orders and items (without header) per batch, in the order the batches run."""

    orders: list[list[str]]
    items: list[list[str]]

    def batches(self) -> list[dict[str, str]]:
        files = [
            {
                f"raw-data/orders/{n}.csv": ORDERS_WITH_STATUS + "".join(orders),
                f"raw-data/order_items/{n}.csv": ITEMS_WITH_STATUS + "".join(items),
            }
            for n, (orders, items) in enumerate(zip(self.orders, self.items, strict=True))
        ]
        files[0]["raw-data/products.csv"] = SPLIT_PRODUCTS
        return files

    def one_batch(self) -> dict[str, str]:
        return {
            "raw-data/products.csv": SPLIT_PRODUCTS,
            "raw-data/orders/all.csv": ORDERS_WITH_STATUS + "".join(row for rows in self.orders for row in rows),
            "raw-data/order_items/all.csv": ITEMS_WITH_STATUS + "".join(row for rows in self.items for row in rows),
        }


@st.composite
def splits(draw: st.DrawFn) -> Split:
    """Orders and items (distinct keys, some rows repeated unchanged) split into 1-3 batches,
    each with orders and items. An item comes with its order or after it: an item whose order
    is not known yet is refused as unknown_order (as it must be), so no split could match one
    batch then."""
    count = draw(st.integers(1, 5))
    batches = draw(st.integers(1, min(count, 3)))
    # The first `batches` orders open one batch each (in any order); the others go anywhere.
    order_batch = list(draw(st.permutations(range(batches))))
    order_batch += [draw(st.integers(0, batches - 1)) for _ in range(count - batches)]
    orders: list[list[str]] = [[] for _ in range(batches)]
    items: list[list[str]] = [[] for _ in range(batches)]
    for n, b in enumerate(order_batch):
        hour, offset = draw(st.integers(0, 47)), draw(st.sampled_from(["", "Z", "+09:00", "-05:00"]))
        status = draw(st.sampled_from(["Complete", "Returned"]))
        row = f"O{n},U{draw(st.integers(1, 3))},2026-05-0{1 + hour // 24}T{hour % 24:02}:30:00{offset},{status}\n"
        orders[b].append(row)
        if draw(st.booleans()):  # the same row again, unchanged, in this batch or a later one
            orders[draw(st.integers(b, batches - 1))].append(row)
    # Each batch gets an item of its first order; the other items go with their order or later.
    owners = list(range(batches)) + draw(st.lists(st.integers(0, count - 1), max_size=6))
    for n, order in enumerate(owners):
        b = order_batch[order] if n < batches else draw(st.integers(order_batch[order], batches - 1))
        price = draw(st.decimals(min_value="0.001", max_value="99.999", places=3))
        status = draw(st.sampled_from(["", "", "Returned"]))
        row = f"I{n},O{order},P{draw(st.integers(0, 2))},{price},{draw(st.integers(1, 4))},{status}\n"
        items[b].append(row)
        if draw(st.booleans()):
            items[draw(st.integers(b, batches - 1))].append(row)
    return Split(orders, items)


@settings(max_examples=20, deadline=None)
@given(split=splits())
def test_any_split_of_the_data_into_batches_gives_the_kpis_of_one_batch(split: Split) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        whole = clean_run(Path(tmp, "whole"), [split.one_batch()])
        in_parts = clean_run(Path(tmp, "parts"), split.batches())
    assert whole[0]  # the data make KPIs
    assert in_parts == whole
