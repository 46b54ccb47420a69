"""Records shown to people: pretty JSON, lines that hold a refused field marked.

Nothing here escapes: templates do (autoescape), so lines stay plain text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from salesflow.domain.orders import CONTACT, ORDER, Reason, canonical_name
from salesflow.jsoncodec import to_json

# The field a reason is about, by its canonical name.
REASON_FIELDS = {
    Reason.MISSING_CONTACT_INFO: CONTACT,
    Reason.MISSING_ORDER_INFO: ORDER,
    Reason.MISSING_ORDER_ID: "order_id",
    Reason.INVALID_QUANTITY: "quantity",
    Reason.INVALID_EMAIL: "email",
    Reason.INVALID_PRICE: "price",
}
_KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*")\s*:')


@dataclass(frozen=True, slots=True)
class Line:
    text: str
    reasons: tuple[str, ...]  # the reasons this line's field is refused for (empty: fine)


def pretty(record: Any) -> str:
    """Indented JSON with exact numbers (Decimal stays 19.99, not "19.99")."""
    return msgspec.json.format(to_json(record).encode(), indent=2).decode()


def marked_lines(record: Any, reasons: list[str]) -> list[Line]:
    """The pretty JSON of record, line by line, each line naming the reasons its key is refused for."""
    wanted: dict[str, list[str]] = {}
    for reason in reasons:
        field = REASON_FIELDS.get(reason)  # type: ignore[call-overload]
        if field is not None:
            wanted.setdefault(field, []).append(reason)
    lines = []
    for text in pretty(record).splitlines():
        match = _KEY.match(text)
        found: tuple[str, ...] = ()
        if match and wanted:
            key = json.loads(match.group(1))
            names = {canonical_name(key), canonical_name(key, CONTACT), canonical_name(key, ORDER)}
            found = tuple(reason for name in names for reason in wanted.get(name, []))
        lines.append(Line(text, found))
    return lines


def editable(record: Any) -> str:
    """What the edit box starts with: a JSON Lines line that did not parse stays its raw text."""
    return record if isinstance(record, str) else pretty(record)
