"""The overview page, its live counts, health checks and /metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from salesflow.console.state import ConsoleState
from salesflow.console.web import render, state_of

router = APIRouter()


def snapshot(state: ConsoleState) -> dict[str, Any]:
    """The overview's numbers: per pipeline, the dead-letter queue, the stream, last errors."""
    queries = state.queries
    pipelines: dict[str, dict[str, Any]] = {}
    for row in queries.execution_counts():
        found = pipelines.setdefault(row["pipeline"], {"executions": {}, "records": 0, "stored": 0, "rejected": 0})
        found["executions"][row["status"]] = row["executions"]
        for name in ("records", "stored", "rejected"):
            found[name] += row[name]
    stream = state.stream.status()
    return {
        "orders": queries.order_count(),
        "pipelines": pipelines,
        "dead_letters": queries.letter_counts(),
        "batches": queries.batch_counts(),
        "stream": None if stream is None else {k: v for k, v in stream.items() if k != "partitions"},
        "last_errors": queries.last_errors(),
    }


def latest(state: ConsoleState) -> dict[str, Any]:
    """The overview's numbers as last read (every second, off the request path)."""
    return state.overview.value() if state.overview is not None else snapshot(state)


@router.get("/")
def overview(request: Request) -> Response:
    return render(request, "overview.html", {"view": latest(state_of(request)), "page": "overview"})


@router.get("/api/overview")
def overview_json(request: Request) -> dict[str, Any]:
    """What the overview page polls every few seconds (numbers at most a second old)."""
    return latest(state_of(request))


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The database answers and the bucket is there."""
    state = state_of(request)
    problems = []
    try:
        state.queries.order_count()
    except Exception as exc:  # any failure means "not ready", whatever its kind
        problems.append(f"database: {exc}")
    if not state.app.settings.bucket.is_dir():
        problems.append(f"bucket {state.app.settings.bucket} is missing")
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text, counted from the database at each scrape."""
    registry: CollectorRegistry = request.app.state.metrics
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
