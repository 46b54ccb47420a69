"""The batch pipeline's rules, on the pure reference (salesflow.domain.batch).

Columns and their aliases, the reason a row is refused, timestamps, the return
rule, and every KPI on small batches computed by hand in the comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from salesflow.domain.batch import (
    CategoryKpi,
    Line,
    MissingColumn,
    OrderKpi,
    Table,
    category_kpis,
    check_row,
    is_returned,
    order_kpis,
    parse_money,
    parse_quantity,
    parse_timestamp,
    resolve_columns,
    table_of,
)
from salesflow.domain.errors import ConfigError, PermanentError

D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


# -- which table a raw-data key feeds --------------------------------------------------


@pytest.mark.parametrize(
    ("key", "table"),
    [
        ("raw-data/products.csv", Table.PRODUCTS),
        ("raw-data/orders/2026-03-01.csv", Table.ORDERS),
        ("raw-data/order_items/part-1.CSV", Table.ORDER_ITEMS),
        ("raw-data/orders/nested/a.csv", None),
        ("raw-data/orders/a.json", None),
        ("raw-data/other/a.csv", None),
        ("orders/a.csv", None),
    ],
)
def test_only_the_three_raw_data_places_feed_a_batch(key: str, table: Table | None) -> None:
    assert table_of(key) == table


# -- columns -----------------------------------------------------------------------------


def test_aliases_are_accepted_without_configuration() -> None:
    assert resolve_columns(Table.PRODUCTS, ["id", "category", "retail_price"], {}, "p.csv") == {
        "product_id": "id",
        "category": "category",
        "price": "retail_price",
    }
    assert resolve_columns(Table.ORDERS, ["order_id", "customer_id", "order_date"], {}, "o.csv") == {
        "order_id": "order_id",
        "user_id": "customer_id",
        "created_at": "order_date",
    }
    assert resolve_columns(Table.ORDER_ITEMS, ["id", "order_id", "product_id", "price"], {}, "i.csv") == {
        "order_item_id": "id",
        "order_id": "order_id",
        "product_id": "product_id",
        "sale_price": "price",
    }


def test_column_names_match_without_case_or_surrounding_spaces() -> None:
    header = [" Order_ID", "USER_ID ", "Created_At", " STATUS "]
    assert resolve_columns(Table.ORDERS, header, {}, "o.csv") == {
        "order_id": " Order_ID",
        "user_id": "USER_ID ",
        "created_at": "Created_At",
        "status": " STATUS ",
    }


def test_the_canonical_name_is_preferred_to_an_alias_when_a_file_has_both() -> None:
    header = ["id", "order_item_id", "order_id", "product_id", "price", "sale_price"]
    found = resolve_columns(Table.ORDER_ITEMS, header, {}, "i.csv")
    assert (found["order_item_id"], found["sale_price"]) == ("order_item_id", "sale_price")


def test_a_configured_mapping_wins_over_the_canonical_name_and_the_aliases() -> None:
    header = ["order_id", "user_id", "created_at", "order_purchase_timestamp", "order_status"]
    mapping = {"created_at": "Order_Purchase_Timestamp", "status": "order_status"}
    found = resolve_columns(Table.ORDERS, header, mapping, "o.csv")
    assert (found["created_at"], found["status"]) == ("order_purchase_timestamp", "order_status")


def test_a_missing_required_column_names_the_column_the_file_and_the_setting_to_write() -> None:
    with pytest.raises(MissingColumn) as caught:
        resolve_columns(Table.ORDERS, ["order_id", "user_id", "status"], {}, "raw-data/orders/a.csv")
    message = str(caught.value)
    assert "raw-data/orders/a.csv" in message
    assert "'created_at'" in message
    assert "'order_date'" in message  # the alias it looked for too
    assert '[batch.columns.orders] created_at = "<column in the file>"' in message
    assert isinstance(caught.value, ConfigError)
    assert isinstance(caught.value, PermanentError)  # not retried: the file or the settings must change


def test_a_mapped_name_that_is_not_in_the_file_is_reported_as_what_was_looked_for() -> None:
    with pytest.raises(MissingColumn) as caught:
        resolve_columns(Table.PRODUCTS, ["id", "category"], {"category": "product_category_name"}, "p.csv")
    assert "'product_category_name'" in str(caught.value)
    assert "[batch.columns.products] category" in str(caught.value)


@pytest.mark.parametrize(
    ("table", "header"),
    [
        (Table.PRODUCTS, ["product_id", "category"]),
        (Table.ORDERS, ["order_id", "user_id", "created_at"]),
        (Table.ORDER_ITEMS, ["order_item_id", "order_id", "product_id", "sale_price"]),
    ],
)
def test_optional_columns_may_be_absent(table: Table, header: list[str]) -> None:
    assert sorted(resolve_columns(table, header, {"status": "order_status"}, "f.csv")) == sorted(header)


# -- rows ----------------------------------------------------------------------------------

PRODUCT = {"product_id": "P1", "category": "Toys", "price": "9.99"}
ORDER = {"order_id": "O1", "user_id": "U1", "created_at": "2026-03-01T10:00:00Z"}
ITEM = {"order_item_id": "I1", "order_id": "O1", "product_id": "P1", "sale_price": "9.99", "quantity": "2"}
# Rows wrong in every way at once get every reason, in column order.
BAD_PRODUCT = {"product_id": "", "category": " ", "price": "x"}
BAD_ORDER = {"order_id": " ", "user_id": "", "created_at": " "}
BAD_ITEM = {"order_item_id": "", "order_id": "", "product_id": "", "sale_price": "", "quantity": "x"}
BAD_ITEM_REASONS = [
    "missing_order_item_id",
    "missing_order_id",
    "missing_product_id",
    "missing_sale_price",
    "invalid_quantity",
]


@pytest.mark.parametrize(
    ("table", "row", "reasons"),
    [
        (Table.PRODUCTS, PRODUCT, []),
        (Table.PRODUCTS, {"product_id": "P1", "category": "Toys"}, []),  # no price column: fine
        (Table.PRODUCTS, {**PRODUCT, "product_id": "  "}, ["missing_product_id"]),
        (Table.PRODUCTS, {**PRODUCT, "category": ""}, ["missing_category"]),
        (Table.PRODUCTS, {**PRODUCT, "price": "0"}, ["invalid_price"]),
        (Table.PRODUCTS, {**PRODUCT, "price": "-1.00"}, ["invalid_price"]),
        (Table.PRODUCTS, {**PRODUCT, "price": "ten"}, ["invalid_price"]),
        (Table.PRODUCTS, {**PRODUCT, "price": ""}, ["invalid_price"]),  # the column is there: a value is due
        (Table.PRODUCTS, BAD_PRODUCT, ["missing_product_id", "missing_category", "invalid_price"]),
        (Table.ORDERS, ORDER, []),
        (Table.ORDERS, {**ORDER, "order_id": ""}, ["missing_order_id"]),
        (Table.ORDERS, {**ORDER, "user_id": "\t"}, ["missing_user_id"]),
        (Table.ORDERS, {**ORDER, "created_at": ""}, ["missing_created_at"]),
        (Table.ORDERS, {**ORDER, "created_at": "01/03/2026"}, ["invalid_created_at"]),
        (Table.ORDERS, {**ORDER, "created_at": "2026-02-30"}, ["invalid_created_at"]),
        (Table.ORDERS, BAD_ORDER, ["missing_order_id", "missing_user_id", "missing_created_at"]),
        (Table.ORDER_ITEMS, ITEM, []),
        (Table.ORDER_ITEMS, {k: v for k, v in ITEM.items() if k != "quantity"}, []),  # no quantity column: fine
        (Table.ORDER_ITEMS, {**ITEM, "order_item_id": ""}, ["missing_order_item_id"]),
        (Table.ORDER_ITEMS, {**ITEM, "order_id": ""}, ["missing_order_id"]),
        (Table.ORDER_ITEMS, {**ITEM, "product_id": " "}, ["missing_product_id"]),
        (Table.ORDER_ITEMS, {**ITEM, "sale_price": ""}, ["missing_sale_price"]),
        (Table.ORDER_ITEMS, {**ITEM, "sale_price": "0.00"}, ["invalid_sale_price"]),
        (Table.ORDER_ITEMS, {**ITEM, "sale_price": "-3"}, ["invalid_sale_price"]),
        (Table.ORDER_ITEMS, {**ITEM, "sale_price": "3,50"}, ["invalid_sale_price"]),
        (Table.ORDER_ITEMS, {**ITEM, "sale_price": "NaN"}, ["invalid_sale_price"]),
        (Table.ORDER_ITEMS, {**ITEM, "quantity": "0"}, ["invalid_quantity"]),
        (Table.ORDER_ITEMS, {**ITEM, "quantity": "-2"}, ["invalid_quantity"]),
        (Table.ORDER_ITEMS, {**ITEM, "quantity": "1.5"}, ["invalid_quantity"]),
        (Table.ORDER_ITEMS, {**ITEM, "quantity": ""}, ["invalid_quantity"]),
        (Table.ORDER_ITEMS, BAD_ITEM, BAD_ITEM_REASONS),
    ],
)
def test_check_row_gives_every_reason_a_row_is_refused(table: Table, row: dict[str, str], reasons: list[str]) -> None:
    assert check_row(table, row) == reasons


@pytest.mark.parametrize(
    ("text", "value"),
    [("9.99", Decimal("9.99")), (" 10 ", Decimal(10)), ("0.001", Decimal("0.001")), ("+5", Decimal(5))],
)
def test_money_is_read_exactly(text: str, value: Decimal) -> None:
    parsed = parse_money(text)
    assert parsed == value
    assert str(parsed) == str(value)  # no float on the way: the digits are the ones written


@pytest.mark.parametrize("text", ["", "0", "-0.01", "abc", "Infinity", "NaN", "1,5"])
def test_money_that_is_not_a_positive_number_is_refused(text: str) -> None:
    assert parse_money(text) is None


@pytest.mark.parametrize(("text", "value"), [("1", 1), (" 3 ", 3), ("+2", 2), ("007", 7)])
def test_quantities_are_positive_integers(text: str, value: int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.0", "1e2", "two", "", "+", "٣"])
def test_other_quantities_are_refused(text: str) -> None:
    assert parse_quantity(text) is None


# -- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        (" 2026-03-01 ", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:20:30", datetime(2026, 3, 1, 10, 20, 30, tzinfo=UTC)),  # naive means UTC
        ("2026-03-01 10:20", datetime(2026, 3, 1, 10, 20, tzinfo=UTC)),
        ("2026-03-01T10:20:30.250Z", datetime(2026, 3, 1, 10, 20, 30, 250000, tzinfo=UTC)),
        ("2026-03-01T10:20:30+00:00", datetime(2026, 3, 1, 10, 20, 30, tzinfo=UTC)),
        ("2026-03-01T01:30:00+05:30", datetime(2026, 2, 28, 20, 0, tzinfo=UTC)),  # the UTC date is the day before
        ("2026-03-01T23:30:00-02:00", datetime(2026, 3, 2, 1, 30, tzinfo=UTC)),  # ... or the day after
    ],
)
def test_timestamps_are_iso_8601_read_as_utc(text: str, utc: datetime) -> None:
    parsed = parse_timestamp(text)
    assert parsed == utc
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)  # aware, in UTC


@pytest.mark.parametrize(
    "text", ["", "   ", "yesterday", "01/03/2026", "2026-02-30", "2026-13-01", "2026-03-01T25:00", "2026-03-01Tnoon"]
)
def test_other_timestamps_are_none(text: str) -> None:
    assert parse_timestamp(text) is None


# -- the return rule -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "returned_at", "returned"),
    [
        ("Returned", None, True),
        ("RETURNED", "", True),
        (" returned ", None, True),
        ("Complete", None, False),
        ("Returning", None, False),
        (None, "2026-03-05", True),
        ("Complete", "2026-03-05T10:00:00Z", True),  # a return date is enough
        ("", "  ", False),
        (None, None, False),
    ],
)
def test_a_line_is_returned_by_its_status_or_a_return_date(
    status: str | None, returned_at: str | None, returned: bool
) -> None:
    assert is_returned(status, returned_at) is returned


# -- KPIs ------------------------------------------------------------------------------------


def line(
    order_id: str, user_id: str, day: date, category: str, quantity: int, price: str, returned: bool = False
) -> Line:
    return Line(order_id, user_id, day, category, quantity, Decimal(price), returned)


# D1: three orders by two customers; O1 has a returned Books line and a kept Toys line.
# D2: one order, returned.
LINES = [
    line("O1", "U1", D1, "Toys", 2, "1.25"),  # 2.50
    line("O1", "U1", D1, "Books", 1, "3.50", returned=True),  # 3.50
    line("O2", "U2", D1, "Toys", 1, "4.00"),  # 4.00
    line("O3", "U1", D1, "Games", 3, "0.50"),  # 1.50
    line("O4", "U3", D2, "Toys", 1, "10.00", returned=True),  # 10.00
]


def test_order_kpis_per_order_date() -> None:
    assert order_kpis(LINES) == [
        # orders O1 O2 O3; 2.50 + 3.50 + 4.00 + 1.50; 2 + 1 + 1 + 3 units; O1 has a returned line; U1 U2
        OrderKpi(D1, 3, Decimal("11.50"), 7, Decimal("0.3333"), 2),
        OrderKpi(D2, 1, Decimal("10.00"), 1, Decimal("1.0000"), 1),
    ]


def test_category_kpis_count_returns_by_the_lines_of_the_category() -> None:
    assert category_kpis(LINES) == [
        CategoryKpi("Books", D1, Decimal("3.50"), Decimal("3.50"), Decimal("1.0000")),
        CategoryKpi("Games", D1, Decimal("1.50"), Decimal("1.50"), Decimal("0.0000")),
        # O1 returned its Books line, not its Toys line: no Toys order of D1 had a return.
        CategoryKpi("Toys", D1, Decimal("6.50"), Decimal("3.25"), Decimal("0.0000")),
        CategoryKpi("Toys", D2, Decimal("10.00"), Decimal("10.00"), Decimal("1.0000")),
    ]


def test_an_order_with_several_returned_lines_counts_once() -> None:
    lines = [
        line("O1", "U1", D3, "Toys", 1, "1"),
        line("O1", "U1", D3, "Toys", 1, "1", returned=True),
        line("O1", "U1", D3, "Books", 1, "1", returned=True),
        line("O2", "U2", D3, "Toys", 1, "1"),
    ]
    [kpi] = order_kpis(lines)
    assert (kpi.total_orders, kpi.return_rate) == (2, Decimal("0.5000"))
    assert [(k.category, k.avg_order_value, k.avg_return_rate) for k in category_kpis(lines)] == [
        ("Books", Decimal("1.00"), Decimal("1.0000")),
        ("Toys", Decimal("1.50"), Decimal("0.5000")),  # 3.00 over O1 and O2; O1 has a returned Toys line
    ]


def test_the_same_customer_on_two_days_is_unique_on_each() -> None:
    lines = [line("O1", "U1", D1, "Toys", 1, "1"), line("O2", "U1", D1, "Toys", 1, "1")]
    lines += [line("O3", "U1", D2, "Toys", 1, "1"), line("O4", "U2", D2, "Toys", 1, "1")]
    assert [(k.order_date, k.unique_customers) for k in order_kpis(lines)] == [(D1, 1), (D2, 2)]


def test_revenue_is_summed_exactly_then_rounded_half_to_even() -> None:
    # Three lines of 0.005: exactly 0.015, which rounds to 0.02 (half to the even cent); rounding
    # each line first would give 0.00.
    lines = [line(f"O{n}", "U1", D1, "Toys", 1, "0.005") for n in range(3)]
    assert order_kpis(lines)[0].total_revenue == Decimal("0.02")
    # 0.125 is half-way: the even cent is 0.12 (half-up would say 0.13).
    assert order_kpis([line("O1", "U1", D1, "Toys", 1, "0.125")])[0].total_revenue == Decimal("0.12")
    # 5 x 0.333 = 1.665 -> 1.66; 0.1 + 0.2 is exactly 0.30, not 0.30000000000000004.
    assert order_kpis([line("O1", "U1", D1, "Toys", 5, "0.333")])[0].total_revenue == Decimal("1.66")
    both = [line("O1", "U1", D1, "Toys", 1, "0.1"), line("O1", "U1", D1, "Toys", 1, "0.2")]
    assert order_kpis(both)[0].total_revenue == Decimal("0.30")


def test_average_order_value_is_rounded_half_to_even() -> None:
    # 10.00 over three orders: 3.333... -> 3.33
    lines = [line(f"O{n}", "U1", D1, "Toys", 1, p) for n, p in enumerate(["5.00", "3.00", "2.00"])]
    assert category_kpis(lines)[0].avg_order_value == Decimal("3.33")
    # 0.05 over two orders: 0.025 -> 0.02; 0.15 over two orders: 0.075 -> 0.08
    lines = [line("O1", "U1", D1, "Toys", 1, "0.02"), line("O2", "U1", D1, "Toys", 1, "0.03")]
    assert category_kpis(lines)[0].avg_order_value == Decimal("0.02")
    lines = [line("O1", "U1", D1, "Toys", 1, "0.07"), line("O2", "U1", D1, "Toys", 1, "0.08")]
    assert category_kpis(lines)[0].avg_order_value == Decimal("0.08")


def test_rates_have_four_places_rounded_half_to_even() -> None:
    # 1 returned order out of 32: 0.03125 -> 0.0312; 2 out of 3: 0.6667
    lines = [line(f"O{n}", f"U{n}", D1, "Toys", 1, "1", returned=n == 0) for n in range(32)]
    assert order_kpis(lines)[0].return_rate == Decimal("0.0312")
    assert category_kpis(lines)[0].avg_return_rate == Decimal("0.0312")
    lines = [line(f"O{n}", "U1", D1, "Toys", 1, "1", returned=n < 2) for n in range(3)]
    assert order_kpis(lines)[0].return_rate == Decimal("0.6667")


def test_money_and_rates_keep_their_places_when_whole() -> None:
    [kpi] = order_kpis([line("O1", "U1", D1, "Toys", 2, "5")])
    assert (str(kpi.total_revenue), str(kpi.return_rate)) == ("10.00", "0.0000")
    [category] = category_kpis([line("O1", "U1", D1, "Toys", 2, "5")])
    assert (str(category.daily_revenue), str(category.avg_order_value), str(category.avg_return_rate)) == (
        "10.00",
        "10.00",
        "0.0000",
    )


def test_no_lines_no_kpis() -> None:
    assert order_kpis([]) == []
    assert category_kpis([]) == []
