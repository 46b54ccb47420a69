"""Arrow tables from Python values, without loading pandas.

pyarrow's own conversions of Python objects (``pa.array``, ``Table.from_pylist``,
``Schema.empty_table``, ``pa.table`` of a foreign table) first import pandas, if it
is installed, to check whether they were handed one of its types: about 40 MB of the
stream's resident memory, in a process that never uses pandas. The functions here go
around it: rows travel as JSON lines (msgspec writes them, pyarrow's JSON reader types
them by the schema), an empty table is made from no batches, a scalar from its bytes,
numpy arrays go to and from Arrow through their buffers (``to_numpy`` and ``pa.array``
of a numpy array look for pandas too), and so do the rows of a database cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json


def empty_table(schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches([], schema)


def rows_table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """``rows`` (plain values: str, int, Decimal, datetime, None) as a table of ``schema``.

    A key the schema does not have is an error; a key a row lacks is null."""
    if not rows:
        return empty_table(schema)
    lines = b"\n".join(msgspec.json.encode(row) for row in rows) + b"\n"
    read = pa_json.ReadOptions(block_size=max(len(lines), 1 << 20), use_threads=False)
    parse = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
    table = pa_json.read_json(pa.BufferReader(lines), read_options=read, parse_options=parse)
    return table.select(schema.names)


def from_stream(source: Any) -> pa.Table:
    """A table of another Arrow library (delta-rs's arro3, say) as a pyarrow table."""
    return pa.RecordBatchReader.from_stream(source).read_all()


def text_scalar(value: str) -> pa.Scalar:
    """A string scalar built from its bytes (``pa.scalar`` would import pandas)."""
    data = value.encode()
    offsets = pa.py_buffer(b"\x00\x00\x00\x00" + len(data).to_bytes(4, "little"))
    return pa.StringArray.from_buffers(1, offsets, pa.py_buffer(data))[0]


def int64_values(column: pa.ChunkedArray) -> np.ndarray:
    """The values of an int64 column without nulls, as numpy (a view when in one chunk)."""
    array = column.combine_chunks()
    if not len(array):
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(array.buffers()[1], dtype=np.int64, count=len(array), offset=array.offset * 8)


def bool_array(values: np.ndarray) -> pa.BooleanArray:
    """A numpy array of booleans as Arrow (packed into Arrow's bitmap)."""
    bits = np.packbits(values, bitorder="little")
    return pa.BooleanArray.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def rows_to_table(rows: Sequence[tuple[Any, ...]], names: Sequence[str], schema: pa.Schema | None = None) -> pa.Table:
    """Rows of a database cursor (None, int, float, str, bytes) as a table with these column
    names: typed by ``schema`` when given, else by their values (int, float when ints and
    floats mix, bytes, text for anything else; null when every value is None).

    Built from buffers (numpy for numbers and lengths, one joined bytes object for text):
    about 1 s per million rows of seven columns, where pyarrow's own conversion of Python
    values is several times slower and imports pandas."""
    columns: Sequence[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [
        _array(values, None if schema is None else schema.field(name).type)
        for values, name in zip(columns, names, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(names))


def unify(tables: Sequence[pa.Table]) -> pa.Table:
    """Tables of the same columns, typed chunk by chunk by rows_to_table, as one: a column
    null in some is typed as in the others, ints that met floats are floats, and a column
    whose types disagree otherwise (SQLite lets them) is text."""
    if len(tables) == 1:
        return tables[0]
    names = tables[0].column_names
    fields = []
    for name in names:
        kinds = {table.schema.field(name).type for table in tables} - {pa.null()}
        if not kinds:
            kind = pa.null()
        elif len(kinds) == 1:
            kind = kinds.pop()
        elif kinds == {pa.int64(), pa.float64()}:
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    schema = pa.schema(fields)
    return pa.concat_tables([table.cast(schema) for table in tables])


def _array(values: tuple[Any, ...], kind: pa.DataType | None) -> pa.Array:
    count = len(values)
    kind = _kind_of(values) if kind is None else kind
    if pa.types.is_null(kind):
        return pa.nulls(count)
    missing = np.fromiter((v is None for v in values), dtype=bool, count=count) if None in values else None
    validity = None if missing is None else pa.py_buffer(np.packbits(~missing, bitorder="little"))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        dtype, made = (np.int64, pa.int64()) if pa.types.is_integer(kind) else (np.float64, pa.float64())
        present = values if missing is None else (0 if v is None else v for v in values)
        numbers = np.fromiter(present, dtype=dtype, count=count)
        array = pa.Array.from_buffers(made, count, [validity, pa.py_buffer(numbers)])
        return array if made == kind else array.cast(kind)
    return _text_array(values, missing, validity, kind)


def _text_array(
    values: tuple[Any, ...], missing: np.ndarray | None, validity: pa.Buffer | None, kind: pa.DataType
) -> pa.Array:
    count = len(values)
    pieces: Sequence[str] | Sequence[bytes]
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        pieces = [b"" if v is None else bytes(v) for v in values]
        data, wide = b"".join(pieces), (pa.binary(), pa.large_binary())
    else:
        texts: Sequence[str]
        try:  # text and nothing else, the common case: no copy of the column first
            texts, joined = values, "".join(values)
        except TypeError:
            texts = [v if type(v) is str else ("" if v is None else str(v)) for v in values]
            joined = "".join(texts)
        wide = (pa.string(), pa.large_string())
        if joined.isascii():  # most text: its lengths in characters are its lengths in bytes
            pieces, data = texts, joined.encode("ascii")
        else:
            pieces = [text.encode() for text in texts]
            data = b"".join(pieces)
    made = wide[1] if len(data) >= 1 << 31 else wide[0]
    offsets = np.zeros(count + 1, dtype=np.int64 if made == wide[1] else np.int32)
    np.cumsum(np.fromiter(map(len, pieces), dtype=np.int64, count=count), out=offsets[1:])
    array = pa.Array.from_buffers(made, count, [validity, pa.py_buffer(offsets), pa.py_buffer(data)])
    return array if made == kind else array.cast(kind)


def _kind_of(values: tuple[Any, ...]) -> pa.DataType:
    kinds = set(map(type, values)) - {type(None)}
    if not kinds:
        return pa.null()
    if kinds == {int}:
        return pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    if kinds == {bytes}:
        return pa.binary()
    return pa.string()
