"""The order generator against the memory fakes, on a fake clock: no real time passes.

A user relies on: the same seed giving the same orders; the rate holding over
time (N per second for D seconds is N x D writes, caught up after a late tick,
never a flood after a stall); updates, deletes and invalid records showing up
as MODIFY and REMOVE changes and dead letters with reasons; writes that look
exactly like what the orders pipeline stores.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from salesflow.adapters.memory import InMemoryObjectStore, InMemoryOrderLedger
from salesflow.domain.errors import ConfigError, PermanentError
from salesflow.domain.orders import Order, Reason, check_order
from salesflow.domain.records import ExecutionStatus
from salesflow.runtime.bootstrap import build_app
from salesflow.runtime.generator import (
    CATALOGUE,
    PIPELINE,
    Generator,
    GeneratorOptions,
    GeneratorStats,
    OrderFactory,
    Target,
    WriteKind,
    parse_duration,
    run_demo_generator,
)
from salesflow.runtime.settings import load_settings


class FakeTime:
    """A clock that moves only when the generator sleeps (plus any lag a test adds)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(
    options: GeneratorOptions,
    ledger: InMemoryOrderLedger | None = None,
    store: InMemoryObjectStore | None = None,
    time: FakeTime | None = None,
    stop: threading.Event | None = None,
    progress: Any = None,
) -> tuple[GeneratorStats, InMemoryOrderLedger, InMemoryObjectStore]:
    ledger = ledger or InMemoryOrderLedger()
    store = store or InMemoryObjectStore()
    time = time or FakeTime()
    stats = Generator(store, ledger, options, stop, progress, clock=time.clock, sleep=time.sleep).run()
    return stats, ledger, store


def writes(options: GeneratorOptions, count: int) -> list[Any]:
    factory = OrderFactory(options)
    return [factory.next_write() for _ in range(count)]


MIXED = {"updates": 0.2, "deletes": 0.1, "invalid": 0.1}


# -- the orders -------------------------------------------------------------------


def test_the_same_seed_gives_the_same_writes_and_another_seed_others() -> None:
    assert writes(GeneratorOptions(seed=7, **MIXED), 500) == writes(GeneratorOptions(seed=7, **MIXED), 500)
    assert writes(GeneratorOptions(seed=7, **MIXED), 50) != writes(GeneratorOptions(seed=8, **MIXED), 50)


def test_the_same_seed_gives_the_same_table_whatever_the_ticks() -> None:
    fast, fast_ledger, _ = run(GeneratorOptions(rate=100, duration=3, seed=3, tick_seconds=0.05, **MIXED))
    slow, slow_ledger, _ = run(GeneratorOptions(rate=100, duration=3, seed=3, tick_seconds=0.5, **MIXED))
    assert fast.written == slow.written == 300
    assert _orders(fast_ledger) == _orders(slow_ledger)


def _orders(ledger: InMemoryOrderLedger) -> dict[str, Any]:
    heads: dict[str, Any] = {}
    for change in ledger.changes():
        if change["new_image"] is None:
            heads.pop(change["order_id"])
        else:
            heads[change["order_id"]] = json.loads(change["new_image"])
    return heads


def test_valid_records_are_already_in_the_shape_the_pipeline_stores() -> None:
    prices = {product.item_id: product.price for product in CATALOGUE}
    for write in writes(GeneratorOptions(seed=1, updates=0.3), 300):
        outcome = check_order(write.record)
        assert isinstance(outcome, Order)
        assert outcome.record == write.record  # canonical: nothing renamed, nothing converted
        order = write.record["order_info"]
        assert order["order_id"] == write.order_id
        assert 1 <= order["quantity"] <= 5
        price = Decimal(order["price"])  # exact text, two places, never above the catalogue price
        assert isinstance(order["price"], str)
        assert price.as_tuple().exponent == -2
        assert 0 < price <= prices[order["item_id"]]
        assert "@" in write.record["contact_info"]["email"]


def test_the_catalogue_has_twenty_products_with_exact_prices() -> None:
    assert len(CATALOGUE) == 20
    assert len({p.item_id for p in CATALOGUE}) == 20
    assert all(p.price.as_tuple().exponent == -2 and p.price > 0 for p in CATALOGUE)


def test_invalid_records_are_refused_for_every_kind_of_fault() -> None:
    invalid = [w for w in writes(GeneratorOptions(seed=2, invalid=1.0), 200)]
    assert {w.kind for w in invalid} == {WriteKind.INVALID}
    reasons: set[Reason] = set()
    for write in invalid:
        outcome = check_order(write.record)
        assert isinstance(outcome, list), write.record
        reasons.update(outcome)
    assert reasons == {
        Reason.MISSING_ORDER_ID,
        Reason.INVALID_EMAIL,
        Reason.INVALID_QUANTITY,
        Reason.INVALID_PRICE,
        Reason.MISSING_CONTACT_INFO,
    }


def test_updates_and_deletes_only_touch_orders_that_exist() -> None:
    live: set[str] = set()
    for write in writes(GeneratorOptions(seed=4, updates=0.4, deletes=0.3), 2000):
        if write.kind is WriteKind.INSERT:
            assert write.order_id not in live
            live.add(write.order_id)
        elif write.kind is WriteKind.UPDATE:
            assert write.order_id in live
        elif write.kind is WriteKind.DELETE:
            live.remove(write.order_id)


# -- into the table ----------------------------------------------------------------


def test_rate_times_duration_writes_committed_a_tick_at_a_time() -> None:
    time = FakeTime()
    stats, ledger, _ = run(GeneratorOptions(rate=40, duration=2.5, seed=1), time=time)
    assert (stats.written, stats.inserted, stats.elapsed, stats.stopped) == (100, 100, 2.5, False)
    assert stats.rate == pytest.approx(40)
    [execution] = ledger.executions()
    assert (execution.pipeline, execution.status, execution.checkpoint) == (PIPELINE, ExecutionStatus.SUCCEEDED, 100)
    assert execution.key == stats.key
    assert execution.key.startswith("generator/")
    assert len(time.sleeps) == 25  # a tick every 0.1 s


def test_a_late_tick_is_caught_up_but_a_stall_never_floods() -> None:
    time = FakeTime()
    chunk_sizes: list[int] = []

    def lag(stats: GeneratorStats) -> None:
        chunk_sizes.append(stats.written - sum(chunk_sizes))
        if len(chunk_sizes) == 3:
            time.now += 0.35  # a late tick: the next one writes what is due by then
        if len(chunk_sizes) == 10:
            time.now += 5.0  # a stall: at most a second of writes, the rest is dropped

    stats, _, _ = run(GeneratorOptions(rate=100, duration=10, seed=1), time=time, progress=lag)
    assert max(chunk_sizes) == 100  # one second of writes, not five
    assert 45 in chunk_sizes  # 0.1 s plus the 0.35 s it was late
    assert stats.written == 1000 - 410  # the 5.1 s due after the stall, less the one second written
    assert stats.elapsed == 10


def test_updates_deletes_and_invalid_records_become_changes_and_dead_letters() -> None:
    stats, ledger, _ = run(GeneratorOptions(rate=200, duration=2, seed=5, **MIXED))
    events = Counter(change["event_type"] for change in ledger.changes())
    assert events == {"INSERT": stats.inserted, "MODIFY": stats.updated, "REMOVE": stats.deleted}
    assert min(stats.inserted, stats.updated, stats.deleted, stats.invalid) > 0
    letters = ledger.dead_letters()
    assert len(letters) == stats.invalid
    assert all(letter.reasons and letter.key == stats.key for letter in letters)
    [execution] = ledger.executions()
    assert execution.checkpoint == stats.written - stats.deleted  # a delete is not a record
    assert (execution.stored, execution.rejected) == (stats.inserted + stats.updated, stats.invalid)
    assert [letter.position for letter in letters] == sorted({letter.position for letter in letters})


def test_stop_ends_cleanly_after_the_current_tick() -> None:
    stop = threading.Event()

    def stop_at_third_tick(stats: GeneratorStats) -> None:
        if stats.elapsed >= 0.2:
            stop.set()

    stats, ledger, _ = run(GeneratorOptions(rate=50, seed=1), stop=stop, progress=stop_at_third_tick)
    assert (stats.stopped, stats.written) == (True, 10)
    assert ledger.executions()[0].status == ExecutionStatus.SUCCEEDED


def test_a_failing_ledger_fails_the_execution_with_the_error() -> None:
    ledger = InMemoryOrderLedger(permanent_failure=True)
    with pytest.raises(PermanentError):
        run(GeneratorOptions(rate=50, duration=1, seed=1), ledger=ledger)
    [execution] = ledger.executions()
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error
    assert "refuses every commit" in execution.error


# -- into the bucket ----------------------------------------------------------------


def test_bucket_mode_writes_one_orders_file_per_tick() -> None:
    options = GeneratorOptions(rate=30, duration=3.5, target=Target.BUCKET, seed=9, updates=0.3, invalid=0.1)
    stats, ledger, store = run(options)
    keys = [info.key for info in store.list("orders/")]
    assert keys == sorted(keys)
    assert len(keys) == stats.files == 4  # at 1, 2, 3 and 3.5 s
    assert all(key.startswith(stats.key) and key.endswith(".json") for key in keys)
    records = [record for key in keys for record in json.load(store.open(key))["orders"]]
    assert len(records) == stats.written == 105
    assert sum(isinstance(check_order(r), list) for r in records) == stats.invalid > 0
    assert ledger.executions() == []  # `salesflow run` ingests the files, not the generator


# -- options --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rate": 0}, "more than 0 orders per second"),
        ({"rate": -5}, "more than 0 orders per second"),
        ({"duration": 0}, "more than 0 seconds"),
        ({"updates": 1.5}, "from 0 to 1"),
        ({"invalid": -0.1}, "from 0 to 1"),
        ({"updates": 0.5, "deletes": 0.3, "invalid": 0.3}, "at most 1"),
        ({"deletes": 0.1, "target": Target.BUCKET}, "--to table only"),
    ],
)
def test_options_that_make_no_sense_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        GeneratorOptions(**options)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30", 30), ("30s", 30), ("1.5s", 1.5), ("500ms", 0.5), ("2m", 120), ("1h", 3600)]
)
def test_durations_read_with_their_unit(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "2 days", "-1s", "0s"])
def test_durations_that_are_not_are_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


# -- the demo -------------------------------------------------------------------------


def test_the_demo_generator_fills_the_table_from_a_thread(tmp_path: Path) -> None:
    app = build_app(load_settings(tmp_path))
    try:
        said: list[str] = []
        thread = run_demo_generator(app, threading.Event(), said.append, rate=50, seconds=0.6, every=0.2)
        thread.join(timeout=5)
        assert not thread.is_alive()
        [execution] = app.ledger.executions()
        assert (execution.pipeline, execution.status) == (PIPELINE, ExecutionStatus.SUCCEEDED)
        assert execution.checkpoint > 0
        # The terminal hears when it starts, how far it is, and what it wrote in the end.
        assert said[0] == "demo: generating 50 orders a second for 0.6 s (some updates, deletes and invalid ones)"
        assert len(said) >= 3
        assert all(line.startswith("demo: ") and " writes in " in line for line in said[1:-1])
        summary = re.match(r"demo: (\d+) orders, \d+ updates, \d+ deletes and \d+ invalid records in \d+ s; ", said[-1])
        assert summary, said[-1]
        assert int(summary[1]) > 0
    finally:
        app.close()
