"""ChangeTransform (the rules as one DuckDB query) against lake_row (the reference, one change
at a time): on any mix of good and poison changes, both give the same lake rows and refuse the
same changes for the same reasons. The stream runs the first, the AWS face's Firehose transform
the second: a user querying either lake must see the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from salesflow.adapters.local.sqlite_changes import CHANGE_SCHEMA
from salesflow.domain.changes import ChangeReason
from salesflow.pipelines import stream_transform
from salesflow.pipelines.stream_transform import ERROR_SCHEMA, LAKE_SCHEMA, ChangeTransform, transform_one_by_one

TRANSFORM = ChangeTransform()  # one connection for every example, as the stream keeps one
RAW = "\u0000raw\u0000"  # a placeholder replaced by a raw JSON number token after encoding

# -- what changes are made of --------------------------------------------------------

json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_nested = st.one_of(st.lists(json_leaves, max_size=3), st.dictionaries(st.text(max_size=4), json_leaves, max_size=3))
json_values = st.one_of(json_leaves, _nested, st.dictionaries(st.text(max_size=3), _nested, max_size=2))
# Number tokens as other writers may spell them: leading zeros (invalid JSON), fractions,
# exponents, and numbers beyond a double (1E+400, valid JSON all the same).
raw_numbers = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.one_of(st.integers(min_value=0, max_value=10**22).map(str), st.sampled_from(["00", "07"])),
    st.one_of(st.just(""), st.integers(min_value=0, max_value=10**12).map(lambda n: f".{n}")),
    st.one_of(
        st.just(""),
        st.builds(
            "{}{}{}".format,
            st.sampled_from("eE"),
            st.sampled_from(["", "+", "-"]),
            st.integers(min_value=0, max_value=400),
        ),
    ),
)
quantity_texts = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64).map(str),
    st.sampled_from(["lots", "", " 1", "1 ", "+1", "1.0", "1e2", "0x10", "1_000", "٣", "２", "-", "-0", "007"]),
)
price_texts = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=0, max_value=10**6).map(str),
    st.builds("{}.{}".format, st.integers(min_value=0, max_value=10**30), st.integers(min_value=0, max_value=10**12)),
    st.sampled_from(["-1.00", "1.", ".5", "1e3", "NaN", "", " 1.00", "1,00", "١٫٥", "0.0000000001"]),
)
good_quantities = st.integers(min_value=1, max_value=5)
good_prices = st.sampled_from(["24.50", "89.99", "0.01", "329.00", "199.95", "0"])
names = st.one_of(st.sampled_from(["Ada Lovelace", "Grace Hopper"]), st.text(max_size=12))


def poison(texts: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """A field's value gone wrong: its text form, another JSON type, a raw number token, null."""
    return st.one_of(texts, json_values, st.just(RAW), st.none())


# Built once: hypothesis works out each new strategy object's properties, which costs more
# than drawing from it.
quantities = st.one_of(good_quantities, poison(quantity_texts))
prices = st.one_of(good_prices, poison(price_texts))
item_ids = st.one_of(st.sampled_from(["P1001", "P1002"]), json_values)
product_names = st.one_of(st.sampled_from(["Wireless Mouse", "Café ☕"]), json_values)
emails = st.one_of(st.just("ada@example.com"), json_values)
not_objects = json_values.filter(lambda value: not isinstance(value, dict))
ids = st.text(min_size=1, max_size=6)


@st.composite
def images(draw: st.DrawFn) -> str:
    """A record as the ledger writes it, maybe spoiled: fields of the wrong type, sections
    that are not objects, not an object at all, or not JSON."""
    order: dict[str, Any] = {
        "order_id": draw(ids),
        "item_id": draw(item_ids),
        "product_name": draw(product_names),
        "quantity": draw(quantities),
        "price": draw(prices),
    }
    for name in draw(st.sets(st.sampled_from(list(order)), max_size=2)):
        del order[name]
    contact: Any = {"name": draw(names), "email": draw(emails)}
    record: Any = {"contact_info": contact, "order_info": order}
    shape = draw(st.sampled_from(["record"] * 6 + ["section", "top", "extra"]))
    if shape == "section":
        record[draw(st.sampled_from(["contact_info", "order_info"]))] = draw(json_values)
    elif shape == "top":
        record = draw(not_objects)
    elif shape == "extra":
        record["channel"] = draw(json_values)
    text = json.dumps(record, ensure_ascii=draw(st.booleans()))
    while f'"{json.dumps(RAW)[1:-1]}"' in text:
        text = text.replace(f'"{json.dumps(RAW)[1:-1]}"', draw(raw_numbers), 1)
    spoil = draw(st.sampled_from(["none"] * 8 + ["cut", "garbage"]))
    if spoil == "cut":
        text = text[: draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))]
    elif spoil == "garbage":
        text += draw(st.sampled_from([" x", ",", "}", " ", "\n", '{"a":1}']))
    return text


def format_time(moment: datetime, digits: int) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}"[:digits] + "Z"


good_times = st.builds(
    format_time,
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.integers(min_value=1, max_value=3),
)
event_times = st.one_of(
    good_times,
    good_times,
    good_times.map(lambda text: text.replace("Z", "+00:00")),
    good_times.map(lambda text: text.replace("T", " ")),
    good_times.map(lambda text: text[:-1]),
    good_times.map(lambda text: text[:19] + "Z"),
    good_times.map(lambda text: text[:-1] + "0000Z"),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{}Z".format,
        *[st.integers(min_value=0, max_value=top) for top in (9999, 13, 32, 25, 61, 61)],
        st.integers(min_value=0, max_value=99999).map(str),
    ),
    st.text(max_size=26),
)


any_image = images()


@st.composite
def changes(draw: st.DrawFn) -> pa.Table:
    rows = []
    for sequence in range(1, draw(st.integers(min_value=1, max_value=8)) + 1):
        event_type = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
        rows.append(
            {
                "sequence": sequence,
                "event_type": event_type,
                "order_id": draw(ids),
                "event_time": draw(event_times),
                "new_image": None if event_type == "REMOVE" else draw(any_image),
                "old_image": None if event_type == "INSERT" else draw(any_image),
            }
        )
    return pa.Table.from_pylist(rows, CHANGE_SCHEMA)


# -- the property --------------------------------------------------------------------


def outcome(lake: pa.Table, errors: pa.Table) -> dict[int, Any]:
    """Per sequence: its lake row, or (reason, order_id, event_type, the change as kept)."""
    assert lake.schema == LAKE_SCHEMA
    assert errors.schema == ERROR_SCHEMA
    found: dict[int, Any] = {row["sequence"]: _as_json(row) for row in lake.to_pylist()}
    for error in errors.to_pylist():
        assert error["sequence"] not in found, "a change both in the lake and refused"
        assert error["message"]
        found[error["sequence"]] = (
            ChangeReason(error["reason"]),
            error["order_id"],
            error["event_type"],
            json.loads(error["change"]),
        )
    return found


TEXT_COLUMNS = ("customer_name", "customer_email", "item_id", "product_name")


def _as_json(row: dict[str, Any]) -> dict[str, Any]:
    """The row with text fields that hold another JSON value (a number where a name should be)
    parsed: the SQL path spells 1e16 as 10000000000000000.0, the reference as 1e16, and both
    are that number as JSON text."""
    for name in TEXT_COLUMNS:
        text = row[name]
        if text is not None and text[:1] in "-0123456789[{tf":
            with suppress(ValueError):
                row[name] = ("json", json.loads(text))
    return row


def _one(sequence: int, event_type: str, event_time: str, new: str | None, old: str | None) -> pa.Table:
    row = {"sequence": sequence, "event_type": event_type, "order_id": "A1"}
    return pa.Table.from_pylist([{**row, "event_time": event_time, "new_image": new, "old_image": old}], CHANGE_SCHEMA)


T = "2026-11-25T10:00:00.000Z"


@contextmanager
def query_only() -> Iterator[None]:
    """Fails when ChangeTransform gives up on its query and goes change by change: the
    comparison would then compare the reference with itself."""

    def refuse(changes: pa.Table) -> tuple[pa.Table, pa.Table]:
        raise AssertionError("the query failed; the batch went change by change")

    saved = stream_transform.transform_one_by_one
    stream_transform.transform_one_by_one = refuse
    try:
        yield
    finally:
        stream_transform.transform_one_by_one = saved


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes())
@example(_one(1, "INSERT", T, '{"order_info":{"quantity":"lots"}}', None))
@example(_one(1, "MODIFY", T, '{"order_info":{"quantity":"x"}}', "{}"))
@example(_one(1, "MODIFY", T, '{"contact_info":{"name":1.50}}', "[1]"))
@example(_one(1, "INSERT", T, '{"order_info":{"quantity":-9223372036854775808,"price":"0"}}', None))
@example(_one(1, "INSERT", T, '{"order_info":{"quantity":1e2}}', None))
@example(_one(1, "INSERT", T, '{"contact_info":{"name":"\\ud800"}}', None))
@example(_one(1, "INSERT", T, "\ufeff{}", None))
@example(_one(1, "INSERT", T, '{"order_info":{"price":"12345678901234567890123456789"}}', None))
@example(_one(1, "REMOVE", "2026-11-25T10:00:00.5Z", None, "{}"))
@example(_one(1, "REMOVE", "0999-01-01T00:00:00.000Z", None, "{}"))
@example(_one(1, "REMOVE", "0001-01-01T00:00:00.000Z", None, "{}"))
@example(_one(1, "REMOVE", "0000-03-07T00:00:00.1Z", None, "{}"))
def test_the_sql_transform_agrees_with_the_reference_on_every_change(changes: pa.Table) -> None:
    with query_only():  # a poison change must not send its whole batch down the slow path
        fast = outcome(*TRANSFORM(changes))
    reference = outcome(*transform_one_by_one(changes))

    assert fast == reference
    assert sorted(fast) == changes.column("sequence").to_pylist()  # nothing lost, nothing made up


def test_lake_rows_keep_the_input_order_and_errors_carry_the_change_as_it_came() -> None:
    rows = [
        {"sequence": 5, "event_type": "INSERT", "order_id": "A", "event_time": T, "new_image": "{}", "old_image": None},
        {
            "sequence": 6,
            "event_type": "MODIFY",
            "order_id": "A",
            "event_time": T,
            "new_image": "[1]",
            "old_image": "{}",
        },
        {"sequence": 9, "event_type": "REMOVE", "order_id": "A", "event_time": T, "new_image": None, "old_image": "{}"},
    ]

    lake, errors = TRANSFORM(pa.Table.from_pylist(rows, CHANGE_SCHEMA))

    assert lake.column("sequence").to_pylist() == [5, 9]
    [error] = errors.to_pylist()
    assert (error["sequence"], error["reason"]) == (6, "invalid_image")
    assert json.loads(error["change"]) == {**rows[1], "prev_sequence": None}
    assert error["failed_at"] <= datetime.now(UTC)


def test_prices_are_exact_in_both() -> None:
    new = '{"order_info":{"price":"0.1000000001","quantity":"3"}}'
    for lake, _ in (TRANSFORM(_one(1, "INSERT", T, new, None)), transform_one_by_one(_one(1, "INSERT", T, new, None))):
        assert lake.column("price").to_pylist() == [Decimal("0.1000000001")]
        assert lake.column("quantity").to_pylist() == [3]
