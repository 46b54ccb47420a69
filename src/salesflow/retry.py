"""Retries of transient failures: exponential backoff with full jitter (tenacity)."""

from __future__ import annotations

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


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``retries`` more tries after the first, each waiting a random time up to
    ``base * 2**n`` seconds (capped at ``cap``): AWS's "full jitter"."""

    retries: int = 3
    base: float = 0.05
    cap: float = 2.0

    def call(self, action: Callable[[], T], on_retry: Callable[[BaseException], None] | None = None) -> T:
        """Run action, retrying TransientError; the last error is raised as it is."""
        retrying = Retrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(multiplier=self.base, max=self.cap),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
            before_sleep=(lambda state: on_retry(_error_of(state))) if on_retry else None,
        )
        return retrying(action)


def _error_of(state: RetryCallState) -> BaseException:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    return error if error is not None else TransientError("retrying")
