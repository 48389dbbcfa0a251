"""Hashes of the fast engine's flow keys: direction-free, so both sides of a flow meet in one slot."""

from __future__ import annotations

import numpy as np
from numba import njit

from collectors._fastdecode import (
    OB_CTX0,
    OB_CTX1,
    OB_DHI,
    OB_DLO,
    OB_DPORT,
    OB_IPV,
    OB_PROTO,
    OB_SHI,
    OB_SLO,
    OB_SPORT,
)


@njit(cache=True, inline="always")
def _mix(x):  # type: ignore[no-untyped-def]
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB9FE1A85EC53)
    x ^= x >> np.uint64(33)
    return x


@njit(cache=True, inline="always")
def _end_hash(hi, lo, port):  # type: ignore[no-untyped-def]
    return _mix(np.uint64(hi) ^ _mix(np.uint64(lo) ^ (np.uint64(port) << np.uint64(48))))


@njit(cache=True, inline="always")
def _hash_fields(shi, slo, sport, dhi, dlo, dport, ctx0, ctx1, ipv, proto):  # type: ignore[no-untyped-def]
    # the sum of the two ends' hashes does not depend on the direction
    ends = _end_hash(shi, slo, sport) + _end_hash(dhi, dlo, dport)
    ctx = _mix(np.uint64(ctx0) ^ _mix(np.uint64(ctx1) ^ np.uint64(ipv * 256 + proto)))
    return np.int64(_mix(ends ^ ctx) >> np.uint64(2)) | (np.int64(1) << 62)


@njit(cache=True, inline="always")
def _key_hash(ob):  # type: ignore[no-untyped-def]
    """The hash of observation row ``ob``."""
    return _hash_fields(ob[OB_SHI], ob[OB_SLO], ob[OB_SPORT], ob[OB_DHI], ob[OB_DLO], ob[OB_DPORT],
                        ob[OB_CTX0], ob[OB_CTX1], ob[OB_IPV], ob[OB_PROTO])


@njit(cache=True, inline="always")
def _key_hash_at(obs, c, j):  # type: ignore[no-untyped-def]
    """The hash of ``obs[c, j]``, read in place (a slice would be an array view to count)."""
    return _hash_fields(obs[c, j, OB_SHI], obs[c, j, OB_SLO], obs[c, j, OB_SPORT], obs[c, j, OB_DHI],
                        obs[c, j, OB_DLO], obs[c, j, OB_DPORT], obs[c, j, OB_CTX0], obs[c, j, OB_CTX1],
                        obs[c, j, OB_IPV], obs[c, j, OB_PROTO])


@njit(cache=True, inline="always")
def _key_word(oport, rport, proto, ipv):  # type: ignore[no-untyped-def]
    return oport | (rport << 16) | (proto << 32) | (ipv << 40)
