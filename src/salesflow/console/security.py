"""Who may change state, and the headers that keep a browser honest.

Reading is open (the console binds to 127.0.0.1 by default); every request that
changes state needs the console token:

- API clients send it as the ``X-Salesflow-Token`` header. A browser cannot add
  that header to a cross-site request, so no CSRF token is needed with it.
- People log in once with the token; the console sets an HttpOnly,
  SameSite=Strict cookie holding a random session id signed with the token.
  Every form then carries a CSRF token bound to that session (an HMAC of the
  session id), checked on submit.

The token lives in ``DIR/console.token`` (mode 0600) and is reused across
restarts; deleting the file logs everyone out at the next start.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from starlette.responses import Response

log = logging.getLogger(__name__)

TOKEN_FILE = "console.token"
TOKEN_HEADER = "X-Salesflow-Token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "salesflow_session"

# No inline script or style at all: the console's own JS and CSS come from /static.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def load_or_create_token(home: Path) -> str:
    """The token of DIR/console.token, made (0600, owner only) when there is none."""
    path = home / TOKEN_FILE
    home.mkdir(parents=True, exist_ok=True)
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token:
        if path.stat().st_mode & 0o077:
            log.warning("%s was readable by others; made it 0600", path)
            path.chmod(0o600)
        return token
    token = secrets.token_urlsafe(32)
    try:
        # O_EXCL: two consoles starting at once must not each write their own token.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_token(home)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


@dataclass(frozen=True, slots=True)
class Guard:
    """Checks the token, signs sessions and derives their CSRF tokens."""

    token: str

    def new_session(self) -> str:
        """A cookie value: a random session id and its signature."""
        session_id = secrets.token_urlsafe(16)
        return f"{session_id}.{self._sign('session', session_id)}"

    def session_of(self, request: Request) -> str | None:
        """The session id of a valid cookie, else None (a cookie signed with an older token is not valid)."""
        session_id, _, signature = request.cookies.get(SESSION_COOKIE, "").partition(".")
        if session_id and hmac.compare_digest(signature, self._sign("session", session_id)):
            return session_id
        return None

    def csrf_for(self, request: Request) -> str | None:
        """The CSRF token forms of this session must carry, or None when not logged in."""
        session_id = self.session_of(request)
        return None if session_id is None else self._sign("csrf", session_id)

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token.encode())

    def require(self, request: Request, csrf: str | None = None) -> None:
        """Let a state-changing request through, or raise 401 (no credentials) / 403 (wrong ones)."""
        header = request.headers.get(TOKEN_HEADER)
        if header is not None:
            if not self.token_matches(header):
                raise HTTPException(403, f"wrong {TOKEN_HEADER}; the token is in DIR/{TOKEN_FILE}")
            return
        session_id = self.session_of(request)
        if session_id is None:
            raise HTTPException(
                401, f"this changes state: log in at /login, or send the {TOKEN_HEADER} header (DIR/{TOKEN_FILE})"
            )
        given = csrf if csrf is not None else request.headers.get(CSRF_HEADER)
        if not given or not hmac.compare_digest(given, self._sign("csrf", session_id)):
            raise HTTPException(403, "the form's CSRF token is missing or stale; reload the page and try again")

    def _sign(self, purpose: str, value: str) -> str:
        mac = hmac.new(self.token.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:43]


def set_session_cookie(response: Response, value: str) -> None:
    response.set_cookie(SESSION_COOKIE, value, httponly=True, samesite="strict", path="/")


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """ASGI middleware adding the CSP and friends to every HTTP response (pure ASGI, so
    request bodies still stream to the upload route untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in _OURS]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


_OURS = {name for name, _ in SECURITY_HEADERS}


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in; anything else (other hosts, ``//evil``) goes home."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
