"""Fixing and redriving dead letters: the same validation as a new record, no shortcuts."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from salesflow.domain.errors import PermanentError
from salesflow.domain.orders import Reason, canonical_name, check_order, fold_key
from salesflow.domain.records import LetterStatus
from salesflow.jsoncodec import from_json
from salesflow.ports import OrderLedger, OrderQueries


@dataclass(frozen=True, slots=True)
class RedriveOutcome:
    letter_id: int
    status: LetterStatus  # redriven (now in orders) or pending (refused again)
    reasons: list[str]


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``order-info.qty=2`` -> (["order-info", "qty"], 2). VALUE is JSON if it parses
    (numbers exact, as Decimal), else text."""
    field, sep, raw = text.partition("=")
    path = [part.strip() for part in field.split(".")]
    if not sep or not all(path):
        raise PermanentError(f"--set {text!r}: write FIELD=VALUE, e.g. --set order-info.qty=2")
    try:
        value: Any = from_json(raw)
    except msgspec.DecodeError:
        value = raw
    return path, value


def apply_assignments(record: Any, assignments: Sequence[tuple[list[str], Any]]) -> Any:
    """A copy of record with each path set.

    A path part matches an existing key in any spelling or alias
    (``order_info.quantity`` finds ``"order-info"`` and ``"qty"``), so an edit
    replaces the field the validator reads instead of adding a second one.
    """
    if not assignments:
        return record
    if isinstance(record, _Unparsed):
        raise PermanentError("this dead letter is not valid JSON; pass the fixed record with --record instead")
    if not isinstance(record, dict):
        raise PermanentError("this dead letter is not a JSON object; --set cannot edit it, discard it instead")
    edited = copy.deepcopy(record)
    for path, value in assignments:
        target = edited
        section: str | None = None
        for depth, part in enumerate(path):
            key = _matching_key(target, part, section, depth)
            if depth == len(path) - 1:
                target[key] = value
            else:
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                section = canonical_name(key) if depth == 0 else ""
                target = target[key]
    return edited


def _matching_key(target: dict[str, Any], part: str, section: str | None, depth: int) -> str:
    context = section if depth <= 1 else ""

    def name(key: str) -> str:
        return fold_key(canonical_name(key, context))

    return next((key for key in target if name(key) == name(part)), part)


def redrive(
    queries: OrderQueries,
    ledger: OrderLedger,
    letter_ids: Sequence[int],
    assignments: Sequence[tuple[list[str], Any]] = (),
    actor: str = "cli",
    replacement: Any = None,
) -> list[RedriveOutcome]:
    """Validate each dead letter again (after edits) and settle it: into orders, or back
    in the queue with its new reasons. Never both, never twice (the ledger refuses a
    letter that is no longer pending). ``replacement`` replaces the record whole (a
    fixed line of JSON Lines, say) before the assignments apply."""
    outcomes = []
    for letter_id in letter_ids:
        letter = queries.dead_letter(letter_id)
        record = replacement if replacement is not None else letter.record
        if isinstance(record, str) and {Reason.MALFORMED_JSON, Reason.RECORD_TOO_LARGE} & set(letter.reasons):
            record = _parse_fixed_line(record)
        record = apply_assignments(record, assignments)
        result = [Reason.MALFORMED_JSON] if isinstance(record, _Unparsed) else check_order(record)
        stored_record = record.text if isinstance(record, _Unparsed) else record
        status = ledger.redrive(letter_id, result, stored_record, actor)
        reasons = [] if status == LetterStatus.REDRIVEN else [str(r) for r in result]  # type: ignore[union-attr]
        outcomes.append(RedriveOutcome(letter_id, status, reasons))
    return outcomes


@dataclass(frozen=True, slots=True)
class _Unparsed:
    text: str


def _parse_fixed_line(text: str) -> Any:
    """A queued unreadable line may have been fixed in place: read it again."""
    try:
        return from_json(text)
    except msgspec.DecodeError:
        return _Unparsed(text)
