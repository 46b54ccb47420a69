"""Arrow tables from Python values, without loading pandas.

pyarrow's own conversions of Python objects (``pa.array``, ``Table.from_pylist``,
``Schema.empty_table``, ``pa.table`` of a foreign table) first import pandas, if it
is installed, to check whether they were handed one of its types: about 40 MB of the
stream's resident memory, in a process that never uses pandas. The functions here go
around it: rows travel as JSON lines (msgspec writes them, pyarrow's JSON reader types
them by the schema), an empty table is made from no batches, a scalar from its bytes,
and numpy arrays go to and from Arrow through their buffers (``to_numpy`` and ``pa.array``
of a numpy array look for pandas too).
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
