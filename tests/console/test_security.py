"""State changes need the token; pages carry a strict CSP; records never become markup."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from salesflow.console.app import is_loopback
from salesflow.console.security import CONTENT_SECURITY_POLICY, TOKEN_HEADER, safe_next
from tests.console.conftest import HOSTILE_ITEM, HOSTILE_NAME, console_client, csrf_of

STATE_CHANGES = [
    ("/dead-letters/1/redrive", {}),
    ("/dead-letters/1/discard", {"why": "test"}),
    ("/dead-letters/redrive", {"ids": "1"}),
    ("/lake/compact", {}),
]


def test_the_token_file_is_private_and_reused(home: Path) -> None:
    with console_client(home):
        path = home / "console.token"
        first = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert len(first) >= 40
    with console_client(home):
        assert path.read_text().strip() == first


@pytest.mark.parametrize(("path", "form"), STATE_CHANGES)
def test_a_state_change_without_the_token_is_401(client: TestClient, path: str, form: dict[str, str]) -> None:
    reply = client.post(path, data=form, headers={"Accept": "application/json"})
    assert reply.status_code == 401
    assert "log in" in reply.json()["detail"]


@pytest.mark.parametrize(("path", "form"), STATE_CHANGES)
def test_a_wrong_token_is_403(client: TestClient, path: str, form: dict[str, str]) -> None:
    reply = client.post(path, data=form, headers={TOKEN_HEADER: "guess"})
    assert reply.status_code == 403


def test_uploads_need_the_token_too(client: TestClient, home: Path) -> None:
    assert client.put("/api/objects/orders/x.json", content=b"[]").status_code == 401
    files = {"file": ("x.json", b"[]")}
    assert client.post("/upload", data={"key": "orders/"}, files=files).status_code == 401
    assert not (home / "bucket/orders/x.json").exists()


@pytest.mark.parametrize(("path", "form"), STATE_CHANGES)
def test_a_logged_in_form_without_its_csrf_token_is_403(browser: TestClient, path: str, form: dict[str, str]) -> None:
    assert browser.post(path, data=form).status_code == 403
    assert browser.post(path, data={**form, "csrf_token": "forged"}).status_code == 403


def test_a_csrf_token_belongs_to_its_session(browser: TestClient, client: TestClient, home: Path) -> None:
    stolen = csrf_of(browser.get("/dead-letters/1").text)
    with console_client(home) as other:
        other.post("/login", data={"token": (home / "console.token").read_text().strip()})
        reply = other.post("/dead-letters/1/discard", data={"why": "x", "csrf_token": stolen})
    assert reply.status_code == 403


def test_login_sets_a_strict_httponly_cookie(client: TestClient, token: str) -> None:
    wrong = client.post("/login", data={"token": "nope"})
    assert wrong.status_code == 403
    assert "salesflow_session" not in wrong.headers.get("set-cookie", "")
    reply = client.post("/login", data={"token": token, "next": "//evil.example/"})
    assert reply.status_code == 303
    assert reply.headers["location"] == "/"
    cookie = reply.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_logging_out_forgets_the_session(browser: TestClient) -> None:
    assert "csrf_token" in browser.get("/dead-letters/1").text
    browser.post("/logout")
    assert "csrf_token" not in browser.get("/dead-letters/1").text


def test_a_cookie_signed_with_an_old_token_is_not_a_session(home: Path, token: str, browser: TestClient) -> None:
    (home / "console.token").unlink()
    with console_client(home) as fresh:  # a new token is made
        fresh.cookies.update(browser.cookies)
        assert "csrf_token" not in fresh.get("/dead-letters/1").text


def test_every_page_has_a_strict_content_security_policy(client: TestClient) -> None:
    for path in ("/", "/executions", "/dead-letters/1", "/lake", "/static/console.js", "/nope", "/metrics"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_pages_hold_no_inline_script(client: TestClient) -> None:
    for path in ("/", "/executions", "/dead-letters", "/dead-letters/1", "/kpis", "/lake", "/upload", "/login"):
        html = client.get(path).text
        assert re.findall(r"<script(?![^>]*\bsrc=)", html) == [], path
        assert " on" + "load=" not in html
        assert "style=" not in html


def test_hostile_record_contents_show_as_text(browser: TestClient) -> None:
    hostile_id = _hostile_letter(browser)
    pages = [
        browser.get("/dead-letters").text,
        browser.get(f"/dead-letters/{hostile_id}").text,
        browser.get("/lake", params={"sql": "SELECT record FROM dead_letters"}).text,
    ]
    for html in pages:
        assert HOSTILE_NAME not in html
        assert HOSTILE_ITEM not in html
        assert "&lt;script&gt;" in html or "&lt;img" in html
    letter_page = pages[1]
    assert "&lt;img src=x onerror=alert(1)&gt;" in letter_page  # shown, and in the edit box, as text


def _hostile_letter(client: TestClient) -> int:
    page = client.get("/dead-letters", params={"key": "hostile.json"}).text
    return int(re.search(r'href="/dead-letters/(\d+)"', page).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
     ("192.168.1.4", False), ("example.com", False)],
)  # fmt: skip
def test_only_loopback_hosts_count_as_local(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("target", "safe"),
    [("/dead-letters/3", "/dead-letters/3"), ("//evil.example", "/"), ("https://evil.example", "/"), ("/\\evil", "/")],
)
def test_login_only_returns_to_local_pages(target: str, safe: str) -> None:
    assert safe_next(target) == safe
