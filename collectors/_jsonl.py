"""Flow tables as JSON lines: the same bytes as ``json.dumps`` with ``ensure_ascii=False`` and no spaces.

Tables whose columns the JSON-lines kernel writes (integers, microsecond timestamps,
strings, lists of those, all-null columns: every FlowRecord and GatedRecord column) are
packed (_jsonpack.py) and written row by row in one compiled pass (_fastjson.py); any
other table is encoded in Arrow (_jsonl_arrow.py, loaded only then).
"""

from __future__ import annotations

import pyarrow as pa

from collectors._fastjson import jsonl_rows
from collectors._jsonpack import pack


def encode_jsonl(table: pa.Table) -> bytes:
    """One JSON object a row, keys in column order, each line ending in a newline."""
    if table.num_rows == 0:
        return b""
    table = table.combine_chunks()
    packed = pack(table)
    if packed is None:  # a column type the kernel does not write
        from collectors._jsonl_arrow import encode_in_arrow  # Arrow's compute kernels, loaded only here

        return encode_in_arrow(table)
    arrays = packed.arrays(table.num_rows)
    length = int(jsonl_rows(*arrays))  # type: ignore[no-untyped-call]
    return arrays[-1][:length].tobytes()
