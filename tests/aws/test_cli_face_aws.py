"""`salesflow run --face aws` and `salesflow sql --face aws` from the command line, on moto."""

from __future__ import annotations

import io
from pathlib import Path

from salesflow.adapters.aws.dynamo_ledger import DynamoOrderLedger
from salesflow.jsoncodec import to_json
from salesflow.runtime.aws_bootstrap import build_aws_app
from salesflow.runtime.settings import load_settings
from tests.aws.moto import REGION, AwsWorld
from tests.aws.test_batch_task_aws import FILES
from tests.integration.conftest import cli

GOOD = {"contact-info": {"name": "Ada", "email": "ada@example.com"}, "order-info": {"OrderId": "7", "qty": 2}}
BAD = {"contact-info": {"name": "Bob"}, "order-info": {"qty": 1}}


def configured_home(tmp_path: Path, aws: AwsWorld) -> Path:
    """A home whose salesflow.toml names the test's resources on moto."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "salesflow.toml").write_text(
        "[aws]\n"
        f'region = "{REGION}"\n'
        f'endpoint_url = "{aws.endpoint}"\n'
        f'bucket = "{aws.bucket}"\n'
        f'orders_table = "{aws.orders_table}"\n'
        f'executions_table = "{aws.executions_table}"\n'
    )
    return home


def test_run_once_on_aws_ingests_the_bucket_into_dynamodb(tmp_path: Path, aws: AwsWorld) -> None:
    home = configured_home(tmp_path, aws)
    body = to_json({"orders": [GOOD, BAD]}).encode()
    aws.s3.put_object(Bucket=aws.bucket, Key="orders/day.json", Body=body)

    result = cli(home, "run", "--once", "--face", "aws")

    assert result.code == 0, result.stderr
    assert "1 execution(s)" in result.stderr
    ledger = build_aws_app(load_settings(home)).ledger
    assert isinstance(ledger, DynamoOrderLedger)
    assert ledger.order("7")["quantity"] == 2
    [letter] = ledger.dead_letters()
    assert "missing_order_id" in letter.reasons
    assert not (home / "salesflow.db").exists()  # the embedded face was never opened

    again = cli(home, "run", "--once", "--face", "aws")
    assert again.code == 0
    assert "0 execution(s)" in again.stderr  # the same object: no second effect


def test_sql_on_aws_refuses_anything_but_select(tmp_path: Path, aws: AwsWorld) -> None:
    home = configured_home(tmp_path, aws)

    result = cli(home, "sql", "--face", "aws", "DROP TABLE orders")

    assert result.code == 2
    assert "SELECT" in result.stderr


def test_an_unknown_face_is_refused_with_the_choices(tmp_path: Path) -> None:
    result = cli(tmp_path, "run", "--once", "--face", "cloud")
    assert result.code == 2
    assert "embedded" in result.stderr
    assert "aws" in result.stderr


def test_objects_put_after_a_run_are_picked_up_by_the_next(tmp_path: Path, aws: AwsWorld) -> None:
    home = configured_home(tmp_path, aws)
    cli(home, "run", "--once", "--face", "aws")
    build_aws_app(load_settings(home)).store.put("orders/later.jsonl", io.BytesIO(to_json(GOOD).encode() + b"\n"))

    result = cli(home, "run", "--once", "--face", "aws")

    assert result.code == 0, result.stderr
    assert "1 execution(s)" in result.stderr


def test_run_once_on_aws_runs_a_ready_batch_into_the_kpi_tables(tmp_path: Path, aws: AwsWorld) -> None:
    """As the batch state machine would: presence check, the steps, cleanup; KPIs in DynamoDB."""
    home = configured_home(tmp_path, aws)
    with (home / "salesflow.toml").open("a") as toml:
        toml.write(f'order_kpi_table = "{aws.order_kpi_table}"\ncategory_kpi_table = "{aws.category_kpi_table}"\n')
    for key, text in FILES.items():
        aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=text.encode())

    result = cli(home, "run", "--once", "--face", "aws")

    assert result.code == 0, result.stderr
    assert "succeeded batch" in result.stderr
    kpis = build_aws_app(load_settings(home)).kpis
    days = {row["order_date"] for row in kpis.order_kpis("2026-11-01", "2026-11-30")}
    assert days == {"2026-11-01", "2026-11-02"}
    raw = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="raw-data/").get("Contents", [])
    assert raw == []  # archived
    archived = aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="archive/")["Contents"]
    assert len(archived) == len(FILES)
