"""Exclusive locks on a home's files (flock), released by the kernel when a process dies."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from salesflow.domain.errors import ConfigError

_held: list[int] = []  # fds of the locks this process holds


def _forget_locks_in_child() -> None:
    """A forked reader must not keep a lock after its parent dies."""
    for fd in _held:
        os.close(fd)
    _held.clear()


os.register_at_fork(after_in_child=_forget_locks_in_child)


@contextmanager
def exclusive(path: Path, refusal: Callable[[str], str]) -> Iterator[None]:
    """Hold the lock file at path, writing our pid into it; if another process holds it,
    raise ConfigError with refusal(its pid)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise ConfigError(refusal(lock.read().strip() or "unknown")) from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        _held.append(lock.fileno())
        try:
            yield
        finally:
            _held.remove(lock.fileno())
            fcntl.flock(lock, fcntl.LOCK_UN)
