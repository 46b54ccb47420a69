"""The stream pipeline of a home, wired: the change log in, the Delta lake out.

Built on demand, not in build_app, and imported inside the functions: DuckDB
and delta-rs take a moment to load, and most commands never touch the lake.
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from salesflow.runtime.locks import exclusive
from salesflow.runtime.settings import Settings

if TYPE_CHECKING:
    from salesflow.adapters.local.delta_lake import DeltaLake
    from salesflow.pipelines.stream import StreamPipeline

log = logging.getLogger(__name__)
RESTART_SECONDS = 5.0


def lake_of(settings: Settings) -> DeltaLake:
    from salesflow.adapters.local.delta_lake import DeltaLake

    return DeltaLake(settings.lake, retention_hours=settings.stream.retention_hours)


def build_stream(settings: Settings) -> StreamPipeline:
    """The stream of settings.home (take stream_lock before running it)."""
    from salesflow.adapters.local.sqlite_changes import SqliteChangeFeed
    from salesflow.pipelines.stream import StreamOptions, StreamPipeline
    from salesflow.pipelines.stream_transform import ChangeTransform

    use_returning_memory_pool()
    config = settings.stream
    options = StreamOptions(
        buffer_bytes=int(config.buffer_mb * (1 << 20)),
        buffer_seconds=config.buffer_seconds,
        compact_files=config.compact_files,
        poll_seconds=config.poll_seconds,
        read_rows=config.read_rows,
    )
    return StreamPipeline(SqliteChangeFeed(settings.database), lake_of(settings), ChangeTransform(), options)


def use_returning_memory_pool() -> None:
    """pyarrow's allocations from jemalloc, unless ARROW_DEFAULT_MEMORY_POOL says otherwise.

    The stream allocates and frees a few MB of Arrow data per batch, all day. pyarrow's
    default pool (mimalloc) kept about 50 MB more of it resident: the peak RSS of
    `stream run --once` over 1M changes was 326 MB with mimalloc, 276 MB with jemalloc,
    285 MB with the system allocator, at the same speed."""
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without it
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)


def stream_lock(lake: Path) -> AbstractContextManager[None]:
    """Only one stream per lake: two would write every change twice."""
    return exclusive(
        lake / ".stream.lock",
        lambda pid: f"the lake {lake} is being written by another salesflow (pid {pid}); stop it first",
    )


def start_stream(settings: Settings, stop: threading.Event) -> threading.Thread:
    """Follow the change log into the lake on a thread until stop is set (the caller
    holds stream_lock). A failure is logged and the stream starts over from the lake's
    position a few seconds later: the pipelines writing orders never wait for it."""
    stream = build_stream(settings)

    def follow() -> None:
        while not stop.is_set():
            try:
                stream.run(stop)
            except Exception:
                log.exception("the stream failed; it resumes from the lake's last commit in %s s", RESTART_SECONDS)
                stream.reset()
                stop.wait(RESTART_SECONDS)
        stream.close()

    thread = threading.Thread(target=follow, name="stream", daemon=True)
    thread.start()
    return thread
