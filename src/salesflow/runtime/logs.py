"""Logs: JSON lines to DIR/logs/salesflow.jsonl for machines, readable lines on the terminal.

Everything logs through the standard library (`logging.getLogger(__name__)`); structlog
formats the records on the way out. The execution a line belongs to rides in a context
variable (:func:`execution_context`), so every line logged while an execution runs
carries its id, whichever module logged it (salesflow.logcontext.bound).
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

import structlog

LOG_FILE = "salesflow.jsonl"
_MB = 1 << 20

# Added to every record from the standard library before it is rendered.
_PRE_CHAIN: list[structlog.types.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(home: Path, level: int = logging.INFO) -> Path:
    """Send the `salesflow` loggers to DIR/logs/salesflow.jsonl (rotated at 50 MB, 5 kept)
    and to stderr; returns the file's path. Calling it again replaces the handlers."""
    folder = home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_FILE
    to_file = logging.handlers.RotatingFileHandler(path, maxBytes=50 * _MB, backupCount=5, encoding="utf-8")
    # The file gets everything, with the fields a record carries (a notice, say); the
    # terminal gets warnings and errors, as lines a person reads.
    to_file.setFormatter(_formatter(structlog.processors.JSONRenderer(), [structlog.stdlib.ExtraAdder()]))
    to_terminal = _StderrHandler()
    to_terminal.setLevel(logging.WARNING)
    to_terminal.addFilter(_not_shown_by_the_cli)
    to_terminal.setFormatter(_formatter(structlog.dev.ConsoleRenderer(colors=False), []))
    logger = logging.getLogger("salesflow")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.addHandler(to_file)
    logger.addHandler(to_terminal)
    logger.setLevel(level)
    logger.propagate = False
    return path


def _not_shown_by_the_cli(record: logging.LogRecord) -> bool:
    """Execution outcomes reach the terminal as the CLI's progress lines already; as log
    lines too they would say everything twice. They still go to the file."""
    if record.name == "salesflow.pipelines.orders":
        return False
    notice = getattr(record, "notice", None)
    return not (isinstance(notice, dict) and str(notice.get("kind", "")).startswith("execution_"))


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is logged, not when the handler was
    made (test runners and the CLI swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _formatter(
    renderer: structlog.types.Processor, more: list[structlog.types.Processor]
) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_PRE_CHAIN + more,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
