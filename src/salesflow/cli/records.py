"""Commands over what the orders pipeline keeps: executions, dead letters, orders."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from salesflow.cli import render
from salesflow.cli.context import JsonOption, current_app, fail
from salesflow.domain.errors import SalesflowError
from salesflow.domain.records import ExecutionStatus, LetterStatus
from salesflow.jsoncodec import from_json

executions_app = typer.Typer(help="Executions: one run of a pipeline over one object.", rich_markup_mode=None)
dlq_app = typer.Typer(
    help="The dead-letter queue: refused records, their reasons, and fixing them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
orders_app = typer.Typer(help="The orders table.", no_args_is_help=True, rich_markup_mode=None)
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
    rows = [render.as_dict(e) for e in current_app().ledger.executions(status, limit)]
    render.show_rows(rows, EXECUTION_COLUMNS, "Executions", json)


@executions_app.command("show")
def executions_show(
    execution_id: Annotated[str, typer.Argument(metavar="ID", help="An execution id, e.g. ex-1a2b3c4d5e6f.")],
    json: JsonOption = False,
) -> None:
    """One execution in full, with its dead letters counted by reason."""
    try:
        execution = render.as_dict(current_app().ledger.execution(execution_id))
    except SalesflowError as exc:
        fail(str(exc))
    execution["rejected_by_reason"] = current_app().ledger.reasons_of(execution_id)
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
    rows = [render.as_dict(letter) for letter in current_app().ledger.dead_letters(reason, key, status, limit)]
    for row in rows:
        row.pop("history", None)
    render.show_rows(rows, LETTER_COLUMNS, "Dead letters", json)


@dlq_app.command("show")
def dlq_show(letter_id: Annotated[int, typer.Argument(metavar="ID")], json: JsonOption = False) -> None:
    """One dead letter: the record as it arrived, its reasons, and what was done to it."""
    try:
        letter = render.as_dict(current_app().ledger.dead_letter(letter_id))
    except SalesflowError as exc:
        fail(str(exc))
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
    ledger = current_app().ledger
    chosen = [bool(letter_ids), all_pending, reason is not None]
    if sum(chosen) != 1:
        fail("name the letters: give IDs, or --all, or --reason R (one of them)")
    if all_pending or reason:
        letter_ids = [letter.id for letter in ledger.dead_letters(reason=reason, status=LetterStatus.PENDING)]
    from salesflow.pipelines import dead_letters  # only this command needs it: not at start-up

    try:
        parsed = [dead_letters.parse_assignment(text) for text in assignments or []]
        replacement = from_json(record) if record is not None else None
    except SalesflowError as exc:
        fail(str(exc))
    except ValueError as exc:
        fail(f"--record is not valid JSON ({exc})")
    try:
        outcomes = dead_letters.redrive(ledger, ledger, letter_ids or [], parsed, _actor(), replacement)
    except SalesflowError as exc:
        fail(str(exc))
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
        current_app().ledger.discard(letter_id, why, _actor())
    except SalesflowError as exc:
        fail(str(exc))
    render.err.print(f"dead letter {letter_id} discarded")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@orders_app.command("show")
def orders_show(order_id: Annotated[str, typer.Argument(metavar="ID")], json: JsonOption = False) -> None:
    """One order as stored."""
    try:
        order = current_app().ledger.order(order_id)
    except SalesflowError as exc:
        fail(str(exc))
    render.show_one(order, json)


@orders_app.command("delete")
def orders_delete(
    order_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Order ids to remove.")],
) -> None:
    """Remove orders. Each removal is a REMOVE change record for the stream."""
    removed = current_app().ledger.delete_orders(order_ids)
    render.err.print(f"removed {removed} of {len(set(order_ids))} order(s)")
    if removed < len(set(order_ids)):
        raise typer.Exit(1)
