"""read_document / check_document: every record of a JSON document, exactly, in order, at any block size.

The reader takes its first 64 KiB in one read, so a small document never reaches the
block-by-block path. ``padded`` puts 64 KiB of small records first, so that what
follows them is read at the block size under test.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesflow.domain.errors import MalformedDocument
from salesflow.readers import check_document, read_document

BLOCK_SIZES = [1, 2, 7, 64, 4096, None]  # None: the reader's default
PAD_VALUES = [{"pad": i} for i in range(4_600)]  # about 68 KB
PAD = json.dumps(PAD_VALUES)[1:-1]


def sizes(block_bytes: int | None) -> dict[str, int]:
    return {} if block_bytes is None else {"block_bytes": block_bytes}


def read_all(data: bytes, block_bytes: int | None = None, **limits: int) -> tuple[list[int], list[Any]]:
    positions: list[int] = []
    values: list[Any] = []
    for block in read_document(io.BytesIO(data), **sizes(block_bytes), **limits):
        assert len(block.positions) == len(block.values)
        positions += block.positions
        values += block.values
    return positions, values


def count(data: bytes, block_bytes: int | None = None, **limits: int) -> int:
    return check_document(io.BytesIO(data), **sizes(block_bytes), **limits)


def padded(text: str) -> str:
    """text with PAD_VALUES as the first records of its orders array."""
    start = text.index("[") + 1
    rest = text[start:]
    return text[:start] + PAD + ("" if rest.lstrip().startswith("]") else ",") + rest


def expected_records(text: str) -> list[Any]:
    document = json.loads(text.removeprefix("\ufeff"), parse_float=Decimal)
    return document if isinstance(document, list) else document["orders"]


def exact(value: Any) -> Any:
    """A form in which 1 != True != 1.0 and Decimal("19.9") != Decimal("19.90"), key order included."""
    if isinstance(value, dict):
        return ("object", [(key, exact(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [exact(item) for item in value])
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    return (type(value).__name__, value)


def malformed(
    data: bytes, block_bytes: int | None = None, **limits: int
) -> tuple[MalformedDocument, MalformedDocument]:
    """The errors of read_document and check_document for data; they must agree."""
    with pytest.raises(MalformedDocument) as reading:
        read_all(data, block_bytes, **limits)
    with pytest.raises(MalformedDocument) as checking:
        count(data, block_bytes, **limits)
    assert checking.value.offset == reading.value.offset
    return reading.value, checking.value


# --- documents that read --------------------------------------------------------------------------------------------

DOCUMENTS = {
    "seed": """{
        "orders": [
            {"contact-info": {"name": "Foo Bar", "email": "foobar@test.com"},
             "order-info": {"OrderId": "1", "item-id": "101", "item-desc": "Item One", "qty": "1"}},
            {"order-info": {"orderId": "2", "item-id": "102", "item-desc": "Item Two", "qty": "2"}}
        ]
    }""",
    "bare array": '[{"a": 1}, {"b": 2}, {"c": 3}]',
    "compact": '{"orders":[{"a":1},{"b":2},{"c":{"d":[]}}]}',
    "record separators in strings": json.dumps(
        {
            "orders": [
                {"note": "}, {", "x": "]"},
                {"note": '"}, {"orders": [', "y": "]}]}"},
                {"k}, {": "v]", "}": "{"},
            ]
        }
    ),
    "escaped quotes and backslashes": r"""{"orders": [
        {"s": "say \"hi\"}, {\"no\": 1}"},
        {"s": "ends with a backslash \\"},
        {"s": "\\\"}, {\\"},
        {"s": "\\\\", "t": "\\u005d"},
        {"s": "\u007d, \u007b"}
    ]}""",
    "nested arrays of objects": """{"orders": [
        {"items": [{"sku": "a", "tags": [{"t": 1}, {"t": 2}]}, {"sku": "b"}], "x": {"y": {"z": []}}},
        {"items": [], "matrix": [[{"a": 1}, {"b": 2}], [], [[{}]]]},
        [{"a": 1}, {"b": 2}]
    ]}""",
    "non-object elements": '{"orders": [1, "two", null, true, false, [3, [4]], {"a": 1}, -0.5, "", {}]}',
    "unicode": '{"orders": [{"name": "Zoë Ærøskøbing ☕ 😀", "esc": "\\u00e9\\ud83d\\ude00"}, {"é": "ü"}]}',
    "empty wrapped": '{"orders": []}',
    "empty bare": "[]",
    "empty with whitespace": ' \n\t{ "orders" :\n\t[ \n ] \n}\n\n',
    "whitespace everywhere": '\n\n  {\n  "orders"  :  [\n\n  {"a" : 1}  ,\n\n  {"b":\t2}\r\n ,{"c":3}  ]  }  \n',
    "keys after the array": (
        '{"orders": [{"a": 1}, {"b": 2}], "meta": {"count": 2, "list": [1, {"x": "]}"}]}, "z": null}'
    ),
    "exact numbers": """{"orders": [
        {"big": 123456789012345678901234567890, "neg": -18446744073709551617, "max": 18446744073709551616},
        {"price": 19.90, "tiny": 0.000000000000000000000001, "exp": 1e400, "negexp": -2.50E-3, "zero": -0.0},
        {"int_looking": 1.0, "plain": 7}
    ]}""",
}


def document_bytes(name: str) -> bytes:
    return DOCUMENTS[name].encode()


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize("name", list(DOCUMENTS))
@pytest.mark.parametrize("pad", [False, True], ids=["small", "streamed"])
def test_records_are_read_exactly_in_order(name: str, block_bytes: int | None, pad: bool) -> None:
    text = padded(DOCUMENTS[name]) if pad else DOCUMENTS[name]
    expected = expected_records(text)

    positions, values = read_all(text.encode(), block_bytes)

    assert exact(values) == exact(expected)
    assert positions == list(range(len(expected)))
    assert count(text.encode(), block_bytes) == len(expected)


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize("pad", [False, True], ids=["small", "streamed"])
def test_a_utf8_byte_order_mark_is_skipped(block_bytes: int | None, pad: bool) -> None:
    text = '{"orders": [{"name": "Zoë"}, {"b": 2}]}'
    text = padded(text) if pad else text
    data = b"\xef\xbb\xbf" + text.encode()

    positions, values = read_all(data, block_bytes)

    assert values == expected_records(text)
    assert positions == list(range(len(values)))
    assert count(data, block_bytes) == len(values)


def many_orders(n: int) -> list[dict[str, Any]]:
    return [
        {
            "contact-info": {"name": f"Customer {i}", "email": f"c{i}@example.com"},
            "order-info": {"OrderId": str(i), "qty": i % 5, "price": f"{i}.{i % 100:02d}"},
            "note": ["}, {", '"', "\\", "]"][i % 4],
            "lines": [{"sku": i}, {"sku": -i}],
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize("indent", [None, 2])
def test_a_document_larger_than_the_first_read_streams_exactly(block_bytes: int | None, indent: int | None) -> None:
    orders = many_orders(420)  # about 80 KB: the first 64 KiB and then blocks
    text = json.dumps({"orders": orders, "meta": {"source": "test"}}, indent=indent)

    positions, values = read_all(text.encode(), block_bytes)

    assert values == orders
    assert positions == list(range(len(orders)))
    assert count(text.encode(), block_bytes) == len(orders)


@pytest.mark.parametrize("block_bytes", [7, 4096, None])
def test_big_integers_stay_ints_and_floats_become_exact_decimals(block_bytes: int | None) -> None:
    text = '[{"id": 123456789012345678901234567890, "price": 19.90, "tax": 0.10, "rate": 1e-7, "n": 3}]'

    for data in (text.encode(), padded(text).encode()):
        record = read_all(data, block_bytes)[1][-1]

        assert type(record["id"]) is int
        assert record["id"] == 123456789012345678901234567890
        assert type(record["n"]) is int
        for key, digits in [("price", "19.90"), ("tax", "0.10"), ("rate", "1E-7")]:
            assert type(record[key]) is Decimal
            assert str(record[key]) == digits


# --- documents that do not read ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"", 0),
        (b" \n\t ", 0),
        (b'{"x": 1}', 0),
        (b'  {"x": 1}', 2),
        (b'{"orders": {"a": 1}}', 0),
        (b'{"orders": "[{}]"}', 0),
        (b"null", 0),
        (b"\xff\xfe[\x00]\x00", 0),
        (b"orders", 0),
    ],
    ids=["empty", "blank", "no orders key", "no orders key indented", "orders not an array", "orders a string",
         "null", "utf-16", "not json"],
)  # fmt: skip
def test_a_document_without_an_orders_array_is_malformed_at_its_start(
    data: bytes, offset: int, block_bytes: int | None
) -> None:
    reading, _ = malformed(data, block_bytes)

    assert reading.offset == offset


# (document, offset of the problem); every document here has an orders array, so each is
# also tested with PAD first, where the offset moves by the length of PAD and its comma.
BROKEN = {
    "truncated between records": ('{"orders": [{"a": 1}, {"b": 2}', 30),
    "truncated inside a string": ('{"orders": [{"a": 1}, {"b": "tw', 31),
    "truncated inside a record": ('{"orders": [{"a": 1}, {"b": 2, "c": [1, ', 40),
    "truncated after the array": ('{"orders": [{"a": 1}, {"b": 2}]', 31),
    "truncated bare array": ('[{"a": 1}, {"b": 2}', 19),
    "bad token in the middle": ('{"orders": [{"a": 1}, {"b": tru}, {"c": 3}]}', 28),
    "double comma": ('{"orders": [{"a": 1},, {"b": 2}]}', 21),
    "trailing comma": ('{"orders": [{"a": 1}, {"b": 2},]}', 31),
    "trailing comma and space": ('{"orders": [{"a": 1}, {"b": 2}, ]}', 32),
    "missing comma": ('{"orders": [{"a": 1} {"b": 2}, {"c": 3}]}', 21),
    "NaN is not JSON": ('{"orders": [{"a": 1}, {"b": NaN}, {"c": 3}]}', 28),
    "single quotes": ('{"orders": [{"a": 1}, {\'b\': 2}]}', 23),
    "garbage after a bare array": ('[{"a": 1}, {"b": 2}]xyz', 20),
    "garbage after a bare array and a space": ('[{"a": 1}, {"b": 2}] xyz', 21),
    "garbage after the document": ('{"orders": [{"a": 1}]} xyz', 23),
    "a second document after the first": ('{"orders": [{"a": 1}]}{"orders": []}', 22),
}


@pytest.mark.parametrize("block_bytes", [1, 7, 4096, None])
@pytest.mark.parametrize("name", list(BROKEN))
@pytest.mark.parametrize("pad", [False, True], ids=["small", "streamed"])
def test_a_broken_document_is_malformed_at_the_byte_of_the_problem(
    name: str, block_bytes: int | None, pad: bool
) -> None:
    text, offset = BROKEN[name]
    if pad:
        offset += len(padded(text)) - len(text)
        text = padded(text)

    reading, _ = malformed(text.encode(), block_bytes)

    assert reading.offset == offset, f"{reading} but the problem is at {text.encode()[offset:][:10]!r}"


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize("pad", [False, True], ids=["small", "streamed"])
def test_bytes_that_are_not_utf8_are_malformed_at_their_offset(block_bytes: int | None, pad: bool) -> None:
    prefix = (padded('{"orders": [') if pad else '{"orders": [').encode()
    data = prefix + b'{"a": "ok"}, {"b": "caf\xe9"}, {"c": 3}]}'
    offset = data.index(b"\xe9")

    reading, _ = malformed(data, block_bytes)

    assert reading.offset == offset


DEEP = {
    "arrays": "[" * 5000 + "]" * 5000,
    "objects": '{"a":' * 5000 + "1" + "}" * 5000,
    "objects in arrays": '{"a": [' * 3000 + "]}" * 3000,
}


# Streamed at tiny blocks, a 30 KB record costs seconds to cut (every read rescans it), so
# the streamed cases use realistic blocks only.
@pytest.mark.parametrize(("pad", "block_bytes"), [(False, size) for size in BLOCK_SIZES] + [(True, 4096), (True, None)])
@pytest.mark.parametrize("name", list(DEEP))
def test_deep_nesting_is_malformed_not_a_crash(name: str, block_bytes: int | None, pad: bool) -> None:
    text = '{"orders": [{"ok": 1}, ' + DEEP[name] + ', {"ok": 2}]}'
    text = padded(text) if pad else text

    reading, _ = malformed(text.encode(), block_bytes)

    assert reading.offset <= text.index(DEEP[name]), "the offset must not be past the deep record"


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_deep_nesting_left_open_is_malformed_not_a_crash(block_bytes: int | None) -> None:
    malformed(b'{"orders": [{"ok": 1}, ' + b"[" * 5000, block_bytes)


@pytest.mark.parametrize("block_bytes", [1, 64, 512])
def test_a_record_larger_than_the_limit_is_malformed_at_that_record(block_bytes: int) -> None:
    big = {"note": "x" * 20_000}
    data = json.dumps({"orders": [*PAD_VALUES, big, {"after": 1}]}).encode()

    reading, _ = malformed(data, block_bytes, max_record_bytes=2000)

    assert data[reading.offset :].lstrip().startswith(b'{"note": "xxx')


def test_a_record_within_the_limit_is_read() -> None:
    big = {"note": "x" * 20_000}
    data = json.dumps({"orders": [*PAD_VALUES, big, {"after": 1}]}).encode()

    assert read_all(data, 512, max_record_bytes=30_000)[1][-2:] == [big, {"after": 1}]


def at_a_block_boundary(block_bytes: int, tail: str) -> bytes:
    """A bare array whose first record is followed by tail, the comma that starts tail being
    the last byte of a read (the first read takes max(block_bytes, 64 KiB))."""
    comma = max(block_bytes, 1 << 16) + (block_bytes if block_bytes < 1 << 16 else 0) - 1
    head = '[{"s": "'
    text = head + "x" * (comma - len(head) - 2) + '"}' + tail
    assert text[comma] == ","
    return text.encode()


@pytest.mark.parametrize("block_bytes", [7, 64, 4096, 1 << 18])
@pytest.mark.parametrize("tail", [",]", ", ]", ', , {"b": 2}]', ',, {"b": 2}]'])
def test_a_stray_comma_is_malformed_wherever_the_blocks_fall(block_bytes: int, tail: str) -> None:
    malformed(at_a_block_boundary(block_bytes, tail), block_bytes)


# --- property ---------------------------------------------------------------------------------------------------------

TRICKY_TEXT = ["}, {", '"}, {"', "]", "[", "}", ",", '"', "\\", '\\"', "\\\\", '{"orders": [', "ü☕😀", "\n", ""]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**64 - 2, max_value=2**80)
    | st.integers(min_value=-(2**80), max_value=-(2**63))
    | st.text(max_size=20)
    | st.sampled_from(TRICKY_TEXT),
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=8) | st.sampled_from(TRICKY_TEXT), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(json_values, max_size=20),
    block_bytes=st.sampled_from([1, 2, 7, 64, 4096]) | st.integers(min_value=1, max_value=400),
    pad=st.booleans(),
    indent=st.sampled_from([None, 0, 2]),
    ensure_ascii=st.booleans(),
)
def test_any_list_of_values_reads_back_exactly(
    values: list[Any], block_bytes: int, pad: bool, indent: int | None, ensure_ascii: bool
) -> None:
    records = [*PAD_VALUES, *values] if pad else values
    data = json.dumps({"orders": records}, indent=indent, ensure_ascii=ensure_ascii).encode()

    positions, read = read_all(data, block_bytes)

    assert exact(read) == exact(records)
    assert positions == list(range(len(records)))
    assert count(data, block_bytes) == len(records)
