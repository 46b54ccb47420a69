"""Logging in with the console token (sets the session cookie) and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from salesflow.console.security import TOKEN_FILE, clear_session_cookie, safe_next, set_session_cookie
from salesflow.console.web import render, state_of

router = APIRouter()


@router.get("/login")
def login_page(request: Request, next: Annotated[str, Query(max_length=2048)] = "/") -> Response:
    return render(request, "login.html", {"page": "login", "next": safe_next(next), "token_file": TOKEN_FILE})


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)],
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    """Check the token once; the browser then holds a signed session cookie (HttpOnly, SameSite=Strict)."""
    guard = state_of(request).guard
    if not guard.token_matches(token.strip()):
        context = {"page": "login", "next": safe_next(next), "token_file": TOKEN_FILE, "wrong": True}
        return render(request, "login.html", context, status_code=403)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, guard.new_session())
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/", status_code=303)
    clear_session_cookie(response)
    return response
