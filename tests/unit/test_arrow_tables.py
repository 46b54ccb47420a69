"""Arrow tables built from Python values without pyarrow's conversion (which loads pandas)
must hold what that conversion would: every type of the lake's and the error table's rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from salesflow.arrow_tables import empty_table, rows_table, rows_to_table, unify
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


# -- rows of a database cursor --------------------------------------------------------------------

CURSOR_NAMES = ["id", "name", "amount", "blob", "nothing"]
CURSOR_ROWS = [
    (1, "Ada", 2.5, b"\x00\x01", None),
    (2**62, 'Zoë "Q"\nÜnal ☕', 3, None, None),
    (None, None, None, b"", None),
    (-7, "", -0.5, b"xyz", None),
]


def test_cursor_rows_come_out_as_pyarrow_would_build_them() -> None:
    built = rows_to_table(CURSOR_ROWS, CURSOR_NAMES)

    expected = pa.table(
        {name: list(values) for name, values in zip(CURSOR_NAMES, zip(*CURSOR_ROWS, strict=True), strict=True)}
    )
    assert built.schema.types == [pa.int64(), pa.string(), pa.float64(), pa.binary(), pa.null()]
    assert built.equals(expected)


def test_cursor_rows_take_the_types_a_schema_gives() -> None:
    schema = pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.float64()),
                        ("blob", pa.binary()), ("nothing", pa.string())])  # fmt: skip

    built = rows_to_table(CURSOR_ROWS, CURSOR_NAMES, schema)

    assert built.schema == schema
    assert built.column("nothing").to_pylist() == [None] * 4
    assert built.column("name").to_pylist() == ["Ada", 'Zoë "Q"\nÜnal ☕', None, ""]


def test_text_that_only_some_rows_hold_and_no_rows_at_all() -> None:
    ascii_only = rows_to_table([("a",), (None,), ("bc",)], ["t"])
    assert ascii_only.column("t").to_pylist() == ["a", None, "bc"]
    empty = rows_to_table([], ["a", "b"])
    assert (empty.num_rows, empty.column_names) == (0, ["a", "b"])


def test_chunks_typed_apart_come_together() -> None:
    # SQLite types values, not columns: one chunk may hold only NULLs, or ints where another
    # holds floats or text.
    first = rows_to_table([(None, 1, 1), (None, 2, 2)], ["a", "b", "c"])
    second = rows_to_table([(5, 2.5, "x")], ["a", "b", "c"])

    together = unify([first, second])

    assert together.schema.types == [pa.int64(), pa.float64(), pa.string()]
    assert together.to_pylist()[-1] == {"a": 5, "b": 2.5, "c": "x"}
    assert together.column("c").to_pylist() == ["1", "2", "x"]
