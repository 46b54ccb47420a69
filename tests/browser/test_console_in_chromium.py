"""The console in headless Chromium (Debian's package), served by uvicorn on 127.0.0.1.

They need Debian's chromium (`make test` installs it when it can, and stops with
the command to run when it cannot).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright import sync_api

from salesflow.console import serve
from salesflow.runtime.bootstrap import build_app
from salesflow.runtime.runner import Runner
from salesflow.runtime.settings import load_settings
from tests.console.conftest import HOSTILE_ITEM

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def console_url(home: Path) -> Iterator[str]:
    stop = threading.Event()
    port = _free_port()
    thread = threading.Thread(target=serve, args=(load_settings(home), "127.0.0.1", port, stop), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield url
    stop.set()
    thread.join(timeout=20)


@pytest.fixture
def dialogs() -> list[str]:
    return []


@pytest.fixture
def page(console_url: str, dialogs: list[str]) -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail("the browser tests need Debian's chromium: apt-get install -y chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            tab = browser.new_page(base_url=console_url)
            # An alert() would land here (and be dismissed, so a failing test fails rather than hangs).
            tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            yield tab
        finally:
            browser.close()


def _log_in(page: Page, home: Path) -> None:
    page.goto("/login")
    page.fill("input[name=token]", (home / "console.token").read_text().strip())
    page.click("button[type=submit]")


def test_upload_a_file_and_watch_its_execution_finish(page: Page, home: Path) -> None:
    _log_in(page, home)
    source = home.parent / "browser-upload.json"
    order = {"contact-info": {"name": "Ada", "email": "ada@example.com"}, "order-info": {"order-id": "B1", "qty": 2}}
    source.write_text(json.dumps({"orders": [order]}))
    page.goto("/upload")
    page.set_input_files("input[name=file]", str(source))
    page.click("#upload-form button[type=submit]")
    assert "orders/browser-upload.json" in page.inner_text("#uploaded")

    app = build_app(load_settings(home))  # what `salesflow run` does when it sees the object
    try:
        Runner(app).run_once()
    finally:
        app.close()
    page.click("#uploaded a")
    page.click("#executions a")
    assert page.inner_text("#execution-status") == "succeeded"


def test_a_file_dropped_on_the_upload_form_lands_in_the_bucket(page: Page, home: Path) -> None:
    _log_in(page, home)
    page.goto("/upload")
    order = {"contact-info": {"name": "Ada", "email": "ada@example.com"}, "order-info": {"order-id": "D1", "qty": 1}}
    dropped = page.evaluate_handle(
        """(text) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], "dropped.json", {type: "application/json"}));
            return transfer;
        }""",
        json.dumps({"orders": [order]}),
    )
    page.dispatch_event("#upload-form", "drop", {"dataTransfer": dropped})
    page.wait_for_selector("#uploaded")
    assert "orders/dropped.json" in page.inner_text("#uploaded")
    assert json.loads((home / "bucket" / "orders" / "dropped.json").read_text()) == {"orders": [order]}


def test_fix_and_redrive_a_dead_letter_then_find_it_in_orders(page: Page, home: Path) -> None:
    _log_in(page, home)
    page.goto("/dead-letters?reason=invalid_email&key=2026-11-02")
    page.click("#dead-letters tbody tr a")
    record = json.loads(page.input_value("textarea[name=record]"))
    record["contact-info"]["email"] = "fixed@example.com"
    page.fill("textarea[name=record]", json.dumps(record))
    page.click("#redrive-form button[type=submit]")
    assert page.inner_text("#letter-status") == "redriven"
    assert "console" in page.inner_text("#history")

    page.goto("/lake")
    query = "SELECT customer_email FROM orders WHERE customer_email = 'fixed@example.com'"
    page.fill("textarea[name=sql]", query)
    page.click("#sql-form button[type=submit]")
    assert "fixed@example.com" in page.inner_text("#sql-result")


def test_a_hostile_record_does_not_run_script(page: Page, dialogs: list[str]) -> None:
    page.goto("/dead-letters?key=hostile.json")
    page.click("#dead-letters tbody tr a")
    assert HOSTILE_ITEM in page.inner_text("#record")
    assert page.locator("#record img").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []


def test_kpi_charts_render_and_the_overview_updates_live(page: Page) -> None:
    page.goto("/kpis")
    assert page.locator("svg.chart").count() == 4
    assert page.locator("svg.chart polyline").count() >= 4
    page.goto("/")
    # Through Playwright's own matcher: a predicate given as a string is evaluated in the page,
    # and when its first check fails the console's CSP (no 'unsafe-eval') refuses the retries.
    sync_api.expect(page.locator("[data-updated]")).not_to_have_text("at page load", timeout=30_000)


def test_a_state_change_without_the_token_is_refused(page: Page) -> None:
    reply = page.request.post("/dead-letters/1/discard", form={"why": "no token"})
    assert reply.status == 401
