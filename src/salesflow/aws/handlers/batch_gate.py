"""The batch pipeline's edges on AWS: the presence check before the workflow, the cleanup after.

``presence_check`` runs on every S3 Object Created event under ``raw-data/`` (EventBridge):
a batch is ready when products are known (a ``raw-data/products.csv``, or products
stored by an earlier batch under ``processed/state/products/``), and at least one
orders and one order-items file are pending, and no batch is running. Then it writes
the running marker ``batches/running.json`` (the batch id and its fixed file list) and
replies ``{"ready": true, "batch_id", "files"}`` for the state machine to start the
Fargate steps; otherwise ``{"ready": false, "reason"}``. The marker is what keeps
two events a moment apart from starting two batches (S3 orders writes to one key).

``cleanup`` always runs (the state machine's Catch and success both lead to it): it
removes ``validated/<batch>/`` and the running marker of that batch, and never fails.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3EventBridgeNotificationEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from salesflow.adapters.aws.clients import client
from salesflow.aws.handlers.services import logger, services
from salesflow.domain.batch import Table, table_of
from salesflow.domain.errors import NotFound, SalesflowError
from salesflow.jsoncodec import from_json, to_json
from salesflow.ports import ObjectStore

RAW = "raw-data/"
RUNNING = "batches/running.json"


def presence_check(key: str, store: ObjectStore, now: datetime | None = None) -> dict[str, Any]:
    if not key.startswith(RAW):
        return {"ready": False, "reason": f"{key} is not under {RAW}"}
    try:
        running = from_json(store.open(RUNNING).read())
        return {"ready": False, "reason": f"batch {running.get('batch_id')} is running"}
    except NotFound:
        pass
    pending: dict[Table, list[str]] = {}
    for info in store.list(RAW):
        table = table_of(info.key)
        if table is not None:
            pending.setdefault(table, []).append(info.key)
    products_known = Table.PRODUCTS in pending or any(True for _ in store.list("processed/state/products/"))
    missing = [
        name
        for name, present in (
            ("products", products_known),
            ("orders", Table.ORDERS in pending),
            ("order_items", Table.ORDER_ITEMS in pending),
        )
        if not present
    ]
    if missing:
        return {"ready": False, "reason": "waiting for " + ", ".join(missing)}
    moment = now or datetime.now(UTC)
    batch_id = moment.strftime("%Y%m%dT%H%M%S%fZ")
    files = sorted(key for keys in pending.values() for key in keys)
    store.put(RUNNING, BytesIO(to_json({"batch_id": batch_id, "files": files}).encode()))
    return {"ready": True, "batch_id": batch_id, "files": files}


def cleanup(batch_id: str, store: ObjectStore) -> dict[str, Any]:
    removed = 0
    try:
        for info in list(store.list(f"validated/{batch_id}/")):
            store.delete(info.key)
            removed += 1
        try:
            running = from_json(store.open(RUNNING).read())
            if running.get("batch_id") == batch_id:
                store.delete(RUNNING)
        except NotFound:
            pass
    except SalesflowError as exc:  # cleanup never fails the workflow: what is left is logged
        logger.warning("cleanup incomplete", extra={"batch_id": batch_id, "error": str(exc)})
        return {"batch_id": batch_id, "removed": removed, "complete": False}
    return {"batch_id": batch_id, "removed": removed, "complete": True}


def start_batch(ready: dict[str, Any], state_machine_arn: str, stepfunctions: Any) -> None:
    """Start the batch workflow with ``{"batch": ready}``, named after the batch (a repeated
    start of the same batch is refused by Step Functions, not run twice)."""
    stepfunctions.start_execution(
        stateMachineArn=state_machine_arn, name=f"batch-{ready['batch_id']}", input=to_json({"batch": ready})
    )


@logger.inject_lambda_context(correlation_id_path="id")
@event_source(data_class=S3EventBridgeNotificationEvent)
def presence_check_handler(event: S3EventBridgeNotificationEvent, context: LambdaContext) -> dict[str, Any]:
    deps = services()
    reply = presence_check(event.detail.object.key, deps.store)
    machine = os.environ.get("BATCH_STATE_MACHINE_ARN")
    if reply["ready"] and machine:
        start_batch(reply, machine, client("stepfunctions", deps.settings.region, deps.settings.endpoint_url))
    return reply


@logger.inject_lambda_context(correlation_id_path="batch_id")
def cleanup_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return cleanup(str(event.get("batch_id") or ""), services().store)
