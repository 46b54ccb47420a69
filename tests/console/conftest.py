"""A home with data made by the real pipelines, and a console over it.

The home is built once per session (sample order files, one batch of CSV files,
the stream drained into the lake, a dead letter holding markup) and copied for
each test, so tests that redrive or upload never see each other's changes.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from salesflow.console import ConsoleSettings, create_app
from salesflow.runtime.bootstrap import App, build_app
from salesflow.runtime.runner import Runner
from salesflow.runtime.settings import load_settings
from salesflow.runtime.stream import build_stream

SAMPLES = ("orders-2026-11-01.json", "orders-2026-11-02.jsonl", "orders-truncated.json")
HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_ITEM = "<img src=x onerror=alert(1)>"
PRODUCTS = "id,category,retail_price,name\nP1,Toys,10.00,car\nP2,Books,5.5,book\n"
ORDERS = "order_id,customer_id,order_date,status\nO1,U1,2026-11-01T10:00:00Z,Complete\nO2,U2,2026-11-02,Returned\n"
ITEMS = "id,order_id,product_id,price,quantity\nI1,O1,P1,10.00,2\nI2,O1,P2,5.50,1\nI3,O2,P1,10,1\n"
SMALL_UPLOADS = ConsoleSettings(max_upload_mb=1)


def _put(app: App, key: str, data: bytes) -> None:
    app.store.put(key, io.BytesIO(data))


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("console") / "home"
    settings = load_settings(home)
    app = build_app(settings)
    try:
        for name in SAMPLES:
            _put(app, f"orders/{name}", resources.files("salesflow.samples").joinpath("orders", name).read_bytes())
        hostile = {
            "contact-info": {"name": HOSTILE_NAME, "email": "not-an-email"},
            "order-info": {"order-id": "X1", "item-id": "1", "item-desc": HOSTILE_ITEM, "qty": 1},
        }
        _put(app, "orders/hostile.json", json.dumps({"orders": [hostile]}).encode())
        _put(app, "raw-data/products.csv", PRODUCTS.encode())
        _put(app, "raw-data/orders/o.csv", ORDERS.encode())
        _put(app, "raw-data/order_items/i.csv", ITEMS.encode())
        Runner(app).run_once()
    finally:
        app.close()
    stream = build_stream(settings)
    try:
        stream.drain()
    finally:
        stream.close()
    return home


@pytest.fixture
def home(built_home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(built_home, copy)
    (copy / "console.token").unlink(missing_ok=True)
    return copy


def console_client(home: Path, console: ConsoleSettings | None = None) -> TestClient:
    return TestClient(create_app(load_settings(home), console), follow_redirects=False)


@pytest.fixture
def client(home: Path) -> Iterator[TestClient]:
    with console_client(home) as opened:
        yield opened


@pytest.fixture
def token(home: Path, client: TestClient) -> str:
    return (home / "console.token").read_text().strip()


@pytest.fixture
def browser(client: TestClient, token: str) -> TestClient:
    """The client logged in through the form, as a person would be (a session cookie)."""
    reply = client.post("/login", data={"token": token, "next": "/"})
    assert reply.status_code == 303
    return client


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def letter_id_with(client: TestClient, reason: str) -> int:
    """The id of the first pending dead letter with this reason."""
    page = client.get("/dead-letters", params={"reason": reason}).text
    found = re.search(r'href="/dead-letters/(\d+)"', page)
    assert found, f"no dead letter with {reason}"
    return int(found.group(1))
