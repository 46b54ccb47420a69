"""OrderLedger and OrderQueries on DynamoDB: the orders table and an executions table.

Tables (created by deploy/, or by adapters.aws.provision for emulators):

- orders: partition key ``order_id``, stream NEW_AND_OLD_IMAGES (the change log: every
  put and delete is a stream record with both images, like the embedded face's
  ``changes``); items as dynamo_items.py describes.
- executions: partition key ``pk``, one table for the ledger's own state:
  ``EXECUTION#<id>``, ``RUN#<pipeline>#<digest>#<key>`` (which execution an object's
  content has), ``LETTER#<id>`` (dead letters with status and history, the records the
  CLI and console list), ``COUNTER#letters`` / ``COUNTER#changes``, ``SEEN#<key>``.

Exactly once without one transaction per chunk
----------------------------------------------
A chunk holds thousands of records; DynamoDB transactions take 100 items. So a chunk
is several writes, made safe to repeat, with the checkpoint advanced last:

1. intent: the execution item records the chunk's fingerprint, its commit time and
   the dead-letter ids it takes (one atomic counter update), on condition that the
   checkpoint is still where this writer read it;
2. orders: BatchWriteItem, 25 at a time, unprocessed items retried with backoff and
   jitter; an order that appears twice in the chunk is written in a later round, so
   it changes twice, in file order;
3. dead letters: BatchWriteItem of items whose ids and contents come from the intent,
   so writing them again changes nothing;
4. advance: one TransactWriteItems moves the checkpoint and counters and clears the
   intent, on condition that the intent is this chunk's.

A crash (or a TransientError) anywhere before 4 leaves the checkpoint where it was;
the pipeline sends the same chunk again, the ledger sees its own intent, and replays
it with *conditional* puts: an order is written only if the table does not already
hold this execution's record at this position or a later one
(``attribute_not_exists(order_id) OR execution_id <> :e OR source_position < :p``),
so a repeated write has no second effect, in the table or in its stream. Letters are
rewritten identically. A different chunk at the same checkpoint (the pipeline's
``write_failed`` fallback) first deletes the letters of the abandoned intent.

What this cannot give that SQLite gives: between 1 and 4 a reader may see part of a
chunk's orders; and after the ``write_failed`` fallback, orders of the abandoned
attempt that did land stay in the table (their dead letters say write_failed, and
redriving them writes the same record again). Listings scan the executions table:
right for the ledger's size (executions, letters), and documented for a GSI when not.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from salesflow.adapters.aws.clients import error_code, translate_errors
from salesflow.adapters.aws.dynamo_items import MAX_ITEM_BYTES, item_bytes, order_item
from salesflow.adapters.aws.dynamo_writes import batch_write, from_item, rounds, to_item
from salesflow.clock import utc_now
from salesflow.domain.errors import NotFound, PermanentError, TransientError
from salesflow.domain.orders import Order, Reason, order_columns
from salesflow.domain.records import Chunk, DeadLetter, Execution, ExecutionStatus, LetterStatus
from salesflow.jsoncodec import column_value, from_json, to_json
from salesflow.retry import RetryPolicy

_REPEAT_GUARD = "attribute_not_exists(order_id) OR execution_id <> :e OR source_position < :p"
_EXECUTION_FIELDS = (
    "id", "pipeline", "key", "digest", "status", "records", "stored", "rejected",
    "checkpoint", "started_at", "finished_at", "error", "error_offset",
)  # fmt: skip


class DynamoOrderLedger:
    """OrderLedger and OrderQueries over two DynamoDB tables (boto3 client injected)."""

    def __init__(
        self,
        dynamodb: Any,
        orders_table: str,
        executions_table: str,
        retry: RetryPolicy | None = None,
        on_retry: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._db = dynamodb
        self.orders_table = orders_table
        self.executions_table = executions_table
        self._retry = retry or RetryPolicy()
        self._on_retry = on_retry

    def close(self) -> None:
        """Nothing to release: boto3 clients close their pools when collected."""

    # -- executions ------------------------------------------------------------

    def start_execution(self, pipeline: str, key: str, digest: str) -> Execution:
        run_key = f"RUN#{pipeline}#{digest}#{key}"
        for _ in range(3):  # a lost race to create the execution reads the winner's
            found = self._get(run_key)
            if found is not None:
                return self._resume(found["execution_id"])
            execution = Execution(
                new_execution_id(), pipeline, key, digest, ExecutionStatus.RUNNING, started_at=utc_now()
            )
            try:
                self._transact(
                    [
                        self._put({"pk": run_key, "execution_id": execution.id}, condition="attribute_not_exists(pk)"),
                        self._put(_execution_values(execution)),
                    ],
                    "starting an execution",
                )
                return execution
            except _ConditionFailed:
                continue
        raise TransientError(f"could not start an execution for {key!r}: it kept changing; retrying")

    def _resume(self, execution_id: str) -> Execution:
        # A failed execution is redriven, like Step Functions does: same id, from its checkpoint.
        with contextlib.suppress(_ConditionFailed):  # not failed: running or succeeded, returned as it is
            self._update(
                f"EXECUTION#{execution_id}",
                "SET #status = :running REMOVE finished_at, #error, error_offset",
                {":running": "running", ":failed": "failed"},
                condition="#status = :failed",
            )
        return self.execution(execution_id)

    def finish_execution(
        self, execution_id: str, status: ExecutionStatus, error: str | None = None, error_offset: int | None = None
    ) -> Execution:
        values: dict[str, Any] = {":status": str(status), ":at": utc_now()}
        sets = ["#status = :status", "finished_at = :at"]
        removes = []
        for name, value in (("#error", error), ("error_offset", error_offset)):
            if value is None:
                removes.append(name)
            else:
                values[f":{name.lstrip('#')}"] = value
                sets.append(f"{name} = :{name.lstrip('#')}")
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._update(f"EXECUTION#{execution_id}", expression, values, condition="attribute_exists(pk)")
        except _ConditionFailed:
            raise NotFound(f"no execution {execution_id!r}; `salesflow executions` lists them") from None
        return self.execution(execution_id)

    # -- chunks ------------------------------------------------------------------

    def commit_chunk(self, chunk: Chunk) -> None:
        items = _checked_orders(chunk)
        letters = _checked_letters(chunk)
        state = self._get(f"EXECUTION#{chunk.execution_id}")
        if state is None:
            raise NotFound(f"no execution {chunk.execution_id!r} to commit a chunk to")
        fingerprint = _fingerprint(chunk)
        replay = state.get("applying") == fingerprint
        if replay:
            at, first_letter = state["applying_at"], int(state["letters_from"])
        else:
            at, first_letter = self._intend(chunk, state, fingerprint, len(letters))
        self._write_orders(chunk, items, at, guarded=replay)
        self._write_letters(chunk, letters, first_letter, at)
        self._advance(chunk, fingerprint)

    def _intend(self, chunk: Chunk, state: dict[str, Any], fingerprint: str, letters: int) -> tuple[str, int]:
        if "applying" in state and int(state.get("letters_count", 0)):
            # An abandoned attempt at this checkpoint (a different chunk): its letters go.
            first, count = int(state["letters_from"]), int(state["letters_count"])
            deletes = [{"DeleteRequest": {"Key": {"pk": {"S": _letter_pk(first + n)}}}} for n in range(count)]
            batch_write(self._db, self.executions_table, deletes, self._retry, self._on_retry)
        first_letter = self._allocate("letters", letters) if letters else 0
        at = utc_now()
        try:
            self._update(
                f"EXECUTION#{chunk.execution_id}",
                "SET applying = :fp, applying_at = :at, letters_from = :first, letters_count = :count",
                {":fp": fingerprint, ":at": at, ":first": first_letter, ":count": letters, ":cp": state["checkpoint"]},
                condition="#checkpoint = :cp",
            )
        except _ConditionFailed:
            raise PermanentError(
                f"execution {chunk.execution_id} moved on while this chunk was prepared: another writer "
                "is running it; stop one of them"
            ) from None
        return at, first_letter

    def write_orders(
        self, execution_id: str, key: str | None, rows: Sequence[tuple[str, str, int]], *, guarded: bool
    ) -> None:
        """Put orders ``(order_id, record JSON, position)`` outside a chunk (the Lambdas' batch write).

        ``guarded``: a repeat (a retried Lambda, a replayed chunk) -- conditional puts, so nothing
        that already landed is written twice. Otherwise BatchWriteItem, 25 at a time."""
        chunk = Chunk(execution_id, key or "", list(rows), [], 0)
        self._write_orders(chunk, _checked_orders(chunk), utc_now(), guarded=guarded)

    def _write_orders(self, chunk: Chunk, items: list[dict[str, Any]], at: str, *, guarded: bool) -> None:
        for item in items:
            item["updated_at"] = {"S": at}
        if not guarded:
            for batch in rounds(items, lambda item: item["order_id"]["S"]):
                requests = [{"PutRequest": {"Item": item}} for item in batch]
                batch_write(self._db, self.orders_table, requests, self._retry, self._on_retry)
            return
        for item in items:  # a replay: one conditional put per order, so nothing lands twice
            values = {":e": {"S": chunk.execution_id}, ":p": item["source_position"]}
            try:
                self._retry.call(lambda item=item, values=values: self._put_order(item, values), self._on_retry)  # type: ignore[misc]
            except _ConditionFailed:
                continue  # already there from the first attempt

    def _put_order(self, item: dict[str, Any], values: dict[str, Any]) -> None:
        try:
            with translate_errors(f"writing order {item['order_id']['S']!r}"):
                self._db.put_item(
                    TableName=self.orders_table,
                    Item=item,
                    ConditionExpression=_REPEAT_GUARD,
                    ExpressionAttributeValues=values,
                )
        except PermanentError as exc:
            if error_code(exc.__cause__ or exc) == "ConditionalCheckFailedException":
                raise _ConditionFailed from None
            raise

    def _write_letters(self, chunk: Chunk, letters: list[tuple[int, str, str]], first: int, at: str) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": to_item(
                        {
                            "pk": _letter_pk(first + n),
                            "type": "letter",
                            "id": first + n,
                            "execution_id": chunk.execution_id,
                            "key": chunk.key,
                            "position": position,
                            "reasons": reasons,
                            "record": record,
                            "status": "pending",
                            "created_at": at,
                            "updated_at": at,
                            "history": [],
                        }
                    )
                }
            }
            for n, (position, reasons, record) in enumerate(letters)
        ]
        batch_write(self._db, self.executions_table, requests, self._retry, self._on_retry)

    def _advance(self, chunk: Chunk, fingerprint: str) -> None:
        actions = [
            self._update_action(
                f"EXECUTION#{chunk.execution_id}",
                "SET #checkpoint = :cp, records = :cp, #stored = #stored + :stored, rejected = rejected + :rejected"
                " REMOVE applying, applying_at, letters_from, letters_count",
                {
                    ":cp": chunk.checkpoint,
                    ":stored": len(chunk.orders),
                    ":rejected": len(chunk.rejected),
                    ":fp": fingerprint,
                },
                condition="applying = :fp",
            )
        ]
        if chunk.orders:
            actions.append(self._count_action("changes", len(chunk.orders)))
        try:
            self._transact(actions, "advancing the checkpoint")
        except _ConditionFailed:
            raise PermanentError(
                f"execution {chunk.execution_id}: the chunk's intent was replaced by another writer; stop one of them"
            ) from None

    # -- dead letters --------------------------------------------------------------

    def redrive(self, letter_id: int, outcome: Order | list[Reason], record: Any, actor: str) -> LetterStatus:
        letter = self._pending_letter(letter_id, "redrive")
        now = utc_now()
        detail: dict[str, Any] = {"reasons_before": letter.reasons}
        if record != letter.record:
            detail["record_before"] = letter.record
            detail["record_after"] = record
        actions = []
        if isinstance(outcome, Order):
            status, reasons = LetterStatus.REDRIVEN, letter.reasons
            detail.update(result="stored", order_id=outcome.order_id)
            item = order_item(
                outcome.order_id, to_json(outcome.record), letter.key, letter.position, letter.execution_id, now
            )
            actions += [{"Put": {"TableName": self.orders_table, "Item": item}}, self._count_action("changes", 1)]
        else:
            status, reasons = LetterStatus.PENDING, list(outcome)
            detail.update(result="refused", reasons_after=list(outcome))
        actions.append(
            self._letter_update(
                letter_id,
                "SET #status = :status, reasons = :reasons, #record = :record, updated_at = :at,"
                " history = list_append(history, :action)",
                {
                    ":status": str(status),
                    ":reasons": to_json(reasons),
                    ":record": to_json(record),
                    ":at": now,
                    ":action": [_action("redrive", actor, now, detail)],
                },
            )
        )
        self._settle(letter_id, actions, "redrive")
        return status

    def discard(self, letter_id: int, why: str, actor: str) -> None:
        self._pending_letter(letter_id, "discard")
        now = utc_now()
        action = self._letter_update(
            letter_id,
            "SET #status = :status, note = :why, updated_at = :at, history = list_append(history, :action)",
            {
                ":status": "discarded",
                ":why": why,
                ":at": now,
                ":action": [_action("discard", actor, now, {"why": why})],
            },
        )
        self._settle(letter_id, [action], "discard")

    def _settle(self, letter_id: int, actions: list[dict[str, Any]], verb: str) -> None:
        try:
            self._transact(actions, f"{verb} of dead letter {letter_id}")
        except _ConditionFailed:
            letter = self.dead_letter(letter_id)  # someone else settled it in between
            raise PermanentError(
                f"dead letter {letter_id} is {letter.status} already; only pending ones can {verb}"
            ) from None

    def _letter_update(self, letter_id: int, expression: str, values: dict[str, Any]) -> dict[str, Any]:
        values = {**values, ":pending": "pending"}
        return self._update_action(_letter_pk(letter_id), expression, values, condition="#status = :pending")

    def _pending_letter(self, letter_id: int, action: str) -> DeadLetter:
        letter = self.dead_letter(letter_id)
        if letter.status != LetterStatus.PENDING:
            raise PermanentError(f"dead letter {letter_id} is {letter.status} already; only pending ones can {action}")
        return letter

    # -- orders ------------------------------------------------------------------

    def delete_orders(self, order_ids: Sequence[str]) -> int:
        removed = 0
        for order_id in dict.fromkeys(order_ids):
            with translate_errors(f"deleting order {order_id!r}"):
                response = self._db.delete_item(
                    TableName=self.orders_table, Key={"order_id": {"S": order_id}}, ReturnValues="ALL_OLD"
                )
            if response.get("Attributes"):
                removed += 1
        if removed:
            self._transact([self._count_action("changes", removed)], "counting removals")
        return removed

    # -- objects seen by the watcher ----------------------------------------------

    def seen_objects(self) -> dict[str, tuple[str, str]]:
        """key -> (version, digest) of every object already handled."""
        return {item["key"]: (item["version"], item["digest"]) for item in self._scan("seen")}

    def remember_object(self, key: str, version: str, digest: str, execution_id: str | None) -> None:
        values = {"pk": f"SEEN#{key}", "type": "seen", "key": key, "version": version, "digest": digest,
                  "execution_id": execution_id, "seen_at": utc_now()}  # fmt: skip
        self._transact([self._put(values)], f"remembering {key}")

    # -- reads --------------------------------------------------------------------

    def execution(self, execution_id: str) -> Execution:
        found = self._get(f"EXECUTION#{execution_id}")
        if found is None:
            raise NotFound(f"no execution {execution_id!r}; `salesflow executions` lists them")
        return _execution(found)

    def executions(self, status: str | None = None, limit: int | None = None) -> list[Execution]:
        found = [_execution(item) for item in self._scan("execution") if not status or item["status"] == status]
        found.sort(key=lambda e: (e.started_at, e.id), reverse=True)
        return _limited(found, limit)

    def dead_letter(self, letter_id: int) -> DeadLetter:
        found = self._get(_letter_pk(letter_id))
        if found is None:
            raise NotFound(f"no dead letter {letter_id}; `salesflow dlq list` lists them")
        return _letter(found, with_history=True)

    def dead_letters(
        self, reason: str | None = None, key: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[DeadLetter]:
        found = [_letter(item) for item in self._scan("letter")]
        found = [
            letter
            for letter in sorted(found, key=lambda letter: letter.id)
            if (not key or letter.key == key)
            and (not status or letter.status == status)
            and (not reason or reason in letter.reasons)
        ]
        return _limited(found, limit)

    def reasons_of(self, execution_id: str) -> dict[str, int]:
        """How many of an execution's dead letters carry each reason."""
        counts = Counter(
            reason for letter in self.dead_letters() if letter.execution_id == execution_id for reason in letter.reasons
        )
        return dict(counts.most_common())

    def order(self, order_id: str) -> dict[str, Any]:
        with translate_errors(f"reading order {order_id!r}"):
            response = self._db.get_item(
                TableName=self.orders_table, Key={"order_id": {"S": order_id}}, ConsistentRead=True
            )
        if "Item" not in response:
            raise NotFound(f"no order {order_id!r}")
        item = from_item(response["Item"])
        record = from_json(item["record"])
        found: dict[str, Any] = {"order_id": order_id}
        found.update({column: column_value(value) for column, value in order_columns(record).items()})
        found.update(
            record=record,
            source_key=item.get("source_key"),
            source_position=item.get("source_position"),
            updated_at=item["updated_at"],
        )
        return found

    def status(self) -> dict[str, Any]:
        orders = 0
        paginator = self._db.get_paginator("scan")
        with translate_errors(f"counting {self.orders_table}"):
            for page in paginator.paginate(TableName=self.orders_table, Select="COUNT"):
                orders += page["Count"]
        executions = [_execution(item) for item in self._scan("execution")]
        failed = [e for e in executions if e.error is not None]
        last = max(failed, key=lambda e: e.finished_at or "", default=None)
        changes = self._get("COUNTER#changes")
        return {
            "orders": orders,
            "change_log": int(changes["value"]) if changes else 0,
            "dead_letters": dict(Counter(str(item["status"]) for item in self._scan("letter"))),
            "executions": dict(Counter(str(e.status) for e in executions)),
            "last_error": None
            if last is None
            else {"execution": last.id, "key": last.key, "error": last.error, "at": last.finished_at},
        }

    # -- DynamoDB calls --------------------------------------------------------------

    def _get(self, pk: str) -> dict[str, Any] | None:
        with translate_errors(f"reading {pk} from {self.executions_table}"):
            response = self._db.get_item(TableName=self.executions_table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        return from_item(response["Item"]) if "Item" in response else None

    def _scan(self, kind: str) -> list[dict[str, Any]]:
        paginator = self._db.get_paginator("scan")
        found: list[dict[str, Any]] = []
        with translate_errors(f"listing {kind} items of {self.executions_table}"):
            for page in paginator.paginate(
                TableName=self.executions_table,
                FilterExpression="#type = :type",
                ExpressionAttributeNames={"#type": "type"},
                ExpressionAttributeValues={":type": {"S": kind}},
                ConsistentRead=True,
            ):
                found.extend(from_item(item) for item in page["Items"])
        return found

    def _allocate(self, counter: str, count: int) -> int:
        """Reserve count consecutive ids; returns the first."""
        with translate_errors(f"allocating {count} {counter} ids"):
            response = self._db.update_item(
                TableName=self.executions_table,
                Key={"pk": {"S": f"COUNTER#{counter}"}},
                UpdateExpression="ADD #value :n",
                ExpressionAttributeNames={"#value": "value"},
                ExpressionAttributeValues={":n": {"N": str(count)}},
                ReturnValues="UPDATED_NEW",
            )
        return int(response["Attributes"]["value"]["N"]) - count + 1

    def _put(self, values: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.executions_table, "Item": to_item(values)}
        if condition:
            put["ConditionExpression"] = condition
        return {"Put": put}

    def _update_action(
        self, pk: str, expression: str, values: dict[str, Any], condition: str | None = None
    ) -> dict[str, Any]:
        text = expression + " " + (condition or "")
        names = {name: name[1:] for name in _NAMES if name in text}
        update: dict[str, Any] = {
            "TableName": self.executions_table,
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": to_item({k: v for k, v in values.items() if k in text}),
        }
        if names:
            update["ExpressionAttributeNames"] = names
        if condition:
            update["ConditionExpression"] = condition
        return {"Update": update}

    def _count_action(self, counter: str, count: int) -> dict[str, Any]:
        return self._update_action(f"COUNTER#{counter}", "ADD #value :n", {":n": count})

    def _update(self, pk: str, expression: str, values: dict[str, Any], condition: str | None = None) -> None:
        self._transact([self._update_action(pk, expression, values, condition)], f"updating {pk}")

    def _transact(self, actions: list[dict[str, Any]], what: str) -> None:
        """One atomic write (a single action goes as itself, a cheaper call than a transaction)."""
        try:
            with translate_errors(what):
                if len(actions) == 1:
                    [(kind, params)] = actions[0].items()
                    call = self._db.put_item if kind == "Put" else self._db.update_item
                    call(**params)
                else:
                    self._db.transact_write_items(TransactItems=actions)
        except PermanentError as exc:
            cause = exc.__cause__
            code = error_code(cause) if cause is not None else ""
            reasons = getattr(cause, "response", {}).get("CancellationReasons", []) if cause is not None else []
            if code == "ConditionalCheckFailedException" or any(
                r.get("Code") == "ConditionalCheckFailed" for r in reasons
            ):
                raise _ConditionFailed from None
            if code == "TransactionCanceledException":  # a conflict, not a condition: worth another go
                raise TransientError(f"{what}: the transaction was cancelled ({reasons}); retrying") from exc
            raise


class _ConditionFailed(Exception):
    """A conditional write found the item not as expected (internal: callers translate it)."""


# Attribute names that are DynamoDB reserved words (or clash), spelled with '#' in expressions.
_NAMES = ("#status", "#error", "#checkpoint", "#record", "#value", "#type", "#stored")


def new_execution_id() -> str:
    """Like the embedded face's: ``ex-`` and 12 hex digits."""
    return f"ex-{uuid.uuid4().hex[:12]}"


def _letter_pk(letter_id: int) -> str:
    return f"LETTER#{letter_id:012d}"


def _fingerprint(chunk: Chunk) -> str:
    """Which chunk an intent is for: same execution, checkpoint and rows -> same fingerprint."""
    encoded = msgspec.msgpack.encode((chunk.execution_id, chunk.checkpoint, chunk.orders, chunk.rejected))
    return hashlib.sha256(encoded).hexdigest()


def _checked_orders(chunk: Chunk) -> list[dict[str, Any]]:
    """The chunk's order items, every row checked before anything is written."""
    items = []
    for order_id, image, position in chunk.orders:
        if not isinstance(order_id, str) or not order_id:
            raise PermanentError(f"a chunk row has no order id ({order_id!r}); nothing of the chunk was applied")
        try:
            item = order_item(order_id, image, chunk.key, position, chunk.execution_id, "")
        except (msgspec.DecodeError, TypeError, ArithmeticError, ValueError):
            raise PermanentError(
                f"order {order_id!r}: its record is not JSON; nothing of the chunk was applied"
            ) from None
        if item_bytes(item) > MAX_ITEM_BYTES:
            raise PermanentError(
                f"order {order_id!r} at position {position} is larger than a DynamoDB item (400 KB); "
                "lower [orders] max_record_mb or keep such records out of the file"
            )
        items.append(item)
    return items


def _checked_letters(chunk: Chunk) -> list[tuple[int, str, str]]:
    for position, reasons, record in chunk.rejected:
        for what, text in (("reasons", reasons), ("rejected record", record)):
            try:
                from_json(text)
            except (msgspec.DecodeError, TypeError):
                raise PermanentError(
                    f"a chunk row's {what} at position {position} is not JSON; nothing of the chunk was applied"
                ) from None
    return list(chunk.rejected)


def _execution_values(execution: Execution) -> dict[str, Any]:
    values = {name: getattr(execution, name) for name in _EXECUTION_FIELDS}
    values["status"] = str(execution.status)
    return {"pk": f"EXECUTION#{execution.id}", "type": "execution", **values}


def _execution(item: dict[str, Any]) -> Execution:
    values: dict[str, Any] = {name: item.get(name) for name in _EXECUTION_FIELDS}
    values["status"] = ExecutionStatus(values["status"])
    return Execution(**values)


def _letter(item: dict[str, Any], with_history: bool = False) -> DeadLetter:
    history = (
        [{**entry, "detail": from_json(entry["detail"])} for entry in item.get("history", [])] if with_history else []
    )
    return DeadLetter(
        id=item["id"],
        execution_id=item["execution_id"],
        key=item["key"],
        position=item["position"],
        reasons=from_json(item["reasons"]),
        record=from_json(item["record"]),
        status=LetterStatus(item["status"]),
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        note=item.get("note"),
        history=history,
    )


def _action(action: str, actor: str, at: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"action": action, "actor": actor, "at": at, "detail": to_json(detail)}


def _limited(items: list[Any], limit: int | None) -> list[Any]:
    return items if limit is None or limit < 0 else items[:limit]
