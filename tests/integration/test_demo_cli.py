"""The quick start: `salesflow run --demo --once` on an empty home."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from salesflow.cli.main import app


def invoke(home: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    return result.exit_code, result.stdout


def test_demo_processes_samples_and_quarantines_the_broken_one(tmp_path: Path) -> None:
    code, _ = invoke(tmp_path, "run", "--demo", "--once")
    assert code == 1  # the truncated sample fails, so --once reports a failure

    _, out = invoke(tmp_path, "executions", "--json")
    executions = {e["key"]: e for e in json.loads(out)}
    assert executions["orders/orders-2026-11-01.json"]["status"] == "succeeded"
    assert executions["orders/orders-2026-11-01.json"]["stored"] == 3
    assert executions["orders/orders-truncated.json"]["status"] == "failed"
    assert (tmp_path / "bucket/quarantine/orders/orders-truncated.json.reason.json").is_file()

    _, out = invoke(tmp_path, "dlq", "list", "--reason", "malformed_json", "--json")
    letters = json.loads(out)
    assert [(letter["key"], letter["position"]) for letter in letters] == [("orders/orders-2026-11-02.jsonl", 4)]
