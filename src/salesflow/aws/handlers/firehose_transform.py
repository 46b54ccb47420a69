"""Firehose data transformation: DynamoDB change records (via Kinesis) -> the lake's JSON rows.

Each Firehose record holds one Kinesis record written by the orders table's Kinesis
streaming destination: ``{"eventName", "dynamodb": {"ApproximateCreationDateTime",
"Keys", "NewImage", "OldImage", ...}, "eventSource": "aws:dynamodb", ...}`` in typed
DynamoDB JSON. It becomes a domain Change (images: the items' ``record`` JSON), and
salesflow.domain.changes.lake_row makes the row -- the same rules as the embedded face.

Results, in Firehose's exact shape: ``Ok`` with the row as one JSON line and
``partitionKeys`` ``dt`` / ``hour`` for dynamic partitioning; ``Dropped`` for a record
that is not an orders change (another source, a control record); ``ProcessingFailed``
(original data kept, Firehose writes it under its error prefix) for a change the
domain refuses or that cannot be read. One bad record never fails the batch.
The ``sequence`` column is the Kinesis sequence number as text (it outgrows 64 bits).
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.data_classes import (
    KinesisFirehoseDataTransformationRecord,
    KinesisFirehoseDataTransformationRecordMetadata,
    KinesisFirehoseDataTransformationResponse,
    KinesisFirehoseEvent,
    event_source,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from salesflow.adapters.aws.dynamo_writes import from_item
from salesflow.aws.handlers.services import logger
from salesflow.domain.changes import Change, ChangeRejected, EventType, lake_row
from salesflow.jsoncodec import from_json, to_json

_EVENTS = {e.value for e in EventType}


class NotAChange(Exception):
    """A Kinesis record that is not an orders-table change: dropped, not failed."""


def handle(event: KinesisFirehoseEvent) -> dict[str, Any]:
    response = KinesisFirehoseDataTransformationResponse()
    for record in event.records:
        sequence = (record.metadata.sequence_number if record.metadata else None) or "0"
        try:
            row = lake_row(change_of(from_json(record.data_as_bytes), sequence))
        except NotAChange as exc:
            logger.info("record dropped", extra={"record_id": record.record_id, "why": str(exc)})
            response.add_record(KinesisFirehoseDataTransformationRecord(record.record_id, "Dropped", record.data))
            continue
        except (ChangeRejected, ValueError, KeyError, TypeError, binascii.Error) as exc:
            reason = getattr(exc, "reason", "unreadable")
            logger.warning("change refused", extra={"record_id": record.record_id, "reason": str(reason)})
            response.add_record(
                KinesisFirehoseDataTransformationRecord(record.record_id, "ProcessingFailed", record.data)
            )
            continue
        line = to_json(_jsonable(row)) + "\n"
        response.add_record(
            KinesisFirehoseDataTransformationRecord(
                record.record_id,
                "Ok",
                base64.b64encode(line.encode()).decode(),
                KinesisFirehoseDataTransformationRecordMetadata({"dt": row["dt"], "hour": row["hour"]}),
            )
        )
    return response.asdict()


def change_of(message: Any, sequence: str) -> Change:
    """The domain Change of one DynamoDB change record (typed images -> the records' JSON)."""
    if not isinstance(message, dict) or message.get("eventSource") != "aws:dynamodb":
        raise NotAChange("not a DynamoDB change record")
    name = message.get("eventName")
    if name not in _EVENTS:
        raise NotAChange(f"event {name!r}")
    dynamodb = message["dynamodb"]
    keys = from_item(dynamodb["Keys"])
    return Change(
        sequence=int(sequence) if sequence.isdigit() else 0,
        event_type=name,
        order_id=str(keys["order_id"]),
        event_time=_event_time(dynamodb),
        new_image=_image(dynamodb.get("NewImage")),
        old_image=_image(dynamodb.get("OldImage")),
    )


def _image(typed: dict[str, Any] | None) -> str | None:
    if typed is None:
        return None
    if "record" in typed and "S" in typed["record"]:
        return str(typed["record"]["S"])  # the normalised record, exactly as the ledger wrote it
    return to_json(from_item(typed))  # an item written by something else: its attributes as JSON


def _event_time(dynamodb: dict[str, Any]) -> str:
    """ApproximateCreationDateTime as the ledger's commit time text. DynamoDB Streams gives epoch
    seconds; the Kinesis destination gives milliseconds (or microseconds when so configured)."""
    value = Decimal(str(dynamodb["ApproximateCreationDateTime"]))
    precision = dynamodb.get("ApproximateCreationDateTimePrecision")
    if precision == "MICROSECOND":
        value /= 1_000_000
    elif precision == "MILLISECOND" or value > 100_000_000_000:
        value /= 1000
    moment = datetime.fromtimestamp(float(value), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["sequence"] = str(row["sequence"])
    out["event_time"] = row["event_time"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if row["price"] is not None:
        out["price"] = format(row["price"], "f")  # exact decimal text; the Glue column is DECIMAL(38, 10)
    return out


@logger.inject_lambda_context
@event_source(data_class=KinesisFirehoseEvent)
def handler(event: KinesisFirehoseEvent, context: LambdaContext) -> dict[str, Any]:
    return handle(event)


lambda_handler = handler
