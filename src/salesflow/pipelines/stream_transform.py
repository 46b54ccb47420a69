"""The stream's transform: change records to lake rows, many at a time.

The rules are those of salesflow.domain.changes.lake_row (the one-change-at-a-time
reference), applied in three tiers, each taking over what the one before leaves:
1. ordinary changes (all the orders pipeline writes) in Arrow's compute functions
   and JSON reader (pipelines.stream_fast), without DuckDB in the process;
2. a batch with anything out of the ordinary in one DuckDB query, which names the
   rule each refused change breaks (the change becomes an error row with it);
3. should that query itself fail (a bug, a value nobody foresaw), the batch change
   by change with the reference, so one poison change never stops the stream.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from salesflow.arrow_tables import empty_table, rows_table
from salesflow.domain.changes import (
    FLAT_FIELDS,
    PRICE_PRECISION,
    Change,
    ChangeReason,
    ChangeRejected,
    lake_row,
)
from salesflow.domain.orders import PRICE_SCALE
from salesflow.pipelines.stream_fast import ordinary_rows

if TYPE_CHECKING:
    import duckdb

LAKE_SCHEMA = pa.schema(
    [
        ("sequence", pa.int64()),
        ("event_type", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("order_id", pa.string()),
        ("customer_name", pa.string()),
        ("customer_email", pa.string()),
        ("item_id", pa.string()),
        ("product_name", pa.string()),
        ("quantity", pa.int64()),
        ("price", pa.decimal128(PRICE_PRECISION, PRICE_SCALE)),
        ("new_image", pa.string()),
        ("old_image", pa.string()),
        # The change this one replaced: orders_current is the rows no change replaced
        # (an anti-join on integers, 10x faster than a window over order ids).
        ("prev_sequence", pa.int64()),
        ("dt", pa.string()),
        ("hour", pa.string()),
    ]
)

ERROR_SCHEMA = pa.schema(
    [
        ("sequence", pa.int64()),
        ("prev_sequence", pa.int64()),
        ("order_id", pa.string()),
        ("event_type", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("change", pa.string()),  # the change record as JSON, as it came
        ("failed_at", pa.timestamp("us", tz="UTC")),
    ]
)

_PATHS = [f"$.{section}.{name}" for section, name in FLAT_FIELDS.values()]
_QUANTITY, _PRICE = _PATHS.index("$.order_info.quantity"), _PATHS.index("$.order_info.price")
_WHOLE = PRICE_PRECISION - PRICE_SCALE

# One pass: parse what each change holds, then name the first rule it breaks (in the
# reference's order: event time, images, quantity, price), then shape the lake row.
# Rows keep the input's order (DuckDB preserves insertion order): no sort needed.
_QUERY = f"""
WITH parsed AS (
    SELECT *,
        try_strptime(event_time, '%Y-%m-%dT%H:%M:%S.%gZ') AS moment,
        -- CASE, not AND: DuckDB may evaluate both sides of an AND, and json_type raises on bad JSON.
        new_image IS NULL OR coalesce(CASE WHEN json_valid(new_image) THEN json_type(new_image) = 'OBJECT' END,
            false) AS new_ok
    FROM changes
), fields AS (
    SELECT *,
        CASE WHEN new_ok AND new_image IS NOT NULL THEN json_extract_string(new_image, {_PATHS}) END AS f,
        CASE WHEN new_ok AND new_image IS NOT NULL
             THEN json_type(new_image, ['{_PATHS[_QUANTITY]}', '{_PATHS[_PRICE]}']) END AS t
    FROM parsed
), checked AS (
    SELECT *,
        CASE
            WHEN moment IS NULL OR length(event_time) NOT BETWEEN 22 AND 24
                OR event_time NOT LIKE '____-__-__T__:__:__.%Z'
                OR starts_with(event_time, '0000') THEN 'invalid_event_time'  -- DuckDB has a year 0, Python has not
            WHEN NOT new_ok THEN 'invalid_image'
            WHEN t[1] IS NOT NULL AND t[1] <> 'NULL' AND NOT (
                (t[1] IN ('BIGINT', 'UBIGINT') AND TRY_CAST(f[{_QUANTITY + 1}] AS BIGINT) IS NOT NULL)
                OR (t[1] = 'VARCHAR' AND regexp_full_match(f[{_QUANTITY + 1}], '-?[0-9]{{1,19}}')
                    AND TRY_CAST(f[{_QUANTITY + 1}] AS BIGINT) IS NOT NULL))
                THEN 'invalid_quantity'
            WHEN t[2] IS NOT NULL AND t[2] <> 'NULL' AND NOT (
                t[2] = 'VARCHAR'
                AND regexp_full_match(f[{_PRICE + 1}], '[0-9]{{1,{_WHOLE}}}(\\.[0-9]{{1,{PRICE_SCALE}}})?'))
                THEN 'invalid_price'
        END AS reason
    FROM fields
)
SELECT sequence, event_type, moment AS event_time, order_id,
    {", ".join(f"f[{i + 1}] AS {name}" for i, name in enumerate(FLAT_FIELDS) if name not in ("quantity", "price"))},
    -- TRY_CAST: the refused rows are computed too (and dropped); a failed CAST would fail them all.
    TRY_CAST(f[{_QUANTITY + 1}] AS BIGINT) AS quantity,
    TRY_CAST(f[{_PRICE + 1}] AS DECIMAL({PRICE_PRECISION}, {PRICE_SCALE})) AS price,
    new_image, CASE WHEN event_type <> 'INSERT' THEN old_image END AS old_image, prev_sequence,
    strftime(moment, '%Y-%m-%d') AS dt, strftime(moment, '%H') AS hour,
    reason
FROM checked
"""


class ChangeTransform:
    """Turns tables of changes into lake rows and error rows; one per stream (it keeps
    a DuckDB connection: opening one per batch cost a third of the query's time). The
    connection opens with the first batch out of the ordinary, so a stream that only
    ever sees ordinary changes, or is built only to read its status, never opens one."""

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def __call__(self, changes: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Lake rows (LAKE_SCHEMA) and error rows (ERROR_SCHEMA) of a table of changes."""
        if changes.num_rows == 0:
            return empty_table(LAKE_SCHEMA), empty_table(ERROR_SCHEMA)
        ordinary = ordinary_rows(changes, LAKE_SCHEMA)
        if ordinary is not None:
            return ordinary, empty_table(ERROR_SCHEMA)
        import duckdb  # only once a batch is out of the ordinary: 70 MB a stream may never need

        try:
            shaped = self._run_query(changes)
        except (duckdb.Error, pa.ArrowException):
            return transform_one_by_one(changes)
        refused = shaped.filter(shaped.column("reason").is_valid())
        rows = shaped.filter(shaped.column("reason").is_null()).drop_columns(["reason"])
        return _as_lake(rows), _errors_of(changes, refused)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _run_query(self, changes: pa.Table) -> pa.Table:
        import duckdb

        if self._con is None:
            # One thread: the stream shares the machine with the pipelines writing the changes.
            self._con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False, "threads": 1})
        self._con.register("changes", changes)
        try:
            return self._con.sql(_QUERY).to_arrow_table()
        finally:
            self._con.unregister("changes")


def transform_one_by_one(changes: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The reference, change by change: slow, but a failure stays with its change."""
    rows: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for record in changes.to_pylist():
        change = Change(**record)
        try:
            rows.append(lake_row(change))
        except ChangeRejected as exc:
            errors.append(_error(change, exc.reason, exc.message, now))
        except Exception as exc:  # a bug in the transform: keep the change, name the bug, go on
            errors.append(_error(change, ChangeReason.TRANSFORM_FAILED, f"{type(exc).__name__}: {exc}", now))
    return rows_table(rows, LAKE_SCHEMA), rows_table(errors, ERROR_SCHEMA)


def _as_lake(rows: pa.Table) -> pa.Table:
    # DuckDB hands timestamps over without a zone; they are UTC by construction.
    moments = rows.column("event_time").cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
    rows = rows.set_column(rows.schema.get_field_index("event_time"), "event_time", moments)
    return rows.select(LAKE_SCHEMA.names).cast(LAKE_SCHEMA)


_MESSAGES = {
    ChangeReason.INVALID_EVENT_TIME: "event time is not like 2026-11-25T10:00:00.000Z",
    ChangeReason.INVALID_IMAGE: "the new image is not a JSON object",
    ChangeReason.INVALID_QUANTITY: "quantity is not an integer that fits 64 bits",
    ChangeReason.INVALID_PRICE: (
        f"price is not a plain decimal with at most {PRICE_SCALE} places and {_WHOLE} digits before the point"
    ),
}


def _errors_of(changes: pa.Table, refused: pa.Table) -> pa.Table:
    if refused.num_rows == 0:
        return empty_table(ERROR_SCHEMA)
    reasons = dict(zip(refused.column("sequence").to_pylist(), refused.column("reason").to_pylist(), strict=True))
    wanted = changes.filter(pc.is_in(changes.column("sequence"), value_set=refused.column("sequence").combine_chunks()))
    now = datetime.now(UTC)
    errors = []
    for record in wanted.to_pylist():
        reason = ChangeReason(reasons[record["sequence"]])
        errors.append(_error(Change(**record), reason, _MESSAGES[reason], now))
    return rows_table(errors, ERROR_SCHEMA)


def _error(change: Change, reason: ChangeReason, message: str, now: datetime) -> dict[str, Any]:
    return {
        "sequence": change.sequence,
        "prev_sequence": change.prev_sequence,
        "order_id": change.order_id,
        "event_type": change.event_type,
        "reason": reason.value,
        "message": message,
        "change": msgspec.json.encode(change.as_json()).decode(),
        "failed_at": now,
    }
