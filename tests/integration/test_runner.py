"""The runner on a real home: which objects are processed, when, and how many times.

build_app(load_settings(home)) and Runner(app), as `salesflow run` wires them, on a folder
bucket and a SQLite database in tmp_path.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from salesflow.domain.errors import ConfigError
from salesflow.domain.records import Execution, ExecutionStatus
from salesflow.ports import ObjectInfo
from salesflow.runtime.bootstrap import App
from salesflow.runtime.runner import Runner, exclusive_home
from tests.integration.conftest import good_record, home_state, opened_app, write_document, write_orders


def document(*records: Any) -> bytes:
    return json.dumps({"orders": list(records)}).encode()


def put(app: App, key: str, data: bytes) -> ObjectInfo:
    return app.store.put(key, io.BytesIO(data))


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_same_object_seen_again_has_no_second_effect(tmp_path: Path) -> None:
    with opened_app(tmp_path) as app:
        runner = Runner(app)
        data = document(good_record("1"), good_record("2"), {"order-info": {"order-id": "3"}})
        put(app, "orders/a.json", data)
        [first] = runner.run_once()
        assert first.status == ExecutionStatus.SUCCEEDED
        before = home_state(tmp_path)

        # Put again, same bytes: a new file with a new mtime, so the bucket reports it changed.
        info = put(app, "orders/a.json", data)
        path = app.store.path("orders/a.json")
        os.utime(path, (info.modified_at - 5, info.modified_at - 5))
        assert app.store.stat("orders/a.json").version != info.version
        assert runner.run_once() == []
        assert runner.pending() == []

    with opened_app(tmp_path) as app:  # and after a restart
        os.utime(app.store.path("orders/a.json"))
        assert Runner(app).run_once() == []

    after = home_state(tmp_path)
    assert after == before
    assert len(after.executions) == 1
    assert [event for event, *_ in after.changes] == ["INSERT", "INSERT"]
    assert len(after.dead_letters) == 1


def test_the_same_key_with_new_content_is_a_new_execution_and_later_records_win(tmp_path: Path) -> None:
    with opened_app(tmp_path) as app:
        runner = Runner(app)
        put(app, "orders/a.json", document(good_record("1", 1), good_record("2", 1), good_record("1", 2)))
        [first] = runner.run_once()
        put(app, "orders/a.json", document(good_record("1", 5)))
        [second] = runner.run_once()

    assert first.id != second.id
    assert (first.status, second.status) == (ExecutionStatus.SUCCEEDED, ExecutionStatus.SUCCEEDED)
    state = home_state(tmp_path)
    assert [(e["key"], e["records"], e["stored"]) for e in state.executions] == [
        ("orders/a.json", 3, 3),
        ("orders/a.json", 1, 1),
    ]
    assert {o["order_id"]: o["quantity"] for o in state.orders} == {"1": 5, "2": 1}
    assert [
        (event, oid, old and old["order_info"]["quantity"], new["order_info"]["quantity"])
        for event, oid, old, new in state.changes
    ] == [
        ("INSERT", "1", None, 1),
        ("INSERT", "2", None, 1),
        ("MODIFY", "1", 1, 2),  # later in the file wins
        ("MODIFY", "1", 2, 5),  # the newer object wins
    ]


@pytest.mark.parametrize("temp_name", [".a.json", "a.json.tmp", "a.json.part"])
def test_temp_names_are_ignored_until_renamed(tmp_path: Path, temp_name: str) -> None:
    with opened_app(tmp_path) as app:
        runner = Runner(app)
        temp = write_document(app.store.root / "orders" / temp_name, [good_record("1")])
        assert runner.pending() == []
        assert runner.run_once() == []
        assert home_state(tmp_path).executions == []

        temp.rename(temp.with_name("a.json"))
        assert [info.key for info in runner.pending()] == ["orders/a.json"]
        [execution] = runner.run_once()
        assert (execution.key, execution.status, execution.stored) == ("orders/a.json", ExecutionStatus.SUCCEEDED, 1)
        assert runner.pending() == []


class WatchedRunner(Runner):
    """A Runner that signals each time it scans the bucket."""

    scanned: threading.Event

    def pending(self) -> list[ObjectInfo]:
        found = super().pending()
        self.scanned.set()
        return found


def test_a_file_still_being_written_is_not_read_until_it_settles(tmp_path: Path) -> None:
    """The file is written in place (no temp name) in six pieces, one every 0.2 s, with
    watch.settle_seconds = 1.5. The runner is known to have looked at the bucket after the first
    piece; it must wait until the writes stop for 1.5 s, then read the file whole. Read half-way,
    the document would fail and be quarantined."""
    data = document(*(good_record(str(n)) for n in range(1, 201)))
    size = len(data) // 6 + 1
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    with opened_app(tmp_path, settle_seconds=1.5) as app:
        assert app.settings.watch.settle_seconds == 1.5
        runner = WatchedRunner(app)
        runner.scanned = threading.Event()
        target = app.store.root / "orders" / "slow.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        done: list[Execution] = []
        worker = threading.Thread(target=lambda: done.extend(runner.run_once()))
        with target.open("wb") as out:
            out.write(pieces[0])
            out.flush()
            worker.start()
            assert runner.scanned.wait(10), "the runner never looked at the bucket"
            for piece in pieces[1:]:
                time.sleep(0.2)  # a writer that is slow, but never still for settle_seconds
                out.write(piece)
                out.flush()
        worker.join(timeout=30)
        assert not worker.is_alive()

    assert [(e.key, e.status, e.records) for e in done] == [("orders/slow.json", ExecutionStatus.SUCCEEDED, 200)]
    assert len(home_state(tmp_path).orders) == 200
    assert not (tmp_path / "bucket" / "quarantine").exists()


def test_pending_is_empty_after_run_once_whatever_the_outcome(tmp_path: Path) -> None:
    with opened_app(tmp_path) as app:
        runner = Runner(app)
        write_orders(app.store.root / "orders" / "a.json", 50, seed=1)
        write_orders(app.store.root / "orders" / "b.jsonl", 50, seed=2, first_id=100)
        put(app, "orders/broken.json", b'{"orders": [{"a": 1},')
        put(app, "orders/notes.txt", b"hello")
        put(app, "elsewhere/c.json", document(good_record("9")))  # not under a routed prefix
        assert [info.key for info in runner.pending()] == [
            "orders/a.json",
            "orders/b.jsonl",
            "orders/broken.json",
            "orders/notes.txt",
        ]
        executions = runner.run_once()
        assert runner.pending() == []

    assert sorted((e.key, e.status) for e in executions) == [
        ("orders/a.json", ExecutionStatus.SUCCEEDED),
        ("orders/b.jsonl", ExecutionStatus.SUCCEEDED),
        ("orders/broken.json", ExecutionStatus.FAILED),
        ("orders/notes.txt", ExecutionStatus.FAILED),
    ]


def test_a_reconciliation_scan_finds_files_dropped_while_nothing_watched(tmp_path: Path) -> None:
    with opened_app(tmp_path) as app:
        Runner(app).run_once()
    # Nothing runs: files land in the bucket by a plain copy.
    source = write_orders(tmp_path / "outside" / "late.jsonl", 30, seed=5)
    (tmp_path / "bucket" / "orders").mkdir(parents=True)
    shutil.copy(source, tmp_path / "bucket" / "orders" / "late.jsonl")
    write_document(tmp_path / "bucket" / "orders" / "2026" / "nested.json", [good_record("n1")])

    with opened_app(tmp_path) as app:
        runner = Runner(app)
        assert [info.key for info in runner.pending()] == ["orders/2026/nested.json", "orders/late.jsonl"]
        executions = runner.run_once()
    assert sorted((e.key, e.status, e.records) for e in executions) == [
        ("orders/2026/nested.json", ExecutionStatus.SUCCEEDED, 1),
        ("orders/late.jsonl", ExecutionStatus.SUCCEEDED, 30),
    ]


def test_watch_picks_up_a_file_put_while_it_runs_and_stops_on_the_event(tmp_path: Path) -> None:
    """scan_seconds is the default 30 s, so a file seen within a few seconds was seen by the
    watcher's file events, not by the periodic scan."""
    with opened_app(tmp_path) as app:
        assert app.settings.watch.scan_seconds == 30
        put(app, "orders/first.json", document(good_record("1")))
        finished: list[str] = []
        errors: list[BaseException] = []
        runner = Runner(app, on_execution=lambda e: finished.append(e.key))
        stop = threading.Event()

        def watch() -> None:
            try:
                runner.watch(stop)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=watch)
        thread.start()
        try:
            assert wait_for(lambda: finished == ["orders/first.json"]), "the start-up scan did not run"
            time.sleep(0.5)  # let the file watcher start after the start-up scan
            write_document(tmp_path / "outside" / "second.json", [good_record("2")])
            os.replace(tmp_path / "outside" / "second.json", app.store.root / "orders" / "second.json")
            seen = wait_for(lambda: finished == ["orders/first.json", "orders/second.json"], seconds=10)
        finally:
            stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive(), "watch() did not return after the stop event"
        assert errors == []
        assert seen, f"the watcher did not process a new file within 10 s (processed {finished})"
    assert [o["order_id"] for o in home_state(tmp_path).orders] == ["1", "2"]


HOLD_THE_HOME = """
import sys
from pathlib import Path
from salesflow.runtime.runner import exclusive_home

with exclusive_home(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_exclusive_home_refuses_a_second_holder_naming_its_pid(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_HOME, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with (
            pytest.raises(ConfigError, match=rf"in use by salesflow run \(pid {holder.pid}\)"),
            exclusive_home(tmp_path),
        ):
            pass
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    with exclusive_home(tmp_path):  # free again once the holder is gone; now this process holds it
        assert (tmp_path / ".run.lock").read_text() == str(os.getpid())
