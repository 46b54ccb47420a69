"""What every command shares: the home's App, errors, Ctrl-C, the common options."""

from __future__ import annotations

import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from salesflow.cli import render
from salesflow.runtime.bootstrap import App, build_app
from salesflow.runtime.settings import Settings, load_settings
from salesflow.runtime.stream import build_stream

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of a table.")]


class Face(StrEnum):
    EMBEDDED = "embedded"
    AWS = "aws"


FaceOption = Annotated[
    Face,
    typer.Option(
        "--face",
        help="embedded (this machine's folder, SQLite and lake) or aws (the S3, DynamoDB and Athena named in [aws]).",
    ),
]

# The home given with --home, and its App once a command asks for it (one per invocation).
state: dict[str, Any] = {}


def current_app() -> App:
    if "app" not in state:
        state["app"] = build_app(home_settings())
    return state["app"]  # type: ignore[no-any-return]


def home_settings() -> Settings:
    """The settings of the home given with --home (without opening its database)."""
    return load_settings(state.get("home"))


def fail(message: str, code: int = 2) -> NoReturn:
    render.err.print(f"[red]error:[/red] {render.escape(message)}")
    raise typer.Exit(code)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C or SIGTERM: finish the chunk in hand, then stop. A second Ctrl-C stops at once
    (still safe: every chunk is one transaction)."""

    def request_stop(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        render.err.print("stopping after the current chunk (Ctrl-C again to stop now)")
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def drain_stream(settings: Any) -> None:
    """Bring the lake up to date with the orders table (run --once returns with it current)."""
    if not current_app().ledger.newest_change():
        return  # no change ever: not even worth loading the lake's libraries
    stream = build_stream(settings)
    try:
        moved = stream.drain()
    finally:
        stream.close()
    if moved:
        render.err.print(f"stream: {moved:,} change(s) into the lake ({settings.lake / 'orders'})")


def program() -> str:
    """How the user can call this program again: `salesflow` if that is on PATH, else its path."""
    invoked = Path(sys.argv[0])
    if invoked.name != "salesflow":
        return "salesflow"
    on_path = shutil.which("salesflow")
    if on_path and invoked.exists() and Path(on_path).resolve() == invoked.resolve():
        return "salesflow"
    return str(invoked)
