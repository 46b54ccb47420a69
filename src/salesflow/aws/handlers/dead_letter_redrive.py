"""SQS-triggered redrive: each message of the redrive queue is validated again.

A person moves dead letters to the redrive queue (SQS StartMessageMoveTask, or the
console) after fixing the cause; this Lambda takes each: valid -> the orders table
(a conditional put: redriving twice writes once); still refused -> back to the
dead-letter queue with its new reasons. Only a failure to do either (AWS refused the
call) is reported in ``batchItemFailures``, so SQS retries that message alone and
one bad record never fails its batch (the event source mapping must have
``ReportBatchItemFailures`` on).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from salesflow.adapters.aws.sqs_dead_letters import Refusal, decode
from salesflow.aws.handlers.services import Services, logger, services
from salesflow.domain.orders import Order, check_order
from salesflow.jsoncodec import to_json


def redrive_one(record: SQSRecord, deps: Services) -> str:
    letter = decode(record.raw_event)
    outcome = check_order(letter.record)
    if isinstance(outcome, Order):
        execution_id = letter.execution_id or "redrive"
        position = letter.position if letter.position is not None else 0
        deps.ledger.write_orders(
            execution_id, letter.key, [(outcome.order_id, to_json(outcome.record), position)], guarded=True
        )
        return "stored"
    deps.dead_letters.send(
        [Refusal(letter.record, [str(r) for r in outcome], letter.key, letter.position, letter.execution_id)]
    )
    return "refused"


def handle(event: dict[str, Any], deps: Services) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)
    reply = process_partial_response(
        event=event, record_handler=lambda record: redrive_one(record, deps), processor=processor
    )
    return dict(reply)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, services())


lambda_handler = handler
