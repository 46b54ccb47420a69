"""The OrderLedger and OrderQueries contract, run against SQLite and the in-memory fake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from salesflow.adapters.local.sqlite_db import connect
from salesflow.adapters.local.sqlite_ledger import SqliteOrderLedger
from salesflow.adapters.memory import InMemoryOrderLedger
from salesflow.domain.errors import NotFound, PermanentError, SalesflowError, TransientError
from salesflow.domain.orders import Order, Reason, check_order
from salesflow.domain.records import Chunk, Execution, ExecutionStatus, LetterStatus, Pipeline
from salesflow.jsoncodec import from_json, to_json
from tests.contract.conftest import ChangeReader, Ledger

KEY = "orders/2026-11-25.json"


def raw_order(order_id: str, quantity: Any = 1, email: str = "ada@example.com") -> dict[str, Any]:
    return {
        "contact-info": {"name": "Ada Lovelace", "email": email},
        "order-info": {
            "order-id": order_id,
            "item-id": "TEA-1",
            "item-desc": "Green tea",
            "qty": quantity,
            "price": "4.50",
        },
        "channel": "web",
    }


def valid(order_id: str, quantity: int = 1) -> Order:
    outcome = check_order(raw_order(order_id, quantity))
    assert isinstance(outcome, Order), outcome
    return outcome


def put(order: Order, position: int) -> tuple[str, str, int]:
    return (order.order_id, to_json(order.record), position)


def reject(position: int, reasons: list[Reason], raw: Any) -> tuple[int, str, str]:
    return (position, to_json(reasons), to_json(raw))


def start(ledger: Ledger, key: str = KEY, digest: str = "digest-1") -> Execution:
    return ledger.start_execution(Pipeline.ORDERS, key, digest)


def commit(
    ledger: Ledger,
    execution: Execution,
    orders: list[tuple[str, str, int]],
    rejected: list[tuple[int, str, str]] | None = None,
    checkpoint: int | None = None,
) -> None:
    rejected = rejected or []
    done = checkpoint if checkpoint is not None else execution.checkpoint + len(orders) + len(rejected)
    ledger.commit_chunk(Chunk(execution.id, execution.key, orders, rejected, done))


def images(change: dict[str, Any]) -> tuple[Any, Any]:
    """Both images of a change record, parsed (None where there is none)."""
    old, new = (None if image is None else from_json(image) for image in (change["old_image"], change["new_image"]))
    return old, new


def queue_one(ledger: Ledger, quantity: Any = 0) -> int:
    """A dead letter for an order refused for its quantity; returns its id."""
    execution = start(ledger)
    commit(ledger, execution, [], [reject(4, [Reason.INVALID_QUANTITY], raw_order("A-1", quantity))], checkpoint=5)
    [letter] = ledger.dead_letters()
    return letter.id


# -- executions -------------------------------------------------------------------


def test_start_execution_opens_a_running_execution(ledger: Ledger) -> None:
    execution = start(ledger)

    assert (execution.pipeline, execution.key, execution.digest) == ("orders", KEY, "digest-1")
    assert execution.status == ExecutionStatus.RUNNING
    assert (execution.records, execution.stored, execution.rejected, execution.checkpoint) == (0, 0, 0, 0)
    assert execution.started_at
    assert execution.finished_at is None
    assert ledger.execution(execution.id) == execution


def test_start_execution_resumes_the_running_one_from_its_checkpoint(ledger: Ledger) -> None:
    first = start(ledger)
    commit(ledger, first, [put(valid("A-1"), 0), put(valid("A-2"), 1)])

    resumed = start(ledger)

    assert resumed.id == first.id
    assert resumed.status == ExecutionStatus.RUNNING
    assert resumed.checkpoint == 2
    assert len(ledger.executions()) == 1


def test_a_succeeded_execution_is_returned_again_instead_of_a_new_one(ledger: Ledger) -> None:
    first = start(ledger)
    commit(ledger, first, [put(valid("A-1"), 0)])
    done = ledger.finish_execution(first.id, ExecutionStatus.SUCCEEDED)

    again = start(ledger)

    assert again == done
    assert again.status == ExecutionStatus.SUCCEEDED
    assert len(ledger.executions()) == 1


def test_a_failed_execution_is_redriven_from_its_checkpoint(ledger: Ledger) -> None:
    first = start(ledger)
    commit(ledger, first, [put(valid("A-1"), 0)], checkpoint=1)
    ledger.finish_execution(first.id, ExecutionStatus.FAILED, "the database is busy", None)

    again = start(ledger)

    assert again.id == first.id
    assert (again.status, again.checkpoint, again.error, again.finished_at) == (ExecutionStatus.RUNNING, 1, None, None)
    assert len(ledger.executions()) == 1


def test_new_content_under_the_same_key_is_a_new_execution(ledger: Ledger) -> None:
    first = start(ledger, digest="digest-1")
    ledger.finish_execution(first.id, ExecutionStatus.SUCCEEDED)

    second = start(ledger, digest="digest-2")

    assert second.id != first.id
    assert second.status == ExecutionStatus.RUNNING
    assert start(ledger, key="orders/other.json", digest="digest-1").id not in {first.id, second.id}


def test_finish_execution_records_the_outcome(ledger: Ledger) -> None:
    execution = start(ledger)

    failed = ledger.finish_execution(execution.id, ExecutionStatus.FAILED, "unexpected end of data", 77)

    assert (failed.status, failed.error, failed.error_offset) == (ExecutionStatus.FAILED, "unexpected end of data", 77)
    assert failed.finished_at is not None
    assert failed.finished_at >= failed.started_at
    assert ledger.execution(execution.id) == failed


def test_an_unknown_execution_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        ledger.execution("ex-000000000000")
    with pytest.raises(NotFound):
        ledger.finish_execution("ex-000000000000", ExecutionStatus.SUCCEEDED)


def test_executions_filter_by_status(ledger: Ledger) -> None:
    succeeded = ledger.finish_execution(start(ledger, "orders/a.json").id, ExecutionStatus.SUCCEEDED)
    failed = ledger.finish_execution(start(ledger, "orders/b.json").id, ExecutionStatus.FAILED, "broken", 3)
    running = start(ledger, "orders/c.json")

    assert [e.id for e in ledger.executions(status="failed")] == [failed.id]
    assert [e.id for e in ledger.executions(status="succeeded")] == [succeeded.id]
    assert [e.id for e in ledger.executions(status="running")] == [running.id]
    assert {e.id for e in ledger.executions()} == {succeeded.id, failed.id, running.id}
    assert len(ledger.executions(limit=2)) == 2


# -- chunks -------------------------------------------------------------------------


def test_commit_chunk_stores_orders_queues_rejects_and_advances_the_execution(ledger: Ledger) -> None:
    execution = start(ledger)
    refused = raw_order("B-1", quantity=0)

    commit(
        ledger,
        execution,
        [put(valid("A-1", 2), 0), put(valid("A-2"), 2)],
        [reject(1, [Reason.INVALID_QUANTITY], refused)],
    )
    commit(
        ledger,
        ledger.execution(execution.id),
        [put(valid("A-3"), 3)],
        [reject(4, [Reason.MALFORMED_JSON], '{"orders": [')],
    )

    after = ledger.execution(execution.id)
    assert (after.records, after.stored, after.rejected, after.checkpoint) == (5, 3, 2, 5)
    order = ledger.order("A-1")
    assert order["record"] == valid("A-1", 2).record
    assert (order["source_key"], order["source_position"]) == (KEY, 0)
    assert (order["customer_name"], order["customer_email"]) == ("Ada Lovelace", "ada@example.com")
    assert (order["item_id"], order["product_name"], order["quantity"], order["price"]) == (
        "TEA-1",
        "Green tea",
        2,
        "4.50",
    )
    assert order["updated_at"]
    letters = ledger.dead_letters()
    assert [(d.key, d.position, d.reasons, d.record, d.status) for d in letters] == [
        (KEY, 1, ["invalid_quantity"], refused, LetterStatus.PENDING),
        (KEY, 4, ["malformed_json"], '{"orders": [', LetterStatus.PENDING),
    ]
    assert {d.execution_id for d in letters} == {execution.id}


def test_the_later_record_wins_within_a_chunk_and_across_chunks(ledger: Ledger, changes: ChangeReader) -> None:
    execution = start(ledger)
    first, second, third = valid("A-1", 1), valid("A-1", 2), valid("A-1", 3)

    commit(ledger, execution, [put(first, 0), put(valid("B-1"), 1), put(second, 2)])
    commit(ledger, ledger.execution(execution.id), [put(third, 3)])

    order = ledger.order("A-1")
    assert (order["quantity"], order["source_position"]) == (3, 3)
    log = changes()
    assert [(c["sequence"], c["event_type"], c["order_id"]) for c in log] == [
        (1, "INSERT", "A-1"),
        (2, "INSERT", "B-1"),
        (3, "MODIFY", "A-1"),
        (4, "MODIFY", "A-1"),
    ]
    assert [images(c) for c in log if c["order_id"] == "A-1"] == [
        (None, first.record),
        (first.record, second.record),
        (second.record, third.record),
    ]
    counts = ledger.status()
    assert (counts["orders"], counts["change_log"]) == (2, 4)


def test_a_chunk_whose_rejects_cannot_be_queued_applies_nothing(ledger: Ledger, changes: ChangeReader) -> None:
    execution = start(ledger)
    commit(ledger, execution, [put(valid("A-1", 1), 0)])
    before = ledger.execution(execution.id)
    broken = Chunk(
        execution.id,
        KEY,
        [put(valid("B-1"), 1), put(valid("A-1", 9), 2)],
        [(3, None, to_json({"order-info": {}}))],  # type: ignore[list-item]  # no reasons: the queue refuses the row
        4,
    )

    with pytest.raises(SalesflowError):
        ledger.commit_chunk(broken)

    assert ledger.execution(execution.id) == before
    assert ledger.order("A-1")["quantity"] == 1
    with pytest.raises(NotFound):
        ledger.order("B-1")
    assert [c["order_id"] for c in changes()] == ["A-1"]
    assert ledger.dead_letters() == []


def test_delete_orders_removes_them_with_remove_changes(ledger: Ledger, changes: ChangeReader) -> None:
    execution = start(ledger)
    kept, gone = valid("A-1"), valid("A-2", 5)
    commit(ledger, execution, [put(kept, 0), put(gone, 1)])

    removed = ledger.delete_orders(["A-2", "A-2", "NOPE"])

    assert removed == 1
    with pytest.raises(NotFound):
        ledger.order("A-2")
    assert ledger.order("A-1")["record"] == kept.record
    last = changes()[-1]
    assert (last["sequence"], last["event_type"], last["order_id"]) == (3, "REMOVE", "A-2")
    assert images(last) == (gone.record, None)
    assert ledger.status()["orders"] == 1
    assert ledger.delete_orders(["A-2"]) == 0
    assert len(changes()) == 3


def test_an_order_put_again_after_removal_is_an_insert(ledger: Ledger, changes: ChangeReader) -> None:
    execution = start(ledger)
    commit(ledger, execution, [put(valid("A-1", 1), 0)])
    ledger.delete_orders(["A-1"])

    commit(ledger, ledger.execution(execution.id), [put(valid("A-1", 2), 1)])

    assert [c["event_type"] for c in changes()] == ["INSERT", "REMOVE", "INSERT"]
    assert images(changes()[-1]) == (None, valid("A-1", 2).record)
    assert ledger.order("A-1")["quantity"] == 2


def test_an_unknown_order_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        ledger.order("A-404")


# -- dead letters ---------------------------------------------------------------


def test_redrive_with_an_order_moves_the_letter_to_orders_exactly_once(ledger: Ledger, changes: ChangeReader) -> None:
    letter_id = queue_one(ledger)
    fixed_record = raw_order("A-1", 2)

    status = ledger.redrive(letter_id, valid("A-1", 2), fixed_record, "ann")

    assert status == LetterStatus.REDRIVEN
    letter = ledger.dead_letter(letter_id)
    assert (letter.status, letter.record) == (LetterStatus.REDRIVEN, fixed_record)
    order = ledger.order("A-1")
    assert (order["quantity"], order["source_key"], order["source_position"]) == (2, KEY, 4)
    assert [(c["event_type"], c["order_id"]) for c in changes()] == [("INSERT", "A-1")]
    [action] = letter.history
    assert (action["action"], action["actor"]) == ("redrive", "ann")
    assert action["detail"] == {
        "reasons_before": ["invalid_quantity"],
        "record_before": raw_order("A-1", 0),
        "record_after": fixed_record,
        "result": "stored",
        "order_id": "A-1",
    }

    with pytest.raises(PermanentError, match="pending") as refused:
        ledger.redrive(letter_id, valid("A-1", 2), fixed_record, "ann")

    assert not isinstance(refused.value, NotFound)
    assert len(changes()) == 1
    assert len(ledger.dead_letter(letter_id).history) == 1


def test_redrive_with_reasons_keeps_the_letter_pending_with_the_new_reasons(ledger: Ledger) -> None:
    letter_id = queue_one(ledger)
    still_bad = raw_order("A-1", 2, email="not-an-email")

    status = ledger.redrive(letter_id, [Reason.INVALID_EMAIL], still_bad, "ann")

    assert status == LetterStatus.PENDING
    letter = ledger.dead_letter(letter_id)
    assert (letter.status, letter.reasons, letter.record) == (LetterStatus.PENDING, ["invalid_email"], still_bad)
    assert letter.history[0]["detail"]["result"] == "refused"
    assert letter.history[0]["detail"]["reasons_after"] == ["invalid_email"]
    with pytest.raises(NotFound):
        ledger.order("A-1")
    assert ledger.status()["change_log"] == 0
    assert ledger.redrive(letter_id, valid("A-1", 2), raw_order("A-1", 2), "bob") == LetterStatus.REDRIVEN
    assert [a["actor"] for a in ledger.dead_letter(letter_id).history] == ["ann", "bob"]


def test_discard_keeps_the_letter_with_the_note_and_only_once(ledger: Ledger) -> None:
    letter_id = queue_one(ledger)

    ledger.discard(letter_id, "test order, not a real customer", "ann")

    letter = ledger.dead_letter(letter_id)
    assert (letter.status, letter.note) == (LetterStatus.DISCARDED, "test order, not a real customer")
    assert letter.record == raw_order("A-1", 0)
    [action] = letter.history
    assert (action["action"], action["actor"], action["detail"]) == (
        "discard",
        "ann",
        {"why": "test order, not a real customer"},
    )
    with pytest.raises(PermanentError, match="pending"):
        ledger.discard(letter_id, "again", "ann")
    with pytest.raises(PermanentError, match="pending"):
        ledger.redrive(letter_id, valid("A-1", 2), raw_order("A-1", 2), "ann")
    assert ledger.dead_letter(letter_id).note == "test order, not a real customer"
    assert ledger.status()["orders"] == 0


def test_an_unknown_dead_letter_is_not_found(ledger: Ledger) -> None:
    queue_one(ledger)

    with pytest.raises(NotFound):
        ledger.dead_letter(999)
    with pytest.raises(NotFound):
        ledger.redrive(999, valid("A-1"), raw_order("A-1"), "ann")
    with pytest.raises(NotFound):
        ledger.discard(999, "why", "ann")


def test_dead_letters_filter_by_reason_key_and_status(ledger: Ledger) -> None:
    first, second = start(ledger, "orders/a.json"), start(ledger, "orders/b.jsonl")
    commit(
        ledger,
        first,
        [],
        [
            reject(0, [Reason.INVALID_QUANTITY, Reason.INVALID_EMAIL], {"x": 1}),
            reject(1, [Reason.NOT_AN_OBJECT], [1, 2]),
        ],
    )
    commit(
        ledger, second, [], [reject(7, [Reason.MALFORMED_JSON], "{oops"), reject(8, [Reason.INVALID_EMAIL], {"y": 2})]
    )
    by_position = {d.position: d.id for d in ledger.dead_letters()}
    ledger.discard(by_position[8], "duplicate", "ann")

    def positions(**filters: Any) -> list[int]:
        return [d.position for d in ledger.dead_letters(**filters)]

    assert positions() == [0, 1, 7, 8]
    assert positions(reason="invalid_email") == [0, 8]
    assert positions(reason="invalid") == []
    assert positions(key="orders/b.jsonl") == [7, 8]
    assert positions(status="pending") == [0, 1, 7]
    assert positions(status="discarded") == [8]
    assert positions(reason="invalid_email", status="pending") == [0]
    assert positions(reason="invalid_email", key="orders/b.jsonl", status="pending") == []
    assert positions(limit=2) == [0, 1]
    assert ledger.reasons_of(first.id) == {"invalid_quantity": 1, "invalid_email": 1, "not_an_object": 1}
    assert ledger.reasons_of(second.id) == {"malformed_json": 1, "invalid_email": 1}


# -- status and seen objects ---------------------------------------------------------


def test_status_counts_tables_and_executions_and_shows_the_last_error(ledger: Ledger) -> None:
    assert ledger.status() == {"orders": 0, "change_log": 0, "dead_letters": {}, "executions": {}, "last_error": None}
    good = start(ledger, "orders/a.json")
    commit(ledger, good, [put(valid("A-1"), 0), put(valid("A-1", 2), 1), put(valid("A-2"), 2)])
    commit(
        ledger,
        ledger.execution(good.id),
        [],
        [reject(3, [Reason.NOT_AN_OBJECT], 3), reject(4, [Reason.NOT_AN_OBJECT], 4)],
    )
    ledger.finish_execution(good.id, ExecutionStatus.SUCCEEDED)
    ledger.discard(ledger.dead_letters()[0].id, "junk", "ann")
    bad = ledger.finish_execution(start(ledger, "orders/b.json").id, ExecutionStatus.FAILED, "truncated", 12)
    start(ledger, "orders/c.json")

    assert ledger.status() == {
        "orders": 2,
        "change_log": 3,
        "dead_letters": {"pending": 1, "discarded": 1},
        "executions": {"succeeded": 1, "failed": 1, "running": 1},
        "last_error": {"execution": bad.id, "key": "orders/b.json", "error": "truncated", "at": bad.finished_at},
    }


def test_remember_object_updates_what_was_seen(ledger: Ledger) -> None:
    assert ledger.seen_objects() == {}

    ledger.remember_object("orders/a.json", "v1", "digest-1", "ex-1")
    ledger.remember_object("orders/b.json", "v1", "digest-2", None)
    ledger.remember_object("orders/a.json", "v2", "digest-3", "ex-2")

    assert ledger.seen_objects() == {"orders/a.json": ("v2", "digest-3"), "orders/b.json": ("v1", "digest-2")}


# -- the in-memory ledger's fault injection --------------------------------------------


def test_fail_next_commits_fails_that_many_commits_and_applies_nothing() -> None:
    ledger = InMemoryOrderLedger(fail_next_commits=2)
    execution = start(ledger)
    chunk = Chunk(execution.id, KEY, [put(valid("A-1"), 0)], [reject(1, [Reason.NOT_AN_OBJECT], 1)], 2)

    for _ in range(2):
        with pytest.raises(TransientError):
            ledger.commit_chunk(chunk)
        assert (ledger.changes(), ledger.dead_letters(), ledger.execution(execution.id)) == ([], [], execution)
    ledger.commit_chunk(chunk)

    assert ledger.execution(execution.id).checkpoint == 2
    assert ledger.order("A-1")["record"] == valid("A-1").record
    assert ledger.fail_next_commits == 0


def fail_pattern(ledger: InMemoryOrderLedger, commits: int) -> list[bool]:
    """Which of `commits` one-order chunks failed; each failure must apply nothing."""
    execution, failed = start(ledger), []
    for n in range(commits):
        try:
            commit(ledger, ledger.execution(execution.id), [put(valid(f"A-{n}"), n)], checkpoint=n + 1)
            failed.append(False)
        except TransientError:
            failed.append(True)
    assert ledger.status()["orders"] == failed.count(False)
    assert ledger.execution(execution.id).stored == failed.count(False)
    return failed


def test_fail_prob_fails_some_commits_the_same_way_under_the_same_seed() -> None:
    pattern = fail_pattern(InMemoryOrderLedger(fail_prob=0.5, seed=7), 40)

    assert True in pattern
    assert False in pattern
    assert fail_pattern(InMemoryOrderLedger(fail_prob=0.5, seed=7), 40) == pattern
    assert fail_pattern(InMemoryOrderLedger(fail_prob=0.5, seed=8), 40) != pattern
    assert True not in fail_pattern(InMemoryOrderLedger(fail_prob=0.0, seed=7), 10)
    assert False not in fail_pattern(InMemoryOrderLedger(fail_prob=1.0, seed=7), 10)


def test_permanent_failure_refuses_every_commit_until_turned_off() -> None:
    ledger = InMemoryOrderLedger(permanent_failure=True)
    execution = start(ledger)
    chunk = Chunk(execution.id, KEY, [put(valid("A-1"), 0)], [], 1)

    for _ in range(3):
        with pytest.raises(PermanentError) as raised:
            ledger.commit_chunk(chunk)
        assert not isinstance(raised.value, TransientError)
    assert (ledger.changes(), ledger.execution(execution.id)) == ([], execution)

    ledger.permanent_failure = False
    ledger.commit_chunk(chunk)
    assert ledger.status()["orders"] == 1


def test_the_sqlite_ledger_counts_pending_letters_as_status_does(tmp_path: Path) -> None:
    # The alerts read this every check_seconds: it must agree with status(), which counts far more.
    ledger = SqliteOrderLedger(connect(tmp_path / "salesflow.db"))
    try:
        assert ledger.pending_letters() == 0
        first = queue_one(ledger)
        commit(ledger, start(ledger), [], [reject(7, [Reason.INVALID_QUANTITY], raw_order("A-1", -1))], checkpoint=8)
        [second] = [letter.id for letter in ledger.dead_letters() if letter.id != first]
        assert ledger.pending_letters() == 2
        ledger.discard(first, "a test order", "ann")
        ledger.redrive(second, valid("A-1", 2), raw_order("A-1", 2), "ann")
        assert ledger.pending_letters() == 0 == ledger.status()["dead_letters"].get("pending", 0)
    finally:
        ledger.close()
