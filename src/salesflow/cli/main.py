"""``salesflow``: the command line of the embedded face.

Every listing prints a table for people, or with ``--json`` a JSON array of
objects and nothing else on stdout. Errors go to stderr with what to do next,
and the exit code is 2 for bad input, 1 for a failed run.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from salesflow import __version__
from salesflow.cli import render
from salesflow.cli.generate import generate
from salesflow.cli.progress import ProgressReporter
from salesflow.domain.errors import SalesflowError
from salesflow.domain.records import ExecutionStatus, LetterStatus
from salesflow.jsoncodec import from_json
from salesflow.pipelines import dead_letters
from salesflow.readers import detect_format
from salesflow.runtime import demo
from salesflow.runtime.alerts import alerts_for, start_alerts
from salesflow.runtime.bootstrap import App, build_app
from salesflow.runtime.generator import run_demo_generator as generator_demo
from salesflow.runtime.logs import configure_logging
from salesflow.runtime.runner import ORDERS_PREFIX, Runner, exclusive_home
from salesflow.runtime.settings import load_settings
from salesflow.runtime.stream import build_stream, lake_of, start_stream, stream_lock

HELP = """An event-driven pipeline for sales data, on one machine.

Order files dropped into the bucket (DIR/bucket/orders/) end up exactly once in
the orders table or in the dead-letter queue with the reasons they were refused.

Start with `salesflow run --demo`, then look around with `salesflow status`,
`salesflow executions`, `salesflow dlq list` and `salesflow sql`.
"""

app = typer.Typer(help=HELP, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False)
executions_app = typer.Typer(help="Executions: one run of a pipeline over one object.", rich_markup_mode=None)
dlq_app = typer.Typer(
    help="The dead-letter queue: refused records, their reasons, and fixing them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
orders_app = typer.Typer(help="The orders table.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(executions_app, name="executions")
app.add_typer(dlq_app, name="dlq")
app.add_typer(orders_app, name="orders")

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
EXECUTION_COLUMNS = (
    "id",
    "pipeline",
    "key",
    "status",
    "records",
    "stored",
    "rejected",
    "started_at",
    "finished_at",
    "error",
)
LETTER_COLUMNS = ("id", "key", "position", "reasons", "status", "record")

_state: dict[str, Any] = {}


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
    if "app" in _state:  # a new invocation in the same process (tests): a fresh app for its home
        _state.pop("app").close()
    _state["home"] = home


def _app() -> App:
    if "app" not in _state:
        _state["app"] = build_app(load_settings(_state.get("home")))
    return _state["app"]  # type: ignore[no-any-return]


def _fail(message: str, code: int = 2) -> NoReturn:
    render.err.print(f"[red]error:[/red] {render.escape(message)}")
    raise typer.Exit(code)


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
        _fail(f"{source} is not a file")
    if key is None:
        if detect_format(source.name) is None:
            _fail(f"give a KEY for {source.name}: only .json, .jsonl and .ndjson files default to orders/")
        key = ORDERS_PREFIX + source.name
    with source.open("rb") as stream:
        info = _app().store.put(key, stream)
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
            help="On first start, drop sample order files (good and bad) into the bucket; "
            "then generate orders for 30 s so data flows into the lake.",
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
    settings = _app().settings
    try:
        with exclusive_home(settings.home), stream_lock(settings.lake):
            if demo_mode:
                dropped = demo.drop_samples(_app())
                for key in dropped:
                    render.err.print(f"demo: dropped {render.escape(key)}")
            log_file = configure_logging(settings.home)
            reporter = ProgressReporter(render.err)
            runner = Runner(_app(), on_start=reporter.start)
            alerts = alerts_for(settings, _app().notifier)

            def finished(execution: Any) -> None:
                reporter.finished(execution)
                alerts.execution_finished(execution)

            runner.on_execution = finished
            for execution in runner.recover():
                reporter.finished(execution)
            with _stop_on_signals(runner.stop):
                executions = runner.run_once()
                if stream and not runner.stop.is_set():
                    _drain_stream(settings)
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
                    generator_demo(_app(), runner.stop)
                render.err.print("watching the bucket and streaming changes into the lake; press Ctrl-C to stop")
                runner.watch()
                for thread in threads:
                    thread.join()
            render.err.print("stopped. Unfinished work resumes on the next `salesflow run`.")
    except SalesflowError as exc:
        _fail(str(exc))


app.command()(generate)


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
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


def _run_on_aws(once: bool) -> None:
    from salesflow.runtime.aws_bootstrap import build_aws_app

    reporter = ProgressReporter(render.err)
    aws = build_aws_app(load_settings(_state.get("home")))
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            executions = aws.process_pending(stop.is_set, reporter.finished)
            render.err.print(f"{len(executions)} execution(s) this run on {aws.settings.aws.bucket}")
            if once:
                failed = any(e.status != ExecutionStatus.SUCCEEDED for e in executions)
                raise typer.Exit(1 if failed else 0)
            render.err.print("watching the S3 bucket (a scan every [watch] scan_seconds); press Ctrl-C to stop")
            aws.watch(stop, reporter.finished)
    except SalesflowError as exc:
        _fail(str(exc))
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


def _drain_stream(settings: Any) -> None:
    """Bring the lake up to date with the orders table (run --once returns with it current)."""
    if not _app().ledger.status()["change_log"]:
        return  # no change ever: not even worth loading the lake's libraries
    stream = build_stream(settings)
    try:
        moved = stream.drain()
    finally:
        stream.close()
    if moved:
        render.err.print(f"stream: {moved:,} change(s) into the lake ({settings.lake / 'orders'})")


def _summary(executions: list[Any]) -> None:
    status = _app().ledger.status()
    letters = sum(status["dead_letters"].values())
    render.err.print(
        f"{len(executions)} execution(s) this run; orders table: {status['orders']:,} orders; "
        f"dead-letter queue: {status['dead_letters'].get('pending', 0):,} pending of {letters:,}"
    )


def _where_to_look(home: Path) -> None:
    me = _program()
    render.err.print(
        "where to look:\n"
        f"  bucket      {home / 'bucket'} (drop .json / .jsonl files into orders/, or `{me} put FILE`)\n"
        f"  database    {home / 'salesflow.db'} (SQLite)\n"
        f'  commands    {me} status | executions | dlq list | sql "SELECT * FROM orders"',
        markup=False,
    )


def _program() -> str:
    """How the user can call this program again: `salesflow` if that is on PATH, else its path."""
    invoked = Path(sys.argv[0])
    if invoked.name != "salesflow":
        return "salesflow"
    on_path = shutil.which("salesflow")
    if on_path and invoked.exists() and Path(on_path).resolve() == invoked.resolve():
        return "salesflow"
    return str(invoked)


# -- executions ----------------------------------------------------------------


@executions_app.callback(invoke_without_command=True)
def executions_list(
    ctx: typer.Context,
    status: Annotated[ExecutionStatus | None, typer.Option("--status", help="Only executions in this state.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many, newest first.")] = None,
    json: JsonOption = False,
) -> None:
    """List executions, newest first."""
    if ctx.invoked_subcommand:
        return
    rows = [render.as_dict(e) for e in _app().ledger.executions(status, limit)]
    render.show_rows(rows, EXECUTION_COLUMNS, "Executions", json)


@executions_app.command("show")
def executions_show(
    execution_id: Annotated[str, typer.Argument(metavar="ID", help="An execution id, e.g. ex-1a2b3c4d5e6f.")],
    json: JsonOption = False,
) -> None:
    """One execution in full, with its dead letters counted by reason."""
    try:
        execution = render.as_dict(_app().ledger.execution(execution_id))
    except SalesflowError as exc:
        _fail(str(exc))
    execution["rejected_by_reason"] = _app().ledger.reasons_of(execution_id)
    render.show_one(execution, json)


# -- dead letters --------------------------------------------------------------


@dlq_app.command("list")
def dlq_list(
    reason: Annotated[str | None, typer.Option("--reason", help="Only letters with this reason code.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only letters from this object key.")] = None,
    status: Annotated[LetterStatus | None, typer.Option("--status", help="Only letters in this state.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    json: JsonOption = False,
) -> None:
    """List dead letters (all states unless --status)."""
    rows = [render.as_dict(letter) for letter in _app().ledger.dead_letters(reason, key, status, limit)]
    for row in rows:
        row.pop("history", None)
    render.show_rows(rows, LETTER_COLUMNS, "Dead letters", json)


@dlq_app.command("show")
def dlq_show(letter_id: Annotated[int, typer.Argument(metavar="ID")], json: JsonOption = False) -> None:
    """One dead letter: the record as it arrived, its reasons, and what was done to it."""
    try:
        letter = render.as_dict(_app().ledger.dead_letter(letter_id))
    except SalesflowError as exc:
        _fail(str(exc))
    render.show_one(letter, json)


@dlq_app.command("redrive")
def dlq_redrive(
    letter_ids: Annotated[list[int] | None, typer.Argument(metavar="[ID]...", help="Dead letters to redrive.")] = None,
    all_pending: Annotated[bool, typer.Option("--all", help="Every pending dead letter.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Every pending dead letter with this reason.")] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="FIELD=VALUE", help="Edit before validating, e.g. --set order-info.qty=2 (repeatable)."
        ),
    ] = None,
    record: Annotated[str | None, typer.Option("--record", help="Replace the record whole with this JSON.")] = None,
    json: JsonOption = False,
) -> None:
    """Validate dead letters again by the same rules: each goes to orders, or stays
    in the queue with its new reasons. Never both, never twice."""
    ledger = _app().ledger
    chosen = [bool(letter_ids), all_pending, reason is not None]
    if sum(chosen) != 1:
        _fail("name the letters: give IDs, or --all, or --reason R (one of them)")
    if all_pending or reason:
        letter_ids = [letter.id for letter in ledger.dead_letters(reason=reason, status=LetterStatus.PENDING)]
    try:
        parsed = [dead_letters.parse_assignment(text) for text in assignments or []]
        replacement = from_json(record) if record is not None else None
    except SalesflowError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"--record is not valid JSON ({exc})")
    try:
        outcomes = dead_letters.redrive(ledger, ledger, letter_ids or [], parsed, _actor(), replacement)
    except SalesflowError as exc:
        _fail(str(exc))
    rows = [render.as_dict(o) for o in outcomes]
    if json:
        render.print_json(rows)
    else:
        render.print_table(rows, ("letter_id", "status", "reasons"), "Redriven")
        stored = sum(o.status == LetterStatus.REDRIVEN for o in outcomes)
        render.err.print(f"{stored} stored in orders, {len(outcomes) - stored} refused again")


@dlq_app.command("discard")
def dlq_discard(
    letter_id: Annotated[int, typer.Argument(metavar="ID")],
    why: Annotated[str, typer.Option("--why", help="Why it is discarded (kept with the letter).")],
) -> None:
    """Mark a dead letter discarded. It stays in the queue's history, with the reason."""
    try:
        _app().ledger.discard(letter_id, why, _actor())
    except SalesflowError as exc:
        _fail(str(exc))
    render.err.print(f"dead letter {letter_id} discarded")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# -- batches and KPIs --------------------------------------------------------------

BATCH_COLUMNS = ("id", "status", "files", "read", "valid", "rejected", "duplicates_removed", "started_at", "error")
kpi_app = typer.Typer(help="Daily KPI tables computed by the batch pipeline.", no_args_is_help=True)
app.add_typer(kpi_app, name="kpi")


@app.command()
def batches(
    status: Annotated[str | None, typer.Option("--status", help="Only batches in this state.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many, newest first.")] = None,
    json: JsonOption = False,
) -> None:
    """Batches of raw-data/ files: their files, row counts and status, newest first."""
    rows = []
    for batch in _app().batches.batches(status, limit):
        row = render.as_dict(batch)
        row.update({name: batch.counts.get(name, 0) for name in ("read", "valid", "rejected", "duplicates_removed")})
        row["steps"] = _app().batches.steps(batch.execution_id)
        rows.append(row)
    render.show_rows(rows, BATCH_COLUMNS, "Batches", json)


@kpi_app.command("orders")
def kpi_orders(
    start: Annotated[str | None, typer.Option("--from", help="First order date (YYYY-MM-DD), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last order date (YYYY-MM-DD), inclusive.")] = None,
    json: JsonOption = False,
) -> None:
    """order_kpi: per order date, orders, revenue, items sold, return rate, unique customers."""
    rows = _app().batches.kpis("order_kpi", start, end)
    render.show_rows(rows, ORDER_KPI_COLUMNS, "Order KPIs", json)


@kpi_app.command("categories")
def kpi_categories(
    start: Annotated[str | None, typer.Option("--from", help="First order date (YYYY-MM-DD), inclusive.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last order date (YYYY-MM-DD), inclusive.")] = None,
    category: Annotated[str | None, typer.Option("--category", help="Only this category.")] = None,
    json: JsonOption = False,
) -> None:
    """category_kpi: per category and order date, revenue, average order value, return rate.

    By category and date range (--category C --from D --to D), or all categories of a day (--from D --to D).
    """
    rows = _app().batches.kpis("category_kpi", start, end, category)
    render.show_rows(rows, CATEGORY_KPI_COLUMNS, "Category KPIs", json)


ORDER_KPI_COLUMNS = (
    "order_date", "total_orders", "total_revenue", "total_items_sold", "return_rate", "unique_customers",
)  # fmt: skip
CATEGORY_KPI_COLUMNS = ("category", "order_date", "daily_revenue", "avg_order_value", "avg_return_rate")


# -- orders, sql, status --------------------------------------------------------


@orders_app.command("show")
def orders_show(order_id: Annotated[str, typer.Argument(metavar="ID")], json: JsonOption = False) -> None:
    """One order as stored."""
    try:
        order = _app().ledger.order(order_id)
    except SalesflowError as exc:
        _fail(str(exc))
    render.show_one(order, json)


@orders_app.command("delete")
def orders_delete(
    order_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Order ids to remove.")],
) -> None:
    """Remove orders. Each removal is a REMOVE change record for the stream."""
    removed = _app().ledger.delete_orders(order_ids)
    render.err.print(f"removed {removed} of {len(set(order_ids))} order(s)")
    if removed < len(set(order_ids)):
        raise typer.Exit(1)


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

            result = build_aws_app(load_settings(_state.get("home"))).sql.query(query)
        else:
            from salesflow.runtime.sql import sql_engine  # DuckDB and Arrow cost 80 MB: only here

            result = sql_engine(_app().settings).query(query)
    except SalesflowError as exc:
        _fail(str(exc))
    render.show_rows(result.as_dicts(), result.columns, "Rows", json)


@app.command()
def status(json: JsonOption = False) -> None:
    """Counts per table and per execution status, pending objects, and the last error."""
    application = _app()
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
app.add_typer(stream_app, name="stream")
app.add_typer(lake_app, name="lake")
PARTITION_COLUMNS = ("dt", "hour", "files", "bytes")
STREAM_ERROR_COLUMNS = ("sequence", "order_id", "event_type", "reason", "message", "failed_at")


@stream_app.command("status")
def stream_status(json: JsonOption = False) -> None:
    """How far the lake is behind the orders table: the last change it holds, the lag in
    changes and seconds, refused changes, and files per partition."""
    stream = build_stream(_app().settings)
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
    rows = lake_of(_app().settings).errors(limit)
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
    settings = _app().settings
    try:
        with stream_lock(settings.lake):
            if once:
                _drain_stream(settings)
                return
            stop = threading.Event()
            with _stop_on_signals(stop):
                render.err.print("streaming changes into the lake; press Ctrl-C to stop")
                start_stream(settings, stop).join()
            render.err.print("stopped; the lake holds every change read.")
            raise typer.Exit(130)
    except SalesflowError as exc:
        _fail(str(exc))


@lake_app.command("compact")
def lake_compact(
    every_hour: Annotated[bool, typer.Option("--all", help="Also the current hour, still being written to.")] = False,
    json: JsonOption = False,
) -> None:
    """Merge the small files of closed hours, then vacuum files older than
    stream.retention_hours. Queries running meanwhile see every row once."""
    lake = lake_of(_app().settings)
    current = (datetime.now(UTC).strftime("%Y-%m-%d"), datetime.now(UTC).strftime("%H"))
    wanted = [
        (p["dt"], p["hour"])
        for p in lake.partitions()
        if p["files"] > 1 and (every_hour or (p["dt"], p["hour"]) < current)
    ]
    done = lake.compact(wanted)
    removed = lake.vacuum()
    if json:
        render.print_json({"compacted": done, "vacuumed_files": removed})
        return
    render.print_table(done, ("dt", "hour", "removed", "added"), "Compacted partitions")
    render.err.print(f"vacuum removed {removed:,} file(s) older than the retention")


@lake_app.command("partitions")
def lake_partitions(json: JsonOption = False) -> None:
    """Partitions of the lake with their file counts and sizes."""
    render.show_rows(lake_of(_app().settings).partitions(), PARTITION_COLUMNS, "Partitions", json)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except SalesflowError as exc:  # anything a command did not handle itself
        render.err.print(f"[red]error:[/red] {render.escape(str(exc))}")
        sys.exit(2)
    finally:
        if "app" in _state:
            _state.pop("app").close()


__all__ = ["app", "main"]
