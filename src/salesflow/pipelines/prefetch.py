"""Run a generator in a child process and consume its items here.

Parsing and validating is pure Python and holds the GIL; SQLite's bulk insert
(executemany) takes it back for every row. In one process the two starve each
other (measured in docs/decisions.md), so the reading side runs in a child
process on the second core. The queue between them is short: memory stays flat
and the reader never runs far ahead of what is committed.

An exception raised in the child is raised again here, as the same class when
it can be pickled. If this process dies (kill -9), the child finds its queue
gone and exits.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_DONE = "done"
_ITEM = "item"
_ERROR = "error"
_POLL_SECONDS = 0.5
NICENESS = 10


def prefetch(produce: Callable[..., Iterator[T]], *args: Any, depth: int = 2) -> Iterator[T]:
    """Yield what ``produce(*args)`` yields, computed in a child process.

    ``produce`` and its arguments must be picklable (a module-level function).
    Closing the iterator early stops the child.
    """
    context = multiprocessing.get_context("fork")  # the child runs only pure reading code
    channel: Any = context.Queue(maxsize=depth)
    consumed = context.Event()  # set when everything was read: the child may exit
    child = context.Process(target=_run, args=(channel, consumed, os.getpid(), produce, args), daemon=True)
    child.start()
    try:
        while True:
            try:
                kind, payload = channel.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise ChildProcessError(f"the reader process died (exit code {child.exitcode})") from None
                continue
            if kind == _ITEM:
                yield payload
                continue
            consumed.set()
            if kind == _ERROR:
                raise payload
            return
    finally:
        if child.is_alive():
            child.terminate()
        child.join()
        channel.close()
        channel.join_thread()


def _run(
    channel: Any, consumed: Any, parent: int, produce: Callable[..., Iterator[Any]], args: tuple[Any, ...]
) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when to stop us,
    # with SIGTERM, whatever handler it had when it forked.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # The parent's commits are the critical path; readers only need to keep ahead.
    os.nice(NICENESS)
    try:
        for item in produce(*args):
            _put(channel, parent, (_ITEM, item))
        _put(channel, parent, (_DONE, None))
    except BaseException as exc:  # handed to the parent, which decides
        _put(channel, parent, (_ERROR, exc))
    # Exiting joins the queue's feeder thread, which blocks until the pipe is read:
    # wait until the parent has read everything, or is gone (then leave at once).
    while not consumed.wait(_POLL_SECONDS):
        if os.getppid() != parent:
            os._exit(0)


def _put(channel: Any, parent: int, message: tuple[str, Any]) -> None:
    while True:
        try:
            channel.put(message, timeout=_POLL_SECONDS)
            return
        except queue.Full:
            if os.getppid() != parent:  # the parent is gone: nobody will read this
                os._exit(0)
