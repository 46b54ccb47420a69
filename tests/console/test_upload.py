"""Uploads stream into the bucket under a checked key, within the size limit, or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from salesflow.console.security import TOKEN_HEADER
from tests.console.conftest import SMALL_UPLOADS, console_client, csrf_of

ORDER = b'{"orders": [{"contact-info": {"name": "A"}, "order-info": {"order-id": "U1", "qty": 1}}]}'


def _leftovers(home: Path) -> list[str]:
    return [name for _, _, files in os.walk(home / "bucket") for name in files if name.endswith(".part")]


def test_a_form_upload_lands_in_the_bucket(browser: TestClient, home: Path) -> None:
    csrf = csrf_of(browser.get("/upload").text)
    reply = browser.post(
        "/upload", data={"csrf_token": csrf, "key": "orders/"}, files={"file": ("mine.json", ORDER, "application/json")}
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == "/upload?uploaded=orders/mine.json"
    assert (home / "bucket/orders/mine.json").read_bytes() == ORDER
    assert "orders/mine.json" in browser.get(reply.headers["location"]).text


def test_a_form_upload_may_name_its_key(browser: TestClient, home: Path) -> None:
    csrf = csrf_of(browser.get("/upload").text)
    data = {"csrf_token": csrf, "key": "raw-data/orders/late.csv"}
    reply = browser.post("/upload", data=data, files={"file": ("whatever.csv", b"order_id\n")})
    assert reply.status_code == 303
    assert (home / "bucket/raw-data/orders/late.csv").read_bytes() == b"order_id\n"


def test_put_streams_a_body_with_the_token(client: TestClient, token: str, home: Path) -> None:
    reply = client.put("/api/objects/orders/put.json", content=ORDER, headers={TOKEN_HEADER: token})
    assert reply.status_code == 200
    assert reply.json()["size"] == len(ORDER)
    assert (home / "bucket/orders/put.json").read_bytes() == ORDER


@pytest.mark.parametrize(
    "key",
    [
        "../outside.json", "orders/../../outside.json", "/etc/passwd", "orders/./x.json", "orders//x.json",
        "orders/.hidden.json", "orders/x.json.part", "elsewhere/x.json", "orders/", "orders\\..\\x.json",
        "orders/x\x00.json", "orders/x\n.json",
    ],
)  # fmt: skip
def test_keys_that_leave_the_bucket_or_its_prefixes_are_refused(
    client: TestClient, token: str, home: Path, key: str
) -> None:
    # Quoted whole, so the HTTP client sends the key as it is instead of resolving its dots.
    reply = client.put(f"/api/objects/{quote(key, safe='')}", content=b"[]", headers={TOKEN_HEADER: token})
    assert reply.status_code in (400, 404), reply.text  # 404: "orders/" names no object at all
    assert not (home / "outside.json").exists()
    assert not (home.parent / "outside.json").exists()
    assert not list((home / "bucket").rglob("x.json*"))


def test_a_form_key_with_dot_dot_is_refused_before_a_byte_is_written(browser: TestClient, home: Path) -> None:
    csrf = csrf_of(browser.get("/upload").text)
    data = {"csrf_token": csrf, "key": "orders/../../escape.json"}
    reply = browser.post("/upload", data=data, files={"file": ("x.json", ORDER)})
    assert reply.status_code == 400
    assert "refused" in reply.text
    assert not list(home.parent.rglob("escape.json"))


def test_a_symlink_out_of_the_bucket_is_refused(client: TestClient, token: str, home: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (home / "bucket/orders/link").symlink_to(outside)
    reply = client.put("/api/objects/orders/link/x.json", content=ORDER, headers={TOKEN_HEADER: token})
    assert reply.status_code == 400
    assert not list(outside.iterdir())


def test_an_oversized_upload_is_413_and_leaves_nothing(home: Path) -> None:
    big = b"x" * ((1 << 20) + 10)
    with console_client(home, SMALL_UPLOADS) as client:
        token = (home / "console.token").read_text().strip()
        headers = {TOKEN_HEADER: token}
        declared = client.put("/api/objects/orders/big.json", content=big, headers=headers)
        assert declared.status_code == 413

        def chunks() -> object:  # no Content-Length: the limit is found while streaming
            for start in range(0, len(big), 64 << 10):
                yield big[start : start + (64 << 10)]

        streamed = client.put("/api/objects/orders/big.json", content=chunks(), headers=headers)  # type: ignore[arg-type]
        assert streamed.status_code == 413
        assert "max_upload_mb" in streamed.json()["detail"]
        form = client.post("/upload", data={"key": "orders/"}, files={"file": ("big.json", big)}, headers=headers)
        assert form.status_code == 413
    assert not (home / "bucket/orders/big.json").exists()
    assert _leftovers(home) == []


def test_a_form_without_a_file_or_not_multipart_is_400(client: TestClient, token: str) -> None:
    headers = {TOKEN_HEADER: token}
    assert (
        client.post("/upload", data={"key": "orders/"}, files={"other": ("", b"")}, headers=headers).status_code == 400
    )
    plain = client.post("/upload", content=b"key=orders/", headers={**headers, "Content-Type": "text/plain"})
    assert plain.status_code == 400
    assert "multipart/form-data" in plain.json()["detail"]
