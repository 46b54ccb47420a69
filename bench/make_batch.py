"""Write a realistic batch of CSV files for the batch benchmark (issue 4).

    OUT/products.csv                      product_id,name,category,retail_price
    OUT/orders/part-00001.csv ...         order_id,user_id,created_at,status,returned_at
    OUT/order_items/part-00001.csv ...    order_item_id,order_id,product_id,sale_price,quantity,status,returned_at
    OUT/stats.json                        what was written (written last: the batch is complete once it exists)

N orders (default 1,000,000) by about 200,000 customers over 90 days from 2024-01-01,
1 to 5 items each (3 on average), 2,000 products in 20 categories. created_at is ISO
8601: mostly naive (UTC), some with `Z`, some with an offset that can move the UTC date.
Item status mirrors the order's; most items of a Returned order are returned, and
a few items of other orders too, some spelled `returned` / `RETURNED`, some only with
returned_at set. Product names contain commas and quotes (quoted CSV fields).

Faults, as a pipeline meets them:
- about 1 % invalid rows in each file: empty required ids, empty or unparseable
  created_at (`2024-02-30T10:00:00`, `03/15/2024 10:00`, ...), sale_price empty, 0,
  negative or not a number, quantity 0, product price 0 or not a number, empty category;
- items whose order was invalid (refused as unknown_order) or whose product does not
  exist (unknown_product);
- about 0.2 % exact duplicate rows, written again a little later (possibly in a later file);
- about 0.2 % of orders and items written again later under the same key with new
  content (a status update; for items, a return): the last one must win.

Rows are split into K files (--files) in generation order, so "files in name order,
rows in file order" is the order in which the rows were made. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PRODUCT_HEADER = ["product_id", "name", "category", "retail_price"]
ORDER_HEADER = ["order_id", "user_id", "created_at", "status", "returned_at"]
ITEM_HEADER = ["order_item_id", "order_id", "product_id", "sale_price", "quantity", "status", "returned_at"]

CATEGORIES = [
    "Accessories",
    "Active",
    "Blazers & Jackets",
    "Clothing Sets",
    "Dresses",
    "Fashion Hoodies & Sweatshirts",
    "Intimates",
    "Jeans",
    "Jumpsuits & Rompers",
    "Leggings",
    "Outerwear & Coats",
    "Pants",
    "Shorts",
    "Skirts",
    "Sleep & Lounge",
    "Socks",
    "Suits & Sport Coats",
    "Sweaters",
    "Swim",
    "Tops & Tees",
]
BRANDS = ["Acme", "Northwind", "Contoso", "Fabrikam", "Tailspin", "Wingtip", "Lucerne", "Litware"]
ADJECTIVES = ["Classic", "Slim Fit", "Relaxed", "Organic Cotton", 'The "Everyday"', "Vintage", "Stretch", "Premium"]
COLOURS = ["Black", "Navy", "Heather Grey", "Olive", "Burgundy", "White", "Sand", "Denim Blue"]

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 90
OFFSETS = ["+02:00", "-05:00", "+05:30", "-08:00", "+09:00", "+01:00"]
STATUSES = [("Complete", 0.50), ("Shipped", 0.25), ("Returned", 0.10), ("Cancelled", 0.15)]

INVALID = 0.01  # share of invalid rows in each file
DUPLICATE = 0.002  # share of rows written again, identical, a little later
UPDATE = 0.002  # share of orders and items written again later with new content under the same key
LATER = 20_000  # a duplicate or update comes up to this many rows later


def make_products(rng: random.Random, count: int) -> tuple[list[list[str]], list[float], int]:
    """Rows of products.csv, each product's retail price (0 for a refused product), and the invalid count."""
    rows: list[list[str]] = []
    prices: list[float] = []
    invalid = 0
    for n in range(1, count + 1):
        category = CATEGORIES[(n * 7 + rng.randrange(3)) % len(CATEGORIES)]
        price = round(rng.lognormvariate(3.3, 0.7), 2) + 0.99
        name = f"{rng.choice(BRANDS)} {rng.choice(ADJECTIVES)} {category.split()[0]}, {rng.choice(COLOURS)}"
        row = [str(n), name, category, f"{price:.2f}"]
        if rng.random() < INVALID:
            invalid += 1
            price = 0.0
            kind = rng.randrange(4)
            if kind == 0:
                row[2] = ""  # empty category
            elif kind == 1:
                row[3] = "0.00"
            elif kind == 2:
                row[3] = "-12.50"
            else:
                row[3] = "call us"
        rows.append(row)
        prices.append(price)
    return rows, prices, invalid


def iso(moment: datetime, rng: random.Random) -> str:
    """created_at as a source would write it: naive UTC mostly, sometimes `Z` or a local offset."""
    form = rng.random()
    if form < 0.80:
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    if form < 0.90:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    offset = rng.choice(OFFSETS)
    sign = 1 if offset[0] == "+" else -1
    shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])) * sign
    return (moment + shift).strftime("%Y-%m-%dT%H:%M:%S") + offset


class Writer:
    """Writes rows of one table into K files of about equal row counts, in order.

    Rows can be scheduled to be written again later (a duplicate or an update);
    they come out after the row they were scheduled at.
    """

    def __init__(self, folder: Path, header: list[str], expected_rows: int, files: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.header = folder, header
        self.per_file = max(1, -(-expected_rows // files))
        self.files = files
        self.index = 0  # rows written
        self.later: defaultdict[int, list[list[str]]] = defaultdict(list)
        self.stream: Any = None
        self.writer: Any = None
        self.opened = 0

    def _open_next(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.opened += 1
        self.stream = (self.folder / f"part-{self.opened:05d}.csv").open("w", newline="", encoding="utf-8")
        self.writer = csv.writer(self.stream, lineterminator="\n")
        self.writer.writerow(self.header)

    def write(self, row: list[str]) -> None:
        if self.stream is None or (self.index % self.per_file == 0 and self.opened < self.files):
            self._open_next()
        self.writer.writerow(row)
        self.index += 1
        for again in self.later.pop(self.index, ()):
            self.write(again)

    def schedule(self, row: list[str], rng: random.Random) -> None:
        self.later[self.index + rng.randint(1, LATER)].append(row)

    def close(self) -> None:
        for _, rows in sorted(self.later.items()):
            for row in rows:
                self.write(row)
        self.later.clear()
        if self.stream is None:
            self._open_next()
        self.stream.close()


def pick_status(rng: random.Random) -> str:
    roll = rng.random()
    for status, share in STATUSES:
        if roll < share:
            return status
        roll -= share
    return STATUSES[-1][0]


def quantity(rng: random.Random) -> int:
    roll = rng.random()
    return 1 if roll < 0.5 else 2 if roll < 0.75 else 3 if roll < 0.87 else 4 if roll < 0.95 else 5


def generate(out: Path, orders: int, seed: int, files: int, products: int = 2_000, customers: int = 200_000) -> dict:
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    stats: dict[str, Any] = {"seed": seed, "orders_requested": orders, "files": files}

    product_rows, prices, invalid_products = make_products(rng, products)
    for _ in range(max(1, products // 500)):  # a few exact duplicates
        product_rows.insert(rng.randrange(len(product_rows)), list(rng.choice(product_rows)))
    with (out / "products.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(PRODUCT_HEADER)
        writer.writerows(product_rows)
    stats["products"] = {"rows": len(product_rows), "invalid": invalid_products, "duplicates": products // 500}

    order_out = Writer(out / "orders", ORDER_HEADER, orders, files)
    item_out = Writer(out / "order_items", ITEM_HEADER, orders * 3, files)
    counts = {
        "orders": {"invalid": 0, "duplicates": 0, "updates": 0},
        "order_items": {"invalid": 0, "duplicates": 0, "updates": 0, "unknown_product": 0, "returned": 0},
    }
    item_id = 0
    seconds = DAYS * 86_400
    for n in range(1, orders + 1):
        order_id = str(n)
        moment = START + timedelta(seconds=rng.randrange(seconds))
        status = pick_status(rng)
        returned_at = (moment + timedelta(days=rng.randint(3, 20))).strftime("%Y-%m-%dT%H:%M:%S")
        order = [order_id, str(rng.randrange(1, customers + 1)), iso(moment, rng), status, ""]
        if status == "Returned":
            order[4] = returned_at
        order_valid = True
        if rng.random() < INVALID:
            order_valid = False
            counts["orders"]["invalid"] += 1
            kind = rng.randrange(6)
            if kind == 0:
                order[0] = ""
            elif kind == 1:
                order[1] = ""
            elif kind == 2:
                order[2] = ""
            elif kind == 3:
                order[2] = moment.strftime("%Y-02-30T%H:%M:%S")
            elif kind == 4:
                order[2] = moment.strftime("%m/%d/%Y %H:%M")
            else:
                order[2] = "yesterday"
        order_out.write(order)
        if order_valid and rng.random() < DUPLICATE:
            order_out.schedule(list(order), rng)
            counts["orders"]["duplicates"] += 1
        elif order_valid and status in ("Shipped", "Complete") and rng.random() < UPDATE:
            update = list(order)
            update[3] = "Complete" if status == "Shipped" else "Returned"
            update[4] = returned_at if update[3] == "Returned" else ""
            order_out.schedule(update, rng)
            counts["orders"]["updates"] += 1

        for _ in range(rng.randint(1, 5)):
            item_id += 1
            index = min(int(products * rng.random() ** 1.6), products - 1)  # popular products first
            product_id = str(index + 1)
            retail = prices[index] or 20.0
            sale = round(retail * rng.uniform(0.7, 1.0), 2) or 0.01
            returned = rng.random() < (0.8 if status == "Returned" else 0.02)
            item_status, item_returned_at = status, ""
            if returned:
                spelling = rng.random()
                item_status = "returned" if spelling < 0.02 else "RETURNED" if spelling < 0.04 else "Returned"
                item_returned_at = returned_at
                if spelling > 0.97:  # only returned_at says it
                    item_status = "Complete"
            elif status == "Returned":
                item_status = "Complete"
            item = [
                str(item_id),
                order_id,
                product_id,
                f"{sale:.2f}",
                str(quantity(rng)),
                item_status,
                item_returned_at,
            ]
            item_valid = True
            roll = rng.random()
            if roll < INVALID:
                item_valid = False
                counts["order_items"]["invalid"] += 1
                kind = rng.randrange(8)
                if kind == 0:
                    item[0] = ""
                elif kind == 1:
                    item[2] = ""
                elif kind == 2:
                    item[3] = ""
                elif kind == 3:
                    item[3] = "0.00"
                elif kind == 4:
                    item[3] = f"-{sale:.2f}"
                elif kind == 5:
                    item[3] = "N/A"
                elif kind == 6:
                    item[3] = f"{sale:.2f} EUR"
                else:
                    item[4] = "0"
            elif roll < INVALID * 1.2:
                item[2] = str(products + 1 + rng.randrange(100))  # no such product
                counts["order_items"]["unknown_product"] += 1
            counts["order_items"]["returned"] += returned and item_valid
            item_out.write(item)
            if item_valid and rng.random() < DUPLICATE:
                item_out.schedule(list(item), rng)
                counts["order_items"]["duplicates"] += 1
            elif item_valid and not returned and rng.random() < UPDATE:
                update = list(item)
                update[5], update[6] = "Returned", returned_at
                item_out.schedule(update, rng)
                counts["order_items"]["updates"] += 1

    order_out.close()
    item_out.close()
    stats["orders"] = {"rows": order_out.index, "orders": orders, **counts["orders"]}
    stats["order_items"] = {"rows": item_out.index, "items": item_id, **counts["order_items"]}
    stats["bytes"] = sum(path.stat().st_size for path in out.rglob("*.csv"))
    stats["paths"] = {
        "products": "products.csv",
        "orders": sorted(str(p.relative_to(out)) for p in (out / "orders").glob("*.csv")),
        "order_items": sorted(str(p.relative_to(out)) for p in (out / "order_items").glob("*.csv")),
    }
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write (replaced if it exists)"
    )
    parser.add_argument("--orders", type=int, default=1_000_000, metavar="N", help="orders (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default %(default)s)")
    parser.add_argument(
        "--files",
        type=int,
        default=1,
        metavar="K",
        help="split orders and order items into K files each (default %(default)s)",
    )
    args = parser.parse_args()
    if args.orders < 1 or args.files < 1:
        parser.error("--orders and --files must be at least 1")
    shutil.rmtree(args.out, ignore_errors=True)
    stats = generate(args.out, args.orders, args.seed, args.files)
    temp = args.out / ".stats.json.part"
    temp.write_text(json.dumps(stats, indent=2) + "\n")
    os.replace(temp, args.out / "stats.json")
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
