"""read_lines: one record per line, numbered as an editor numbers them; a bad line is kept, never dropped."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesflow.readers import read_lines
from salesflow.readers.types import Unreadable

BLOCK_SIZES = [1, 2, 7, 64, 4096, None]  # None: the reader's default


def read_all(data: bytes, block_bytes: int | None = None, **limits: int) -> list[tuple[int, Any]]:
    """(line number, value) for every record, in order."""
    sizes = {} if block_bytes is None else {"block_bytes": block_bytes}
    records: list[tuple[int, Any]] = []
    for block in read_lines(io.BytesIO(data), **sizes, **limits):
        assert len(block.positions) == len(block.values)
        records += zip(block.positions, block.values, strict=True)
    return records


def exact(value: Any) -> Any:
    """A form in which 1 != True != 1.0 and Decimal("19.9") != Decimal("19.90"), key order included."""
    if isinstance(value, dict):
        return ("object", [(key, exact(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [exact(item) for item in value])
    if isinstance(value, Decimal):
        return ("decimal", str(value))
    return (type(value).__name__, value)


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_positions_are_line_numbers_and_blank_lines_are_not_records(block_bytes: int | None) -> None:
    data = b'{"a": 1}\n\n{"b": 2}\n   \n\t\n{"c": 3}\n\n'

    assert read_all(data, block_bytes) == [(1, {"a": 1}), (3, {"b": 2}), (6, {"c": 3})]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_blank_lines_at_the_start_count(block_bytes: int | None) -> None:
    assert read_all(b'\n\n{"a": 1}\n', block_bytes) == [(3, {"a": 1})]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_crlf_line_endings(block_bytes: int | None) -> None:
    data = b'{"a": 1}\r\n\r\n{"b": "two"}\r\n{oops\r\n{"c": 3}\r\n'

    assert read_all(data, block_bytes) == [
        (1, {"a": 1}),
        (3, {"b": "two"}),
        (4, Unreadable("malformed_json", "{oops")),
        (5, {"c": 3}),
    ]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_the_last_line_needs_no_newline(block_bytes: int | None) -> None:
    assert read_all(b'{"a": 1}\n{"b": 2}', block_bytes) == [(1, {"a": 1}), (2, {"b": 2})]


@pytest.mark.parametrize("data", [b"", b"\n", b"\n\n  \n", b"\r\n"])
def test_an_empty_or_blank_file_has_no_records(data: bytes) -> None:
    assert read_all(data) == []


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize(
    "line",
    [
        '{"a": 1',
        "{oops}",
        '{"a": 1},{"b": 2}',
        '{"a": 1} {"b": 2}',
        "1 2",
        '{"a": NaN}',
        '{"a": Infinity}',
        "NaN",
        "{'a': 1}",
        '{"a": 1,}',
        "[" * 5000,
        "[" * 5000 + "]" * 5000,
    ],
    ids=[
        "truncated",
        "not json",
        "two values with a comma",
        "two values with a space",
        "two numbers",
        "NaN",
        "Infinity",
        "bare NaN",
        "single quotes",
        "trailing comma",
        "deep and open",
        "deep and closed",
    ],
)
def test_a_malformed_line_is_kept_as_text_and_the_lines_around_it_are_read(line: str, block_bytes: int | None) -> None:
    data = b'{"before": 1}\n' + line.encode() + b'\n{"after": 3}\n'

    assert read_all(data, block_bytes) == [
        (1, {"before": 1}),
        (2, Unreadable("malformed_json", line)),
        (3, {"after": 3}),
    ]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_a_malformed_last_line_without_newline_is_kept(block_bytes: int | None) -> None:
    assert read_all(b'{"a": 1}\n{"b": ', block_bytes) == [(1, {"a": 1}), (2, Unreadable("malformed_json", '{"b": '))]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_invalid_utf8_makes_only_its_line_malformed(block_bytes: int | None) -> None:
    data = b'{"a": "caf\xc3\xa9"}\n{"b": "caf\xe9"}\n{"c": "\xff\xfe"}\n{"d": 4}\n'

    records = read_all(data, block_bytes)

    assert [position for position, _ in records] == [1, 2, 3, 4]
    assert records[0][1] == {"a": "café"}
    assert records[3][1] == {"d": 4}
    for _, value in records[1:3]:
        assert isinstance(value, Unreadable)
        assert value.reason == "malformed_json"
    assert "caf" in records[1][1].raw  # enough of the line to find and fix it


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_values_that_are_not_objects_are_records_too(block_bytes: int | None) -> None:
    # Whether a record is an order is the validator's call (not_an_object), not the reader's.
    data = b'[1, 2]\n"text"\n3\nnull\ntrue\n{"a": {}}\n'

    assert [value for _, value in read_all(data, block_bytes)] == [[1, 2], "text", 3, None, True, {"a": {}}]


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_big_integers_stay_exact_ints(block_bytes: int | None) -> None:
    data = b'{"id": 123456789012345678901234567890, "n": -18446744073709551617, "small": 7}\n'

    assert exact(read_all(data, block_bytes)) == exact(
        [(1, {"id": 123456789012345678901234567890, "n": -18446744073709551617, "small": 7})]
    )


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
def test_numbers_with_a_fraction_become_exact_decimals(block_bytes: int | None) -> None:
    # Money is Decimal, never float: 19.90 must stay 19.90, and 12345678.123456789 must not round.
    data = b'{"price": 19.90}\n{"price": 12345678.123456789, "qty": 2.0}\n{"rate": 1e-7}\n'

    values = [value for _, value in read_all(data, block_bytes)]

    assert exact(values) == exact(
        [
            {"price": Decimal("19.90")},
            {"price": Decimal("12345678.123456789"), "qty": Decimal("2.0")},
            {"rate": Decimal("1e-7")},
        ]
    )


# --- lines longer than the limit --------------------------------------------------------------------------------------

LIMIT = 2048
LONG = json.dumps({"note": "x" * 10_000, "tail": "never kept"})


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 500, 4096, None])
def test_a_line_longer_than_the_limit_is_kept_as_its_first_kilobyte(block_bytes: int | None) -> None:
    data = b'{"a": 1}\n' + LONG.encode() + b'\n{"c": 3}\n\n{"e": 5}\n'

    assert read_all(data, block_bytes, max_record_bytes=LIMIT) == [
        (1, {"a": 1}),
        (2, Unreadable("record_too_large", LONG[:1024])),
        (3, {"c": 3}),
        (5, {"e": 5}),
    ]


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 4096])
def test_the_newline_after_a_long_line_may_fall_anywhere_in_a_block(block_bytes: int) -> None:
    # Move the end of the long line across a block boundary, one byte at a time.
    for extra in range(block_bytes + 1 if block_bytes < 64 else 66):
        long = LONG + " " * extra
        data = b'{"a": 1}\n' + long.encode() + b'\n{"c": 3}\n{"d": 4}\n'

        assert read_all(data, block_bytes, max_record_bytes=LIMIT) == [
            (1, {"a": 1}),
            (2, Unreadable("record_too_large", long[:1024])),
            (3, {"c": 3}),
            (4, {"d": 4}),
        ], f"long line padded by {extra}"


@pytest.mark.parametrize("block_bytes", [7, 64, 4096, None])
def test_a_long_last_line_without_newline_is_kept(block_bytes: int | None) -> None:
    data = b'{"a": 1}\n' + LONG.encode()

    assert read_all(data, block_bytes, max_record_bytes=LIMIT) == [
        (1, {"a": 1}),
        (2, Unreadable("record_too_large", LONG[:1024])),
    ]


@pytest.mark.parametrize("block_bytes", [7, 64, 4096, None])
def test_several_long_lines_in_a_row(block_bytes: int | None) -> None:
    data = (LONG + "\n") * 3 + '{"d": 4}\n' + LONG

    records = read_all(data.encode(), block_bytes, max_record_bytes=LIMIT)

    too_large = Unreadable("record_too_large", LONG[:1024])
    assert records == [(1, too_large), (2, too_large), (3, too_large), (4, {"d": 4}), (5, too_large)]


@pytest.mark.parametrize("block_bytes", [7, 64, 4096, None])
def test_a_line_at_the_limit_is_read(block_bytes: int | None) -> None:
    at_limit = json.dumps({"note": "y" * (LIMIT - 12)})
    assert len(at_limit) == LIMIT
    data = f'{at_limit}\n{{"b": 2}}\n'.encode()

    assert read_all(data, block_bytes, max_record_bytes=LIMIT) == [(1, json.loads(at_limit)), (2, {"b": 2})]


# --- property ---------------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**80)
    | st.integers(min_value=-(2**80), max_value=-(2**63) + 2)
    | st.text(max_size=20)
    | st.sampled_from(["\n", "\r\n", "}, {", '"', "\\", "", "ü☕😀\u2028"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=15,
)
objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)
blank_lines = st.lists(st.sampled_from(["", "  ", "\t", "\r"]), max_size=2)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(st.tuples(blank_lines, objects), max_size=25),
    block_bytes=st.sampled_from([1, 2, 7, 64, 4096]) | st.integers(min_value=1, max_value=300),
    ensure_ascii=st.booleans(),
    final_newline=st.booleans(),
)
def test_any_objects_one_per_line_read_back_in_order(
    records: list[tuple[list[str], dict[str, Any]]], block_bytes: int, ensure_ascii: bool, final_newline: bool
) -> None:
    lines: list[str] = []
    expected: list[tuple[int, Any]] = []
    for blanks, value in records:
        lines += blanks
        lines.append(json.dumps(value, ensure_ascii=ensure_ascii))
        expected.append((len(lines), value))
    data = "\n".join(lines) + ("\n" if final_newline else "")

    assert exact(read_all(data.encode(), block_bytes)) == exact(expected)


@settings(max_examples=100, deadline=None)
@given(
    records=st.lists(
        st.tuples(blank_lines, st.dictionaries(st.text(max_size=5), st.text(max_size=200), max_size=3)), max_size=15
    ),
    block_bytes=st.integers(min_value=1, max_value=400),
)
def test_lines_over_the_limit_are_refused_and_the_rest_read_in_order(
    records: list[tuple[list[str], dict[str, Any]]], block_bytes: int
) -> None:
    limit = 120
    lines: list[str] = []
    expected: list[tuple[int, Any]] = []
    for blanks, value in records:
        lines += blanks
        line = json.dumps(value)  # ASCII: the kept prefix is whole characters
        lines.append(line)
        expected.append((len(lines), value if len(line) <= limit else Unreadable("record_too_large", line[:1024])))
    data = "\n".join(lines)

    assert exact(read_all(data.encode(), block_bytes, max_record_bytes=limit)) == exact(expected)
