"""OrderLedger and OrderQueries in memory, with fault-injection knobs.

It mirrors SqliteOrderLedger: orders live in a change log (each put or removal
appends one change holding the new image and the sequence of the previous one)
with a head per order, so old and new images come as DynamoDB Streams shows
them. Every write applies all of its effect or none of it.

Before doing anything, ``commit_chunk`` can fail on purpose, dlt-style:

- ``permanent_failure``: every call raises PermanentError;
- ``fail_next_commits``: that many calls raise TransientError;
- ``fail_prob``: each call raises TransientError with this probability, drawn
  from ``random.Random(seed)`` so that a run repeats exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import msgspec

from salesflow.clock import utc_now
from salesflow.domain.errors import NotFound, PermanentError, TransientError
from salesflow.domain.orders import Order, Reason, order_columns
from salesflow.domain.records import Chunk, DeadLetter, Execution, ExecutionStatus, LetterStatus
from salesflow.jsoncodec import column_value, from_json, to_json

EventType = Literal["INSERT", "MODIFY", "REMOVE"]


@dataclass(frozen=True, slots=True)
class _Change:
    sequence: int
    order_id: str
    image: str | None  # None for a removal
    prev_sequence: int | None  # None when the order did not exist
    source_key: str | None
    source_position: int | None
    event_time: str

    @property
    def event_type(self) -> EventType:
        if self.image is None:
            return "REMOVE"
        return "INSERT" if self.prev_sequence is None else "MODIFY"


@dataclass(slots=True)
class _Letter:
    id: int
    execution_id: str
    key: str
    position: int
    reasons: str  # JSON array, as the SQLite table keeps it
    record: str  # JSON of the record as it arrived
    status: LetterStatus
    created_at: str
    updated_at: str
    note: str | None = None
    history: list[tuple[str, str, str, str]] = field(default_factory=list)  # (action, actor, at, detail JSON)


class InMemoryOrderLedger:
    """OrderLedger and OrderQueries over dicts and lists (one process, one thread)."""

    def __init__(
        self, *, fail_next_commits: int = 0, fail_prob: float = 0.0, permanent_failure: bool = False, seed: int = 0
    ) -> None:
        self.fail_next_commits = fail_next_commits
        self.fail_prob = fail_prob
        self.permanent_failure = permanent_failure
        self._random = random.Random(seed)
        self._changes: list[_Change] = []
        self._heads: dict[str, int] = {}  # order_id -> sequence of its latest change
        self._executions: dict[str, Execution] = {}
        self._letters: dict[int, _Letter] = {}
        self._objects: dict[str, tuple[str, str, str | None, str]] = {}  # key -> (version, digest, execution, seen)

    def close(self) -> None:
        """Nothing to release; here so the fake can stand in wherever the SQLite ledger is closed."""

    # -- writes -------------------------------------------------------------

    def start_execution(self, pipeline: str, key: str, digest: str) -> Execution:
        for execution in reversed(self._executions.values()):
            if (execution.pipeline, execution.key, execution.digest) != (pipeline, key, digest):
                continue
            if execution.status == ExecutionStatus.FAILED:  # redriven: resumes from its checkpoint
                execution = replace(
                    execution, status=ExecutionStatus.RUNNING, finished_at=None, error=None, error_offset=None
                )
                self._executions[execution.id] = execution
            return execution
        execution_id = f"ex-{len(self._executions) + 1:012x}"
        execution = Execution(execution_id, pipeline, key, digest, ExecutionStatus.RUNNING, started_at=utc_now())
        self._executions[execution_id] = execution
        return execution

    def commit_chunk(self, chunk: Chunk) -> None:
        self._inject_fault()
        # Check every row first: once applying starts, nothing can fail half-way.
        for order_id, image, _ in chunk.orders:
            _require_text(order_id, "order id")
            _require_json(image, "order record")
        for _, reasons, record in chunk.rejected:
            _require_json(reasons, "reasons")
            _require_json(record, "rejected record")
        now = utc_now()
        for order_id, image, position in chunk.orders:
            self._append(order_id, image, chunk.key, position, now)
        for position, reasons, record in chunk.rejected:
            letter_id = len(self._letters) + 1
            self._letters[letter_id] = _Letter(
                letter_id, chunk.execution_id, chunk.key, position, reasons, record, LetterStatus.PENDING, now, now
            )
        execution = self._executions.get(chunk.execution_id)
        if execution is not None:  # like an UPDATE that matches no row
            self._executions[execution.id] = replace(
                execution,
                checkpoint=chunk.checkpoint,
                records=chunk.checkpoint,
                stored=execution.stored + len(chunk.orders),
                rejected=execution.rejected + len(chunk.rejected),
            )

    def finish_execution(
        self, execution_id: str, status: ExecutionStatus, error: str | None = None, error_offset: int | None = None
    ) -> Execution:
        execution = replace(
            self.execution(execution_id), status=status, finished_at=utc_now(), error=error, error_offset=error_offset
        )
        self._executions[execution_id] = execution
        return execution

    def redrive(self, letter_id: int, outcome: Order | list[Reason], record: Any, actor: str) -> LetterStatus:
        letter = self._pending_letter(letter_id, "redrive")
        now = utc_now()
        detail: dict[str, Any] = {"reasons_before": from_json(letter.reasons)}
        if record != from_json(letter.record):
            detail["record_before"] = from_json(letter.record)
            detail["record_after"] = record
        if isinstance(outcome, Order):
            status, reasons = LetterStatus.REDRIVEN, letter.reasons
            detail.update(result="stored", order_id=outcome.order_id)
            self._append(outcome.order_id, to_json(outcome.record), letter.key, letter.position, now)
        else:
            status, reasons = LetterStatus.PENDING, to_json(list(outcome))
            detail.update(result="refused", reasons_after=list(outcome))
        letter.status, letter.reasons, letter.record, letter.updated_at = status, reasons, to_json(record), now
        letter.history.append(("redrive", actor, now, to_json(detail)))
        return status

    def discard(self, letter_id: int, why: str, actor: str) -> None:
        letter = self._pending_letter(letter_id, "discard")
        now = utc_now()
        letter.status, letter.note, letter.updated_at = LetterStatus.DISCARDED, why, now
        letter.history.append(("discard", actor, now, to_json({"why": why})))

    def delete_orders(self, order_ids: Sequence[str]) -> int:
        now, removed = utc_now(), 0
        for order_id in dict.fromkeys(order_ids):
            head = self._heads.pop(order_id, None)
            if head is not None:
                self._changes.append(_Change(len(self._changes) + 1, order_id, None, head, None, None, now))
                removed += 1
        return removed

    # -- objects seen by the watcher ------------------------------------------

    def seen_objects(self) -> dict[str, tuple[str, str]]:
        """key -> (version, digest) of every object already handled."""
        return {key: (version, digest) for key, (version, digest, _, _) in self._objects.items()}

    def remember_object(self, key: str, version: str, digest: str, execution_id: str | None) -> None:
        self._objects[key] = (version, digest, execution_id, utc_now())

    # -- reads ----------------------------------------------------------------

    def execution(self, execution_id: str) -> Execution:
        try:
            return self._executions[execution_id]
        except KeyError:
            raise NotFound(f"no execution {execution_id!r}; `salesflow executions` lists them") from None

    def executions(self, status: str | None = None, limit: int | None = None) -> list[Execution]:
        found = [e for e in self._executions.values() if not status or e.status == status]
        found.sort(key=lambda e: (e.started_at, e.id), reverse=True)
        return _limited(found, limit)

    def dead_letter(self, letter_id: int) -> DeadLetter:
        letter = self._letters.get(letter_id)
        if letter is None:
            raise NotFound(f"no dead letter {letter_id}; `salesflow dlq list` lists them")
        history = [
            {"action": action, "actor": actor, "at": at, "detail": from_json(detail)}
            for action, actor, at, detail in letter.history
        ]
        return _dead_letter(letter, history)

    def dead_letters(
        self, reason: str | None = None, key: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        found = [
            _dead_letter(letter, [])
            for letter in self._letters.values()
            if (not key or letter.key == key) and (not status or letter.status == status)
        ]
        return _limited([letter for letter in found if not reason or reason in letter.reasons], limit)

    def reasons_of(self, execution_id: str) -> dict[str, int]:
        """How many of an execution's dead letters carry each reason."""
        counts = Counter(
            reason
            for letter in self._letters.values()
            if letter.execution_id == execution_id
            for reason in from_json(letter.reasons)
        )
        return dict(counts.most_common())

    def order(self, order_id: str) -> dict[str, Any]:
        sequence = self._heads.get(order_id)
        if sequence is None:
            raise NotFound(f"no order {order_id!r}")
        change = self._changes[sequence - 1]
        record = from_json(change.image or "{}")
        found: dict[str, Any] = {"order_id": order_id}
        found.update({column: column_value(value) for column, value in order_columns(record).items()})
        found.update(
            record=record,
            source_key=change.source_key,
            source_position=change.source_position,
            updated_at=change.event_time,
        )
        return found

    def status(self) -> dict[str, Any]:
        failed = [e for e in self._executions.values() if e.error is not None]
        last = max(failed, key=lambda e: e.finished_at or "", default=None)
        return {
            "orders": len(self._heads),
            "change_log": len(self._changes),
            "dead_letters": dict(Counter(str(letter.status) for letter in self._letters.values())),
            "executions": dict(Counter(str(e.status) for e in self._executions.values())),
            "last_error": None
            if last is None
            else {"execution": last.id, "key": last.key, "error": last.error, "at": last.finished_at},
        }

    # -- for tests --------------------------------------------------------------

    def changes(self) -> list[dict[str, Any]]:
        """Every change record with both images (JSON text), oldest first, as the `changes` view shows them."""
        return [
            {
                "sequence": change.sequence,
                "event_type": change.event_type,
                "order_id": change.order_id,
                "old_image": None if change.prev_sequence is None else self._changes[change.prev_sequence - 1].image,
                "new_image": change.image,
            }
            for change in self._changes
        ]

    # -- helpers --------------------------------------------------------------

    def _inject_fault(self) -> None:
        if self.permanent_failure:
            raise PermanentError("injected permanent failure: the in-memory ledger refuses every commit")
        if self.fail_next_commits > 0:
            self.fail_next_commits -= 1
            raise TransientError("injected transient failure (fail_next_commits); retrying may succeed")
        if self.fail_prob > 0 and self._random.random() < self.fail_prob:
            raise TransientError(f"injected transient failure (fail_prob={self.fail_prob}); retrying may succeed")

    def _append(self, order_id: str, image: str, key: str | None, position: int | None, now: str) -> None:
        sequence = len(self._changes) + 1
        self._changes.append(_Change(sequence, order_id, image, self._heads.get(order_id), key, position, now))
        self._heads[order_id] = sequence

    def _pending_letter(self, letter_id: int, action: str) -> _Letter:
        letter = self._letters.get(letter_id)
        if letter is None:
            raise NotFound(f"no dead letter {letter_id}; `salesflow dlq list` lists them")
        if letter.status != LetterStatus.PENDING:
            raise PermanentError(f"dead letter {letter_id} is {letter.status} already; only pending ones can {action}")
        return letter


def _require_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise PermanentError(f"a chunk row has no {what} ({value!r}); nothing of the chunk was applied")
    return value


def _require_json(value: object, what: str) -> None:
    try:
        from_json(_require_text(value, what))
    except msgspec.DecodeError:
        raise PermanentError(f"a chunk row's {what} is not JSON; nothing of the chunk was applied") from None


def _limited(items: list[Any], limit: int | None) -> list[Any]:
    return items if limit is None or limit < 0 else items[:limit]


def _dead_letter(letter: _Letter, history: list[dict[str, Any]]) -> DeadLetter:
    return DeadLetter(
        id=letter.id,
        execution_id=letter.execution_id,
        key=letter.key,
        position=letter.position,
        reasons=from_json(letter.reasons),
        record=from_json(letter.record),
        status=letter.status,
        created_at=letter.created_at,
        updated_at=letter.updated_at,
        note=letter.note,
        history=history,
    )
