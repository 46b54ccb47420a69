"""The classic state machine's per-record step: validate one record.

Input: the Map item, ``{"record": ..., "key": ..., "position": n, "execution": id}`` or a
bare record. Reply (the contract of deploy/salesflow_stacks/classic_asl.py, whose Choice
state reads ``valid``):

- valid: ``{"valid": true, "order_id", "item"}``, ``item`` being the orders-table item in
  DynamoDB JSON, ready for the next state's ``dynamodb:putItem`` (``"Item.$"``);
- refused: ``{"valid": false, "reasons": [...]}``; the ASL sends the record to SQS.

A refusal is data, not an error, so the state machine's Retry never repeats it and its
Catch is left for real failures. ``InvalidOrder`` is raised only by ``check``, for callers
that want a named error instead (a Catch on ``InvalidOrder``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from salesflow.adapters.aws.dynamo_items import order_item
from salesflow.aws.handlers.services import logger
from salesflow.clock import utc_now
from salesflow.domain.orders import Order, check_order
from salesflow.jsoncodec import to_json


class InvalidOrder(Exception):
    """A refused record; the message is ``{"reasons": [...]}`` as JSON, for the Catch's ResultPath."""


_WRAPPER = {"record", "key", "position", "execution"}


def handle(event: Any) -> dict[str, Any]:
    wrapped = isinstance(event, dict) and "record" in event and set(event) <= _WRAPPER
    record = event["record"] if wrapped else event
    key = event.get("key") if wrapped else None
    position = event.get("position") if wrapped else None
    execution = event.get("execution") if wrapped else None
    outcome = check_order(record)
    if not isinstance(outcome, Order):
        return {"valid": False, "reasons": [str(r) for r in outcome]}
    image = to_json(outcome.record)
    return {
        "valid": True,
        "order_id": outcome.order_id,
        "item": order_item(outcome.order_id, image, key, position, execution, utc_now()),
    }


def check(event: Any) -> dict[str, Any]:
    """handle, with a refusal raised as InvalidOrder (reasons as JSON in its message)."""
    reply = handle(event)
    if not reply["valid"]:
        raise InvalidOrder(to_json({"reasons": reply["reasons"]}))
    return reply


@logger.inject_lambda_context
def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return handle(event)


lambda_handler = handler
