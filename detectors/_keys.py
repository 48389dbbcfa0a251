"""64-bit keys for addresses and groups, computed column-wise with numpy.

Detectors group flows by addresses (and ports); grouping text is slow, grouping integers
fast. Each address text is hashed to 64 bits straight from the column's bytes, eight bytes
at a time through a strided view (no Python loop over rows). The hash is fixed (no
per-process seed), so keys agree across batches and runs; two different addresses share a
key with odds of about n²/2⁶⁵ (a million addresses: 3·10⁻⁸).

:class:`Names` keeps a batch's address column beside its keys, so a finding can name the
addresses it reports without any table from key to text that grows with the input: the
column lives as long as a window holds rows of its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from detectors._groups import member

U64: TypeAlias = npt.NDArray[np.uint64]
I64: TypeAlias = npt.NDArray[np.int64]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def mix(z: U64) -> U64:
    """splitmix64's finalizer: every input bit reaches every output bit (arrays wrap, never warn)."""
    z = z ^ (z >> _S30)
    z = z * _M1
    z = z ^ (z >> _S27)
    z = z * _M2
    return z ^ (z >> _S31)


def combine(*parts: npt.NDArray[np.generic]) -> U64:
    """One key for a tuple of columns (addresses' keys, ports, protocols)."""
    key = np.full(len(parts[0]), _GOLDEN, dtype=np.uint64)
    for part in parts:
        key = mix(key ^ (np.asarray(part).astype(np.uint64) * _GOLDEN))
    return key


_TAIL = np.array([0] + [(1 << (8 * i)) - 1 for i in range(1, 8)] + [(1 << 64) - 1], dtype=np.uint64)


def _words(values: pa.Array) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    """The offsets of a string array, and a view giving the 8 bytes (little-endian) at any offset."""
    buffers = values.buffers()
    n = len(values)
    offsets = np.frombuffer(buffers[1], dtype=np.int32, count=n + 1, offset=values.offset * 4).astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    padded = np.zeros(len(data) + 8, np.uint8)
    padded[: len(data)] = data
    return offsets, np.ndarray(shape=(len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))


def one_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A column as one array (a single chunk without a copy)."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def hash_text(values: pa.Array | pa.ChunkedArray) -> U64:
    """The 64-bit key of each string of a string array (a null is the empty string)."""
    values = one_array(values)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if values.null_count:
        values = pc.fill_null(values, "")
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    # eight bytes at every position of the text, without copying: row i's j-th word starts at offsets[i] + 8j
    offsets, window = _words(values)
    lengths = offsets[1:] - offsets[:-1]
    key = mix(lengths.astype(np.uint64) * _GOLDEN)
    last = len(window) - 1
    start = offsets[:-1]
    for j in range(-(-int(lengths.max()) // 8)):
        if j == 0:
            key = mix(key ^ (window[np.minimum(start, last)] & _TAIL[np.minimum(lengths, 8)]))
            continue
        longer = np.flatnonzero(lengths > 8 * j)  # later words: the long texts only (IPv6)
        word = window[np.minimum(start[longer] + 8 * j, last)]
        key[longer] = mix(key[longer] ^ (word & _TAIL[np.minimum(lengths[longer] - 8 * j, 8)]))
    return key


@dataclass(frozen=True, eq=False)
class Names:
    """An address column of one batch and its row keys: how a key finds its text again."""

    keys: U64
    text: pa.Array

    def lookup(self, wanted: U64) -> dict[int, str]:
        hit = np.flatnonzero(member(self.keys, wanted))
        if len(hit) == 0:
            return {}
        _, first = np.unique(self.keys[hit], return_index=True)
        hit = hit[first]
        texts = self.text.take(pa.array(hit)).to_pylist()
        return {int(k): str(t) for k, t in zip(self.keys[hit], texts, strict=True)}


def encode_addresses(column: pa.Array | pa.ChunkedArray) -> tuple[U64, Names]:
    """Row keys of an address column, and the names to find their text again."""
    column = one_array(column)
    keys = hash_text(column)
    return keys, Names(keys, column)


def resolve(names: list[Names], wanted: npt.ArrayLike) -> dict[int, str]:
    """The text of each wanted key, found in any of ``names`` (each searched once)."""
    want = np.unique(np.asarray(wanted, dtype=np.uint64))
    found: dict[int, str] = {}
    seen: set[int] = set()
    for book in names:
        if id(book) in seen:
            continue
        seen.add(id(book))
        missing = want[~np.isin(want, np.fromiter(found.keys(), np.uint64, len(found)))] if found else want
        if len(missing) == 0:
            break
        found.update(book.lookup(missing))
    return found


def leading_octets(values: pa.Array, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """For the texts at ``rows``: first octet * 256 + second octet of a dotted quad, or -2 for text with
    a colon (IPv6). A prefilter, exact for every dotted quad; anything else gets some number, and
    the caller parses what it keeps."""
    values = one_array(values)
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    if len(rows) == 0:
        return np.zeros(0, np.int64)
    offsets, window = _words(values)
    grid = window[np.minimum(offsets[rows], len(window) - 1)].view(np.uint8).reshape(-1, 8)
    c = [grid[:, k].astype(np.int16) for k in range(8)]
    dot = [x == 46 for x in c]
    d = [x - 48 for x in c]

    def number(at: int) -> npt.NDArray[np.int16]:
        """The octet of one to three digits starting at column ``at`` (ended by a dot)."""
        one, two = dot[at + 1], dot[at + 2] if at + 2 < 8 else np.zeros(len(rows), np.bool_)
        three = d[at] * 100 + d[at + 1] * 10 + (d[at + 2] if at + 2 < 8 else 0)
        return np.where(one, d[at], np.where(two, d[at] * 10 + d[at + 1], three))

    first = number(0)
    second = np.where(dot[1], number(2), np.where(dot[2], number(3), number(4)))
    lead = (first.astype(np.int64) & 0xFF) * 256 + (second.astype(np.int64) & 0xFF)
    colon = (c[0] == 58) | (c[1] == 58) | (c[2] == 58) | (c[3] == 58) | (c[4] == 58)
    return np.where(colon, -2, lead)
