"""The console entry point imports the commands with the garbage collector off, and only then."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from salesflow.cli import launch


def test_the_garbage_collector_is_on_again_when_a_command_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(sys, "argv", ["salesflow", "--version"])
    monkeypatch.setattr("salesflow.cli.main.main", lambda: seen.append(gc.isenabled()))
    try:
        launch.main()
    finally:
        gc.unfreeze()  # the test process's objects go back to the collector
    assert seen == [True]
    assert gc.isenabled()


def test_the_entry_point_prints_what_the_commands_print() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from salesflow.cli.launch import main; main()", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("salesflow ")
