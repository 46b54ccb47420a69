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
