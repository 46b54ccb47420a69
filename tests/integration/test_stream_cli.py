"""`salesflow stream status`, `salesflow lake compact` and `salesflow lake partitions` on a home
in tmp_path, through the Typer app. `run --once` brings the lake up to date before it returns."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.integration.conftest import cli
from tests.integration.test_stream import Home, commit_times, home

__all__ = ["commit_times", "home"]  # the stream tests' fixtures, used here as they are

OLD_HOUR = "2026-01-02T03:{:02d}:00.000Z"


def fill(home: Home, commit_times: list[str]) -> None:
    """Three files in a closed hour (2026-01-02 03h) and two in the current hour: one
    `run --once` after each write."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    for n, at in enumerate([OLD_HOUR.format(1), OLD_HOUR.format(2), OLD_HOUR.format(3), now, now]):
        commit_times[:] = [at]
        home.put((f"o{n}", n + 1, n))
        assert cli(home.path, "run", "--once").code == 0


def committed_ago(hours: int) -> str:
    """A commit time as the ledger writes it, so many hours before now."""
    return f"{datetime.now(UTC) - timedelta(hours=hours):%Y-%m-%dT%H:%M:%S.000Z}"


def partitions(home: Home) -> dict[tuple[str, str], int]:
    result = cli(home.path, "lake", "partitions", "--json")
    assert result.code == 0, result.stderr
    return {(p["dt"], p["hour"]): p["files"] for p in result.json()}


def test_stream_status_before_and_after_run_once(home: Home, commit_times: list[str]) -> None:
    commit_times[:] = [committed_ago(hours=2)]
    home.put(("a", 1, 0), ("b", 2, 1))
    commit_times[:] = [committed_ago(hours=0)]
    home.delete("a")

    before = cli(home.path, "stream", "status", "--json")
    assert before.code == 0, before.stderr
    state = before.json()
    assert (state["written_through"], state["newest_change"], state["lag_changes"]) == (0, 3, 3)
    assert 7200 <= state["lag_seconds"] < 7200 + 60  # the age of the oldest change not in the lake
    assert state["partitions"] == []
    assert state["errors"] == 0

    assert cli(home.path, "run", "--once").code == 0

    after = cli(home.path, "stream", "status", "--json").json()
    assert (after["written_through"], after["newest_change"], after["lag_changes"], after["lag_seconds"]) == (
        3,
        3,
        0,
        0.0,
    )
    committed = home.rows("SELECT DISTINCT committed_at FROM commits ORDER BY 1")
    assert [(p["dt"], p["hour"]) for p in after["partitions"]] == [(at[:10], at[11:13]) for (at,) in committed]
    assert [p["files"] for p in after["partitions"]] == [1, 1]
    assert all(p["bytes"] > 0 for p in after["partitions"])
    table = cli(home.path, "stream", "status")
    assert table.code == 0
    assert "lag_changes      0" in table.stdout
    assert all(at[:10] in table.stdout for (at,) in committed)


def test_lake_compact_merges_closed_hours_and_with_all_the_current_one(home: Home, commit_times: list[str]) -> None:
    fill(home, commit_times)
    files = partitions(home)
    current = [key for key in files if key != ("2026-01-02", "03")]
    assert files[("2026-01-02", "03")] == 3
    assert [files[key] for key in current] == [2]
    before = home.lake_rows("SELECT sequence, quantity FROM order_changes ORDER BY sequence")

    closed = cli(home.path, "lake", "compact", "--json")
    assert closed.code == 0, closed.stderr
    report = closed.json()
    assert [(p["dt"], p["hour"], p["removed"], p["added"]) for p in report["compacted"]] == [("2026-01-02", "03", 3, 1)]
    assert report["vacuumed_files"] == 0  # replaced files stay for the retention (24 h)
    assert partitions(home) == {("2026-01-02", "03"): 1, current[0]: 2}

    every = cli(home.path, "lake", "compact", "--all", "--json").json()
    assert [(p["removed"], p["added"]) for p in every["compacted"]] == [(2, 1)]
    assert set(partitions(home).values()) == {1}
    assert home.lake_rows("SELECT sequence, quantity FROM order_changes ORDER BY sequence") == before

    again = cli(home.path, "lake", "compact", "--all", "--json").json()
    assert again["compacted"] == []  # nothing left to merge


def test_lake_partitions_as_a_table(home: Home, commit_times: list[str]) -> None:
    fill(home, commit_times)

    result = cli(home.path, "lake", "partitions")

    assert result.code == 0, result.stderr
    assert "2026-01-02" in result.stdout
    assert "03" in result.stdout


def test_an_empty_home_has_no_partitions_and_nothing_to_compact(tmp_path: Path) -> None:
    assert cli(tmp_path, "lake", "partitions", "--json").json() == []
    assert cli(tmp_path, "lake", "compact", "--all", "--json").json() == {"compacted": [], "vacuumed_files": 0}
    status = cli(tmp_path, "stream", "status", "--json")
    assert status.code == 0, status.stderr
    assert status.json()["lag_changes"] == 0


def test_the_lag_in_seconds_does_not_count_on_sequences_without_gaps(home: Home, commit_times: list[str]) -> None:
    commit_times[:] = [committed_ago(hours=1)]
    home.put(("a", 1, 0), ("b", 2, 1))
    with closing(sqlite3.connect(home.settings.database)) as conn, conn:
        conn.execute("DELETE FROM change_log WHERE sequence = 1")  # a gap where the lake's next change would be

    state = cli(home.path, "stream", "status", "--json").json()
    assert (state["written_through"], state["newest_change"]) == (0, 2)
    assert 3600 <= state["lag_seconds"] < 3600 + 60  # change 2's age, not 0 for want of change 1
