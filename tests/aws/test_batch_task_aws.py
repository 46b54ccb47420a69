"""The batch container's steps, in-process against moto: the same KPIs as the embedded face."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from salesflow.adapters.aws import s3_conditional_file
from salesflow.adapters.aws.dynamo_kpis import DynamoKpiTables
from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.aws import batch_task
from salesflow.aws.handlers import batch_gate
from salesflow.pipelines.batch import BatchSettings
from salesflow.runtime.bootstrap import build_app
from salesflow.runtime.runner import Runner
from salesflow.runtime.settings import load_settings
from tests.aws.moto import AwsWorld

PRODUCTS = "product_id,category,price,name\nP1,Toys,10.00,Kite\nP2,Books,5.00,Atlas\nP3,Toys,7.50,Yo-yo\n"
ORDERS = (
    "order_id,user_id,created_at,status\n"
    "O1,U1,2026-11-01T09:00:00Z,Complete\n"
    "O2,U2,2026-11-01T17:30:00Z,Complete\n"
    "O3,U1,2026-11-02T08:00:00Z,Returned\n"
    "O4,U3,not-a-date,Complete\n"
)
ITEMS = (
    "order_item_id,order_id,product_id,sale_price,quantity,status\n"
    "I1,O1,P1,10.00,2,Complete\n"
    "I2,O1,P2,5.00,1,Complete\n"
    "I3,O2,P3,7.49,3,Complete\n"
    "I4,O3,P1,9.99,1,Returned\n"
    "I5,O9,P1,1.00,1,Complete\n"
    "I2,O1,P2,5.00,1,Complete\n"
)
FILES = {
    "raw-data/products.csv": PRODUCTS,
    "raw-data/orders/orders-1.csv": ORDERS,
    "raw-data/order_items/items-1.csv": ITEMS,
}


def embedded_kpis(home: Path, *batches: dict[str, str]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """What `salesflow run --once` computes on a laptop, one run per batch of files."""
    home.mkdir()
    (home / "salesflow.toml").write_text("[watch]\nsettle_seconds = 0\n")
    app = build_app(load_settings(home))
    try:
        for files in batches:
            for key, text in files.items():
                app.store.put(key, io.BytesIO(text.encode()))
            runner = Runner(app)
            runner.on_execution = lambda _, r=runner: r.stop.set()
            [execution] = runner.run_once()
            assert execution.status == "succeeded", execution.error
        return app.batches.kpis("order_kpi"), app.batches.kpis("category_kpi")
    finally:
        app.close()


def deps(aws: AwsWorld, workdir: Path) -> batch_task.TaskDeps:
    return batch_task.TaskDeps(
        s3=aws.s3,
        store=S3ObjectStore(aws.s3, aws.bucket),
        kpis=DynamoKpiTables(aws.dynamodb, aws.order_kpi_table, aws.category_kpi_table),
        settings=BatchSettings(),
        workdir=workdir,
    )


def start_batch(aws: AwsWorld, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> dict[str, object]:
    """Put the files and let presence_check make the machine's input, as in the cloud."""
    store = S3ObjectStore(aws.s3, aws.bucket)
    for key, text in files.items():
        store.put(key, io.BytesIO(text.encode()))
    ready = batch_gate.presence_check("raw-data/products.csv", store)
    assert ready["ready"] is True
    monkeypatch.setenv("BATCH_ID", str(ready["batch_id"]))
    monkeypatch.setenv("BATCH_INPUT", json.dumps(ready))
    return ready


def run_steps(aws: AwsWorld, tmp_path: Path, *steps: str) -> list[int]:
    codes = []
    for n, step in enumerate(steps):
        workdir = tmp_path / f"task-{n}"  # each Fargate task starts with an empty disk
        workdir.mkdir(parents=True)
        codes.append(batch_task.main([step], make_deps=lambda _, w=workdir: deps(aws, w)))
    return codes


def test_the_four_tasks_give_the_embedded_kpis_in_dynamodb_and_archive_the_raw_files(
    aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_kpis, category_kpis = embedded_kpis(tmp_path / "laptop", FILES)
    ready = start_batch(aws, monkeypatch, FILES)

    assert run_steps(aws, tmp_path, *batch_task.STEPS) == [0, 0, 0, 0]

    tables = DynamoKpiTables(aws.dynamodb, aws.order_kpi_table, aws.category_kpi_table)
    assert order_kpis  # the comparison below is not between two empty lists
    assert tables.kpis("order_kpi") == order_kpis
    assert tables.kpis("category_kpi") == category_kpis
    store = S3ObjectStore(aws.s3, aws.bucket)
    keys = {info.key for info in store.list()}
    assert not any(key.startswith("raw-data/") for key in keys)
    batch_id = ready["batch_id"]
    assert {f"archive/{batch_id}/{key.removeprefix('raw-data/')}" for key in FILES} <= keys
    assert f"processed/lines/{batch_id}.parquet" in keys
    assert {"processed/kpi/order_kpi.parquet", "processed/kpi/category_kpi.parquet"} <= keys
    assert any(key.startswith(f"rejected/{batch_id}/") for key in keys)  # O4's date, I5's unknown order
    ledger_copy = tmp_path / "ledger.db"
    s3_conditional_file.fetch(aws.s3, aws.bucket, batch_task.LEDGER_KEY, ledger_copy)
    from salesflow.adapters.local.sqlite_batches import SqliteBatchLedger
    from salesflow.adapters.local.sqlite_db import connect

    ledger = SqliteBatchLedger(connect(ledger_copy))
    batch = ledger.batch(str(batch_id))
    assert batch.status == "succeeded"
    steps = {row["step"]: row["status"] for row in ledger.steps(batch.execution_id)}
    assert steps == {s: "succeeded" for s in ("validate", "transform", "publish", "kpi_tables", "archive", "cleanup")}
    ledger.close()


def test_a_second_batch_replaces_the_touched_dates_like_the_embedded_face(
    aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = start_batch(aws, monkeypatch, FILES)
    assert run_steps(aws, tmp_path / "one", *batch_task.STEPS) == [0, 0, 0, 0]
    batch_gate.cleanup(str(first["batch_id"]), S3ObjectStore(aws.s3, aws.bucket))  # the machine's last step
    # O3 moves to 2026-11-03: 2026-11-02 is left without lines and must lose its rows.
    later = {
        "raw-data/orders/orders-2.csv": "order_id,user_id,created_at,status\nO3,U1,2026-11-03T08:00:00Z,Returned\n",
        "raw-data/order_items/items-2.csv": "order_item_id,order_id,product_id,sale_price,quantity,status\n"
        "I6,O3,P2,5.00,2,Complete\n",
    }
    start_batch(aws, monkeypatch, later)
    assert run_steps(aws, tmp_path / "two", *batch_task.STEPS) == [0, 0, 0, 0]

    expected = embedded_kpis(tmp_path / "laptop", FILES, later)
    tables = DynamoKpiTables(aws.dynamodb, aws.order_kpi_table, aws.category_kpi_table)
    assert (tables.kpis("order_kpi"), tables.kpis("category_kpi")) == expected
    assert "2026-11-02" not in {row["order_date"] for row in tables.kpis("order_kpi")}


def test_a_bad_file_fails_the_batch_and_leaves_the_raw_files(
    aws: AwsWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = dict(FILES, **{"raw-data/orders/orders-1.csv": "order_id,user_id\nO1,U1\n"})  # created_at missing
    start_batch(aws, monkeypatch, bad)

    assert run_steps(aws, tmp_path, "validate") == [1]

    keys = {info.key for info in S3ObjectStore(aws.s3, aws.bucket).list()}
    assert set(bad) <= keys
    assert not any(key.startswith(("processed/", "validated/")) for key in keys)
    tables = DynamoKpiTables(aws.dynamodb, aws.order_kpi_table, aws.category_kpi_table)
    assert tables.kpis("order_kpi") == []
    assert run_steps(aws, tmp_path / "later", "archive") == [1]  # nothing published: nothing archived


def test_the_ledger_is_never_overwritten_by_a_task_that_read_an_older_copy(aws: AwsWorld, tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    path.write_bytes(b"first")
    assert s3_conditional_file.fetch(aws.s3, aws.bucket, "batches/ledger.db", tmp_path / "none") is None
    etag = s3_conditional_file.store(aws.s3, aws.bucket, "batches/ledger.db", path, None)
    with pytest.raises(s3_conditional_file.ConcurrentUpdate):  # created by someone else meanwhile
        s3_conditional_file.store(aws.s3, aws.bucket, "batches/ledger.db", path, None)
    path.write_bytes(b"second")
    s3_conditional_file.store(aws.s3, aws.bucket, "batches/ledger.db", path, etag)
    path.write_bytes(b"stale")
    with pytest.raises(s3_conditional_file.ConcurrentUpdate):
        s3_conditional_file.store(aws.s3, aws.bucket, "batches/ledger.db", path, etag)
    assert aws.s3.get_object(Bucket=aws.bucket, Key="batches/ledger.db")["Body"].read() == b"second"


def test_usage_errors_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCH_ID", raising=False)
    monkeypatch.delenv("BATCH_INPUT", raising=False)
    assert batch_task.main(["nonsense"]) == 2
    assert batch_task.main(["validate"]) == 2
