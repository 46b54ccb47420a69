"""The slow, forgiving-but-exact JSON parser behind the fast ones.

msgspec refuses a few inputs that are still JSON by the grammar, such as a
lone surrogate escape (``"\\ud800"``). The standard library reads them; we then
replace each lone surrogate with U+FFFD, so every string can be stored,
encoded and read back, and the record is kept rather than lost.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_exact(text: str) -> Any:
    """Parse JSON text: big integers exact, floats as Decimal, NaN/Infinity refused.

    Raises json.JSONDecodeError, ValueError or RecursionError when it is not JSON.
    """
    return _clean(json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(item) for item in value]
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    return value
