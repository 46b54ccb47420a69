"""/metrics, /healthz, /readyz, and the server started and stopped by serve()."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from salesflow.console import serve
from salesflow.domain.errors import TransientError
from salesflow.retry import RetryPolicy
from salesflow.runtime.settings import load_settings


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_count_what_the_pipelines_did(client: TestClient) -> None:
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    samples = _samples(reply.text)
    assert samples[("salesflow_executions", (("pipeline", "orders"), ("status", "failed")))] == 1
    assert samples[("salesflow_records_stored_total", (("pipeline", "batch"),))] > 0
    assert samples[("salesflow_records_refused_total", (("pipeline", "orders"), ("reason", "invalid_email")))] >= 1
    assert samples[("salesflow_dlq_depth", ())] == samples[("salesflow_dead_letters", (("status", "pending"),))]
    assert samples[("salesflow_stream_lag_changes", ())] == 0
    count = samples[("salesflow_step_duration_seconds_count", (("step", "publish"),))]
    assert count == 1


def test_metrics_count_the_retries_of_this_process(client: TestClient) -> None:
    key = ("salesflow_retries_total", (("error", "TransientError"),))
    before = _samples(client.get("/metrics").text).get(key, 0)
    failures = iter([TransientError("busy"), TransientError("busy")])

    def flaky() -> str:
        error = next(failures, None)
        if error is not None:
            raise error
        return "done"

    assert RetryPolicy(retries=3, base=0, cap=0).call(flaky) == "done"

    assert _samples(client.get("/metrics").text)[key] == before + 2


def test_health_and_readiness(client: TestClient, home: Path) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    shutil.rmtree(home / "bucket")
    reply = client.get("/readyz")
    assert reply.status_code == 503
    assert "bucket" in reply.json()["problems"][0]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_answers_until_stop_is_set(home: Path) -> None:
    stop = threading.Event()
    port = _free_port()
    server = threading.Thread(target=serve, args=(load_settings(home), "127.0.0.1", port, stop))
    server.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                    assert reply.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        stop.set()
        server.join(timeout=20)
    assert not server.is_alive()


def test_serve_warns_loudly_off_loopback(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    stop.set()  # start and stop at once: only the warning matters here
    serve(load_settings(home), "0.0.0.0", _free_port(), stop)
    assert "WARNING: the console listens on 0.0.0.0" in capsys.readouterr().err
