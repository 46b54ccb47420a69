"""Retries of transient failures: exponential backoff with full jitter (tenacity)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from salesflow.domain.errors import TransientError

T = TypeVar("T")

# Retries so far in this process, by the error that caused them, for /metrics. Counted in
# the process that retried: the console serves the numbers of the `salesflow run` it is in.
_retried: Counter[str] = Counter()
_retried_lock = threading.Lock()


def retries_so_far() -> dict[str, int]:
    """How many retries this process made, by the error's type."""
    with _retried_lock:
        return dict(_retried)


def _count(error: BaseException) -> None:
    with _retried_lock:
        _retried[type(error).__name__] += 1


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` more tries after the first, each waiting a random time up to
    ``base * 2**n`` seconds (capped at ``cap``): AWS's "full jitter"."""

    retries: int = 3
    base: float = 0.05
    cap: float = 2.0

    def call(self, action: Callable[[], T], on_retry: Callable[[BaseException], None] | None = None) -> T:
        """Run action, retrying TransientError; the last error is raised as it is."""

        def before_sleep(state: RetryCallState) -> None:
            error = _error_of(state)
            _count(error)
            if on_retry:
                on_retry(error)

        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(multiplier=self.base, max=self.cap),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
            before_sleep=before_sleep,
        )
        return retrying(action)


def _error_of(state: RetryCallState) -> BaseException:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    return error if error is not None else TransientError("retrying")
