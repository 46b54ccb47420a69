"""Dead letters: filter them, read one, fix and redrive it, redrive a selection, discard.

Every action goes through salesflow.pipelines.dead_letters (the rules the CLI
uses) and is recorded in dead_letter_actions with the actor "console".
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import Response

from salesflow.console.queries import LetterFilter
from salesflow.console.records import editable, marked_lines
from salesflow.console.web import done, pages, render, state_of
from salesflow.domain.orders import Reason
from salesflow.domain.records import LetterStatus
from salesflow.jsoncodec import from_json
from salesflow.pipelines import dead_letters

router = APIRouter()
ACTOR = "console"
MAX_RECORD_CHARS = 16 << 20  # a record larger than orders.max_record_mb could not be stored anyway
UNREADABLE = {Reason.MALFORMED_JSON.value, Reason.RECORD_TOO_LARGE.value}


@router.get("/dead-letters")
def letters(
    request: Request,
    reason: Annotated[Reason | None, Query()] = None,
    key: Annotated[str | None, Query(max_length=1024, description="a part of the object key")] = None,
    status: Annotated[LetterStatus | None, Query()] = LetterStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    where = LetterFilter(reason, key or None, status)
    found = state_of(request).queries.letters(where, page, limit)
    context = {
        "page": "dead-letters",
        "rows": found.rows,
        "where": where,
        "limit": limit,
        "reasons": [r.value for r in Reason],
        "statuses": [s.value for s in LetterStatus],
        "links": pages(page, found.has_next, request),
    }
    return render(request, "dead_letters.html", context)


@router.get("/dead-letters/{letter_id}")
def letter(request: Request, letter_id: int) -> Response:
    found = state_of(request).queries.ledger.dead_letter(letter_id)  # NotFound -> 404
    context = {
        "page": "dead-letters",
        "letter": found,
        "lines": marked_lines(found.record, found.reasons),
        "editable": editable(found.record),
    }
    return render(request, "dead_letter.html", context)


@router.post("/dead-letters/{letter_id}/redrive")
def redrive_one(
    request: Request,
    letter_id: int,
    record: Annotated[str | None, Form(max_length=MAX_RECORD_CHARS)] = None,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Validate the letter again, as edited in the form (or as it is), and settle it."""
    state = state_of(request)
    state.guard.require(request, csrf_token)
    with state.writing() as app:
        found = app.ledger.dead_letter(letter_id)
        replacement = None if record is None else _parse_edit(record, found.reasons)
        (outcome,) = dead_letters.redrive(app.ledger, app.ledger, [letter_id], (), ACTOR, replacement)
    return done(request, f"/dead-letters/{letter_id}", _outcome(outcome))


@router.post("/dead-letters/redrive")
def redrive_many(
    request: Request,
    ids: Annotated[list[int] | None, Form(max_length=10_000)] = None,
    every: Annotated[bool, Form(description="every pending letter matching reason and key")] = False,
    reason: Annotated[Reason | None, Form()] = None,
    key: Annotated[str | None, Form(max_length=1024)] = None,
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Redrive the ticked letters, or every pending one that matches the filter."""
    state = state_of(request)
    state.guard.require(request, csrf_token)
    if every:
        chosen = state.queries.letter_ids(LetterFilter(reason, key or None))
    elif ids:
        chosen = list(dict.fromkeys(ids))
    else:
        raise HTTPException(400, "tick the dead letters to redrive, or choose every pending letter of the filter")
    with state.writing() as app:
        outcomes = dead_letters.redrive(app.ledger, app.ledger, chosen, (), ACTOR)
    stored = sum(o.status == LetterStatus.REDRIVEN for o in outcomes)
    summary = {"redriven": stored, "refused_again": len(outcomes) - stored, "letters": [_outcome(o) for o in outcomes]}
    return done(request, f"/dead-letters?redriven={stored}&refused={len(outcomes) - stored}", summary)


@router.post("/dead-letters/{letter_id}/discard")
def discard(
    request: Request,
    letter_id: int,
    why: Annotated[str, Form(min_length=1, max_length=2000)],
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    """Mark a pending letter discarded, keeping it and the reason given."""
    state = state_of(request)
    state.guard.require(request, csrf_token)
    if not why.strip():
        raise HTTPException(422, "say why the dead letter is discarded")
    with state.writing() as app:
        app.ledger.discard(letter_id, why.strip(), ACTOR)
    return done(request, f"/dead-letters/{letter_id}", {"letter_id": letter_id, "status": "discarded"})


def _parse_edit(text: str, reasons: list[str]) -> Any:
    """The edited record: JSON, or for a line that never parsed, its text (read again on redrive)."""
    try:
        record = from_json(text)
    except msgspec.DecodeError as exc:
        if UNREADABLE & set(reasons):
            return text
        raise HTTPException(400, f"the edited record is not valid JSON ({exc}); fix it and redrive again") from None
    if record is None:
        raise HTTPException(400, "the edited record is null; to drop a record, discard it with a reason")
    return record


def _outcome(outcome: dead_letters.RedriveOutcome) -> dict[str, Any]:
    return {"letter_id": outcome.letter_id, "status": outcome.status.value, "reasons": outcome.reasons}
