"""Commands of the stream and the lake."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from salesflow.cli import render
from salesflow.cli.context import JsonOption, current_app, drain_stream, fail, stop_on_signals
from salesflow.domain.errors import SalesflowError
from salesflow.runtime.stream import build_stream, lake_of, start_stream, stream_lock

# -- the stream and the lake ------------------------------------------------------

stream_app = typer.Typer(
    help="The stream: every change of the orders table, into the lake (DIR/lake/orders/).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
lake_app = typer.Typer(
    help="The lake: a Delta Lake table of every change, partitioned by date and hour.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
PARTITION_COLUMNS = ("dt", "hour", "files", "bytes")
STREAM_ERROR_COLUMNS = ("sequence", "order_id", "event_type", "reason", "message", "failed_at")


@stream_app.command("status")
def stream_status(json: JsonOption = False) -> None:
    """How far the lake is behind the orders table: the last change it holds, the lag in
    changes and seconds, refused changes, and files per partition."""
    stream = build_stream(current_app().settings)
    try:
        state = stream.status()
    finally:
        stream.close()
    if json:
        render.print_json(state)
        return
    render.print_record({name: value for name, value in state.items() if name != "partitions"})
    render.print_table(state["partitions"], PARTITION_COLUMNS, "Partitions")


@stream_app.command("errors")
def stream_errors(
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many, newest first.")] = None,
    json: JsonOption = False,
) -> None:
    """Changes the transform refused (like Firehose's ProcessingFailed records), newest first.

    Each keeps the change as it came (`--json` shows it) and the reason. The stream
    went on without them; they are in DIR/lake/errors/.
    """
    rows = lake_of(current_app().settings).errors(limit)
    if json:
        render.print_json(rows)
    else:
        render.print_table(rows, STREAM_ERROR_COLUMNS, "Refused changes")


@stream_app.command("run")
def stream_run(
    once: Annotated[bool, typer.Option("--once", help="Move every change there is now, then exit.")] = False,
) -> None:
    """Follow the change log into the lake, without watching the bucket (`salesflow run`
    does both). Stop with Ctrl-C: what is buffered is written first."""
    settings = current_app().settings
    try:
        with stream_lock(settings.lake):
            if once:
                drain_stream(settings)
                return
            stop = threading.Event()
            with stop_on_signals(stop):
                render.err.print("streaming changes into the lake; press Ctrl-C to stop")
                start_stream(settings, stop).join()
            render.err.print("stopped; the lake holds every change read.")
            raise typer.Exit(130)
    except SalesflowError as exc:
        fail(str(exc))


@lake_app.command("compact")
def lake_compact(
    every_hour: Annotated[bool, typer.Option("--all", help="Also the current hour, still being written to.")] = False,
    json: JsonOption = False,
) -> None:
    """Merge the small files of closed hours, then vacuum files older than
    stream.retention_hours. Queries running meanwhile see every row once.

    Each hour becomes a .current file and a .superseded file (the changes a later
    change replaced, and removals), so orders_current reads less afterwards."""
    lake = lake_of(current_app().settings)
    done = lake.compact_closed_hours(every_hour)
    removed = lake.vacuum()
    if json:
        render.print_json({"compacted": done, "vacuumed_files": removed})
        return
    render.print_table(
        done, ("dt", "hour", "removed", "added", "current_rows", "superseded_rows"), "Compacted partitions"
    )
    render.err.print(f"vacuum removed {removed:,} file(s) older than the retention")


@lake_app.command("partitions")
def lake_partitions(json: JsonOption = False) -> None:
    """Partitions of the lake with their file counts and sizes."""
    render.show_rows(lake_of(current_app().settings).partitions(), PARTITION_COLUMNS, "Partitions", json)
