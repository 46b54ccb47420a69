"""The console's background readings: fresh while someone looks, none while nobody does."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from typing import Any

import pytest

from salesflow.console.state import Refreshing, StreamProbe


def counting() -> tuple[list[int], Any]:
    made: list[int] = []
    counter = itertools.count(1)

    def read() -> dict[str, Any]:
        made.append(next(counter))
        return {"reading": made[-1]}

    return made, read


def test_the_first_call_waits_for_a_reading_and_later_ones_see_newer_ones() -> None:
    _, read = counting()
    reading = Refreshing(read, every=0.01, idle=30)
    try:
        assert reading.value()["reading"] == 1
        deadline = time.monotonic() + 5
        while reading.value()["reading"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert reading.value()["reading"] >= 3
    finally:
        reading.close()


def test_nobody_looking_means_no_readings_and_the_next_look_gets_a_fresh_one() -> None:
    made, read = counting()
    reading = Refreshing(read, every=0.01, idle=0.1)
    try:
        reading.value()
        time.sleep(0.5)  # well past idle: the thread has stopped reading
        settled = len(made)
        time.sleep(0.3)
        assert len(made) == settled  # nothing read while nobody asked

        assert reading.value()["reading"] == settled + 1  # a new reading, not the stale one
    finally:
        reading.close()


def test_a_failed_reading_is_raised_to_the_page() -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("database is locked")

    reading = Refreshing(broken, every=0.01)
    try:
        with pytest.raises(RuntimeError, match="locked"):
            reading.value()
    finally:
        reading.close()


def test_the_stream_probe_logs_a_problem_once_until_it_changes_or_comes_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Each reading takes the next outcome from `outcomes`, and says when it starts: once the
    # next one has started, the one before is the probe's latest, so each status() call below
    # sees exactly one reading.
    outcomes: queue.Queue[str | None] = queue.Queue()
    started = threading.Semaphore(0)
    done = "done"

    class Stream:
        def status(self) -> dict[str, Any]:
            started.release()
            problem = outcomes.get()
            if problem == done:
                outcomes.put(done)  # for any reading after it, until the probe stops
                return {}
            if problem:
                raise OSError(problem)
            return {"lag_changes": 0}

        def close(self) -> None:
            pass

    probe = StreamProbe(Stream, max_age=0)  # type: ignore[arg-type]
    answers = []
    try:
        with caplog.at_level(logging.ERROR):
            for number, problem in enumerate(
                ["lake locked", "lake locked", "lake locked", "disk gone", None, "disk gone"]
            ):
                outcomes.put(problem)
                if number:  # the first call waits for the first reading itself
                    assert started.acquire(timeout=10)  # the next reading started: this one is kept
                answers.append(probe.status())
                if not number:
                    assert started.acquire(timeout=10)  # the first reading's start
                    assert started.acquire(timeout=10)  # and the second's: the first is kept
    finally:
        outcomes.put(done)
        probe.close()

    assert answers == [None, None, None, None, {"lag_changes": 0}, None]
    logged = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert [str(exc) for exc in logged] == ["lake locked", "disk gone", "disk gone"]
