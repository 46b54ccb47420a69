"""One commit per record: what the original per-record PutItem design amounts to.

The same SQLite ledger salesflow uses (change log, dead letters, checkpoint),
but every record is a chunk of its own, committed in its own transaction. Reads
the first N records of the file with salesflow's reader, validates each with
check_order, encodes it as the pipeline does, and commits it.

Chunks are built here record by record, as the pipeline builds them (check_order,
then to_json), rather than by the pipeline with chunk_records=1: the pipeline cuts
chunks at read-block boundaries, so its chunks would still hold many records.

Prints one JSON object: counts, seconds of the commit loop, records/s.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from salesflow.adapters.local.sqlite_db import connect
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
from salesflow.domain.orders import Order, check_order
from salesflow.domain.records import Chunk, ExecutionStatus, Pipeline
from salesflow.jsoncodec import to_json
from salesflow.readers import read_document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", type=Path, help="a {'orders': [...]} document")
    parser.add_argument("database", type=Path, help="SQLite file to create (must not exist)")
    parser.add_argument("--records", type=int, default=50_000, help="how many records from the start of the file")
    args = parser.parse_args()
    if args.database.exists():
        sys.exit(f"{args.database} exists; give a new file")
    key = f"orders/{args.file.name}"
    ledger = SqliteOrderLedger(connect(args.database))
    execution = ledger.start_execution(Pipeline.ORDERS, key, "bench-per-record")
    done = stored = rejected = 0

    started = time.perf_counter()
    with args.file.open("rb") as stream:
        for block in read_document(stream):
            for position, value in zip(block.positions, block.values, strict=True):
                if done == args.records:
                    break
                outcome = check_order(value)
                if isinstance(outcome, Order):
                    chunk = Chunk(
                        execution.id, key, [(outcome.order_id, to_json(outcome.record), position)], [], done + 1
                    )
                    stored += 1
                else:
                    chunk = Chunk(execution.id, key, [], [(position, to_json(outcome), to_json(value))], done + 1)
                    rejected += 1
                ledger.commit_chunk(chunk)
                done += 1
            if done == args.records:
                break
    seconds = time.perf_counter() - started

    ledger.finish_execution(execution.id, ExecutionStatus.SUCCEEDED)
    ledger.close()
    result = {
        "records": done,
        "stored": stored,
        "rejected": rejected,
        "seconds": seconds,
        "records_per_second": done / seconds if seconds else 0.0,
    }
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
