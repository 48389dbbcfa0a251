"""Text columns of ended flows, compiled: addresses, Community IDs, tunnel parents.

Formatting tens of thousands of addresses and SHA-1 hashes a second one by one in Python
costs more than decoding the packets, so it is done here in one pass per batch. Addresses
are written exactly as glibc's ``inet_ntop`` writes them (RFC 5952, with the dotted tail
for IPv4-mapped and -compatible IPv6); Community ID v1 as in _communityid.py. The tests
hold both to their Python twins.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", dtype=np.uint8).copy()
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()
_K = np.array([0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6], dtype=np.uint64)
FLOW_ID_LEN = 30  # "1:" + 28 base64 characters


_M32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _rotl(x, n):  # type: ignore[no-untyped-def]
    return ((x << np.uint64(n)) | (x >> np.uint64(32 - n))) & _M32


@njit(cache=True)
def _sha1_short(msg, length, digest):  # type: ignore[no-untyped-def]
    """SHA-1 of a message of at most 55 bytes (one block), into ``digest`` (20 bytes).

    32-bit words are carried in uint64 and masked, as numba widens small integers.
    """
    block = np.zeros(64, dtype=np.uint64)
    for k in range(length):
        block[k] = msg[k]
    block[length] = 0x80
    bits = length * 8
    block[62] = (bits >> 8) & 0xFF
    block[63] = bits & 0xFF
    w = np.zeros(80, dtype=np.uint64)
    for t in range(16):
        w[t] = (block[4 * t] << np.uint64(24)) | (block[4 * t + 1] << np.uint64(16)) \
            | (block[4 * t + 2] << np.uint64(8)) | block[4 * t + 3]
    for t in range(16, 80):
        w[t] = _rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1)
    h = np.array([0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0], dtype=np.uint64)
    a, b, c, d, e = h[0], h[1], h[2], h[3], h[4]
    for t in range(80):
        if t < 20:
            f = (b & c) | ((~b & _M32) & d)
        elif t < 40 or t >= 60:
            f = b ^ c ^ d
        else:
            f = (b & c) | (b & d) | (c & d)
        temp = (_rotl(a, 5) + f + e + _K[t // 20] + w[t]) & _M32
        e = d
        d = c
        c = _rotl(b, 30)
        b = a
        a = temp
    h[0] = (h[0] + a) & _M32
    h[1] = (h[1] + b) & _M32
    h[2] = (h[2] + c) & _M32
    h[3] = (h[3] + d) & _M32
    h[4] = (h[4] + e) & _M32
    for k in range(5):
        v = h[k]
        digest[4 * k] = (v >> np.uint64(24)) & np.uint64(0xFF)
        digest[4 * k + 1] = (v >> np.uint64(16)) & np.uint64(0xFF)
        digest[4 * k + 2] = (v >> np.uint64(8)) & np.uint64(0xFF)
        digest[4 * k + 3] = v & np.uint64(0xFF)


@njit(cache=True)
def _put_addr(msg, at, version, hi, lo):  # type: ignore[no-untyped-def]
    if version == 4:
        for k in range(4):
            msg[at + k] = (lo >> (24 - 8 * k)) & 0xFF
        return at + 4
    for k in range(8):
        msg[at + k] = (hi >> (56 - 8 * k)) & 0xFF
        msg[at + 8 + k] = (lo >> (56 - 8 * k)) & 0xFF
    return at + 16


@njit(cache=True)
def _one_way_icmp(proto, sport):  # type: ignore[no-untyped-def]
    if proto == 1:
        return not (sport == 0 or sport == 8 or sport == 9 or sport == 10 or (13 <= sport <= 18))
    if proto == 58:
        return not (128 <= sport <= 131 or 133 <= sport <= 136 or sport == 139 or sport == 140
                    or sport == 144 or sport == 145)
    return False


@njit(cache=True)
def _less(version, ahi, alo, bhi, blo):  # type: ignore[no-untyped-def]
    """Address a < address b in network byte order (unsigned compare of the halves)."""
    if version == 6 and ahi != bhi:
        return np.uint64(ahi) < np.uint64(bhi)
    return np.uint64(alo) < np.uint64(blo)


@njit(cache=True)
def write_flow_id(out, at, version, proto, shi, slo, dhi, dlo, sport, dport, msg, digest):  # type: ignore[no-untyped-def]
    """Community ID v1 (seed 0) of a flow into ``out[at : at + 30]``."""
    reverse = _less(version, dhi, dlo, shi, slo) or (shi == dhi and slo == dlo and dport < sport)
    swap = reverse and not _one_way_icmp(proto, sport)
    if swap:
        shi, slo, dhi, dlo, sport, dport = dhi, dlo, shi, slo, dport, sport
    msg[0] = 0
    msg[1] = 0
    k = _put_addr(msg, 2, version, shi, slo)
    k = _put_addr(msg, k, version, dhi, dlo)
    msg[k] = proto
    msg[k + 1] = 0
    k += 2
    if proto == 1 or proto == 6 or proto == 17 or proto == 58 or proto == 132:
        msg[k] = (sport >> 8) & 0xFF
        msg[k + 1] = sport & 0xFF
        msg[k + 2] = (dport >> 8) & 0xFF
        msg[k + 3] = dport & 0xFF
        k += 4
    _sha1_short(msg, k, digest)
    out[at] = 49  # '1'
    out[at + 1] = 58  # ':'
    o = at + 2
    for g in range(7):  # 20 bytes -> 27 characters and one '='
        b0 = np.int64(digest[3 * g])
        b1 = np.int64(digest[3 * g + 1]) if 3 * g + 1 < 20 else 0
        b2 = np.int64(digest[3 * g + 2]) if 3 * g + 2 < 20 else 0
        v = (b0 << 16) | (b1 << 8) | b2
        out[o] = _B64[(v >> 18) & 63]
        out[o + 1] = _B64[(v >> 12) & 63]
        out[o + 2] = _B64[(v >> 6) & 63]
        out[o + 3] = _B64[v & 63] if 3 * g + 2 < 20 else 61  # '='
        o += 4


@njit(cache=True)
def _put_decimal(out, o, v):  # type: ignore[no-untyped-def]
    if v >= 100:
        out[o] = 48 + v // 100
        o += 1
    if v >= 10:
        out[o] = 48 + (v // 10) % 10
        o += 1
    out[o] = 48 + v % 10
    return o + 1


@njit(cache=True)
def _put_dotted(out, o, v):  # type: ignore[no-untyped-def]
    for k in range(4):
        if k:
            out[o] = 46  # '.'
            o += 1
        o = _put_decimal(out, o, (v >> (24 - 8 * k)) & 0xFF)
    return o


@njit(cache=True)
def write_address(out, o, version, hi, lo):  # type: ignore[no-untyped-def]
    """An address as text at ``out[o:]``; returns the end offset (at most 45 bytes)."""
    if version == 4:
        return _put_dotted(out, o, lo & 0xFFFFFFFF)
    words = np.empty(8, dtype=np.int64)
    for k in range(4):
        words[k] = (hi >> (48 - 16 * k)) & 0xFFFF
        words[4 + k] = (lo >> (48 - 16 * k)) & 0xFFFF
    best, best_len, cur, cur_len = -1, 0, -1, 0
    for k in range(8):
        if words[k] == 0:
            if cur < 0:
                cur, cur_len = k, 1
            else:
                cur_len += 1
            if cur_len > best_len:
                best, best_len = cur, cur_len
        else:
            cur, cur_len = -1, 0
    if best_len < 2:
        best = -1
    k = 0
    while k < 8:
        if k == best:
            if k == 0:
                out[o] = 58
                o += 1
            out[o] = 58
            o += 1
            k += best_len
            continue
        # glibc writes the last 32 bits dotted after 6 zero words, or 5 and ffff
        if k == 6 and best == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
            return _put_dotted(out, o, lo & 0xFFFFFFFF)
        v = words[k]
        started = False
        for shift in (12, 8, 4, 0):
            digit = (v >> shift) & 0xF
            if digit or started or shift == 0:
                out[o] = _HEX[digit]
                o += 1
                started = True
        if k < 7:
            out[o] = 58
            o += 1
        k += 1
    return o


@njit(cache=True)
def format_flows(version, proto, ohi, olo, oport, rhi, rlo, rport, npar, par):  # type: ignore[no-untyped-def]
    """Text buffers of a batch: (address data, offsets for orig then resp, flow ids, parent ids, their offsets).

    ``par`` holds two parent keys a row, 8 columns each (version, proto, src, dst, ports).
    """
    n = version.shape[0]
    addr = np.empty(n * 2 * 46, dtype=np.uint8)
    addr_off = np.zeros(2 * n + 1, dtype=np.int32)
    o = 0
    for r in range(n):
        o = write_address(addr, o, version[r], ohi[r], olo[r])
        addr_off[r + 1] = o
    for r in range(n):
        o = write_address(addr, o, version[r], rhi[r], rlo[r])
        addr_off[n + r + 1] = o
    msg = np.zeros(64, dtype=np.uint8)
    digest = np.zeros(20, dtype=np.uint8)
    ids = np.empty(n * 30, dtype=np.uint8)
    for r in range(n):
        write_flow_id(ids, r * 30, version[r], proto[r], ohi[r], olo[r], rhi[r], rlo[r], oport[r], rport[r],
                      msg, digest)
    par_ids = np.empty(n * 2 * 30, dtype=np.uint8)
    par_off = np.zeros(n + 1, dtype=np.int32)
    count = 0
    for r in range(n):
        first = count
        for k in range(npar[r]):
            c = k * 8
            write_flow_id(par_ids, count * 30, par[r, c], par[r, c + 1], par[r, c + 2], par[r, c + 3],
                          par[r, c + 4], par[r, c + 5], par[r, c + 6], par[r, c + 7], msg, digest)
            count += 1
        if count - first == 2:  # sorted, as the contract says
            a, b = first * 30, (first + 1) * 30
            for j in range(30):
                if par_ids[a + j] != par_ids[b + j]:
                    if par_ids[a + j] > par_ids[b + j]:
                        for q in range(30):
                            par_ids[a + q], par_ids[b + q] = par_ids[b + q], par_ids[a + q]
                    break
        par_off[r + 1] = count
    return addr[:o], addr_off, ids, par_ids[: count * 30], par_off
