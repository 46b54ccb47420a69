"""Read JSON Lines: one record per line, each line on its own.

A line that does not parse is kept as text with the reason ``malformed_json``;
a line longer than the record limit is skipped in bounded memory and kept as
its first kilobyte with the reason ``record_too_large``. Blank lines are not
records. Positions are 1-based line numbers, as an editor shows them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

import orjson

from salesflow.readers.documents import BLOCK_BYTES, MAX_RECORD_BYTES
from salesflow.readers.types import Block, Unreadable

KEPT_PREFIX = 1024
_LONG_DIGITS = re.compile(rb"\d{19}")


def read_lines(
    stream: IO[bytes], *, block_bytes: int = BLOCK_BYTES, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[Block]:
    """Yield the records of a JSON Lines stream in order, a block at a time."""
    line_number = 0
    rest = b""
    oversized: bytes | None = None  # first bytes of a line being skipped
    while True:
        data = stream.read(block_bytes)
        if oversized is not None:
            newline = data.find(b"\n")
            if newline < 0 and data:
                continue
            line_number += 1
            yield Block([line_number], [_too_large(oversized)])
            oversized = None
            data = data[newline + 1 :] if newline >= 0 else b""
            if not data and newline < 0:
                return
        buf = rest + data
        if not data:
            if buf.strip():
                line_number += 1
                yield _parse_lines([buf], line_number)
            return
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > max_record_bytes:
                oversized, rest = buf[:KEPT_PREFIX], b""
            else:
                rest = buf
            continue
        lines = buf[:cut].split(b"\n")
        rest = buf[cut + 1 :]
        block = _parse_lines(lines, line_number + 1)
        line_number += len(lines)
        if block.values:
            yield block


def _parse_lines(lines: list[bytes], first_number: int) -> Block:
    numbered = [(first_number + i, line) for i, line in enumerate(lines) if line.strip()]
    if not numbered:
        return Block([], [])
    positions = [number for number, _ in numbered]
    joined = b",".join(line for _, line in numbered)
    if not _LONG_DIGITS.search(joined):
        try:
            values = orjson.loads(b"[" + joined + b"]")
            if len(values) == len(numbered):  # no line held two values
                return Block(positions, values)
        except orjson.JSONDecodeError:
            pass
    return Block(positions, [_parse_line(line) for _, line in numbered])


def _parse_line(line: bytes) -> Any:
    if not _LONG_DIGITS.search(line):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(line.decode("utf-8"), parse_float=Decimal, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return Unreadable("malformed_json", line.decode("utf-8", "backslashreplace").rstrip("\r"))


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_large(prefix: bytes) -> Unreadable:
    return Unreadable("record_too_large", prefix.decode("utf-8", "backslashreplace"))
