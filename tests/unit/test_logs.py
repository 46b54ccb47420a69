"""Logs: JSON lines in DIR/logs/ with the execution id of the work that logged them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from salesflow.logcontext import bound
from salesflow.runtime.logs import configure_logging


@pytest.fixture
def log_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Path]:
    # After capsys: the terminal handler writes to the sys.stderr of the moment it is made.
    path = configure_logging(tmp_path)
    yield path
    for handler in list(logging.getLogger("salesflow").handlers):  # leave no handler on a deleted file
        logging.getLogger("salesflow").removeHandler(handler)
        handler.close()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_carry_the_execution_they_belong_to(log_file: Path) -> None:
    log = logging.getLogger("salesflow.pipelines.somewhere")
    with bound(execution_id="ex-42", key="orders/a.json"):
        log.info("started")
    log.warning("outside")
    inside, outside = lines(log_file)
    assert inside["event"] == "started"
    assert inside["execution_id"] == "ex-42"
    assert inside["key"] == "orders/a.json"
    assert inside["level"] == "info"
    assert "execution_id" not in outside


def test_extra_fields_reach_the_file(log_file: Path) -> None:
    logging.getLogger("salesflow.notify").warning("dlq_depth", extra={"notice": {"kind": "dlq_depth"}})
    (line,) = lines(log_file)
    assert line["notice"] == {"kind": "dlq_depth"}


def test_the_terminal_gets_warnings_as_readable_lines(log_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("salesflow.x")
    log.info("quiet")
    with bound(execution_id="ex-7"):
        log.warning("loud")
    terminal = capsys.readouterr().err
    assert "quiet" not in terminal
    assert "loud" in terminal
    assert "execution_id=ex-7" in terminal
    assert not terminal.lstrip().startswith("{")


def test_execution_outcomes_are_not_said_twice_on_the_terminal(
    log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI prints them as progress lines; the file keeps them all."""
    logging.getLogger("salesflow.pipelines.orders").warning("execution failed: truncated")
    notice = {"kind": "execution_failed", "subject": "orders/a.json"}
    logging.getLogger("salesflow.notify").warning("execution_failed orders/a.json", extra={"notice": notice})
    logging.getLogger("salesflow.notify").warning("dlq_depth", extra={"notice": {"kind": "dlq_depth"}})

    terminal = capsys.readouterr().err
    assert "truncated" not in terminal
    assert "execution_failed" not in terminal
    assert "dlq_depth" in terminal
    assert [line["event"] for line in lines(log_file)] == [
        "execution failed: truncated",
        "execution_failed orders/a.json",
        "dlq_depth",
    ]
