"""Change records of the orders table, and their shape in the lake.

A change is what DynamoDB Streams would carry for one write of an order: its
sequence number, INSERT / MODIFY / REMOVE, when it committed, and the new and
old images (the records as JSON text). :func:`lake_row` turns one change into
the flat row the lake stores; it is the reference for the stream transform (the
embedded face runs the same rules over many rows at once, in SQL, and the AWS
face's Firehose transform calls this function per record).

A change that cannot be transformed is data, not a crash: :func:`lake_row`
raises :class:`ChangeRejected` with a reason, and the stream routes the change
to the lake's error output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import msgspec

from salesflow.domain.orders import ORDER_COLUMNS, PRICE_SCALE, PRICE_WHOLE_DIGITS, order_columns

# The lake's price: exactly the prices the orders table accepts, as DECIMAL(38, 10).
PRICE_PRECISION = PRICE_WHOLE_DIGITS + PRICE_SCALE
_PRICE = re.compile(rf"[0-9]{{1,{PRICE_PRECISION - PRICE_SCALE}}}(?:\.[0-9]{{1,{PRICE_SCALE}}})?\Z")
_INTEGER = re.compile(r"-?[0-9]{1,19}\Z")
MAX_QUANTITY = 2**63 - 1
# The commit time as the ledger writes it (clock.utc_now), milliseconds in 1 to 3 digits.
_EVENT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{1,3}Z\Z")

# The flattened fields of a new image: the orders table's columns.
FLAT_FIELDS = ORDER_COLUMNS

# Every column of a lake row, in order. dt and hour are the partition columns.
LAKE_COLUMNS = (
    "sequence", "event_type", "event_time", "order_id",
    *FLAT_FIELDS,
    "new_image", "old_image", "prev_sequence", "dt", "hour",
)  # fmt: skip


class EventType(StrEnum):
    INSERT = "INSERT"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"


class ChangeReason(StrEnum):
    """Why a change could not go into the lake. Codes are stable: machines match on them."""

    INVALID_IMAGE = "invalid_image"  # not a JSON object
    INVALID_QUANTITY = "invalid_quantity"  # not an integer the lake can hold
    INVALID_PRICE = "invalid_price"  # not a plain decimal within the lake's precision
    INVALID_EVENT_TIME = "invalid_event_time"
    TRANSFORM_FAILED = "transform_failed"  # anything else: a bug, named in the message


class ChangeRejected(Exception):
    """One change the transform refused; the stream goes on without it."""

    def __init__(self, reason: ChangeReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Change:
    """One change record, as the change feed hands it over."""

    sequence: int
    event_type: str
    order_id: str
    event_time: str
    new_image: str | None
    old_image: str | None
    prev_sequence: int | None = None  # the change that held the old image (None for an INSERT)

    def as_json(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "prev_sequence": self.prev_sequence,
            "event_type": self.event_type,
            "order_id": self.order_id,
            "event_time": self.event_time,
            "new_image": self.new_image,
            "old_image": self.old_image,
        }


def lake_row(change: Change) -> dict[str, Any]:
    """The lake row of one change: new image fields flattened, event time in UTC,
    partitioned by the event's date and hour. Raises ChangeRejected.

    The old image rides along as it is, unchecked: were it broken, its own change was
    refused already, and refusing every later change of the order too would leave the
    lake without the order's newest state."""
    moment = event_moment(change.event_time)
    fields = order_columns(None if change.new_image is None else _object(change.new_image))
    return {
        "sequence": change.sequence,
        "event_type": change.event_type,
        "event_time": moment,
        "order_id": change.order_id,
        "customer_name": _text(fields["customer_name"]),
        "customer_email": _text(fields["customer_email"]),
        "item_id": _text(fields["item_id"]),
        "product_name": _text(fields["product_name"]),
        "quantity": quantity(fields["quantity"]),
        "price": price(fields["price"]),
        "new_image": change.new_image,
        "old_image": change.old_image if change.event_type != EventType.INSERT else None,
        "prev_sequence": change.prev_sequence,
        "dt": moment.date().isoformat(),  # not strftime: %Y does not pad years before 1000
        "hour": f"{moment.hour:02d}",
    }


def event_moment(text: str) -> datetime:
    try:
        if isinstance(text, str) and _EVENT_TIME.match(text):
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        pass
    raise ChangeRejected(
        ChangeReason.INVALID_EVENT_TIME, f"event time {text!r} is not like 2026-11-25T10:00:00.000Z"
    ) from None


def quantity(value: Any) -> int | None:
    """The lake's quantity: an integer (or its text), else the change is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ChangeRejected(ChangeReason.INVALID_QUANTITY, f"quantity {value!r} is not an integer")
    if isinstance(value, str) and not _INTEGER.match(value):
        raise ChangeRejected(ChangeReason.INVALID_QUANTITY, f"quantity {value!r} is not an integer")
    number = int(value)
    if not -MAX_QUANTITY - 1 <= number <= MAX_QUANTITY:
        raise ChangeRejected(ChangeReason.INVALID_QUANTITY, f"quantity {value!r} does not fit a 64-bit integer")
    return number


def price(value: Any) -> Decimal | None:
    """The lake's price: a plain decimal with at most PRICE_SCALE places, else refused."""
    if value is None:
        return None
    text = value if isinstance(value, str) else None
    if text is None or not _PRICE.match(text):
        raise ChangeRejected(
            ChangeReason.INVALID_PRICE,
            f"price {value!r} is not a plain decimal with at most {PRICE_SCALE} places "
            f"and {PRICE_PRECISION - PRICE_SCALE} digits before the point",
        )
    return Decimal(text)


# Numbers beyond a double (1E+400: the ledger keeps such numbers exact) are still JSON.
_EXACT = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def _text(value: Any) -> str | None:
    """A flattened text field: strings as they are, other JSON values as JSON text."""
    if value is None or isinstance(value, str):
        return value
    return _ENCODER.encode(value).decode()


def _object(text: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError:
        try:
            value = _EXACT.decode(text)
        except msgspec.DecodeError as exc:
            raise ChangeRejected(ChangeReason.INVALID_IMAGE, f"image is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ChangeRejected(ChangeReason.INVALID_IMAGE, f"image is a JSON {type(value).__name__}, not an object")
    return value
