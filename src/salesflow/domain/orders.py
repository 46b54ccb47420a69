"""Orders as they arrive: key spellings normalised, each record validated.

A record is a JSON object with a contact section and an order section, whose
keys vary in the wild (``OrderId``, ``orderId``, ``order_id``, ``order-id``).
Keys are matched case-insensitively ignoring ``-``, ``_`` and spaces; known
fields take their canonical name, unknown fields are kept as they came.

A refused record is data, not an exception: :func:`check_order` returns the
reasons, and the pipeline sends the record to the dead-letter queue with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why a record was refused. Codes are stable: machines match on them."""

    NOT_AN_OBJECT = "not_an_object"
    MISSING_CONTACT_INFO = "missing_contact_info"
    MISSING_ORDER_INFO = "missing_order_info"
    MISSING_ORDER_ID = "missing_order_id"
    INVALID_QUANTITY = "invalid_quantity"
    INVALID_EMAIL = "invalid_email"
    INVALID_PRICE = "invalid_price"
    MALFORMED_JSON = "malformed_json"
    RECORD_TOO_LARGE = "record_too_large"
    WRITE_FAILED = "write_failed"


CONTACT = "contact_info"
ORDER = "order_info"

# Canonical field names by their folded spelling (lower case, no "-", "_" or space).
_SECTIONS = {"contactinfo": CONTACT, "orderinfo": ORDER}
_CONTACT_FIELDS = {"name": "name", "customername": "name", "email": "email", "emailaddress": "email"}
_ORDER_FIELDS = {
    "orderid": "order_id",
    "itemid": "item_id",
    "itemdesc": "product_name",
    "itemdescription": "product_name",
    "productname": "product_name",
    "qty": "quantity",
    "quantity": "quantity",
    "price": "price",
    "unitprice": "price",
}
_FOLD = str.maketrans("", "", "-_ ")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)*\.[^@\s.]+\Z")
# A price is exact to PRICE_SCALE places with at most PRICE_WHOLE_DIGITS before the point:
# 38 significant digits, what a DynamoDB number, a Parquet/DuckDB DECIMAL(38, 10) and so
# the lake can hold exactly. A price that needs more is an error, not an order.
PRICE_SCALE = 10
PRICE_WHOLE_DIGITS = 28
_PLAIN_PRICE = re.compile(rf"[0-9]{{1,{PRICE_WHOLE_DIGITS}}}(?:\.[0-9]{{1,{PRICE_SCALE}}})?\Z")
_PRICE_STEP = Decimal(1).scaleb(-PRICE_SCALE)
_INTEGER = re.compile(r"\s*\+?[0-9]+\s*\Z")
MAX_QUANTITY = 2**63 - 1  # what the orders table can hold


def fold_key(key: str) -> str:
    """The spelling-free form of a key: ``Order-Id`` and ``order_id`` both give ``orderid``."""
    return key.translate(_FOLD).lower()


@dataclass(frozen=True, slots=True)
class Order:
    """A valid order, ready for the orders table.

    ``record`` is the normalised record: sections and known fields under their
    canonical names, ``order_id`` as text, ``quantity`` as an int, ``price`` as
    exact decimal text, unknown fields as they came.
    """

    order_id: str
    record: dict[str, Any]

    @property
    def contact(self) -> dict[str, Any]:
        return self.record[CONTACT]  # type: ignore[no-any-return]

    @property
    def order(self) -> dict[str, Any]:
        return self.record[ORDER]  # type: ignore[no-any-return]


def check_order(raw: Any) -> Order | list[Reason]:
    """Normalise and validate one record: an Order, or every reason it is refused."""
    if type(raw) is not dict:
        return [Reason.NOT_AN_OBJECT]
    record = normalise_record(raw)
    reasons: list[Reason] = []
    contact = record.get(CONTACT)
    order = record.get(ORDER)
    if type(contact) is not dict or not contact:
        reasons.append(Reason.MISSING_CONTACT_INFO)
        contact = {}
    if type(order) is not dict or not order:
        reasons.append(Reason.MISSING_ORDER_INFO)
        order = {}
    order_id = _text(order.get("order_id"))
    if order_id is None:
        reasons.append(Reason.MISSING_ORDER_ID)
    quantity = _quantity(order.get("quantity"))
    if quantity is None:
        reasons.append(Reason.INVALID_QUANTITY)
    email = contact.get("email")
    if email is not None and not (type(email) is str and _EMAIL.match(email)):
        reasons.append(Reason.INVALID_EMAIL)
    price = order.get("price")
    if price is not None:
        price = _price(price)
        if price is None:
            reasons.append(Reason.INVALID_PRICE)
        else:
            order["price"] = price
    if reasons:
        return reasons
    order["order_id"] = order_id
    order["quantity"] = quantity
    return Order(order_id, record)  # type: ignore[arg-type]


def normalise_record(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of raw with known keys under their canonical names, unknown keys as they came.

    Where two spellings of one field both appear, the first with a value wins.
    """
    record = _rename(raw, _SECTION_PLANS)
    contact = record.get(CONTACT)
    if type(contact) is dict:
        record[CONTACT] = _rename(contact, _CONTACT_PLANS)
    order = record.get(ORDER)
    if type(order) is dict:
        record[ORDER] = _rename(order, _ORDER_PLANS)
    return record


def canonical_name(key: str, section: str | None = None) -> str:
    """The canonical name of key at the top level of a record (section None), or inside
    the contact or order section; unknown keys keep their own spelling."""
    fields = {None: _SECTIONS, CONTACT: _CONTACT_FIELDS, ORDER: _ORDER_FIELDS}.get(section, {})
    return fields.get(fold_key(key), key)


class _Plans(dict[tuple[str, ...], tuple[str, ...] | None]):
    """Memo: a tuple of keys as they came -> their canonical names (None when two
    keys share a name). Files repeat a handful of layouts, so renaming a record
    is one lookup and one dict(zip(...)) in C."""

    __slots__ = ("fields",)
    LIMIT = 10_000  # hostile files with endless distinct layouts must not grow memory

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__()
        self.fields = fields

    def __missing__(self, keys: tuple[str, ...]) -> tuple[str, ...] | None:
        names = tuple(self.fields.get(fold_key(key), key) for key in keys)
        plan = names if len(set(names)) == len(names) else None
        if len(self) < self.LIMIT:
            self[keys] = plan
        return plan

    def rename_slowly(self, section: dict[str, Any]) -> dict[str, Any]:
        renamed: dict[str, Any] = {}
        for key, value in section.items():
            name = self.fields.get(fold_key(key), key)
            if renamed.get(name) is None:
                renamed[name] = value
        return renamed


_SECTION_PLANS = _Plans(_SECTIONS)
_CONTACT_PLANS = _Plans(_CONTACT_FIELDS)
_ORDER_PLANS = _Plans(_ORDER_FIELDS)


def _rename(section: dict[str, Any], plans: _Plans) -> dict[str, Any]:
    names = plans[tuple(section)]
    if names is None:
        return plans.rename_slowly(section)
    return dict(zip(names, section.values()))  # noqa: B905 - names has one entry per key


def _text(value: Any) -> str | None:
    """Text as given (stripped), numbers as their digits; anything else is absent."""
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    return None


def _quantity(value: Any) -> int | None:
    if type(value) is str:
        # Plain ASCII digits (the common case) skip the regex.
        value = int(value) if (value.isdigit() and value.isascii()) or _INTEGER.match(value) else None
    elif isinstance(value, Decimal):
        value = int(value) if value.is_finite() and value == value.to_integral_value() else None
    if type(value) is int and 0 < value <= MAX_QUANTITY:
        return value
    return None


def _price(value: Any) -> str | None:
    """Exact decimal text of a price >= 0, or None when it is not one."""
    if type(value) is str and _PLAIN_PRICE.match(value):
        return value  # already exact decimal text: no need to go through Decimal
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, float):
        number = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    if not number.is_finite() or number < 0 or number.adjusted() >= PRICE_WHOLE_DIGITS:
        return None
    if number.as_tuple().exponent < -PRICE_SCALE:  # type: ignore[operator]
        if number != number.quantize(_PRICE_STEP):
            return None  # more places than a price may have (trailing zeros are fine)
        number = number.quantize(_PRICE_STEP)
    return format(number, "f")


# The orders table's flat columns: column -> (section, field) of the normalised record. The
# SQLite view, the in-memory and DynamoDB ledgers, and the lake all flatten records this way.
ORDER_COLUMNS: dict[str, tuple[str, str]] = {
    "customer_name": (CONTACT, "name"),
    "customer_email": (CONTACT, "email"),
    "item_id": (ORDER, "item_id"),
    "product_name": (ORDER, "product_name"),
    "quantity": (ORDER, "quantity"),
    "price": (ORDER, "price"),
}


def order_columns(record: Any) -> dict[str, Any]:
    """The flat columns of a normalised record, as they are in it (None where absent)."""
    columns: dict[str, Any] = {}
    for column, (section, name) in ORDER_COLUMNS.items():
        part = record.get(section) if isinstance(record, dict) else None
        columns[column] = part.get(name) if isinstance(part, dict) else None
    return columns
