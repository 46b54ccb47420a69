"""The classic orders machine's own ASL, run end to end by moto's Step Functions interpreter.

What is real: the Map (MaxConcurrency 35), the Choice, DynamoDB PutItem with its Retry (moto really
sleeps the backoff), the Catches and SQS SendMessage, all against moto's services. What is stubbed,
mechanically (see classic_asl.stub_lambda / stub_read): the `classic_record` Lambda, because moto
needs Docker to run a Lambda, and the S3 read, because moto hands the body over as a stream.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from salesflow_stacks.classic_asl import classic_definition, render, stub_lambda, stub_read  # noqa: E402

REGION = "us-east-1"
GOOD = {"valid": True, "item": {"order_id": {"S": "1"}, "product_name": {"S": "Item One"}, "quantity": {"N": "2"}}}
ALSO_GOOD = {"valid": True, "item": {"order_id": {"S": "2"}, "quantity": {"N": "1"}}}
REFUSED = {"valid": False, "reasons": ["missing_contact_info", "invalid_quantity"]}
UNWRITABLE = {"valid": True, "item": {"not_the_key": {"S": "x"}}}  # DynamoDB refuses it: no order_id


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    with moto.mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="salesflow-orders",
            KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "order_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="salesflow-dead-letters")["QueueUrl"]
        yield {"ddb": ddb, "sqs": sqs, "queue_url": url, "sfn": boto3.client("stepfunctions", region_name=REGION)}


def run(aws: dict[str, Any], document: Any, name: str) -> dict[str, Any]:
    values = {
        "ValidateFunctionArn": f"arn:aws:lambda:{REGION}:123456789012:function:classic_record",
        "OrdersTableName": "salesflow-orders",
        "DeadLetterQueueUrl": aws["queue_url"],
    }
    asl = stub_read(stub_lambda(render(classic_definition(), values)), document)
    sfn = aws["sfn"]
    arn = sfn.create_state_machine(
        name="orders-classic", definition=json.dumps(asl), roleArn="arn:aws:iam::123456789012:role/classic"
    )["stateMachineArn"]
    event = {"detail": {"bucket": {"name": "salesflow-data"}, "object": {"key": "orders/small.json", "size": 600}}}
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(event))["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return dict(described)
        time.sleep(0.1)
    raise AssertionError("the execution did not finish within 60 s")


def letters(aws: dict[str, Any]) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while True:
        batch = (
            aws["sqs"]
            .receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            .get("Messages", [])
        )
        if not batch:
            return sorted(got, key=lambda m: m["body"]["position"])
        got.extend({"body": json.loads(m["Body"]), "attributes": m["MessageAttributes"]} for m in batch)


def test_valid_orders_land_in_the_table_and_the_rest_in_the_queue(aws: dict[str, Any]) -> None:
    result = run(aws, {"orders": [GOOD, REFUSED, UNWRITABLE, ALSO_GOOD]}, name="classic-mixed")

    assert result["status"] == "SUCCEEDED"
    items = aws["ddb"].scan(TableName="salesflow-orders")["Items"]
    assert sorted(i["order_id"]["S"] for i in items) == ["1", "2"]
    assert next(i for i in items if i["order_id"]["S"] == "1") == GOOD["item"]

    refused, unwritable = letters(aws)
    assert refused["body"]["position"] == 1
    assert refused["body"]["key"] == "orders/small.json"
    assert refused["body"]["reasons"] == ["missing_contact_info", "invalid_quantity"]
    assert json.loads(refused["attributes"]["reasons"]["StringValue"]) == refused["body"]["reasons"]
    # PutItem failed 1 + 3 retried times, then the Catch sent the record on.
    assert unwritable["body"]["position"] == 2
    assert unwritable["body"]["reasons"] == ["write_failed"]
    assert unwritable["body"]["error"]["Error"] == "DynamoDB.ValidationException"
    assert unwritable["body"]["record"] == UNWRITABLE


def test_a_bare_array_document_is_read_too(aws: dict[str, Any]) -> None:
    result = run(aws, [GOOD], name="classic-bare-array")

    assert result["status"] == "SUCCEEDED"
    assert aws["ddb"].get_item(TableName="salesflow-orders", Key={"order_id": {"S": "1"}})["Item"] == GOOD["item"]
    assert letters(aws) == []
