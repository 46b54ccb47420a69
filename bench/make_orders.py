"""Write a realistic orders file for benchmarks: `{"orders": [...]}` or JSON Lines.

About 10 % of the records are invalid (each kind of fault the validator knows) and
about 2 % repeat an earlier order id, as the issue's benchmark asks.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import orjson

PRODUCTS = [
    ("101", "Item One", "19.99"),
    ("102", "Item Two", "5.00"),
    ("103", "Wireless Mouse", "24.50"),
    ("104", "USB-C Cable", "9.95"),
    ("105", "Laptop Stand", "39.00"),
    ("106", "Desk Lamp", "27.25"),
]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Barbara", "Ken", "Edsger", "Frances"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Liskov", "Thompson", "Dijkstra", "Allen"]


def make_record(rng: random.Random, n: int, order_id: str) -> dict[str, object]:
    return make_record_and_fault(rng, n, order_id)[0]


def make_record_and_fault(rng: random.Random, n: int, order_id: str) -> tuple[dict[str, object], bool]:
    """A record, and whether a fault that makes it invalid was put in."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    item_id, desc, price = rng.choice(PRODUCTS)
    record: dict[str, object] = {
        "contact-info": {"name": f"{first} {last}", "email": f"{first.lower()}{n}@example.com"},
        "order-info": {"OrderId": order_id, "item-id": item_id, "item-desc": desc, "qty": str(rng.randint(1, 5))},
    }
    if n % 3 == 0:  # a third of the sources send a unit price too
        record["order-info"]["price"] = price  # type: ignore[index]
    fault = rng.random()
    if fault < 0.10:  # one invalid record in ten, spread over the kinds of fault
        kind = n % 5
        if kind == 0:
            del record["contact-info"]
        elif kind == 1:
            record["order-info"]["qty"] = "0"  # type: ignore[index]
        elif kind == 2:
            record["contact-info"]["email"] = "not-an-email"  # type: ignore[index]
        elif kind == 3:
            del record["order-info"]["OrderId"]  # type: ignore[attr-defined]
        else:
            record["order-info"]["price"] = "-1"  # type: ignore[index]
    return record, fault < 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--lines", action="store_true", help="write JSON Lines instead of one document")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--stats",
        type=Path,
        metavar="PATH",
        help="also write what the file holds as JSON: records, valid, invalid, distinct_valid_ids "
        "(what a correct ingest must end with)",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    valid_ids = bytearray(args.orders + 1)  # order ids are 1..N: one flag per id seen in a valid record
    invalid = repeats = 0
    with args.out.open("wb") as out:
        out.write(b"" if args.lines else b'{"orders": [\n')
        for n in range(args.orders):
            repeat = n > 0 and rng.random() < 0.02
            order_id = str(rng.randrange(n) + 1) if repeat else str(n + 1)
            repeats += repeat
            record, faulty = make_record_and_fault(rng, n, order_id)
            if faulty:
                invalid += 1
            else:
                valid_ids[int(order_id)] = 1
            data = orjson.dumps(record)
            if args.lines:
                out.write(data + b"\n")
            else:
                out.write((b",\n" if n else b"") + data)
        out.write(b"" if args.lines else b"\n]}\n")
    if args.stats:
        stats = {
            "records": args.orders,
            "valid": args.orders - invalid,
            "invalid": invalid,
            "distinct_valid_ids": valid_ids.count(1),
            "repeated_ids": repeats,
            "bytes": args.out.stat().st_size,
            "seed": args.seed,
        }
        args.stats.write_bytes(orjson.dumps(stats, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
