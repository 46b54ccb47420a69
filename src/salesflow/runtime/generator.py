"""The order generator: realistic random orders at a steady rate, for demos and load.

Orders come from a fixed catalogue of tech products with fixed prices and a
pool of customers with names and emails, all drawn from ``random.Random(seed)``:
the same seed gives the same writes, in the same order, whatever the timing.
A write is one of:

- an insert: a new order;
- an update (``updates``): an order generated earlier gets a new quantity,
  product or price: a ``MODIFY`` change;
- a delete (``deletes``, table only): an order generated earlier is removed: a
  ``REMOVE`` change;
- an invalid record (``invalid``): missing order id, bad email, quantity 0,
  negative price, ...: it lands in the dead-letter queue with its reasons.

Writes go where real orders go. ``table``: through the ledger exactly as the
orders pipeline writes (one execution, records validated by ``check_order``,
one chunk per tick with the checkpoint). ``bucket``: one ``{"orders": [...]}``
file per tick under ``orders/``, for a running ``salesflow run`` to pick up
(deletes cannot be said in an orders file, so they are refused there).

The pace is kept over time: each tick writes every record due by then, so a
late tick catches up, but never more than ``max_burst_seconds`` of records at
once (after a long stall the backlog is dropped rather than flooded in).
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from io import BytesIO
from typing import Any, Protocol

from salesflow.adapters.local.sqlite_db import connect
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
from salesflow.clock import utc_now
from salesflow.domain.errors import ConfigError, SalesflowError
from salesflow.domain.orders import CONTACT, ORDER, Order, check_order
from salesflow.domain.records import Chunk, ExecutionStatus
from salesflow.jsoncodec import to_json
from salesflow.ports import ObjectStore, OrderLedger
from salesflow.retry import RetryPolicy
from salesflow.runtime.bootstrap import App
from salesflow.runtime.runner import ORDERS_PREFIX

PIPELINE = "generate"  # the executions of table mode, beside the orders pipeline's
log = logging.getLogger(__name__)


# -- what orders are made of ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Product:
    item_id: str
    name: str
    price: Decimal  # two places, exact


CATALOGUE = tuple(
    Product(item_id, name, Decimal(price))
    for item_id, name, price in (
        ("P1001", "Wireless Mouse", "24.50"),
        ("P1002", "Mechanical Keyboard", "89.99"),
        ("P1003", "USB-C Cable 2 m", "12.99"),
        ("P1004", "27-inch 4K Monitor", "329.00"),
        ("P1005", "Noise-Cancelling Headphones", "199.95"),
        ("P1006", "Bluetooth Speaker", "49.90"),
        ("P1007", "Laptop Stand", "39.00"),
        ("P1008", "External SSD 1 TB", "109.99"),
        ("P1009", "1080p Webcam", "59.99"),
        ("P1010", "USB-C Hub", "34.99"),
        ("P1011", "Wireless Charger", "29.99"),
        ("P1012", "Smartwatch", "249.00"),
        ("P1013", "Fitness Tracker", "79.95"),
        ("P1014", "10-inch Tablet", "279.00"),
        ("P1015", "E-Reader", "129.99"),
        ("P1016", "Gaming Mouse Pad", "19.99"),
        ("P1017", "Power Bank 20000 mAh", "44.99"),
        ("P1018", "Wi-Fi 6 Router", "149.00"),
        ("P1019", "Smart Plug 2-Pack", "24.99"),
        ("P1020", "Wireless Earbuds", "89.00"),
    )
)
FIRST_NAMES = (
    "Ada", "Alan", "Barbara", "Brian", "Claude", "Dennis", "Donald", "Edsger", "Frances", "Grace",
    "Guido", "Hedy", "John", "Ken", "Leslie", "Linus", "Margaret", "Niklaus", "Radia", "Shafi",
    "Sophie", "Tim", "Tony", "Yukihiro",
)  # fmt: skip
LAST_NAMES = (
    "Allen", "Berners-Lee", "Dijkstra", "Hamilton", "Hoare", "Hopper", "Kernighan", "Knuth",
    "Lamarr", "Lamport", "Liskov", "Lovelace", "McCarthy", "Perlman", "Ritchie", "Rossum",
    "Shannon", "Thompson", "Torvalds", "Turing", "Wilson", "Wirth", "Goldwasser", "Matsumoto",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
CUSTOMERS = 500  # a pool, so customers come back for more
MAX_QUANTITY = 5
RECENT_ORDERS = 10_000  # orders that updates and deletes pick from: memory stays flat on long runs


class WriteKind(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Write:
    """One generated write: the record to put (None for a delete) of an order."""

    kind: WriteKind
    order_id: str
    record: dict[str, Any] | None


# -- options ---------------------------------------------------------------------


class Target(StrEnum):
    TABLE = "table"
    BUCKET = "bucket"


def _random_seed() -> int:
    return random.SystemRandom().randrange(1, 100_000)


@dataclass(frozen=True, slots=True)
class GeneratorOptions:
    """What to generate, how fast and where. Raises ConfigError when the options make no sense."""

    rate: float = 10.0  # writes per second
    duration: float | None = None  # seconds; None: until stopped
    target: Target = Target.TABLE
    seed: int = field(default_factory=_random_seed)  # drawn at random unless given, and reported
    updates: float = 0.0  # fractions of the writes; the rest are inserts
    deletes: float = 0.0
    invalid: float = 0.0
    tick_seconds: float | None = None  # None: 0.1 s for the table, 1 s for the bucket
    max_burst_seconds: float = 1.0

    def __post_init__(self) -> None:
        if not self.rate > 0 or math.isinf(self.rate):
            raise ConfigError(f"the rate must be more than 0 orders per second (got {self.rate}), e.g. --rate 50")
        if self.duration is not None and not self.duration > 0:
            raise ConfigError(f"the duration must be more than 0 seconds (got {self.duration}), e.g. --duration 30s")
        for name in ("updates", "deletes", "invalid"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(f"--{name} is a fraction of the writes, from 0 to 1 (got {value}), e.g. 0.1")
        if self.updates + self.deletes + self.invalid > 1:
            total = self.updates + self.deletes + self.invalid
            raise ConfigError(
                f"--updates + --deletes + --invalid must add up to at most 1 (got {total:g}): "
                "they are shares of the same writes, and the rest are inserts"
            )
        if self.deletes and self.target is Target.BUCKET:
            raise ConfigError(
                "--deletes works with --to table only: an orders file in the bucket cannot remove an order"
            )

    @property
    def tick(self) -> float:
        """Seconds between writes. A bucket file is a whole execution for the watcher (which also
        waits for each file to settle), so files come once a second, not ten times."""
        if self.tick_seconds is not None:
            return self.tick_seconds
        return 0.1 if self.target is Target.TABLE else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "target": str(self.target)}


_DURATION = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(ms|s|m|h)?\s*\Z", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in ``30``, ``30s``, ``1.5s``, ``500ms``, ``2m`` or ``1h``. Raises ConfigError."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"{text!r} is not a duration: give seconds (30, 30s), minutes (2m) or hours (1h)")
    seconds = float(match[1]) * _UNIT_SECONDS[(match[2] or "s").lower()]
    if seconds <= 0:
        raise ConfigError(f"the duration must be more than 0 seconds (got {text!r}), e.g. --duration 30s")
    return seconds


# -- the orders themselves: pure and deterministic from the seed ---------------------


class OrderFactory:
    """The sequence of writes of one seed: the same seed always gives the same writes."""

    def __init__(self, options: GeneratorOptions) -> None:
        self._rng = random.Random(options.seed)
        self._options = options
        self._id_prefix = f"gen-{options.seed}-"
        self._numbers = 0
        self._customers = [self._new_customer(n) for n in range(CUSTOMERS)]
        self._recent: _Pool = _Pool()

    def next_write(self) -> Write:
        """The next write: its kind drawn by the fractions; an update or delete when nothing is
        left to change falls back to an insert."""
        draw = self._rng.random()
        options = self._options
        if draw < options.invalid:
            return self._invalid()
        draw -= options.invalid
        if draw < options.updates and self._recent:
            return self._update()
        draw -= options.updates
        if draw < options.deletes and self._recent:
            order_id = self._recent.pop(self._rng)
            return Write(WriteKind.DELETE, order_id, None)
        return self._insert()

    def _insert(self) -> Write:
        record = self._new_record()
        order_id: str = record[ORDER]["order_id"]
        self._recent.add(order_id, record, self._rng)
        return Write(WriteKind.INSERT, order_id, _copy(record))

    def _update(self) -> Write:
        order_id, old = self._recent.pick(self._rng)
        record = _copy(old)
        order = record[ORDER]
        change = self._rng.choice(("quantity", "product", "price"))
        if change == "quantity":
            order["quantity"] = self._rng.choice([q for q in range(1, MAX_QUANTITY + 1) if q != order["quantity"]])
        elif change == "product":
            product = self._rng.choice([p for p in CATALOGUE if p.item_id != order["item_id"]])
            order.update(item_id=product.item_id, product_name=product.name, price=str(product.price))
        else:  # a discount on the catalogue price, to the cent
            listed = next(p.price for p in CATALOGUE if p.item_id == order["item_id"])
            percent_off = self._rng.randint(5, 30)
            order["price"] = str((listed * (100 - percent_off) / 100).quantize(Decimal("0.01")))
        self._recent.replace(order_id, record)
        return Write(WriteKind.UPDATE, order_id, _copy(record))

    def _invalid(self) -> Write:
        """A new order spoiled in one of the ways clients get wrong; never kept for updates."""
        record = self._new_record()
        order_id: str = record[ORDER]["order_id"]
        spoil = self._rng.choice(_SPOILERS)
        spoil(record)
        return Write(WriteKind.INVALID, order_id, record)

    def _new_record(self) -> dict[str, Any]:
        self._numbers += 1
        name, email = self._rng.choice(self._customers)
        product = self._rng.choice(CATALOGUE)
        return {
            CONTACT: {"name": name, "email": email},
            ORDER: {
                "order_id": f"{self._id_prefix}{self._numbers:07d}",
                "item_id": product.item_id,
                "product_name": product.name,
                "quantity": self._rng.randint(1, MAX_QUANTITY),
                "price": str(product.price),  # exact decimal text, as check_order keeps prices
            },
        }

    def _new_customer(self, n: int) -> tuple[str, str]:
        first, last = self._rng.choice(FIRST_NAMES), self._rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace("-", "")
        return f"{first} {last}", f"{local}{n}@{self._rng.choice(EMAIL_DOMAINS)}"


def _copy(record: dict[str, Any]) -> dict[str, Any]:
    """Records are two levels deep: a copy of each section is a deep copy."""
    return {section: dict(fields) for section, fields in record.items()}


def _missing_order_id(record: dict[str, Any]) -> None:
    del record[ORDER]["order_id"]


def _bad_email(record: dict[str, Any]) -> None:
    record[CONTACT]["email"] = record[CONTACT]["email"].replace("@", " at ")


def _zero_quantity(record: dict[str, Any]) -> None:
    record[ORDER]["quantity"] = 0


def _negative_price(record: dict[str, Any]) -> None:
    record[ORDER]["price"] = "-" + record[ORDER]["price"]


def _missing_contact(record: dict[str, Any]) -> None:
    del record[CONTACT]


def _quantity_in_words(record: dict[str, Any]) -> None:
    record[ORDER]["quantity"] = "a few"


_SPOILERS: tuple[Callable[[dict[str, Any]], None], ...] = (
    _missing_order_id,
    _bad_email,
    _zero_quantity,
    _negative_price,
    _missing_contact,
    _quantity_in_words,
)


class _Pool:
    """Recent orders still to be updated or deleted: a random pick, add and removal in O(1)."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._where: dict[str, int] = {}
        self._records: dict[str, dict[str, Any]] = {}

    def __bool__(self) -> bool:
        return bool(self._ids)

    def add(self, order_id: str, record: dict[str, Any], rng: random.Random) -> None:
        """Keep the order; when the pool is full, a random older one leaves it (it stays in
        the table, it is just no longer changed)."""
        if len(self._ids) >= RECENT_ORDERS:
            self.pop(rng)
        self._where[order_id] = len(self._ids)
        self._ids.append(order_id)
        self._records[order_id] = record

    def pick(self, rng: random.Random) -> tuple[str, dict[str, Any]]:
        order_id = self._ids[rng.randrange(len(self._ids))]
        return order_id, self._records[order_id]

    def replace(self, order_id: str, record: dict[str, Any]) -> None:
        self._records[order_id] = record

    def pop(self, rng: random.Random) -> str:
        """Remove a random order: the last one takes its slot, so nothing shifts."""
        index = rng.randrange(len(self._ids))
        order_id, last = self._ids[index], self._ids.pop()
        if last != order_id:
            self._ids[index] = last
            self._where[last] = index
        del self._where[order_id], self._records[order_id]
        return order_id


# -- where the writes go -------------------------------------------------------------


class _Sink(Protocol):
    files: int  # files put so far (bucket)

    def write(self, writes: list[Write]) -> None: ...

    def close(self, error: BaseException | None) -> None: ...


class TableSink:
    """Writes as the orders pipeline does: one execution, a chunk per tick with its checkpoint."""

    files = 0

    def __init__(self, ledger: OrderLedger, key: str, digest: str, retry: RetryPolicy) -> None:
        self.ledger = ledger
        self.retry = retry
        self.key = key
        self.execution = retry.call(lambda: ledger.start_execution(PIPELINE, key, digest))
        self.position = self.execution.checkpoint  # records are numbered across the execution, from 0

    def write(self, writes: list[Write]) -> None:
        orders: list[tuple[str, str, int]] = []
        rejected: list[tuple[int, str, str]] = []
        for write in writes:
            if write.record is None:
                continue
            outcome = check_order(write.record)
            if isinstance(outcome, Order):
                orders.append((outcome.order_id, to_json(outcome.record), self.position))
            else:
                rejected.append((self.position, to_json(outcome), to_json(write.record)))
            self.position += 1
        if orders or rejected:
            chunk = Chunk(self.execution.id, self.key, orders, rejected, self.position)
            self.retry.call(lambda: self.ledger.commit_chunk(chunk))
        # After the chunk: an order inserted or updated in this tick and then deleted ends removed.
        removed = [write.order_id for write in writes if write.kind is WriteKind.DELETE]
        if removed:
            self.retry.call(lambda: self.ledger.delete_orders(removed))

    def close(self, error: BaseException | None) -> None:
        status = ExecutionStatus.SUCCEEDED if error is None else ExecutionStatus.FAILED
        message = None if error is None else (str(error) or type(error).__name__)
        self.retry.call(lambda: self.ledger.finish_execution(self.execution.id, status, message))


class BucketSink:
    """One ``{"orders": [...]}`` file per tick, put atomically; names sort in the order written,
    so the watcher applies an update after the insert it changes."""

    def __init__(self, store: ObjectStore, started_at: str) -> None:
        self.store = store
        stamp = started_at.replace("-", "").replace(":", "").replace(".", "")  # 20261125T211017514Z
        self.prefix = f"{ORDERS_PREFIX}generated-{stamp}-"
        self.files = 0

    def write(self, writes: list[Write]) -> None:
        records = [write.record for write in writes if write.record is not None]
        if not records:
            return
        self.files += 1
        body = to_json({"orders": records}).encode()
        self.store.put(f"{self.prefix}{self.files:06d}.json", BytesIO(body))

    def close(self, error: BaseException | None) -> None:
        """Nothing to settle: each file is whole once put."""


# -- the paced loop ---------------------------------------------------------------------


@dataclass
class GeneratorStats:
    """What a run has done so far (handed to the progress callback after every tick)."""

    target: str
    seed: int
    key: str  # the execution's key (table) or the prefix of the files (bucket)
    execution_id: str | None = None
    files: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    invalid: int = 0
    elapsed: float = 0.0
    stopped: bool = False  # stopped by the stop event before the duration was up

    @property
    def written(self) -> int:
        return self.inserted + self.updated + self.deleted + self.invalid

    @property
    def rate(self) -> float:
        """Writes per second achieved so far."""
        return self.written / self.elapsed if self.elapsed > 0 else 0.0

    def count(self, writes: list[Write]) -> None:
        for write in writes:
            if write.kind is WriteKind.INSERT:
                self.inserted += 1
            elif write.kind is WriteKind.UPDATE:
                self.updated += 1
            elif write.kind is WriteKind.DELETE:
                self.deleted += 1
            else:
                self.invalid += 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "written": self.written, "rate": round(self.rate, 2)}


class _Pacer:
    """How many writes are due by a moment of the run, so the rate holds over time."""

    def __init__(self, rate: float, max_burst_seconds: float) -> None:
        self.rate = rate
        self.max_burst = max(1, math.ceil(rate * max_burst_seconds))
        self.scheduled = 0
        self.forgiven = 0  # writes dropped after stalls, never to be caught up

    def due(self, elapsed: float) -> int:
        # The epsilon keeps 0.1 * 3 = 0.30000000000000004 and 0.7 = 0.6999... on the same side.
        owed = math.floor(self.rate * elapsed + 1e-9) - self.forgiven - self.scheduled
        if owed > self.max_burst:
            self.forgiven += owed - self.max_burst
            owed = self.max_burst
        owed = max(owed, 0)
        self.scheduled += owed
        return owed


Clock = Callable[[], float]
Sleep = Callable[[float], object]
OnProgress = Callable[[GeneratorStats], None]


class Generator:
    """Generates writes at ``options.rate`` per second until the duration is up or ``stop`` is set.

    ``clock`` and ``sleep`` default to the monotonic clock and waiting on ``stop`` (so a stop
    wakes it at once); tests pass a fake pair and need no real time.
    """

    def __init__(
        self,
        store: ObjectStore,
        ledger: OrderLedger,
        options: GeneratorOptions,
        stop: threading.Event | None = None,
        progress: OnProgress | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.options = options
        self.stop = stop or threading.Event()
        self.progress = progress
        self.clock = clock
        self.sleep = sleep or self.stop.wait
        self.retry = retry or RetryPolicy()

    def run(self) -> GeneratorStats:
        """Generate until done; the table execution ends SUCCEEDED, or FAILED with the error
        (which is raised again). Stopping by the event is a success: what was written stays."""
        factory = OrderFactory(self.options)
        sink, stats = self._open()
        try:
            self._loop(factory, sink, stats)
        except BaseException as exc:
            sink.close(exc)
            raise
        sink.close(None)
        return stats

    def _open(self) -> tuple[_Sink, GeneratorStats]:
        options, started_at = self.options, utc_now()
        if options.target is Target.BUCKET:
            bucket = BucketSink(self.store, started_at)
            return bucket, GeneratorStats(str(options.target), options.seed, bucket.prefix)
        digest = hashlib.sha256(to_json(options.as_dict()).encode()).hexdigest()
        table = TableSink(self.ledger, f"generator/{started_at}", digest, self.retry)
        stats = GeneratorStats(str(options.target), options.seed, table.key, table.execution.id)
        return table, stats

    def _loop(self, factory: OrderFactory, sink: _Sink, stats: GeneratorStats) -> None:
        duration, tick = self.options.duration, self.options.tick
        pacer = _Pacer(self.options.rate, self.options.max_burst_seconds)
        started = self.clock()
        ticks = 0
        while not self.stop.is_set():
            elapsed = self.clock() - started
            last = duration is not None and elapsed >= duration
            if duration is not None:
                elapsed = min(elapsed, duration)
            writes = [factory.next_write() for _ in range(pacer.due(elapsed))]
            sink.write(writes)
            stats.count(writes)
            stats.files = sink.files
            stats.elapsed = elapsed
            if self.progress:
                self.progress(replace(stats))
            if last:
                return
            # Ticks fall on a fixed grid; a late tick skips the slots it missed (the pacer
            # catches up the writes), and the last one falls on the end of the duration.
            ticks = max(ticks + 1, math.floor(elapsed / tick) + 1)
            wake = ticks * tick if duration is None else min(ticks * tick, duration)
            self.sleep(max(0.0, wake - elapsed))
        stats.stopped = True


def generate_orders(
    app: App, options: GeneratorOptions, stop: threading.Event | None = None, progress: OnProgress | None = None
) -> GeneratorStats:
    """Run the generator on an app's bucket and ledger (retrying writes as the orders pipeline does)."""
    return Generator(app.store, app.ledger, options, stop, progress, retry=app.orders.settings.retry).run()


def run_demo_generator(
    app: App,
    stop: threading.Event,
    say: Callable[[str], None] = lambda _: None,
    rate: float = 50,
    seconds: float = 30,
    every: float = 10,
) -> threading.Thread:
    """Start the generator in a daemon thread for ``salesflow run --demo``: ``seconds`` of orders
    into the table, with a few updates, deletes and invalid records, until done or ``stop`` is set.
    ``say`` is told when it starts, how far it is every ``every`` seconds, and what it wrote, so
    that a new user sees the data flow in the terminal too."""
    options = GeneratorOptions(rate=rate, duration=seconds, updates=0.1, deletes=0.02, invalid=0.05)
    next_report = [every]

    def report(stats: GeneratorStats) -> None:
        if stats.elapsed >= next_report[0] and stats.elapsed < seconds:
            next_report[0] += every
            say(f"demo: {stats.written:,} writes in {stats.elapsed:.0f} s, {stats.rate:,.0f}/s")

    def generate() -> None:
        # Its own connection: a SQLite connection holds one transaction at a time, and the
        # runner's thread is using the app's.
        ledger = SqliteOrderLedger(connect(app.settings.database))
        say(f"demo: generating {rate:g} orders a second for {seconds:g} s (some updates, deletes and invalid ones)")
        try:
            stats = Generator(app.store, ledger, options, stop, report, retry=app.orders.settings.retry).run()
            say(
                f"demo: {stats.inserted:,} orders, {stats.updated:,} updates, {stats.deleted:,} deletes and "
                f"{stats.invalid:,} invalid records in {stats.elapsed:.0f} s; each change streams into the lake "
                '(`salesflow stream status`, `salesflow sql "SELECT * FROM orders_current"`)'
            )
        except SalesflowError as exc:
            log.warning("the demo generator stopped: %s", exc)
        finally:
            ledger.close()

    thread = threading.Thread(target=generate, name="salesflow-demo-generator", daemon=True)
    thread.start()
    return thread
