"""The Lambda handlers, called with real event shapes (tests/events/) against moto-backed services."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from salesflow.adapters.aws.dynamo_ledger import DynamoOrderLedger
from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.adapters.aws.sqs_dead_letters import SqsDeadLetters
from salesflow.aws.handlers import batch_gate, classic_record, dead_letter_redrive, firehose_transform, validate_batch
from salesflow.aws.handlers.services import Services, services
from salesflow.domain.changes import Change, lake_row
from salesflow.runtime.settings import AwsSettings
from tests.aws.moto import REGION, AwsWorld, stream_changes

EVENTS = Path(__file__).parent.parent / "events"


def event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@dataclass
class FakeContext:
    """What Powertools' inject_lambda_context reads from the Lambda context."""

    function_name: str = "salesflow-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:salesflow-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


def deps(aws: AwsWorld) -> Services:
    ledger = DynamoOrderLedger(aws.dynamodb, aws.orders_table, aws.executions_table)
    return Services(
        settings=AwsSettings(endpoint_url=aws.endpoint, bucket=aws.bucket),
        store=S3ObjectStore(aws.s3, aws.bucket),
        ledger=ledger,
        dead_letters=SqsDeadLetters(aws.sqs, aws.queue_url, aws.dynamodb, aws.executions_table),
    )


# -- validate_batch -------------------------------------------------------------------


def test_validate_batch_stores_valid_records_and_queues_refused_ones(aws: AwsWorld) -> None:
    services = deps(aws)

    reply = validate_batch.handle(event("distributed_map_batch.json"), services)

    assert reply == {"records": 4, "stored": 2, "rejected": 2}
    assert services.ledger.order("3001")["quantity"] == 2
    assert services.ledger.order("3003")["price"] == "19.99"
    assert services.ledger.order("3003")["source_position"] == 4  # first_position 1 + index 3
    queued = sorted(services.dead_letters.peek(), key=lambda letter: letter.position or 0)
    assert [(q.position, q.reasons, q.key) for q in queued] == [
        (2, ["invalid_quantity"], "orders/2026-11-25.jsonl"),
        (3, ["not_an_object"], "orders/2026-11-25.jsonl"),
    ]


def test_a_retried_batch_writes_nothing_twice(aws: AwsWorld) -> None:
    services = deps(aws)
    batch = event("distributed_map_batch.json")
    validate_batch.handle(batch, services)
    batch["BatchInput"]["retry_count"] = 1

    validate_batch.handle(batch, services)

    assert [c["order_id"] for c in stream_changes(aws)] == ["3001", "3003"]


def test_validate_batch_lambda_handler_wires_itself_from_the_environment(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_name = aws.queue_url.rsplit("/", 1)[1]
    for name, value in {
        "ENDPOINT_URL": aws.endpoint,
        "ORDERS_TABLE": aws.orders_table,
        "EXECUTIONS_TABLE": aws.executions_table,
        "DEAD_LETTER_QUEUE": queue_name,
        "BUCKET": aws.bucket,
        "REGION": REGION,
    }.items():
        monkeypatch.setenv(f"SALESFLOW_AWS__{name}", value)
    services.cache_clear()
    try:
        reply = validate_batch.lambda_handler(event("distributed_map_batch.json"), FakeContext())  # type: ignore[arg-type]
    finally:
        services.cache_clear()

    assert reply["stored"] == 2


# -- classic_record ---------------------------------------------------------------------


def test_classic_record_returns_the_item_for_dynamodb_put_item() -> None:
    record = event("distributed_map_batch.json")["Items"][0]

    reply = classic_record.handler(
        {"record": record, "key": "orders/a.json", "position": 0, "execution": "ex-1"},
        FakeContext(),  # type: ignore[arg-type]
    )

    assert (reply["valid"], reply["order_id"]) == (True, "3001")
    item = reply["item"]
    assert (item["order_id"], item["quantity"], item["source_position"]) == ({"S": "3001"}, {"N": "2"}, {"N": "0"})
    assert json.loads(item["record"]["S"])["order_info"]["order_id"] == "3001"


def test_classic_record_answers_a_refusal_with_its_reasons() -> None:
    refused = {"record": {"contact-info": {"name": "x"}, "order-info": {"qty": 0}}, "position": 3}

    assert classic_record.handle(refused) == {"valid": False, "reasons": ["missing_order_id", "invalid_quantity"]}
    with pytest.raises(classic_record.InvalidOrder) as raised:
        classic_record.check(refused)
    assert json.loads(str(raised.value))["reasons"] == ["missing_order_id", "invalid_quantity"]


# -- firehose_transform -------------------------------------------------------------------


def test_firehose_transform_answers_every_record_in_firehoses_shape() -> None:
    incoming = event("firehose_transformation.json")

    reply = firehose_transform.lambda_handler(incoming, FakeContext())  # type: ignore[arg-type]

    assert list(reply) == ["records"]
    assert [r["recordId"] for r in reply["records"]] == [r["recordId"] for r in incoming["records"]]
    assert [r["result"] for r in reply["records"]] == [
        "Ok",
        "Ok",
        "Ok",
        "ProcessingFailed",
        "ProcessingFailed",
        "Dropped",
    ]
    ok = [r for r in reply["records"] if r["result"] == "Ok"]
    for record in ok:
        assert set(record) == {"recordId", "result", "data", "metadata"}
        assert record["metadata"] == {"partitionKeys": {"dt": "2026-11-25", "hour": "10"}}
    rows = [json.loads(base64.b64decode(r["data"])) for r in ok]
    assert [row["event_type"] for row in rows] == ["INSERT", "MODIFY", "REMOVE"]
    modify = rows[1]
    assert (modify["order_id"], modify["quantity"], modify["price"], modify["event_time"]) == (
        "1001", 2, "4.50", "2026-11-25T10:15:30.123Z",
    )  # fmt: skip
    assert json.loads(modify["old_image"])["order_info"]["quantity"] == 1
    assert rows[2]["new_image"] is None
    assert base64.b64decode(ok[0]["data"]).endswith(b"\n")  # one JSON line per row
    failed = reply["records"][3]
    assert failed["data"] == incoming["records"][3]["data"]  # kept as it came, for the error prefix


def test_firehose_rows_follow_the_domain_rules_of_the_embedded_face() -> None:
    change = json.loads(base64.b64decode(event("firehose_transformation.json")["records"][1]["data"]))
    built = firehose_transform.change_of(change, "7")

    expected = lake_row(Change(7, "MODIFY", "1001", "2026-11-25T10:15:30.123Z",
                               change["dynamodb"]["NewImage"]["record"]["S"],
                               change["dynamodb"]["OldImage"]["record"]["S"]))  # fmt: skip
    assert lake_row(built) == expected


def test_dynamodb_streams_seconds_and_the_kinesis_shape_give_the_same_change() -> None:
    stream_record = event("dynamodb_stream_modify.json")["Records"][0]
    kinesis = event("kinesis_dynamodb_change.json")["Records"][0]["kinesis"]
    from_kinesis = firehose_transform.change_of(json.loads(base64.b64decode(kinesis["data"])), "1")
    from_stream = firehose_transform.change_of({**stream_record}, "1")

    assert from_stream.event_time == "2026-11-25T10:15:30.000Z"  # Streams: whole seconds
    assert (from_stream.new_image, from_stream.old_image) == (from_kinesis.new_image, from_kinesis.old_image)


# -- presence check and cleanup -----------------------------------------------------------


def put(store: S3ObjectStore, key: str) -> None:
    store.put(key, io.BytesIO(b"id\n1\n"))


def test_presence_check_waits_until_products_orders_and_items_are_there(aws: AwsWorld) -> None:
    store = S3ObjectStore(aws.s3, aws.bucket)
    key = event("s3_eventbridge_object_created.json")["detail"]["object"]["key"]
    put(store, key)

    assert batch_gate.presence_check(key, store) == {"ready": False, "reason": "waiting for products, orders"}
    put(store, "raw-data/products.csv")
    put(store, "raw-data/orders/orders-1.csv")

    ready = batch_gate.presence_check(key, store)

    assert ready["ready"] is True
    assert ready["files"] == [
        "raw-data/order_items/items-1.csv",
        "raw-data/orders/orders-1.csv",
        "raw-data/products.csv",
    ]
    assert batch_gate.presence_check(key, store)["reason"] == f"batch {ready['batch_id']} is running"
    assert batch_gate.presence_check("orders/x.json", store)["ready"] is False


def test_presence_check_handler_reads_the_eventbridge_event_and_starts_the_batch(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesflow.adapters.aws.clients import client
    from salesflow.aws.handlers import presence_check

    monkeypatch.setattr(batch_gate, "services", lambda: deps(aws))
    incoming = event("s3_eventbridge_object_created.json")
    assert presence_check.handler(incoming, FakeContext()) == {  # type: ignore[arg-type]
        "ready": False,
        "reason": "waiting for products, orders, order_items",
    }
    store = S3ObjectStore(aws.s3, aws.bucket)
    for key in ("raw-data/products.csv", "raw-data/orders/o.csv", incoming["detail"]["object"]["key"]):
        put(store, key)
    sfn = client("stepfunctions", REGION, aws.endpoint)
    role = "arn:aws:iam::123456789012:role/sfn"
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    machine = sfn.create_state_machine(name=f"batch-{aws.bucket}", definition=definition, roleArn=role)
    monkeypatch.setenv("BATCH_STATE_MACHINE_ARN", machine["stateMachineArn"])

    reply = presence_check.handler(incoming, FakeContext())  # type: ignore[arg-type]

    assert reply["ready"] is True
    [started] = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    assert started["name"] == f"batch-{reply['batch_id']}"


def test_cleanup_clears_the_batch_state_and_never_fails(aws: AwsWorld) -> None:
    store = S3ObjectStore(aws.s3, aws.bucket)
    for key in ("raw-data/products.csv", "raw-data/orders/o.csv", "raw-data/order_items/i.csv"):
        put(store, key)
    batch_id = batch_gate.presence_check("raw-data/products.csv", store)["batch_id"]
    put(store, f"validated/{batch_id}/orders.parquet")

    assert batch_gate.cleanup(batch_id, store) == {"batch_id": batch_id, "removed": 1, "complete": True}
    assert [info.key for info in store.list("batches/")] == []
    assert batch_gate.cleanup(batch_id, store)["complete"] is True  # again: nothing left, still fine


# -- dead_letter_redrive ----------------------------------------------------------------


def test_redrive_reports_only_failed_messages_and_requeues_still_bad_records(aws: AwsWorld) -> None:
    services = deps(aws)
    incoming = event("sqs_redrive.json")

    reply = dead_letter_redrive.handle(incoming, services)

    assert reply == {"batchItemFailures": []}
    assert services.ledger.order("2001")["quantity"] == 3
    [requeued] = services.dead_letters.peek()
    assert (requeued.reasons, requeued.position) == (["invalid_email"], 7)


def test_one_failing_message_never_fails_its_batch(aws: AwsWorld) -> None:
    services = deps(aws)
    broken = Services(
        services.settings,
        services.store,
        DynamoOrderLedger(aws.dynamodb, "no-such-table", aws.executions_table),
        services.dead_letters,
    )

    reply = dead_letter_redrive.handle(event("sqs_redrive.json"), broken)

    assert reply == {"batchItemFailures": [{"itemIdentifier": "059f36b4-87a3-44ab-83d2-661975830a7d"}]}
    assert len(services.dead_letters.peek()) == 1  # the other message was still handled


def test_the_sns_event_carries_a_notice_as_the_notifier_publishes_it() -> None:
    from aws_lambda_powertools.utilities.data_classes import SNSEvent

    [record] = SNSEvent(event("sns_notice.json")).records
    notice = json.loads(record.sns.message)

    assert set(notice) == {"kind", "subject", "summary", "details", "at"}
    assert record.sns.message_attributes["kind"].value == notice["kind"]
