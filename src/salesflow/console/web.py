"""Helpers every route module uses: the shared state, page rendering, replies to actions."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from salesflow.console.security import TOKEN_HEADER
from salesflow.console.state import ConsoleState


def state_of(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """A page from templates/, with autoescaping on (record contents are never trusted)."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def wants_json(request: Request) -> bool:
    """API clients (token header, /api/ paths, JSON accepted but not HTML) get JSON back."""
    if TOKEN_HEADER in request.headers or request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def done(request: Request, to: str, outcome: dict[str, Any]) -> Response:
    """The reply to a successful action: JSON for API clients, else back to a page (303,
    so a reload does not post the form again)."""
    if wants_json(request):
        return JSONResponse(outcome)
    return RedirectResponse(to, status_code=303)


def pages(number: int, has_next: bool, request: Request) -> dict[str, str | None]:
    """Links to the previous and next page, keeping the other query parameters."""

    def link(to: int) -> str:
        url = request.url.include_query_params(page=to)
        return f"{url.path}?{url.query}"

    return {"prev": link(number - 1) if number > 1 else None, "next": link(number + 1) if has_next else None}
