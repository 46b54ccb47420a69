"""The SQS dead-letter queue and the SNS notifier on moto."""

from __future__ import annotations

import json
from typing import Any

from salesflow.adapters.aws.dynamo_writes import from_item
from salesflow.adapters.aws.sns_notifier import SnsNotifier
from salesflow.adapters.aws.sqs_dead_letters import QueuedLetter, Refusal, SqsDeadLetters
from salesflow.domain.notices import Notice, NoticeKind
from salesflow.domain.orders import Order
from tests.aws.moto import AwsWorld

GOOD = {"contact-info": {"name": "Ada"}, "order-info": {"order-id": "A-1", "qty": "2"}}
BAD = {"contact-info": {"name": "Ada"}, "order-info": {"order-id": "A-1", "qty": 0}}


def queue(aws: AwsWorld) -> SqsDeadLetters:
    return SqsDeadLetters(aws.sqs, aws.queue_url, aws.dynamodb, aws.executions_table)


def test_refused_records_carry_their_reasons_as_message_attributes(aws: AwsWorld) -> None:
    dlq = queue(aws)

    dlq.send([Refusal(BAD, ["invalid_quantity", "invalid_email"], "orders/a.json", 7, "ex-1")])

    raw = aws.sqs.receive_message(QueueUrl=aws.queue_url, MessageAttributeNames=["All"], VisibilityTimeout=0)
    [message] = raw["Messages"]
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes == {
        "reasons": "invalid_quantity,invalid_email",
        "key": "orders/a.json",
        "position": "7",
        "execution_id": "ex-1",
    }
    assert json.loads(message["Body"]) == BAD


def test_peek_hides_nothing_and_deletes_nothing(aws: AwsWorld) -> None:
    dlq = queue(aws)
    dlq.send([Refusal({"n": n}, ["not_an_object"], "orders/a.json", n) for n in range(3)])

    first = dlq.peek(limit=10)
    second = dlq.peek(limit=10)

    assert sorted(letter.position or 0 for letter in first) == [0, 1, 2]
    assert len(second) == 3
    assert dlq.depth() == 3


def test_redrive_writes_a_valid_record_and_deletes_its_message(aws: AwsWorld) -> None:
    dlq = queue(aws)
    dlq.send([Refusal(BAD, ["invalid_quantity"], "orders/a.json", 4, "ex-1")])
    [letter] = dlq.peek()
    written: list[tuple[Order, QueuedLetter]] = []

    outcome = dlq.redrive(letter, lambda order, source: written.append((order, source)), record=GOOD)

    assert isinstance(outcome, Order)
    assert [(order.order_id, source.position) for order, source in written] == [("A-1", 4)]
    assert dlq.peek() == []


def test_redrive_of_a_still_bad_record_requeues_it_with_the_new_reasons(aws: AwsWorld) -> None:
    dlq = queue(aws)
    dlq.send([Refusal(BAD, ["invalid_quantity"], "orders/a.json", 4)])
    [letter] = dlq.peek()
    still_bad: dict[str, Any] = {"contact-info": {"email": "nope"}, "order-info": {"order-id": "A-1", "qty": 1}}

    dlq.redrive(letter, lambda order, source: None, record=still_bad)

    [again] = dlq.peek()
    assert (again.record, again.reasons, again.position) == (still_bad, ["invalid_email"], 4)
    assert again.message_id != letter.message_id


def test_discard_records_why_then_deletes_the_message(aws: AwsWorld) -> None:
    dlq = queue(aws)
    dlq.send([Refusal(BAD, ["invalid_quantity"], "orders/a.json", 4)])
    [letter] = dlq.peek()

    dlq.discard(letter, "a test order", "ann")

    assert dlq.peek() == []
    item = aws.dynamodb.get_item(TableName=aws.executions_table, Key={"pk": {"S": f"DISCARDED#{letter.message_id}"}})
    kept = from_item(item["Item"])
    assert (kept["why"], kept["actor"], json.loads(kept["record"])) == ("a test order", "ann", BAD)


def test_sns_notices_reach_an_sqs_subscriber_as_json(aws: AwsWorld) -> None:
    topic = aws.sns.create_topic(Name=f"notices-{aws.bucket}")["TopicArn"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    notice = Notice(NoticeKind.EXECUTION_FAILED, "orders/a.json", "it broke", {"records": 3}, "2026-11-25T10:00:00Z")

    SnsNotifier(aws.sns, topic).notify(notice)

    [message] = aws.sqs.receive_message(QueueUrl=aws.queue_url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(message["Body"])  # SNS's envelope around our message
    assert envelope["Subject"] == "salesflow: execution_failed: orders/a.json"
    assert json.loads(envelope["Message"]) == notice.to_dict()
    assert envelope["MessageAttributes"]["kind"]["Value"] == "execution_failed"


def test_an_sns_notifier_that_cannot_publish_logs_and_never_raises(aws: AwsWorld) -> None:
    notice = Notice(NoticeKind.DLQ_DEPTH, "dead letters", "deep", {}, "2026-11-25T10:00:00Z")

    SnsNotifier(aws.sns, "arn:aws:sns:us-east-1:123456789012:no-such-topic").notify(notice)
