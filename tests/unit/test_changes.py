"""lake_row: one change record of the orders table as the flat row the lake stores.

A user relies on: the new image's fields flattened into columns (quantity an
integer, price an exact decimal), the old image kept for MODIFY and REMOVE only,
event_time in UTC with dt / hour partitions from it, and a change the lake
cannot hold refused with a stable reason instead of crashing the stream.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from salesflow.domain.changes import LAKE_COLUMNS, Change, ChangeReason, ChangeRejected, lake_row

AT = "2026-11-25T21:10:17.514Z"
MOMENT = datetime(2026, 11, 25, 21, 10, 17, 514_000, tzinfo=UTC)


def image(**order: Any) -> str:
    """A record as the ledger stores it: canonical keys, price as exact text."""
    fields = {"order_id": "A1", "item_id": "P1001", "product_name": "Wireless Mouse", "quantity": 2, "price": "24.50"}
    fields.update(order)
    return json.dumps(
        {"contact_info": {"name": "Ada Lovelace", "email": "ada@example.com"}, "order_info": fields},
        ensure_ascii=False,
    )


def change(
    event_type: str = "INSERT",
    new_image: str | None = None,
    old_image: str | None = None,
    event_time: str = AT,
    sequence: int = 7,
) -> Change:
    return Change(sequence, event_type, "A1", event_time, new_image, old_image)


def reason_of(refused: Change) -> ChangeReason:
    with pytest.raises(ChangeRejected) as caught:
        lake_row(refused)
    assert caught.value.message  # a message for people, beside the code for machines
    return caught.value.reason


# -- the three kinds of change -------------------------------------------------------


def test_insert_flattens_the_new_image_and_has_no_old_image() -> None:
    new = image()

    row = lake_row(change("INSERT", new, old_image=image(quantity=1)))

    assert list(row) == list(LAKE_COLUMNS)
    assert row == {
        "sequence": 7,
        "event_type": "INSERT",
        "event_time": MOMENT,
        "order_id": "A1",
        "customer_name": "Ada Lovelace",
        "customer_email": "ada@example.com",
        "item_id": "P1001",
        "product_name": "Wireless Mouse",
        "quantity": 2,
        "price": Decimal("24.50"),
        "new_image": new,
        "old_image": None,
        "prev_sequence": None,
        "dt": "2026-11-25",
        "hour": "21",
    }
    assert type(row["quantity"]) is int
    assert row["event_time"].utcoffset().total_seconds() == 0


def test_modify_keeps_the_old_image_beside_the_new_fields() -> None:
    old, new = image(quantity=1), image(quantity=3, price="19.99")

    row = lake_row(change("MODIFY", new, old))

    assert (row["event_type"], row["quantity"], row["price"]) == ("MODIFY", 3, Decimal("19.99"))
    assert (row["new_image"], row["old_image"]) == (new, old)


def test_remove_has_null_fields_and_the_old_image() -> None:
    old = image()

    row = lake_row(change("REMOVE", None, old))

    assert row["event_type"] == "REMOVE"
    assert row["order_id"] == "A1"
    nulls = ("customer_name", "customer_email", "item_id", "product_name", "quantity", "price", "new_image")
    assert {name: row[name] for name in nulls} == dict.fromkeys(nulls)
    assert row["old_image"] == old


@pytest.mark.parametrize(
    ("text", "moment", "dt", "hour"),
    [
        ("2026-11-25T00:00:00.000Z", datetime(2026, 11, 25, tzinfo=UTC), "2026-11-25", "00"),
        ("2026-12-31T23:59:59.999Z", datetime(2026, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC), "2026-12-31", "23"),
        ("2024-02-29T09:05:01.5Z", datetime(2024, 2, 29, 9, 5, 1, 500_000, tzinfo=UTC), "2024-02-29", "09"),
        ("2026-01-02T03:04:05.06Z", datetime(2026, 1, 2, 3, 4, 5, 60_000, tzinfo=UTC), "2026-01-02", "03"),
    ],
)
def test_event_time_is_utc_and_gives_the_date_and_hour_partition(
    text: str, moment: datetime, dt: str, hour: str
) -> None:
    row = lake_row(change(new_image=image(), event_time=text))

    assert row["event_time"] == moment
    assert row["event_time"].tzinfo is not None
    assert row["event_time"].utcoffset().total_seconds() == 0
    assert (row["dt"], row["hour"]) == (dt, hour)


def test_fields_that_are_absent_or_not_in_an_object_are_null_and_other_json_is_kept_as_text() -> None:
    new = json.dumps(
        {
            "contact_info": "Ada",  # not an object: no name, no email
            "order_info": {"order_id": "A1", "item_id": 1001, "product_name": {"en": "Mouse"}, "quantity": "7"},
        }
    )

    row = lake_row(change(new_image=new))

    assert (row["customer_name"], row["customer_email"]) == (None, None)
    assert row["item_id"] == "1001"
    assert json.loads(row["product_name"]) == {"en": "Mouse"}
    assert row["quantity"] == 7  # integer text is an integer
    assert row["price"] is None


def test_unicode_and_large_exact_values_survive() -> None:
    new = image(product_name="Café ☕ 𝄞", quantity=2**63 - 1, price="1234567890123456789012345678.0123456789")

    row = lake_row(change(new_image=new))

    assert row["product_name"] == "Café ☕ 𝄞"
    assert row["quantity"] == 2**63 - 1
    assert row["price"] == Decimal("1234567890123456789012345678.0123456789")


# -- refusals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "event_time",
    [
        "",
        "2026-11-25T21:10:17Z",  # no milliseconds
        "2026-11-25T21:10:17.5140Z",  # four digits
        "2026-11-25 21:10:17.514Z",
        "2026-11-25T21:10:17.514+00:00",
        "2026-11-25T21:10:17.514",
        "2026-02-30T21:10:17.514Z",  # no such day
        "2026-11-25T24:00:00.000Z",
        " 2026-11-25T21:10:17.514Z",
        "yesterday",
    ],
)
def test_a_bad_event_time_is_refused(event_time: str) -> None:
    assert reason_of(change(new_image=image(), event_time=event_time)) is ChangeReason.INVALID_EVENT_TIME


@pytest.mark.parametrize(
    "text",
    ['{"contact_info": ', "not json", "", "{'single': 'quotes'}", '{"a": 1} trailing', '{"a": NaN}'],
)
def test_an_image_that_is_not_json_is_refused(text: str) -> None:
    assert reason_of(change("MODIFY", text, image())) is ChangeReason.INVALID_IMAGE


@pytest.mark.parametrize("text", ['{"contact_info": ', "not json", "[1]", "42"])
def test_a_broken_old_image_does_not_refuse_the_change_that_follows_it(text: str) -> None:
    """Its own change was refused already; the order's newest state must still reach the lake."""
    modify = lake_row(change("MODIFY", image(), text))
    assert modify["old_image"] == text
    remove = lake_row(change("REMOVE", None, text))
    assert remove["old_image"] == text


@pytest.mark.parametrize("text", ["[1]", '"an order"', "42", "null", "true", "[]"])
def test_an_image_that_is_not_an_object_is_refused(text: str) -> None:
    assert reason_of(change(new_image=text)) is ChangeReason.INVALID_IMAGE


@pytest.mark.parametrize(
    "quantity",
    [
        "lots",
        "1.5",
        " 2",
        "+2",
        "２",  # full-width digit
        "",
        1.5,
        2.0,  # a float, even a whole one
        1e3,
        True,
        False,
        [1],
        {"n": 1},
        2**63,  # one past the largest 64-bit integer
        str(2**63),
        -(2**63) - 1,
    ],
)
def test_a_quantity_that_is_not_a_64_bit_integer_is_refused(quantity: Any) -> None:
    assert reason_of(change(new_image=image(quantity=quantity))) is ChangeReason.INVALID_QUANTITY


@pytest.mark.parametrize(
    "price",
    [
        24.5,  # a number: the ledger stores prices as exact text, a number is not ours
        24,
        True,
        "1.12345678901",  # eleven places
        "12345678901234567890123456789",  # 29 digits before the point
        "-1.00",
        "1e3",
        "1.",
        ".5",
        " 1.00",
        "1,00",
        "NaN",
        "",
        ["1.00"],
    ],
)
def test_a_price_that_is_not_plain_decimal_text_within_the_lake_precision_is_refused(price: Any) -> None:
    assert reason_of(change(new_image=image(price=price))) is ChangeReason.INVALID_PRICE


def test_rules_are_applied_in_order_event_time_image_quantity_price() -> None:
    everything_wrong = change(new_image="[1]", event_time="soon")
    assert reason_of(everything_wrong) is ChangeReason.INVALID_EVENT_TIME
    assert reason_of(change("MODIFY", "[1]", image())) is ChangeReason.INVALID_IMAGE
    assert reason_of(change(new_image=image(quantity="x", price=1))) is ChangeReason.INVALID_QUANTITY


def test_null_quantity_and_price_are_not_refused() -> None:
    row = lake_row(change(new_image=image(quantity=None, price=None)))
    assert (row["quantity"], row["price"]) == (None, None)
