"""The batch pipeline's rules: columns, row validation, the return rule and the KPIs.

Pure and exact (Decimal money, no clock): this is the reference the fast
polars implementation is tested against, and the place a reader finds what
each KPI means.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum

from salesflow.domain.errors import ConfigError

RAW_PREFIX = "raw-data/"  # where batch inputs land in the bucket
CENT = Decimal("0.01")
RATE = Decimal("0.0001")


class Table(StrEnum):
    PRODUCTS = "products"
    ORDERS = "orders"
    ORDER_ITEMS = "order_items"


class RowReason(StrEnum):
    """Why a CSV row was refused. Stable codes: machines match on them."""

    MISSING_PRODUCT_ID = "missing_product_id"
    MISSING_CATEGORY = "missing_category"
    INVALID_PRICE = "invalid_price"
    MISSING_ORDER_ID = "missing_order_id"
    MISSING_USER_ID = "missing_user_id"
    MISSING_CREATED_AT = "missing_created_at"
    INVALID_CREATED_AT = "invalid_created_at"
    MISSING_ORDER_ITEM_ID = "missing_order_item_id"
    MISSING_SALE_PRICE = "missing_sale_price"
    INVALID_SALE_PRICE = "invalid_sale_price"
    INVALID_QUANTITY = "invalid_quantity"
    UNKNOWN_ORDER = "unknown_order"
    UNKNOWN_PRODUCT = "unknown_product"
    RAGGED_ROW = "ragged_row"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    required: bool
    aliases: tuple[str, ...] = ()


COLUMNS: dict[Table, tuple[Column, ...]] = {
    Table.PRODUCTS: (
        Column("product_id", True, ("id",)),
        Column("category", True),
        Column("price", False, ("retail_price",)),
        Column("name", False),
    ),
    Table.ORDERS: (
        Column("order_id", True),
        Column("user_id", True, ("customer_id",)),
        Column("created_at", True, ("order_date",)),
        Column("status", False),
        Column("returned_at", False),
    ),
    Table.ORDER_ITEMS: (
        Column("order_item_id", True, ("id",)),
        Column("order_id", True),
        Column("product_id", True),
        Column("quantity", False),
        Column("sale_price", True, ("price",)),
        Column("status", False),
        Column("returned_at", False),
    ),
}


def table_of(key: str) -> Table | None:
    """Which table a raw-data object feeds: raw-data/products.csv, raw-data/orders/*.csv,
    raw-data/order_items/*.csv (any other key: None)."""
    parts = key.split("/")
    if not key.lower().endswith(".csv") or not key.startswith(RAW_PREFIX):
        return None
    if len(parts) == 2 and parts[1].lower() == "products.csv":
        return Table.PRODUCTS
    if len(parts) == 3 and parts[1] in (Table.ORDERS, Table.ORDER_ITEMS):
        return Table(parts[1])
    return None


class MissingColumn(ConfigError):
    """A required column is not in the file under any name we know."""


def resolve_columns(table: Table, header: Sequence[str], mapping: Mapping[str, str], source: str) -> dict[str, str]:
    """canonical name -> the header's name for it, for every column found.

    A configured mapping (``[batch.columns.<table>] canonical = "name in file"``)
    wins; else the canonical name, else an alias, compared without case or
    surrounding spaces. Raises MissingColumn naming the column and the setting.
    """
    by_folded = {name.strip().lower(): name for name in header}
    found: dict[str, str] = {}
    for column in COLUMNS[table]:
        configured = mapping.get(column.name)
        candidates = [configured] if configured else [column.name, *column.aliases]
        for candidate in candidates:
            if candidate.strip().lower() in by_folded:
                found[column.name] = by_folded[candidate.strip().lower()]
                break
        else:
            if column.required:
                looked = ", ".join(repr(c) for c in candidates)
                raise MissingColumn(
                    f"{source}: no column {column.name!r} (looked for {looked}; the file has "
                    f"{', '.join(repr(h) for h in header) or 'no header'}). Name it in salesflow.toml: "
                    f'[batch.columns.{table}] {column.name} = "<column in the file>"'
                )
    return found


def parse_timestamp(text: str) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime (naive means UTC), or None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_money(text: str) -> Decimal | None:
    """A number > 0 as an exact Decimal, or None."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def parse_quantity(text: str) -> int | None:
    """An integer > 0 that fits 64 bits (one sign "+" allowed), or None."""
    text = text.strip()
    digits = text.removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits)
    return value if 0 < value < 2**63 else None


def check_row(table: Table, row: Mapping[str, str]) -> list[RowReason]:
    """The reasons a row (canonical names -> text) is refused; [] when it is valid.

    Unknown orders and products are a matter of the batch and the stored data,
    checked afterwards (see the pipeline).
    """
    reasons: list[RowReason] = []

    def blank(name: str) -> bool:
        return not (row.get(name) or "").strip()

    if table is Table.PRODUCTS:
        if blank("product_id"):
            reasons.append(RowReason.MISSING_PRODUCT_ID)
        if blank("category"):
            reasons.append(RowReason.MISSING_CATEGORY)
        if "price" in row and parse_money(row["price"] or "") is None:
            reasons.append(RowReason.INVALID_PRICE)
    elif table is Table.ORDERS:
        if blank("order_id"):
            reasons.append(RowReason.MISSING_ORDER_ID)
        if blank("user_id"):
            reasons.append(RowReason.MISSING_USER_ID)
        if blank("created_at"):
            reasons.append(RowReason.MISSING_CREATED_AT)
        elif parse_timestamp(row["created_at"]) is None:
            reasons.append(RowReason.INVALID_CREATED_AT)
    else:
        if blank("order_item_id"):
            reasons.append(RowReason.MISSING_ORDER_ITEM_ID)
        if blank("order_id"):
            reasons.append(RowReason.MISSING_ORDER_ID)
        if blank("product_id"):
            reasons.append(RowReason.MISSING_PRODUCT_ID)
        if blank("sale_price"):
            reasons.append(RowReason.MISSING_SALE_PRICE)
        elif parse_money(row["sale_price"]) is None:
            reasons.append(RowReason.INVALID_SALE_PRICE)
        if "quantity" in row and parse_quantity(row["quantity"] or "") is None:
            reasons.append(RowReason.INVALID_QUANTITY)
    return reasons


def is_returned(status: str | None, returned_at: str | None) -> bool:
    """A line is returned when its status is Returned (any case) or returned_at is set."""
    return (status or "").strip().lower() == "returned" or bool((returned_at or "").strip())


@dataclass(frozen=True, slots=True)
class Line:
    """One order line after the join: what the KPIs are computed from."""

    order_id: str
    user_id: str
    order_date: date
    category: str
    quantity: int
    sale_price: Decimal
    returned: bool

    @property
    def total_price(self) -> Decimal:
        return self.quantity * self.sale_price


@dataclass(frozen=True, slots=True)
class OrderKpi:
    order_date: date
    total_orders: int
    total_revenue: Decimal
    total_items_sold: int
    return_rate: Decimal
    unique_customers: int


@dataclass(frozen=True, slots=True)
class CategoryKpi:
    category: str
    order_date: date
    daily_revenue: Decimal
    avg_order_value: Decimal
    avg_return_rate: Decimal


def order_kpis(lines: Iterable[Line]) -> list[OrderKpi]:
    """Per order date: orders with a line, revenue, units, share of orders with a
    returned line, distinct customers. Money to the cent, rates to 4 places."""
    by_date: dict[date, list[Line]] = defaultdict(list)
    for line in lines:
        by_date[line.order_date].append(line)
    kpis = []
    for day in sorted(by_date):
        day_lines = by_date[day]
        orders = {line.order_id for line in day_lines}
        returned = {line.order_id for line in day_lines if line.returned}
        kpis.append(
            OrderKpi(
                order_date=day,
                total_orders=len(orders),
                total_revenue=money(sum((line.total_price for line in day_lines), Decimal(0))),
                total_items_sold=sum(line.quantity for line in day_lines),
                return_rate=rate(Decimal(len(returned)) / len(orders)),
                unique_customers=len({line.user_id for line in day_lines}),
            )
        )
    return kpis


def category_kpis(lines: Iterable[Line]) -> list[CategoryKpi]:
    """Per category and order date: revenue of its lines, revenue per order with a line
    in it, and the share of those orders with a returned line in it."""
    groups: dict[tuple[str, date], list[Line]] = defaultdict(list)
    for line in lines:
        groups[(line.category, line.order_date)].append(line)
    kpis = []
    for category, day in sorted(groups):
        group = groups[(category, day)]
        orders = {line.order_id for line in group}
        returned = {line.order_id for line in group if line.returned}
        revenue = sum((line.total_price for line in group), Decimal(0))
        kpis.append(
            CategoryKpi(
                category=category,
                order_date=day,
                daily_revenue=money(revenue),
                avg_order_value=money(revenue / len(orders)),
                avg_return_rate=rate(Decimal(len(returned)) / len(orders)),
            )
        )
    return kpis


def money(value: Decimal) -> Decimal:
    """Rounded to the cent, half to even (banker's rounding, as accounting does)."""
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def rate(value: Decimal) -> Decimal:
    return value.quantize(RATE, rounding=ROUND_HALF_EVEN)
