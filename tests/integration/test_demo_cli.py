"""The quick start: `salesflow run --demo --once` on an empty home."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from salesflow.cli.main import app


def invoke(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.stdout


def test_demo_processes_samples_and_quarantines_the_broken_one(tmp_path: Path) -> None:
    code, _ = invoke(tmp_path, "run", "--demo", "--once")
    assert code == 1  # the truncated sample fails, so --once reports a failure

    _, out = invoke(tmp_path, "executions", "--json")
    executions = {e["key"]: e for e in json.loads(out)}
    assert executions["orders/orders-2026-11-01.json"]["status"] == "succeeded"
    assert executions["orders/orders-2026-11-01.json"]["stored"] == 3
    assert executions["orders/orders-truncated.json"]["status"] == "failed"
    assert (tmp_path / "bucket/quarantine/orders/orders-truncated.json.reason.json").is_file()

    _, out = invoke(tmp_path, "dlq", "list", "--reason", "malformed_json", "--json")
    letters = json.loads(out)
    assert [(letter["key"], letter["position"]) for letter in letters] == [("orders/orders-2026-11-02.jsonl", 4)]


def test_demo_runs_a_batch_of_sample_csvs_into_kpis_with_its_refused_rows(tmp_path: Path) -> None:
    invoke(tmp_path, "run", "--demo", "--once")

    _, out = invoke(tmp_path, "batches", "--json")
    [batch] = json.loads(out)
    assert batch["status"] == "succeeded"
    assert (batch["read"], batch["valid"], batch["rejected"], batch["duplicates_removed"]) == (21, 17, 4, 1)
    _, out = invoke(tmp_path, "kpi", "orders", "--json")
    days = {
        row["order_date"]: (row["total_orders"], row["total_revenue"], row["return_rate"]) for row in json.loads(out)
    }
    assert days == {
        "2026-05-01": (2, "247.40", "0.0000"),  # O1 89.90 + 3 x 12.50, O2 120.00 (12:30 UTC)
        "2026-05-02": (2, "269.80", "0.5000"),  # O3 (a returned item) 75.00 + 2 x 12.50, O4 2 x 84.90
        "2026-05-03": (1, "12.50", "0.0000"),  # O5: one item refused (price), one unknown (product)
    }
    _, out = invoke(tmp_path, "sql", "SELECT key, row, reasons FROM rejected_rows ORDER BY key, row", "--json")
    assert [(r["key"], r["row"], json.loads(r["reasons"])) for r in json.loads(out)] == [
        ("raw-data/order_items/items-2026-05.csv", 7, ["invalid_sale_price"]),
        ("raw-data/order_items/items-2026-05.csv", 8, ["unknown_product"]),
        ("raw-data/orders/orders-2026-05.csv", 6, ["invalid_created_at"]),
        ("raw-data/products.csv", 5, ["missing_category"]),
    ]
