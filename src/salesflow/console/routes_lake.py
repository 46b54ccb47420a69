"""The lake: partitions, the read-only SQL box (the sandbox of `salesflow sql`), CSV, compaction."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response, StreamingResponse

from salesflow.console.web import done, render, state_of
from salesflow.domain.errors import ReadOnlyQuery
from salesflow.jsoncodec import to_json

router = APIRouter()
MAX_SQL_CHARS = 20_000
EXAMPLE = "SELECT product_name, SUM(quantity) AS units FROM orders_current GROUP BY product_name ORDER BY units DESC"


@router.get("/lake")
def lake(request: Request, sql: Annotated[str | None, Query(max_length=MAX_SQL_CHARS)] = None) -> Response:
    from salesflow.runtime.sql import sql_engine
    from salesflow.runtime.stream import lake_of

    state = state_of(request)
    context: dict[str, Any] = {
        "page": "lake",
        "partitions": lake_of(state.app.settings).partitions(),
        "sql": sql if sql is not None else EXAMPLE,
        "result": None,
        "error": None,
        "shown": state.console.sql_rows_shown,
    }
    status = 200
    if sql and sql.strip():
        try:
            context["result"] = sql_engine(state.app.settings).query(sql)
        except ReadOnlyQuery as exc:
            context["error"] = str(exc)
            status = 400
    return render(request, "lake.html", context, status_code=status)


@router.get("/lake/result.csv")
def result_csv(request: Request, sql: Annotated[str, Query(min_length=1, max_length=MAX_SQL_CHARS)]) -> Response:
    """The whole result of a query as CSV; a refused or broken query is a 400 with the reason."""
    from salesflow.runtime.sql import sql_engine

    try:
        result = sql_engine(state_of(request).app.settings).query(sql)
    except ReadOnlyQuery as exc:
        return Response(str(exc), status_code=400, media_type="text/plain; charset=utf-8")

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow([_cell(value) for value in row])
            if buffer.tell() > 1 << 16:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    name = f"salesflow-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.csv"
    return StreamingResponse(
        lines(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.post("/lake/compact")
def compact(
    request: Request,
    every_hour: Annotated[bool, Form(description="also the current hour")] = False,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Merge the small files of closed hours, then vacuum, as `salesflow lake compact` does."""
    from salesflow.runtime.stream import lake_of

    state = state_of(request)
    state.guard.require(request, csrf_token)
    lake = lake_of(state.app.settings)
    compacted = lake.compact_closed_hours(every_hour)
    removed = lake.vacuum()
    return done(request, "/lake", {"compacted": compacted, "vacuumed_files": removed})


def _cell(value: Any) -> Any:
    """Nested values (lists, structs) as JSON text, the rest as they are."""
    return to_json(value) if isinstance(value, dict | list) else value
