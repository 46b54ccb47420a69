"""Read ``{"orders": [...]}`` (or a bare array) as a stream of record blocks.

A document may be larger than memory, so it is read in blocks of about 256 KB.
Each block is cut after the last complete record and parsed in one call to
msgspec, which is several times faster than an event parser (measured in
docs/decisions.md). Cutting is safe without a full tokenizer: a cut inside a
string leaves that string unterminated and a cut inside a nested value leaves
a bracket open, so a cut that parses is a cut between records. When the quick
guess fails, a small exact scanner finds the cut.

Numbers are read exactly: msgspec keeps big integers whole and turns every
JSON float into a Decimal from its own digits, so money never passes through
a binary float.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sized
from decimal import Decimal
from typing import IO, Any, cast

import msgspec

from salesflow.domain.errors import MalformedDocument
from salesflow.readers.exact import parse_exact
from salesflow.readers.types import Block, Span

BLOCK_BYTES = 1 << 18
MAX_RECORD_BYTES = 16 << 20

_HEAD = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*(?:(\[)|\{\s*"(?i:orders)"\s*:\s*\[)')
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{},]', re.DOTALL)
_QUICK_TRIES = 3


def read_document(
    stream: IO[bytes], *, block_bytes: int = BLOCK_BYTES, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[Block]:
    """Yield the records of the document in order, a block at a time.

    Raises MalformedDocument (with the byte offset) as soon as the document
    proves unreadable; blocks already yielded were well-formed.
    """
    position = 0
    for values, _, _ in _split(stream, _parse_values, block_bytes, max_record_bytes):
        positions = list(range(position, position + len(values)))
        position += len(values)
        yield Block(positions, cast(list[Any], values))


def check_document(
    stream: IO[bytes], *, block_bytes: int = BLOCK_BYTES, max_record_bytes: int = MAX_RECORD_BYTES
) -> int:
    """Read the whole document without building records; return how many it holds.

    Raises MalformedDocument exactly where :func:`read_document` would, so a
    document can be proven whole before any of it is applied.
    """
    return sum(span.count for span in plan_document(stream, block_bytes=block_bytes, max_record_bytes=max_record_bytes))


def plan_document(
    stream: IO[bytes], *, block_bytes: int = BLOCK_BYTES, max_record_bytes: int = MAX_RECORD_BYTES
) -> list[Span]:
    """Prove the document whole (simdjson, no records built) and map where its records lie.

    Each span is a byte range of whole records that :func:`read_document_span`
    parses on its own, so spans can be read in any order, by several processes.
    """
    spans = []
    first = 0
    for counted, start, end in _split(stream, _validate_values, block_bytes, max_record_bytes):
        spans.append(Span(start, end, first, len(counted), first))
        first += len(counted)
    return spans


def read_document_span(stream: IO[bytes], span: Span) -> Block:
    """The records of one span of a document planned by :func:`plan_document`."""
    stream.seek(span.start)
    values = _parse_values(stream.read(span.end - span.start), span.start)
    return Block(list(range(span.first, span.first + len(values))), values)


def _split(
    stream: IO[bytes],
    parse: Callable[[bytes, int], Sized],
    block_bytes: int,
    max_record_bytes: int,
) -> Iterator[tuple[Sized, int, int]]:
    """Parse the array's records a block at a time: (records, start, end) with the
    byte range [start, end) that holds exactly those records."""
    buf, base, wrapped = _open_array(stream, block_bytes)
    after_comma = False  # a record must follow every comma, also right before "]"
    next_try = 0  # a record longer than a block is looked at again only once buf doubles
    while more := stream.read(block_bytes):
        buf += more
        if len(buf) < next_try:
            continue
        taken = _take_records(buf, base, parse)
        if taken is None:
            if len(buf) > max_record_bytes:
                raise MalformedDocument(
                    f"a record is larger than {max_record_bytes >> 20} MiB; "
                    "raise orders.max_record_mb if such records are expected",
                    base,
                )
            next_try = 2 * len(buf)
            continue
        values, cut = taken
        yield values, base, base + cut
        base += cut + 1
        buf = buf[cut + 1 :]
        after_comma, next_try = True, 0
    yield from _close_array(buf, base, parse, wrapped, after_comma)


def _open_array(stream: IO[bytes], block_bytes: int) -> tuple[bytes, int, bool]:
    """Skip to the first record; say whether the array is wrapped in {"orders": ...}."""
    head = stream.read(max(block_bytes, 1 << 16))
    if not head.strip():
        raise MalformedDocument('the file is empty; expected {"orders": [...]}', 0)
    match = _HEAD.match(head)
    if match is None:
        raise MalformedDocument(
            'expected {"orders": [...]} with "orders" as the first key, or a top-level array of orders',
            _first_text(head),
        )
    return head[match.end() :], match.end(), match.group(1) is None


def _take_records(buf: bytes, base: int, parse: Callable[[bytes, int], Sized]) -> tuple[Sized, int] | None:
    """Parse the complete records at the front of buf; return them and the cut (a comma)."""
    end = len(buf)
    for _ in range(_QUICK_TRIES):
        brace = buf.rfind(b"}", 0, end)
        if brace < 0:
            break
        comma = _next_nonspace(buf, brace + 1)
        after = _next_nonspace(buf, comma + 1)
        # "}, {" is how records meet; "}, \"key\"" is a nested object ending.
        if after < len(buf) and buf[comma] == 0x2C and buf[after] == 0x7B:
            try:
                return parse(buf[: brace + 1], -1), comma
            except MalformedDocument:
                pass  # a cut inside a record: look further left
        end = brace
    last_comma = _scan(buf)[0]
    if last_comma is None:
        return None
    if not buf[:last_comma].strip():
        raise MalformedDocument("a comma with no record before it", base + last_comma)
    return parse(buf[:last_comma], base), last_comma


def _close_array(
    buf: bytes, base: int, parse: Callable[[bytes, int], Sized], wrapped: bool, after_comma: bool
) -> Iterator[tuple[Sized, int, int]]:
    _, end = _scan(buf)
    if end is None:
        raise MalformedDocument(
            "the document ends before its orders array is closed (truncated upload?)", base + len(buf)
        )
    if after_comma and not buf[:end].strip():
        raise MalformedDocument("a comma with no record after it", base + end)
    values = parse(buf[:end], base)
    if len(values):
        yield values, base, base + end
    tail = buf[end + 1 :]
    tail_base = base + end + 1
    if wrapped:
        # What follows the array must close the object, maybe after more keys.
        try:
            _decoder.decode(b'{"":0' + tail)
        except (ValueError, RecursionError):
            raise MalformedDocument(
                "the document does not end properly after its orders array (truncated upload?)",
                tail_base + _first_error_in_tail(tail),
            ) from None
    elif tail.strip():
        raise MalformedDocument("unexpected text after the top-level array", tail_base + _first_text(tail))


def _first_error_in_tail(tail: bytes) -> int:
    """Where, in the text after the array, the object stops being valid JSON."""
    prefix = '{"":0'
    text = tail.decode("utf-8", "replace")
    try:
        json.loads(prefix + text)
    except json.JSONDecodeError as exc:
        return max(0, len((prefix + text)[: exc.pos].encode("utf-8")) - len(prefix))
    except (ValueError, RecursionError):
        pass
    return _first_text(tail)


def _scan(buf: bytes) -> tuple[int | None, int | None]:
    """Exact scan: the last comma between records, and the bracket closing the array."""
    depth = 0
    last_comma = None
    for token in _TOKENS.finditer(buf):
        char = buf[token.start()]
        if char == 0x22:  # a string: skipped whole
            continue
        if char in (0x5B, 0x7B):
            depth += 1
        elif char in (0x5D, 0x7D):
            depth -= 1
            if depth < 0:
                return last_comma, token.start()
        elif depth == 0:
            last_comma = token.start()
    return last_comma, None


def _next_nonspace(buf: bytes, index: int) -> int:
    while index < len(buf) and buf[index] in b" \t\r\n":
        index += 1
    return index


def _first_text(head: bytes) -> int:
    return len(head) - len(head.lstrip())


_decoder = msgspec.json.Decoder(float_hook=Decimal)


def _parse_values(chunk: bytes, base: int) -> list[Any]:
    """Parse the records in chunk (a comma-separated run of values); base < 0 means 'a guess'."""
    try:
        values: list[Any] = _decoder.decode(b"[" + chunk + b"]")
        return values
    except (ValueError, RecursionError):  # msgspec.DecodeError and UnicodeDecodeError are ValueErrors
        if base < 0:
            raise MalformedDocument("not a cut between records", 0) from None
    return _parse_exact(b"[" + chunk + b"]", base)


_simdjson_parser: Any = None


def _validate_values(chunk: bytes, base: int) -> Sized:
    """Like _parse_values, but only proves the chunk well-formed (simdjson, about 1 GB/s)."""
    global _simdjson_parser
    if _simdjson_parser is None:
        import simdjson

        _simdjson_parser = simdjson.Parser()
    try:
        return range(len(_simdjson_parser.parse(b"[" + chunk + b"]")))
    except (ValueError, RuntimeError):
        if base < 0:
            raise MalformedDocument("not a cut between records", 0) from None
    # simdjson refuses big integers; the exact parser settles it.
    return _parse_values(chunk, base)


def _parse_exact(text: bytes, base: int) -> list[Any]:
    """The slow, exact parser: big integers stay exact, floats become Decimal."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedDocument("the file is not UTF-8", base + exc.start - 1) from None
    try:
        values: list[Any] = parse_exact(decoded)
    except json.JSONDecodeError as exc:
        offset = base + len(decoded[: exc.pos].encode("utf-8")) - 1
        raise MalformedDocument(f"not valid JSON: {exc.msg}", max(offset, 0)) from None
    except ValueError as exc:  # NaN or Infinity, which JSON does not have
        raise MalformedDocument(f"not valid JSON: {exc}", base + _constant_offset(text)) from None
    except RecursionError:
        raise MalformedDocument("a record is nested too deeply to read", base) from None
    return values


_CONSTANT = re.compile(rb'"(?:[^"\\]|\\.)*"|(NaN|-?Infinity)', re.DOTALL)


def _constant_offset(text: bytes) -> int:
    """Offset in chunk terms (text starts with "[") of the first NaN or Infinity outside strings."""
    for match in _CONSTANT.finditer(text):
        if match.group(1):
            return match.start(1) - 1
    return 0
