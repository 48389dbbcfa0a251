"""The fast engine's table of first fragments, which lends their ports to the later ones."""

from __future__ import annotations

import numpy as np
from numba import njit

from collectors._fastdecode import (
    FIRST_FRAGMENT,
    OB_DHI,
    OB_DLO,
    OB_DPORT,
    OB_FRAG,
    OB_FRAGID,
    OB_IPV,
    OB_PROTO,
    OB_SHI,
    OB_SLO,
    OB_SPORT,
    P_ORPHAN,
)
from collectors._fasthash import _mix
from collectors._fastlayout import (
    FR_DHI,
    FR_DLO,
    FR_DPORT,
    FR_ID,
    FR_IPV,
    FR_PROTO,
    FR_SHI,
    FR_SLO,
    FR_SPORT,
    FR_TS,
    FRAG_LIFETIME_US,
    FRAG_SLOTS,
    FRAG_WAYS,
)


@njit(cache=True)
def _frag_group(ob):  # type: ignore[no-untyped-def]
    # OB_FRAGID holds the identification and the protocol of the key (decoder)
    h = _mix(np.uint64(ob[OB_SLO]) ^ _mix(np.uint64(ob[OB_DLO]) ^ np.uint64(ob[OB_FRAGID])))
    return np.int64(h & np.uint64(FRAG_SLOTS - 1)) & ~np.int64(FRAG_WAYS - 1)


@njit(cache=True)
def _frag_matches(FR, s, ob):  # type: ignore[no-untyped-def]
    return (FR[s, FR_IPV] == ob[OB_IPV] and FR[s, FR_SHI] == ob[OB_SHI] and FR[s, FR_SLO] == ob[OB_SLO]
            and FR[s, FR_DHI] == ob[OB_DHI] and FR[s, FR_DLO] == ob[OB_DLO] and FR[s, FR_ID] == ob[OB_FRAGID])


@njit(cache=True)
def _fragment(FR, ob, ts, probs):  # type: ignore[no-untyped-def]
    """Remember a first fragment's ports; give a later one its ports. False: an orphan.

    The table is bounded (a fragment flood cannot grow it): each key has a group of
    FRAG_WAYS slots; a new key takes a free or expired slot of its group, else the oldest.
    """
    group = _frag_group(ob)
    if ob[OB_FRAG] == FIRST_FRAGMENT:
        s = group
        for w in range(FRAG_WAYS):
            c = group + w
            if FR[c, FR_TS] < 0 or ts - FR[c, FR_TS] > FRAG_LIFETIME_US or _frag_matches(FR, c, ob):
                s = c
                break
            if FR[c, FR_TS] < FR[s, FR_TS]:
                s = c
        FR[s, FR_TS] = ts
        FR[s, FR_IPV], FR[s, FR_SHI], FR[s, FR_SLO] = ob[OB_IPV], ob[OB_SHI], ob[OB_SLO]
        FR[s, FR_DHI], FR[s, FR_DLO], FR[s, FR_PROTO] = ob[OB_DHI], ob[OB_DLO], ob[OB_PROTO]
        FR[s, FR_ID], FR[s, FR_SPORT], FR[s, FR_DPORT] = ob[OB_FRAGID], ob[OB_SPORT], ob[OB_DPORT]
        return True
    for w in range(FRAG_WAYS):
        s = group + w
        if FR[s, FR_TS] >= 0 and ts - FR[s, FR_TS] <= FRAG_LIFETIME_US and _frag_matches(FR, s, ob):
            ob[OB_PROTO] = FR[s, FR_PROTO]  # the transport protocol the first fragment showed
            ob[OB_SPORT] = FR[s, FR_SPORT]
            ob[OB_DPORT] = FR[s, FR_DPORT]
            return True
    probs[P_ORPHAN] += 1
    return False
