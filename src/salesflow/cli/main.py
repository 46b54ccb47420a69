"""``salesflow``: the command line. Commands live beside this module by subject (records,
batches, lake, generate); what they share is in context.py.

Every listing prints a table for people, or with ``--json`` a JSON array of
objects and nothing else on stdout. Errors go to stderr with what to do next,
and the exit code is 2 for bad input, 1 for a failed run.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from salesflow import __version__
from salesflow.cli import render
from salesflow.cli.batches import batches, kpi_app
from salesflow.cli.context import (
    Face,
    FaceOption,
    JsonOption,
    current_app,
    drain_stream,
    fail,
    home_settings,
    program,
    state,
    stop_on_signals,
)
from salesflow.cli.generate import generate
from salesflow.cli.lake import lake_app, stream_app
from salesflow.cli.progress import ProgressReporter
from salesflow.cli.records import dlq_app, executions_app, orders_app
from salesflow.domain.errors import SalesflowError
from salesflow.domain.records import ExecutionStatus
from salesflow.readers import detect_format
from salesflow.runtime.alerts import alerts_for, start_alerts
from salesflow.runtime.logs import configure_logging
from salesflow.runtime.runner import ORDERS_PREFIX, Runner, exclusive_home
from salesflow.runtime.stream import start_stream, stream_lock

HELP = """An event-driven pipeline for sales data, on one machine (or on AWS: --face aws).

Order files dropped into the bucket (DIR/bucket/orders/) end up exactly once in
the orders table or in the dead-letter queue with the reasons they were refused.
CSV batches under raw-data/ become daily KPI tables; every change of the orders
table streams into a lake (DIR/lake/) that answers SQL.

Start with `salesflow run --demo` (the console is then on http://127.0.0.1:8765/),
then look around with `salesflow status`, `salesflow executions`, `salesflow dlq
list`, `salesflow stream status` and `salesflow sql`.
"""

app = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)
app.add_typer(executions_app, name="executions")
app.add_typer(dlq_app, name="dlq")
app.add_typer(orders_app, name="orders")
app.add_typer(kpi_app, name="kpi")
app.add_typer(stream_app, name="stream")
app.add_typer(lake_app, name="lake")
app.command()(batches)


def _print_version(value: bool) -> None:
    if value:
        render.out.print(f"salesflow {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="SALESFLOW_HOME",
            help="Where the bucket, database and lake live (default ./salesflow-data).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    if "app" in state:  # a new invocation in the same process (tests): a fresh app for its home
        state.pop("app").close()
    state["home"] = home


# -- put and run ---------------------------------------------------------------


@app.command()
def put(
    source: Annotated[Path, typer.Argument(help="Local file to copy into the bucket.", show_default=False)],
    key: Annotated[str | None, typer.Argument(help="Object key (default orders/<file name> for JSON files).")] = None,
) -> None:
    """Copy a local file into the bucket atomically, like `aws s3 cp`.

    Readers see no object or the whole object, never half of it.
    """
    if not source.is_file():
        fail(f"{source} is not a file")
    if key is None:
        if detect_format(source.name) is None:
            fail(f"give a KEY for {source.name}: only .json, .jsonl and .ndjson files default to orders/")
        key = ORDERS_PREFIX + source.name
    with source.open("rb") as stream:
        info = current_app().store.put(key, stream)
    render.err.print(f"put {render.escape(str(source))} -> {render.escape(info.key)} ({info.size:,} bytes)")


@app.command()
def run(
    once: Annotated[
        bool, typer.Option("--once", help="Process everything pending, then exit (1 if any failed).")
    ] = False,
    demo_mode: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="On first start, drop sample files (good and bad) into the bucket: order documents, "
            "and a batch of CSVs for the KPIs; then generate orders for 30 s so data flows into the lake.",
        ),
    ] = False,
    host: Annotated[
        str | None, typer.Option("--host", help="Address of the web console (default 127.0.0.1, [console] host).")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port of the web console (default 8765).")] = None,
    console: Annotated[
        bool, typer.Option("--console/--no-console", help="Serve the web console while watching.")
    ] = True,
    face: FaceOption = Face.EMBEDDED,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream/--no-stream",
            help="Move changes of the orders table into the lake (--no-stream: the lake catches up "
            "on a later run or with `salesflow stream run`).",
        ),
    ] = True,
) -> None:
    """Watch the bucket and process every object that lands in it; stream every change
    of the orders table into the lake; serve the web console on http://127.0.0.1:8765/.

    Objects already processed (same key and content) are not processed again.
    Stop with Ctrl-C: work in progress is kept and resumes on the next run.

    With --face aws the same orders pipeline reads the S3 bucket and writes the DynamoDB
    tables named in [aws] (or moto's, with [aws] endpoint_url).
    """
    if face is Face.AWS:
        _run_on_aws(once)
        return
    settings = current_app().settings
    try:
        with exclusive_home(settings.home), stream_lock(settings.lake):
            if demo_mode:
                from salesflow.runtime import demo  # only --demo needs these: not at start-up

                dropped = demo.drop_samples(current_app())
                for key in dropped:
                    render.err.print(f"demo: dropped {render.escape(key)}")
            log_file = configure_logging(settings.home)
            reporter = ProgressReporter(render.err)
            runner = Runner(current_app(), on_start=reporter.start)
            alerts = alerts_for(settings, current_app().notifier)

            def finished(execution: Any) -> None:
                reporter.finished(execution)
                alerts.execution_finished(execution)

            runner.on_execution = finished
            for execution in runner.recover():
                reporter.finished(execution)
            with stop_on_signals(runner.stop):
                executions = runner.run_once()
                if stream and not runner.stop.is_set():
                    drain_stream(settings)
                _summary(executions)
                if runner.stop.is_set():
                    render.err.print("stopped. Unfinished work resumes on the next `salesflow run`.")
                    raise typer.Exit(130)
                if once:
                    failed = any(e.status != ExecutionStatus.SUCCEEDED for e in executions)
                    raise typer.Exit(1 if failed else 0)
                _where_to_look(settings.home)
                render.err.print(f"logs        {log_file} (JSON lines)")
                threads = [start_alerts(settings, alerts, runner.stop)]
                if stream:
                    threads.append(start_stream(settings, runner.stop))
                if console and settings.console.enabled:
                    threads.append(_start_console(settings, host, port, runner.stop))
                if demo_mode:
                    from salesflow.runtime.generator import run_demo_generator

                    run_demo_generator(current_app(), runner.stop, lambda line: render.err.print(render.escape(line)))
                render.err.print("watching the bucket and streaming changes into the lake; press Ctrl-C to stop")
                runner.watch()
                for thread in threads:
                    thread.join()
            render.err.print("stopped. Unfinished work resumes on the next `salesflow run`.")
    except SalesflowError as exc:
        fail(str(exc))


app.command()(generate)


def _run_on_aws(once: bool) -> None:
    from salesflow.runtime.aws_bootstrap import build_aws_app

    reporter = ProgressReporter(render.err)
    aws = build_aws_app(home_settings())
    stop = threading.Event()

    def batch_done(batch: dict[str, Any]) -> None:
        if batch["status"] == "succeeded":
            render.err.print(f"succeeded batch {batch['batch_id']}: {batch['files']} file(s)")
        else:
            render.err.print(f"failed batch {batch['batch_id']}: {render.escape(batch['error'])}")

    try:
        with stop_on_signals(stop):
            executions = aws.process_pending(stop.is_set, reporter.finished)
            batch = aws.process_batch()
            if batch is not None:
                batch_done(batch)
            render.err.print(f"{len(executions)} execution(s) this run on {aws.settings.aws.bucket}")
            if once:
                failed = any(e.status != ExecutionStatus.SUCCEEDED for e in executions)
                failed = failed or (batch is not None and batch["status"] != "succeeded")
                raise typer.Exit(1 if failed else 0)
            render.err.print("watching the S3 bucket (a scan every [watch] scan_seconds); press Ctrl-C to stop")
            aws.watch(stop, reporter.finished, batch_done)
    except SalesflowError as exc:
        fail(str(exc))
    finally:
        aws.close()


def _start_console(settings: Any, host: str | None, port: int | None, stop: threading.Event) -> threading.Thread:
    """Serve the web console on a thread (with connections of its own) until stop is set."""
    from salesflow.console import serve
    from salesflow.console.security import load_or_create_token

    host = host or settings.console.host
    port = settings.console.port if port is None else port
    token = load_or_create_token(settings.home)
    thread = threading.Thread(target=serve, args=(settings, host, port, stop), name="console", daemon=True)
    thread.start()
    render.err.print(
        f"console     http://{host}:{port}/  (token for changes: {token}, also in {settings.home / 'console.token'})"
    )
    return thread


def _summary(executions: list[Any]) -> None:
    status = current_app().ledger.status()
    letters = sum(status["dead_letters"].values())
    render.err.print(
        f"{len(executions)} execution(s) this run; orders table: {status['orders']:,} orders; "
        f"dead-letter queue: {status['dead_letters'].get('pending', 0):,} pending of {letters:,}"
    )


def _where_to_look(home: Path) -> None:
    me = program()
    render.err.print(
        "where to look:\n"
        f"  bucket      {home / 'bucket'} (drop .json / .jsonl files into orders/, or `{me} put FILE`)\n"
        f"  database    {home / 'salesflow.db'} (SQLite)\n"
        f'  commands    {me} status | executions | dlq list | sql "SELECT * FROM orders"',
        markup=False,
    )


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="SELECT statement(s), DuckDB dialect (Athena's with --face aws).")],
    json: JsonOption = False,
    face: FaceOption = Face.EMBEDDED,
) -> None:
    """Read-only SQL over the home's tables (orders, dead_letters, executions, changes,
    order_kpi, category_kpi, rejected_rows, batches, execution_steps) and the lake
    (order_changes, orders_current, stream_errors).

    Example: salesflow sql "SELECT product_name, SUM(quantity) FROM orders_current GROUP BY 1"
    """
    try:
        if face is Face.AWS:
            from salesflow.runtime.aws_bootstrap import build_aws_app

            result = build_aws_app(home_settings()).sql.query(query)
        else:
            from salesflow.runtime.sql import sql_engine  # DuckDB and Arrow cost 80 MB: only here

            result = sql_engine(current_app().settings).query(query)
    except SalesflowError as exc:
        fail(str(exc))
    render.show_rows(result.as_dicts(), result.columns, "Rows", json)


@app.command()
def status(json: JsonOption = False) -> None:
    """Counts per table and per execution status, pending objects, and the last error."""
    application = current_app()
    counts = application.ledger.status()
    counts["pending_objects"] = len(Runner(application).pending())
    counts["home"] = str(application.settings.home)
    if json:
        render.print_json(counts)
        return
    render.print_record(
        {
            "home": counts["home"],
            "orders": counts["orders"],
            "change records": counts["change_log"],
            "dead letters": counts["dead_letters"],
            "executions": counts["executions"],
            "pending objects": counts["pending_objects"],
            "last error": counts["last_error"],
        }
    )


def main() -> None:
    """Console entry point."""
    try:
        app()
    except SalesflowError as exc:  # anything a command did not handle itself
        render.err.print(f"[red]error:[/red] {render.escape(str(exc))}")
        sys.exit(2)
    finally:
        if "app" in state:
            state.pop("app").close()


__all__ = ["app", "main"]
