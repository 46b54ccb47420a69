"""Read JSON Lines: one record per line, each line on its own.

A line that does not parse is kept as text with the reason ``malformed_json``;
a line longer than the record limit is skipped in bounded memory and kept as
its first kilobyte with the reason ``record_too_large``. Blank lines are not
records. Positions are 1-based line numbers, as an editor shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

import msgspec

from salesflow.readers.documents import BLOCK_BYTES, MAX_RECORD_BYTES
from salesflow.readers.exact import parse_exact
from salesflow.readers.types import Block, Span, Unreadable

KEPT_PREFIX = 1024
_decoder = msgspec.json.Decoder(float_hook=Decimal)


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
            if len(oversized) < KEPT_PREFIX:
                oversized += data[: newline if newline >= 0 else len(data)][: KEPT_PREFIX - len(oversized)]
            if newline < 0 and data:
                continue  # still inside the long line
            line_number += 1
            yield Block([line_number], [_too_large(oversized)])
            oversized = None
            if newline < 0:
                return  # the file ended inside the long line
            data = data[newline + 1 :]
            if not data:
                continue
        buf = rest + data
        if not data:
            if buf.strip():
                line_number += 1
                yield _parse_lines([buf], line_number, max_record_bytes)
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
        block = _parse_lines(lines, line_number + 1, max_record_bytes)
        line_number += len(lines)
        if block.values:
            yield block


def _parse_lines(lines: list[bytes], first_number: int, max_record_bytes: int) -> Block:
    """Each non-blank line parsed on its own: a line never borrows from its neighbours."""
    positions: list[int] = []
    values: list[Any] = []
    decode = _decoder.decode
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue
        positions.append(first_number + index)
        if len(line) > max_record_bytes:
            values.append(_too_large(line[:KEPT_PREFIX]))
            continue
        try:
            values.append(decode(line))
        except (ValueError, RecursionError):  # msgspec's errors are ValueErrors
            values.append(_parse_line_exactly(line))
    return Block(positions, values)


def _parse_line_exactly(line: bytes) -> Any:
    try:
        return parse_exact(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return Unreadable("malformed_json", line.decode("utf-8", "backslashreplace").rstrip("\r"))


def _too_large(prefix: bytes) -> Unreadable:
    return Unreadable("record_too_large", prefix.decode("utf-8", "backslashreplace"))


def plan_lines(
    stream: IO[bytes], *, block_bytes: int = BLOCK_BYTES, max_record_bytes: int = MAX_RECORD_BYTES
) -> list[Span]:
    """Map where the lines lie without parsing them (newline search in C).

    A line longer than the limit gets a span of its own, marked oversized, and
    is skipped in bounded memory.
    """
    spans: list[Span] = []
    offset = 0  # byte offset of ``rest``
    line_number = 1  # number of the first line in ``rest``
    first = 0  # records before ``rest``
    rest = b""
    while True:
        data = stream.read(block_bytes)
        buf = rest + data
        if not data:
            if buf.strip():
                spans.append(Span(offset, offset + len(buf), first, 1, line_number))
            return spans
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) <= max_record_bytes:
                rest = buf
                continue
            end = offset + len(buf) + _skip_line(stream)
            spans.append(Span(offset, end, first, 1, line_number, oversized=True))
            first, line_number, offset, rest = first + 1, line_number + 1, end + 1, b""
            continue
        lines = buf[:cut].split(b"\n")
        count = sum(1 for line in lines if line.strip())
        if count:
            spans.append(Span(offset, offset + cut, first, count, line_number))
        first, line_number, offset, rest = first + count, line_number + len(lines), offset + cut + 1, buf[cut + 1 :]


def read_lines_span(stream: IO[bytes], span: Span, *, max_record_bytes: int = MAX_RECORD_BYTES) -> Block:
    """The records of one span planned by :func:`plan_lines` (with the same limit)."""
    stream.seek(span.start)
    if span.oversized:
        return Block([span.first_position], [_too_large(stream.read(min(KEPT_PREFIX, span.end - span.start)))])
    data = stream.read(span.end - span.start)
    return _parse_lines(data.split(b"\n"), span.first_position, max_record_bytes)


def _skip_line(stream: IO[bytes]) -> int:
    """Read past the rest of a line; return the bytes skipped (the newline not counted)."""
    skipped = 0
    while data := stream.read(BLOCK_BYTES):
        newline = data.find(b"\n")
        if newline >= 0:
            stream.seek(newline + 1 - len(data), 1)
            return skipped + newline
        skipped += len(data)
    return skipped
