"""Reading the home's database into Arrow inside a process that writes it (`salesflow run`:
the stream's change feed and the console's SQL box beside the pipelines) must leave the
process's locks alone: another process must never get the write lock from under one of our
transactions, or two writers corrupt the file. (Through ADBC's own copy of SQLite it did:
its reads released the lock this process held.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from salesflow.adapters.local.sqlite_arrow import SqliteArrowReader
from salesflow.adapters.local.sqlite_changes import SqliteChangeFeed
from salesflow.adapters.local.sqlite_db import connect

TRY_TO_WRITE = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=0)
try:
    conn.execute("BEGIN IMMEDIATE")
except sqlite3.OperationalError:
    print("locked")
else:
    conn.execute("ROLLBACK")
    print("written")
"""


def another_process_can_write(database: Path) -> bool:
    done = subprocess.run([sys.executable, "-c", TRY_TO_WRITE, str(database)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "written"


def test_reads_into_arrow_keep_this_process_write_lock_from_other_processes(tmp_path: Path) -> None:
    database = tmp_path / "salesflow.db"
    writer = connect(database)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO commits (committed_at) VALUES ('2026-11-26T00:00:00.000Z')")
        assert not another_process_can_write(database)  # the lock works

        reader = SqliteArrowReader(database)
        assert reader.query("SELECT count(*) AS n FROM change_log").to_pylist() == [{"n": 0}]
        assert not another_process_can_write(database)
        reader.close()
        feed = SqliteChangeFeed(database)
        assert feed.read_after(0, 10).num_rows == 0
        feed.close()
        assert not another_process_can_write(database)

        writer.execute("COMMIT")
        assert another_process_can_write(database)
    finally:
        writer.close()
