"""Hostile input never crashes the service, and nothing of it is lost.

Each test drops one hostile object into a home's bucket, runs the runner, checks where the
object's records went (or that a broken document applied nothing and was quarantined with
its reason), then puts a good file and checks the service still processes it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from salesflow.domain.records import Execution, ExecutionStatus
from salesflow.runtime.bootstrap import App
from salesflow.runtime.runner import Runner
from tests.integration.conftest import SALESFLOW, good_record, home_state, opened_app

DEEP = 10_000


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    with opened_app(tmp_path) as opened:
        yield opened


def process(app: App, key: str, data: bytes) -> Execution:
    """Put one object and run everything pending; the object's execution."""
    app.store.put(key, io.BytesIO(data))
    executions = Runner(app).run_once()
    assert [e.key for e in executions] == [key]
    return executions[0]


def line(record: object) -> bytes:
    return json.dumps(record).encode() + b"\n"


def assert_still_serves(app: App) -> None:
    """A good file put after the hostile one is processed as usual."""
    execution = process(app, "orders/after.json", json.dumps({"orders": [good_record("after-1")]}).encode())
    assert (execution.status, execution.stored) == (ExecutionStatus.SUCCEEDED, 1)
    assert app.ledger.order("after-1")["quantity"] == 1


def assert_failed_and_quarantined(app: App, execution: Execution, key: str) -> dict[str, object]:
    """Failed with a reason and an offset, moved to quarantine/ with the reason beside it, nothing applied."""
    assert execution.status == ExecutionStatus.FAILED
    assert execution.error
    assert execution.error_offset is not None
    assert (execution.stored, execution.rejected) == (0, 0)
    assert not app.store.path(key).exists()
    assert app.store.path(f"quarantine/{key}").is_file()
    note = json.loads(app.store.path(f"quarantine/{key}.reason.json").read_text())
    assert note["key"] == key
    assert note["reason"]
    assert note["offset"] == execution.error_offset
    state = home_state(app.settings.home)
    assert state.orders == []
    assert state.dead_letters == []
    assert state.changes == []
    return note


def test_deep_nesting_in_a_document_fails_it_and_quarantines_it(app: App) -> None:
    record = good_record("1")
    record["order-info"]["extra"] = "@"
    text = json.dumps({"orders": [good_record("0"), record]})
    data = text.replace('"@"', "[" * DEEP + "]" * DEEP).encode()

    execution = process(app, "orders/deep.json", data)

    assert_failed_and_quarantined(app, execution, "orders/deep.json")
    assert_still_serves(app)


def test_deep_nesting_in_one_line_makes_that_line_a_dead_letter(app: App) -> None:
    deep = b'{"order-info": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    data = line(good_record("1")) + deep + b"\n" + line(good_record("3"))

    execution = process(app, "orders/deep.jsonl", data)

    assert (execution.status, execution.records, execution.stored) == (ExecutionStatus.SUCCEEDED, 3, 2)
    state = home_state(app.settings.home)
    assert [o["order_id"] for o in state.orders] == ["1", "3"]
    assert state.dead_letters == [("orders/deep.jsonl", 2, ["malformed_json"], deep.decode())]
    assert_still_serves(app)


HUGE_ID = 123456789012345678901234567890


@pytest.mark.parametrize("name", ["huge.json", "huge.jsonl"])
def test_huge_numbers_are_kept_exactly(app: App, name: str) -> None:
    big_id = good_record("@id")
    big_quantity = good_record("2")
    big_quantity["order-info"]["qty"] = "@qty"
    big_price = good_record("3")
    big_price["order-info"]["unit-price"] = "@price"
    if name.endswith(".jsonl"):
        text = "".join(json.dumps(r) + "\n" for r in (big_id, big_quantity, big_price))
    else:
        text = json.dumps({"orders": [big_id, big_quantity, big_price]})
    data = text.replace('"@id"', str(HUGE_ID)).replace('"@qty"', "1e400").replace('"@price"', "1e400").encode()
    key = f"orders/{name}"

    execution = process(app, key, data)

    assert (execution.status, execution.records, execution.stored) == (ExecutionStatus.SUCCEEDED, 3, 1)
    state = home_state(app.settings.home)
    [order] = state.orders
    assert order["order_id"] == str(HUGE_ID)
    assert order["record"]["order_info"]["order_id"] == str(HUGE_ID)
    first = 0 if name.endswith(".json") else 1
    assert state.dead_letters == [
        (
            key,
            first + 1,
            ["invalid_quantity"],
            {**big_quantity, "order-info": {**big_quantity["order-info"], "qty": Decimal("1e400")}},
        ),
        (
            key,
            first + 2,
            ["invalid_price"],
            {**big_price, "order-info": {**big_price["order-info"], "unit-price": Decimal("1e400")}},
        ),
    ]
    assert_still_serves(app)


def test_invalid_utf8_in_a_document_fails_it_at_the_byte_offset(app: App) -> None:
    head = json.dumps({"orders": [good_record("1"), good_record("2", name="Ren")]}).encode()
    bad = head.index(b"Ren") + 1
    data = head[:bad] + b"\xff\xfe" + head[bad + 1 :]

    execution = process(app, "orders/latin1.json", data)

    note = assert_failed_and_quarantined(app, execution, "orders/latin1.json")
    assert "UTF-8" in execution.error
    assert execution.error_offset == bad
    assert note["offset"] == bad
    assert_still_serves(app)


def test_invalid_utf8_in_one_line_makes_that_line_a_dead_letter(app: App) -> None:
    bad = line(good_record("2", name="Ren")).replace(b"Ren", b"R\xffn")
    data = line(good_record("1")) + bad + line(good_record("3"))

    execution = process(app, "orders/latin1.jsonl", data)

    assert (execution.status, execution.records, execution.stored) == (ExecutionStatus.SUCCEEDED, 3, 2)
    state = home_state(app.settings.home)
    assert [o["order_id"] for o in state.orders] == ["1", "3"]
    [(key, position, reasons, record)] = state.dead_letters
    assert (key, position, reasons) == ("orders/latin1.jsonl", 2, ["malformed_json"])
    assert isinstance(record, str)
    assert "R\\xffn" in record  # the raw line, the bad byte shown as an escape
    assert_still_serves(app)


def test_a_binary_file_named_json_fails_and_is_quarantined(app: App) -> None:
    data = b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(64 << 10)

    execution = process(app, "orders/picture.json", data)

    assert_failed_and_quarantined(app, execution, "orders/picture.json")
    assert_still_serves(app)


def test_a_binary_file_named_jsonl_loses_no_line_and_stores_nothing(app: App) -> None:
    data = random.Random(2).randbytes(256 << 10)
    lines = [number for number, text in enumerate(data.split(b"\n"), start=1) if text.strip()]

    execution = process(app, "orders/noise.jsonl", data)

    assert execution.status == ExecutionStatus.SUCCEEDED
    assert (execution.records, execution.stored, execution.rejected) == (len(lines), 0, len(lines))
    state = home_state(app.settings.home)
    assert state.orders == []
    assert [position for _, position, _, _ in state.dead_letters] == lines
    assert {reason for _, _, reasons, _ in state.dead_letters for reason in reasons} <= {
        "malformed_json",
        "not_an_object",
        "record_too_large",
    }
    assert_still_serves(app)


@pytest.mark.parametrize("name", ["cut.json.gz", "cut.jsonl.gz"])
def test_a_truncated_gzip_file_applies_nothing(app: App, name: str) -> None:
    records = [good_record(str(n)) for n in range(2_000)]
    if name.endswith(".jsonl.gz"):
        text = "".join(json.dumps(r) + "\n" for r in records)
    else:
        text = json.dumps({"orders": records})
    whole = gzip.compress(text.encode(), mtime=0)
    key = f"orders/{name}"

    execution = process(app, key, whole[: len(whole) // 2])

    assert_failed_and_quarantined(app, execution, key)
    assert "gzip" in execution.error
    assert_still_serves(app)


def test_an_unsupported_extension_under_orders_fails_naming_the_accepted_ones(app: App) -> None:
    execution = process(app, "orders/export.csv", b"order_id,qty\n1,2\n")

    assert execution.status == ExecutionStatus.FAILED
    assert execution.error
    for accepted in (".json", ".jsonl", ".ndjson", ".gz"):
        assert accepted in execution.error
    state = home_state(app.settings.home)
    assert (state.orders, state.dead_letters) == ([], [])
    assert_still_serves(app)


GIB = 1 << 30
PIECE = 8 << 20

MEASURE_PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
sys.exit(code)
"""


@pytest.mark.slow
def test_a_1_gib_line_is_a_dead_letter_and_memory_stays_flat(tmp_path: Path) -> None:
    """A JSON Lines file with a 1 GiB line of b"x" (written in 8 MiB pieces, about 2 s here)
    between two good lines, run by `salesflow run --once` with the default record limit
    (16 MiB) and default settings otherwise. Peak RSS of the run and every process it starts
    is read with getrusage(RUSAGE_CHILDREN) in a wrapper process."""
    home = tmp_path / "home"
    big = home / "bucket" / "orders" / "long-line.jsonl"
    big.parent.mkdir(parents=True)
    try:
        with big.open("wb") as out:
            out.write(line(good_record("1")))
            piece = b"x" * PIECE
            for _ in range(GIB // PIECE):
                out.write(piece)
            out.write(b"\n")
            out.write(line(good_record("3")))
        env = {name: value for name, value in os.environ.items() if not name.startswith("SALESFLOW_")}
        # --no-stream: this measures the orders pipeline; the lake's libraries (DuckDB, delta-rs)
        # and the drain have their own figures in the stream benchmark.
        measured = subprocess.run(
            [
                sys.executable,
                "-c",
                MEASURE_PEAK_RSS,
                str(SALESFLOW),
                "--home",
                str(home),
                "run",
                "--once",
                "--no-stream",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        big.unlink(missing_ok=True)

    assert measured.returncode == 0, measured.stderr
    peak_rss = int(measured.stdout)
    state = home_state(home)
    assert [o["order_id"] for o in state.orders] == ["1", "3"]
    [(key, position, reasons, record)] = state.dead_letters
    assert (key, position, reasons) == ("orders/long-line.jsonl", 2, ["record_too_large"])
    assert isinstance(record, str)
    assert 0 < len(record) <= 4096
    assert set(record) == {"x"}
    assert peak_rss < 300 << 20, f"peak RSS {peak_rss >> 20} MiB"

    with opened_app(home) as app:
        assert_still_serves(app)
