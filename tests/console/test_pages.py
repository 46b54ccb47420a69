"""Every page answers with what an operator looks for, and refuses bad input with a clear message."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient


def test_overview_shows_counts_per_pipeline_and_the_last_error(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert 'data-poll="/api/overview"' in page.text
    assert "the document ends before its orders array is closed" in page.text  # the truncated sample

    live = client.get("/api/overview").json()
    assert live["orders"] > 0
    assert live["dead_letters"]["pending"] > 0
    assert live["pipelines"]["orders"]["executions"] == {"failed": 1, "succeeded": 3}
    assert live["pipelines"]["batch"]["executions"] == {"succeeded": 1}
    assert live["stream"]["lag_changes"] == 0  # drained into the lake
    assert live["last_errors"][0]["error_offset"] is not None


def test_executions_filter_by_pipeline_status_and_key(client: TestClient) -> None:
    failed = client.get("/executions", params={"status": "failed"}).text
    assert "orders/orders-truncated.json" in failed
    assert "orders/hostile.json" not in failed

    by_key = client.get("/executions", params={"key": "2026-11-02"}).text
    assert "orders/orders-2026-11-02.jsonl" in by_key
    assert "orders/orders-2026-11-01.json" not in by_key

    batches = client.get("/executions", params={"pipeline": "batch"}).text
    assert "raw-data/" in batches
    assert "orders/hostile.json" not in batches


def test_executions_filter_by_start_time(client: TestClient) -> None:
    started = client.get("/api/executions/" + _any_execution_id(client)).json()["started_at"]
    day = started[:10]

    that_day = client.get("/executions", params={"since": day, "until": "9999-01-01T00:00"}).text
    assert "orders/orders-2026-11-01.json" in that_day
    before = client.get("/executions", params={"until": day}).text
    assert "orders/orders-2026-11-01.json" not in before
    after = client.get("/executions", params={"since": "9999-01-01T00:00Z"}).text
    assert "orders/orders-2026-11-01.json" not in after


def test_a_malformed_time_filter_is_refused(client: TestClient) -> None:
    assert client.get("/executions", params={"since": "yesterday"}).status_code == 422


def _any_execution_id(client: TestClient) -> str:
    page = client.get("/executions", params={"key": "orders-2026-11-01"}).text
    return page.split('href="/executions/', 1)[1].split('"', 1)[0]


def test_executions_are_paginated(client: TestClient) -> None:
    first = client.get("/executions", params={"limit": 2}).text
    assert len(re.findall(r'href="/executions/ex-', first)) == 2
    assert 'rel="next"' in first
    assert 'rel="prev"' not in first
    last = client.get("/executions", params={"limit": 2, "page": 3}).text  # 5 executions: 2, 2, 1
    assert len(re.findall(r'href="/executions/ex-', last)) == 1
    assert 'rel="prev"' in last
    assert 'rel="next"' not in last


@pytest.mark.parametrize("params", [{"status": "exploded"}, {"limit": 0}, {"limit": 501}, {"page": 0}, {"page": "two"}])
def test_bad_list_parameters_are_refused_with_the_field_named(client: TestClient, params: dict[str, str | int]) -> None:
    reply = client.get("/executions", params=params, headers={"Accept": "application/json"})
    assert reply.status_code == 422
    assert next(iter(params)) in reply.json()["detail"]


def test_a_failed_execution_shows_its_error_with_the_byte_offset(client: TestClient) -> None:
    failed_id = client.get("/api/overview").json()["last_errors"][0]["id"]
    page = client.get(f"/executions/{failed_id}").text
    assert "At byte <strong>" in page
    assert 'class="step step-failed"' in page

    api = client.get(f"/api/executions/{failed_id}").json()
    assert api["status"] == "failed"
    assert api["error_offset"] > 0


def test_a_batch_execution_draws_its_recorded_steps(client: TestClient) -> None:
    page = client.get("/executions", params={"pipeline": "batch"}).text
    (execution_id,) = re.findall(r'href="/executions/(ex-[0-9a-f]+)"', page)
    steps = client.get(f"/executions/{execution_id}").text
    names = re.findall(r'<span class="step-name">([^<]+)</span>', steps)
    assert names == ["validate", "transform", "publish", "archive", "notify", "cleanup"]
    assert steps.count('class="step step-succeeded"') == 6
    assert "raw-data/order_items/i.csv" in steps  # the batch's files


@pytest.mark.parametrize("path", ["/executions/ex-000000000000", "/api/executions/nope", "/dead-letters/999999"])
def test_unknown_ids_are_404(client: TestClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 404
    assert "no " in reply.text


def test_a_dead_letter_id_must_be_a_number(client: TestClient) -> None:
    assert client.get("/dead-letters/abc").status_code == 422


def test_dead_letters_filter_by_reason_and_file(client: TestClient) -> None:
    emails = client.get("/dead-letters", params={"reason": "invalid_email"}).text
    assert "invalid_email" in emails
    assert "malformed_json</span>" not in emails
    by_file = client.get("/dead-letters", params={"key": "2026-11-02.jsonl"}).text
    assert "orders/orders-2026-11-02.jsonl" in by_file
    assert "orders/hostile.json" not in by_file
    assert client.get("/dead-letters", params={"reason": "no_such_reason"}).status_code == 422


def test_a_dead_letter_shows_its_record_with_the_refused_field_marked(client: TestClient) -> None:
    page = client.get("/dead-letters", params={"reason": "invalid_price"}).text
    letter_id = re.search(r'href="/dead-letters/(\d+)"', page).group(1)  # type: ignore[union-attr]
    letter = client.get(f"/dead-letters/{letter_id}").text
    assert re.search(r'<span class="line refused" title="invalid_price">\s+&#34;price&#34;: &#34;-5&#34;', letter)


def test_batches_and_kpis_with_charts(client: TestClient) -> None:
    batches = client.get("/batches").text
    assert 'class="status status-succeeded"' in batches
    kpis = client.get("/kpis").text
    assert kpis.count("<svg") == 4
    assert "2026-11-01" in kpis
    assert "Toys" in kpis
    only_one_day = client.get("/kpis", params={"from": "2026-11-02", "to": "2026-11-02"}).text
    assert "<td>2026-11-01</td>" not in only_one_day
    assert client.get("/kpis", params={"from": "yesterday"}).status_code == 422


def test_the_lake_lists_partitions_and_answers_sql(client: TestClient) -> None:
    page = client.get("/lake").text
    assert '<table id="partitions">' in page
    result = client.get("/lake", params={"sql": "SELECT order_id FROM orders_current ORDER BY order_id"})
    assert result.status_code == 200
    assert '<table id="sql-result">' in result.text
    assert "<td>1</td>" in result.text


@pytest.mark.parametrize(
    "sql", ["DELETE FROM orders", "COPY orders TO '/tmp/x.csv'", "SELECT * FROM read_csv('/etc/passwd')", "SELEC 1"]
)
def test_the_sql_box_is_the_read_only_sandbox(client: TestClient, sql: str) -> None:
    reply = client.get("/lake", params={"sql": sql})
    assert reply.status_code == 400
    assert 'id="sql-error"' in reply.text
    assert "root:" not in reply.text


def test_a_query_result_downloads_as_csv(client: TestClient) -> None:
    reply = client.get("/lake/result.csv", params={"sql": "SELECT order_id, quantity FROM orders ORDER BY order_id"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/csv")
    assert "attachment" in reply.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["order_id", "quantity"]
    assert len(rows) > 2
    assert client.get("/lake/result.csv", params={"sql": "DROP TABLE orders"}).status_code == 400
    assert client.get("/lake/result.csv").status_code == 422


def test_static_assets_are_served_locally(client: TestClient) -> None:
    page = client.get("/").text
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page
    assert client.get("/static/console.js").status_code == 200
    assert client.get("/static/console.css").status_code == 200
