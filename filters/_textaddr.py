"""A column of address text parsed by the compiled kernel, row for row.

The same answer as :func:`policies.parse_addresses` (the tests hold it to that, to
``ipaddress`` and to ``inet_pton``), in one pass over the column's bytes instead of a
regex, a split and ``inet_pton`` a distinct value. Only plain ``string`` columns (what a
FlowRecord has) take the kernel; any other text type goes the general way.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from filters._fastgate import parse_text
from policies import ParsedAddresses, parse_addresses

_U8 = npt.NDArray[np.uint8]
_I32 = npt.NDArray[np.int32]


def string_buffers(arr: pa.StringArray) -> tuple[_I32, _U8]:
    """A string array's offsets (one more than its rows, from its own offset on) and its data bytes."""
    _, offsets_buffer, data_buffer = arr.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return offsets, data


def valid_bytes(arr: pa.Array) -> _U8:
    """One byte a row: 1 where the row is not null."""
    if arr.null_count == 0:
        return np.ones(len(arr), np.uint8)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), np.uint8)


def parse_column(arr: pa.Array | pa.ChunkedArray) -> ParsedAddresses:
    """Parse a column of address text, row for row; version 0 for a null or a non-address."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not isinstance(arr, pa.Array) or not pa.types.is_string(arr.type):
        return parse_addresses(arr)
    n = len(arr)
    out = ParsedAddresses(np.empty(n, np.uint8), np.empty(n, np.uint32), np.empty(n, np.uint64),
                          np.empty(n, np.uint64))  # fmt: skip
    if n:
        offsets, data = string_buffers(arr)
        parse_text(offsets, data, valid_bytes(arr), out.version, out.v4, out.v6_hi, out.v6_lo)
    return out
