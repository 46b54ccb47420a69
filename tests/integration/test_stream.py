"""The stream pipeline end to end on a home in tmp_path: the orders ledger writes changes, the
stream moves them into the Delta lake, SQL reads the lake.

A user relies on: the lake's orders_current equal to the orders table after any writes, every
change in order_changes exactly once (also after a restart), the buffer flushing by size, by age
and on shutdown, poison changes set aside with their reason while the rest flows on, the
dt=/hour= layout and Parquet types, and queries that stay right while compaction runs.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesflow.adapters.local import sqlite_ledger
from salesflow.adapters.local.delta_lake import DeltaLake
from salesflow.adapters.local.lake_compaction import COMPACTION_APP
from salesflow.adapters.local.sqlite_changes import SqliteChangeFeed
from salesflow.adapters.local.sqlite_db import connect
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
from salesflow.domain.orders import CONTACT, ORDER, Order, Reason, check_order
from salesflow.domain.records import Chunk, Execution
from salesflow.jsoncodec import to_json
from salesflow.pipelines.stream import StreamOptions, StreamPipeline
from salesflow.pipelines.stream_transform import ChangeTransform
from salesflow.runtime.generator import CATALOGUE
from salesflow.runtime.settings import Settings, load_settings
from salesflow.runtime.sql import sql_engine
from salesflow.runtime.stream import build_stream
from tests.integration.conftest import cli

COLUMNS = "order_id, customer_name, customer_email, item_id, product_name, quantity, price, record"


# -- a home the ledger writes to -------------------------------------------------------


class Home:
    """A home with the orders ledger open, writing as the generator does: one execution,
    a chunk per write, records validated by check_order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.settings: Settings = load_settings(path)
        self.ledger = SqliteOrderLedger(connect(self.settings.database))
        self.execution: Execution = self.ledger.start_execution("generate", "test", "digest")
        self.position = 0

    def put(self, *orders: tuple[str, int, int]) -> None:
        """(order id, quantity, catalogue index) each: an insert, or an update of that order."""
        rows = []
        for order_id, quantity, product in orders:
            item = CATALOGUE[product % len(CATALOGUE)]
            record = {
                CONTACT: {"name": "Ada Lovelace", "email": "ada@example.com"},
                ORDER: {
                    "order_id": order_id,
                    "item_id": item.item_id,
                    "product_name": item.name,
                    "quantity": quantity,
                    "price": str(item.price),
                },
            }
            outcome = check_order(record)
            assert isinstance(outcome, Order)
            rows.append((outcome.order_id, to_json(outcome.record), self.position))
            self.position += 1
        self.ledger.commit_chunk(Chunk(self.execution.id, self.execution.key, rows, [], self.position))

    def delete(self, *order_ids: str) -> None:
        self.ledger.delete_orders(list(order_ids))

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with closing(sqlite3.connect(f"file:{self.settings.database}?mode=ro", uri=True)) as conn:
            return conn.execute(sql).fetchall()

    def lake_rows(self, sql: str) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = sql_engine(self.settings).query(sql).rows
        return rows

    def stream(self, clock: FakeClock | None = None, **options: Any) -> StreamPipeline:
        if clock is None and not options:
            return build_stream(self.settings)
        return StreamPipeline(
            SqliteChangeFeed(self.settings.database),
            DeltaLake(self.settings.lake),
            ChangeTransform(),
            StreamOptions(**options),
            clock or FakeClock(),
        )

    def drain(self) -> int:
        """What `salesflow run --once` does for the lake: a stream, drained, closed."""
        stream = self.stream()
        try:
            moved: int = stream.drain()
            return moved
        finally:
            stream.close()

    def sequences_in_lake(self) -> list[int]:
        return [row[0] for row in self.lake_rows("SELECT sequence FROM order_changes ORDER BY sequence")]

    def all_sequences(self) -> list[int]:
        return [row[0] for row in self.rows("SELECT sequence FROM change_log ORDER BY sequence")]

    def close(self) -> None:
        self.ledger.close()


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    opened = Home(tmp_path / "home")
    yield opened
    opened.close()


@pytest.fixture
def commit_times(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return fake_commit_times(monkeypatch)


def fake_commit_times(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ledger's clock: each commit takes the first time in the list (and keeps the last)."""
    times: list[str] = []

    def now() -> str:
        return times.pop(0) if len(times) > 1 else times[0]

    monkeypatch.setattr(sqlite_ledger, "utc_now", now)
    return times


def table_orders(home: Home) -> list[tuple[Any, ...]]:
    rows = home.rows(f"SELECT {COLUMNS} FROM orders ORDER BY order_id")
    return [(*row[:6], Decimal(row[6]), row[7]) for row in rows]


def lake_orders(home: Home) -> list[tuple[Any, ...]]:
    return home.lake_rows(f"SELECT {COLUMNS} FROM orders_current ORDER BY order_id")


# -- (a) the lake equals the table ------------------------------------------------------

ORDER_IDS = [f"o{n}" for n in range(6)]
puts = st.lists(
    st.tuples(st.sampled_from(ORDER_IDS), st.integers(min_value=1, max_value=5), st.integers(0, 19)),
    min_size=1,
    max_size=4,
).map(lambda orders: ("put", orders))
deletes = st.lists(st.sampled_from(ORDER_IDS), min_size=1, max_size=3).map(lambda ids: ("delete", ids))
operations = st.lists(st.one_of(puts, puts, deletes, st.just(("drain", []))), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations)
def test_after_any_writes_the_lake_equals_the_orders_table(
    tmp_path_factory: pytest.TempPathFactory, operations: list[tuple[str, list[Any]]]
) -> None:
    home = Home(tmp_path_factory.mktemp("home"))
    stream = home.stream()
    try:
        for kind, arguments in operations:
            if kind == "put":
                home.put(*arguments)
            elif kind == "delete":
                home.delete(*arguments)
            else:
                stream.drain()
        stream.drain()

        assert lake_orders(home) == table_orders(home)
        assert home.sequences_in_lake() == home.all_sequences()  # each change once, none made up
        events = home.rows("SELECT sequence, event_type FROM change_log ORDER BY sequence")
        assert home.lake_rows("SELECT sequence, event_type FROM order_changes ORDER BY sequence") == events
    finally:
        stream.close()
        home.close()


def test_units_per_product_from_the_lake_match_the_table(home: Home) -> None:
    home.put(("a", 2, 0), ("b", 3, 0), ("c", 5, 1))
    home.put(("b", 1, 0))  # an update: b now has 1
    home.delete("c")
    home.drain()

    query = "SELECT product_name, SUM(quantity) FROM {} GROUP BY product_name ORDER BY 1"
    assert home.lake_rows(query.format("orders_current")) == [(CATALOGUE[0].name, 3)]
    assert home.lake_rows(query.format("orders_current")) == [
        (name, int(units)) for name, units in home.rows(query.format("orders"))
    ]


def test_sql_over_the_tables_and_the_lake_loads_neither_pandas_nor_polars(home: Home) -> None:
    # The console answers SQL inside `salesflow run`: 130 MB of libraries it never needs would
    # stay in that process for good (pyarrow's conversions of Python values load pandas).
    home.put(("a", 2, 0))
    home.drain()
    script = (
        "import sys; from pathlib import Path; from salesflow.runtime.settings import Settings; "
        "from salesflow.runtime.sql import sql_engine; engine = sql_engine(Settings(home=Path(sys.argv[1]))); "
        "rows = engine.query('SELECT count(*) FROM orders JOIN orders_current USING (order_id)').rows; "
        "print(rows[0][0], 'pandas' in sys.modules, 'polars' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(home.path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "False", "False"]


# -- (b) the buffer -----------------------------------------------------------------------


def test_the_buffer_flushes_when_its_oldest_change_is_buffer_seconds_old(home: Home) -> None:
    clock = FakeClock()
    stream = home.stream(clock, buffer_bytes=1 << 30, buffer_seconds=1.0)
    home.put(("a", 1, 0), ("b", 1, 0))

    assert stream.step() == 2
    assert stream.lake.written_through() == 0  # buffered, not written

    clock.now += 0.6
    home.put(("c", 1, 0))
    assert stream.step() == 1
    clock.now += 0.3  # 0.9 s after the first change was read
    assert stream.step() == 0
    assert stream.lake.written_through() == 0

    clock.now += 0.1  # 1.0 s: due
    assert stream.step() == 0
    assert stream.lake.written_through() == 3
    assert home.sequences_in_lake() == [1, 2, 3]
    assert stream.counters.flushes == 1
    stream.close()


def test_the_buffer_flushes_at_once_when_it_holds_buffer_bytes(home: Home) -> None:
    clock = FakeClock()
    stream = home.stream(clock, buffer_bytes=1, buffer_seconds=3600.0)
    home.put(("a", 1, 0))

    stream.step()

    assert stream.lake.written_through() == 1
    stream.close()


def test_a_stopped_run_flushes_what_it_buffered(home: Home) -> None:
    clock = FakeClock()  # never moves: nothing is ever due by age
    stream = home.stream(clock, buffer_bytes=1 << 30, buffer_seconds=1.0, poll_seconds=0.01)
    home.put(*[(f"o{n}", 1, n) for n in range(5)])
    stop = threading.Event()
    runner = threading.Thread(target=stream.run, args=(stop,))
    runner.start()
    try:
        for _ in range(500):
            if stream.counters.changes == 5:
                break
            stop.wait(0.01)
        assert stream.counters.changes == 5
        assert stream.lake.written_through() == 0
    finally:
        stop.set()
        runner.join(timeout=30)
    assert not runner.is_alive()

    assert stream.lake.written_through() == 5
    assert home.sequences_in_lake() == [1, 2, 3, 4, 5]
    stream.close()


def test_reads_are_limited_to_read_rows(home: Home) -> None:
    stream = home.stream(FakeClock(), buffer_bytes=1 << 30, read_rows=2)
    home.put(*[(f"o{n}", 1, n) for n in range(5)])

    assert [stream.step() for _ in range(4)] == [2, 2, 1, 0]
    stream.flush()
    assert home.sequences_in_lake() == [1, 2, 3, 4, 5]
    stream.close()


# -- (c) poison changes -------------------------------------------------------------------


def test_the_feed_reads_ahead_without_skipping_or_repeating_a_change(home: Home) -> None:
    # After a full slice the feed reads the next one on a thread of its own; a reader that
    # asks for another position (a restart) gets that one, and a change committed after the
    # read ahead is read next.
    home.put(*[(f"o{n}", 1, n) for n in range(5)])
    feed = SqliteChangeFeed(home.settings.database)
    try:

        def sequences(after: int) -> list[int]:
            return list(feed.read_after(after, 2).column("sequence").to_pylist())

        assert sequences(0) == [1, 2]
        assert sequences(0) == [1, 2]  # not the slice read ahead (after 2)
        assert sequences(2) == [3, 4]  # read ahead: [5], short
        home.put(("o9", 1, 0))
        assert sequences(4) == [5, 6]  # read again: 6 came after the read ahead
        assert sequences(6) == []
    finally:
        feed.close()


def insert_by_hand(home: Home, order_id: str, image: str, replacing: int | None = None) -> None:
    """A change the ledger would never write (``replacing``: the sequence it replaced)."""
    with closing(sqlite3.connect(home.settings.database)) as conn, conn:
        conn.execute("INSERT INTO commits (committed_at) VALUES ('2026-11-25T10:00:00.000Z')")
        conn.execute(
            "INSERT INTO change_log (order_id, image, commit_id, prev_sequence)"
            " VALUES (?, ?, (SELECT max(id) FROM commits), ?)",
            (order_id, image, replacing),
        )


def test_a_poison_change_goes_to_the_error_table_and_later_changes_still_reach_the_lake(home: Home) -> None:
    home.put(("a", 1, 0))
    insert_by_hand(home, "p1", '{"order_info":{"quantity":"lots"}}')
    insert_by_hand(home, "p2", "[1]")
    home.put(("b", 2, 0))

    assert cli(home.path, "run", "--once").code == 0

    result = cli(home.path, "stream", "errors", "--json")
    assert result.code == 0, result.stderr
    errors = {error["order_id"]: error for error in result.json()}
    assert {order_id: error["reason"] for order_id, error in errors.items()} == {
        "p1": "invalid_quantity",
        "p2": "invalid_image",
    }
    assert [error["sequence"] for error in result.json()] == [3, 2]  # newest first
    kept = json.loads(errors["p1"]["change"])  # the change as it came, to fix and replay
    assert (kept["sequence"], kept["new_image"]) == (2, '{"order_info":{"quantity":"lots"}}')
    assert home.sequences_in_lake() == [1, 4]

    home.put(("c", 3, 0))
    insert_by_hand(home, "p3", '{"contact_info":')
    assert cli(home.path, "run", "--once").code == 0
    assert home.sequences_in_lake() == [1, 4, 5]
    assert [order_id for order_id, *_ in lake_orders(home)] == ["a", "b", "c"]
    assert DeltaLake(home.settings.lake).error_count() == 3
    table = cli(home.path, "stream", "errors")
    assert table.code == 0
    assert "invalid_image" in table.stdout


# -- (d) partitions and Parquet schema -----------------------------------------------------


def test_draining_the_stream_loads_neither_pandas_nor_duckdb_for_ordinary_changes(home: Home) -> None:
    """The stream's memory: pandas (about 40 MB here, which pyarrow loads quietly for many
    conversions of Python values) is never loaded, DuckDB (about 70 MB) only once a change is
    out of the ordinary, and Arrow allocates from jemalloc. A drain with status readings and a
    compaction (which the stream runs itself once an hour is crowded), in a process of its own,
    says so."""
    script = (
        "import sys; from pathlib import Path; from salesflow.runtime.settings import Settings; "
        "from salesflow.runtime.stream import build_stream; "
        "stream = build_stream(Settings(home=Path(sys.argv[1]))); stream.drain(); stream.status(); "
        "lake = stream.lake; lake.compact([(p['dt'], p['hour']) for p in lake.partitions()]); "
        "import pyarrow; print(stream.counters.written, stream.counters.errors, 'pandas' in sys.modules, "
        "'duckdb' in sys.modules, pyarrow.default_memory_pool().backend_name)"
    )

    def drain() -> list[str]:
        done = subprocess.run([sys.executable, "-c", script, str(home.path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    home.put(("a", 1, 0), ("b", 2, 1))
    home.delete("a")
    assert drain() == ["3", "0", "False", "False", "jemalloc"]  # (it returns freed memory: 50 MB less)

    insert_by_hand(home, "p1", '{"order_info":{"quantity":"lots"}}')
    home.put(("c", 3, 2))
    assert drain() == ["1", "1", "False", "True", "jemalloc"]


def test_files_sit_under_dt_and_hour_and_hold_the_lake_types(home: Home, commit_times: list[str]) -> None:
    commit_times[:] = ["2026-11-25T09:59:59.999Z", "2026-11-25T10:00:00.000Z", "2026-11-26T00:00:00.001Z"]
    home.put(("a", 1, 0))
    home.put(("a", 2, 1))
    home.delete("a")
    home.drain()

    orders = home.settings.lake / "orders"
    folders = sorted(str(path.parent.relative_to(orders)) for path in orders.rglob("*.parquet"))
    assert folders == ["dt=2026-11-25/hour=09", "dt=2026-11-25/hour=10", "dt=2026-11-26/hour=00"]

    expected = pa.schema(
        [
            ("sequence", pa.int64()),
            ("event_type", pa.string()),
            ("event_time", pa.timestamp("us", tz="UTC")),
            ("order_id", pa.string()),
            ("customer_name", pa.string()),
            ("customer_email", pa.string()),
            ("item_id", pa.string()),
            ("product_name", pa.string()),
            ("quantity", pa.int64()),
            ("price", pa.decimal128(38, 10)),
            ("new_image", pa.string()),
            ("old_image", pa.string()),
            ("prev_sequence", pa.int64()),
        ]
    )
    by_folder = {}
    for path in orders.rglob("*.parquet"):
        schema = pq.read_schema(path)
        assert schema.remove_metadata().equals(expected), schema  # dt and hour live in the path
        assert growing_integers_as_deltas(path)
        by_folder[path.parent.name, path.parent.parent.name] = pq.read_table(path).to_pylist()
    [[insert]] = [by_folder["hour=09", "dt=2026-11-25"]]
    assert (insert["event_type"], insert["quantity"], insert["price"]) == ("INSERT", 1, CATALOGUE[0].price)
    assert insert["event_time"].isoformat() == "2026-11-25T09:59:59.999000+00:00"
    [[remove]] = [by_folder["hour=00", "dt=2026-11-26"]]
    assert (remove["event_type"], remove["quantity"], remove["new_image"]) == ("REMOVE", None, None)
    assert '"quantity":2' in remove["old_image"]

    lake = DeltaLake(home.settings.lake)
    assert [(p["dt"], p["hour"], p["files"]) for p in lake.partitions()] == [
        ("2026-11-25", "09", 1),
        ("2026-11-25", "10", 1),
        ("2026-11-26", "00", 1),
    ]
    assert home.lake_rows("SELECT dt, hour FROM order_changes ORDER BY sequence") == [
        ("2026-11-25", "09"),
        ("2026-11-25", "10"),
        ("2026-11-26", "00"),
    ]


# -- (e) compaction while queries run ---------------------------------------------------------


def growing_integers_as_deltas(path: Path) -> bool:
    """Whether the file holds sequence, event_time and prev_sequence as deltas, not dictionaries
    (what orders_current reads for every row: 20 % faster to read over 2,000 small files)."""
    group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    return all(
        "DELTA_BINARY_PACKED" in encodings[name] and "RLE_DICTIONARY" not in encodings[name]
        for name in ("sequence", "event_time", "prev_sequence")
    )


def test_an_hour_with_more_than_compact_files_is_compacted_after_a_flush(home: Home, commit_times: list[str]) -> None:
    # Hour 00 gets 4 files first (compact_files 10); then, with compact_files 3, hour 01 gets a
    # flush at a time. Once hour 01 holds more than 3 the flush compacts it; hour 00, not
    # written to since, keeps its 4.
    early = home.stream(FakeClock(), compact_files=10, buffer_bytes=1)
    for n in range(4):
        commit_times[:] = [f"2026-11-25T00:00:00.{n:03d}Z"]
        home.put((f"early{n}", 1, n))
        early.drain()
    early.close()
    stream = home.stream(FakeClock(), compact_files=3, buffer_bytes=1)
    for n in range(4):
        commit_times[:] = [f"2026-11-25T01:00:00.{n:03d}Z"]
        home.put((f"late{n}", 2, n))
        stream.drain()
        files = {(p["dt"], p["hour"]): p["files"] for p in DeltaLake(home.settings.lake).partitions()}
        assert files[("2026-11-25", "01")] == (n + 1 if n < 3 else 1)
    stream.close()

    assert files == {("2026-11-25", "00"): 4, ("2026-11-25", "01"): 1}
    assert stream.counters.compactions == 1
    [compacted] = [Path(f) for f in DeltaLake(home.settings.lake).files() if "/hour=01/" in f]
    assert growing_integers_as_deltas(compacted)  # compaction writes them so too
    assert home.sequences_in_lake() == home.all_sequences()


def test_the_stream_does_not_wait_for_a_compaction_already_running(home: Home, commit_times: list[str]) -> None:
    # `salesflow lake compact` on a big lake takes minutes: meanwhile the stream's flushes go
    # on without compacting, and the first flush after it compacts the crowded hour.
    commit_times[:] = ["2026-11-25T00:00:00.000Z"]
    stream = home.stream(FakeClock(), compact_files=2, buffer_bytes=1, read_rows=1)
    lake = DeltaLake(home.settings.lake)
    home.put(("a", 1, 0))
    stream.drain()  # the lake's folder exists now
    with open(home.settings.lake / ".compaction.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another process compacting would
        home.put(*[(f"b{n}", 1, n) for n in range(3)])
        flushes = threading.Thread(target=lambda: [stream.step() for _ in range(3)])  # one change a flush
        flushes.start()
        flushes.join(timeout=30)
        assert not flushes.is_alive(), "the stream waited for the compaction lock"
        assert [p["files"] for p in lake.partitions()] == [4]
        assert stream.counters.compactions == 0
        fcntl.flock(held, fcntl.LOCK_UN)
    home.put(("c", 1, 0))
    stream.drain()
    stream.close()

    assert stream.counters.compactions == 1
    assert [p["files"] for p in lake.partitions()] == [1]
    assert home.sequences_in_lake() == home.all_sequences()


def test_queries_during_compaction_see_every_row_once(home: Home, commit_times: list[str]) -> None:
    stream = home.stream()
    for n in range(24):  # 24 commits, 24 flushes: 12 small files in each of two hours
        commit_times[:] = [f"2026-11-25T0{n % 2}:00:00.{n:03d}Z"]
        home.put((f"o{n}", n % 5 + 1, n), (f"o{n + 100}", 1, n))
        stream.drain()
    stream.close()
    lake = DeltaLake(home.settings.lake)
    assert [p["files"] for p in lake.partitions()] == [12, 12]
    [(count, units)] = home.rows(
        "SELECT count(*), sum(image ->> '$.order_info.quantity') FROM change_log WHERE image IS NOT NULL"
    )
    engine = sql_engine(home.settings)
    query = "SELECT count(*), sum(quantity) FROM order_changes"
    assert engine.query(query).rows == [(count, units)]

    answers: list[Any] = []
    phase = [0]  # 0 before compaction, 1 during, 2 after
    done = threading.Event()

    def ask() -> None:
        while not done.is_set():
            began = phase[0]
            try:
                rows = engine.query(query).rows
            except Exception as exc:  # a failure is an answer too: the assertion below shows it
                rows = exc
            # It overlapped compaction if it began or ended during it, or began before and ended after.
            answers.append((phase[0] == 1 or began == 1 or (began, phase[0]) == (0, 2), rows))

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        while not answers and asker.is_alive():  # the asker is querying before compaction starts
            done.wait(0.01)
        phase[0] = 1
        compacted = lake.compact()
        lake.vacuum()
        phase[0] = 2
        for _ in range(3):  # and a few answers after it
            size = len(answers)
            while len(answers) == size and asker.is_alive():
                done.wait(0.01)
    finally:
        done.set()
        asker.join(timeout=30)

    assert [(p["removed"], p["added"]) for p in compacted] == [(12, 1), (12, 1)]
    assert [p["files"] for p in lake.partitions()] == [1, 1]
    assert any(during for during, _ in answers), "no query ran while compaction did: the test proved nothing"
    assert all(answer == [(count, units)] for _, answer in answers), [a for a in answers if a[1] != [(count, units)]]
    assert home.sequences_in_lake() == home.all_sequences()


hours = st.integers(0, 3).map(lambda hour: ("hour", hour))
upkeep = st.sampled_from([("compact", "crowded"), ("compact", "every")])
operations_over_hours = st.lists(
    st.one_of(puts, puts, deletes, st.just(("drain", [])), hours, upkeep), min_size=1, max_size=16
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations_over_hours)
def test_after_any_writes_and_compactions_the_lake_equals_the_orders_table(
    tmp_path_factory: pytest.TempPathFactory, operations: list[tuple[str, Any]]
) -> None:
    # Compaction sets replaced changes apart and records up to where it checked: whatever the
    # order of writes, hours and compactions (an update may land in a later hour than the row
    # it replaces, after that hour was compacted), orders_current must still be the table.
    home = Home(tmp_path_factory.mktemp("home"))
    stream = home.stream()
    lake = DeltaLake(home.settings.lake)
    try:
        with pytest.MonkeyPatch.context() as patch:
            times = fake_commit_times(patch)
            times[:] = ["2026-11-25T00:00:00.000Z"]
            for kind, argument in operations:
                if kind == "put":
                    home.put(*argument)
                elif kind == "delete":
                    home.delete(*argument)
                elif kind == "hour":
                    times[:] = [f"2026-11-25T{argument:02d}:00:00.000Z"]
                elif kind == "compact":
                    stream.drain()
                    lake.compact(None if argument == "crowded" else [(p["dt"], p["hour"]) for p in lake.partitions()])
                else:
                    stream.drain()
            stream.drain()

        assert lake_orders(home) == table_orders(home)
        assert home.sequences_in_lake() == home.all_sequences()
        lake.compact([(p["dt"], p["hour"]) for p in lake.partitions()])
        assert lake_orders(home) == table_orders(home)
        assert home.sequences_in_lake() == home.all_sequences()
        _, plan = lake.current_plan()
        assert plan.replacing == [], "after every hour is compacted, no change is left to look for"
    finally:
        stream.close()
        home.close()


def test_compaction_sets_replaced_and_removed_changes_apart(home: Home, commit_times: list[str]) -> None:
    commit_times[:] = ["2026-11-25T00:00:00.000Z"]
    home.put(("a", 1, 0), ("b", 2, 0), ("c", 3, 0))
    home.drain()
    home.put(("a", 4, 0))  # replaces a's insert
    home.delete("b")  # replaces b's insert; the removal itself is not current either
    home.drain()
    lake = DeltaLake(home.settings.lake)

    [done] = lake.compact()

    assert (done["removed"], done["added"], done["current_rows"], done["superseded_rows"]) == (2, 2, 2, 3)
    hour = home.settings.lake / "orders" / "dt=2026-11-25" / "hour=00"
    [current] = hour.glob("*.current.parquet")
    [superseded] = hour.glob("*.superseded.parquet")
    kept = sorted((r["order_id"], r["event_type"]) for r in pq.read_table(current).to_pylist())
    assert kept == [("a", "MODIFY"), ("c", "INSERT")]
    set_apart = sorted((r["order_id"], r["event_type"]) for r in pq.read_table(superseded).to_pylist())
    assert set_apart == [("a", "INSERT"), ("b", "INSERT"), ("b", "REMOVE")]
    assert growing_integers_as_deltas(current)
    assert growing_integers_as_deltas(superseded)
    last = home.all_sequences()[-1]
    assert DeltaTable(lake.orders_path).transaction_version(COMPACTION_APP) == last  # up to where it checked
    _, plan = lake.current_plan()
    assert (plan.rows, plan.replacing) == ([str(current.resolve())], [])
    assert lake_orders(home) == table_orders(home)


def test_a_later_change_to_a_compacted_hour_splits_it_again_at_the_next_compaction(
    home: Home, commit_times: list[str]
) -> None:
    commit_times[:] = ["2026-11-25T00:00:00.000Z"]
    home.put(("a", 1, 0), ("b", 2, 0))
    home.drain()
    home.put(("c", 3, 0))
    home.drain()
    lake = DeltaLake(home.settings.lake)
    lake.compact()  # hour 00: one .current file with a, b, c
    commit_times[:] = ["2026-11-25T01:00:00.000Z"]
    home.put(("a", 5, 0))  # replaces a row of hour 00's .current file, from hour 01
    home.drain()
    home.put(("d", 1, 0))
    home.drain()
    _, plan = lake.current_plan()
    assert len(plan.replacing) == 2, "the two appended files may hold changes replacing hour 00's rows"
    assert lake_orders(home) == table_orders(home)

    done = lake.compact([("2026-11-25", "01")])

    assert [(d["hour"], d["current_rows"], d["superseded_rows"]) for d in done] == [("00", 2, 1), ("01", 2, 0)]
    files, plan = lake.current_plan()
    # The old file stays until vacuum, out of the version.
    hour00 = {f.rsplit(".", 2)[1]: f for f in files if "/hour=00/" in f}
    assert sorted(hour00) == ["current", "superseded"]
    assert [r["order_id"] for r in pq.read_table(hour00["superseded"]).to_pylist()] == ["a"]
    assert hour00["current"] in plan.rows
    assert lake.current_plan()[1].replacing == []
    assert lake_orders(home) == table_orders(home)
    assert home.sequences_in_lake() == home.all_sequences()


def test_an_hour_compacted_again_and_again_keeps_one_file_of_each_kind(home: Home, commit_times: list[str]) -> None:
    # The stream compacts its current hour every compact_files flushes: the superseded
    # files must be merged too, or each compaction would leave one more in the hour.
    commit_times[:] = ["2026-11-25T00:00:00.000Z"]
    lake = DeltaLake(home.settings.lake)
    for round_ in range(3):
        home.put(*[(f"o{round_}-{n}", 1, n) for n in range(3)])
        home.drain()
        home.put((f"o{round_}-0", 2, 0))  # an update: its insert is superseded
        home.drain()
        lake.compact([("2026-11-25", "00")])
        kinds = sorted(f.rsplit(".", 2)[1] for f in lake.files())
        assert kinds == ["current", "superseded"], kinds
    assert lake.compact([("2026-11-25", "00")]) == []  # nothing left to merge
    assert lake_orders(home) == table_orders(home)
    assert home.sequences_in_lake() == home.all_sequences()


def test_an_hour_left_out_of_a_compaction_still_sees_what_replaced_its_rows(
    home: Home, commit_times: list[str]
) -> None:
    commit_times[:] = ["2026-11-25T00:00:00.000Z"]
    home.put(("a", 1, 0))  # hour 00: one file, so no compaction of crowded hours takes it
    home.drain()
    commit_times[:] = ["2026-11-25T01:00:00.000Z"]
    home.put(("a", 2, 0))  # replaces hour 00's row, from hour 01
    home.drain()
    home.put(("b", 3, 0))
    home.drain()
    lake = DeltaLake(home.settings.lake)

    assert [d["hour"] for d in lake.compact()] == ["01"]  # past this change, and hour 00 untouched

    assert lake_orders(home) == table_orders(home)
    assert [row[5] for row in lake_orders(home) if row[0] == "a"] == [2]


def test_a_refused_change_replaces_the_row_it_changed_after_compaction_too(home: Home) -> None:
    home.put(("p", 1, 0))
    insert_by_hand(home, "p", "[1]", replacing=1)  # poison: to the error table, replacing p's insert
    home.put(("q", 2, 0))
    home.drain()
    lake = DeltaLake(home.settings.lake)
    assert lake.error_count() == 1
    before = lake_orders(home)
    assert [row[0] for row in before] == ["q"]  # p's image in the table is the poison: not in the lake

    lake.compact([(p["dt"], p["hour"]) for p in lake.partitions()])

    assert lake_orders(home) == before
    assert lake.current_plan()[1].replacing == []


# -- (f) restart ------------------------------------------------------------------------------


def test_a_new_stream_resumes_after_what_the_lake_holds(home: Home) -> None:
    home.put(*[(f"o{n}", 1, n) for n in range(6)])
    first = home.stream(FakeClock(), buffer_bytes=1 << 30, read_rows=2)
    first.step()
    first.flush()  # 1..2 in the lake
    first.step()
    first.step()  # 3..6 read and buffered, never flushed: the process died here
    first.close()
    assert home.sequences_in_lake() == [1, 2]

    home.put(("o1", 5, 0))
    second = home.stream()
    assert second.drain() == 5
    second.close()

    assert home.sequences_in_lake() == [1, 2, 3, 4, 5, 6, 7]
    assert DeltaLake(home.settings.lake).written_through() == 7
    third = home.stream()
    assert third.drain() == 0  # nothing twice
    third.close()
    assert home.sequences_in_lake() == [1, 2, 3, 4, 5, 6, 7]
    assert lake_orders(home) == table_orders(home)


# -- known gaps between the table and the lake (strict: they fail loudly once fixed) ----------


def test_every_price_the_table_accepts_reaches_the_lake(home: Home) -> None:
    ada = {"name": "Ada"}
    too_fine = check_order({CONTACT: ada, ORDER: {"order_id": "x", "quantity": 1, "price": "0.12345678901"}})
    assert too_fine == [Reason.INVALID_PRICE]  # 11 places: the table refuses it, so the lake never sees it
    finest = check_order({CONTACT: ada, ORDER: {"order_id": "y", "quantity": 1, "price": "1.50000000000"}})
    largest = check_order({CONTACT: ada, ORDER: {"order_id": "z", "quantity": 1, "price": "9" * 28}})
    assert isinstance(finest, Order)
    assert isinstance(largest, Order)
    rows = [(o.order_id, to_json(o.record), i) for i, o in enumerate((finest, largest))]
    home.ledger.commit_chunk(Chunk(home.execution.id, "k", rows, [], 2))

    home.drain()

    assert lake_orders(home) == table_orders(home)


def test_a_good_update_after_a_poison_change_of_the_same_order_reaches_the_lake(home: Home) -> None:
    insert_by_hand(home, "p", "[1]")
    home.put(("p", 2, 0))

    home.drain()

    assert [row[:6] for row in lake_orders(home)] == [row[:6] for row in table_orders(home)]
