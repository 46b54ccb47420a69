"""DynamoOrderLedger beyond the shared contract: throttling, crashes mid-chunk, exact numbers."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest

from salesflow.adapters.aws.dynamo_ledger import DynamoOrderLedger
from salesflow.adapters.aws.s3_store import S3ObjectStore
from salesflow.domain.errors import TransientError
from salesflow.domain.orders import Order, Reason, check_order
from salesflow.domain.records import Chunk, ExecutionStatus, Pipeline
from salesflow.jsoncodec import to_json
from salesflow.pipelines.orders import IngestSettings, OrdersPipeline
from salesflow.retry import RetryPolicy
from tests.aws.moto import AwsWorld, stream_changes

KEY = "orders/2026-11-25.json"
FAST = RetryPolicy(retries=3, base=0.001, cap=0.01)


def raw(order_id: str, quantity: Any = 1, price: str = "4.50") -> dict[str, Any]:
    return {
        "contact-info": {"name": "Ada", "email": "ada@example.com"},
        "order-info": {"OrderId": order_id, "item-id": "T-1", "item-desc": "Tea", "qty": quantity, "price": price},
    }


def row(order_id: str, position: int, quantity: int = 1, price: str = "4.50") -> tuple[str, str, int]:
    order = check_order(raw(order_id, quantity, price))
    assert isinstance(order, Order)
    return (order.order_id, to_json(order.record), position)


class FlakyClient:
    """A DynamoDB client that hands back part of each batch write as UnprocessedItems
    (``throttled_calls`` times), and can fail the checkpoint's advance once (``fail_once={"advance"}``),
    as a crash between the writes and the advance would."""

    def __init__(self, real: Any, throttled_calls: int = 0, fail_once: set[str] | None = None) -> None:
        self._real = real
        self.throttled_calls = throttled_calls
        self.fail_once = set(fail_once or ())
        self.batch_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def batch_write_item(self, RequestItems: dict[str, list[Any]]) -> dict[str, Any]:
        self.batch_calls += 1
        if self.throttled_calls <= 0:
            return self._real.batch_write_item(RequestItems=RequestItems)  # type: ignore[no-any-return]
        self.throttled_calls -= 1
        [(table, requests)] = RequestItems.items()
        keep, back = requests[: len(requests) // 2], requests[len(requests) // 2 :]
        if keep:
            self._real.batch_write_item(RequestItems={table: keep})
        return {"UnprocessedItems": {table: back} if back else {}}

    def transact_write_items(self, **params: Any) -> Any:
        advancing = any("applying" in action["Update"].get("ConditionExpression", "")
                        for action in params["TransactItems"] if "Update" in action)  # fmt: skip
        if advancing and "advance" in self.fail_once:
            self.fail_once.discard("advance")
            raise TransientError("injected: the process died before the checkpoint advanced")
        return self._real.transact_write_items(**params)


def ledger_for(aws: AwsWorld, client: Any = None) -> DynamoOrderLedger:
    return DynamoOrderLedger(client or aws.dynamodb, aws.orders_table, aws.executions_table, FAST)


def test_unprocessed_items_are_sent_again_until_written(aws: AwsWorld) -> None:
    flaky = FlakyClient(aws.dynamodb, throttled_calls=3)
    ledger = ledger_for(aws, flaky)
    execution = ledger.start_execution(Pipeline.ORDERS, KEY, "d1")
    orders = [row(f"A-{n}", n) for n in range(30)]  # two pages: 25 + 5

    ledger.commit_chunk(Chunk(execution.id, KEY, orders, [], 30))

    assert flaky.batch_calls > 2  # the unprocessed halves went again
    assert ledger.status()["orders"] == 30
    assert ledger.execution(execution.id).checkpoint == 30
    assert len(stream_changes(aws)) == 30


def test_a_chunk_still_throttled_after_the_retries_raises_and_its_replay_has_no_second_effect(aws: AwsWorld) -> None:
    flaky = FlakyClient(aws.dynamodb, throttled_calls=100)
    ledger = ledger_for(aws, flaky)
    execution = ledger.start_execution(Pipeline.ORDERS, KEY, "d1")
    chunk = Chunk(
        execution.id,
        KEY,
        [row("A-1", 0), row("B-1", 1), row("A-1", 2, quantity=2)],
        [(3, to_json([Reason.INVALID_QUANTITY]), to_json(raw("C-1", 0)))],
        4,
    )

    with pytest.raises(TransientError):
        ledger.commit_chunk(chunk)
    assert ledger.execution(execution.id).checkpoint == 0  # nothing counted: the chunk will come again
    assert len(stream_changes(aws)) >= 1  # part of it landed before the writer gave up

    flaky.throttled_calls = 0
    ledger.commit_chunk(chunk)

    # Every order's changes once, in file order, whatever landed before the replay.
    assert [(c["event_type"], c["order_id"]) for c in stream_changes(aws)] == [
        ("INSERT", "A-1"),
        ("INSERT", "B-1"),
        ("MODIFY", "A-1"),
    ]
    assert ledger.order("A-1")["quantity"] == 2
    assert [letter.position for letter in ledger.dead_letters()] == [3]
    after = ledger.execution(execution.id)
    assert (after.checkpoint, after.stored, after.rejected) == (4, 3, 1)


def test_a_crash_before_the_checkpoint_advances_replays_the_chunk_without_a_second_effect(aws: AwsWorld) -> None:
    flaky = FlakyClient(aws.dynamodb, fail_once={"advance"})
    ledger = ledger_for(aws, flaky)
    execution = ledger.start_execution(Pipeline.ORDERS, KEY, "d1")
    chunk = Chunk(
        execution.id,
        KEY,
        [row("A-1", 0), row("A-1", 1, quantity=5), row("B-1", 2)],
        [(3, to_json([Reason.NOT_AN_OBJECT]), "7")],
        4,
    )

    with pytest.raises(TransientError):
        ledger.commit_chunk(chunk)  # orders and letters are in; the checkpoint is not
    assert len(stream_changes(aws)) == 3
    ledger.commit_chunk(chunk)  # the pipeline's retry: the same chunk again

    # Each order's changes in file order (rounds: A-1 and B-1, then A-1's second record), once.
    assert [(c["event_type"], c["order_id"]) for c in stream_changes(aws)] == [
        ("INSERT", "A-1"),
        ("INSERT", "B-1"),
        ("MODIFY", "A-1"),
    ]
    assert ledger.order("A-1")["quantity"] == 5
    assert len(ledger.dead_letters()) == 1
    assert ledger.execution(execution.id).checkpoint == 4
    assert ledger.status()["change_log"] == 3


def test_the_write_failed_fallback_replaces_the_abandoned_attempts_letters(aws: AwsWorld) -> None:
    flaky = FlakyClient(aws.dynamodb, fail_once={"advance"})
    ledger = ledger_for(aws, flaky)
    execution = ledger.start_execution(Pipeline.ORDERS, KEY, "d1")
    first = Chunk(execution.id, KEY, [row("A-1", 0)], [(1, to_json([Reason.NOT_AN_OBJECT]), "1")], 2)
    with pytest.raises(TransientError):
        ledger.commit_chunk(first)

    fallback = Chunk(
        execution.id,
        KEY,
        [],
        [(0, to_json([Reason.WRITE_FAILED]), to_json(raw("A-1"))), (1, to_json([Reason.NOT_AN_OBJECT]), "1")],
        2,
    )
    ledger.commit_chunk(fallback)

    assert [(d.position, d.reasons) for d in ledger.dead_letters()] == [
        (0, ["write_failed"]),
        (1, ["not_an_object"]),
    ]
    assert ledger.execution(execution.id).rejected == 2


def test_prices_are_exact_dynamodb_numbers_to_38_digits(aws: AwsWorld) -> None:
    ledger = ledger_for(aws)
    execution = ledger.start_execution(Pipeline.ORDERS, KEY, "d1")
    price = "1234567890123456789012345678.0123456789"  # 28 + 10 digits: the widest valid price

    ledger.commit_chunk(Chunk(execution.id, KEY, [row("A-1", 0, price=price)], [], 1))

    item = aws.dynamodb.get_item(TableName=aws.orders_table, Key={"order_id": {"S": "A-1"}})["Item"]
    assert Decimal(item["price"]["N"]) == Decimal(price)
    assert item["quantity"] == {"N": "1"}
    assert ledger.order("A-1")["price"] == price


def test_the_orders_pipeline_runs_on_s3_and_dynamodb_exactly_once(aws: AwsWorld) -> None:
    store = S3ObjectStore(aws.s3, aws.bucket)
    ledger = ledger_for(aws)
    records = [raw("A-1"), raw("A-2", 0), "not an object", raw("A-3", 3)]
    store.put(KEY, io.BytesIO(to_json({"orders": records}).encode()))
    pipeline = OrdersPipeline(store, ledger, IngestSettings(chunk_records=2, retry=FAST, subprocess_min_bytes=0))

    execution = pipeline.ingest(KEY)
    again = pipeline.ingest(KEY)

    assert (execution.status, execution.records, execution.stored, execution.rejected) == (
        ExecutionStatus.SUCCEEDED, 4, 2, 2,
    )  # fmt: skip
    assert again == execution
    assert [(d.position, d.reasons) for d in ledger.dead_letters()] == [
        (1, ["invalid_quantity"]),
        (2, ["not_an_object"]),
    ]
    assert len(stream_changes(aws)) == 2
