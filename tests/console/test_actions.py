"""Fixing, redriving and discarding dead letters from the console: the CLI's rules, recorded."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from salesflow.console.security import TOKEN_HEADER
from tests.console.conftest import csrf_of, letter_id_with


def _fixed(record_text: str) -> str:
    record = json.loads(record_text)
    record["contact-info"]["email"] = "barbara@example.com"
    return json.dumps(record)


def test_edit_and_redrive_stores_the_order_and_records_who_did_it(browser: TestClient) -> None:
    letter_id = letter_id_with(browser, "invalid_email")
    page = browser.get(f"/dead-letters/{letter_id}").text
    original = re.search(r'<textarea name="record"[^>]*>(.*?)</textarea>', page, re.S).group(1)  # type: ignore[union-attr]
    original = original.replace("&#34;", '"').replace("&amp;", "&")
    reply = browser.post(
        f"/dead-letters/{letter_id}/redrive", data={"record": _fixed(original), "csrf_token": csrf_of(page)}
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/dead-letters/{letter_id}"

    after = browser.get(f"/dead-letters/{letter_id}").text
    assert 'class="status status-redriven"' in after
    assert "<td>console</td><td>redrive</td>" in after
    assert "barbara@example.com" in after  # the change is in the history
    rows = browser.get("/lake/result.csv", params={"sql": "SELECT customer_email FROM orders"}).text
    assert "barbara@example.com" in rows


def test_a_redrive_that_is_still_invalid_stays_pending_with_its_new_reasons(client: TestClient, token: str) -> None:
    letter_id = letter_id_with(client, "invalid_email")
    bad = {"contact-info": {"name": "x", "email": "x@example.com"}, "order-info": {"order-id": "9", "qty": 0}}
    reply = client.post(
        f"/dead-letters/{letter_id}/redrive", data={"record": json.dumps(bad)}, headers={TOKEN_HEADER: token}
    )
    assert reply.status_code == 200
    assert reply.json() == {"letter_id": letter_id, "status": "pending", "reasons": ["invalid_quantity"]}


def test_an_edit_that_is_not_json_is_400_and_changes_nothing(client: TestClient, token: str) -> None:
    letter_id = letter_id_with(client, "invalid_email")
    reply = client.post(
        f"/dead-letters/{letter_id}/redrive", data={"record": "{not json"}, headers={TOKEN_HEADER: token}
    )
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["detail"]
    null = client.post(f"/dead-letters/{letter_id}/redrive", data={"record": "null"}, headers={TOKEN_HEADER: token})
    assert null.status_code == 400
    assert "No" + "thing done to it yet" in client.get(f"/dead-letters/{letter_id}").text


def test_a_letter_is_redriven_once(client: TestClient, token: str) -> None:
    letter_id = letter_id_with(client, "invalid_email")
    fixed = {"contact-info": {"name": "x", "email": "x@example.com"}, "order-info": {"order-id": "77", "qty": 1}}
    headers = {TOKEN_HEADER: token}
    first = client.post(f"/dead-letters/{letter_id}/redrive", data={"record": json.dumps(fixed)}, headers=headers)
    assert first.json()["status"] == "redriven"
    again = client.post(f"/dead-letters/{letter_id}/redrive", headers=headers)
    assert again.status_code == 409
    assert "only pending ones" in again.json()["detail"]


def test_redriving_an_unknown_letter_is_404(client: TestClient, token: str) -> None:
    assert client.post("/dead-letters/999999/redrive", headers={TOKEN_HEADER: token}).status_code == 404
    assert (
        client.post("/dead-letters/999999/discard", data={"why": "x"}, headers={TOKEN_HEADER: token}).status_code == 404
    )


def test_discard_needs_a_reason_and_keeps_it(browser: TestClient) -> None:
    letter_id = letter_id_with(browser, "missing_contact_info")
    csrf = csrf_of(browser.get(f"/dead-letters/{letter_id}").text)
    missing = browser.post(f"/dead-letters/{letter_id}/discard", data={"csrf_token": csrf})
    assert missing.status_code == 422
    assert "why" in missing.text
    blank = browser.post(f"/dead-letters/{letter_id}/discard", data={"csrf_token": csrf, "why": "   "})
    assert blank.status_code == 422
    done = browser.post(f"/dead-letters/{letter_id}/discard", data={"csrf_token": csrf, "why": "a test order"})
    assert done.status_code == 303
    page = browser.get(f"/dead-letters/{letter_id}").text
    assert 'class="status status-discarded"' in page
    assert "a test order" in page
    assert "<td>console</td><td>discard</td>" in page


def test_redrive_a_selection_and_every_letter_of_a_filter(browser: TestClient) -> None:
    listing = browser.get("/dead-letters").text
    ids = re.findall(r'name="ids" value="(\d+)"', listing)
    assert len(ids) >= 3
    csrf = csrf_of(listing)
    picked = browser.post("/dead-letters/redrive", data={"ids": ids[:2], "csrf_token": csrf})
    assert picked.status_code == 303
    assert "refused=2" in picked.headers["location"]  # unchanged records are refused again
    every = browser.post("/dead-letters/redrive", data={"every": "true", "reason": "invalid_price", "csrf_token": csrf})
    assert every.status_code == 303
    history = browser.get(f"/dead-letters/{ids[0]}").text
    assert "<td>console</td><td>redrive</td>" in history
    nothing = browser.post("/dead-letters/redrive", data={"csrf_token": csrf})
    assert nothing.status_code == 400


def test_compacting_the_lake_needs_the_token_and_reports_what_it_did(client: TestClient, token: str) -> None:
    reply = client.post("/lake/compact", data={"every_hour": "true"}, headers={TOKEN_HEADER: token})
    assert reply.status_code == 200
    assert set(reply.json()) == {"compacted", "vacuumed_files"}
