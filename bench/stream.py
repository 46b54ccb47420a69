"""The stream benchmark of issue 5: throughput, freshness and SQL over the lake, in one run.

Measured:

1. throughput: ``salesflow --home H stream run --once`` in a subprocess, from a copy of
   a prepared database holding 1,000,000 change records and an empty lake: changes/s
   and peak RSS of the process tree (measure.py). Then the same drain in this process
   with a timer around each part (read from the change log, transform, lake append,
   compaction) for the split.
2. freshness: ``salesflow --home H run`` (watch mode, the stream on a thread, default
   settings) on a fresh home, and ``salesflow --home H generate --rate 1000 --duration 60s``
   beside it; the lake's Delta table is polled every 100 ms and the first time each
   sequence is seen is kept; latency = first seen - ``commits.committed_at``.
3. query: a lake of 10,000,000 rows in 2,000 files (written once with write_deltalake
   in 2,000 appends, kept in the work folder); the units-per-product query over
   ``orders_current`` and over ``order_changes`` through ``sql_engine`` (median of 5,
   after one warm-up run), then ``DeltaLake.compact()`` on a copy, timed, and the
   queries again. The window of ``orders_current`` is profiled against other ways
   to say "latest change of each order".

Prepared inputs (the change-log database, the 10M-row lake) are kept in the work folder,
keyed by size and seed, so reruns skip building them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.measure import Measurement, _TreeSampler, empty_folder, mb, measure, raw, salesflow_cli, shown
from bench.orders import Outcome

MB = 1 << 20
FULL_CHANGES = 1_000_000
FULL_QUERY_ROWS = 10_000_000
FULL_QUERY_FILES = 2_000
FULL_FRESHNESS_SECONDS = 60.0

TARGET_RATE = 100_000
TARGET_RSS = 300 * MB
TARGET_P99 = 2.0
TARGET_QUERY = 0.5
TARGET_QUERY_COMPACTED = 0.2
TARGET_COMPACT = 15.0
CHECK_ROWS, CHECK_FILES = 200_000, 40  # the lake orders_current is checked on
TAIL_FILES, TAIL_ROWS = 50, 5_000  # appended after the compaction: the stream's files between two compactions
# Part of the query lake's folder name: bump it when LAKE_SCHEMA or the rows change.
LAKE_LAYOUT = "v4-through"

POLL_SECONDS = 0.1
UNITS_CURRENT = "SELECT product_name, SUM(quantity) FROM orders_current GROUP BY product_name"
UNITS_CHANGES = (
    "SELECT product_name, SUM(quantity) FROM order_changes WHERE event_type IN ('INSERT', 'MODIFY') "
    "GROUP BY product_name"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stream benchmark")
    group.add_argument(
        "--changes",
        type=int,
        default=FULL_CHANGES,
        metavar="N",
        help="change records for the throughput figure (default %(default)s; the database is built once, "
        "about 20 s, and kept)",
    )
    group.add_argument(
        "--stream-rounds",
        type=int,
        default=2,
        metavar="R",
        help="timed `stream run --once` runs, median reported (default %(default)s)",
    )
    group.add_argument(
        "--freshness-seconds",
        type=float,
        default=FULL_FRESHNESS_SECONDS,
        metavar="S",
        help="how long the generator runs for the freshness figure (default %(default)s, as issue 5 asks; "
        "shorter only while developing)",
    )
    group.add_argument(
        "--freshness-rate", type=float, default=1000.0, metavar="N", help="generator writes/s (default %(default)s)"
    )
    group.add_argument(
        "--query-rows",
        type=int,
        default=FULL_QUERY_ROWS,
        metavar="N",
        help="lake rows for the query figures (default %(default)s; the lake is written once, a few minutes, "
        "about 1 GB, and kept)",
    )
    group.add_argument(
        "--query-files",
        type=int,
        default=FULL_QUERY_FILES,
        metavar="N",
        help="files of that lake (default %(default)s)",
    )
    group.add_argument(
        "--skip-stream",
        action="append",
        choices=("throughput", "freshness", "query"),
        default=[],
        help="skip a part of the stream benchmark (repeatable)",
    )


def run(args: argparse.Namespace, work: Path, log: IO[bytes], say: Callable[[str], None]) -> Outcome:
    if args.changes < 1 or args.stream_rounds < 1 or args.query_rows < 1 or not 0 < args.query_files <= args.query_rows:
        raise SystemExit("--changes, --stream-rounds, --query-rows must be at least 1, --query-files 1 to --query-rows")
    outcome = Outcome()
    smoke = (
        args.changes < FULL_CHANGES
        or args.freshness_seconds < FULL_FRESHNESS_SECONDS
        or args.query_rows < FULL_QUERY_ROWS
        or args.query_files != FULL_QUERY_FILES
        or bool(args.skip_stream)
    )
    outcome.smoke = smoke
    outcome.title = (
        f"stream, {'smoke run, ' if smoke else ''}{args.changes:,} changes, {args.freshness_seconds:g} s at "
        f"{args.freshness_rate:g}/s, {args.query_rows:,} lake rows in {args.query_files:,} files"
    )
    cli = salesflow_cli()
    runs = empty_folder(work / "stream-runs")
    tuned = sorted(f"`{name}={value}`" for name, value in os.environ.items() if name.startswith("SALESFLOW_"))
    outcome.notes.append(f"salesflow settings: {', '.join(tuned) if tuned else 'the defaults'}.")

    if "throughput" not in args.skip_stream:
        _throughput(args, cli, work, runs, log, outcome, say)
    if "freshness" not in args.skip_stream:
        _freshness(args, cli, runs, log, outcome, say)
    if "query" not in args.skip_stream:
        _query(args, work, runs, outcome, say)
    outcome.notes.append(f"Load average at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min).")
    if not args.keep_runs and not outcome.problems:
        shutil.rmtree(runs, ignore_errors=True)
    return outcome


# -- 1. throughput ----------------------------------------------------------------------------


def prepare_changes(work: Path, changes: int, seed: int, say: Callable[[str], None]) -> Path:
    """A database whose change log holds exactly ``changes`` records, built once and kept.

    Written by the generator's own factory and table sink, the path the orders pipeline
    takes (check_order, one chunk = one transaction per 10,000 writes), with 10 % updates and
    2 % deletes, so the feed's join to the previous image is exercised; no invalid records,
    so every write is one change."""
    folder = work / f"stream-changes-{changes}-seed{seed}"
    database = folder / "salesflow.db"
    if database.exists():
        return database
    from salesflow.adapters.local.sqlite_db import connect
    from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
    from salesflow.retry import RetryPolicy
    from salesflow.runtime.generator import GeneratorOptions, OrderFactory, TableSink

    say(f"building a change log of {changes:,} records (once; kept in {shown(folder)})")
    building = folder.with_name(folder.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    started = time.perf_counter()
    ledger = SqliteOrderLedger(connect(building / "salesflow.db"))
    options = GeneratorOptions(rate=1.0, seed=seed, updates=0.1, deletes=0.02)
    factory = OrderFactory(options)
    sink = TableSink(ledger, f"bench/stream-{changes}-seed{seed}", f"bench-{changes}-{seed}", RetryPolicy())
    left = changes
    while left:
        writes = [factory.next_write() for _ in range(min(left, 10_000))]
        sink.write(writes)
        left -= len(writes)
    sink.close(None)
    ledger.close()
    with closing(sqlite3.connect(building / "salesflow.db")) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        counted = conn.execute("SELECT count(*), min(sequence), max(sequence) FROM change_log").fetchone()
    if tuple(counted) != (changes, 1, changes):
        raise SystemExit(f"the change log built in {building} holds {counted}, not {changes:,} changes 1..N")
    building.rename(folder)
    say(f"built the change log in {time.perf_counter() - started:.1f} s")
    return database


def _throughput(
    args: argparse.Namespace,
    cli: Path,
    work: Path,
    runs: Path,
    log: IO[bytes],
    outcome: Outcome,
    say: Callable[[str], None],
) -> None:
    database = prepare_changes(work, args.changes, args.seed, say)
    kinds = _change_kinds(database)
    measured: list[Measurement] = []
    for round_ in range(1, args.stream_rounds + 1):
        home = _home_with(database, runs / f"throughput-{round_}")
        say(f"round {round_}/{args.stream_rounds}: salesflow stream run --once over {args.changes:,} changes")
        result = measure([("stream", [str(cli), "--home", str(home), "stream", "run", "--once"])], log=log)
        measured.append(result)
        problem = _lake_holds(home / "lake" / "orders", args.changes)
        if problem:
            outcome.problems.append(f"throughput round {round_}: {problem} (home kept: {home})")
        elif not args.keep_runs:
            shutil.rmtree(home)
    seconds = statistics.median(m.seconds for m in measured)
    rate = args.changes / seconds
    peak = max(m.peak_rss for m in measured)
    label = f"median of {len(measured)}"
    outcome.row(f"stream run --once, {args.changes:,} changes into an empty lake: time ({label})", f"{seconds:.2f} s")
    outcome.row("stream: changes/s (process start to exit)", f"{rate:,.0f}", f">= {TARGET_RATE:,}", rate >= TARGET_RATE)
    outcome.row("stream peak RSS (process tree, worst run)", mb(peak), "< 300 MB", peak < TARGET_RSS)
    outcome.row("stream ru_maxrss (worst run)", mb(max(m.max_rss for m in measured)))

    say("profile: the same drain in this process, timing each part")
    home = _home_with(database, runs / "throughput-profile")
    parts = profile_drain(home)
    total = parts.pop("total")
    flushes = int(parts.pop("flushes"))
    split = ", ".join(f"{name} {seconds:.2f} s ({seconds / total:.0%})" for name, seconds in parts.items())
    outcome.row("stream drain in process (no start-up): changes/s", f"{args.changes / total:,.0f}", "for comparison")
    outcome.notes.append(
        f"Throughput input: `{shown(database)}`, {args.changes:,} change records ({kinds}) written by the "
        "generator's factory through the ledger, 10,000 writes a commit, all within a minute or so, so the lake "
        "gets one or two dt/hour partitions. Each timed run copies the database into a fresh home with no lake."
    )
    outcome.notes.append(
        "Rounds: "
        + "; ".join(f"{m.seconds:.2f} s, peak {mb(m.peak_rss)} (PSS {mb(m.peak_pss)})" for m in measured)
        + "."
    )
    outcome.notes.append(f"Drain split (in process, {total:.2f} s in all, {flushes} lake commits): {split}.")
    outcome.raw["throughput"] = {"runs": [raw(m) for m in measured], "profile": {"total": total, **parts}}
    shutil.rmtree(home, ignore_errors=True)


def _home_with(database: Path, home: Path) -> Path:
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copyfile(database, home / "salesflow.db")
    return home


def _change_kinds(database: Path) -> str:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        counts = conn.execute("SELECT event_type, count(*) FROM change_log GROUP BY event_type ORDER BY 1").fetchall()
    return ", ".join(f"{count:,} {kind}" for kind, count in counts)


def _lake_holds(table: Path, changes: int) -> str | None:
    """None when the lake holds sequences 1..changes exactly once; else what is wrong."""
    from deltalake import DeltaTable

    sequences = DeltaTable(table).to_pyarrow_table(columns=["sequence"]).column("sequence")
    distinct = pc.count_distinct(sequences).as_py()
    low, high = pc.min(sequences).as_py(), pc.max(sequences).as_py()
    if (len(sequences), distinct, low, high) != (changes, changes, 1, changes):
        return f"the lake holds {len(sequences):,} rows, {distinct:,} distinct sequences {low}..{high}"
    return None


def profile_drain(home: Path) -> dict[str, float]:
    """Drain the stream of a home in this process, timing the parts; seconds by part."""
    from salesflow.runtime.settings import Settings
    from salesflow.runtime.stream import build_stream

    stream = build_stream(Settings(home=home))
    spent = {"read": 0.0, "transform": 0.0, "lake append": 0.0, "compaction + vacuum": 0.0}

    def timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*a: Any, **k: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*a, **k)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    feed, lake = stream.feed, stream.lake
    # setattr: the instances' methods are wrapped on purpose (mypy refuses method assignment).
    setattr(feed, "read_after", timed("read", feed.read_after))  # noqa: B010
    stream.transform = timed("transform", stream.transform)
    setattr(lake, "append", timed("lake append", lake.append))  # noqa: B010
    setattr(lake, "compact", timed("compaction + vacuum", lake.compact))  # noqa: B010
    setattr(lake, "vacuum", timed("compaction + vacuum", lake.vacuum))  # noqa: B010
    started = time.perf_counter()
    try:
        stream.drain()
    finally:
        stream.close()
    total = time.perf_counter() - started
    spent["rest (buffer, concat, position)"] = total - sum(spent.values())
    return {**spent, "total": total, "flushes": float(stream.counters.flushes)}


# -- 2. freshness ---------------------------------------------------------------------------


def _freshness(
    args: argparse.Namespace, cli: Path, runs: Path, log: IO[bytes], outcome: Outcome, say: Callable[[str], None]
) -> None:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    home = runs / "freshness"
    home.mkdir(parents=True)
    table_path = home / "lake" / "orders"
    seconds = args.freshness_seconds
    say(f"freshness: salesflow run (watching) + generate --rate {args.freshness_rate:g} for {seconds:g} s")
    log.write(f"$ {cli} --home {home} run\n".encode())
    log.flush()
    runner = subprocess.Popen([str(cli), "--home", str(home), "run"], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    sampler = _TreeSampler(runner.pid)
    sampler.start()
    first_seen: dict[int, float] = {}
    polls: list[float] = []
    generator: subprocess.Popen[bytes] | None = None
    try:
        _wait_for(lambda: (home / "lake" / ".stream.lock").exists() or runner.poll() is not None, 30)
        time.sleep(1.0)  # the runner's first pass over the empty bucket, then the stream thread starts
        command = [
            str(cli), "--home", str(home), "generate", "--rate", f"{args.freshness_rate:g}",
            "--duration", f"{seconds:g}s", "--seed", str(args.seed), "--json",
        ]  # fmt: skip
        generator = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        table: Any = None
        seen_files: set[str] = set()
        deadline: float | None = None
        expected: int | None = None
        while True:
            tick = time.monotonic()
            if table is None:
                try:
                    table = DeltaTable(table_path)
                except TableNotFoundError:
                    table = None
            else:
                table.update_incremental()
            if table is not None:
                now = time.time()  # visible by now: the snapshot was loaded before this moment
                for uri in table.file_uris():
                    if uri not in seen_files:
                        seen_files.add(uri)
                        for sequence in pq.read_table(uri.removeprefix("file://"), columns=["sequence"]).column(0):
                            first_seen.setdefault(sequence.as_py(), now)
            polls.append(time.monotonic() - tick)
            if generator.poll() is not None and expected is None:
                expected = _change_count(home / "salesflow.db")
                deadline = time.monotonic() + 30
            if expected is not None and (len(first_seen) >= expected or time.monotonic() > (deadline or 0)):
                break
            time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - tick)))
        summary = generator.stdout.read().decode() if generator.stdout else ""
    finally:
        if generator is not None and generator.poll() is None:
            generator.send_signal(signal.SIGINT)
            generator.wait()
        runner.send_signal(signal.SIGINT)
        try:
            runner.wait(30)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
        sampler.stop.set()
        sampler.join()
    if generator.returncode != 0:
        outcome.problems.append(f"freshness: the generator exited with {generator.returncode} (see {log.name})")

    committed = _commit_times(home / "salesflow.db")
    latencies = [first_seen[s] - at for s, at in committed.items() if s in first_seen]
    missing = len(committed) - len(latencies)
    if missing:
        outcome.problems.append(f"freshness: {missing:,} of {len(committed):,} changes never seen in the lake")
    if not latencies:
        outcome.problems.append("freshness: no change was seen in the lake")
        return
    p50, p99 = (float(x) for x in np.percentile(latencies, [50, 99]))
    worst = max(latencies)
    outcome.row(
        f"freshness, {len(latencies):,} changes at {args.freshness_rate:g}/s for {seconds:g} s: p50", f"{p50:.2f} s"
    )
    outcome.row("freshness: p99, commit to visible in the lake", f"{p99:.2f} s", "< 2 s", p99 < TARGET_P99)
    outcome.row("freshness: max", f"{worst:.2f} s")
    outcome.row("salesflow run (watching + stream) peak RSS during it", mb(sampler.peak))
    outcome.notes.append(
        f"Freshness: first seen = the time a poll of the Delta table (every {POLL_SECONDS * 1000:.0f} ms; "
        f"a poll took {statistics.median(polls) * 1000:.0f} ms median) first listed a file holding the change; "
        "so figures overstate by up to a poll interval. Generator: "
        + (summary.strip().replace("\n", " ") or "no summary")
        + "."
    )
    outcome.raw["freshness"] = {
        "changes": len(committed),
        "seen": len(latencies),
        "p50": p50,
        "p99": p99,
        "max": worst,
        "peak_rss": sampler.peak,
        "poll_median": statistics.median(polls),
        "generator": summary,
    }


def _wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up after {seconds:g} s waiting for salesflow run to start")
        time.sleep(0.05)


def _change_count(database: Path) -> int:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return int(conn.execute("SELECT count(*) FROM change_log").fetchone()[0])


def _commit_times(database: Path) -> dict[int, float]:
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT c.sequence, m.committed_at FROM change_log AS c JOIN commits AS m ON m.id = c.commit_id"
        ).fetchall()
    return {
        int(sequence): datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()
        for sequence, at in rows
    }


# -- 3. query -------------------------------------------------------------------------------


def prepare_lake(work: Path, rows: int, files: int, seed: int, say: Callable[[str], None]) -> Path:
    """A home whose lake holds ``rows`` change rows in ``files`` appends, built once and kept.

    Rows look like the stream's: 88 % INSERT, 10 % MODIFY, 2 % REMOVE (updates and removals
    pick among the latest 10,000 orders still there, as the generator does, and point
    ``prev_sequence`` at the change they replace), the generator's catalogue and customers,
    quantities 1 to 5, images as JSON; event times spread over 4 hours (one dt/hour
    partition each) when the files divide by 4. The folder's name carries LAKE_LAYOUT, so a
    lake written for an older schema is rebuilt (and the old one removed)."""
    from deltalake import CommitProperties, Transaction, write_deltalake

    from salesflow.adapters.local.delta_lake import APP_ID, LAKE_WRITER

    home = work / f"stream-lake-{rows}-files{files}-seed{seed}-{LAKE_LAYOUT}"
    if (home / "lake" / "orders" / "_delta_log").exists():
        return home
    stem = f"stream-lake-{rows}-files{files}-seed{seed}"
    for stale in work.glob(f"{stem}*"):
        if stale != home and (stale.name == stem or stale.name.startswith(f"{stem}-v")):
            say(f"removing {shown(stale)}: written with an older lake schema")
            shutil.rmtree(stale)
    say(f"writing a lake of {rows:,} rows in {files:,} appends (once; kept in {shown(home)})")
    building = home.with_name(home.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    table = building / "lake" / "orders"
    table.mkdir(parents=True)
    maker = _LakeRows(rows, 4 if files % 4 == 0 else 1, seed)
    started = time.perf_counter()
    base, extra = divmod(rows, files)
    for number in range(files):
        size = base + (1 if number < extra else 0)
        # Each append records the last sequence it holds, as the stream's do (compaction's mark).
        through = CommitProperties(
            app_transactions=[Transaction(app_id=APP_ID, version=maker.next_sequence + size - 1)]
        )
        write_deltalake(
            table,
            maker.next(size),
            mode="append",
            partition_by=["dt", "hour"],
            writer_properties=LAKE_WRITER,
            commit_properties=through,
        )
        if (number + 1) % 200 == 0:
            say(f"  {number + 1:,} of {files:,} files ({time.perf_counter() - started:.0f} s)")
    building.rename(home)
    return home


class _LakeRows:
    """Rows of LAKE_SCHEMA, a slice at a time, in sequence order."""

    def __init__(self, rows: int, hours: int, seed: int) -> None:
        from salesflow.runtime.generator import CATALOGUE, CUSTOMERS, EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES

        self.rng = np.random.default_rng(seed)
        self.rows, self.next_sequence, self.inserted = rows, 1, 0
        # latest[n]: the sequence of order n's latest change; 0 before its INSERT, -1 once removed.
        self.latest = np.zeros(rows + 2, dtype=np.int64)
        self.start = datetime(2026, 11, 20, 8, tzinfo=UTC)
        self.span = timedelta(hours=hours)
        names = []
        for n in range(CUSTOMERS):
            first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n * 7) % len(LAST_NAMES)]
            local = f"{first}.{last}".lower().replace("-", "")
            names.append((f"{first} {last}", f"{local}{n}@{EMAIL_DOMAINS[n % len(EMAIL_DOMAINS)]}"))
        self.customer_name = pa.array([n for n, _ in names])
        self.customer_email = pa.array([e for _, e in names])
        self.item_id = pa.array([p.item_id for p in CATALOGUE])
        self.product_name = pa.array([p.name for p in CATALOGUE])
        self.price_text = pa.array([str(p.price) for p in CATALOGUE])

    def next(self, size: int) -> pa.Table:
        from salesflow.pipelines.stream_transform import LAKE_SCHEMA

        rng = self.rng
        sequence = np.arange(self.next_sequence, self.next_sequence + size, dtype=np.int64)
        kind = rng.choice(3, size=size, p=[0.88, 0.10, 0.02])  # INSERT, MODIFY, REMOVE
        kind[sequence <= 1000] = 0  # something to change first
        inserts = np.cumsum(kind == 0) + self.inserted  # orders inserted up to and including each row
        back = rng.integers(0, np.minimum(inserts, 10_000).clip(min=1))
        number = np.where(kind == 0, inserts, np.maximum(inserts - back, 1))
        prev = self._chain(sequence, kind, number)
        self.inserted = int(inserts[-1])
        self.next_sequence += size
        order_id = pa.array([f"bench-{n:08d}" for n in number.tolist()])
        customer, product = rng.integers(0, len(self.customer_name), size), rng.integers(0, len(self.item_id), size)
        quantity = rng.integers(1, 6, size)
        name, email = self.customer_name.take(customer), self.customer_email.take(customer)
        item, pname, price = self.item_id.take(product), self.product_name.take(product), self.price_text.take(product)

        def image(q: np.ndarray[Any, Any]) -> pa.Array:
            parts = [
                '{"contact_info":{"name":"', name, '","email":"', email, '"},"order_info":{"order_id":"', order_id,
                '","item_id":"', item, '","product_name":"', pname, '","quantity":', pa.array(q.astype(str)),
                ',"price":"', price, '"}}',
            ]  # fmt: skip
            return pc.binary_join_element_wise(*parts, "")

        removed, inserted = pa.array(kind == 2), pa.array(kind == 0)
        new_image = image(quantity)
        old_image = image((quantity % 5) + 1)

        def unless_removed(values: pa.Array) -> pa.Array:
            return pc.if_else(removed, pa.nulls(size, values.type), values)

        start_us = int(self.start.timestamp() * 1_000_000)
        span_us = int(self.span.total_seconds() * 1_000_000)
        event_time = pa.array(start_us + (sequence - 1) * span_us // self.rows, pa.timestamp("us", tz="UTC"))
        table = pa.table(
            {
                "sequence": sequence,
                "event_type": pa.array(np.array(["INSERT", "MODIFY", "REMOVE"])[kind]),
                "event_time": event_time,
                "order_id": order_id,
                "customer_name": unless_removed(name),
                "customer_email": unless_removed(email),
                "item_id": unless_removed(item),
                "product_name": unless_removed(pname),
                "quantity": unless_removed(pa.array(quantity)),
                "price": unless_removed(price.cast(LAKE_SCHEMA.field("price").type)),
                "new_image": unless_removed(new_image),
                "old_image": pc.if_else(inserted, pa.nulls(size, pa.string()), old_image),
                "prev_sequence": pa.array(prev, mask=kind == 0),
                "dt": pc.strftime(event_time, "%Y-%m-%d"),
                "hour": pc.strftime(event_time, "%H"),
            }
        )
        return table.cast(LAKE_SCHEMA)

    def _chain(self, sequence: np.ndarray[Any, Any], kind: np.ndarray[Any, Any], number: np.ndarray[Any, Any]) -> Any:
        """prev_sequence of each row (0 for an INSERT); ``number`` is moved off removed orders.

        An update or removal aimed at an order already removed goes to the nearest older
        order still there (as the generator picks among live orders), so each order's
        chain is INSERT, MODIFY..., then at most one REMOVE, and every prev_sequence is
        the change of the same order just before it."""
        latest = self.latest
        inserted = kind == 0
        latest[number[inserted]] = sequence[inserted]  # each order is inserted once, before its changes
        prev = np.zeros(len(sequence), dtype=np.int64)
        for i in np.flatnonzero(~inserted).tolist():
            n = int(number[i])
            while n > 0 and latest[n] <= 0:
                n -= 1
            if n == 0:
                raise SystemExit("bench lake: no live order left to change; use more rows per file")
            number[i] = n
            prev[i] = latest[n]
            latest[n] = -1 if kind[i] == 2 else sequence[i]
        return prev


def _query(args: argparse.Namespace, work: Path, runs: Path, outcome: Outcome, say: Callable[[str], None]) -> None:
    from salesflow.adapters.local.delta_lake import DeltaLake

    say(f"query: orders_current against its window definition on a lake of {CHECK_ROWS:,} rows, then compacted")
    check_home = prepare_lake(work, CHECK_ROWS, CHECK_FILES, args.seed, say)
    check_copy = runs / "check-compacted"
    shutil.copytree(check_home, check_copy)
    DeltaLake(check_copy / "lake").compact()
    problems = [f"{label}: {p}" for label, p in (("as written", check_current(check_home)),
                ("compacted", check_current(check_copy))) if p]  # fmt: skip
    shutil.rmtree(check_copy, ignore_errors=True)
    if problems:
        outcome.problems.extend(f"query: {problem}" for problem in problems)
    else:
        outcome.notes.append(
            f"Check: on a lake of {CHECK_ROWS:,} rows ({CHECK_FILES} files, same generator), every prev_sequence "
            "is the change of the same order just before it, and orders_current equals the window "
            "definition (row_number per order_id by sequence desc, latest not a REMOVE), row for row; "
            "so it does on a compacted copy (.current and .superseded files)."
        )
    home = prepare_lake(work, args.query_rows, args.query_files, args.seed, say)
    lake = DeltaLake(home / "lake")
    files = len(lake.files())
    say(f"query: {args.query_rows:,} rows in {files:,} files")
    before = {
        "orders_current": _timed_query(home, UNITS_CURRENT),
        "order_changes": _timed_query(home, UNITS_CHANGES),
    }
    say("query: profile of orders_current")
    profile = profile_current(home)

    copy = runs / "query-compacted"
    say(f"query: copying the lake to {shown(copy)} and compacting it")
    shutil.copytree(home, copy)
    started = time.perf_counter()
    compacted = DeltaLake(copy / "lake").compact()
    compact_seconds = time.perf_counter() - started
    files_after = len(DeltaLake(copy / "lake").files())
    after = {
        "orders_current": _timed_query(copy, UNITS_CURRENT),
        "order_changes": _timed_query(copy, UNITS_CHANGES),
    }
    for view in before:
        if before[view][1] != after[view][1]:
            outcome.problems.append(f"query: {view} answers differently after compaction")
    tail_rows = min(TAIL_ROWS, args.query_rows // 100)  # a smoke run's lake has fewer orders to update
    say(f"query: {TAIL_FILES} appends of {tail_rows:,} changes after the compaction, as the stream leaves the lake")
    append_an_hour(copy / "lake", args.seed, tail_rows)
    tail = {"orders_current": _timed_query(copy, UNITS_CURRENT), "order_changes": _timed_query(copy, UNITS_CHANGES)}
    if tail["orders_current"][1] != units_by_anti_join(copy / "lake"):
        outcome.problems.append("query: orders_current over the compacted lake and its new hour answers wrongly")

    label = f"{args.query_rows:,} rows in {files:,} files"
    outcome.row(
        f"units per product over orders_current, {label}: median of 5, warm",
        f"{before['orders_current'][0]:.3f} s",
        "< 0.5 s",
        before["orders_current"][0] < TARGET_QUERY,
    )
    outcome.row(
        "units per product over order_changes (INSERT and MODIFY rows), same lake",
        f"{before['order_changes'][0]:.3f} s",
        "< 0.5 s",
        before["order_changes"][0] < TARGET_QUERY,
    )
    outcome.row(
        f"compaction of those files (DeltaLake.compact(), {files:,} -> {files_after:,} files)",
        f"{compact_seconds:.2f} s",
        "< 15 s",
        compact_seconds < TARGET_COMPACT,
    )
    outcome.row(
        "units per product over orders_current after compaction",
        f"{after['orders_current'][0]:.3f} s",
        "< 0.2 s",
        after["orders_current"][0] < TARGET_QUERY_COMPACTED,
    )
    outcome.row(
        "units per product over order_changes after compaction",
        f"{after['order_changes'][0]:.3f} s",
        "< 0.2 s",
        after["order_changes"][0] < TARGET_QUERY_COMPACTED,
    )
    outcome.row(
        f"units per product over orders_current, the compacted lake and {TAIL_FILES} appends since (normal running)",
        f"{tail['orders_current'][0]:.3f} s",
        "",
        None,
    )
    outcome.row("the same over order_changes", f"{tail['order_changes'][0]:.3f} s", "", None)
    size = sum(p["bytes"] for p in lake.partitions())
    outcome.notes.append(
        f"Query lake: `{shown(home)}`, {args.query_rows:,} rows, {files:,} files, {size / MB:,.0f} MB, "
        f"{len(lake.partitions())} dt/hour partitions; written with write_deltalake in {args.query_files:,} appends "
        "(ZSTD 1, as the stream writes). Queries through `sql_engine(settings).query(sql)`, each a new DuckDB "
        "connection, the lake's file list loaded from the Delta log, as `salesflow sql` does; one warm-up, then 5."
    )
    outcome.notes.append(
        f"Normal running: after the compaction, {TAIL_FILES} appends of {tail_rows:,} changes each in a new hour "
        "(what the stream leaves between two compactions of its hour at the default compact_files), 10 % of them "
        "updates of orders picked at random among the current ones; orders_current checked against the anti-join "
        "over every file."
    )
    timed = {**before, **{f"{k} (compacted)": v for k, v in after.items()}}
    timed.update({f"{k} (compacted + {TAIL_FILES} appends)": v for k, v in tail.items()})
    for name, (_seconds, result, runs_) in timed.items():
        outcome.notes.append(f"{name}: " + ", ".join(f"{r:.3f}" for r in runs_) + f" s; {len(result)} products.")
    outcome.notes.append(
        "Profile of orders_current (same files, one DuckDB connection, best of 3): "
        + "; ".join(f"{name} {seconds:.3f} s" for name, seconds in profile.items())
        + "."
    )
    outcome.raw["query"] = {
        "files": files,
        "before": {k: v[2] for k, v in before.items()},
        "after": {k: v[2] for k, v in after.items()},
        "after_appends": {k: v[2] for k, v in tail.items()},
        "compact_seconds": compact_seconds,
        "compacted": compacted,
        "profile": profile,
    }
    shutil.rmtree(copy, ignore_errors=True)


def append_an_hour(lake: Path, seed: int, size: int) -> None:
    """TAIL_FILES appends of ``size`` changes each, in the hour after the lake's last, each
    recording its last sequence as the stream's do: 90 % inserts of new orders, 10 % updates
    of current orders picked at random (each order once), quantity changed."""
    import duckdb
    from deltalake import CommitProperties, Transaction, write_deltalake

    from salesflow.adapters.local.delta_lake import APP_ID, LAKE_WRITER, DeltaLake

    table = DeltaLake(lake)
    _, plan = table.current_plan()
    last = table.written_through()
    rows = TAIL_FILES * size
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET VARIABLE files = $1::VARCHAR[]", [plan.rows])
        changes = con.sql(
            f"""
            WITH picked AS (
                SELECT * FROM read_parquet(getvariable('files'), hive_partitioning = false)
                WHERE event_type <> 'REMOVE' USING SAMPLE reservoir({rows} ROWS) REPEATABLE ({seed})
            ), numbered AS (SELECT *, row_number() OVER () AS n FROM picked)
            SELECT {last} + n AS sequence,
                   CASE WHEN n % 10 = 0 THEN 'MODIFY' ELSE 'INSERT' END AS event_type,
                   TIMESTAMPTZ '2026-11-20 12:00:00+00' + to_microseconds(n * 10000) AS event_time,
                   CASE WHEN n % 10 = 0 THEN order_id ELSE printf('tail-%08d', n) END AS order_id,
                   customer_name, customer_email, item_id, product_name,
                   CASE WHEN n % 10 = 0 THEN quantity % 5 + 1 ELSE quantity END AS quantity,
                   price, new_image,
                   CASE WHEN n % 10 = 0 THEN new_image END AS old_image,
                   CASE WHEN n % 10 = 0 THEN sequence END AS prev_sequence,
                   '2026-11-20' AS dt, '12' AS hour
            FROM numbered ORDER BY n"""
        ).to_arrow_table()
    finally:
        con.close()
    schema = pq.read_schema(plan.rows[0])
    for number in range(TAIL_FILES):
        part = changes.slice(number * size, size)
        part = part.cast(pa.schema([*schema, pa.field("dt", pa.string()), pa.field("hour", pa.string())]))
        through = CommitProperties(app_transactions=[Transaction(app_id=APP_ID, version=last + (number + 1) * size)])
        write_deltalake(
            lake / "orders",
            part,
            mode="append",
            partition_by=["dt", "hour"],
            writer_properties=LAKE_WRITER,
            commit_properties=through,
        )


def units_by_anti_join(lake: Path) -> list[tuple[Any, ...]]:
    """The units query's answer by the plain anti-join over every file of the lake."""
    import duckdb

    from salesflow.adapters.local.delta_lake import DeltaLake

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET VARIABLE files = $1::VARCHAR[]", [DeltaLake(lake).files()])
        rows = con.execute(
            """SELECT product_name, SUM(quantity) FROM read_parquet(getvariable('files'), hive_partitioning = false) c
               ANTI JOIN (SELECT prev_sequence FROM read_parquet(getvariable('files'), hive_partitioning = false)
                          WHERE prev_sequence IS NOT NULL) r ON r.prev_sequence = c.sequence
               WHERE c.event_type <> 'REMOVE' GROUP BY product_name"""
        ).fetchall()
    finally:
        con.close()
    return sorted(rows, key=repr)


def _timed_query(home: Path, sql: str, runs: int = 5) -> tuple[float, list[tuple[Any, ...]], list[float]]:
    """Median seconds of ``runs`` warm runs through the SQL engine, the sorted result, each run's seconds."""
    from salesflow.runtime.settings import Settings
    from salesflow.runtime.sql import sql_engine

    engine = sql_engine(Settings(home=home))
    result = sorted(engine.query(sql).rows, key=repr)  # warm-up
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        engine.query(sql)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result, seconds


def check_current(home: Path) -> str | None:
    """None when the lake's prev_sequence chains are sound and orders_current, as the SQL
    engine defines it, equals the window definition of "each order's latest change, unless
    it removed the order"; else what differs."""
    import duckdb

    from salesflow.adapters.local.delta_lake import DeltaLake
    from salesflow.runtime.settings import Settings
    from salesflow.runtime.sql import sql_engine

    columns = "order_id, customer_name, customer_email, item_id, product_name, quantity, price, record, sequence"
    current = sql_engine(Settings(home=home)).query(f"SELECT {columns} FROM orders_current ORDER BY sequence").rows
    con = duckdb.connect(":memory:")
    try:
        listed = ", ".join("'" + f.replace("'", "''") + "'" for f in DeltaLake(home / "lake").files())
        con.execute(f"CREATE VIEW c AS SELECT * FROM read_parquet([{listed}])")
        broken = con.execute(
            """SELECT count(*) FROM (
                   SELECT event_type, prev_sequence,
                          lag(sequence) OVER (PARTITION BY order_id ORDER BY sequence) AS before,
                          lag(event_type) OVER (PARTITION BY order_id ORDER BY sequence) AS before_type
                   FROM c)
               WHERE prev_sequence IS DISTINCT FROM before OR (event_type = 'INSERT') <> (before IS NULL)
                  OR before_type = 'REMOVE'"""
        ).fetchone()
        window = con.execute(
            f"""SELECT {columns.replace("record", "new_image")} FROM (
                    SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY sequence DESC) AS newest FROM c)
                WHERE newest = 1 AND event_type <> 'REMOVE' ORDER BY sequence"""
        ).fetchall()
    finally:
        con.close()
    if broken is None or broken[0]:
        return f"{broken[0] if broken else '?'} rows of the check lake break the prev_sequence chain of their order"
    if current != window:
        return f"orders_current has {len(current):,} rows, the window definition {len(window):,}; they differ"
    return None


def profile_current(home: Path) -> dict[str, float]:
    """Where the time of the units query over orders_current goes, and faster ways to say it.

    Each figure is the best of 3 on one DuckDB connection over the same read_parquet view
    as the SQL engine's, with the equivalent formulation's result checked against the view's."""
    import duckdb

    from salesflow.adapters.local.delta_lake import DeltaLake

    figures: dict[str, float] = {}
    started = time.perf_counter()
    files = DeltaLake(home / "lake").files()
    figures["file list from the Delta log"] = time.perf_counter() - started
    con = duckdb.connect(":memory:")
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    con.execute(
        f"CREATE VIEW order_changes AS SELECT * FROM read_parquet([{listed}], hive_partitioning = true,"
        " hive_types = {'dt': VARCHAR, 'hour': VARCHAR})"
    )
    window = """
        SELECT product_name, SUM(quantity) FROM (
            SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY sequence DESC) AS newest
            FROM order_changes)
        WHERE newest = 1 AND event_type <> 'REMOVE' GROUP BY product_name"""
    candidates = {
        "scan: count(*)": "SELECT count(*) FROM order_changes",
        "scan: units over order_changes, no window": UNITS_CHANGES,
        "orders_current as the view says (row_number over all columns)": window,
        "row_number over the 5 needed columns only": """
            SELECT product_name, SUM(quantity) FROM (
                SELECT product_name, quantity, event_type,
                       row_number() OVER (PARTITION BY order_id ORDER BY sequence DESC) AS newest
                FROM order_changes)
            WHERE newest = 1 AND event_type <> 'REMOVE' GROUP BY product_name""",
        "arg_max per order (GROUP BY order_id)": """
            SELECT product_name, SUM(quantity) FROM (
                SELECT arg_max(product_name, sequence) AS product_name, arg_max(quantity, sequence) AS quantity,
                       arg_max(event_type, sequence) AS event_type
                FROM order_changes GROUP BY order_id)
            WHERE event_type <> 'REMOVE' GROUP BY product_name""",
        "arg_max of a struct per order": """
            SELECT last.product_name, SUM(last.quantity) FROM (
                SELECT arg_max({'product_name': product_name, 'quantity': quantity, 'event_type': event_type},
                               sequence) AS last
                FROM order_changes GROUP BY order_id)
            WHERE last.event_type <> 'REMOVE' GROUP BY 1""",
        "anti-join: changes with no later change of the same order": """
            SELECT c.product_name, SUM(c.quantity) FROM order_changes AS c
            WHERE c.event_type <> 'REMOVE' AND c.sequence = (
                SELECT max(l.sequence) FROM order_changes AS l WHERE l.order_id = c.order_id)
            GROUP BY 1""",
    }
    expected = None
    for name, sql in candidates.items():
        best = float("inf")
        answer = None
        for _ in range(3):
            started = time.perf_counter()
            answer = sorted(con.execute(sql).fetchall(), key=repr)
            best = min(best, time.perf_counter() - started)
        figures[name] = best
        if name.startswith("orders_current"):
            expected = answer
        elif expected is not None and not name.startswith("scan") and answer != expected:
            figures[f"{name} (ANSWER DIFFERS)"] = best
    con.close()
    return figures
