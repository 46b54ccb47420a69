"""Create the AWS resources the adapters expect, for an emulator (moto) or a quick trial.

On AWS itself the CDK app in deploy/ creates them (with encryption, alarms and
least-privilege roles); this module only mirrors their keys, indexes and streams,
so tests and ``salesflow run --face aws`` against moto see the same shapes.
Every call is idempotent: what exists is left as it is.
"""

from __future__ import annotations

from typing import Any

from salesflow.adapters.aws.clients import error_code

ORDER_DATE_INDEX = "by_order_date"  # CategoryKPI's GSI: all categories of a date


def table_definitions(orders: str, executions: str, order_kpi: str, category_kpi: str) -> list[dict[str, Any]]:
    """CreateTable parameters of the four tables (on-demand billing)."""

    def table(name: str, keys: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
        return {
            "TableName": name,
            "KeySchema": [{"AttributeName": n, "KeyType": t} for n, t in keys],
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
            "BillingMode": "PAY_PER_REQUEST",
            **extra,
        }

    return [
        table(
            orders,
            [("order_id", "HASH")],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        ),
        table(executions, [("pk", "HASH")]),
        table(order_kpi, [("order_date", "HASH")]),
        {
            **table(category_kpi, [("category", "HASH"), ("order_date", "RANGE")]),
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": ORDER_DATE_INDEX,
                    "KeySchema": [
                        {"AttributeName": "order_date", "KeyType": "HASH"},
                        {"AttributeName": "category", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    ]


def create_tables(dynamodb: Any, definitions: list[dict[str, Any]]) -> None:
    from botocore.exceptions import ClientError

    for definition in definitions:
        try:
            dynamodb.create_table(**definition)
        except ClientError as exc:
            if error_code(exc) != "ResourceInUseException":
                raise
    for definition in definitions:
        dynamodb.get_waiter("table_exists").wait(TableName=definition["TableName"])


def create_bucket(s3: Any, bucket: str, region: str) -> None:
    from botocore.exceptions import ClientError

    params: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**params)
    except ClientError as exc:
        if error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise


def create_queue(sqs: Any, name: str) -> str:
    """The queue's URL (created when missing)."""
    return str(sqs.create_queue(QueueName=name)["QueueUrl"])
