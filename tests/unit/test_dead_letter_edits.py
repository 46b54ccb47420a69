"""`dlq redrive --set FIELD=VALUE`: how an edit is read, and what it does to the queued record."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from salesflow.domain.errors import PermanentError
from salesflow.domain.orders import Order, Reason, check_order
from salesflow.pipelines.dead_letters import apply_assignments, parse_assignment


def queued() -> dict[str, Any]:
    """A refused record as it sits in the queue: quantity 0, keys as they arrived."""
    return {
        "contact-info": {"name": "Foo Bar", "email": "foobar@test.com"},
        "order-info": {"OrderId": "4", "item-id": "104", "item-desc": "USB-C Cable", "qty": "0"},
        "channel": "web",
    }


def edited(record: Any, *texts: str) -> Any:
    return apply_assignments(record, [parse_assignment(text) for text in texts])


# --- parse_assignment -------------------------------------------------------------------------------------------------


def test_a_dotted_path_and_a_json_value() -> None:
    assert parse_assignment("order-info.qty=2") == (["order-info", "qty"], 2)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("f=2", 2),
        ('f="2"', "2"),
        ("f=true", True),
        ("f=null", None),
        ("f=[1, 2]", [1, 2]),
        ('f={"a": 1}', {"a": 1}),
        ("f=123456789012345678901234567890", 123456789012345678901234567890),
        ("f=Foo Bar", "Foo Bar"),
        ("f=foobar@test.com", "foobar@test.com"),
        ("f=2026-11-01", "2026-11-01"),
        ("f={not json", "{not json"),
        ("f=", ""),
        ("f=a=b", "a=b"),
    ],
)
def test_a_value_is_json_when_it_parses_and_text_otherwise(text: str, value: Any) -> None:
    path, parsed = parse_assignment(text)

    assert path == ["f"]
    assert parsed == value
    assert type(parsed) is type(value)


def test_a_field_name_may_have_spaces_around_it() -> None:
    assert parse_assignment(" contact-info.email =a@b.co")[0] == ["contact-info", "email"]


@pytest.mark.parametrize("text", ["qty", "", "=2", " =2", ".=2", "..=2"])
def test_bad_syntax_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(PermanentError) as refused:
        parse_assignment(text)

    assert "FIELD=VALUE" in str(refused.value)
    assert "order-info.qty=2" in str(refused.value)


def test_a_price_set_by_hand_stays_exact() -> None:
    # Money is Decimal, never float: --set order-info.price=19.90 must store "19.90", not "19.9".
    order = check_order(edited(queued(), "order-info.qty=1", "order-info.price=19.90"))

    assert isinstance(order, Order)
    assert order.record["order_info"]["price"] == "19.90"
    assert Decimal(order.record["order_info"]["price"]) == Decimal("19.90")


# --- apply_assignments ------------------------------------------------------------------------------------------------


def test_setting_a_field_keeps_the_spelling_it_arrived_with() -> None:
    record = edited(queued(), "order-info.qty=2")

    assert record == {
        "contact-info": {"name": "Foo Bar", "email": "foobar@test.com"},
        "order-info": {"OrderId": "4", "item-id": "104", "item-desc": "USB-C Cable", "qty": 2},
        "channel": "web",
    }


@pytest.mark.parametrize("path", ["order_info.qty", "OrderInfo.QTY", "ORDER INFO.Qty", "order-info.q-t-y"])
def test_a_path_matches_existing_keys_in_any_spelling(path: str) -> None:
    record = edited(queued(), f"{path}=2")

    assert list(record) == ["contact-info", "order-info", "channel"]
    assert record["order-info"]["qty"] == 2
    assert list(record["order-info"]) == ["OrderId", "item-id", "item-desc", "qty"]


def test_a_section_in_another_spelling_is_not_renamed() -> None:
    record = edited(queued(), "order_info.quantity=2")

    assert list(record) == ["contact-info", "order-info", "channel"]
    assert record["order-info"]["OrderId"] == "4"
    assert 2 in record["order-info"].values()


def test_setting_quantity_fixes_a_record_that_spells_it_qty() -> None:
    # qty and quantity are one field; the user fixing it should not need to know which spelling arrived.
    order = check_order(edited(queued(), "order-info.quantity=2"))

    assert isinstance(order, Order), f"still refused with {order}"
    assert order.record["order_info"]["quantity"] == 2


def test_missing_objects_on_the_path_are_created() -> None:
    record = edited({"order-info": {"OrderId": "2", "qty": "2"}}, "contact-info.email=foobar@test.com")

    assert record["contact-info"] == {"email": "foobar@test.com"}
    assert edited({}, "a.b.c=1") == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize("section", [None, "", [], 5])
def test_a_section_that_is_not_an_object_is_replaced_by_one(section: Any) -> None:
    record = {"contact-info": section, "order-info": {"OrderId": "2", "qty": "2"}}

    assert edited(record, "contact-info.email=foobar@test.com")["contact-info"] == {"email": "foobar@test.com"}


def test_a_whole_section_can_be_set_as_json() -> None:
    record = edited(queued(), 'contact-info={"name": "Ada", "email": "ada@example.com"}')

    assert record["contact-info"] == {"name": "Ada", "email": "ada@example.com"}


def test_assignments_apply_in_order() -> None:
    record = edited(queued(), "order-info.qty=2", "order-info.qty=3", "channel=shop")

    assert record["order-info"]["qty"] == 3
    assert record["channel"] == "shop"


def test_the_queued_record_is_not_changed() -> None:
    record = queued()
    record["order-info"]["lines"] = [{"sku": "a"}]
    before = copy.deepcopy(record)

    after = edited(record, "order-info.qty=2", "order-info.lines=[]", "contact-info.name=Ada", "new.deep.key=1")

    assert record == before
    assert after is not record
    assert after["order-info"] is not record["order-info"]


def test_no_assignments_give_the_record_back_unchanged() -> None:
    assert apply_assignments(queued(), []) == queued()


@pytest.mark.parametrize("record", [[1, 2], "text", 7, None])
def test_a_record_that_is_not_an_object_cannot_be_edited(record: Any) -> None:
    with pytest.raises(PermanentError):
        edited(record, "order-info.qty=2")


# --- edit, then validate again ----------------------------------------------------------------------------------------


def test_the_seed_record_without_contact_info_can_be_fixed_by_edits() -> None:
    record = {"order-info": {"orderId": "2", "item-id": "102", "item-desc": "Item Two", "qty": "2"}}
    assert check_order(record) == [Reason.MISSING_CONTACT_INFO]

    order = check_order(edited(record, "contact-info.name=Foo Bar", "contact-info.email=foobar@test.com"))

    assert isinstance(order, Order)
    assert order.order_id == "2"
    assert order.record["contact_info"] == {"name": "Foo Bar", "email": "foobar@test.com"}


def test_an_edit_can_leave_a_record_still_refused() -> None:
    assert check_order(edited(queued(), "order-info.qty=-1")) == [Reason.INVALID_QUANTITY]
    assert check_order(edited(queued(), "order-info.qty=2", "contact-info.email=nope")) == [Reason.INVALID_EMAIL]
