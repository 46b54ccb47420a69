"""`salesflow run --face aws` wiring: settings -> S3 + DynamoDB -> the orders pipeline, on moto."""

from __future__ import annotations

import io

from salesflow.domain.records import ExecutionStatus
from salesflow.jsoncodec import to_json
from salesflow.runtime.aws_bootstrap import build_aws_app
from salesflow.runtime.settings import AwsSettings, Settings
from tests.aws.moto import REGION, AwsWorld

RECORD = {"contact-info": {"name": "Ada"}, "order-info": {"OrderId": "9", "qty": 1}}


def test_process_pending_ingests_each_new_object_once(aws: AwsWorld) -> None:
    settings = Settings(
        aws=AwsSettings(
            region=REGION,
            endpoint_url=aws.endpoint,
            bucket=aws.bucket,
            orders_table=aws.orders_table,
            executions_table=aws.executions_table,
        )
    )
    app = build_aws_app(settings)
    app.store.put("orders/a.json", io.BytesIO(to_json({"orders": [RECORD, {"x": 1}]}).encode()))
    app.store.put("orders/notes.txt", io.BytesIO(b"not an order file"))

    first = app.process_pending()
    second = app.process_pending()

    assert [(e.key, e.status, e.stored, e.rejected) for e in first] == [
        ("orders/a.json", ExecutionStatus.SUCCEEDED, 1, 1)
    ]
    assert second == []
    assert app.ledger.order("9")["quantity"] == 1
    app.close()
