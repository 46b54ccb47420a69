"""Shared helpers of the integration tests: order files, the state of a home, the CLI.

Everything here works on a home in ``tmp_path`` the way a user's tools would:
files written into the bucket, the database read straight from
``DIR/salesflow.db`` with sqlite3, commands run through the real CLI.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import pytest
from typer.testing import CliRunner

from salesflow.cli import main as cli_main
from salesflow.runtime.bootstrap import App, build_app
from salesflow.runtime.settings import load_settings

# The console script installed next to this interpreter (salesflow.cli.main has no __main__ guard,
# so `python -m salesflow.cli.main` would import the module and do nothing).
SALESFLOW = Path(sys.executable).with_name("salesflow")

PRODUCTS = [("101", "Item One", "19.99"), ("102", "Item Two", "5.00"), ("103", "Wireless Mouse", "24.50")]
NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov"]
ID_SPELLINGS = ["OrderId", "order_id", "order-id", "orderId"]
INVALID_KINDS = 7


# -- order files ----------------------------------------------------------------


def good_record(order_id: str, quantity: int = 1, name: str = "Ada Lovelace") -> dict[str, Any]:
    """A valid order as a client would send it."""
    return {
        "contact-info": {"name": name, "email": "ada@example.com"},
        "order-info": {"order-id": order_id, "item-id": "101", "item-desc": "Item One", "qty": quantity},
    }


def _record(rng: random.Random, n: int, order_id: str, invalid: bool) -> Any:
    item_id, desc, price = rng.choice(PRODUCTS)
    record: dict[str, Any] = {
        "contact-info": {"name": rng.choice(NAMES), "email": f"user{n}@example.com"},
        "order-info": {ID_SPELLINGS[n % 4]: order_id, "item-id": item_id, "item-desc": desc, "qty": rng.randint(1, 5)},
    }
    if n % 3 == 0:
        record["order-info"]["unit-price"] = price
    if n % 7 == 0:
        record["channel"] = {"source": "web", "tags": ["a", "b"]}  # unknown fields are kept
    if not invalid:
        return record
    kind = n % INVALID_KINDS
    if kind == 0:
        del record["contact-info"]
    elif kind == 1:
        record["order-info"]["qty"] = "0"
    elif kind == 2:
        record["contact-info"]["email"] = "not-an-email"
    elif kind == 3:
        del record["order-info"][ID_SPELLINGS[n % 4]]
    elif kind == 4:
        record["order-info"]["unit-price"] = "-1"
    elif kind == 5:
        return ["not", "an", "object"]
    else:  # several reasons at once
        record["order-info"]["qty"] = 1.5
        record["contact-info"]["email"] = "x@"
    return record


def write_orders(
    path: Path,
    count: int,
    *,
    seed: int = 0,
    invalid: float = 0.10,
    repeated: float = 0.02,
    first_id: int = 1,
) -> Path:
    """Write an orders file of ``count`` records: ``{"orders": [...]}`` for .json, one record a
    line for .jsonl / .ndjson, gzipped when the name ends in .gz.

    About ``invalid`` of the records are refused by the validator (every kind of fault, and in
    JSON Lines some lines that do not parse); about ``repeated`` reuse an order id issued
    earlier (ids below ``first_id`` count, so files written in turn repeat each other's ids).
    Order ids of new orders run from ``first_id`` up.
    """
    rng = random.Random(seed)
    lines = path.name.removesuffix(".gz").endswith((".jsonl", ".ndjson"))
    next_id = first_id
    encoded: list[bytes] = []
    for n in range(count):
        if next_id > 1 and rng.random() < repeated:
            order_id = str(rng.randrange(1, next_id))
        else:
            order_id, next_id = str(next_id), next_id + 1
        bad = rng.random() < invalid
        text = json.dumps(_record(rng, n, order_id, bad)).encode()
        if lines and bad and n % INVALID_KINDS == 5:
            text = text[: len(text) // 2]  # a line cut short: malformed_json
        encoded.append(text)
    data = b"\n".join(encoded) + b"\n" if lines else b'{"orders": [\n' + b",\n".join(encoded) + b"\n]}\n"
    if path.name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_document(path: Path, records: list[Any]) -> Path:
    """A ``{"orders": [...]}`` file holding exactly these records."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"orders": records}))
    return path


def write_lines(path: Path, records: list[Any]) -> Path:
    """A JSON Lines file, one record a line (str items are written as the line itself)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


# -- the state of a home ----------------------------------------------------------


@dataclass(frozen=True)
class HomeState:
    """What a user can see in a home's database, without the times of day."""

    orders: list[dict[str, Any]]  # every column of the orders view but updated_at, by order_id
    dead_letters: list[tuple[str, int, list[str], Any]]  # (key, position, reasons, record) in queue order
    changes: list[tuple[str, str, Any, Any]]  # (event_type, order_id, old_image, new_image) by sequence
    executions: list[dict[str, Any]]  # key, status, records, stored, rejected, error, by key


def _parse(text: str | None) -> Any:
    return None if text is None else json.loads(text, parse_float=Decimal)


def home_state(home: Path) -> HomeState:
    """Read the orders view, the dead letters, the changes view and the executions of a home."""
    with closing(sqlite3.connect(f"file:{home / 'salesflow.db'}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        orders = []
        for row in conn.execute("SELECT * FROM orders ORDER BY order_id"):
            found = dict(row)
            del found["updated_at"]
            found["record"] = _parse(found["record"])
            orders.append(found)
        letters = [
            (row["key"], row["position"], _parse(row["reasons"]), _parse(row["record"]))
            for row in conn.execute("SELECT key, position, reasons, record FROM dead_letters ORDER BY id")
        ]
        changes = [
            (row["event_type"], row["order_id"], _parse(row["old_image"]), _parse(row["new_image"]))
            for row in conn.execute("SELECT * FROM changes ORDER BY sequence")
        ]
        executions = [
            dict(row)
            for row in conn.execute(
                "SELECT key, status, records, stored, rejected, error FROM executions ORDER BY key, started_at"
            )
        ]
    return HomeState(orders, letters, changes, executions)


# -- a home opened in this process ---------------------------------------------------


def write_config(home: Path, **watch: float) -> None:
    """DIR/salesflow.toml with these [watch] settings (settle_seconds=0 unless given)."""
    watch.setdefault("settle_seconds", 0.0)
    home.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{name} = {value}\n" for name, value in watch.items())
    (home / "salesflow.toml").write_text(f"[watch]\n{body}")


@contextmanager
def opened_app(home: Path, **watch: float) -> Iterator[App]:
    """build_app(load_settings(home)) with the given [watch] settings; closed afterwards."""
    write_config(home, **watch)
    app = build_app(load_settings(home))
    try:
        yield app
    finally:
        app.close()


# -- the CLI in this process --------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _forget_cli_app() -> None:
    # The CLI keeps the App of the running command in a module global and closes it when the
    # console script's main() returns. CliRunner calls the Typer app without main(), so do what
    # main() does; otherwise the next invocation would reuse an App opened on another --home.
    opened = cli_main.state.pop("app", None)
    if opened is not None:
        opened.close()


def cli(home: Path, *args: str) -> CliResult:
    """Run `salesflow --home HOME ARGS...` through the Typer app, as the console script would."""
    _forget_cli_app()
    try:
        result = CliRunner().invoke(app=cli_main.app, args=["--home", str(home), *args], env={"COLUMNS": "250"})
    finally:
        _forget_cli_app()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(autouse=True)
def _no_cli_app_left_open() -> Iterator[None]:
    yield
    _forget_cli_app()


# -- processes a test started (the kill -9 tests) --------------------------------------


def processes_of(home: Path) -> list[psutil.Process]:
    """Live processes working on home (or under it): a runner, or a reader process it forked
    (same command line)."""
    found = []
    for process in psutil.process_iter():
        try:
            arguments = process.cmdline()
            if process.status() != psutil.STATUS_ZOMBIE and any(
                argument == str(home) or argument.startswith(f"{home}/") for argument in arguments
            ):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def wait_until_gone(home: Path, deadline_seconds: float = 10.0) -> list[psutil.Process]:
    """The processes of home still alive after the deadline (a reader polls its parent every 0.5 s)."""
    deadline = time.monotonic() + deadline_seconds
    while (left := processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def reaper(tmp_path: Path) -> Iterator[None]:
    """Whatever a failing test leaves running under tmp_path is ended, by pid."""
    yield
    for process in processes_of(tmp_path):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
