"""A table's columns packed into the flat arrays the JSON-lines kernel reads (_fastjson.py).

Integers and timestamps become rows of one int64 matrix, every string (of string columns
and of string lists) an entry of one string table, list columns offsets into a shared value
array. A column of any other type, an unsigned value past int64, a timestamp the kernel
cannot format, or a list holding nulls makes ``pack`` answer None, and _jsonl.py encodes
the table in Arrow instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from collectors._fastjson import J_INT, J_INT_LIST, J_NULL, J_STR, J_STR_LIST, J_TIME
from collectors._jsontime import formattable, valid_mask

_INT64_MAX = np.iinfo(np.int64).max


@dataclass
class Packed:
    """The kernel's inputs; ``bound`` is the most bytes the lines can take."""

    kinds: list[int] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    valid: list[np.ndarray] = field(default_factory=list)
    ints: list[np.ndarray] = field(default_factory=list)
    strings: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (offsets from 0, data)
    string_count: int = 0
    lists: list[np.ndarray] = field(default_factory=list)
    list_ints: list[np.ndarray] = field(default_factory=list)
    list_int_count: int = 0
    bound: int = 0

    def arrays(self, rows: int) -> tuple[np.ndarray, ...]:
        keys_off = np.zeros(len(self.keys) + 1, dtype=np.int64)
        np.cumsum([len(k) for k in self.keys], out=keys_off[1:])
        str_off = [np.zeros(1, dtype=np.int64)]
        base = 0
        for offsets, data in self.strings:
            str_off.append(offsets[1:] + base)
            base += len(data)
        return (
            np.array(self.kinds, dtype=np.int64),
            np.array(self.slots, dtype=np.int64),
            np.frombuffer(b"".join(self.keys), dtype=np.uint8).copy(),
            keys_off,
            np.stack(self.valid),
            np.stack(self.ints) if self.ints else np.zeros((1, rows), dtype=np.int64),
            np.concatenate(str_off),
            _joined([data for _, data in self.strings], np.uint8),
            np.stack(self.lists) if self.lists else np.zeros((1, rows + 1), dtype=np.int64),
            _joined(self.list_ints, np.int64),
            np.empty(self.bound, dtype=np.uint8),
        )

    def add_strings(self, strings: pa.Array) -> int:
        """Append a string array (sliced or not) to the string table; its first entry."""
        offsets = _offsets(strings)
        data = _data(strings, offsets)
        first = self.string_count
        self.strings.append((offsets - offsets[0], data))
        self.string_count += len(strings)
        self.bound += 6 * len(data) + 4 * len(strings)
        return first


def pack(table: pa.Table) -> Packed | None:
    """The packed columns of a combined (one chunk a column) non-empty table, or None."""
    n = table.num_rows
    packed = Packed(bound=n * 2)
    for k, name in enumerate(table.column_names):
        column = table.column(name).chunk(0)
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        key = (("{" if k == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":").encode()
        packed.keys.append(key)
        packed.bound += n * len(key)
        valid = valid_mask(column)
        packed.valid.append(valid.astype(np.uint8))
        if not _add_column(packed, column, valid, n):
            return None
    return packed


def _add_column(packed: Packed, column: pa.Array, valid: np.ndarray, n: int) -> bool:
    kind = column.type
    if pa.types.is_null(kind):
        packed.kinds.append(J_NULL)
        packed.slots.append(0)
        packed.bound += 4 * n
    elif pa.types.is_integer(kind) or (pa.types.is_timestamp(kind) and formattable(column)):
        values = _numbers(column)
        if pa.types.is_unsigned_integer(kind) and kind.bit_width == 64 and (values[valid] > _INT64_MAX).any():
            return False
        packed.kinds.append(J_INT if pa.types.is_integer(kind) else J_TIME)
        packed.slots.append(len(packed.ints))
        packed.ints.append(np.where(valid, values, 0).astype(np.int64))
        packed.bound += 29 * n
    elif pa.types.is_string(kind):
        packed.kinds.append(J_STR)
        packed.slots.append(packed.add_strings(column))
    elif pa.types.is_list(kind):
        return _add_list(packed, column, n)
    else:
        return False
    return True


def _add_list(packed: Packed, column: pa.Array, n: int) -> bool:
    offsets = _offsets(column)
    inner = column.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    if inner.null_count:
        return False
    if pa.types.is_integer(inner.type):
        values = _numbers(inner)
        if pa.types.is_unsigned_integer(inner.type) and inner.type.bit_width == 64 and (values > _INT64_MAX).any():
            return False
        first = packed.list_int_count
        packed.list_ints.append(values.astype(np.int64))
        packed.list_int_count += len(values)
        packed.kinds.append(J_INT_LIST)
        packed.bound += 21 * len(values)
    elif pa.types.is_string(inner.type):
        first = packed.add_strings(inner)
        packed.kinds.append(J_STR_LIST)
        packed.bound += len(inner)
    else:
        return False
    packed.slots.append(len(packed.lists))
    packed.lists.append((offsets - offsets[0] + first).astype(np.int64))
    packed.bound += 4 * n
    return True


def _numbers(column: pa.Array) -> np.ndarray:
    dtype = np.dtype("int64") if pa.types.is_timestamp(column.type) else np.dtype(column.type.to_pandas_dtype())
    return np.frombuffer(column.buffers()[1], dtype=dtype)[column.offset : column.offset + len(column)]


def _offsets(column: pa.Array) -> np.ndarray:
    """A string or list array's offsets, for its own slice (int64)."""
    raw = np.frombuffer(column.buffers()[1], dtype=np.int32)
    return raw[column.offset : column.offset + len(column) + 1].astype(np.int64)


def _data(strings: pa.Array, offsets: np.ndarray) -> np.ndarray:
    buffer = strings.buffers()[2]
    if buffer is None:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(buffer, dtype=np.uint8)[int(offsets[0]) : int(offsets[-1])]


def _joined(parts: list[np.ndarray], dtype: type[np.generic]) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts and sum(map(len, parts)) else np.zeros(1, dtype)
