"""The orders benchmark of issue 3: salesflow end to end against a plain loop.

Measured, each in processes of its own (see measure.py):

1. salesflow end to end on a 1,000,000-order file: from the start of
   ``salesflow --home H put FILE`` to the end of ``salesflow --home H run --once``,
   in a fresh home; orders/s, peak RSS of the process tree.
2. the plain loop (plain_loop.py) on the same file, alternating with 1
   (A B A B ...), so that noise from a shared machine hits both alike; the
   median of each is reported, and plain time / salesflow time.
3. one commit per record (per_record.py) on the first records of the file.
4. salesflow end to end on a 10,000,000-order file (unless --skip-10m).

After every run the database is checked: every record of the file is in the
orders table or in the dead-letter queue, with one change per stored record,
exactly as the generator's own count says.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from bench.measure import MB, Measurement, empty_folder, mb, measure, raw, salesflow_cli, shown, warm

BENCH = Path(__file__).resolve().parent
FULL_ORDERS = 1_000_000
BIG_ORDERS = 10_000_000
BYTES_PER_ORDER = 162  # what make_orders writes, for estimates in messages

TARGET_RATE = 150_000
AIM_RATE = 250_000
TARGET_RSS = 200 * MB
TARGET_BIG_RSS = 250 * MB
TARGET_SPEEDUP = 1.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("orders benchmark")
    group.add_argument(
        "--orders",
        type=int,
        default=FULL_ORDERS,
        metavar="N",
        help="orders in the main file (default %(default)s, about 160 MB; below 1,000,000 the run is "
        "labelled a smoke run and its figures are not comparable with the targets)",
    )
    group.add_argument(
        "--rounds",
        type=int,
        default=2,
        metavar="R",
        help="salesflow and the plain loop run alternately R times each (A B A B); medians are reported "
        "(default %(default)s)",
    )
    group.add_argument(
        "--per-record",
        type=int,
        default=50_000,
        metavar="N",
        help="records for the one-commit-per-record figure, from the start of the file (default %(default)s; "
        "0 skips it)",
    )
    group.add_argument(
        "--skip-10m",
        action="store_true",
        help="skip the 10,000,000-order run. Without it, a 10M-order file (about 1.6 GB) is generated once "
        "(a minute or two), copied into a fresh bucket and ingested (several minutes; the home needs about "
        "5 GB of free disk and is removed afterwards)",
    )
    group.add_argument(
        "--big-orders",
        type=int,
        default=BIG_ORDERS,
        metavar="N",
        help="orders in the big file (default %(default)s)",
    )
    group.add_argument("--seed", type=int, default=7, help="generator seed (default %(default)s)")
    group.add_argument(
        "--tuned-plain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the plain loop with the cycle collector off, a tuned variant a plain loop would not have "
        "(default on; the target compares with the plain loop as written, collector on)",
    )


@dataclass
class Input:
    path: Path
    stats: dict[str, int]

    @property
    def records(self) -> int:
        return self.stats["records"]


@dataclass
class Outcome:
    """What a run of the benchmark found: table rows, notes, and whether every check held."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    smoke: bool = False
    title: str = "orders"

    def row(self, figure: str, value: str, target: str = "", met: bool | None = None) -> None:
        self.rows.append((figure, value, target, "" if met is None else ("yes" if met else "**no**")))


def run(args: argparse.Namespace, work: Path, log: IO[bytes], say: Callable[[str], None]) -> Outcome:
    if args.rounds < 1 or args.orders < 1 or args.big_orders < 1 or args.per_record < 0:
        raise SystemExit("--rounds, --orders and --big-orders must be at least 1, --per-record at least 0")
    outcome = Outcome(smoke=args.orders < FULL_ORDERS)
    outcome.title = f"orders, {'smoke run, ' if outcome.smoke else ''}{args.orders:,} orders"
    cli = salesflow_cli()
    runs = empty_folder(work / "runs")

    main = prepare_input(work, args.orders, args.seed, log, say)
    stats = main.stats
    outcome.notes.append(
        f"Input: `{shown(main.path)}`, {main.records:,} orders, {stats['bytes'] / MB:,.0f} MB, "
        f"{stats['invalid'] / main.records:.1%} invalid, {stats['repeated_ids'] / main.records:.1%} repeated ids "
        f"({stats['distinct_valid_ids']:,} distinct valid order ids). Rates are records in the file per second."
    )
    tuned = sorted(f"`{name}={value}`" for name, value in os.environ.items() if name.startswith("SALESFLOW_"))
    outcome.notes.append(f"salesflow settings: {', '.join(tuned) if tuned else 'the defaults'}.")
    warm(main.path)

    salesflow_runs: list[Measurement] = []
    plain_runs: list[Measurement] = []
    plain_details: list[dict[str, Any]] = []
    tuned_runs: list[Measurement] = []
    for round_ in range(1, args.rounds + 1):
        say(f"round {round_}/{args.rounds}: salesflow end to end on {main.records:,} orders")
        salesflow_runs.append(run_salesflow(cli, main, runs / f"salesflow-{round_}", log, outcome, args))
        say(f"round {round_}/{args.rounds}: plain loop on {main.records:,} orders")
        measured, detail = run_plain(main, runs / f"plain-{round_}.db", log, outcome, gc_off=False)
        plain_runs.append(measured)
        plain_details.append(detail)
        if args.tuned_plain:
            say(f"round {round_}/{args.rounds}: plain loop, cycle collector off")
            tuned_runs.append(run_plain(main, runs / f"tuned-{round_}.db", log, outcome, gc_off=True)[0])

    sf_seconds = statistics.median(m.seconds for m in salesflow_runs)
    sf_rate = main.records / sf_seconds
    sf_peak = max(m.peak_rss for m in salesflow_runs)
    plain_seconds = statistics.median(m.seconds for m in plain_runs)
    speedup = plain_seconds / sf_seconds
    runs_label = f"median of {len(salesflow_runs)}"
    outcome.row(f"salesflow end to end, {main.records:,} orders: time ({runs_label})", f"{sf_seconds:.2f} s")
    outcome.row(
        "salesflow end to end: orders/s",
        f"{sf_rate:,.0f}",
        f">= {TARGET_RATE:,} (aim {AIM_RATE:,})",
        sf_rate >= TARGET_RATE,
    )
    outcome.row(
        "salesflow peak RSS (sum over the process tree, worst run)", mb(sf_peak), "< 200 MB", sf_peak < TARGET_RSS
    )
    outcome.row("salesflow peak PSS (shared pages split, worst run)", mb(max(m.peak_pss for m in salesflow_runs)))
    outcome.row("salesflow ru_maxrss (largest single process, worst run)", mb(max(m.max_rss for m in salesflow_runs)))
    outcome.row(f"plain loop: time ({runs_label})", f"{plain_seconds:.2f} s")
    outcome.row("plain loop: orders/s", f"{main.records / plain_seconds:,.0f}")
    outcome.row("plain loop peak RSS (worst run)", mb(max(m.peak_rss for m in plain_runs)))
    outcome.row(
        "plain loop time / salesflow time", f"{speedup:.2f}x", f">= {TARGET_SPEEDUP}x", speedup >= TARGET_SPEEDUP
    )
    if tuned_runs:
        tuned_seconds = statistics.median(m.seconds for m in tuned_runs)
        outcome.row(f"plain loop with the cycle collector off: time ({runs_label})", f"{tuned_seconds:.2f} s")
        outcome.row(
            "plain loop (collector off) time / salesflow time", f"{tuned_seconds / sf_seconds:.2f}x", "for comparison"
        )
    for number, (sf, plain, detail) in enumerate(zip(salesflow_runs, plain_runs, plain_details, strict=True), 1):
        phases = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in detail["phases"].items())
        outcome.notes.append(
            f"Round {number}: salesflow {sf.seconds:.2f} s (put {sf.steps['put']:.2f} s, run --once "
            f"{sf.steps['run']:.2f} s), peak {mb(sf.peak_rss)}; plain loop {plain.seconds:.2f} s ({phases}), "
            f"peak {mb(plain.peak_rss)}."
        )
    outcome.raw["salesflow"] = [raw(m) for m in salesflow_runs]
    outcome.raw["plain"] = [raw(m) | {"detail": d} for m, d in zip(plain_runs, plain_details, strict=True)]

    if args.per_record:
        count = min(args.per_record, main.records)
        say(f"one commit per record on the first {count:,} orders")
        rate = run_per_record(main, count, runs / "per-record.db", log, outcome)
        outcome.row(f"one commit per record (first {count:,} orders): orders/s", f"{rate:,.0f}", "for comparison")

    if not args.skip_10m:
        big = prepare_input(work, args.big_orders, args.seed, log, say)
        warm(big.path)
        say(f"salesflow end to end on {big.records:,} orders")
        measured = run_salesflow(cli, big, runs / "salesflow-big", log, outcome, args)
        label = f"{big.records:,} orders"
        outcome.row(f"salesflow end to end, {label}: time", f"{measured.seconds:.2f} s")
        outcome.row(f"salesflow end to end, {label}: orders/s", f"{big.records / measured.seconds:,.0f}")
        outcome.row(
            f"salesflow peak RSS, {label}",
            mb(measured.peak_rss),
            "< 250 MB",
            measured.peak_rss < TARGET_BIG_RSS,
        )
        outcome.notes.append(
            f"{label}: `{shown(big.path)}`, {big.stats['bytes'] / MB:,.0f} MB; put {measured.steps['put']:.2f} s, "
            f"run --once {measured.steps['run']:.2f} s, peak PSS {mb(measured.peak_pss)}, "
            f"ru_maxrss {mb(measured.max_rss)}."
        )
        outcome.raw["salesflow_big"] = raw(measured)

    checked = len(salesflow_runs) + len(plain_runs) + bool(args.per_record) + (not args.skip_10m)
    outcome.row(
        "every record in orders or dead letters, one change per stored record (all runs checked)",
        f"{checked - len(outcome.problems)} of {checked} runs",
        "all",
        not outcome.problems,
    )
    if not args.keep_runs and not outcome.problems:
        shutil.rmtree(runs, ignore_errors=True)
    return outcome


# -- input ------------------------------------------------------------------------


def prepare_input(work: Path, orders: int, seed: int, log: IO[bytes], say: Callable[[str], None]) -> Input:
    """The generated file for (orders, seed), made once and kept in work."""
    path = work / f"orders-{orders}-seed{seed}.json"
    stats_path = path.with_suffix(".stats.json")
    if path.exists() and stats_path.exists():
        stats = orjson.loads(stats_path.read_bytes())
        if stats.get("bytes") == path.stat().st_size and stats.get("records") == orders:
            return Input(path, stats)
    say(f"generating {orders:,} orders (about {orders * BYTES_PER_ORDER / MB:,.0f} MB) into {shown(path)}")
    work.mkdir(parents=True, exist_ok=True)
    temp, temp_stats = path.with_name(f".{path.name}.part"), stats_path.with_name(f".{stats_path.name}.part")
    command = [
        sys.executable,
        str(BENCH / "make_orders.py"),
        str(temp),
        f"--orders={orders}",
        f"--seed={seed}",
        f"--stats={temp_stats}",
    ]
    subprocess.run(command, check=True, stdout=log, stderr=log)
    os.replace(temp, path)
    os.replace(temp_stats, stats_path)  # last: the pair is complete only once this exists
    return Input(path, orjson.loads(stats_path.read_bytes()))


# -- measurements ------------------------------------------------------------------


def run_salesflow(
    cli: Path, data: Input, home: Path, log: IO[bytes], outcome: Outcome, args: argparse.Namespace
) -> Measurement:
    home.mkdir(parents=True)
    measured = measure(
        [
            ("put", [str(cli), "--home", str(home), "put", str(data.path)]),
            ("run", [str(cli), "--home", str(home), "run", "--once"]),
        ],
        log=log,
    )
    problems = check_salesflow(home / "salesflow.db", data.stats)
    outcome.problems.extend(f"salesflow in {home}: {problem}" for problem in problems)
    if not args.keep_runs and not problems:  # a home that failed its check stays, to be looked at
        shutil.rmtree(home, ignore_errors=True)
    return measured


def check_salesflow(database: Path, stats: dict[str, int]) -> list[str]:
    """Every record is in orders or in the dead-letter queue, as the generator counted them."""
    with _read_only(database) as conn:
        (letters,) = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        (orders,) = conn.execute("SELECT count(*) FROM orders").fetchone()
        (changes,) = conn.execute("SELECT count(*) FROM change_log").fetchone()
        executions = conn.execute("SELECT status, records, stored, rejected FROM executions").fetchall()
    problems = _compare(
        {
            "dead letters": (letters, stats["invalid"]),
            "orders (distinct valid order ids)": (orders, stats["distinct_valid_ids"]),
            "change records (one per valid record)": (changes, stats["valid"]),
            "dead letters + change records": (letters + changes, stats["records"]),
        }
    )
    if [status for status, *_ in executions] != ["succeeded"]:
        problems.append(f"expected one succeeded execution, found {executions}")
    elif executions[0][1:] != (stats["records"], stats["valid"], stats["invalid"]):
        problems.append(f"execution counts (records, stored, rejected) are {executions[0][1:]}")
    return problems


def run_plain(
    data: Input, database: Path, log: IO[bytes], outcome: Outcome, *, gc_off: bool
) -> tuple[Measurement, dict[str, Any]]:
    command = [sys.executable, str(BENCH / "plain_loop.py"), str(data.path), str(database)]
    if not gc_off:
        command.append("--gc")
    measured = measure([("plain", command)], log=log)
    detail = orjson.loads(measured.outputs["plain"])
    problems = _compare(
        {
            "valid records": (detail["valid"], data.stats["valid"]),
            "invalid records": (detail["invalid"], data.stats["invalid"]),
            "stored orders": (detail["stored"], data.stats["distinct_valid_ids"]),
        }
    )
    outcome.problems.extend(f"plain loop {database.name}: {problem}" for problem in problems)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return measured, detail


def run_per_record(data: Input, count: int, database: Path, log: IO[bytes], outcome: Outcome) -> float:
    command = [sys.executable, str(BENCH / "per_record.py"), str(data.path), str(database), f"--records={count}"]
    measured = measure([("per-record", command)], log=log)
    detail = orjson.loads(measured.outputs["per-record"])
    with _read_only(database) as conn:
        (letters,) = conn.execute("SELECT count(*) FROM dead_letters").fetchone()
        (changes,) = conn.execute("SELECT count(*) FROM change_log").fetchone()
        (checkpoint,) = conn.execute("SELECT checkpoint FROM executions").fetchone()
    problems = _compare(
        {
            "records done": (detail["records"], count),
            "dead letters": (letters, detail["rejected"]),
            "change records": (changes, detail["stored"]),
            "checkpoint": (checkpoint, count),
        }
    )
    outcome.problems.extend(f"one commit per record: {problem}" for problem in problems)
    outcome.notes.append(
        f"One commit per record: {count:,} commits in {detail['seconds']:.2f} s "
        f"(process {measured.seconds:.2f} s with start-up), peak {mb(measured.peak_rss)}."
    )
    outcome.raw["per_record"] = raw(measured) | {"detail": detail}
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return float(detail["records_per_second"])


# -- helpers ------------------------------------------------------------------------


def _read_only(database: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True))


def _compare(pairs: dict[str, tuple[int, int]]) -> list[str]:
    return [
        f"{name}: {found:,}, expected {expected:,}" for name, (found, expected) in pairs.items() if found != expected
    ]
