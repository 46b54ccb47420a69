"""Executions: the filtered list and one execution drawn as a graph of its steps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from salesflow.console.queries import PIPELINES, ExecutionFilter, seconds_between
from salesflow.console.web import pages, render, state_of
from salesflow.domain.records import Execution, ExecutionStatus

router = APIRouter()

# The steps of the orders pipeline: it records counts, not steps, so they are drawn from the counts.
ORDERS_STEPS = ("read", "validate", "store", "dead letters")


# A date or a date-time as the form's date and datetime-local inputs send them.
_MOMENT = r"^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?Z?)?$"


def _utc(moment: str | None) -> str | None:
    """The form's moment as the ledger writes times (UTC, 'Z'), or None when not given."""
    return moment.removesuffix("Z") if moment else None


@router.get("/executions")
def executions(
    request: Request,
    pipeline: Annotated[str | None, Query(max_length=40)] = None,
    status: Annotated[ExecutionStatus | None, Query()] = None,
    key: Annotated[str | None, Query(max_length=1024, description="a part of the object key")] = None,
    since: Annotated[str | None, Query(pattern=_MOMENT, description="started at or after (UTC)")] = None,
    until: Annotated[str | None, Query(pattern=_MOMENT, description="started before (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    state = state_of(request)
    where = ExecutionFilter(pipeline or None, status, key or None, _utc(since), _utc(until))
    found = state.queries.executions(where, page, limit)
    context = {
        "page": "executions",
        "rows": found.rows,
        "where": where,
        "limit": limit,
        "pipelines": PIPELINES,
        "statuses": [s.value for s in ExecutionStatus],
        "links": pages(page, found.has_next, request),
    }
    return render(request, "executions.html", context)


@router.get("/executions/{execution_id}")
def execution(request: Request, execution_id: str) -> Response:
    state = state_of(request)
    found = state.queries.ledger.execution(execution_id)  # NotFound -> 404
    batch = state.queries.batch_of(execution_id) if found.pipeline == "batch" else None
    steps = state.queries.steps(execution_id) if batch is not None else orders_steps(found)
    context = {
        "page": "executions",
        "execution": found,
        "seconds": seconds_between(found.started_at, found.finished_at),
        "steps": steps,
        "batch": batch,
        "reasons": state.queries.ledger.reasons_of(execution_id) if found.pipeline == "orders" else {},
    }
    return render(request, "execution.html", context)


@router.get("/api/executions/{execution_id}")
def execution_json(request: Request, execution_id: str) -> dict[str, Any]:
    """One execution as JSON (its status, counts and error), for scripts and the browser tests."""
    found = state_of(request).queries.ledger.execution(execution_id)
    return {name: getattr(found, name) for name in Execution.__slots__}


def orders_steps(execution: Execution) -> list[dict[str, Any]]:
    """The orders pipeline's steps, from its counts: a failure stops at "read" (the file
    could not be parsed), everything else moves all the steps together."""
    status = execution.status.value
    failed = execution.status == ExecutionStatus.FAILED
    details = {
        "read": f"{execution.records:,} records (checkpoint {execution.checkpoint:,})",
        "validate": f"{execution.stored + execution.rejected:,} checked",
        "store": f"{execution.stored:,} stored",
        "dead letters": f"{execution.rejected:,} refused",
    }
    steps = []
    for index, name in enumerate(ORDERS_STEPS):
        step_status = status if not failed else ("failed" if index == 0 else "skipped")
        steps.append({"step": name, "status": step_status, "detail": details[name], "seconds": None})
    return steps
