"""The batch pipeline's data work, in polars: read, validate, deduplicate, join, KPIs.

The rules are those of salesflow.domain.batch (the exact, row-at-a-time
reference); here they are written as column expressions, so a million orders
and three million items take seconds. Money is a polars Decimal, summed
exactly; ratios are formed in Python Decimal from exact sums and counts.
"""

from __future__ import annotations

import codecs
import csv
import importlib
import io
import itertools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO, Any

import polars as pl

from salesflow.domain.batch import (
    COLUMNS,
    CategoryKpi,
    OrderKpi,
    RowReason,
    Table,
    money,
    rate,
    resolve_columns,
)
from salesflow.domain.errors import PermanentError

MONEY = pl.Decimal(38, 6)
ROW = "_row"  # 1-based record number in its file (the header is record 0)
SOURCE = "_source"  # the object key a row came from
REASONS = "reasons"
AS_READ = "_as_read_"  # prefix: an item's sale_price and quantity as the file had them
CONVERTED = ("sale_price", "quantity")  # the item columns typed on reading, kept AS_READ too

_AWARE = (
    "%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%:z", "%Y%m%dT%H%M%S%.f%:z",
)  # fmt: skip
# Whole seconds, no offset: the most common shape, and polars reads it 2.5x faster than "%S%.f"
# (which reads the same texts the same way, and those with a fraction too: they come later).
_COMMON = "%Y-%m-%dT%H:%M:%S"
_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d", "%Y%m%dT%H%M%S%.f", "%Y%m%d")


class BadFile(PermanentError):
    """A CSV file that cannot be read at all (empty, not UTF-8, no header): the file fails, named."""


@dataclass
class CheckedFile:
    """One file after validation: its valid rows (canonical columns) and its refused rows."""

    key: str
    table: Table
    valid: pl.DataFrame
    rejected: pl.DataFrame  # the row as it came (text), plus reasons and _row
    rows: int


def read_checked(stream: IO[bytes], key: str, table: Table, mapping: Mapping[str, str]) -> CheckedFile:
    """Read one CSV and split it into valid and refused rows. Raises BadFile or MissingColumn."""
    source, may_be_padded = _checked_text(stream, key)
    try:
        # A real file is read by polars straight from the disk (mmap): no copy of its bytes in Python.
        frame = pl.read_csv(source, infer_schema=False, truncate_ragged_lines=False)
        ragged = pl.DataFrame()
    except pl.exceptions.NoDataError:
        raise BadFile(f"{key}: no header line; expected a header line and rows") from None
    except pl.exceptions.ComputeError:
        frame, ragged = _read_ragged(_all_bytes(source))
    header = [name for name in frame.columns if name not in (ROW,)]
    columns = resolve_columns(table, header, mapping, key)
    frame = frame.with_row_index(ROW, offset=1) if ROW not in frame.columns else frame
    canonical = frame.select(
        pl.col(ROW), *(pl.col(name).alias(canonical) for canonical, name in columns.items())
    ).with_columns(pl.lit(key, pl.Categorical).alias(SOURCE))  # one string for every row, not a copy each
    # Each column is stripped and parsed once, then shared by the checks and the valid rows.
    if may_be_padded:
        canonical = canonical.with_columns(_stripped(canonical, list(columns)))
    canonical = canonical.with_columns(
        *(_parse_amount(name) for name in ("price", "sale_price") if name in columns),
        *([_parse_count("quantity")] if "quantity" in columns else []),
    )
    if "created_at" in columns:
        canonical = canonical.with_columns(parse_timestamps(canonical.get_column("created_at")).alias(_CREATED))
    checks = _checks(table, set(columns))
    # A list of reasons per row costs seconds per million rows; a mask does not. Only
    # the few refused rows get their reasons spelled out.
    checked = canonical.with_columns(pl.any_horizontal([test for test, _ in checks]).alias("_refused"))
    del canonical
    bad = checked.filter(pl.col("_refused")).with_columns(
        pl.concat_list([pl.when(test).then(pl.lit(reason.value)) for test, reason in checks])
        .list.drop_nulls()
        .alias(REASONS)
    )
    # Typed first, then filtered: the filter copies only the columns kept, not the helpers.
    valid = _typed(table, checked, set(columns)).filter(~checked.get_column("_refused"))
    del checked
    # The few refused rows are picked out before the join: a join over every row of the file
    # holds hundreds of MB of row indices for a moment.
    refused = bad.select(ROW, REASONS)
    rejected = frame.filter(pl.col(ROW).is_in(refused.get_column(ROW).implode())).join(refused, on=ROW)
    if not ragged.is_empty():
        rejected = pl.concat([rejected, ragged], how="diagonal_relaxed")
    return CheckedFile(key, table, valid, rejected.sort(ROW), frame.height + ragged.height)


_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


def _checked_text(stream: IO[bytes], key: str) -> tuple[IO[bytes], bool]:
    """The stream, rewound, once it is known to hold UTF-8 text that is not blank; and
    whether a field of it may start or end with whitespace.

    Checked a chunk at a time: decoding the whole file at once would hold a copy as
    large as the file (polars would read invalid UTF-8 in a header without a word).
    A chunk of ASCII bytes is UTF-8 as it is: only the others are decoded.
    A stream that cannot be rewound is read into memory first.
    """
    if not stream.seekable():
        stream = io.BytesIO(stream.read())
    decoder = codecs.getincrementaldecoder("utf-8")()
    padding = Padding()
    head = stream.read(len(_BOM))  # apart, so that a byte order mark is judged whole
    offset, blank = 0, True
    for chunk in itertools.chain([head], iter(lambda: stream.read(_CHUNK), b"")):
        if not chunk.isascii() or decoder.getstate()[0]:
            _decode(decoder, chunk, offset, key)
        text = chunk.removeprefix(_BOM) if offset == 0 else chunk
        blank = blank and not text.strip()
        padding.feed(text)
        offset += len(chunk)
    _decode(decoder, b"", offset, key, final=True)
    if blank:
        raise BadFile(f"{key}: the file is empty; expected a header line and rows")
    stream.seek(0)
    return stream, padding.done()


class Padding:
    """Whether any field of a CSV may start or end with whitespace, judged from its bytes as
    they are read, so that read_checked strips no column when none can: on the benchmark's
    3M items, asking each column costs 0.2-0.4 s, this 0.03 s.

    Without quotes, a field is delimited by commas and line ends, so a field with whitespace
    at either end has a space next to a comma or a line end (or at the file's start or end).
    Anything else that could hide or be whitespace (a byte that is not ASCII, a quote, a tab,
    CR, VT, FF), or more spaces than are worth looking at, and the answer is "maybe".
    """

    MAX_SPACES = 50_000  # per chunk, each looked at in Python

    def __init__(self) -> None:
        self.maybe = False
        self._last = b"\n"  # the byte before the next chunk: the file starts as a line does

    def feed(self, chunk: bytes) -> None:
        if self.maybe or not chunk:
            return
        if not chunk.isascii() or any(byte in chunk for byte in (b'"', b"\t", b"\r", b"\x0b", b"\x0c")):
            self.maybe = True
            return
        ends = b",\n"
        if (self._last == b" " and chunk[0] in ends) or (chunk[0] == 0x20 and self._last in (b",", b"\n")):
            self.maybe = True
            return
        at, seen, size = chunk.find(b" "), 0, len(chunk)
        while at != -1:
            seen += 1
            after_end = at > 0 and chunk[at - 1] in ends
            before_end = at + 1 < size and chunk[at + 1] in ends
            if seen > self.MAX_SPACES or after_end or before_end:
                self.maybe = True
                return
            at = chunk.find(b" ", at + 1)
        self._last = chunk[-1:]

    def done(self) -> bool:
        """After the last chunk: a space as the file's last byte ends a field."""
        self.maybe = self.maybe or self._last == b" "
        return self.maybe


def _decode(decoder: codecs.IncrementalDecoder, chunk: bytes, offset: int, key: str, final: bool = False) -> None:
    """Decode chunk (at offset in the file) or raise BadFile naming the first byte that is not UTF-8."""
    held = len(decoder.getstate()[0])  # the unfinished character the last chunk ended with
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError as exc:
        byte = offset - held + exc.start
        raise BadFile(f"{key}: not UTF-8 (byte {byte}); save it as UTF-8 and put it again") from None


def _all_bytes(stream: IO[bytes]) -> bytes:
    stream.seek(0)
    return stream.read()


def _read_ragged(data: bytes) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The exact, slower path for files with rows longer than their header: those rows
    are refused as ragged_row, the others read as usual."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader, [])
    good: list[list[str]] = []
    good_rows: list[int] = []
    ragged: list[dict[str, object]] = []
    for number, fields in enumerate(reader, 1):
        if len(fields) > len(header):
            ragged.append({ROW: number, "raw": ",".join(fields), REASONS: [RowReason.RAGGED_ROW.value]})
        else:
            good.append(fields + [""] * (len(header) - len(fields)))
            good_rows.append(number)
    frame = pl.DataFrame(good, schema=dict.fromkeys(header, pl.String), orient="row").with_columns(
        pl.Series(ROW, good_rows, dtype=pl.UInt32), *(pl.col(h).replace("", None) for h in header)
    )
    return frame, pl.DataFrame(ragged, schema={ROW: pl.UInt32, "raw": pl.String, REASONS: pl.List(pl.String)})


def _stripped(frame: pl.DataFrame, names: list[str]) -> list[pl.Expr]:
    """Stripping for the columns that have a value to strip; the others are shared, not copied
    (a copy is about 50 MB per million rows; looking costs what stripping does)."""
    padded = frame.select(pl.col(name).str.contains(r"^\s|\s$").any() for name in names).row(0)
    return [pl.col(name).str.strip_chars() for name, pad in zip(names, padded, strict=True) if pad]


def _text(name: str) -> pl.Expr:
    """A column's text, already stripped by read_checked."""
    return pl.col(name)


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (_text(name) == "")


_CREATED = "_created_at"


def parse_timestamps(texts: pl.Series) -> pl.Series:
    """ISO 8601 dates or date-times as UTC datetimes (naive means UTC); null when unreadable.

    Each shape is tried, in turn, only on the rows no earlier shape could read: the
    common one (``2026-11-25T10:00:00``) on every row, then ``Z`` and offsets on the
    rest, and so on. Every shape over every row costs 9x as much.

    A long column is parsed in two halves on two threads (polars lets go of the GIL while it
    parses): 1M created_at, a fifth with offsets, 0.28 -> 0.14 s.
    """
    if texts.len() >= _HALVES_FROM:
        half = texts.len() // 2
        with ThreadPoolExecutor(2, "parse-timestamps") as pool:
            first, second = pool.map(_parse_timestamps, [texts.slice(0, half), texts.slice(half)])
        return first.append(second)
    return _parse_timestamps(texts)


_HALVES_FROM = 100_000  # below, starting the threads costs about what they save


def _parse_timestamps(texts: pl.Series) -> pl.Series:
    texts = texts.str.strip_chars()
    parsed = _datetime(texts, _COMMON, aware=False)
    rest = (parsed.is_null() & texts.is_not_null()).arg_true()
    if rest.len():
        parsed = parsed.scatter(rest, _parse_in_turn(_iso_text(texts.gather(rest))))
    return parsed


def _iso_text(texts: pl.Series) -> pl.Series:
    """Texts in the shapes the formats below expect: a space, ``Z`` and ``+05`` spelled the ISO way."""
    return (
        texts.str.replace(" ", "T", literal=True)
        .str.replace(r"Z$", "+00:00")
        .str.replace(r"(T[0-9:.]+[+-][0-9]{2})$", "${1}:00")  # "+05" after a time means "+05:00"
    )


def _parse_in_turn(texts: pl.Series) -> pl.Series:
    """The first of the aware, then naive, formats that reads each text (as coalescing them all would)."""
    parsed = pl.Series(texts.name, [None] * texts.len(), pl.Datetime("us", "UTC"))
    for fmt, aware in [(f, True) for f in _AWARE] + [(f, False) for f in _NAIVE]:
        todo = (parsed.is_null() & texts.is_not_null()).arg_true()
        if not todo.len():
            break
        parsed = parsed.scatter(todo, _datetime(texts.gather(todo), fmt, aware))
    return parsed


def _datetime(texts: pl.Series, fmt: str, aware: bool) -> pl.Series:
    if aware:
        return texts.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us")
    return texts.str.to_datetime(fmt, strict=False, time_unit="us").dt.replace_time_zone("UTC")


def _parse_amount(name: str) -> pl.Expr:
    return pl.col(name).cast(MONEY, strict=False).alias(f"_{name}")


def _amount(name: str) -> pl.Expr:
    return pl.col(f"_{name}")


def _parse_count(name: str) -> pl.Expr:
    """The text as an integer, or null. polars reads only ASCII digits after an optional sign
    (no space, point, exponent or separator). That is what a pattern checked before, but for
    the minus sign, and a count must be > 0 anyway. 0.015 s of CPU per 3M, against 0.066 s with
    the pattern."""
    return pl.col(name).cast(pl.Int64, strict=False).alias(f"_{name}")


def _count(name: str) -> pl.Expr:
    return pl.col(f"_{name}")


def _checks(table: Table, present: set[str]) -> list[tuple[pl.Expr, RowReason]]:
    """Each rule as (a column expression, true when the row breaks it; its reason)."""
    checks: list[tuple[pl.Expr, RowReason]] = []
    if table is Table.PRODUCTS:
        checks += [
            (_blank("product_id"), RowReason.MISSING_PRODUCT_ID),
            (_blank("category"), RowReason.MISSING_CATEGORY),
        ]
        if "price" in present:
            checks.append((~(_amount("price") > 0).fill_null(False), RowReason.INVALID_PRICE))
    elif table is Table.ORDERS:
        checks += [
            (_blank("order_id"), RowReason.MISSING_ORDER_ID),
            (_blank("user_id"), RowReason.MISSING_USER_ID),
            (_blank("created_at"), RowReason.MISSING_CREATED_AT),
            (~_blank("created_at") & pl.col(_CREATED).is_null(), RowReason.INVALID_CREATED_AT),
        ]
    else:
        checks += [
            (_blank("order_item_id"), RowReason.MISSING_ORDER_ITEM_ID),
            (_blank("order_id"), RowReason.MISSING_ORDER_ID),
            (_blank("product_id"), RowReason.MISSING_PRODUCT_ID),
            (_blank("sale_price"), RowReason.MISSING_SALE_PRICE),
            (~_blank("sale_price") & ~(_amount("sale_price") > 0).fill_null(False), RowReason.INVALID_SALE_PRICE),
        ]
        if "quantity" in present:
            checks.append((~(_count("quantity") > 0).fill_null(False), RowReason.INVALID_QUANTITY))
    return checks


def _typed(table: Table, frame: pl.DataFrame, present: set[str]) -> pl.DataFrame:
    """Valid rows with their types: ids stripped text, money Decimal, dates UTC."""
    ids = [c.name for c in COLUMNS[table] if c.name.endswith("_id") and c.name in present]
    exprs = [_text(name).alias(name) for name in ids]
    if table is Table.PRODUCTS:
        exprs.append(_text("category").alias("category"))
        if "price" in present:
            exprs.append(_amount("price").alias("price"))
    elif table is Table.ORDERS:
        exprs.append(pl.col(_CREATED).alias("created_at"))
        exprs.append(_returned(present).alias("returned"))
    else:
        exprs.append(_amount("sale_price").alias("sale_price"))
        exprs.append(_count("quantity").alias("quantity") if "quantity" in present else pl.lit(1).alias("quantity"))
        has_rule = "status" in present or "returned_at" in present
        exprs.append(_returned(present).alias("returned") if has_rule else pl.lit(None, pl.Boolean).alias("returned"))
        # An item may still be refused after the join (unknown order or product): it is then
        # shown as it came, so the text of what was converted stays with it until then. As
        # categories, 4 bytes a row (24 MB for the benchmark's 3M items, 0.14 s to make); as
        # text the views are 16 bytes a row through every filter, and the peak rose by up to
        # 100 MB for no clear gain in time (decisions.md, "Batch speed ... (fifth)").
        exprs += [pl.col(name).cast(pl.Categorical).alias(AS_READ + name) for name in CONVERTED if name in present]
    helpers = [name for name in frame.columns if name.startswith("_") and name not in (ROW, SOURCE)]
    return frame.with_columns(exprs).drop(helpers)


def _returned(present: set[str]) -> pl.Expr:
    status = _text("status").str.to_lowercase() == "returned" if "status" in present else pl.lit(False)
    when = ~_blank("returned_at") if "returned_at" in present else pl.lit(False)
    return status.fill_null(False) | when


def keyed_last(frames: Sequence[pl.DataFrame], key: Sequence[str]) -> tuple[pl.DataFrame, int]:
    """Rows of frames (in order) with one row per key, the last one; and how many were removed."""
    rows, last = last_per_key(frames, key)
    if last is None:
        return rows, 0  # nothing repeated: no second copy
    kept = rows.filter(last)
    return kept, rows.height - kept.height


def last_per_key(frames: Sequence[pl.DataFrame], key: Sequence[str]) -> tuple[pl.DataFrame, pl.Series | None]:
    """Rows of frames (in order), and which of them is the last of its key: None when every
    row is (no key repeats)."""
    if not frames:
        return pl.DataFrame(), None
    rows = frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
    # is_last_distinct keeps order with a mask; unique(keep="last", maintain_order=True) is ~5x slower.
    if len(key) > 1:
        last = rows.select(pl.struct(list(key)).is_last_distinct()).to_series()
    else:
        last = _last_of_each(rows.get_column(key[0]))
    return rows, None if last.all() else last


def _last_of_each(ids: pl.Series) -> pl.Series:
    """ids.is_last_distinct(), on numbers when every id is a plain integer: hashing an Int64
    costs half what hashing its text does (3M item ids: 0.32 s with the check and the cast,
    against 0.50 s), and most ids are dense enough to need no hashing at all."""
    numbers = _plain_integers(ids)
    if numbers is None:
        return ids.is_last_distinct()
    dense = _last_of_dense(numbers)
    return numbers.is_last_distinct() if dense is None else dense


def _plain_integers(ids: pl.Series) -> pl.Series | None:
    """ids as Int64 when each is a plain integer (ASCII digits, no sign, no leading zero, fits
    64 bits), so that two ids are equal exactly when their numbers are; else None.

    polars' cast reads an optional sign and ASCII digits; a text is then plain when it is not
    negative and has as many characters as its number has digits ("+5", "007" and "-0" have
    more). 3M ids: 0.056 s, against 0.119 s for a pattern and the cast."""
    if ids.dtype != pl.String or ids.is_empty() or ids.null_count():
        return None
    numbers = ids.cast(pl.Int64, strict=False)
    if numbers.null_count() or (numbers < 0).any():
        return None
    import numpy as np  # loaded by now (import_numpy_meanwhile)

    powers = 10 ** np.arange(1, 19, dtype=np.int64)  # 10 .. 10**18: a number's digits = how many it reaches, + 1
    digits = np.searchsorted(powers, numbers.to_numpy(), side="right") + 1
    return numbers if bool((ids.str.len_bytes().to_numpy() == digits).all()) else None


def import_numpy_meanwhile() -> None:
    """Import numpy on a thread of its own, while the caller reads a file (polars reads
    without the GIL): _last_of_dense then finds it loaded instead of spending 0.1 s on it."""
    threading.Thread(target=importlib.import_module, args=("numpy",), name="import-numpy", daemon=True).start()


def _last_of_dense(numbers: pl.Series) -> pl.Series | None:
    """is_last_distinct() of integers that mostly fill their range (ids counted up from
    somewhere, as most exports number them), by direct addressing instead of hashing: each
    number's last position is kept in an array as long as the range. 3M item ids: 0.03 s,
    against 0.25 s. None when the range is over 4 times the count (the array would be
    mostly empty)."""
    if numbers.is_empty():
        return None
    low, high = numbers.min(), numbers.max()
    assert isinstance(low, int)
    assert isinstance(high, int)
    if high - low > 4 * numbers.len() + 1024:
        return None
    import numpy as np  # here: about 0.1 s to import (see import_numpy_meanwhile)

    offsets = numbers.to_numpy() - low
    positions = np.arange(offsets.size, dtype=np.int64)
    last = np.full(high - low + 1, -1, dtype=np.int64)
    np.maximum.at(last, offsets, positions)  # unbuffered: a number seen again keeps the later position
    return pl.Series(numbers.name, last[offsets] == positions)


def replace_keys(stored: pl.DataFrame | None, new: pl.DataFrame, key: Sequence[str]) -> pl.DataFrame:
    """Stored rows whose keys the new rows do not have, then the new rows."""
    if stored is None or stored.is_empty():
        return new
    kept = stored.join(new.select(key), on=list(key), how="anti")
    return pl.concat([kept, new], how="diagonal_relaxed")


ORDER_KEY = "_order"  # a line's order as a number (its row in the orders frame), for the KPIs' group-bys
PRODUCT_KEY = "_product"  # an item's product as a number (its row in the products frame)
KEYS = (ORDER_KEY,)  # not written: processed/lines/ has the ids
# What kpis reads. The category is a Categorical (a number per line), which the KPIs group by.
KPI_COLUMNS = (*KEYS, "category", "order_date", "user_id", "returned", "total_price", "quantity")


def positions(orders: pl.DataFrame, products: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """Per item, in the items' order: the row of its order (ORDER_KEY) and of its product
    (PRODUCT_KEY), null when there is none. Orders and products must be unique by id."""
    found = [
        items.select(name)
        .join(
            table.select(name, pl.int_range(pl.len(), dtype=pl.UInt32).alias(key)),
            on=name,
            how="left",
            maintain_order="left",
        )
        .get_column(key)
        for table, name, key in ((orders, "order_id", ORDER_KEY), (products, "product_id", PRODUCT_KEY))
    ]
    if any(column.len() != items.height for column in found):  # a repeated id would repeat items
        raise AssertionError("an order id or a product id repeats in the stored state")
    return pl.DataFrame(found)


def lines(
    orders: pl.DataFrame, items: pl.DataFrame, products: pl.DataFrame, at: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Items joined with their orders and products, enriched with total_price and order_month,
    in the items' order; with the numeric key ORDER_KEY for kpis.

    at: the positions of the items' orders and products (all known), if already found; else
    found here, and items without a known order or product have no line. The order and product
    columns are gathered by position: two hash joins of 3M ids cost 1.2 s of CPU, finding the
    positions (hashing each id once, one column) and gathering 0.7 s."""
    if at is None:
        at = positions(orders, products, items)
        known = at.get_column(ORDER_KEY).is_not_null() & at.get_column(PRODUCT_KEY).is_not_null()
        if not known.all():
            items, at = items.filter(known), at.filter(known)
    # Columns only the items' checks needed are left behind; the date and month are formatted
    # once per order (1M) rather than once per line (3M).
    kept = [name for name in items.columns if name not in ("status", "returned_at", ROW, SOURCE)]
    per_order = orders.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(ORDER_KEY),
        "user_id",
        "created_at",
        pl.col("returned").alias("order_returned"),
        pl.col("created_at").dt.date().alias("order_date"),
        # From the UTC date, not the zoned time: 0.05 s instead of 0.09 s for 1M orders.
        pl.col("created_at").dt.date().dt.strftime("%Y-%m").cast(pl.Categorical).alias("order_month"),
    )
    # The few-valued text columns are Categoricals (a number per line, the text once): gathered
    # as numbers rather than as texts, and written to Parquet as the dictionary they already
    # are, where a text column is first hashed to find out whether it is one. The product's id
    # is the item's (they were joined on it), taken from the products' table for that reason.
    per_product = products.select(
        pl.col("product_id").cast(pl.Categorical).alias(_PRODUCT_ID), pl.col("category").cast(pl.Categorical)
    )
    joined = pl.concat(
        [
            items.select(kept),
            per_order.select(pl.all().gather(at.get_column(ORDER_KEY))),
            per_product.select(pl.all().gather(at.get_column(PRODUCT_KEY))),
        ],
        how="horizontal",
    )
    return joined.select(
        *(_line_column(name) for name in kept),
        "user_id",
        "created_at",
        "category",
        (pl.col("sale_price") * pl.col("quantity")).alias("total_price"),
        "order_date",
        "order_month",
        ORDER_KEY,
    )


_PRODUCT_ID = "_product_id"  # the product's id as a Categorical, for the lines


def _line_column(name: str) -> pl.Expr:
    if name == "returned":
        return _line_returned()
    if name == "product_id":
        return pl.col(_PRODUCT_ID).alias(name)
    return pl.col(name)


def _line_returned() -> pl.Expr:
    """The item's status decides; when the items have no status, the order's does."""
    return pl.coalesce("returned", "order_returned").fill_null(False).alias("returned")


def kpis(frame: pl.DataFrame) -> tuple[list[OrderKpi], list[CategoryKpi]]:
    """order_kpi and category_kpi rows from processed lines (see salesflow.domain.batch's
    order_kpis and category_kpis): the counts and sums by direct addressing (kpi_sums), or,
    past its limits, by polars' group-bys."""
    from salesflow.pipelines.kpi_sums import kpi_sums  # numpy: loaded by now (import_numpy_meanwhile)

    per_day, per_category = kpi_sums(frame, ORDER_KEY, "category") or _grouped_sums(frame)
    order_rows = [
        OrderKpi(
            order_date=row["order_date"],
            total_orders=row["orders"],
            total_revenue=money(Decimal(row["revenue"])),
            total_items_sold=row["items"],
            return_rate=rate(Decimal(row["returned"]) / row["orders"]),
            unique_customers=row["customers"],
        )
        for row in per_day
    ]
    category_rows = []
    for row in per_category:
        revenue = Decimal(row["revenue"])
        category_rows.append(
            CategoryKpi(
                category=row["category"],
                order_date=row["order_date"],
                daily_revenue=money(revenue),
                avg_order_value=money(revenue / row["orders"]),
                avg_return_rate=rate(Decimal(row["returned"]) / row["orders"]),
            )
        )
    return order_rows, category_rows


def _grouped_sums(frame: pl.DataFrame) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """kpi_sums' rows by group-bys, for lines past its limits.

    Both queries in one collect on polars' streaming engine: on the 2.9M lines of the
    benchmark 0.65 s against 1.07 s for the same group-bys on the in-memory engine (it runs
    their partial aggregations on both cores; the in-memory one mostly on one)."""
    lines = frame.lazy()
    # An order has one date: grouping by the order alone (its date taken along) hashes one key, not
    # two; and by its number, not its id: 0.4 s less CPU and 200 MB less at the peak on 2.9M lines.
    days = (
        lines.group_by(ORDER_KEY)
        .agg(
            pl.col("order_date").first(),
            pl.col("user_id").first(),
            pl.col("returned").any(),
            pl.col("total_price").sum(),
            pl.col("quantity").sum(),
        )
        .group_by("order_date")
        .agg(
            pl.len().alias("orders"),
            pl.col("total_price").sum().alias("revenue"),
            pl.col("quantity").sum().alias("items"),
            pl.col("returned").sum().alias("returned"),
            pl.col("user_id").n_unique().alias("customers"),
        )
        .sort("order_date")
    )
    groups = (
        lines.group_by("category", ORDER_KEY)
        .agg(pl.col("order_date").first(), pl.col("total_price").sum(), pl.col("returned").any())
        .group_by("category", "order_date")
        .agg(pl.len().alias("orders"), pl.col("total_price").sum().alias("revenue"), pl.col("returned").sum())
        .with_columns(pl.col("category").cast(pl.String))
        .sort("category", "order_date")
    )
    per_day, per_category = pl.collect_all([days, groups], engine="streaming")
    return list(per_day.iter_rows(named=True)), list(per_category.iter_rows(named=True))


def dates_of(frame: pl.DataFrame) -> set[date]:
    return set(frame.get_column("order_date").unique().to_list()) if "order_date" in frame.columns else set()
