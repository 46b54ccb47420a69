"""The polars implementation of the batch rules agrees with the pure reference.

read_checked must split a file's rows exactly as check_row does (same reasons,
same record numbers), and the KPIs computed from ``lines(...)`` must equal the
reference KPIs over the same lines built by hand. Hostile files give a clear
per-file error or refused rows, never a crash.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesflow.domain import batch as reference
from salesflow.domain.batch import COLUMNS, Line, MissingColumn, Table, check_row, is_returned, resolve_columns
from salesflow.pipelines import batch_frames as frames
from salesflow.pipelines import kpi_sums
from salesflow.pipelines.batch_frames import REASONS, ROW, BadFile, CheckedFile

KEYS = {
    Table.PRODUCTS: "raw-data/products.csv",
    Table.ORDERS: "raw-data/orders/a.csv",
    Table.ORDER_ITEMS: "raw-data/order_items/a.csv",
}
ORDERS_HEADER = "order_id,user_id,created_at\n"

Split = tuple[list[int], list[tuple[int, list[str]]]]  # valid record numbers, (record number, reasons) refused


def read(data: str | bytes, table: Table = Table.ORDERS, mapping: dict[str, str] | None = None) -> CheckedFile:
    raw = data.encode() if isinstance(data, str) else data
    return frames.read_checked(io.BytesIO(raw), KEYS[table], table, mapping or {})


def split(checked: CheckedFile) -> Split:
    valid = checked.valid.get_column(ROW).to_list()
    refused = [(row, list(reasons)) for row, reasons in checked.rejected.select(ROW, REASONS).iter_rows()]
    return valid, refused


def expected_split(text: str, table: Table, mapping: dict[str, str] | None = None) -> Split:
    """The reference: the csv module reads the records, check_row judges them; a record with
    more fields than the header is a ragged_row."""
    header, *records = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    columns = resolve_columns(table, header, mapping or {}, KEYS[table])
    where = {canonical: header.index(name) for canonical, name in columns.items()}
    valid: list[int] = []
    refused: list[tuple[int, list[str]]] = []
    for number, fields in enumerate(records, 1):
        if len(fields) > len(header):
            refused.append((number, ["ragged_row"]))
            continue
        fields = fields + [""] * (len(header) - len(fields))
        reasons = check_row(table, {canonical: fields[i] for canonical, i in where.items()})
        if reasons:
            refused.append((number, [str(r) for r in reasons]))
        else:
            valid.append(number)
    return valid, refused


# -- hand-made files ---------------------------------------------------------------------

PRODUCTS_CSV = 'id,category,retail_price,name\nP1,Toys,10.00,car\nP2,,5,\nP3,"Home, Garden",0,x\n,Toys,abc,y\n'
ORDERS_CSV = (
    "order_id,customer_id,order_date,status\n"
    "O1,U1,2026-11-01T10:00:00Z,Complete\n"
    'O2,U2,"2026-11-01",Returned\n'
    "O3,U1,not a date,\n"
    ",U3,2026-11-02,\n"
    "O5,,,\n"
    "O6,U6,2026-11-01T23:30:00-02:00,\n"
)
ITEMS_CSV = (
    "id,order_id,product_id,price,quantity,status\n"
    "I1,O1,P1,10.00,2,\n"
    "I2,O1,P2,5.50,1,Returned\n"
    "I3,O2,P1,-1,1,\n"
    "I4,O2,P1,1,0,\n"
    "I5,O2,P1,,1.5,\n"
    ",,,x,,\n"
)


@pytest.mark.parametrize(
    ("text", "table"),
    [(PRODUCTS_CSV, Table.PRODUCTS), (ORDERS_CSV, Table.ORDERS), (ITEMS_CSV, Table.ORDER_ITEMS)],
    ids=["products", "orders", "order_items"],
)
def test_hand_made_files_are_split_as_the_reference_splits_them(text: str, table: Table) -> None:
    checked = read(text, table)
    assert split(checked) == expected_split(text, table)
    assert checked.rows == len(text.strip().splitlines()) - 1


def test_the_refused_rows_of_the_hand_made_orders() -> None:
    assert split(read(ORDERS_CSV)) == (
        [1, 2, 6],
        [(3, ["invalid_created_at"]), (4, ["missing_order_id"]), (5, ["missing_user_id", "missing_created_at"])],
    )


def test_valid_rows_come_typed_under_their_canonical_names() -> None:
    orders = read(ORDERS_CSV).valid
    assert orders.get_column("order_id").to_list() == ["O1", "O2", "O6"]
    assert orders.get_column("user_id").to_list() == ["U1", "U2", "U6"]
    assert orders.get_column("created_at").to_list() == [
        datetime(2026, 11, 1, 10, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 2, 1, 30, tzinfo=UTC),  # -02:00: the next day in UTC
    ]
    items = read(ITEMS_CSV, Table.ORDER_ITEMS).valid
    assert items.get_column("sale_price").to_list() == [Decimal("10.00"), Decimal("5.50")]
    assert items.get_column("quantity").to_list() == [2, 1]
    assert items.get_column("returned").to_list() == [False, True]


def test_refused_rows_keep_the_row_as_it_came() -> None:
    rejected = read(ORDERS_CSV).rejected
    first = rejected.row(0, named=True)
    assert (first["order_id"], first["customer_id"], first["order_date"]) == ("O3", "U1", "not a date")


def test_items_without_a_quantity_column_are_one_unit_each() -> None:
    items = read("id,order_id,product_id,price\nI1,O1,P1,2.50\n", Table.ORDER_ITEMS).valid
    assert items.get_column("quantity").to_list() == [1]


def test_a_configured_mapping_reads_other_column_names() -> None:
    text = "order_id,customer_id,order_purchase_timestamp,order_status\nO1,U1,2026-11-01 08:00:00,returned\n"
    checked = read(text, mapping={"created_at": "order_purchase_timestamp", "status": "order_status"})
    assert checked.valid.select("order_id", "created_at", "returned").rows() == [
        ("O1", datetime(2026, 11, 1, 8, tzinfo=UTC), True)
    ]


# Timestamps the reference reads as ISO 8601 must be read by polars too, to the same UTC instant.
@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01",
        "2026-11-01T10:00",
        "2026-11-01 10:00:00",
        "2026-11-01T10:00:00.123456",
        "2026-11-01T10:00:00Z",
        "2026-11-01T10:00:00.5Z",
        "2026-11-01T01:00:00+05:30",
        "2026-11-01T01:00:00+0530",
        "2026-11-01T23:00:00-08:00",
        "2026-11-01 10:00:00+00",  # PostgreSQL writes whole-hour offsets so (timestamptz to CSV)
        "2026-11-01T10:00:00+05",
        "20261101",  # ISO 8601 basic format
        "20261101T100000Z",
    ],
)
def test_iso_timestamps_are_read_as_the_reference_reads_them(text: str) -> None:
    expected = reference.parse_timestamp(text)
    assert expected is not None
    checked = read(f"{ORDERS_HEADER}O1,U1,{text}\n")
    assert split(checked) == ([1], [])
    assert checked.valid.get_column("created_at").to_list() == [expected]


PRICE_CASES = [
    *[("10", True), ("10.00", True), ("+5", True), (".5", True), ("1e3", True), (" 7 ", True), ("0.001", True)],
    *[("0", False), ("-0", False), ("-1", False), ("NaN", False), ("inf", False), ("5,5", False), ("1.2.3", False)],
]
QUANTITY_CASES = [
    *[("1", True), ("+3", True), ("007", True), (" 2 ", True), (str(2**63 - 1), True)],
    *[("0", False), ("-0", False), ("-5", False), ("++2", False), ("+-2", False), ("1.5", False)],
    *[("1e2", False), ("1_000", False), ("\u0663", False), (str(2**63), False), ("9" * 20, False)],
]


@pytest.mark.parametrize(
    ("column", "number", "valid"),
    [*[("sale_price", *case) for case in PRICE_CASES], *[("quantity", *case) for case in QUANTITY_CASES]],
)
def test_numbers_are_judged_as_the_reference_judges_them(column: str, number: str, valid: bool) -> None:
    fields = {"sale_price": "1", "quantity": "1", column: number}
    price, quantity = fields["sale_price"], fields["quantity"]
    text = f'order_item_id,order_id,product_id,sale_price,quantity\nI1,O1,P1,"{price}","{quantity}"\n'
    checked = read(text, Table.ORDER_ITEMS)
    assert split(checked) == expected_split(text, Table.ORDER_ITEMS)
    assert (checked.valid.height == 1) is valid
    if valid:
        parse = reference.parse_money if column == "sale_price" else reference.parse_quantity
        assert checked.valid.get_column(column).to_list() == [parse(number)]


# -- generated files ------------------------------------------------------------------------


def mostly(good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """good four times in five: a row of five fields is then valid about a third of the time."""
    return st.integers(0, 4).flatmap(lambda n: bad if n == 0 else good)


BLANK = st.sampled_from(["", " ", "\t", "\u00a0"])
IDS = mostly(st.sampled_from(["A1", "b-2", "Ünï", "a,b", 'say "hi"', "two\nlines", " padded ", "x\r\ny"]), BLANK)
CATEGORIES = mostly(st.sampled_from(["Toys", "Home, Garden", "Kids\nToys", 'The "Best"']), BLANK)
OFFSETS = {"": 0.0, "Z": 0.0, "+00:00": 0.0, "+05:30": 5.5, "-08:00": -8.0, "+0100": 1.0}
FORMS = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f"]
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31))
GOOD_TIMES = st.one_of(
    MOMENTS.map(lambda moment: moment.strftime("%Y-%m-%d")),
    st.builds(
        lambda m, form, offset: m.strftime(form) + offset,
        MOMENTS,
        st.sampled_from(FORMS),
        st.sampled_from(list(OFFSETS)),
    ),
)
BAD_TIMES = st.sampled_from(["yesterday", "01/11/2026", "2026-02-30", "2026-13-01", "2026-11-01T25:00", "2026-11"])
TIMES = mostly(GOOD_TIMES, st.one_of(BAD_TIMES, BLANK))
PRICES = st.decimals(min_value=Decimal("0.001"), max_value=10_000, places=3).map(str)
ODD_PRICES = st.sampled_from(["1e3", " 7.5 ", "+2.5", ".5", "5."])  # numbers all the same
NOT_PRICES = st.sampled_from(["0", "0.00", "-0", "-1.25", "abc", "3,50", "NaN", "Infinity"])
MONEY = mostly(st.one_of(PRICES, ODD_PRICES), st.one_of(NOT_PRICES, BLANK))
QUANTITIES = mostly(
    st.one_of(st.integers(1, 1_000_000).map(str), st.sampled_from(["+3", "03", " 2 "])),
    st.one_of(
        st.integers(-3, 0).map(str),
        st.sampled_from(["1.5", "1e2", "x", "+", "-0", "++2", "+-2", "\u0663", "9" * 20, "1_000"]),
        BLANK,
    ),
)
STATUSES = st.sampled_from(["Returned", "returned", " RETURNED ", "Complete", "Shipped", ""])
RETURN_DATES = st.sampled_from(["", " ", "2026-11-02", "2026-11-02T10:00:00Z"])

VALUES = {
    "product_id": IDS,
    "category": CATEGORIES,
    "price": MONEY,
    "name": IDS,
    "order_id": IDS,
    "user_id": IDS,
    "created_at": TIMES,
    "status": STATUSES,
    "returned_at": RETURN_DATES,
    "order_item_id": IDS,
    "sale_price": MONEY,
    "quantity": QUANTITIES,
}


@st.composite
def csv_files(draw: st.DrawFn, table: Table) -> str:
    """A CSV of the table: optional columns or not, any known spelling, any column order, rows
    that are valid or not in every way, some short of fields, some ragged; LF or CRLF, a BOM or not."""
    columns = [c for c in COLUMNS[table] if c.required or draw(st.booleans())]
    columns = draw(st.permutations(columns))
    header = [draw(st.sampled_from([c.name, c.name.upper(), *c.aliases])) for c in columns]
    records = []
    for number in range(draw(st.integers(0, 6))):
        fields = [draw(VALUES[c.name]) for c in columns]
        shape = draw(st.sampled_from(["whole"] * 6 + ["short", "ragged"]))
        if shape == "short":
            fields = fields[: draw(st.integers(1, len(fields) - 1))]
        elif shape == "ragged" and number > 0:  # a file of ragged rows only: see test_a_file_of_ragged_rows_only
            fields.append(draw(IDS))
        records.append(fields)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(records)
    return ("\ufeff" if draw(st.booleans()) else "") + out.getvalue()


@pytest.mark.parametrize("table", list(Table))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_generated_files_are_split_as_the_reference_splits_them(table: Table, data: st.DataObject) -> None:
    text = data.draw(csv_files(table))
    checked = read(text, table)
    assert split(checked) == expected_split(text, table)
    assert checked.rows == checked.valid.height + checked.rejected.height


# -- KPIs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shop:
    """Generated valid data: CSV text of the three tables, and the lines the KPIs are about."""

    products: str
    orders: str
    items: str
    lines: list[Line]


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue()


@st.composite
def shops(draw: st.DrawFn) -> Shop:
    categories = ["Toys", "Books", "Home, Garden"]
    products = {f"P{n}": draw(st.sampled_from(categories)) for n in range(draw(st.integers(1, 3)))}
    order_status = draw(st.booleans())
    orders = {}
    for n in range(draw(st.integers(1, 6))):
        moment = draw(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 4)))
        offset = draw(st.sampled_from(list(OFFSETS)))
        day = (moment - timedelta(hours=OFFSETS[offset])).date()  # the UTC date of the order
        status = draw(STATUSES) if order_status else ""
        orders[f"O{n}"] = (draw(st.sampled_from(["U1", "U2", "U3"])), moment.isoformat() + offset, day, status)
    item_status, has_quantity = draw(st.booleans()), draw(st.booleans())
    item_rows, lines = [], []
    for n in range(draw(st.integers(1, 10))):
        order_id, product_id = draw(st.sampled_from(sorted(orders))), draw(st.sampled_from(sorted(products)))
        quantity = draw(st.integers(1, 5)) if has_quantity else 1
        price = draw(st.decimals(min_value=Decimal("0.001"), max_value=1000, places=3))
        status, returned_at = (draw(STATUSES), draw(RETURN_DATES)) if item_status else ("", "")
        row = [f"I{n}", order_id, product_id, str(price)]
        row += [str(quantity)] if has_quantity else []
        row += [status, returned_at] if item_status else []
        item_rows.append(row)
        user_id, _, day, order_state = orders[order_id]
        # The items' own status columns decide; without them, the order's status.
        returned = is_returned(status, returned_at) if item_status else is_returned(order_state, None)
        lines.append(Line(order_id, user_id, day, products[product_id], quantity, price, returned))
    item_header = ["order_item_id", "order_id", "product_id", "sale_price"]
    item_header += ["quantity"] if has_quantity else []
    item_header += ["status", "returned_at"] if item_status else []
    order_header = ["order_id", "user_id", "created_at"] + (["status"] if order_status else [])
    order_rows = [[o, u, t, *([s] if order_status else [])] for o, (u, t, _, s) in orders.items()]
    return Shop(
        to_csv(["product_id", "category"], [[p, c] for p, c in products.items()]),
        to_csv(order_header, order_rows),
        to_csv(item_header, item_rows),
        lines,
    )


def frame_lines(shop: Shop) -> pl.DataFrame:
    products = read(shop.products, Table.PRODUCTS)
    orders = read(shop.orders, Table.ORDERS)
    items = read(shop.items, Table.ORDER_ITEMS)
    assert products.rejected.is_empty()
    assert orders.rejected.is_empty()
    assert items.rejected.is_empty()
    return frames.lines(orders.valid, items.valid, products.valid)


@settings(max_examples=50, deadline=None)
@given(shop=shops())
def test_kpis_from_polars_lines_equal_the_reference_kpis(shop: Shop) -> None:
    lines = frame_lines(shop)
    assert lines.height == len(shop.lines)
    assert frames.kpis(lines) == (reference.order_kpis(shop.lines), reference.category_kpis(shop.lines))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shop=shops())
def test_kpis_past_the_direct_addressing_limits_equal_the_reference_kpis(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kpi_sums, "MAX_CELLS", 0)  # any categories x orders is too many: polars groups
    lines = frame_lines(shop)
    assert kpi_sums.kpi_sums(lines, frames.ORDER_KEY, "category") is None
    assert frames.kpis(lines) == (reference.order_kpis(shop.lines), reference.category_kpis(shop.lines))


def test_sums_too_large_for_exact_floats_are_grouped_by_polars_and_stay_exact() -> None:
    # 9,100,000,000.005 is 9.100000000005e15 in millionths, past 2**53: float sums could round.
    shop = Shop(
        "product_id,category\nP1,Toys\n",
        "order_id,user_id,created_at\nO1,U1,2026-01-01\nO2,U2,2026-01-01\n",
        "order_item_id,order_id,product_id,sale_price\nI1,O1,P1,9100000000.005\nI2,O2,P1,0.001\n",
        [],
    )
    lines = frame_lines(shop)
    assert kpi_sums.kpi_sums(lines, frames.ORDER_KEY, "category") is None
    [day], [toys] = frames.kpis(lines)
    assert day.total_revenue == Decimal("9100000000.01")  # 9100000000.006, exact, to the cent
    assert toys.avg_order_value == Decimal("4550000000.00")  # 9100000000.006 / 2 = 4550000000.003


def test_lines_are_enriched_with_total_price_and_order_month() -> None:
    shop = Shop(
        "product_id,category\nP1,Toys\n",
        "order_id,user_id,created_at,returned_at\nO1,U1,2026-01-31T23:30:00-01:00,2026-02-05\n",
        "order_item_id,order_id,product_id,sale_price,quantity\nI1,O1,P1,0.335,3\n",
        [],
    )
    [line] = frame_lines(shop).iter_rows(named=True)
    assert line["total_price"] == Decimal("1.005")  # exact: 3 x 0.335
    assert (line["order_date"], line["order_month"]) == (date(2026, 2, 1), "2026-02")  # UTC
    assert (line["category"], line["user_id"], line["returned"]) == ("Toys", "U1", True)  # the order's returned_at


def test_revenue_is_rounded_half_to_even_after_the_exact_sum() -> None:
    shop = Shop(
        "product_id,category\nP1,Toys\n",
        "order_id,user_id,created_at\nO1,U1,2026-01-01\nO2,U2,2026-01-01\nO3,U2,2026-01-01\n",
        "order_item_id,order_id,product_id,sale_price\nI1,O1,P1,0.005\nI2,O2,P1,0.005\nI3,O3,P1,0.005\nI4,O3,P1,3.12\n",
        [],
    )
    [day], [toys] = frames.kpis(frame_lines(shop))
    assert (day.total_revenue, day.total_items_sold, day.unique_customers) == (Decimal("3.14"), 4, 2)  # 3.135
    assert toys.avg_order_value == Decimal("1.04")  # 3.135 / 3 = 1.045 -> 1.04


# -- hostile files ------------------------------------------------------------------------------


def test_quoted_newlines_and_commas_stay_in_their_field_and_rows_count_records_not_lines() -> None:
    text = f'{ORDERS_HEADER}"O\n1","U, 1",2026-11-01\nO2,,2026-11-02\n'
    checked = read(text)
    assert split(checked) == ([1], [(2, ["missing_user_id"])])
    assert checked.valid.select("order_id", "user_id").rows() == [("O\n1", "U, 1")]


def test_a_byte_order_mark_is_not_part_of_the_first_column_name() -> None:
    checked = read(b"\xef\xbb\xbf" + f"{ORDERS_HEADER}O1,U1,2026-11-01\n".encode())
    assert checked.valid.get_column("order_id").to_list() == ["O1"]


def test_crlf_line_ends_are_not_part_of_the_last_field() -> None:
    checked = read(f"{ORDERS_HEADER}O1,U1,2026-11-01\nO2,U2,2026-11-02T10:00:00\n".replace("\n", "\r\n"))
    assert split(checked) == ([1, 2], [])
    assert checked.valid.get_column("created_at").dt.date().to_list() == [date(2026, 11, 1), date(2026, 11, 2)]


def test_a_ragged_row_is_refused_and_the_other_rows_are_read() -> None:
    text = f'{ORDERS_HEADER}"O\n1",U1,2026-11-01\nO2,U2,2026-11-02,surplus\nO3,,2026-11-03\nO4,U4,2026-11-04\n'
    checked = read(text)
    assert split(checked) == ([1, 4], [(2, ["ragged_row"]), (3, ["missing_user_id"])])
    assert checked.rows == 4
    assert checked.valid.get_column("order_id").to_list() == ["O\n1", "O4"]


def test_a_ragged_row_in_a_file_with_a_bom_and_crlf() -> None:
    text = "\ufeff" + f"{ORDERS_HEADER}O1,U1,2026-11-01,x\nO2,U2,2026-11-02\n".replace("\n", "\r\n")
    assert split(read(text)) == ([2], [(1, ["ragged_row"])])


def test_a_file_of_ragged_rows_only() -> None:
    # Every data row ends in a comma the header does not have, as some exports write them.
    text = f"{ORDERS_HEADER}O1,U1,2026-11-01,\nO2,U2,2026-11-02,\n"
    assert split(read(text)) == ([], [(1, ["ragged_row"]), (2, ["ragged_row"])])


def test_a_short_row_is_refused_for_what_it_lacks() -> None:
    assert split(read(f"{ORDERS_HEADER}O1,U1\nO2,U2,2026-11-02\n")) == ([2], [(1, ["missing_created_at"])])


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (f"{ORDERS_HEADER}O1,".encode() + "Müller".encode("latin-1") + b",2026-11-01\n", len(ORDERS_HEADER) + 4),
        (b"\xff\xfe" + f"{ORDERS_HEADER}O1,U1,2026-11-01\n".encode("utf-16-le"), 0),
    ],
    ids=["latin-1", "utf-16"],
)
def test_a_file_that_is_not_utf8_fails_naming_the_file_and_the_byte(data: bytes, offset: int) -> None:
    with pytest.raises(BadFile) as caught:
        read(data)
    assert KEYS[Table.ORDERS] in str(caught.value)
    assert f"byte {offset}" in str(caught.value)
    assert "UTF-8" in str(caught.value)


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 1 << 20])
def test_utf8_is_checked_a_chunk_at_a_time_with_the_byte_counted_from_the_start(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    monkeypatch.setattr(frames, "_CHUNK", chunk)
    good = f"{ORDERS_HEADER}O1,Zoë ✓,2026-11-01\n".encode()  # characters of 2 and 3 bytes across chunk ends
    assert split(read(good)) == ([1], [])
    for bad, offset in ((good + b"O2,\xff", len(good) + 3), (good + "✓".encode()[:2], len(good))):
        with pytest.raises(BadFile) as caught:
            read(bad)
        assert f"byte {offset}" in str(caught.value)
    with pytest.raises(BadFile, match="empty"):
        read(b"\xef\xbb\xbf" + b" \r\n" * 4)


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"])
def test_an_empty_file_fails_naming_the_file(data: bytes) -> None:
    with pytest.raises(BadFile) as caught:
        read(data)
    assert KEYS[Table.ORDERS] in str(caught.value)


@pytest.mark.parametrize(
    "text", [ORDERS_HEADER, ORDERS_HEADER.rstrip("\n"), "\ufeff" + ORDERS_HEADER.replace("\n", "\r\n")]
)
def test_a_file_with_a_header_only_has_no_rows_and_no_error(text: str) -> None:
    checked = read(text)
    assert (checked.rows, checked.valid.height, checked.rejected.height) == (0, 0, 0)


def test_a_file_missing_a_required_column_fails_naming_the_column_and_the_setting() -> None:
    with pytest.raises(MissingColumn) as caught:
        read("order_id,user_id\nO1,U1\n")
    assert KEYS[Table.ORDERS] in str(caught.value)
    assert "'created_at'" in str(caught.value)
    assert "[batch.columns.orders] created_at" in str(caught.value)


# -- whether a file may hold padded fields ------------------------------------------------------


def may_be_padded(*chunks: bytes) -> bool:
    padding = frames.Padding()
    for chunk in chunks:
        padding.feed(chunk)
    return padding.done()


@pytest.mark.parametrize(
    "chunks",
    [
        [b"a,b\n1,x y\n"],  # a space inside a field
        [b"a,b\n1,x", b" y\n2,z\n"],  # ... at a chunk's start
        [b"a,b\n1,x ", b"y\n"],  # ... at a chunk's end
        [b""],
    ],
)
def test_a_file_whose_spaces_are_all_inside_fields_needs_no_stripping(chunks: list[bytes]) -> None:
    assert not may_be_padded(*chunks)


@pytest.mark.parametrize(
    "chunks",
    [
        [b" a,b\n1,2\n"],  # the file's first byte
        [b"a,b\n1,2 "],  # its last byte
        [b"a,b\n 1,2\n"],  # a line's first byte
        [b"a,b\n1 ,2\n"],  # before a comma
        [b"a,b\n1, 2\n"],  # after a comma
        [b"a,b\n1,2 \n"],  # before a line end
        [b"a,b\n1,", b" 2\n"],  # after a comma that ends the chunk before
        [b"a,b\n1 ", b",2\n"],  # before a comma that starts the next chunk
        [b"a,b\n1,2\n", b" 3,4\n"],  # a line starting a chunk
        [b"a,b\n1,2\t\n"],  # a tab anywhere
        [b"a,b\r\n1,2\r\n"],  # CR anywhere
        [b'a,b\n"1",2\n'],  # a quote anywhere
        ["a,b\n1,\u00a02\n".encode()],  # a byte that is not ASCII
        [b"a,b\n" + b"x y," * (frames.Padding.MAX_SPACES + 1)],  # too many spaces to look at
    ],
)
def test_a_file_that_may_hold_padded_fields_is_stripped(chunks: list[bytes]) -> None:
    assert may_be_padded(*chunks)


def test_padded_fields_are_found_in_a_file_larger_than_a_chunk() -> None:
    rows = "".join(f"O{n},U{n},2026-11-01\n" for n in range(120_000))  # about 2.5 MB
    padded = rows.replace("O119999,", " O119999,")
    orders = frames.read_checked(io.BytesIO(f"{ORDERS_HEADER}{padded}".encode()), "o.csv", Table.ORDERS, {})
    assert orders.valid.get_column("order_id").to_list()[-1] == "O119999"
    assert orders.rejected.is_empty()


@pytest.mark.parametrize(
    ("ids", "kept"),
    [
        (["5", "7", "5"], [(1, "7"), (2, "5")]),  # plain integers: compared as numbers
        (["5", "90000000", "5"], [(1, "90000000"), (2, "5")]),  # far apart: hashed, not addressed
        (["900000000007", "900000000005", "900000000007"], [(1, "900000000005"), (2, "900000000007")]),
        (["1", "01", "+1", "1"], [(1, "01"), (2, "+1"), (3, "1")]),  # not plain: compared as text, all differ
        (["0", "-0", "00", "0"], [(1, "-0"), (2, "00"), (3, "0")]),
        (["-5", "5", "-5"], [(1, "5"), (2, "-5")]),
        ([str(2**63 - 1), str(2**63), str(2**63 - 1)], [(1, str(2**63)), (2, str(2**63 - 1))]),  # past Int64: text
        (["10", "9", "100", "10"], [(1, "9"), (2, "100"), (3, "10")]),  # digits counted at each power of ten
        (["A1", "a1", "A1"], [(1, "a1"), (2, "A1")]),
    ],
)
def test_the_last_row_of_each_key_is_kept_whatever_the_ids_look_like(
    ids: list[str], kept: list[tuple[int, str]]
) -> None:
    rows = pl.DataFrame({"order_id": ids, "n": range(len(ids))})
    frame, removed = frames.keyed_last([rows], ["order_id"])
    assert [(n, order_id) for order_id, n in frame.iter_rows()] == kept
    assert removed == len(ids) - len(kept)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), max_size=60), st.sampled_from([0, 7, 10**12]), st.integers(1, 10**6))
def test_the_last_of_each_integer_id_is_found_as_polars_finds_it(numbers: list[int], offset: int, spread: int) -> None:
    # Ids near each other (addressed in an array) and far apart (hashed) alike.
    ids = pl.Series("order_id", [str(offset + n * (spread if n % 2 else 1)) for n in numbers], pl.String)
    frame, removed = frames.keyed_last([pl.DataFrame({"order_id": ids, "n": range(len(ids))})], ["order_id"])
    expected = pl.DataFrame({"order_id": ids, "n": range(len(ids))}).filter(ids.is_last_distinct())
    assert frame.rows() == expected.rows()
    assert removed == len(ids) - expected.height


def test_a_long_column_of_timestamps_is_parsed_in_halves_as_in_one_piece(monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = ["2026-11-25T10:00:00", "2026-11-25T10:00:00+05:30", " 2026-11-25 ", "soon", None, "2026-11-25T10:00Z"]
    texts = pl.Series("created_at", shapes * 20_001, pl.String)  # past _HALVES_FROM, split mid-pattern
    in_halves = frames.parse_timestamps(texts)
    monkeypatch.setattr(frames, "_HALVES_FROM", texts.len() + 1)
    assert in_halves.equals(frames.parse_timestamps(texts))
    assert in_halves.len() == texts.len()
    assert in_halves.null_count() == 2 * 20_001
    assert in_halves[-5] == datetime(2026, 11, 25, 4, 30, tzinfo=UTC)  # 10:00 at +05:30
