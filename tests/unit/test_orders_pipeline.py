"""OrdersPipeline against the memory fakes: every input record ends up exactly once.

Each record of a file lands in the orders (as one change record, INSERT or
MODIFY) or in the dead-letter queue, with its reasons: never both, never
twice, never lost, whatever fails on the way and however often it resumes.

Valid records carry their own position in an unknown field ``n``, which the
normalised record keeps, so the change records say where they came from.
Files that must make several chunks are padded past the readers' 256 KiB read
blocks: a chunk never splits a block, whatever ``chunk_records`` says.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import HealthCheck, event, given, settings, target
from hypothesis import strategies as st

from salesflow.adapters.local.folder_store import FolderObjectStore
from salesflow.adapters.memory import InMemoryObjectStore, InMemoryOrderLedger
from salesflow.domain.errors import NotFound
from salesflow.domain.orders import Order, check_order
from salesflow.domain.records import Chunk, Execution, ExecutionStatus, LetterStatus
from salesflow.jsoncodec import from_json
from salesflow.pipelines.orders import IngestSettings, OrdersPipeline, Stopped
from salesflow.ports import ObjectStore
from salesflow.retry import RetryPolicy

NO_WAIT = RetryPolicy(retries=3, base=0)
FAST = IngestSettings(chunk_records=50, retry=NO_WAIT)
FORMATS = ["orders/f.json", "orders/f.jsonl", "orders/f.json.gz"]


# -- files ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A JSON Lines line written as it is: malformed, blank, or too long."""

    text: str


def is_lines(key: str) -> bool:
    return key.removesuffix(".gz").endswith((".jsonl", ".ndjson"))


def encode(key: str, entries: list[Any]) -> bytes:
    """The file for entries: {"orders": [...]} or one entry per line, gzipped for .gz."""
    if is_lines(key):
        text = "".join((entry.text if isinstance(entry, Line) else json.dumps(entry)) + "\n" for entry in entries)
    else:
        text = json.dumps({"orders": entries})
    data = text.encode()
    return gzip.compress(data, compresslevel=1) if key.endswith(".gz") else data


def next_position(key: str, entries: list[Any]) -> int:
    """The position of the next entry: its array index, or its line number."""
    return len(entries) + 1 if is_lines(key) else len(entries)


def order(order_id: Any, n: int, *, qty: Any = 1, price: Any = "1.50", pad: int = 0) -> dict[str, Any]:
    """A valid order spelled as in the wild; ``n`` (its position) stays in the normalised record."""
    record: dict[str, Any] = {
        "Contact-Info": {"Name": "Ann Lee", "email": "ann@example.com"},
        "orderInfo": {"OrderId": order_id, "item_id": "sku-1", "item-desc": "pen", "qty": qty, "unit-price": price},
        "n": n,
    }
    if pad:
        record["pad"] = "x" * pad
    return record


CONTACT = {"name": "Bo", "email": "bo@example.com"}
# Refused records, each with every reason it must carry.
REFUSED: list[tuple[dict[str, Any], list[str]]] = [
    ({"order-info": {"order-id": "r1", "qty": 1}}, ["missing_contact_info"]),
    ({"contact-info": {}, "order-info": {"order-id": "r2", "qty": 1}}, ["missing_contact_info"]),
    ({"contact-info": CONTACT}, ["missing_order_info", "missing_order_id", "invalid_quantity"]),
    ({"contact-info": CONTACT, "order-info": None}, ["missing_order_info", "missing_order_id", "invalid_quantity"]),
    ({"contact-info": CONTACT, "order-info": {"order-id": "", "qty": 1}}, ["missing_order_id"]),
    ({"contact-info": CONTACT, "order-info": {"order-id": "r6", "qty": 0}}, ["invalid_quantity"]),
    ({"contact-info": CONTACT, "order-info": {"order-id": "r7", "qty": "two"}}, ["invalid_quantity"]),
    ({"contact-info": CONTACT, "order-info": {"order-id": "r8"}}, ["invalid_quantity"]),
    ({"contact-info": {"email": "bo-at-example.com"}, "order-info": {"order-id": "r9", "qty": 1}}, ["invalid_email"]),
    ({"contact-info": CONTACT, "order-info": {"order-id": "r10", "qty": 1, "price": "-1"}}, ["invalid_price"]),
    ({"contact-info": CONTACT, "order-info": {"order-id": "r11", "qty": 1, "price": "free"}}, ["invalid_price"]),
    (
        {"contact-info": {"email": "bo@"}, "order-info": {"order-id": "r12", "qty": -2, "price": "x"}},
        ["invalid_email", "invalid_price", "invalid_quantity"],
    ),
]
NOT_OBJECTS: list[Any] = [42, "just text", [1, 2], None, True, 10**30]
# Lines that are not JSON however they sit next to other lines.
MALFORMED = ['{"order-info": ', "not json", "{'a': 1}", "nul", '{"a": 1} {"b": 2}', "NaN"]


@dataclass
class Sample:
    """A file's entries and what must become of each input position."""

    key: str
    entries: list[Any]
    stored: dict[int, str]  # position -> order id
    refused: dict[int, tuple[list[str], Any]]  # position -> (sorted reasons, record as it arrived)

    @property
    def positions(self) -> list[int]:
        return sorted([*self.stored, *self.refused])

    def add_order(self, order_id: Any, **fields: Any) -> None:
        position = next_position(self.key, self.entries)
        self.stored[position] = str(order_id)
        self.entries.append(order(order_id, position, **fields))

    def add_refused(self, record: Any, reasons: list[str], written: Any = None) -> None:
        self.refused[next_position(self.key, self.entries)] = (sorted(reasons), record)
        self.entries.append(record if written is None else written)

    def add_blank(self, text: str = "") -> None:
        self.entries.append(Line(text))

    def data(self) -> bytes:
        return encode(self.key, self.entries)


def small_sample(key: str) -> Sample:
    """A few orders (two ids repeated) between refused records of every kind."""
    sample = Sample(key, [], {}, {})
    sample.add_order("A")
    sample.add_refused(*REFUSED[0])
    sample.add_order(7, qty="2", price=19.9)
    sample.add_refused(42, ["not_an_object"])
    if is_lines(key):
        sample.add_blank()
        sample.add_refused('{"order-info": ', ["malformed_json"], written=Line('{"order-info": '))
    sample.add_refused(*REFUSED[2])
    sample.add_order("B")
    sample.add_refused(*REFUSED[11])
    sample.add_order("A", qty=5)
    sample.add_refused([1, 2], ["not_an_object"])
    sample.add_order("7", qty=3)
    sample.add_refused(*REFUSED[8])
    return sample


def busy_sample(key: str, count: int = 1_200) -> Sample:
    """count records of about 1 KB (several read blocks, so several chunks): ids repeating
    every 97 records, every 10th record refused, and in JSON Lines every 50th line malformed."""
    sample = Sample(key, [], {}, {})
    for index in range(count):
        if index % 10 == 3:
            sample.add_refused(*REFUSED[index // 10 % len(REFUSED)])
        elif is_lines(key) and index % 50 == 7:
            text = MALFORMED[index // 50 % len(MALFORMED)]
            sample.add_refused(text, ["malformed_json"], written=Line(text))
        else:
            sample.add_order(f"o{index % 97}", qty=1 + index % 5, pad=1_000)
    return sample


# -- the ledger, watched ----------------------------------------------------------------------------------------------


class ProcessKilled(BaseException):
    """The process dies here, like kill -9: nothing after it runs, not even finish_execution."""


class ScriptedLedger(InMemoryOrderLedger):
    """The memory ledger, which remembers the checkpoint of each chunk it took in and,
    after ``healthy`` of them, turns on ``faults`` (its own knobs, plus ``crash``)."""

    def __init__(self, healthy: int | None = None, **faults: Any) -> None:
        super().__init__()
        self.checkpoints: list[int] = []
        self.healthy = healthy
        self.faults = faults
        self.crash = False
        self._arm()

    def commit_chunk(self, chunk: Chunk) -> None:
        if self.crash:
            raise ProcessKilled
        super().commit_chunk(chunk)
        self.checkpoints.append(chunk.checkpoint)
        self._arm()

    def heal(self) -> None:
        self.healthy = None
        self.crash = self.permanent_failure = False
        self.fail_next_commits = 0

    def _arm(self) -> None:
        if self.healthy is not None and len(self.checkpoints) == self.healthy:
            for name, value in self.faults.items():
                setattr(self, name, value)


def put(store: ObjectStore, key: str, data: bytes) -> None:
    store.put(key, BytesIO(data))


def memory_store(sample: Sample) -> InMemoryObjectStore:
    store = InMemoryObjectStore()
    put(store, sample.key, sample.data())
    return store


def ingest(
    store: ObjectStore, key: str, ledger: InMemoryOrderLedger, settings: IngestSettings = FAST, **kwargs: Any
) -> Execution:
    return OrdersPipeline(store, ledger, settings).ingest(key, **kwargs)


def outcome(ledger: InMemoryOrderLedger) -> dict[str, Any]:
    """What a user can see of a run: the orders, the dead letters and the change records."""
    changes = ledger.changes()
    order_ids = sorted({change["order_id"] for change in changes})
    return {
        "orders": {oid: {k: v for k, v in ledger.order(oid).items() if k != "updated_at"} for oid in order_ids},
        "letters": sorted(
            (letter.key, letter.position, letter.reasons, json.dumps(letter.record, default=str), letter.status)
            for letter in ledger.dead_letters()
        ),
        "changes": [(c["event_type"], c["order_id"], c["old_image"], c["new_image"]) for c in changes],
    }


def stored_positions(ledger: InMemoryOrderLedger) -> list[int]:
    """The input position of every change record (each order image carries its ``n``)."""
    return [from_json(change["new_image"])["n"] for change in ledger.changes()]


def letter_positions(ledger: InMemoryOrderLedger) -> list[int]:
    return [letter.position for letter in ledger.dead_letters()]


def assert_each_once(ledger: InMemoryOrderLedger, positions: list[int]) -> None:
    """Every input position is in exactly one place: one change record or one dead letter."""
    placed = Counter(stored_positions(ledger) + letter_positions(ledger))
    doubled = sorted(position for position, times in placed.items() if times > 1)
    lost = sorted(set(positions) - set(placed))
    unknown = sorted(set(placed) - set(positions))
    assert not doubled, f"{len(doubled)} positions placed twice, the first {doubled[:5]}"
    assert not lost, f"{len(lost)} positions lost, the first {lost[:5]}"
    assert not unknown, f"{len(unknown)} positions not in the input, the first {unknown[:5]}"


def reference(sample: Sample, settings: IngestSettings = FAST) -> dict[str, Any]:
    """The outcome of one uninterrupted run on a fresh ledger."""
    ledger = InMemoryOrderLedger()
    execution = ingest(memory_store(sample), sample.key, ledger, settings)
    assert execution.status == ExecutionStatus.SUCCEEDED
    return outcome(ledger)


# -- one file, every record in its place ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["orders/day.json", "orders/day.jsonl", "orders/day.json.gz", "orders/day.ndjson.gz"])
def test_every_record_is_stored_or_queued_once_with_its_reasons(key: str) -> None:
    sample = small_sample(key)
    ledger = InMemoryOrderLedger()

    execution = ingest(memory_store(sample), key, ledger)

    assert execution.status == ExecutionStatus.SUCCEEDED
    assert (execution.records, execution.stored, execution.rejected) == (
        len(sample.positions),
        len(sample.stored),
        len(sample.refused),
    )
    letters = {letter.position: (sorted(letter.reasons), letter.record) for letter in ledger.dead_letters()}
    assert letters == sample.refused
    assert all(letter.key == key and letter.status == LetterStatus.PENDING for letter in ledger.dead_letters())
    assert sorted(stored_positions(ledger)) == sorted(sample.stored)
    assert_each_once(ledger, sample.positions)


@pytest.mark.parametrize("key", ["orders/day.json", "orders/day.jsonl"])
def test_a_repeated_id_is_inserted_then_modified_in_file_order_and_the_later_record_wins(key: str) -> None:
    sample = small_sample(key)
    ledger = InMemoryOrderLedger()

    ingest(memory_store(sample), key, ledger)

    changes = ledger.changes()
    first_seen: set[str] = set()
    expected = []
    for position in sorted(sample.stored):
        order_id = sample.stored[position]
        expected.append(("MODIFY" if order_id in first_seen else "INSERT", order_id, position))
        first_seen.add(order_id)
    assert [(c["event_type"], c["order_id"], from_json(c["new_image"])["n"]) for c in changes] == expected
    for earlier, later in itertools.pairwise(changes):
        assert earlier["sequence"] < later["sequence"]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        by_id.setdefault(change["order_id"], []).append(change)
    for versions in by_id.values():  # each MODIFY shows the image it replaced
        assert versions[0]["old_image"] is None
        for before, after in itertools.pairwise(versions):
            assert after["old_image"] == before["new_image"]
    a_positions = [p for p, oid in sorted(sample.stored.items()) if oid == "A"]
    seven = ledger.order("7")
    assert ledger.order("A")["quantity"] == 5
    assert ledger.order("A")["source_position"] == a_positions[-1]
    assert (seven["quantity"], seven["price"], seven["source_key"]) == (3, "1.50", key)
    first_seven = from_json(by_id["7"][0]["new_image"])["order_info"]
    assert (first_seven["quantity"], first_seven["price"]) == (2, "19.9")  # "2" converted, price exact text


# -- the same object twice --------------------------------------------------------------------------------------------


def test_the_same_key_and_content_again_returns_the_succeeded_execution_and_changes_nothing() -> None:
    sample = small_sample("orders/day.json")
    store, ledger = memory_store(sample), InMemoryOrderLedger()
    first = ingest(store, sample.key, ledger)
    before = outcome(ledger)

    again = ingest(store, sample.key, ledger)
    put(store, sample.key, sample.data())  # put again, same bytes: a new version, the same content
    once_more = ingest(store, sample.key, ledger)

    assert again == first
    assert once_more == first
    assert outcome(ledger) == before
    assert [e.id for e in ledger.executions()] == [first.id]


def test_new_content_under_the_same_key_is_a_new_execution() -> None:
    sample = small_sample("orders/day.json")
    store, ledger = memory_store(sample), InMemoryOrderLedger()
    first = ingest(store, sample.key, ledger)
    changes_before = ledger.changes()
    a_before = [change for change in changes_before if change["order_id"] == "A"][-1]["new_image"]
    put(store, sample.key, encode(sample.key, [order("A", 0, qty=9)]))

    second = ingest(store, sample.key, ledger)

    assert second.id != first.id
    assert (second.status, second.records, second.stored) == (ExecutionStatus.SUCCEEDED, 1, 1)
    assert ledger.execution(first.id).status == ExecutionStatus.SUCCEEDED
    [change] = ledger.changes()[len(changes_before) :]
    assert (change["event_type"], change["order_id"], change["old_image"]) == ("MODIFY", "A", a_before)
    assert ledger.order("A")["quantity"] == 9


# -- transient write failures -----------------------------------------------------------------------------------------


def test_transient_write_failures_are_retried_and_everything_is_stored_once() -> None:
    sample = busy_sample("orders/day.json")
    ledger = ScriptedLedger()
    ledger.fail_next_commits = 2
    pipeline = OrdersPipeline(memory_store(sample), ledger, FAST)

    execution = pipeline.ingest(sample.key)

    assert execution.status == ExecutionStatus.SUCCEEDED
    assert pipeline.stats.retries == 2
    assert outcome(ledger) == reference(sample)
    assert_each_once(ledger, sample.positions)
    assert not ledger.dead_letters(reason="write_failed")


@pytest.mark.parametrize("key", ["orders/day.json", "orders/day.jsonl.gz"])
def test_a_chunk_the_table_keeps_refusing_goes_to_the_queue_as_write_failed(key: str) -> None:
    sample = busy_sample(key)
    ledger = ScriptedLedger()
    ledger.fail_next_commits = NO_WAIT.retries + 1  # the first chunk's every try; its fallback goes in
    pipeline = OrdersPipeline(memory_store(sample), ledger, FAST)

    execution = pipeline.ingest(sample.key)

    assert execution.status == ExecutionStatus.SUCCEEDED
    assert pipeline.stats.retries == NO_WAIT.retries
    assert len(ledger.checkpoints) >= 3, "the file should make several chunks"
    first_chunk = set(sample.positions[: ledger.checkpoints[0]])
    letters = {letter.position: letter for letter in ledger.dead_letters()}
    for position in first_chunk:
        letter = letters[position]
        if position in sample.stored:
            assert letter.reasons == ["write_failed"]
            redriven = check_order(letter.record)  # what a redrive would store
            assert isinstance(redriven, Order)
            assert redriven.order_id == sample.stored[position]
            assert redriven.record["n"] == position
        else:
            assert (sorted(letter.reasons), letter.record) == sample.refused[position]
    assert not first_chunk & set(stored_positions(ledger))
    assert sorted(stored_positions(ledger)) == sorted(set(sample.stored) - first_chunk)
    assert_each_once(ledger, sample.positions)
    assert execution.stored + execution.rejected == execution.records == len(sample.positions)
    assert execution.rejected == len(sample.refused) + len(first_chunk & set(sample.stored))


def test_write_failed_letters_keep_the_record_as_it_arrived() -> None:
    """`dlq list` shows each record as it arrived; a write failure is no exception."""
    sample = small_sample("orders/day.json")
    ledger = InMemoryOrderLedger(fail_next_commits=NO_WAIT.retries + 1)

    ingest(memory_store(sample), sample.key, ledger)

    failed = ledger.dead_letters(reason="write_failed")
    assert sorted(letter.position for letter in failed) == sorted(sample.stored)
    for letter in failed:
        as_it_arrived = json.loads(json.dumps(sample.entries[letter.position]), parse_float=Decimal)
        assert letter.record == as_it_arrived


def test_when_even_the_fallback_fails_the_execution_fails_and_the_next_ingest_resumes() -> None:
    sample = busy_sample("orders/day.json")
    store = memory_store(sample)
    every_try_twice = 2 * (NO_WAIT.retries + 1)  # the chunk's tries, then its fallback's
    ledger = ScriptedLedger(healthy=2, fail_next_commits=every_try_twice)

    failed = ingest(store, sample.key, ledger)

    assert failed.status == ExecutionStatus.FAILED
    assert failed.error
    assert failed.checkpoint == ledger.checkpoints[1] > 0
    assert_each_once(ledger, sample.positions[: failed.checkpoint])

    ledger.heal()
    resumed = ingest(store, sample.key, ledger)

    assert resumed.status == ExecutionStatus.SUCCEEDED
    assert_each_once(ledger, sample.positions)
    assert outcome(ledger) == reference(sample)


# -- permanent failures -----------------------------------------------------------------------------------------------


def test_a_permanent_failure_fails_the_execution_with_a_message_and_applies_nothing() -> None:
    sample = busy_sample("orders/day.json")
    ledger = InMemoryOrderLedger(permanent_failure=True)
    pipeline = OrdersPipeline(memory_store(sample), ledger, FAST)

    execution = pipeline.ingest(sample.key)

    assert execution.status == ExecutionStatus.FAILED
    assert execution.error
    assert execution.finished_at is not None
    assert (execution.checkpoint, execution.stored, execution.rejected) == (0, 0, 0)
    assert pipeline.stats.retries == 0  # retrying cannot help: not tried again
    assert ledger.changes() == []
    assert ledger.dead_letters() == []


@pytest.mark.parametrize("key", FORMATS)
def test_a_permanent_failure_mid_file_leaves_whole_chunks_only(key: str) -> None:
    sample = busy_sample(key)
    ledger = ScriptedLedger(healthy=2, permanent_failure=True)

    execution = ingest(memory_store(sample), key, ledger)

    assert execution.status == ExecutionStatus.FAILED
    assert execution.error
    assert execution.checkpoint == ledger.checkpoints[-1] < len(sample.positions)
    assert_each_once(ledger, sample.positions[: execution.checkpoint])
    assert execution.stored + execution.rejected == execution.checkpoint


# -- resume after a crash ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", FORMATS)
@pytest.mark.parametrize("healthy", [0, 1, 3])
def test_after_a_crash_the_next_ingest_ends_as_an_uninterrupted_run(key: str, healthy: int) -> None:
    sample = busy_sample(key)
    store = memory_store(sample)
    ledger = ScriptedLedger(healthy=healthy, crash=True)

    with pytest.raises(ProcessKilled):
        ingest(store, key, ledger)
    crashed = ledger.executions()[0]
    assert crashed.status == ExecutionStatus.RUNNING
    ledger.heal()
    resumed = ingest(store, key, ledger)

    assert resumed.id == crashed.id
    assert resumed.status == ExecutionStatus.SUCCEEDED
    assert (resumed.records, resumed.stored, resumed.rejected) == (
        len(sample.positions),
        len(sample.stored),
        len(sample.refused),
    )
    assert outcome(ledger) == reference(sample)


@pytest.mark.parametrize("key", FORMATS)
def test_after_a_permanent_failure_mid_file_the_next_ingest_ends_as_an_uninterrupted_run(key: str) -> None:
    sample = busy_sample(key)
    store = memory_store(sample)
    ledger = ScriptedLedger(healthy=2, permanent_failure=True)
    failed = ingest(store, key, ledger)
    assert failed.status == ExecutionStatus.FAILED

    ledger.heal()
    resumed = ingest(store, key, ledger)

    assert resumed.status == ExecutionStatus.SUCCEEDED
    assert_each_once(ledger, sample.positions)
    assert outcome(ledger) == reference(sample)


def test_a_stopped_ingest_stays_running_and_the_next_one_finishes_the_file() -> None:
    sample = busy_sample("orders/day.jsonl")
    store, ledger = memory_store(sample), ScriptedLedger()

    with pytest.raises(Stopped):
        ingest(store, sample.key, ledger, should_stop=lambda: True)
    stopped = ledger.executions()[0]
    finished = ingest(store, sample.key, ledger)

    assert stopped.status == ExecutionStatus.RUNNING
    assert stopped.checkpoint == ledger.checkpoints[0] < len(sample.positions)
    assert (finished.id, finished.status) == (stopped.id, ExecutionStatus.SUCCEEDED)
    assert outcome(ledger) == reference(sample)


# -- documents that cannot be read ------------------------------------------------------------------------------------


def _truncated_document() -> bytes:
    return busy_sample("orders/x.json").data()[:-700]


BROKEN = {
    "truncated.json": _truncated_document(),
    "truncated-gzip.json.gz": gzip.compress(busy_sample("orders/x.json").data(), compresslevel=1)[:-40],
    "gzip-of-truncated.json.gz": gzip.compress(_truncated_document(), compresslevel=1),
    "truncated-gzip.jsonl.gz": gzip.compress(busy_sample("orders/x.jsonl").data(), compresslevel=1)[:-40],
    "empty.json": b"",
    "no-orders-array.json": b'{"items": [{"a": 1}]}',
    "not-utf8.json": b'{"orders": [{"contact-info": {"name": "\xff\xfe"}}]}',
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_document_is_quarantined_with_its_reason_and_applies_nothing(name: str) -> None:
    key, data = f"orders/{name}", BROKEN[name]
    store, ledger = InMemoryObjectStore(), InMemoryOrderLedger()
    put(store, key, data)

    execution = ingest(store, key, ledger)

    assert execution.status == ExecutionStatus.FAILED
    assert execution.error
    assert isinstance(execution.error_offset, int)
    assert execution.error_offset >= 0
    if not key.endswith(".gz"):  # in a gzip object, the offset may count uncompressed bytes
        assert execution.error_offset <= len(data)
    assert (execution.stored, execution.rejected) == (0, 0)
    assert ledger.changes() == []
    assert ledger.dead_letters() == []
    with pytest.raises(NotFound):
        store.stat(key)
    with store.open(f"quarantine/{key}") as moved:
        assert moved.read() == data
    with store.open(f"quarantine/{key}.reason.json") as note_file:
        note = json.loads(note_file.read())
    assert note["reason"]
    assert note["reason"] in execution.error
    assert note["offset"] == execution.error_offset
    assert note["execution"] == execution.id
    assert isinstance(note["fix"], str)
    assert note["fix"]


def test_a_truncated_document_is_reported_where_it_breaks() -> None:
    data = _truncated_document()
    store, ledger = InMemoryObjectStore(), InMemoryOrderLedger()
    put(store, "orders/cut.json", data)

    execution = ingest(store, "orders/cut.json", ledger)

    last_record = data.rindex(b'{"Contact-Info"')
    assert execution.error_offset is not None
    assert last_record <= execution.error_offset <= len(data)


def test_an_unsupported_extension_is_quarantined_with_the_names_it_accepts() -> None:
    store, ledger = InMemoryObjectStore(), InMemoryOrderLedger()
    put(store, "orders/day.csv", b"order_id,qty\n1,2\n")

    execution = ingest(store, "orders/day.csv", ledger)

    assert execution.status == ExecutionStatus.FAILED
    assert execution.error is not None
    for extension in (".json", ".jsonl", ".ndjson", ".gz"):
        assert extension in execution.error
    assert execution.error_offset == 0
    assert [info.key for info in store.list()] == ["quarantine/orders/day.csv", "quarantine/orders/day.csv.reason.json"]
    assert ledger.changes() == []
    assert ledger.dead_letters() == []


# -- worker processes -------------------------------------------------------------------------------------------------


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _ingest_counting_children(
    store: ObjectStore, key: str, ledger: InMemoryOrderLedger, settings: IngestSettings
) -> tuple[Execution, int]:
    """Ingest; also the most reader processes seen at once while chunks were coming in."""
    before = _children()
    seen = [0]

    def progress(done: int, total: int | None) -> None:
        seen.append(len(_children() - before))

    execution = ingest(store, key, ledger, settings, progress=progress)
    assert _children() <= before, "a reader process outlived the ingest"
    return execution, max(seen)


@pytest.mark.parametrize("store_kind", ["folder", "memory"])
@pytest.mark.parametrize("key", ["orders/day.json", "orders/day.jsonl"])
def test_reading_in_worker_processes_gives_the_same_result_as_in_process(
    key: str, store_kind: str, tmp_path: Path
) -> None:
    sample = busy_sample(key, count=2_000)
    store: ObjectStore = FolderObjectStore(tmp_path) if store_kind == "folder" else InMemoryObjectStore()
    put(store, key, sample.data())
    here, there = ScriptedLedger(), ScriptedLedger()

    alone, readers_alone = _ingest_counting_children(store, key, here, IngestSettings(chunk_records=50, workers=1))
    shared, readers_shared = _ingest_counting_children(
        store, key, there, IngestSettings(chunk_records=50, workers=2, subprocess_min_bytes=1)
    )

    assert len(here.checkpoints) >= 6, "the file should make several chunks for each worker"
    assert (readers_alone, readers_shared) == (0, 2)
    assert (shared.status, shared.records, shared.stored, shared.rejected) == (
        alone.status,
        alone.records,
        alone.stored,
        alone.rejected,
    )
    assert outcome(there) == outcome(here)
    assert here.checkpoints == there.checkpoints
    assert_each_once(there, sample.positions)


def test_a_crash_while_workers_read_leaves_no_reader_behind_and_resumes(tmp_path: Path) -> None:
    key = "orders/day.json"
    sample = busy_sample(key, count=2_000)
    store = FolderObjectStore(tmp_path)
    put(store, key, sample.data())
    workers = IngestSettings(chunk_records=50, workers=2, subprocess_min_bytes=1)
    ledger = ScriptedLedger(healthy=2, crash=True)
    before = _children()

    with pytest.raises(ProcessKilled):
        ingest(store, key, ledger, workers)
    assert _children() <= before
    ledger.heal()
    resumed = ingest(store, key, ledger, workers)

    assert resumed.status == ExecutionStatus.SUCCEEDED
    assert outcome(ledger) == reference(sample)


# -- progress ---------------------------------------------------------------------------------------------------------


def _recorder() -> tuple[list[tuple[int, int | None]], Callable[[int, int | None], None]]:
    calls: list[tuple[int, int | None]] = []
    return calls, lambda done, total: calls.append((done, total))


def _assert_climbs_to(done: list[int], end: int) -> None:
    assert done == sorted(set(done)), f"checkpoints do not increase: {done}"
    assert done[-1] == end


@pytest.mark.parametrize("key", ["orders/day.json", "orders/day.jsonl"])
def test_progress_gets_the_total_first_then_increasing_checkpoints_up_to_the_record_count(key: str) -> None:
    sample = busy_sample(key)
    calls, progress = _recorder()

    ingest(memory_store(sample), key, ScriptedLedger(), progress=progress)

    assert calls[0] == (0, len(sample.positions))
    assert all(total is None for _, total in calls[1:])
    assert len(calls) >= 4
    _assert_climbs_to([done for done, _ in calls], len(sample.positions))


def test_progress_of_a_gzip_object_climbs_to_the_record_count() -> None:
    sample = busy_sample("orders/day.json.gz")
    calls, progress = _recorder()

    ingest(memory_store(sample), sample.key, ScriptedLedger(), progress=progress)

    assert {total for _, total in calls} <= {None, len(sample.positions)}
    assert len(calls) >= 3
    _assert_climbs_to([done for done, _ in calls], len(sample.positions))


def test_progress_of_a_resumed_execution_starts_from_its_checkpoint() -> None:
    sample = busy_sample("orders/day.json")
    store, ledger = memory_store(sample), ScriptedLedger(healthy=2, crash=True)
    with pytest.raises(ProcessKilled):
        ingest(store, sample.key, ledger)
    ledger.heal()
    calls, progress = _recorder()

    ingest(store, sample.key, ledger, progress=progress)

    assert calls[0] == (ledger.checkpoints[1], len(sample.positions))
    _assert_climbs_to([done for done, _ in calls], len(sample.positions))


# -- hostile input ----------------------------------------------------------------------------------------------------


def test_lines_that_are_each_malformed_are_never_read_as_records_by_joining_them() -> None:
    """Two halves of an object on two lines, and a line holding two values: all three are malformed."""
    lines = [
        '{"contact-info": {"name": "Ann"}',
        ' "order-info": {"order-id": "z", "qty": 1}}',
        '{"a": 1}, {"b": 2}',
    ]
    store, ledger = InMemoryObjectStore(), InMemoryOrderLedger()
    put(store, "orders/odd.jsonl", "".join(line + "\n" for line in lines).encode())

    ingest(store, "orders/odd.jsonl", ledger)

    assert ledger.changes() == []
    assert [(letter.position, letter.reasons, letter.record) for letter in ledger.dead_letters()] == [
        (number, ["malformed_json"], line) for number, line in enumerate(lines, start=1)
    ]


def test_a_record_with_a_lone_surrogate_escape_is_stored_or_queued_like_any_other() -> None:
    """JSON allows "\\ud800" (an escape of half a UTF-16 pair); it must not stop the file."""
    lines = [
        r'"\ud800 lone"',  # not an object
        r'{"contact-info": {"name": "Bo \udc00"}, "order-info": {"order-id": "s1", "qty": 0}}',  # refused
        json.dumps(order("s2", 3)),
    ]
    store, ledger = InMemoryObjectStore(), InMemoryOrderLedger()
    put(store, "orders/odd.jsonl", "".join(line + "\n" for line in lines).encode())

    execution = ingest(store, "orders/odd.jsonl", ledger)

    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    assert sorted((letter.position, letter.reasons[0]) for letter in ledger.dead_letters()) == [
        (1, "not_an_object"),
        (2, "invalid_quantity"),
    ]
    assert stored_positions(ledger) == [3]


# -- nothing lost, nothing doubled ------------------------------------------------------------------------------------

IDS = st.sampled_from(["A", "B", "C", 7, "7"])  # 7 and "7" are one order id
PADS = st.one_of(st.just(0), st.integers(60_000, 90_000))  # a padded record fills much of a read block
LINE_LIMIT = 100_000  # max_record_bytes for JSON Lines: padded orders fit, too_large lines do not
NON_OBJECT = st.one_of(
    st.sampled_from(NOT_OBJECTS),
    st.integers(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
)


def entry_kinds(lines: bool) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    kinds = [
        st.tuples(st.just("order"), IDS, st.integers(1, 3), PADS),
        st.tuples(st.just("refused"), st.integers(0, len(REFUSED) - 1)),
        st.tuples(st.just("not_an_object"), NON_OBJECT),
    ]
    if lines:
        kinds += [
            st.tuples(st.just("malformed"), st.sampled_from(MALFORMED)),
            st.tuples(st.just("blank"), st.sampled_from(["", "  ", "\t"])),
            st.tuples(st.just("too_large"), st.integers(LINE_LIMIT + 1, LINE_LIMIT + 20_000)),
        ]
    return st.lists(st.one_of(kinds), max_size=40)


def build(key: str, kinds: list[tuple[Any, ...]]) -> Sample:
    sample = Sample(key, [], {}, {})
    for kind, *args in kinds:
        if kind == "order":
            order_id, qty, pad = args
            sample.add_order(order_id, qty=qty, pad=pad)
        elif kind == "refused":
            sample.add_refused(*REFUSED[args[0]])
        elif kind == "not_an_object":
            sample.add_refused(args[0], ["not_an_object"])
        elif kind == "malformed":
            sample.add_refused(args[0], ["malformed_json"], written=Line(args[0]))
        elif kind == "blank":
            sample.add_blank(args[0])
        else:
            text = json.dumps(order("big", 0, pad=args[0]))
            sample.add_refused(text[:1024], ["record_too_large"], written=Line(text))
    return sample


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_nothing_lost_nothing_doubled(data: st.DataObject) -> None:
    key = data.draw(st.sampled_from(["orders/p.json", "orders/p.jsonl", "orders/p.json.gz", "orders/p.ndjson.gz"]))
    sample = build(key, data.draw(entry_kinds(is_lines(key))))
    chunk_records = data.draw(st.integers(1, 8))
    limit = LINE_LIMIT if is_lines(key) else IngestSettings().max_record_bytes
    ledger = ScriptedLedger()

    execution = ingest(
        memory_store(sample), key, ledger, IngestSettings(chunk_records=chunk_records, max_record_bytes=limit)
    )

    assert execution.status == ExecutionStatus.SUCCEEDED, execution.error
    event(f"chunks: {min(len(ledger.checkpoints), 4)}{'+' if len(ledger.checkpoints) >= 4 else ''}")
    target(len(ledger.checkpoints), label="chunks")
    assert_each_once(ledger, sample.positions)
    assert sorted(stored_positions(ledger)) == sorted(sample.stored)
    assert {letter.position: (sorted(letter.reasons), letter.record) for letter in ledger.dead_letters()} == (
        sample.refused
    )
    assert (execution.records, execution.stored, execution.rejected) == (
        len(sample.positions),
        len(sample.stored),
        len(sample.refused),
    )
    last_position = {order_id: position for position, order_id in sorted(sample.stored.items())}
    for order_id, position in last_position.items():
        assert ledger.order(order_id)["source_position"] == position
        assert ledger.order(order_id)["record"]["n"] == position
