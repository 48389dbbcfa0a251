"""Tables as JSON lines in Arrow's compute kernels: any column type, at a few times the kernel's cost.

_jsonl.py uses this for a table the JSON-lines kernel does not write. A JSON text is built
for each column at once (numbers cast, strings quoted, lists joined, nulls as ``null``),
then the columns are joined row-wise into lines. A string column holding anything JSON must
escape (a quote, a backslash, a control character) is encoded by the standard library
instead, so the bytes are always valid JSON and the same as ``json.dumps`` with
``ensure_ascii=False`` and no spaces.
"""


from __future__ import annotations

import json
from json.encoder import encode_basestring

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from collectors._jsontime import WIDTH as TIME_WIDTH
from collectors._jsontime import formattable, iso_texts

_NEEDS_ESCAPE = r'["\\\x00-\x1f]'
_QUOTE = '"'  # a plain str: nothing is converted from Python objects at import time


def _quoted(strings: pa.Array) -> pa.Array:
    """Each string as a JSON string; nulls stay null."""
    if pc.any(pc.match_substring_regex(strings, _NEEDS_ESCAPE)).as_py():
        return pa.array([None if v is None else encode_basestring(v) for v in strings.to_pylist()], pa.string())
    return pc.binary_join_element_wise(_QUOTE, strings, _QUOTE, "")


def _json_texts(column: pa.Array) -> pa.Array:
    """The JSON text of every value of one column (never null: a null is ``null``)."""
    kind = column.type
    if pa.types.is_null(kind):
        return pc.fill_null(pa.nulls(len(column), pa.string()), "null")
    if pa.types.is_timestamp(kind) and formattable(column):
        texts = _quoted_times(column)
    elif pa.types.is_timestamp(kind):
        texts = pc.binary_join_element_wise(_QUOTE, pc.strftime(column, format="%Y-%m-%dT%H:%M:%SZ"), _QUOTE, "")
    elif pa.types.is_integer(kind):
        texts = pc.cast(column, pa.string())
    elif pa.types.is_list(kind):
        values = column.flatten()
        items = pc.cast(values, pa.string()) if pa.types.is_integer(values.type) else _quoted(values)
        offsets = pc.subtract(column.offsets, column.offsets[0])
        lists = pa.ListArray.from_arrays(offsets, items, mask=column.is_null())
        texts = pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")
    else:
        texts = _quoted(column)
    return pc.fill_null(texts, "null")


def _quoted_times(column: pa.Array) -> pa.Array:
    n = len(column)
    text = np.empty((n, TIME_WIDTH + 2), dtype=np.uint8)
    text[:, 0] = text[:, -1] = ord(_QUOTE)
    text[:, 1:-1] = iso_texts(column)
    offsets = np.arange(0, n * (TIME_WIDTH + 2) + 1, TIME_WIDTH + 2, dtype=np.int32)
    validity = pa.array(np.asarray(column.is_valid())).buffers()[1] if column.null_count else None
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text), validity, column.null_count)


def encode_in_arrow(table: pa.Table) -> bytes:
    """``encode_jsonl`` in Arrow's compute kernels: any column type, at a few times the cost."""
    table = table.combine_chunks()
    parts: list[pa.Array | str] = []
    for k, name in enumerate(table.column_names):
        parts.append(("{" if k == 0 else ",") + json.dumps(name) + ":")
        parts.append(_json_texts(table.column(name).chunk(0)))
    parts.append("}\n")
    lines = pc.binary_join_element_wise(*parts, "")
    return _value_bytes(lines)


def _value_bytes(strings: pa.Array) -> bytes:
    """The concatenated values of a string array, straight from its data buffer."""
    _, offsets_buffer, data = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[strings.offset : strings.offset + len(strings) + 1]
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])].tobytes()
