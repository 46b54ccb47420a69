"""JSON text for records on their way to a table: exact numbers, never a crash."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder(decimal_format="number")
_decoder = msgspec.json.Decoder(float_hook=Decimal)


def to_json(value: Any) -> str:
    """Compact JSON of value; Decimals stay exact numbers.

    Text that is not valid Unicode (a lone surrogate escape read by the exact
    parser) is kept as its escape rather than refused.
    """
    try:
        return _encoder.encode(value).decode()
    except (UnicodeEncodeError, TypeError, OverflowError):
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def from_json(text: str | bytes) -> Any:
    """Parse JSON written by :func:`to_json` (floats back as Decimal)."""
    return _decoder.decode(text)


def column_value(value: Any) -> Any:
    """A JSON value as a table column shows it (what SQLite's ``->>`` gives): text, integer,
    real, NULL, or JSON text for objects and arrays. Every ledger's ``order`` answers so."""
    if isinstance(value, dict | list):
        return to_json(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return float(value)
    return value
