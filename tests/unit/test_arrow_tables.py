"""Arrow tables built from Python values without pyarrow's conversion (which loads pandas)
must hold what that conversion would: every type of the lake's and the error table's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from salesflow.arrow_tables import empty_table, rows_table
from salesflow.pipelines.stream_transform import ERROR_SCHEMA, LAKE_SCHEMA

LAKE_ROW = {
    "sequence": 7,
    "event_type": "MODIFY",
    "event_time": datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC),
    "order_id": "o-1",
    "customer_name": 'Zoë "Q" Ünal\nsecond line',
    "customer_email": "zoe@example.com",
    "item_id": "i-9",
    "product_name": "Kettle ☕",
    "quantity": 2**62,
    "price": Decimal("12345678901234567890123456.0000000001"),
    "new_image": '{"a": 1}',
    "old_image": None,
    "prev_sequence": 3,
    "dt": "2026-11-25",
    "hour": "10",
}


def test_lake_rows_come_out_as_pyarrow_would_build_them() -> None:
    other = {**LAKE_ROW, "sequence": 8, "price": None, "quantity": None, "prev_sequence": None}
    rows = [LAKE_ROW, other]

    assert rows_table(rows, LAKE_SCHEMA).equals(pa.Table.from_pylist(rows, LAKE_SCHEMA))


def test_error_rows_come_out_as_pyarrow_would_build_them() -> None:
    row = {
        "sequence": 1,
        "prev_sequence": None,
        "order_id": "p1",
        "event_type": "INSERT",
        "reason": "invalid_quantity",
        "message": "quantity is not an integer",
        "change": '{"new_image": "{\\"x\\": [1]}"}',
        "failed_at": datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC),
    }

    assert rows_table([row], ERROR_SCHEMA).equals(pa.Table.from_pylist([row], ERROR_SCHEMA))


def test_a_key_the_schema_lacks_is_an_error_not_dropped() -> None:
    with pytest.raises(pa.ArrowInvalid):
        rows_table([{**LAKE_ROW, "surprise": 1}], LAKE_SCHEMA)


def test_no_rows_give_an_empty_table_of_the_schema() -> None:
    assert rows_table([], LAKE_SCHEMA).schema == LAKE_SCHEMA
    assert empty_table(ERROR_SCHEMA).num_rows == 0
    assert empty_table(ERROR_SCHEMA).schema == ERROR_SCHEMA
