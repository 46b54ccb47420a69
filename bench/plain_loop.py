"""The plain loop the issue compares salesflow with, as a script of its own.

orjson loads the whole file, each record is validated in Python with the same
check_order salesflow uses, and the valid orders go into a SQLite table (WAL
mode) with one executemany in one transaction: an upsert by order id, so a
later record wins as with PutItem. No change capture, no dead-letter table, no
checkpoints, no streaming: the simplest thing that gets the same orders table.

The cycle collector is off while loading (a one-line change anyone tuning this
loop would make: it cuts orjson's load time to a third), unless --gc is given.

Prints one JSON object: counts, and seconds per phase.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import time
from pathlib import Path

import orjson

from salesflow.domain.orders import Order, check_order

_UPSERT = """
INSERT INTO orders (order_id, record, source_key, source_position) VALUES (?, ?, ?, ?)
ON CONFLICT (order_id) DO UPDATE SET
    record = excluded.record, source_key = excluded.source_key, source_position = excluded.source_position
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="a {'orders': [...]} document or a top-level array")
    parser.add_argument("database", type=Path, help="SQLite file to create (must not exist)")
    parser.add_argument("--gc", action="store_true", help="leave the cycle collector on")
    args = parser.parse_args()
    if not args.gc:
        gc.disable()
    key = f"orders/{args.file.name}"
    phases: dict[str, float] = {}

    started = time.perf_counter()
    document = orjson.loads(args.file.read_bytes())
    records = document["orders"] if isinstance(document, dict) else document
    phases["load"] = time.perf_counter() - started

    started = time.perf_counter()
    rows = []
    invalid = 0
    for position, raw in enumerate(records):
        outcome = check_order(raw)
        if isinstance(outcome, Order):
            rows.append((outcome.order_id, orjson.dumps(outcome.record).decode(), key, position))
        else:
            invalid += 1
    phases["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    if args.database.exists():
        sys.exit(f"{args.database} exists; give a new file")
    conn = sqlite3.connect(args.database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # as salesflow's database
    conn.execute(
        "CREATE TABLE orders (order_id TEXT PRIMARY KEY, record TEXT NOT NULL,"
        " source_key TEXT NOT NULL, source_position INTEGER NOT NULL)"
    )
    conn.execute("BEGIN")
    conn.executemany(_UPSERT, rows)
    conn.execute("COMMIT")
    phases["write"] = time.perf_counter() - started

    stored = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    conn.close()
    result = {"records": len(records), "valid": len(rows), "invalid": invalid, "stored": stored, "phases": phases}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
