"""The console benchmark of issue 6: page latency with a big home while ingest runs.

Measured:

1. A home holding 100,000 executions and 1,000,000 dead letters (and 1,000,000 orders,
   streamed into the lake) is built once and kept in the work folder, keyed by sizes and
   seed (see ``build_home``). Every run works on a fresh copy of it.
2. ``salesflow --home H run --port P`` serves the console (uvicorn, 127.0.0.1, a free
   port) while it watches the bucket and streams into the lake, and
   ``salesflow --home H generate --to bucket --rate R --invalid 0.1`` drops one orders
   file a second for it to ingest: new executions, new dead letters, new changes.
3. While both run, one client on one keep-alive connection asks each page in turn
   (round-robin, so every page sees the same ingest), after a warm-up of a few requests
   each, and keeps each request's latency (request sent to last byte read); p50, p95
   and p99 per page. The overview and executions pages have the target of issue 6:
   p95 under 100 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from bench.make_orders import FIRST, LAST, PRODUCTS
from bench.measure import salesflow_cli, shown
from bench.orders import Outcome

FULL_EXECUTIONS = 100_000
FULL_LETTERS = 1_000_000
FULL_ORDERS = 1_000_000
TARGET_P95_MS = 100.0
ACTIONS = {"redriven": "redrive", "discarded": "discard"}  # what the ledger records for each
DAYS = 90  # the home's history spans this many days, up to when it was built

# (name, path, target applies): the pages an operator opens, and what the overview polls.
PAGES = (
    ("overview `/`", "/", True),
    ("overview JSON `/api/overview`", "/api/overview", True),
    ("executions `/executions`", "/executions", True),
    ("executions, failed `/executions?status=failed`", "/executions?status=failed", True),
    ("executions, orders running `/executions?pipeline=orders&status=running`",
     "/executions?pipeline=orders&status=running", True),
    ("executions, key part `/executions?key=shop-7`", "/executions?key=shop-7", True),
    ("dead letters `/dead-letters` (pending)", "/dead-letters", False),
    ("dead letters, reason `/dead-letters?reason=invalid_email`", "/dead-letters?reason=invalid_email", False),
    ("dead letters, page 100 `/dead-letters?page=100`", "/dead-letters?page=100", False),
    ("dead letters, reason none has `/dead-letters?reason=record_too_large`",
     "/dead-letters?reason=record_too_large", False),
)  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("console benchmark")
    group.add_argument(
        "--console-executions",
        type=int,
        default=FULL_EXECUTIONS,
        metavar="N",
        help="executions in the home (default %(default)s)",
    )
    group.add_argument(
        "--console-letters",
        type=int,
        default=FULL_LETTERS,
        metavar="N",
        help="dead letters in the home (default %(default)s)",
    )
    group.add_argument(
        "--console-orders",
        type=int,
        default=FULL_ORDERS,
        metavar="N",
        help="orders in the home, streamed into its lake when it is built (default %(default)s)",
    )
    group.add_argument(
        "--console-requests",
        type=int,
        default=200,
        metavar="N",
        help="measured requests per page (default %(default)s)",
    )
    group.add_argument(
        "--console-rate",
        type=float,
        default=2000.0,
        metavar="R",
        help="orders a second the ingest writes while pages are asked (default %(default)s; 0: none)",
    )
    group.add_argument("--console-seed", type=int, default=7, help="seed of the home (default %(default)s)")


def run(args: argparse.Namespace, work: Path, log: IO[bytes], say: Callable[[str], None]) -> Outcome:
    sizes = (args.console_executions, args.console_letters, args.console_orders)
    if min(sizes) < 1 or args.console_requests < 1 or args.console_rate < 0:
        raise SystemExit(
            "--console-executions, --console-letters, --console-orders and --console-requests "
            "must be at least 1, --console-rate at least 0"
        )
    smoke = args.console_executions < FULL_EXECUTIONS or args.console_letters < FULL_LETTERS
    outcome = Outcome(smoke=smoke)
    outcome.title = (
        f"console, {'smoke run, ' if smoke else ''}{args.console_executions:,} executions, "
        f"{args.console_letters:,} dead letters"
    )
    cli = salesflow_cli()

    cached = build_home(work, *sizes, args.console_seed, cli, log, say)
    home = work / "runs" / "console"
    shutil.rmtree(home, ignore_errors=True)
    home.parent.mkdir(parents=True, exist_ok=True)
    say(f"copying the home to {shown(home)}")
    shutil.copytree(cached, home)
    size = (home / "salesflow.db").stat().st_size
    outcome.notes.append(
        f"Home: `{shown(cached)}` (built once, copied for the run): {args.console_executions:,} executions over "
        f"{DAYS} days (orders and batch; succeeded, failed, a few running), {args.console_letters:,} dead letters "
        f"(reasons from the real validator, about 85 % pending), {args.console_orders:,} orders streamed into the "
        f"lake; database {size / (1 << 20):,.0f} MB."
    )

    port = free_port()
    server = subprocess.Popen(
        [str(cli), "--home", str(home), "run", "--port", str(port)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )
    ingest: subprocess.Popen[bytes] | None = None
    try:
        wait_ready(port, server)
        samples: dict[str, list[float]] = {path: [] for _, path, _ in PAGES}
        before = executions_and_letters(home)
        if args.console_rate:
            duration = 3600  # stopped when the measuring ends
            ingest = subprocess.Popen(
                [
                    str(cli),
                    "--home",
                    str(home),
                    "generate",
                    "--to",
                    "bucket",
                    "--rate",
                    f"{args.console_rate:g}",
                    "--duration",
                    f"{duration}s",
                    "--invalid",
                    "0.1",
                    "--updates",
                    "0.05",
                    "--seed",
                    "11",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            time.sleep(3.0)  # the first files land and executions start
        say(f"asking {len(PAGES)} pages {args.console_requests} times each (after 5 warm-up requests each)")
        started = time.perf_counter()
        load_before = os.getloadavg()[0]
        with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=60)) as conn:
            for round_ in range(5 + args.console_requests):
                for _, path, _ in PAGES:
                    seconds = fetch(conn, path)
                    if round_ >= 5:
                        samples[path].append(seconds)
        elapsed = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        after = executions_and_letters(home)
        if ingest is not None and ingest.poll() is not None:
            outcome.problems.append(f"the ingest (generate) stopped early with exit code {ingest.returncode}")
        if server.poll() is not None:
            outcome.problems.append(f"salesflow run stopped early with exit code {server.returncode}")
    finally:
        for process in (ingest, server):
            if process is not None and process.poll() is None:
                process.send_signal(2)  # Ctrl-C: both stop cleanly
        for process in (ingest, server):
            if process is not None:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    for name, path, targeted in PAGES:
        ms = sorted(s * 1000 for s in samples[path])
        p50, p95, p99 = (percentile(ms, q) for q in (50, 95, 99))
        figures = f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"
        target = f"p95 < {TARGET_P95_MS:.0f} ms" if targeted else "none (issue 6 names overview and executions)"
        met = ("yes" if p95 < TARGET_P95_MS else "NO") if targeted else "–"
        outcome.rows.append((name, figures, target, met))
        outcome.raw.setdefault("pages", {})[path] = {
            "p50": p50,
            "p95": p95,
            "p99": p99,
            "max": ms[-1],
            "mean": statistics.fmean(ms),
            "ms": ms,
        }
    new_executions, new_letters = after[0] - before[0], after[1] - before[1]
    outcome.notes.append(
        f"Ingest while measuring: `salesflow generate --to bucket --rate {args.console_rate:g} --invalid 0.1 "
        f"--updates 0.05` beside `salesflow run` (watching, streaming into the lake, serving the console); "
        f"during the {elapsed:.0f} s of requests it added {new_executions:,} executions and {new_letters:,} dead "
        f"letters. Load average {load_before:.2f} before the requests, {load_after:.2f} after."
        if args.console_rate
        else "No ingest ran (--console-rate 0)."
    )
    outcome.notes.append(
        f"{args.console_requests} requests per page, sequential on one keep-alive connection, pages in turn; "
        "latency from sending the request to reading the last byte of the reply, in this process (Python's "
        "http.client: its own cost, about 0.2 ms, is included)."
    )
    if new_executions < 1 and args.console_rate:
        outcome.problems.append("no execution was added while measuring: the ingest did not run")
    outcome.raw.update(
        {
            "elapsed": elapsed,
            "new_executions": new_executions,
            "new_letters": new_letters,
            "load": [load_before, load_after],
        }
    )
    if not (args.keep_runs or outcome.problems):
        shutil.rmtree(home, ignore_errors=True)
    return outcome


def fetch(conn: http.client.HTTPConnection, path: str) -> float:
    """Seconds to get one page, whole; raises if it is not a 200."""
    started = time.perf_counter()
    conn.request("GET", path, headers={"Accept": "text/html"})
    reply = conn.getresponse()
    body = reply.read()
    seconds = time.perf_counter() - started
    if reply.status != 200:
        text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", body.decode(errors="replace")))
        raise RuntimeError(f"GET {path} answered {reply.status}: {text[-600:]}")
    return seconds


def percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of sorted values."""
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"salesflow run exited with {server.returncode} before the console answered")
        try:
            with closing(http.client.HTTPConnection("127.0.0.1", port, timeout=5)) as conn:
                conn.request("GET", "/readyz")
                if conn.getresponse().status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the console did not answer on port {port} within {timeout:.0f} s")


def executions_and_letters(home: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(f"file:{home / 'salesflow.db'}?mode=ro", uri=True)) as conn:
        return (
            conn.execute("SELECT count(*) FROM executions").fetchone()[0],
            conn.execute("SELECT max(id) FROM dead_letters").fetchone()[0] or 0,
        )


# -- the home ------------------------------------------------------------------------


def build_home(
    work: Path,
    executions: int,
    letters: int,
    orders: int,
    seed: int,
    cli: Path,
    log: IO[bytes],
    say: Callable[[str], None],
) -> Path:
    """A home with the given numbers of executions, dead letters and orders (kept; built once).

    The ledger API would take hours for this history and would stamp every row with the
    time it was written, so rows go in with bulk inserts into the tables the ledger uses,
    with the values it would write: execution ids, statuses and counts like the orders
    and batch pipelines leave, dead letters whose reasons come from ``check_order`` on the
    faulty record, about 15 % of them redriven or discarded (older ones more often) with
    the action recorded. The orders are change records and heads (the triggers apply
    them), then ``salesflow stream run --once`` moves them into the lake.
    """
    home = work / f"console-home-e{executions}-l{letters}-o{orders}-seed{seed}"
    if (home / "built").exists():
        say(f"reusing the home in {shown(home)}")
        return home
    shutil.rmtree(home, ignore_errors=True)
    (home / "bucket").mkdir(parents=True)
    started = time.perf_counter()
    say(f"building a home of {executions:,} executions, {letters:,} dead letters, {orders:,} orders (once)")
    from salesflow.adapters.local.sqlite_db import connect
    from salesflow.domain.orders import check_order

    rng = random.Random(seed)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    begin = end - timedelta(days=DAYS)
    step = (end - begin) / executions
    conn = connect(home / "salesflow.db")
    rows, orders_executions = _executions(rng, executions, letters, begin, step)
    with closing(conn):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO executions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        conn.executemany(
            "INSERT INTO batches (id, execution_id, status, files, counts, published, started_at, finished_at, error)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            [
                (
                    f"b-{r[0][3:]}",
                    r[0],
                    r[4],
                    orjson.dumps([r[2]]).decode(),
                    "{}",
                    int(r[4] == "succeeded"),
                    r[9],
                    r[10],
                    r[11],
                )
                for r in rows
                if r[1] == "batch"
            ],
        )
        conn.execute("COMMIT")
        say(f"  executions in ({time.perf_counter() - started:.0f} s)")
        _letters(conn, rng, orders_executions, letters, end, check_order)
        say(f"  dead letters in ({time.perf_counter() - started:.0f} s)")
        _orders(conn, rng, orders_executions, orders)
        say(f"  orders in ({time.perf_counter() - started:.0f} s)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    say("  streaming the orders into the lake: salesflow stream run --once")
    subprocess.run([str(cli), "--home", str(home), "stream", "run", "--once"], check=True, stdout=log, stderr=log)
    (home / "built").write_text(f"built in {time.perf_counter() - started:.0f} s\n")
    say(f"built the home in {time.perf_counter() - started:.0f} s")
    return home


def _stamp(at: datetime) -> str:
    """A time as the ledger writes it (salesflow.clock.utc_now): ``2026-11-25T21:10:17.514Z``."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _executions(
    rng: random.Random, count: int, letters: int, begin: datetime, step: timedelta
) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, int, str]]]:
    """Execution rows, oldest first, and (id, key, records, started_at) of the orders ones that hold letters."""
    weights = [rng.lognormvariate(0, 1.2) for _ in range(count)]
    total = sum(weights)
    rows: list[tuple[Any, ...]] = []
    holders: list[tuple[str, str, int, str]] = []
    for n in range(count):
        started = begin + step * n + timedelta(seconds=rng.uniform(0, step.total_seconds() * 0.5))
        execution_id = f"ex-{hashlib.blake2b(f'{n}'.encode(), digest_size=6).hexdigest()}"
        digest = hashlib.sha256(f"object {n}".encode()).hexdigest()
        batch = rng.random() < 0.03
        recent = n >= count - 3  # the newest few are still running
        if batch:
            key = f"raw-data/orders/part-{n:06d}.csv"
            status = "running" if recent else ("failed" if rng.random() < 0.05 else "succeeded")
            records = rng.randint(5_000, 200_000)
            rejected = records // 100
            stored = records - rejected
            error = offset = None
            if status == "failed":
                error, stored = "a batch file has no header row; put a CSV with its header again", 0
        else:
            shop = rng.randrange(40)
            suffix = rng.choice((".json", ".json", ".jsonl", ".json.gz", ".ndjson"))
            key = f"orders/{started:%Y/%m/%d}/shop-{shop}-{n:06d}{suffix}"
            status = "running" if recent else ("failed" if rng.random() < 0.04 else "succeeded")
            rejected = round(letters * weights[n] / total)
            records = rejected + rng.randint(50, 5_000)
            stored = records - rejected
            error = offset = None
            if status == "failed":
                offset = rng.randrange(100, 2_000_000)
                error = f"the document is not valid JSON: unexpected end of data at byte {offset}"
                records = rejected = stored = 0
            else:
                holders.append((execution_id, key, records, _stamp(started)))
        checkpoint = records
        finished = None if status == "running" else _stamp(started + timedelta(seconds=rng.uniform(0.05, 30)))
        rows.append(
            (
                execution_id,
                "batch" if batch else "orders",
                key,
                digest,
                status,
                records,
                stored,
                rejected,
                checkpoint,
                _stamp(started),
                finished,
                error,
                offset,
            )
        )
    return rows, holders


def _letters(
    conn: sqlite3.Connection,
    rng: random.Random,
    holders: list[tuple[str, str, int, str]],
    count: int,
    end: datetime,
    check: Callable[[Any], Any],
) -> None:
    """``count`` dead letters spread over the executions as their weights say, each with its reasons."""
    weights = [rng.lognormvariate(0, 1.2) for _ in holders]
    chosen = rng.choices(range(len(holders)), weights=weights, k=count)
    chosen.sort()
    end_text = _stamp(end)
    batch: list[tuple[Any, ...]] = []
    actions: list[tuple[Any, ...]] = []
    conn.execute("BEGIN")
    for letter_id, index in enumerate(chosen, start=1):
        execution_id, key, records, started = holders[index]
        record, reasons = _faulty(rng, letter_id, key, check)
        age = 1 - index / len(holders)  # 1 for the oldest execution, 0 for the newest
        roll = rng.random()
        status, note, updated = "pending", None, started
        if roll < 0.16 * age + 0.02:
            status = "redriven" if roll < 0.11 * age + 0.015 else "discarded"
            updated = end_text if rng.random() < 0.01 else started[:10] + "T23:59:00.000Z"
            if status == "discarded":
                note = rng.choice(
                    ("test data from the shop's staging feed", "duplicate of a corrected order", "customer cancelled")
                )
                detail: dict[str, Any] = {"why": note}
            else:
                detail = {"reasons_before": reasons, "result": "stored", "order_id": str(letter_id)}
            actions.append(
                (
                    letter_id,
                    ACTIONS[status],
                    "console" if rng.random() < 0.7 else "cli",
                    updated,
                    orjson.dumps(detail).decode(),
                )
            )
        batch.append(
            (
                letter_id,
                execution_id,
                key,
                rng.randrange(records),
                orjson.dumps(reasons).decode(),
                record,
                status,
                started,
                updated,
                note,
            )
        )
        if len(batch) == 50_000:
            _insert_letters(conn, batch, actions)
    _insert_letters(conn, batch, actions)
    conn.execute("COMMIT")


def _insert_letters(conn: sqlite3.Connection, batch: list[tuple[Any, ...]], actions: list[tuple[Any, ...]]) -> None:
    conn.executemany("INSERT INTO dead_letters VALUES (?,?,?,?,?,?,?,?,?,?)", batch)
    conn.executemany(
        "INSERT INTO dead_letter_actions (letter_id, action, actor, at, detail) VALUES (?,?,?,?,?)", actions
    )
    batch.clear()
    actions.clear()


def _faulty(rng: random.Random, n: int, key: str, check: Callable[[Any], Any]) -> tuple[str, list[str]]:
    """A refused record as it arrived (JSON) and the reasons the validator gives it."""
    if key.endswith((".jsonl", ".ndjson")) and rng.random() < 0.15:
        line = f'{{"contact-info": {{"name": "{rng.choice(FIRST)}", "email": "x{n}@example.com"}}, "order-info": {{'
        return orjson.dumps(line).decode(), ["malformed_json"]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    item_id, desc, price = rng.choice(PRODUCTS)
    record: dict[str, Any] = {
        "contact-info": {"name": f"{first} {last}", "email": f"{first.lower()}{n}@example.com"},
        "order-info": {
            "OrderId": str(n),
            "item-id": item_id,
            "item-desc": desc,
            "qty": str(rng.randint(1, 5)),
            "price": price,
        },
    }
    for _ in range(1 if rng.random() < 0.85 else 2):  # some records have two faults
        kind = rng.randrange(6)
        if kind == 0:
            record.pop("contact-info", None)
        elif kind == 1:
            record["order-info"]["qty"] = rng.choice(("0", "-2", "two", ""))
        elif kind == 2 and "contact-info" in record:
            record["contact-info"]["email"] = rng.choice(("not-an-email", f"{first}@example", f"{last} at mail"))
        elif kind == 3:
            record["order-info"].pop("OrderId", None)
        elif kind == 4:
            record["order-info"]["price"] = rng.choice(("-1", "abc", "1,99"))
        else:
            record["order-info"] = {}
    outcome = check(record)
    reasons = [str(reason) for reason in outcome] if isinstance(outcome, list) else ["write_failed"]
    return orjson.dumps(record).decode(), reasons


def _orders(conn: sqlite3.Connection, rng: random.Random, holders: list[tuple[str, str, int, str]], count: int) -> None:
    """``count`` orders as change records, one commit per execution that stored some, oldest first."""
    per = max(1, count // len(holders))
    conn.execute("BEGIN")
    written = 0
    for commit_id, (execution_id, key, _, started) in enumerate(holders, start=1):
        take = min(per if commit_id < len(holders) else count - written, count - written)
        if take <= 0:
            break
        conn.execute(
            "INSERT INTO commits (id, execution_id, source_key, committed_at) VALUES (?,?,?,?)",
            (commit_id, execution_id, key, started),
        )
        changes = []
        for position in range(take):
            written += 1
            first, last = rng.choice(FIRST), rng.choice(LAST)
            item_id, desc, price = rng.choice(PRODUCTS)
            image = {
                "contact_info": {"name": f"{first} {last}", "email": f"{first.lower()}{written}@example.com"},
                "order_info": {
                    "order_id": str(written),
                    "item_id": item_id,
                    "product_name": desc,
                    "quantity": rng.randint(1, 5),
                    "price": price,
                },
            }
            changes.append((str(written), orjson.dumps(image).decode(), commit_id, position))
        conn.executemany(
            "INSERT INTO change_log (order_id, image, prev_sequence, commit_id, source_position)"
            " VALUES (?, ?, NULL, ?, ?)",
            changes,
        )
    conn.execute("COMMIT")
