"""Shared shapes of the readers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FormatName(StrEnum):
    DOCUMENT = "json"  # {"orders": [...]} or a bare top-level array
    LINES = "jsonl"  # one record per line


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive records of one file.

    ``values[i]`` sits at ``positions[i]``: the 0-based index in the array for
    documents, the 1-based line number for JSON Lines. A value that could not be
    read is a :class:`Unreadable` carrying the reason and the raw text.
    """

    positions: list[int]
    values: list[Any]


@dataclass(frozen=True, slots=True)
class Span:
    """A byte range of an object that holds whole records, readable on its own.

    ``first`` counts the records before it in the object; ``first_position`` is
    the position of its first record (array index, or line number). A span of
    JSON Lines marked ``oversized`` is one line longer than the record limit:
    only its first bytes are ever read.
    """

    start: int
    end: int
    first: int
    count: int
    first_position: int
    oversized: bool = False


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A JSON Lines line that did not parse: kept as text, never dropped."""

    reason: str  # a Reason code from salesflow.domain.orders
    raw: str


def detect_format(key: str) -> FormatName | None:
    """The format an object key names by its ending (``.gz`` looked through), or None."""
    name = key.lower().removesuffix(".gz")
    if name.endswith(".json"):
        return FormatName.DOCUMENT
    if name.endswith((".jsonl", ".ndjson")):
        return FormatName.LINES
    return None
