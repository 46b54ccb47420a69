"""The one clock: UTC, ISO 8601, millisecond precision, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> str:
    """UTC now as ``2026-11-25T21:10:17.514Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
