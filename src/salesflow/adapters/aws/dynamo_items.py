"""The shape of an order in the DynamoDB orders table.

One item per order (partition key ``order_id``):

- ``record``: the normalised record as JSON text, exactly as the embedded face
  keeps it (unknown fields, any nesting, prices as exact decimal text). It is
  the image the stream carries into the lake.
- typed copies for queries and the console: ``customer_name``, ``customer_email``,
  ``item_id``, ``product_name`` (strings), ``quantity`` and ``price`` (DynamoDB
  numbers: Decimal, exact to 38 digits, which every valid price fits; see
  domain/orders.py PRICE_WHOLE_DIGITS);
- where it came from: ``source_key``, ``source_position``, ``execution_id``, and
  ``updated_at``. A repeated write of the same (execution, position) is
  recognised by these (see dynamo_ledger.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from salesflow.domain.orders import order_columns
from salesflow.jsoncodec import from_json, to_json

# Item size limit of DynamoDB (400 KB, attribute names included); we keep a margin for them.
MAX_ITEM_BYTES = 400 * 1024 - 2048


def order_item(
    order_id: str, image: str, source_key: str | None, position: int | None, execution_id: str | None, at: str
) -> dict[str, Any]:
    """The typed item (DynamoDB JSON) of an order whose normalised record is the JSON text image."""
    record = from_json(image)
    item: dict[str, Any] = {"order_id": {"S": order_id}, "record": {"S": image}, "updated_at": {"S": at}}
    if source_key is not None:
        item["source_key"] = {"S": source_key}
    if position is not None:
        item["source_position"] = {"N": str(position)}
    if execution_id is not None:
        item["execution_id"] = {"S": execution_id}
    for column, value in order_columns(record).items():
        if column in ("quantity", "price"):
            if isinstance(value, int) and not isinstance(value, bool):
                item[column] = {"N": str(value)}
            elif isinstance(value, str):
                item[column] = {"N": format(Decimal(value), "f")}  # check_order made it exact decimal text
        elif isinstance(value, str):
            item[column] = {"S": value}
    return item


def item_bytes(item: dict[str, Any]) -> int:
    """A safe over-estimate of an item's size as DynamoDB counts it."""
    return sum(len(name) + len(to_json(value)) for name, value in item.items())
