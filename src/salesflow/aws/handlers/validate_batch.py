"""Distributed Map ItemBatcher -> validate a batch of order records, store the valid ones.

Input (what ItemBatcher sends; ``BatchInput`` is set in the ASL)::

    {"Items": [{"position": n, "record": record}, ...] | [record, ...],
     "BatchInput": {"key": "orders/x.jsonl", "execution": "<execution name>", "first_position": 0},
     "retry_count": 0}

(``execution_id`` is read as well as ``execution``; ``first_position`` only matters for
bare records; ``retry_count`` may sit at the top or in BatchInput.)

Valid records go to the orders table in one batch write (25 per call, unprocessed
items retried with backoff); a retried invocation (``retry_count`` > 0, from
``$$.State.RetryCount``) writes with conditional puts instead, so what the failed
attempt stored is not written twice. Refused records go to the SQS dead-letter
queue with their reasons. One bad record never fails the batch: only an AWS
failure does, and Step Functions retries it.

Reply: ``{"records": n, "stored": n, "rejected": n}``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from salesflow.adapters.aws.sqs_dead_letters import Refusal
from salesflow.aws.handlers.services import Services, logger, services
from salesflow.domain.orders import Order, check_order
from salesflow.jsoncodec import to_json


def handle(event: dict[str, Any], deps: Services) -> dict[str, int]:
    batch = event.get("BatchInput") or {}
    key = batch.get("key")
    execution_id = str(batch.get("execution") or batch.get("execution_id") or "map-run")
    retry_count = int(event.get("retry_count") or batch.get("retry_count") or 0)
    first = int(batch.get("first_position") or 0)
    stored: list[tuple[str, str, int]] = []
    refused: list[Refusal] = []
    for index, item in enumerate(event.get("Items") or []):
        position, record = _unwrap(item, first + index)
        outcome = check_order(record)
        if isinstance(outcome, Order):
            stored.append((outcome.order_id, to_json(outcome.record), position))
        else:
            refused.append(Refusal(record, [str(r) for r in outcome], key, position, execution_id))
    if stored:
        deps.ledger.write_orders(execution_id, key, stored, guarded=retry_count > 0)
    if refused:
        deps.dead_letters.send(refused)
    reply = {"records": len(stored) + len(refused), "stored": len(stored), "rejected": len(refused)}
    logger.info("batch validated", extra={"key": key, **reply})
    return reply


def _unwrap(item: Any, default_position: int) -> tuple[int, Any]:
    """A wrapped item ({"position", "record"}) or a bare record at its place in the batch."""
    if isinstance(item, dict) and set(item) == {"position", "record"} and isinstance(item["position"], int):
        return item["position"], item["record"]
    return default_position, item


@logger.inject_lambda_context(correlation_id_path="BatchInput.execution")
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    return handle(event, services())


lambda_handler = handler
