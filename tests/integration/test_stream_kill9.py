"""Exactly once under kill -9: `salesflow stream run` killed at random moments while it moves
20,000 changes into the lake, then `salesflow stream run --once`, leaves every change in
order_changes exactly once, and no process behind.

The runs are real processes (the console script next to this interpreter), killed with
SIGKILL, with a small buffer and small reads so that commits come every few hundred changes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from salesflow.adapters.local.delta_lake import DeltaLake
from salesflow.runtime.settings import load_settings
from salesflow.runtime.sql import sql_engine
from tests.integration.conftest import SALESFLOW, cli, wait_until_gone

ROUNDS = 6
SEED = 20261125
CHANGES = 20_000


def environment() -> dict[str, str]:
    """This environment without SALESFLOW_* variables, with a small buffer and small reads: a
    commit every 100 changes, so that 20,000 take a few seconds and the kills land mid-way."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SALESFLOW_")}
    env.update(SALESFLOW_STREAM__BUFFER_MB="0.05", SALESFLOW_STREAM__READ_ROWS="100")
    return env


def commits(home: Path) -> int:
    log = home / "lake" / "orders" / "_delta_log"
    return len(list(log.glob("*.json"))) if log.exists() else 0


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
def test_kill9_of_the_stream_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """Even rounds are killed at a seeded random moment after the start (also during start-up,
    or before the first commit); odd rounds once the round has committed at least once, plus a
    seeded random delay, so that kills land between and during commits."""
    home = tmp_path / "home"
    generated = cli(
        home, "generate", "--rate", str(CHANGES), "--duration", "1s", "--updates", "0.2", "--deletes", "0.1",
        "--seed", "7", "--json",
    )  # fmt: skip
    assert generated.code == 0, generated.stderr
    settings = load_settings(home)
    lake = DeltaLake(settings.lake)
    [newest] = sql_engine(settings).query("SELECT max(sequence) FROM changes").rows[0]
    assert newest >= CHANGES * 0.95  # updates and deletes of orders not yet there fall back to inserts

    rng = random.Random(SEED)
    positions = []
    for kill in range(ROUNDS):
        before = commits(home)
        process = subprocess.Popen(
            [str(SALESFLOW), "--home", str(home), "stream", "run"],
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if kill % 2 == 0:
            time.sleep(rng.uniform(0.2, 1.5))
        else:
            deadline = time.monotonic() + 20
            while commits(home) == before and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert process.returncode == -signal.SIGKILL, f"round {kill + 1}: the stream ended by itself"
        assert wait_until_gone(home) == [], f"round {kill + 1}: a process outlived the killed stream"
        positions.append(lake.written_through())

    assert any(0 < position < newest for position in positions), (
        f"no kill landed while the stream was moving changes ({positions}): the test proved nothing"
    )
    assert positions == sorted(positions)  # the lake never goes back

    final = subprocess.run(
        [str(SALESFLOW), "--home", str(home), "stream", "run", "--once"],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert final.returncode == 0, final.stderr

    engine = sql_engine(settings)
    [(rows, distinct, low, high)] = engine.query(
        "SELECT count(*), count(DISTINCT sequence), min(sequence), max(sequence) FROM order_changes"
    ).rows
    assert (rows, distinct, low, high) == (newest, newest, 1, newest)
    assert lake.written_through() == newest
    assert lake.error_count() == 0
    current = "SELECT order_id, quantity, price FROM {} ORDER BY order_id"
    table = [(order_id, int(q), str(p)) for order_id, q, p in engine.query(current.format("orders")).rows]
    assert [(order_id, q, f"{p:.2f}") for order_id, q, p in engine.query(current.format("orders_current")).rows] == (
        table
    )
    assert wait_until_gone(home) == []
