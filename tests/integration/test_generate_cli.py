"""`salesflow generate` end to end on a home in tmp_path, in real (short) time.

Counts are asserted, never timings: N per second for D seconds is N x D
writes, whatever the machine's speed.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from salesflow.runtime.runner import exclusive_home
from tests.integration.conftest import cli, home_state, write_config

MIXED = ("--updates", "0.3", "--deletes", "0.2", "--invalid", "0.2")


def generate(home: Path, *args: str) -> dict[str, Any]:
    result = cli(home, "generate", "--json", *args)
    assert result.code == 0, result.stderr
    summary: dict[str, Any] = result.json()
    return summary


def query(home: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{home / 'salesflow.db'}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def test_table_mode_writes_rate_times_duration_as_inserts_updates_deletes_and_dead_letters(tmp_path: Path) -> None:
    summary = generate(tmp_path, "--rate", "100", "--duration", "0.3s", "--seed", "5", *MIXED)
    assert summary["written"] == 30
    assert min(summary["inserted"], summary["updated"], summary["deleted"], summary["invalid"]) > 0

    events = dict(query(tmp_path, "SELECT event_type, count(*) FROM changes GROUP BY 1"))
    assert events == {"INSERT": summary["inserted"], "MODIFY": summary["updated"], "REMOVE": summary["deleted"]}
    letters = query(tmp_path, "SELECT key, reasons FROM dead_letters")
    assert len(letters) == summary["invalid"]
    assert all(key == summary["key"] and reasons != "[]" for key, reasons in letters)
    [(pipeline, status, records)] = query(tmp_path, "SELECT pipeline, status, records FROM executions")
    assert (pipeline, status, records) == ("generate", "succeeded", summary["written"] - summary["deleted"])


def test_the_same_seed_writes_the_same_orders(tmp_path: Path) -> None:
    for home in (tmp_path / "a", tmp_path / "b"):
        generate(home, "--rate", "100", "--duration", "0.2", "--seed", "11", *MIXED)
    first, second = home_state(tmp_path / "a"), home_state(tmp_path / "b")
    assert first.orders
    # The same records at the same positions; only the execution's key (its start time) differs.
    assert _without_key(first.orders) == _without_key(second.orders)
    assert [letter[1:] for letter in first.dead_letters] == [letter[1:] for letter in second.dead_letters]


def _without_key(orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{name: value for name, value in order.items() if name != "source_key"} for order in orders]


def test_bucket_mode_writes_files_that_run_once_ingests(tmp_path: Path) -> None:
    write_config(tmp_path)  # settle_seconds = 0: generated files are whole when put
    summary = generate(
        tmp_path, "--to", "bucket", "--rate", "100", "--duration", "0.3", "--seed", "8", "--updates", "0.3",
        "--invalid", "0.2",
    )  # fmt: skip
    assert (summary["written"], summary["files"]) == (30, 1)
    assert sorted(p.name for p in (tmp_path / "bucket/orders").iterdir())[0].startswith("generated-")
    assert query(tmp_path, "SELECT count(*) FROM changes") == [(0,)]  # nothing until the watcher runs

    assert cli(tmp_path, "run", "--once").code == 0
    events = dict(query(tmp_path, "SELECT event_type, count(*) FROM changes GROUP BY 1"))
    assert events == {"INSERT": summary["inserted"], "MODIFY": summary["updated"]}
    assert query(tmp_path, "SELECT count(*) FROM dead_letters") == [(summary["invalid"],)]


def test_table_mode_works_while_salesflow_run_holds_the_home(tmp_path: Path) -> None:
    with exclusive_home(tmp_path):
        summary = generate(tmp_path, "--rate", "50", "--duration", "0.2", "--seed", "1")
    assert query(tmp_path, "SELECT count(*) FROM orders") == [(summary["inserted"],)] == [(10,)]


def test_the_summary_line_says_what_was_written_and_the_seed(tmp_path: Path) -> None:
    result = cli(tmp_path, "generate", "--rate", "50", "--duration", "0.1", "--seed", "77")
    assert result.code == 0
    assert result.stdout == ""
    assert "5 writes" in result.stderr
    assert "5 inserted" in result.stderr
    assert "seed 77" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--rate", "0"), "more than 0 orders per second"),
        (("--deletes", "0.1", "--to", "bucket"), "--to table only"),
        (("--updates", "1.2"), "from 0 to 1"),
        (("--invalid", "-0.5"), "from 0 to 1"),
        (("--updates", "0.5", "--deletes", "0.4", "--invalid", "0.2"), "at most 1"),
        (("--duration", "soon"), "not a duration"),
    ],
)
def test_bad_options_exit_2_with_what_to_fix(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = cli(tmp_path, "generate", *args)
    assert result.code == 2
    assert message in result.stderr
    assert not (tmp_path / "salesflow.db").exists() or query(tmp_path, "SELECT count(*) FROM executions") == [(0,)]


def test_help_explains_the_fractions_and_gives_examples(tmp_path: Path) -> None:
    result = cli(tmp_path, "generate", "--help")
    assert result.code == 0
    for words in ("--updates", "MODIFY", "REMOVE", "dead-letter queue", "Table only", "Examples:", "--seed"):
        assert words in result.stdout
