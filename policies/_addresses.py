"""Addresses as numbers: a vectorized codec between Arrow text columns and integers.

Flow records carry addresses as text ("192.0.2.1", "2001:db8::1"); the gate classifies
and pseudonymizes them as numbers. Parsing works on the distinct values of a column (flows
repeat their endpoints) and maps the result back onto every row: IPv4 dotted quads through
Arrow kernels (a strict regex, then a split at the dots), IPv6 through ``inet_pton`` one
distinct value at a time.

What counts as an address: a dotted quad of decimal octets without leading zeros (as
``ipaddress`` reads it), or IPv6 text as ``inet_pton`` reads it (which agrees with
``ipaddress``), without a zone index. Anything else is version 0, never an exception: the
caller decides, and the gate fails closed on it. Only a column that is not text at all is
an error.

Text is written the way the collectors write it (glibc's ``inet_ntop``): RFC 5952, and for
IPv4-mapped (``::ffff:0:0/96``) and -compatible (``::/96`` from ``::0.1.0.0`` on) IPv6 the
last 32 bits dotted. Outside those two /96 this is exactly what ``ipaddress`` prints (Python
3.13's ``ipaddress`` also dots the mapped ones), and an address the collectors wrote comes
out of parse and format unchanged.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from policies._errors import GateViolation, PolicyError

_U8: TypeAlias = npt.NDArray[np.uint8]
_U32: TypeAlias = npt.NDArray[np.uint32]
_U64: TypeAlias = npt.NDArray[np.uint64]
_I64: TypeAlias = npt.NDArray[np.int64]
_Bool: TypeAlias = npt.NDArray[np.bool_]
Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# RE2: "$" is the end of the text only, so "192.0.2.1\n" is no address. Matching, then
# splitting the matches at the dots, is twice as fast as extracting the groups.
_DOTTED_QUAD = "^" + r"\.".join([_OCTET] * 4) + "$"
_INVALID6 = bytes(16)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_COLON, _DOT = ord(":"), ord(".")
_ALL64 = (1 << 64) - 1


@dataclass(frozen=True, eq=False)
class ParsedAddresses:
    """One column of addresses as numbers, row for row.

    ``version`` is 4, 6, or 0 for a null or a value that is no address; ``v4`` is the IPv4
    address (0 unless version 4); ``v6_hi`` / ``v6_lo`` are the upper and lower 64 bits of
    the IPv6 address (0 unless version 6).
    """

    version: _U8
    v4: _U32
    v6_hi: _U64
    v6_lo: _U64

    def __len__(self) -> int:
        return len(self.version)

    def select(self, rows: npt.NDArray[Any]) -> ParsedAddresses:
        """The rows a boolean mask or an index array picks, in that order."""
        return ParsedAddresses(self.version[rows], self.v4[rows], self.v6_hi[rows], self.v6_lo[rows])

    def distinct(self) -> tuple[ParsedAddresses, npt.NDArray[np.intp]]:
        """Each distinct address once, and for every row the index of its address there."""
        inverse = np.empty(len(self), np.intp)
        firsts = []
        found = 0
        for version in (4, 6, 0):
            rows = np.flatnonzero(self.version == version)
            if not len(rows):
                continue
            if version == 4:  # integers sort far faster than 16-byte records
                _, first, where = np.unique(self.v4[rows], return_index=True, return_inverse=True)
            else:
                pairs = np.stack([self.v6_hi[rows], self.v6_lo[rows]], axis=1)
                packed = np.ascontiguousarray(pairs).view(np.dtype((np.void, 16))).ravel()
                _, first, where = np.unique(packed, return_index=True, return_inverse=True)
            inverse[rows] = where.ravel() + found
            firsts.append(rows[first])
            found += len(first)
        return self.select(np.concatenate(firsts) if firsts else np.empty(0, np.intp)), inverse


def parse_addresses(arr: pa.Array | pa.ChunkedArray) -> ParsedAddresses:
    """Parse a column of address text (string, large_string, string_view or a dictionary
    of those), row for row; raises GateViolation if the column is not text."""
    encoded = encode_distinct(arr)
    distinct = parse_distinct(encoded.dictionary)
    # one extra slot, all zeros, for the null rows
    slot = len(encoded.dictionary)
    codes = pc.fill_null(encoded.indices, slot).to_numpy(zero_copy_only=False)
    return ParsedAddresses(
        version=np.append(distinct.version, np.uint8(0))[codes],
        v4=np.append(distinct.v4, np.uint32(0))[codes],
        v6_hi=np.append(distinct.v6_hi, np.uint64(0))[codes],
        v6_lo=np.append(distinct.v6_lo, np.uint64(0))[codes],
    )


class AddressMemo:
    """Addresses parsed in earlier batches, found again by Arrow's hash lookup.

    A tap sees the same subscribers and servers batch after batch; looking a column up in
    the addresses already parsed (``index_in``) costs less than parsing it again, and only
    the addresses new to the memo are parsed. Bounded: past ``limit`` distinct values it
    starts again empty.
    """

    def __init__(self, limit: int = 1 << 18) -> None:
        self.limit = limit
        self._known = pa.array([], pa.string())
        self._parsed = _empty(0)

    def parse(self, arr: pa.Array | pa.ChunkedArray) -> ParsedAddresses:
        """As :func:`parse_addresses`, row for row."""
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not pa.types.is_string(arr.type):
            return parse_addresses(arr)
        n = len(arr)
        found = np.full(n, -1, np.int64)
        if len(self._known):
            at = pc.index_in(arr, value_set=self._known)
            found = pc.fill_null(at, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        out = _empty(n)
        hit = found >= 0
        if hit.any():
            known = self._parsed.select(found[hit])
            out.version[hit], out.v4[hit] = known.version, known.v4
            out.v6_hi[hit], out.v6_lo[hit] = known.v6_hi, known.v6_lo
        miss = ~hit & arr.is_valid().to_numpy(zero_copy_only=False)
        if miss.any():
            rows = np.flatnonzero(miss)
            fresh = arr.take(pa.array(rows))
            encoded = pc.dictionary_encode(fresh)
            distinct = parse_distinct(encoded.dictionary)
            codes = encoded.indices.to_numpy(zero_copy_only=False)
            out.version[rows], out.v4[rows] = distinct.version[codes], distinct.v4[codes]
            out.v6_hi[rows], out.v6_lo[rows] = distinct.v6_hi[codes], distinct.v6_lo[codes]
            self._remember(encoded.dictionary, distinct)
        return out

    def _remember(self, values: pa.Array, parsed: ParsedAddresses) -> None:
        if len(self._known) + len(values) > self.limit:
            self._known, self._parsed = pa.array([], pa.string()), _empty(0)
        self._known = pa.concat_arrays([self._known, values.cast(pa.string())])
        self._parsed = ParsedAddresses(
            np.concatenate([self._parsed.version, parsed.version]),
            np.concatenate([self._parsed.v4, parsed.v4]),
            np.concatenate([self._parsed.v6_hi, parsed.v6_hi]),
            np.concatenate([self._parsed.v6_lo, parsed.v6_lo]),
        )


def encode_distinct(arr: pa.Array | pa.ChunkedArray) -> pa.DictionaryArray:
    """A column of address text as its distinct values (the dictionary, no nulls, each
    value once) and one index a row (null for a null row); GateViolation if not text."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not isinstance(arr, pa.Array):
        raise GateViolation(f"addresses must be an Arrow string array, not {type(arr).__name__}")
    if pa.types.is_null(arr.type):
        return pa.DictionaryArray.from_arrays(pa.nulls(len(arr), pa.int32()), pa.array([], pa.string()))
    if pa.types.is_dictionary(arr.type) and _is_text(arr.type.value_type):
        # re-encoded so that every dictionary value is used once: an unused entry is no row
        arr = arr.cast(arr.type.value_type)
    if not _is_text(arr.type):
        raise GateViolation(f"addresses must be an Arrow string array, not {arr.type}")
    if pa.types.is_string_view(arr.type):  # the regex kernels take offset strings only
        arr = arr.cast(pa.large_string())
    return pc.dictionary_encode(arr)


def parse_distinct(values: pa.Array) -> ParsedAddresses:
    """Parse a string array row by row without looking for repeats (the dictionary of a
    dictionary-encoded column, say). Nulls are version 0."""
    n = len(values)
    parsed = _empty(n)
    if n == 0:
        return parsed
    is4 = pc.fill_null(pc.match_substring_regex(values, _DOTTED_QUAD), False)
    if pc.any(is4).as_py():
        octets = pc.cast(pc.split_pattern(values.filter(is4), ".").flatten(), pa.uint32()).to_numpy()
        octets = octets.reshape(-1, 4) << np.array([24, 16, 8, 0], dtype=np.uint32)
        where4 = np.flatnonzero(is4.to_numpy(zero_copy_only=False))
        parsed.v4[where4] = np.bitwise_or.reduce(octets, axis=1)
        parsed.version[where4] = 4
    colon = pc.fill_null(pc.match_substring(values, ":"), False)
    if pc.any(colon).as_py():
        where6 = np.flatnonzero(colon.to_numpy(zero_copy_only=False))
        packed, ok = _inet_pton6(values.filter(colon).to_pylist())
        words = np.frombuffer(packed, dtype=">u8").reshape(-1, 2).astype(np.uint64)
        good = where6[ok]
        parsed.v6_hi[good] = words[ok, 0]
        parsed.v6_lo[good] = words[ok, 1]
        parsed.version[good] = 6
    return parsed


def _inet_pton6(texts: list[Any]) -> tuple[bytes, _Bool]:
    out: list[bytes] = []
    ok = np.ones(len(texts), dtype=np.bool_)
    for i, text in enumerate(texts):
        try:
            out.append(socket.inet_pton(socket.AF_INET6, text))
        except (OSError, ValueError, TypeError):  # not an address (or not text): version 0
            out.append(_INVALID6)
            ok[i] = False
    return b"".join(out), ok


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _empty(n: int) -> ParsedAddresses:
    return ParsedAddresses(
        version=np.zeros(n, dtype=np.uint8),
        v4=np.zeros(n, dtype=np.uint32),
        v6_hi=np.zeros(n, dtype=np.uint64),
        v6_lo=np.zeros(n, dtype=np.uint64),
    )


# ---------------------------------------------------------------- formatting


def format_ipv4(v4: _U32) -> pa.StringArray:
    """Dotted-quad text of IPv4 addresses."""
    v4 = np.asarray(v4, dtype=np.uint32)
    n = len(v4)
    octets = (v4[:, None] >> np.array([24, 16, 8, 0], dtype=np.uint32)[None, :]) & np.uint32(0xFF)
    # a grid of 4 digit slots per octet (3 digits, then "."), trimmed by a keep mask
    grid = np.empty((n, 4, 4), dtype=np.uint8)
    grid[:, :, 0] = _DIGITS[octets // 100]
    grid[:, :, 1] = _DIGITS[(octets // 10) % 10]
    grid[:, :, 2] = _DIGITS[octets % 10]
    grid[:, :, 3] = _DOT
    keep = np.empty((n, 4, 4), dtype=np.bool_)
    keep[:, :, 0] = octets >= 100
    keep[:, :, 1] = octets >= 10
    keep[:, :, 2] = True
    keep[:, :, 3] = True
    keep[:, 3, 3] = False
    return _from_grid(grid.reshape(n, 16), keep.reshape(n, 16))


def format_ipv6(hi: _U64, lo: _U64) -> pa.StringArray:
    """RFC 5952 text of IPv6 addresses, as glibc's ``inet_ntop`` writes it."""
    hi = np.asarray(hi, dtype=np.uint64)
    lo = np.asarray(lo, dtype=np.uint64)
    n = len(hi)
    shifts = np.array([48, 32, 16, 0], dtype=np.uint64)
    groups = np.concatenate([hi[:, None] >> shifts, lo[:, None] >> shifts], axis=1) & np.uint64(0xFFFF)
    start, length = _longest_zero_run(groups == 0)
    dotted = (start == 0) & ((length == 6) | ((length == 5) & (groups[:, 5] == 0xFFFF)))
    if not dotted.any():
        return _colon_hex(groups, start, length)
    plain = np.flatnonzero(~dotted)
    tail = np.flatnonzero(dotted)
    low32 = (lo[tail] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    prefix = pa.array(np.where(length[tail] == 5, "::ffff:", "::"))
    dotted_text = pc.binary_join_element_wise(prefix, format_ipv4(low32), "")
    return _scatter(n, [(plain, _colon_hex(groups[plain], start[plain], length[plain])), (tail, dotted_text)])


def format_addresses(parsed: ParsedAddresses) -> pa.StringArray:
    """Text of every row by its version; version 0 rows are null."""
    where4 = np.flatnonzero(parsed.version == 4)
    where6 = np.flatnonzero(parsed.version == 6)
    return _scatter(
        len(parsed),
        [
            (where4, format_ipv4(parsed.v4[where4])),
            (where6, format_ipv6(parsed.v6_hi[where6], parsed.v6_lo[where6])),
        ],
    )


def _longest_zero_run(zero: _Bool) -> tuple[_I64, _I64]:
    """Start and length of each row's first longest run of zero groups (length 0 and start
    8 where no run reaches the two groups RFC 5952 needs before it writes "::")."""
    n = len(zero)
    run = np.zeros((n, 8), dtype=np.int64)
    run[:, 0] = zero[:, 0]
    for k in range(1, 8):
        run[:, k] = (run[:, k - 1] + 1) * zero[:, k]
    end = np.argmax(run, axis=1)  # the first maximum: RFC 5952 takes the first longest run
    length = run[np.arange(n), end]
    start = end - length + 1
    none = length < 2
    return np.where(none, 8, start), np.where(none, 0, length)


def _colon_hex(groups: _U64, start: _I64, length: _I64) -> pa.StringArray:
    n = len(groups)
    # column 0: the leading ":" of a run at the start; then per group 4 hex digits and ":"
    grid = np.empty((n, 41), dtype=np.uint8)
    keep = np.zeros((n, 41), dtype=np.bool_)
    grid[:, 0] = _COLON
    body = grid[:, 1:].reshape(n, 8, 5)
    kept = keep[:, 1:].reshape(n, 8, 5)
    for d in range(4):
        body[:, :, d] = _HEX[(groups >> np.uint64(12 - 4 * d)) & np.uint64(0xF)]
    body[:, :, 4] = _COLON
    k = np.arange(8)[None, :]
    in_run = (k >= start[:, None]) & (k < (start + length)[:, None])
    shown = ~in_run
    kept[:, :, 0] = shown & (groups > 0xFFF)
    kept[:, :, 1] = shown & (groups > 0xFF)
    kept[:, :, 2] = shown & (groups > 0xF)
    kept[:, :, 3] = shown
    # a group's ":" follows it unless it is the last; in a run only the last group's ":"
    # stays, which with the ":" before the run (or the leading one) makes "::"
    kept[:, :, 4] = (shown & (k < 7)) | (in_run & (k == (start + length - 1)[:, None]))
    keep[:, 0] = (start == 0) & (length > 0)
    return _from_grid(grid, keep)


def _from_grid(grid: _U8, keep: _Bool) -> pa.StringArray:
    """A string per row: the row's kept characters, in order."""
    lengths = keep.sum(axis=1, dtype=np.int64)
    offsets = np.zeros(len(grid) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = np.ascontiguousarray(grid[keep])
    return pa.StringArray.from_buffers(len(grid), pa.py_buffer(offsets), pa.py_buffer(data))


def _scatter(n: int, parts: Sequence[tuple[_I64, pa.Array]]) -> pa.StringArray:
    """Rows ``where`` of a length-n string array from each part; rows no part names are null."""
    where = np.concatenate([w for w, _ in parts] + [np.zeros(0, dtype=np.int64)])
    values = pa.concat_arrays([p.cast(pa.string()) for _, p in parts] + [pa.nulls(1, pa.string())])
    position = np.full(n, len(where), dtype=np.int64)
    position[where] = np.arange(len(where))
    return values.take(pa.array(position))


# ---------------------------------------------------------------- prefix lists


@dataclass(frozen=True, eq=False)
class PrefixSet:
    """A prefix list compiled for membership tests: IPv4 and short IPv6 prefixes as sorted
    disjoint intervals (one binary search a row), IPv6 longer than /64 per length."""

    v4_start: _U32
    v4_end: _U32
    v6_start: _U64  # intervals of the upper 64 bits, from prefixes of /64 or shorter
    v6_end: _U64
    v6_long: tuple[tuple[int, npt.NDArray[np.void]], ...]  # (length, its (hi, lo) networks)

    @classmethod
    def compile(cls, prefixes: Sequence[Network]) -> PrefixSet:
        v4: list[ipaddress.IPv4Network] = []
        v6: list[ipaddress.IPv6Network] = []
        for p in prefixes:
            if isinstance(p, ipaddress.IPv4Network):
                v4.append(p)
            elif isinstance(p, ipaddress.IPv6Network):
                v6.append(p)
            else:
                raise PolicyError(f"prefix {p!r} is not an IPv4Network or IPv6Network")
        nets4 = sorted(ipaddress.collapse_addresses(v4))
        nets6 = sorted(ipaddress.collapse_addresses(v6))
        short6 = [p for p in nets6 if p.prefixlen <= 64]
        long6: dict[int, list[tuple[int, int]]] = {}
        for p in nets6:
            if p.prefixlen > 64:
                net = int(p.network_address)
                long6.setdefault(p.prefixlen, []).append((net >> 64, net & _ALL64))
        return cls(
            v4_start=np.array([int(p.network_address) for p in nets4], dtype=np.uint32),
            v4_end=np.array([int(p.broadcast_address) for p in nets4], dtype=np.uint32),
            v6_start=np.array([int(p.network_address) >> 64 for p in short6], dtype=np.uint64),
            v6_end=np.array([int(p.broadcast_address) >> 64 for p in short6], dtype=np.uint64),
            v6_long=tuple(
                (length, _pairs(np.array(nets, dtype=np.uint64).reshape(-1, 2)))
                for length, nets in sorted(long6.items())
            ),
        )


def in_prefixes(parsed: ParsedAddresses, prefixes: Sequence[Network] | PrefixSet) -> _Bool:
    """Which rows hold an address inside any of the prefixes (an IPv4 prefix holds only
    IPv4 addresses, as in ``ipaddress``: ``::ffff:192.0.2.1`` is not in 192.0.2.0/24).

    A plain sequence is compiled once and cached by its contents (the last 8 lists); a
    PrefixSet skips even the hashing of a long list on every call.
    """
    table = prefixes if isinstance(prefixes, PrefixSet) else _compiled(tuple(prefixes))
    hit = np.zeros(len(parsed), dtype=np.bool_)
    if len(table.v4_start):
        hit |= _in_intervals(parsed.v4, table.v4_start, table.v4_end) & (parsed.version == 4)
    if len(table.v6_start) or table.v6_long:
        is6 = parsed.version == 6
        if len(table.v6_start):
            hit |= _in_intervals(parsed.v6_hi, table.v6_start, table.v6_end) & is6
        for length, nets in table.v6_long:
            # the few rows whose upper half can match are the only ones worth pairing up
            rows = np.flatnonzero(is6 & ~hit & np.isin(parsed.v6_hi, _upper(nets)))
            mask = np.uint64((_ALL64 << (128 - length)) & _ALL64)
            keys = np.stack([parsed.v6_hi[rows], parsed.v6_lo[rows] & mask], axis=1)
            hit[rows[np.isin(_pairs(keys), nets)]] = True
    return hit


@lru_cache(maxsize=8)
def _compiled(prefixes: tuple[Network, ...]) -> PrefixSet:
    return PrefixSet.compile(prefixes)


def _in_intervals(x: npt.NDArray[Any], start: npt.NDArray[Any], end: npt.NDArray[Any]) -> _Bool:
    """x in any [start, end]; the intervals are sorted and disjoint."""
    i = np.searchsorted(start, x, side="right") - 1
    inside: _Bool = (i >= 0) & (x <= end[np.maximum(i, 0)])
    return inside


def _pairs(words: _U64) -> npt.NDArray[np.void]:
    """(hi, lo) rows as 16-byte opaque values that np.isin can compare for equality."""
    return np.ascontiguousarray(words, dtype=np.uint64).view(np.dtype((np.void, 16))).ravel()


def _upper(pairs: npt.NDArray[np.void]) -> _U64:
    return pairs.view(np.uint64).reshape(-1, 2)[:, 0]


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is ``localhost`` or a loopback address: the only place plain HTTP may go or listen."""
    if host is None:
        return False
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
