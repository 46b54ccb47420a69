"""Fields every log line carries while some work runs (the execution id above all).

Kept in a context variable (structlog's), so a line logged by any module, in the
thread or task doing the work, carries them; runtime/logs.py renders them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog


@contextmanager
def bound(**fields: str) -> Iterator[None]:
    """Every line logged inside carries these fields."""
    with structlog.contextvars.bound_contextvars(**fields):
        yield
