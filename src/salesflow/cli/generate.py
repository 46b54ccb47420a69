"""``salesflow generate``: realistic random orders at a steady rate, into the table or the bucket.

The work is done by ``salesflow.runtime.generator``; this module reads the
options, shows progress on stderr and prints the summary.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from salesflow.cli import render
from salesflow.cli.context import current_app, fail, stop_on_signals
from salesflow.domain.errors import ConfigError, SalesflowError
from salesflow.runtime.generator import GeneratorOptions, GeneratorStats, Target, generate_orders, parse_duration


def generate(
    rate: Annotated[
        float, typer.Option("--rate", metavar="N", help="Writes per second (inserts, updates, deletes and invalid).")
    ] = 10.0,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            metavar="D",
            help="How long: seconds (30, 30s), minutes (2m) or hours (1h). Default: until Ctrl-C.",
            show_default=False,
        ),
    ] = None,
    to: Annotated[
        Target,
        typer.Option(
            "--to",
            help="table: into the orders table, the way the orders pipeline writes (works while `salesflow run` "
            "runs). bucket: one orders/generated-*.json file a second, for `salesflow run` to pick up.",
        ),
    ] = Target.TABLE,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="The same seed gives the same orders. Default: a random one, printed at the end."),
    ] = None,
    updates: Annotated[
        float,
        typer.Option(
            "--updates",
            metavar="F",
            help="Share of writes (0 to 1) that change an order generated earlier (new quantity, product or "
            "price): MODIFY changes.",
        ),
    ] = 0.0,
    deletes: Annotated[
        float,
        typer.Option(
            "--deletes",
            metavar="F",
            help="Share of writes (0 to 1) that remove an order generated earlier: REMOVE changes. Table only.",
        ),
    ] = 0.0,
    invalid: Annotated[
        float,
        typer.Option(
            "--invalid",
            metavar="F",
            help="Share of writes (0 to 1) that are invalid records (missing order id, bad email, quantity 0, "
            "negative price, ...): they land in the dead-letter queue with their reasons.",
        ),
    ] = 0.0,
    json: Annotated[bool, typer.Option("--json", help="Print the summary as a JSON object on stdout.")] = False,
) -> None:
    """Write realistic random orders at a steady rate: a catalogue of 20 tech products with fixed
    prices, customers with names and emails, quantities 1 to 5.

    Each write is an insert unless drawn as an update, a delete or an invalid record (--updates,
    --deletes, --invalid; together at most 1). The rate holds over time; Ctrl-C stops after the
    current write (exit 130). Progress shows on stderr, then a one-line summary.

    \b
    Examples:
      salesflow generate --rate 50 --duration 30s
      salesflow generate --rate 200 --duration 2m --updates 0.1 --deletes 0.05 --invalid 0.02
      salesflow generate --to bucket --rate 100 --seed 42    (while `salesflow run` watches)
    """
    try:
        options = _options(rate, duration, to, seed, updates, deletes, invalid)
    except ConfigError as exc:
        fail(str(exc))
    stop = threading.Event()
    try:
        with stop_on_signals(stop), _LiveProgress(render.err, options) as live:
            stats = generate_orders(current_app(), options, stop, live.update)
    except SalesflowError as exc:
        fail(f"the generator failed: {exc}", 1)
    if json:
        render.print_json(stats.as_dict())
    else:
        render.err.print(summary(stats), markup=False)
    if stats.stopped:
        raise typer.Exit(130)


def _options(
    rate: float,
    duration: str | None,
    to: Target,
    seed: int | None,
    updates: float,
    deletes: float,
    invalid: float,
) -> GeneratorOptions:
    """The generator's options; raises ConfigError with what to fix."""
    seconds = parse_duration(duration) if duration is not None else None
    chosen_seed = {} if seed is None else {"seed": seed}
    return GeneratorOptions(
        rate=rate, duration=seconds, target=to, updates=updates, deletes=deletes, invalid=invalid, **chosen_seed
    )


def summary(stats: GeneratorStats) -> str:
    """One line: what was written, how fast, and where."""
    where = (
        f"into the orders table as execution {stats.execution_id} ({stats.key})"
        if stats.target == Target.TABLE
        else f"into {stats.files:,} file(s) {stats.key}*.json"
    )
    ended = "stopped: " if stats.stopped else ""
    return (
        f"{ended}{stats.written:,} writes in {stats.elapsed:.1f} s ({stats.rate:,.1f}/s): {_totals(stats)}; "
        f"{where}; seed {stats.seed}"
    )


def _totals(stats: GeneratorStats) -> str:
    return (
        f"{stats.inserted:,} inserted, {stats.updated:,} updated, {stats.deleted:,} deleted, {stats.invalid:,} invalid"
    )


class _LiveProgress:
    """A live line on a terminal (rate achieved, totals, elapsed); nothing when stderr is not one."""

    def __init__(self, console: Console, options: GeneratorOptions) -> None:
        self._bar: Progress | None = None
        if not console.is_terminal:
            return
        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if options.duration is not None:
            columns.append(BarColumn())
        self._bar = Progress(*columns, TimeElapsedColumn(), console=console, transient=True)
        self._task = self._bar.add_task(f"generating into the {options.target}", total=options.duration)

    def __enter__(self) -> _LiveProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, stats: GeneratorStats) -> None:
        if self._bar is None:
            return
        files = f", {stats.files:,} files" if stats.target == Target.BUCKET else ""
        description = f"{stats.rate:,.1f}/s: {_totals(stats)}{files}"
        self._bar.update(self._task, completed=stats.elapsed, description=render.escape(description))
