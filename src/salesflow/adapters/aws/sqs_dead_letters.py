"""The dead-letter queue of the AWS face's Lambdas and state machines, on SQS.

One message per refused record. The body is the record as it arrived (JSON); the
machine-readable parts ride as message attributes, so a consumer or a person in
the console can filter without parsing the body:

- ``reasons``: comma-separated reason codes (``invalid_quantity,invalid_email``);
- ``key``: the object the record came from; ``position``: its place in it;
- ``execution_id``: the execution (or Step Functions map run) that refused it.

``peek`` lists (ReceiveMessage with VisibilityTimeout 0: nothing is hidden from
other consumers, nothing deleted). ``redrive`` validates a message's record again
with the domain's check_order and either writes the order (via the caller's
writer) and deletes the message, or leaves it with its new reasons as a new
message. ``discard`` deletes the message after recording why in the
executions table (``DISCARDED#<message id>``, with who, when and the record), so
the decision outlives the queue's retention.

The embedded-face CLI (``salesflow dlq``) reads the DynamoOrderLedger's letters;
this queue is where the Lambdas put what they refuse (see docs/aws.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from salesflow.adapters.aws.clients import translate_errors
from salesflow.adapters.aws.dynamo_writes import to_item
from salesflow.clock import utc_now
from salesflow.domain.orders import Order, Reason, check_order
from salesflow.jsoncodec import from_json, to_json

log = logging.getLogger(__name__)
_SEND_LIMIT = 10  # messages per SendMessageBatch
_MAX_BODY = 256 * 1024  # SQS's message size limit
_ATTRIBUTES = ("reasons", "key", "position", "execution_id")


@dataclass(frozen=True, slots=True)
class QueuedLetter:
    """A message of the queue, decoded."""

    message_id: str
    receipt_handle: str
    record: Any
    reasons: list[str]
    key: str | None
    position: int | None
    execution_id: str | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused record on its way to the queue."""

    record: Any
    reasons: list[str]
    key: str | None = None
    position: int | None = None
    execution_id: str | None = None


class SqsDeadLetters:
    """Send, peek, redrive and discard refused records on one SQS queue."""

    def __init__(self, sqs: Any, queue_url: str, dynamodb: Any = None, actions_table: str | None = None) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self._db = dynamodb
        self._actions_table = actions_table

    def send(self, refusals: list[Refusal]) -> None:
        """Queue refused records, 10 per call; raises TransientError if SQS keeps failing some."""
        for start in range(0, len(refusals), _SEND_LIMIT):
            page = refusals[start : start + _SEND_LIMIT]
            entries = [_entry(str(n), refusal) for n, refusal in enumerate(page)]
            with translate_errors(f"queueing {len(entries)} dead letters"):
                response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = response.get("Failed", [])
            if failed:
                from salesflow.domain.errors import TransientError

                raise TransientError(f"SQS refused {len(failed)} dead letters ({failed[0].get('Code')}); retrying")

    def peek(self, limit: int = 10) -> list[QueuedLetter]:
        """Up to limit messages, peeked: visible to everyone else all along, nothing deleted.

        SQS samples its servers, so a peek may show fewer than are there (see ``depth``)."""
        found: dict[str, QueuedLetter] = {}
        while len(found) < limit:
            with translate_errors("peeking at dead letters"):
                response = self._sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(10, limit - len(found)),
                    VisibilityTimeout=0,
                    MessageAttributeNames=["All"],
                    WaitTimeSeconds=0,
                )
            messages = response.get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in found]
            if not fresh:
                break
            for message in fresh:
                found[message["MessageId"]] = decode(message)
        return list(found.values())

    def depth(self) -> int:
        """Messages in the queue (approximate, as SQS counts them)."""
        with translate_errors("counting dead letters"):
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def redrive(
        self, letter: QueuedLetter, write: Callable[[Order, QueuedLetter], None], record: Any = None
    ) -> Order | list[Reason]:
        """Validate (the letter's record, or a fixed one) by the same rules as a new record.

        Valid: ``write`` stores it, then the message is deleted (a crash in between leaves the
        message to be redriven again: the write is an idempotent put). Refused: a new message
        with the new reasons is queued, then the old one deleted."""
        candidate = letter.record if record is None else record
        outcome = check_order(candidate)
        if isinstance(outcome, Order):
            write(outcome, letter)
        else:
            self.send([Refusal(candidate, list(outcome), letter.key, letter.position, letter.execution_id)])
        self.delete(letter)
        return outcome

    def discard(self, letter: QueuedLetter, why: str, actor: str) -> None:
        """Record why (in the actions table, when one is configured), then delete the message."""
        if self._db is not None and self._actions_table:
            item = {
                "pk": f"DISCARDED#{letter.message_id}",
                "type": "discarded",
                "why": why,
                "actor": actor,
                "at": utc_now(),
                "record": to_json(letter.record),
                "reasons": to_json(letter.reasons),
                "key": letter.key,
                "position": letter.position,
                "execution_id": letter.execution_id,
            }
            with translate_errors(f"recording the discard of {letter.message_id}"):
                self._db.put_item(TableName=self._actions_table, Item=to_item(item))
        self.delete(letter)

    def delete(self, letter: QueuedLetter) -> None:
        with translate_errors(f"deleting dead letter {letter.message_id}"):
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=letter.receipt_handle)


def _entry(entry_id: str, refusal: Refusal) -> dict[str, Any]:
    body = to_json(refusal.record)
    if len(body.encode()) > _MAX_BODY - 4096:
        # SQS takes 256 KB: the head of a huge record is enough to see what it was.
        body = to_json({"truncated": True, "head": body[:4096]})
    attributes: dict[str, Any] = {"reasons": {"DataType": "String", "StringValue": ",".join(refusal.reasons) or "-"}}
    if refusal.key is not None:
        attributes["key"] = {"DataType": "String", "StringValue": refusal.key}
    if refusal.position is not None:
        attributes["position"] = {"DataType": "Number", "StringValue": str(refusal.position)}
    if refusal.execution_id is not None:
        attributes["execution_id"] = {"DataType": "String", "StringValue": refusal.execution_id}
    return {"Id": entry_id, "MessageBody": body, "MessageAttributes": attributes}


def decode(message: dict[str, Any]) -> QueuedLetter:
    """A QueuedLetter from an SQS message, as ReceiveMessage or a Lambda SQS event gives it
    (the event spells attributes ``messageAttributes`` / ``stringValue``, the API
    ``MessageAttributes`` / ``StringValue``)."""
    raw = message.get("MessageAttributes") or message.get("messageAttributes") or {}
    values = {
        name: (raw[name].get("StringValue") or raw[name].get("stringValue")) for name in _ATTRIBUTES if name in raw
    }
    body = message.get("Body", message.get("body", "null"))
    try:
        record = from_json(body)
    except ValueError:
        record = body  # not JSON: keep the text
    reasons = [r for r in (values.get("reasons") or "").split(",") if r and r != "-"]
    position = values.get("position")
    return QueuedLetter(
        message_id=message.get("MessageId") or message.get("messageId") or "",
        receipt_handle=message.get("ReceiptHandle") or message.get("receiptHandle") or "",
        record=record,
        reasons=reasons,
        key=values.get("key"),
        position=int(position) if position is not None else None,
        execution_id=values.get("execution_id"),
    )
