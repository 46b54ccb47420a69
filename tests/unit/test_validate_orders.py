"""check_order: the reason codes a user filters the dead-letter queue by, and the normalised record."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesflow.domain.orders import Order, Reason, check_order

CONTACT = {"name": "Foo Bar", "email": "foobar@test.com"}


def record(contact: Any = CONTACT, **order: Any) -> dict[str, Any]:
    """A valid record unless the arguments spoil it; order fields override the defaults."""
    fields: dict[str, Any] = {"OrderId": "1", "item-id": "101", "item-desc": "Item One", "qty": "1"}
    fields.update(order)
    return {"contact-info": copy.deepcopy(contact), "order-info": fields}


def accepted(raw: Any) -> Order:
    result = check_order(raw)
    assert isinstance(result, Order), f"refused with {result}"
    return result


def refused(raw: Any) -> set[Reason]:
    result = check_order(raw)
    assert isinstance(result, list), f"accepted as {result}"
    assert len(result) == len(set(result)), "a reason is listed twice"
    return set(result)


# --- the seed's examples ----------------------------------------------------------------------------------------------


def test_the_seed_first_record_is_a_valid_order() -> None:
    raw = {
        "contact-info": {"name": "Foo Bar", "email": "foobar@test.com"},
        "order-info": {"OrderId": "1", "item-id": "101", "item-desc": "Item One", "qty": "1"},
    }

    order = accepted(raw)

    assert order.order_id == "1"
    assert order.record == {
        "contact_info": {"name": "Foo Bar", "email": "foobar@test.com"},
        "order_info": {"order_id": "1", "item_id": "101", "product_name": "Item One", "quantity": 1},
    }


def test_the_seed_second_record_is_refused_for_missing_contact_info_only() -> None:
    raw = {"order-info": {"orderId": "2", "item-id": "102", "item-desc": "Item Two", "qty": "2"}}

    assert check_order(raw) == [Reason.MISSING_CONTACT_INFO]


# --- not_an_object ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [[], [record()], "an order", "", 0, 7, Decimal("1.5"), True, None])
def test_a_record_that_is_not_an_object_has_exactly_one_reason(raw: Any) -> None:
    assert check_order(raw) == [Reason.NOT_AN_OBJECT]


# --- missing sections -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("section", [None, {}, [], [CONTACT], "Foo Bar", 0, True])
def test_contact_info_null_empty_or_not_an_object_is_missing(section: Any) -> None:
    assert refused(record(contact=section)) == {Reason.MISSING_CONTACT_INFO}


def test_contact_info_absent_is_missing() -> None:
    raw = record()
    del raw["contact-info"]

    assert refused(raw) == {Reason.MISSING_CONTACT_INFO}


@pytest.mark.parametrize("section", [None, {}, [], "order 1", 1])
def test_order_info_null_empty_or_not_an_object_is_missing_with_its_fields(section: Any) -> None:
    raw = {"contact-info": dict(CONTACT), "order-info": section}

    # No order section means no order id and no quantity either: each is reported.
    assert refused(raw) == {Reason.MISSING_ORDER_INFO, Reason.MISSING_ORDER_ID, Reason.INVALID_QUANTITY}


def test_order_info_absent_is_missing() -> None:
    raw = {"contact-info": dict(CONTACT)}

    assert Reason.MISSING_ORDER_INFO in refused(raw)


# --- missing_order_id -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order_id", ["", "   ", "\t\n", None, True, False, [], ["1"], {}, {"id": 1}, Decimal("1.5")])
def test_an_empty_or_unusable_order_id_is_missing(order_id: Any) -> None:
    assert refused(record(OrderId=order_id)) == {Reason.MISSING_ORDER_ID}


def test_an_absent_order_id_is_missing() -> None:
    raw = record()
    del raw["order-info"]["OrderId"]

    assert refused(raw) == {Reason.MISSING_ORDER_ID}


@pytest.mark.parametrize(
    ("order_id", "text"),
    [
        ("A-17", "A-17"),
        ("  42 ", "42"),
        (42, "42"),
        (0, "0"),
        (2**64 + 1, "18446744073709551617"),
        (10**30, "1" + "0" * 30),
        (Decimal("42"), "42"),
        (Decimal("42.0"), "42"),
        (Decimal("4.2E+1"), "42"),
    ],
)
def test_an_order_id_is_stored_as_text(order_id: Any, text: str) -> None:
    order = accepted(record(OrderId=order_id))

    assert order.order_id == text
    assert order.record["order_info"]["order_id"] == text


# --- invalid_quantity -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quantity",
    [0, "0", -1, "-3", "1.5", "abc", "", "  ", None, True, False, Decimal("1.5"), Decimal("-2"), [2], {"n": 2}, 2**63],
)
def test_a_quantity_that_is_not_a_whole_number_above_zero_is_invalid(quantity: Any) -> None:
    assert refused(record(qty=quantity)) == {Reason.INVALID_QUANTITY}


def test_an_absent_quantity_is_invalid() -> None:
    raw = record()
    del raw["order-info"]["qty"]

    assert refused(raw) == {Reason.INVALID_QUANTITY}


@pytest.mark.parametrize(
    ("quantity", "number"),
    [("2", 2), (" 3 ", 3), (2, 2), (Decimal("2"), 2), (Decimal("4.0"), 4), (2**63 - 1, 2**63 - 1)],
)
def test_a_whole_quantity_is_stored_as_an_int(quantity: Any, number: int) -> None:
    stored = accepted(record(qty=quantity)).record["order_info"]["quantity"]

    assert stored == number
    assert type(stored) is int


# --- invalid_email ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email", ["foobar", "foobar@test", "@test.com", "foobar@", "foo@bar@test.com", "foo bar@test.com", "foo@.com", 7]
)
def test_an_email_not_of_the_form_local_at_domain_tld_is_invalid(email: Any) -> None:
    contact = {"name": "Foo Bar", "email": email}

    assert refused(record(contact=contact)) == {Reason.INVALID_EMAIL}


@pytest.mark.parametrize("email", ["foobar@test.com", "first.last+tag@mail.example.co.uk", "a@b.io"])
def test_a_well_formed_email_is_accepted(email: str) -> None:
    contact = {"name": "Foo Bar", "email": email}

    assert accepted(record(contact=contact)).record["contact_info"]["email"] == email


@pytest.mark.parametrize("contact", [{"name": "Foo Bar"}, {"name": "Foo Bar", "email": None}])
def test_an_email_is_optional(contact: dict[str, Any]) -> None:
    accepted(record(contact=contact))


# --- invalid_price ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "price",
    [-1, "-0.01", Decimal("-19.90"), "abc", "", "12,50", "NaN", "nan", "Infinity", "-Infinity", True, False, [1], {}],
)
def test_a_price_that_is_not_a_number_of_zero_or_more_is_invalid(price: Any) -> None:
    assert refused(record(price=price)) == {Reason.INVALID_PRICE}


@pytest.mark.parametrize(
    ("price", "text"),
    [
        ("19.90", "19.90"),
        (" 19.90 ", "19.90"),
        (Decimal("19.90"), "19.90"),
        (Decimal("24.50"), "24.50"),
        ("0", "0"),
        (0, "0"),
        (5, "5"),
        ("1e2", "100"),
        ("0.000001", "0.000001"),
        (Decimal("123456789012345678.123456789"), "123456789012345678.123456789"),
    ],
)
def test_a_price_is_stored_as_exact_decimal_text(price: Any, text: str) -> None:
    assert accepted(record(price=price)).record["order_info"]["price"] == text


def test_a_price_is_optional() -> None:
    assert "price" not in accepted(record()).record["order_info"]
    assert accepted(record(price=None)).record["order_info"].get("price") is None


# --- several reasons at once ------------------------------------------------------------------------------------------


def test_every_reason_of_a_record_is_reported() -> None:
    raw = {
        "contact-info": {"name": "Foo Bar", "email": "not-an-email"},
        "order-info": {"OrderId": "", "qty": "0", "price": "-5"},
    }

    assert refused(raw) == {
        Reason.MISSING_ORDER_ID,
        Reason.INVALID_QUANTITY,
        Reason.INVALID_EMAIL,
        Reason.INVALID_PRICE,
    }


def test_an_empty_object_lacks_both_sections_and_the_required_fields() -> None:
    assert refused({}) == {
        Reason.MISSING_CONTACT_INFO,
        Reason.MISSING_ORDER_INFO,
        Reason.MISSING_ORDER_ID,
        Reason.INVALID_QUANTITY,
    }


def test_a_bad_email_is_reported_alongside_a_missing_order_section() -> None:
    raw = {"contact-info": {"email": "nope"}}

    assert refused(raw) == {
        Reason.MISSING_ORDER_INFO,
        Reason.MISSING_ORDER_ID,
        Reason.INVALID_QUANTITY,
        Reason.INVALID_EMAIL,
    }


# --- key spellings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["OrderId", "orderId", "order_id", "order-id", "Order Id", "ORDER_ID", "order id"])
def test_every_spelling_of_order_id_is_the_order_id(key: str) -> None:
    raw = {"contact-info": dict(CONTACT), "order-info": {key: "9", "qty": 1}}

    order = accepted(raw)

    assert order.order_id == "9"
    assert order.record["order_info"] == {"order_id": "9", "quantity": 1}


@pytest.mark.parametrize("contact_key", ["contact-info", "ContactInfo", "contact_info", "Contact Info", "contactinfo"])
@pytest.mark.parametrize("order_key", ["order-info", "OrderInfo", "order_info", "Order Info"])
def test_every_spelling_of_the_sections_is_recognised(contact_key: str, order_key: str) -> None:
    raw = {contact_key: dict(CONTACT), order_key: {"order_id": "1", "quantity": 1}}

    order = accepted(raw)

    assert order.record == {
        "contact_info": CONTACT,
        "order_info": {"order_id": "1", "quantity": 1},
    }


def test_field_aliases_take_their_canonical_names() -> None:
    raw = {
        "contact-info": {"name": "Foo Bar", "email": "foobar@test.com"},
        "order-info": {"order-id": "1", "item-id": "101", "item-desc": "Item One", "qty": "3", "unit-price": "9.50"},
    }

    assert accepted(raw).record["order_info"] == {
        "order_id": "1",
        "item_id": "101",
        "product_name": "Item One",
        "quantity": 3,
        "price": "9.50",
    }


@pytest.mark.parametrize(
    ("key", "name"),
    [("ItemDesc", "product_name"), ("product_name", "product_name"), ("ProductName", "product_name")],
)
def test_product_name_spellings(key: str, name: str) -> None:
    raw = {"contact-info": dict(CONTACT), "order-info": {"order_id": "1", "qty": 1, key: "Item One"}}

    assert accepted(raw).record["order_info"][name] == "Item One"


def test_unknown_fields_are_kept_with_their_own_spelling() -> None:
    raw = {
        "contact-info": {"name": "Foo Bar", "email": "foobar@test.com", "Phone-Number": "+44 20 7946 0000"},
        "order-info": {"OrderId": "1", "qty": 1, "Gift_Wrap": True, "notes": {"Deliver-By": "Friday"}},
        "Channel": "web",
        "received_at": "2026-11-01T10:00:00Z",
    }

    record_ = accepted(raw).record

    assert record_["contact_info"]["Phone-Number"] == "+44 20 7946 0000"
    assert record_["order_info"]["Gift_Wrap"] is True
    assert record_["order_info"]["notes"] == {"Deliver-By": "Friday"}
    assert record_["Channel"] == "web"
    assert record_["received_at"] == "2026-11-01T10:00:00Z"


def test_when_two_spellings_appear_the_first_wins() -> None:
    raw = {"contact-info": dict(CONTACT), "order-info": {"OrderId": "first", "order_id": "second", "qty": 1}}

    assert accepted(raw).order_id == "first"


def test_when_the_first_spelling_is_null_the_next_with_a_value_wins() -> None:
    raw = {
        "contact-info": dict(CONTACT),
        "order-info": {"OrderId": None, "order-id": "second", "qty": None, "quantity": "4"},
    }

    order = accepted(raw)

    assert order.order_id == "second"
    assert order.record["order_info"]["quantity"] == 4


def test_a_null_section_gives_way_to_another_spelling_of_it() -> None:
    raw = {"contact-info": None, "ContactInfo": dict(CONTACT), "order-info": {"order_id": "1", "qty": 1}}

    assert accepted(raw).record["contact_info"] == CONTACT


def test_two_spellings_of_a_quantity_use_the_first() -> None:
    raw = {"contact-info": dict(CONTACT), "order-info": {"order_id": "1", "qty": "0", "quantity": "5"}}

    assert refused(raw) == {Reason.INVALID_QUANTITY}


def test_checking_does_not_change_the_record_as_it_arrived() -> None:
    raw = record(price=Decimal("19.90"), OrderId=7, extra={"nested": [1, 2]})
    before = copy.deepcopy(raw)

    accepted(raw)
    check_order({"contact-info": raw["contact-info"], "order-info": {"qty": "x", "price": "-1"}})

    assert raw == before


# --- properties -------------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.decimals(allow_nan=True),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
section_keys = st.sampled_from(["contact-info", "order-info", "ContactInfo", "order_info", "other"])
records = st.dictionaries(section_keys, json_values | st.dictionaries(st.text(max_size=10), json_values), max_size=3)


@settings(max_examples=200)
@given(st.one_of(json_values, records))
def test_any_value_is_either_an_order_or_a_list_of_known_reasons(raw: Any) -> None:
    result = check_order(raw)

    if isinstance(result, Order):
        assert result.order_id.strip() == result.order_id != ""
        assert type(result.record["order_info"]["quantity"]) is int
        assert result.record["order_info"]["quantity"] > 0
    else:
        assert result, "a refused record must say why"
        assert len(result) == len(set(result))
        assert set(result) <= set(Reason)


def spelled(canonical: str) -> st.SearchStrategy[str]:
    """Any spelling of a key: case changed, and '-', '_' or ' ' between its words."""
    words = canonical.split("_")
    return st.tuples(
        st.lists(st.sampled_from([str.lower, str.upper, str.title]), min_size=len(words), max_size=len(words)),
        st.sampled_from(["", "-", "_", " "]),
    ).map(lambda spec: spec[1].join(case(word) for case, word in zip(spec[0], words, strict=True)))


@settings(max_examples=150)
@given(
    contact_key=spelled("contact_info"),
    order_key=spelled("order_info"),
    id_key=spelled("order_id"),
    qty_key=st.sampled_from(["qty", "Qty", "QTY", "quantity", "Quantity"]),
    price_key=spelled("unit_price") | spelled("price"),
    order_id=st.text(min_size=1, max_size=10).filter(str.strip) | st.integers(min_value=0),
    quantity=st.integers(min_value=1, max_value=2**63 - 1),
    as_text=st.booleans(),
    price=st.decimals(min_value=0, max_value=10**9, places=2),
)
def test_a_valid_order_in_any_spelling_is_accepted_with_exact_values(
    contact_key: str,
    order_key: str,
    id_key: str,
    qty_key: str,
    price_key: str,
    order_id: Any,
    quantity: int,
    as_text: bool,
    price: Decimal,
) -> None:
    raw = {
        contact_key: {"name": "Foo Bar", "email": "foobar@test.com"},
        order_key: {id_key: order_id, qty_key: str(quantity) if as_text else quantity, price_key: price},
    }

    order = accepted(raw)

    assert order.order_id == str(order_id).strip()
    assert order.record["order_info"] == {"order_id": order.order_id, "quantity": quantity, "price": str(price)}
    assert Decimal(order.record["order_info"]["price"]) == price
