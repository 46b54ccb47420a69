"""The transform's fast path (ordinary changes, in Arrow) against lake_row, the reference:
whatever it accepts it shapes exactly as the reference does, it never accepts a change the
reference refuses, and it does accept the changes the orders pipeline writes (else the stream
would load DuckDB for nothing)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from salesflow.adapters.local.sqlite_changes import CHANGE_SCHEMA
from salesflow.arrow_tables import empty_table
from salesflow.pipelines.stream_fast import ordinary_rows
from salesflow.pipelines.stream_transform import ERROR_SCHEMA, LAKE_SCHEMA, transform_one_by_one
from tests.unit.test_stream_transform import (
    T,
    _one,
    any_image,
    changes,
    event_times,
    good_prices,
    good_quantities,
    good_times,
    outcome,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes())
@example(_one(1, "INSERT", T, '{"order_info":{"quantity":2,"quantity":3}}', None))
@example(_one(1, "INSERT", T, '{"order_info":{"item_id":"x","item_id":"y"}}', None))
@example(_one(1, "INSERT", T, '{"order_info":{"item_id":"\\u0041"}}', None))
@example(_one(1, "INSERT", T, '{} {"order_info":{"quantity":1}}', None))
@example(_one(1, "INSERT", T, '{"order_info":{"quantity":9223372036854775808}}', None))
@example(_one(1, "INSERT", T, '{"order_info":{"price":"1."}}', None))
@example(_one(1, "INSERT", T, '{"contact_info":{"name":"\\ud800"}}', None))
@example(_one(1, "INSERT", "2026-02-30T00:00:00.000Z", "{}", None))
@example(_one(1, "INSERT", "2026-12-31T23:59:60.000Z", "{}", None))
@example(_one(1, "REMOVE", "0000-03-07T00:00:00.1Z", None, "{}"))
@example(_one(1, "INSERT", T, '{"order_info":null,"contact_info":{"name":null}}', None))
def test_what_the_fast_path_accepts_it_shapes_as_the_reference_does(changes: pa.Table) -> None:
    rows = ordinary_rows(changes, LAKE_SCHEMA)
    if rows is None:
        return  # the DuckDB query takes the batch: test_stream_transform holds that one
    reference = outcome(*transform_one_by_one(changes))

    assert outcome(rows, empty_table(ERROR_SCHEMA)) == reference  # and so nothing refused


def _image(name: str, quantity: int, price: str) -> str:
    record = {
        "contact_info": {"name": name, "email": "ada@example.com"},
        "order_info": {
            "order_id": "o1",
            "item_id": "P1001",
            "product_name": "Café ☕",
            "quantity": quantity,
            "price": price,
        },
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# Names as people write them: any printable text, non-ASCII written as it is (as the ledger does).
printable = st.characters(min_codepoint=32, exclude_categories=["Cs", "Cc"])
ledger_images = st.builds(_image, st.text(alphabet=printable, max_size=10), good_quantities, good_prices)


@st.composite
def ordinary_changes(draw: st.DrawFn) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for sequence in range(1, draw(st.integers(min_value=1, max_value=8)) + 1):
        event_type = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
        rows.append(
            {
                "sequence": sequence,
                "event_type": event_type,
                "order_id": "o1",
                "event_time": draw(good_times),
                "new_image": None if event_type == "REMOVE" else draw(ledger_images),
                "old_image": None if event_type == "INSERT" else draw(ledger_images),
                "prev_sequence": None if event_type == "INSERT" else sequence - 1,
            }
        )
    return pa.Table.from_pylist(rows, CHANGE_SCHEMA)


@settings(max_examples=100, deadline=None)
@given(ordinary_changes())
def test_the_changes_the_orders_pipeline_writes_take_the_fast_path(changes: pa.Table) -> None:
    rows = ordinary_rows(changes, LAKE_SCHEMA)

    assert rows is not None
    assert outcome(rows, empty_table(ERROR_SCHEMA)) == outcome(*transform_one_by_one(changes))


@st.composite
def nearly_ordinary_changes(draw: st.DrawFn) -> pa.Table:
    """Ordinary changes with one of them spoiled: its image or its event time drawn from
    everything test_stream_transform makes (most of it refused), right at the edge."""
    rows = draw(ordinary_changes()).to_pylist()
    row = rows[draw(st.integers(min_value=0, max_value=len(rows) - 1))]
    if row["new_image"] is not None and draw(st.booleans()):
        row["new_image"] = draw(any_image)
    else:
        row["event_time"] = draw(event_times)
    return pa.Table.from_pylist(rows, CHANGE_SCHEMA)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nearly_ordinary_changes())
def test_one_spoiled_change_is_refused_by_the_fast_path_or_shaped_as_the_reference_does(changes: pa.Table) -> None:
    rows = ordinary_rows(changes, LAKE_SCHEMA)
    if rows is not None:
        assert outcome(rows, empty_table(ERROR_SCHEMA)) == outcome(*transform_one_by_one(changes))
