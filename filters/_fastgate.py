"""The gate's compiled kernels: address text parsed byte by byte, pseudonyms found in a hash table.

Flow records carry addresses as Arrow text. Parsing them with Arrow's regex kernels and
``inet_pton`` (policies._addresses) costs more than everything else the gate does, so the
gate parses a whole column here in one pass over its bytes: a dotted quad exactly as the
strict regex (and ``inet_pton``) reads it, IPv6 text exactly as glibc's ``inet_pton``
reads it, anything else version 0. The tests hold it to ``policies.parse_addresses``,
``ipaddress`` and ``socket.inet_pton`` on random and malformed text.

The pseudonym memo (_pseudomemo.py) keeps the addresses it has seen in an open-addressing
table of entry numbers; ``memo_find`` gives every targeted row its entry, adding the new
addresses, and ``gather_text`` writes the output column from the remembered pseudonyms and
the untouched rows' own text.

Like collectors' kernels these are built ahead of time (``python -m filters._aot`` into
``filters/_gatecore*.so``, with a hash of this file) and used only while that hash is
current; otherwise numba's JIT compiles them. The ahead-of-time path loads neither numba
nor LLVM.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, cast

import numpy as np

from collectors._fastkernels import _Arr, _checked, _Kernel, hash_sources, jit_forced, load_build

MODULE = "_gatecore"
SOURCES = ("_fastgate.py",)
_HERE = Path(__file__).resolve().parent

_RO8 = _Arr("uint8", 1, written=False, readonly=True)
_RO32 = _Arr("int32", 1, written=False, readonly=True)
_IN8 = _Arr("uint8", 1, written=False, readonly=True)
_IN32 = _Arr("int32", 1, written=False, readonly=True)
_IN64 = _Arr("int64", 1, written=False, readonly=True)
_INU64 = _Arr("uint64", 1, written=False, readonly=True)
_W8 = _Arr("uint8", 1)
_W32 = _Arr("int32", 1)
_WU32 = _Arr("uint32", 1)
_WU64 = _Arr("uint64", 1)

KERNELS: dict[str, _Kernel] = {
    "parse_text": _Kernel("_fastgate", "none", (_RO32, _RO8, _IN8, _W8, _WU32, _WU64, _WU64)),
    "memo_find": _Kernel(
        "_fastgate", "int64", (_W32, _W8, _WU64, _WU64, "int64", _IN8, _INU64, _INU64, _IN8, _W32)
    ),
    "gather_text": _Kernel("_fastgate", "none", (_IN32, _IN64, _IN8, _RO32, _RO8, _IN32, _W8)),
    "decode_ids": _Kernel("_fastgate", "int64", (_RO32, _RO8, _IN8, _Arr("uint8", 2), _W8)),
    "encode_ids": _Kernel("_fastgate", "none", (_Arr("uint8", 2, written=False, readonly=True), _IN8, _W8)),
}


def source_hash() -> int:
    return hash_sources(_HERE, SOURCES)


@functools.cache
def current_build() -> ModuleType | None:
    """The ahead-of-time build when present and built from the current sources, else None."""
    return load_build(f"filters.{MODULE}", source_hash)


def module() -> ModuleType | None:
    return None if jit_forced() else current_build()


_F = TypeVar("_F", bound=Callable[..., Any])


def kernel(fn: _F) -> _F:
    """The build's export of the same name (behind its argument check), else ``numba.njit(cache=True)``.
    A helper only kernels call stays plain Python on the ahead-of-time path and is not called."""
    core = module()
    if core is None:
        from numba import njit

        return cast(_F, njit(cache=True)(fn))
    if fn.__name__ in KERNELS:
        return cast(_F, _checked(fn.__name__, getattr(core, fn.__name__), KERNELS[fn.__name__].args))
    return fn


# ---------------------------------------------------------------- parsing

# numba freezes module globals as constants; unsigned ones keep the 64-bit words unsigned
# (a mix of int64 and uint64 would be typed as float64)
_NONE = np.uint64(0)
_S16, _S32, _S48 = np.uint64(16), np.uint64(32), np.uint64(48)


# a character's value as a hex digit, or -1
_HEX_VALUE = np.full(256, -1, np.int64)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16)
_HEX_VALUE[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)


@kernel
def _pton4(data: Any, s: int, e: int) -> tuple[bool, int]:
    """A dotted quad in data[s:e]: four decimal octets, no leading zeros, none above 255."""
    value = 0
    octet = 0
    digits = 0
    dots = 0
    for i in range(s, e):
        c = data[i]
        if 48 <= c <= 57:
            if digits > 0 and octet == 0:  # a leading zero
                return False, 0
            octet = octet * 10 + (c - 48)
            if octet > 255:
                return False, 0
            digits += 1
        elif c == 46 and digits > 0:
            dots += 1
            if dots == 4:
                return False, 0
            value = (value << 8) | octet
            octet = 0
            digits = 0
        else:
            return False, 0
    if digits == 0 or dots != 3:
        return False, 0
    return True, (value << 8) | octet


@kernel
def _pton6(data: Any, s: int, e: int, groups: Any) -> tuple[bool, Any, Any]:
    """IPv6 text in data[s:e] as glibc's inet_pton6 reads it: (ok, upper 64 bits, lower 64 bits)."""
    if s == e:
        return False, _NONE, _NONE
    i = s
    if data[i] == 58:  # a leading ":" only as part of "::"
        i += 1
        if i == e or data[i] != 58:
            return False, _NONE, _NONE
    token = i
    seen = 0
    value = 0
    filled = 0
    gap = -1
    while i < e:
        c = data[i]
        i += 1
        d = _HEX_VALUE[c]
        if d >= 0:
            if seen == 4:
                return False, _NONE, _NONE
            value = (value << 4) | d
            seen += 1
            continue
        if c == 58:
            token = i
            if seen == 0:
                if gap >= 0:
                    return False, _NONE, _NONE
                gap = filled
                continue
            if i == e:  # a trailing single ":"
                return False, _NONE, _NONE
            if filled == 8:
                return False, _NONE, _NONE
            groups[filled] = np.uint64(value)
            filled += 1
            seen = 0
            value = 0
            continue
        if c == 46 and filled <= 6:
            ok, quad = _pton4(data, token, e)
            if ok:
                groups[filled] = np.uint64(quad >> 16)
                groups[filled + 1] = np.uint64(quad & 0xFFFF)
                filled += 2
                seen = 0
                break
        return False, _NONE, _NONE
    if seen > 0:
        if filled == 8:
            return False, _NONE, _NONE
        groups[filled] = np.uint64(value)
        filled += 1
    if gap >= 0:
        if filled == 8:  # "::" must stand for at least one group
            return False, _NONE, _NONE
        moved = filled - gap
        for k in range(moved - 1, -1, -1):
            groups[8 - moved + k] = groups[gap + k]
        for k in range(gap, 8 - moved):
            groups[k] = _NONE
        filled = 8
    if filled != 8:
        return False, _NONE, _NONE
    hi = (groups[0] << _S48) | (groups[1] << _S32) | (groups[2] << _S16) | groups[3]
    lo = (groups[4] << _S48) | (groups[5] << _S32) | (groups[6] << _S16) | groups[7]
    return True, hi, lo


@kernel
def parse_text(offsets: Any, data: Any, valid: Any, version: Any, v4: Any, hi: Any, lo: Any) -> None:
    """Row r's text is data[offsets[r]:offsets[r + 1]] (valid[r] == 0: a null, version 0)."""
    groups = np.zeros(8, np.uint64)
    for r in range(len(version)):
        version[r] = 0
        v4[r] = 0
        hi[r] = 0
        lo[r] = 0
        if valid[r] == 0:
            continue
        s = offsets[r]
        e = offsets[r + 1]
        colon = False
        for i in range(s, e):
            if data[i] == 58:
                colon = True
                break
        if colon:
            ok, h, low = _pton6(data, s, e, groups)
            if ok:
                version[r] = 6
                hi[r] = h
                lo[r] = low
        else:
            ok, quad = _pton4(data, s, e)
            if ok:
                version[r] = 4
                v4[r] = quad


# ---------------------------------------------------------------- the pseudonym memo


@kernel
def _slot(version: Any, hi: Any, lo: Any, mask: int) -> Any:
    """A well-mixed slot for an address (splitmix64's finalizer over its words)."""
    h = (hi * np.uint64(0x9E3779B97F4A7C15)) ^ lo ^ (np.uint64(version) << np.uint64(56))
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return np.int64(h & np.uint64(mask))


@kernel
def memo_find(
    slots: Any, kversion: Any, khi: Any, klo: Any, count: int,
    version: Any, hi: Any, lo: Any, targets: Any, entry: Any,
) -> int:
    """Each targeted row's entry (new addresses added from ``count`` on), -1 for the others;
    returns the new count. The caller leaves room: count plus the targets fit the entries,
    and the table (a power of two) is at most half full."""
    mask = len(slots) - 1
    for r in range(len(version)):
        if targets[r] == 0:
            entry[r] = -1
            continue
        v = version[r]
        h = hi[r]
        low = lo[r]
        s = _slot(v, h, low, mask)
        while True:
            e = slots[s]
            if e < 0:
                slots[s] = count
                kversion[count] = v
                khi[count] = h
                klo[count] = low
                entry[r] = count
                count += 1
                break
            if kversion[e] == v and khi[e] == h and klo[e] == low:
                entry[r] = e
                break
            s = (s + 1) & mask
    return count


@kernel
def gather_text(entry: Any, text_offsets: Any, text: Any, offsets: Any, data: Any, out_offsets: Any,
                out: Any) -> None:
    """Row r of the output: entry r's remembered text, or (entry -1) the row's own text."""
    for r in range(len(entry)):
        at = out_offsets[r]
        e = entry[r]
        if e >= 0:
            s = text_offsets[e]
            for k in range(text_offsets[e + 1] - s):
                out[at + k] = text[s + k]
        else:
            s = offsets[r]
            for k in range(offsets[r + 1] - s):
                out[at + k] = data[s + k]


# ---------------------------------------------------------------- flow ids

# a character's sextet, or 256 for a character that is not base64: OR-ed together, one test finds any
_SEXTET = np.full(256, 256, np.int64)
_SEXTET[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)] = np.arange(64)


@kernel
def decode_ids(offsets: Any, data: Any, valid: Any, digest: Any, problem: Any) -> int:
    """The first 16 hash bytes of each Community ID v1 ("1:" + base64 of 20 bytes) into
    digest[r]; problem[r] is 1 (not 30 bytes or no "1:"), 2 (no closing "="), 3 (not
    base64) or 0; a null row gives zeros. Returns how many rows have a problem."""
    bad = 0
    for r in range(len(problem)):
        problem[r] = 0
        if valid[r] == 0:
            for k in range(16):
                digest[r, k] = 0
            continue
        s = offsets[r]
        if offsets[r + 1] - s != 30 or data[s] != 49 or data[s + 1] != 58:
            problem[r] = 1
            bad += 1
            continue
        if data[s + 29] != 61:
            problem[r] = 2
            bad += 1
            continue
        # 27 characters before "=": the first 22 hold the 16 bytes kept, all 27 must be base64
        seen = 0
        for g in range(5):  # 4 characters are 3 bytes
            at = s + 2 + 4 * g
            word = (_SEXTET[data[at]] << 18) | (_SEXTET[data[at + 1]] << 12) | (_SEXTET[data[at + 2]] << 6) \
                | _SEXTET[data[at + 3]]
            seen |= _SEXTET[data[at]] | _SEXTET[data[at + 1]] | _SEXTET[data[at + 2]] | _SEXTET[data[at + 3]]
            digest[r, 3 * g] = (word >> 16) & 0xFF
            digest[r, 3 * g + 1] = (word >> 8) & 0xFF
            digest[r, 3 * g + 2] = word & 0xFF
        digest[r, 15] = ((_SEXTET[data[s + 22]] << 2) | (_SEXTET[data[s + 23]] >> 4)) & 0xFF
        for k in range(22, 29):
            seen |= _SEXTET[data[s + k]]
        if seen & 256:
            problem[r] = 3
            bad += 1
    return bad


@kernel
def encode_ids(cipher: Any, alphabet: Any, text: Any) -> None:
    """Row r of text (25 bytes): "p1:" and the first 22 base64 characters of cipher[r] (16 bytes)."""
    for r in range(cipher.shape[0]):
        at = r * 25
        text[at] = 112
        text[at + 1] = 49
        text[at + 2] = 58
        at += 3
        for g in range(5):
            b0 = np.int64(cipher[r, 3 * g])
            b1 = np.int64(cipher[r, 3 * g + 1])
            b2 = np.int64(cipher[r, 3 * g + 2])
            text[at] = alphabet[b0 >> 2]
            text[at + 1] = alphabet[((b0 & 3) << 4) | (b1 >> 4)]
            text[at + 2] = alphabet[((b1 & 15) << 2) | (b2 >> 6)]
            text[at + 3] = alphabet[b2 & 63]
            at += 4
        last = np.int64(cipher[r, 15])
        text[at] = alphabet[last >> 2]
        text[at + 1] = alphabet[(last & 3) << 4]
