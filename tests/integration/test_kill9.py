"""Exactly once under kill -9: a run killed at random moments, then finished, leaves the same
orders, dead letters and change records as a run that was never interrupted, and leaves no
process of its own behind.

The runs are real `salesflow --home H run --once` processes (the console script next to this
interpreter), killed with SIGKILL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import (
    SALESFLOW,
    good_record,
    home_state,
    wait_until_gone,
    write_document,
    write_orders,
)

KILLS = 8
SEED = 20261101


def settle(folder: Path) -> None:
    """Date the files back, so the runner does not wait for them to be still."""
    old = time.time() - 60
    for path in folder.iterdir():
        os.utime(path, (old, old))


def drop_input(home: Path) -> None:
    """Three files, 30,000 records, 10 % invalid, 2 % repeated ids (also across files), one gzipped."""
    orders = home / "bucket" / "orders"
    write_orders(orders / "a-2026-01.json", 12_000, seed=1, first_id=1)
    write_orders(orders / "b-2026-02.jsonl", 12_000, seed=2, first_id=12_001)
    write_orders(orders / "c-2026-03.json.gz", 6_000, seed=3, first_id=24_001)
    settle(orders)


def environment(**settings: str) -> dict[str, str]:
    """This environment without SALESFLOW_* variables, plus the given [orders] settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SALESFLOW_")}
    env.update({f"SALESFLOW_ORDERS__{name.upper()}": value for name, value in settings.items()})
    return env


# --no-stream everywhere: kill times are spread over the orders pipeline's work; a drain of
# the lake after it would take the kills (the stream has its own kill -9 test).
def run_once(home: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SALESFLOW), "--home", str(home), "run", "--once", "--no-stream"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def timed_run(home: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = run_once(home, env)
    return result, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
def test_kill9_at_random_moments_then_a_full_run_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """The reference is one uninterrupted run with default settings. The other home gets the
    same files and is killed KILLS times, with small commits (500 records) so kills land
    between, during and after many of them, and every other round reading in worker
    processes (SUBPROCESS_MIN_MB=1) or in the runner itself (0). Kill times are seeded and
    fall between 0 and the reference run's time: after the interpreter's start-up (measured
    on an empty home, where a kill proves nothing) plus a random share of the reference's
    work, so that the kills spread over the whole input instead of all landing after it is done.
    """
    reference_home, killed_home = tmp_path / "reference", tmp_path / "killed"
    drop_input(reference_home)
    drop_input(killed_home)

    empty, startup_seconds = timed_run(tmp_path / "empty", environment())
    assert empty.returncode == 0, empty.stderr
    reference, reference_seconds = timed_run(reference_home, environment())
    assert reference.returncode == 0, reference.stderr
    expected = home_state(reference_home)
    assert len(expected.orders) > 20_000
    assert len(expected.dead_letters) > 2_000
    assert {e["status"] for e in expected.executions} == {"succeeded"}
    assert sum(e["records"] for e in expected.executions) == 30_000

    work_seconds = max(reference_seconds - startup_seconds, 0.2)
    rng = random.Random(SEED)
    interrupted = 0
    for kill in range(KILLS):
        env = environment(chunk_records="500", subprocess_min_mb=str(kill % 2))
        process = subprocess.Popen(
            [str(SALESFLOW), "--home", str(killed_home), "run", "--once", "--no-stream"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(min(startup_seconds + rng.uniform(0, 1.5 * work_seconds / KILLS), reference_seconds))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert wait_until_gone(killed_home) == [], f"kill {kill + 1}: a reader process outlived its killed runner"
        if (killed_home / "salesflow.db").exists():
            interrupted += any(e["status"] == "running" for e in home_state(killed_home).executions)

    final = run_once(killed_home, environment(chunk_records="500", subprocess_min_mb="1"))
    assert final.returncode == 0, final.stderr
    assert interrupted > 0, "no kill landed while an object was being processed: the test proved nothing"

    actual = home_state(killed_home)
    assert actual.executions == expected.executions  # one execution per file, every one succeeded
    assert actual.orders == expected.orders
    assert actual.dead_letters == expected.dead_letters
    assert actual.changes == expected.changes
    assert wait_until_gone(killed_home) == []


# Runs `salesflow run` the way the CLI does (holding the home's run lock), and kills itself with
# SIGKILL as soon as the first chunk of the object is committed.
KILL_AFTER_FIRST_COMMIT = """
import os, signal, sys
from pathlib import Path
from salesflow.runtime.bootstrap import build_app
from salesflow.runtime.runner import Runner, exclusive_home
from salesflow.runtime.settings import load_settings

def on_start(info):
    def progress(done, total):
        if total is None:  # a chunk was committed
            os.kill(os.getpid(), signal.SIGKILL)
    return progress

home = Path(sys.argv[1])
with exclusive_home(home):
    Runner(build_app(load_settings(home)), on_start=on_start).run_once()
"""


@pytest.mark.usefixtures("reaper")
def test_kill9_while_worker_processes_read_leaves_no_process_and_frees_the_home(tmp_path: Path) -> None:
    """A 1.3 MB object read by worker processes (SUBPROCESS_MIN_MB=1) in chunks of 500 records
    (each larger than a pipe's 64 KiB buffer); the runner is killed right after its first commit,
    while the readers hold chunks it has not taken yet. Its readers must end too: otherwise they
    keep the home's run lock and every later `salesflow run` is refused."""
    home = tmp_path / "home"
    padding = "x" * 1200
    records = [{**good_record(str(n)), "note": padding} for n in range(1, 1501)]
    write_document(home / "bucket" / "orders" / "big.json", records)
    settle(home / "bucket" / "orders")
    driver = tmp_path / "kill_after_first_commit.py"
    driver.write_text(KILL_AFTER_FIRST_COMMIT)
    env = environment(chunk_records="500", subprocess_min_mb="1")

    log = tmp_path / "driver.log"
    with log.open("wb") as stderr:  # not a pipe: a reader left behind would hold it open
        killed = subprocess.run(
            [sys.executable, str(driver), str(home)], env=env, stdout=stderr, stderr=stderr, timeout=60, check=False
        )
    assert killed.returncode == -signal.SIGKILL, log.read_text()

    assert wait_until_gone(home) == [], "a reader process outlived its killed runner"
    final = run_once(home, env)
    assert final.returncode == 0, final.stderr
    state = home_state(home)
    assert [e["status"] for e in state.executions] == ["succeeded"]
    assert len(state.orders) == 1500
    assert [event for event, *_ in state.changes] == ["INSERT"] * 1500
    assert state.orders[0]["record"]["note"] == padding
