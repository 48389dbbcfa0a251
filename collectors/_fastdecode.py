"""The fast engine's packet decoder: one packet's bytes in, its observations out.

Compiled with numba. Every read is bounds-checked against the captured length first: the
input is hostile by assumption. The decoder writes into a small scratch array (one row per
observation, columns ``OB_*``); payload bytes, MAC addresses and GTP TEIDs are read only to
be skipped and never stored. docs/collectors.md is the contract.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from collectors._communityid import ICMP4_COUNTERPART, ICMP6_COUNTERPART
from collectors._fastlayout import MAX_OBS

# Observation columns (int64; addresses are 64-bit halves, IPv4 in the low half).
OB_IPV, OB_PROTO, OB_SHI, OB_SLO, OB_DHI, OB_DLO, OB_SPORT, OB_DPORT = 0, 1, 2, 3, 4, 5, 6, 7
OB_IPLEN, OB_FLAGS, OB_PAYLOAD, OB_FRAG, OB_FRAGID, OB_VLAN, OB_IVLAN, OB_NMPLS = 8, 9, 10, 11, 12, 13, 14, 15
OB_MPLS0 = 16  # four labels: 16..19
OB_CTX0, OB_CTX1, OB_PARENT = 20, 21, 22
OB_HASH = 23  # the flow key's hash, filled in by the table's decode-ahead (_fastflows.py)
MAX_DEPTH = 4

# OB_FRAG values
NOT_FRAGMENT, FIRST_FRAGMENT, LATER_FRAGMENT = 0, 1, 2

# Decode problem kinds, indexes into the problem counter array.
P_TRUNCATED, P_BAD_IP, P_NON_IP, P_MPLS, P_ORPHAN, P_BAD_TUNNEL, P_TOO_DEEP, P_LINKTYPE = range(8)

# Tunnel label codes packed into the chain (code << 24 | VNI), four levels in two words.
T_GRE, T_ERSPAN, T_VXLAN, T_GENEVE, T_GTPU, T_IPIP, T_TEREDO = 1, 2, 3, 4, 5, 6, 7

# Layer states of the decoding walk.
_ETHER, _ETHERTYPE, _IP_BY_NIBBLE, _IP4, _IP6, _MPLS, _DONE = 0, 1, 2, 3, 4, 5, 6


@njit(cache=True, inline="always")
def _u16(b, p):  # type: ignore[no-untyped-def]
    return (np.int64(b[p]) << 8) | np.int64(b[p + 1])


@njit(cache=True, inline="always")
def _u32(b, p):  # type: ignore[no-untyped-def]
    return (np.int64(b[p]) << 24) | (np.int64(b[p + 1]) << 16) | (np.int64(b[p + 2]) << 8) | np.int64(b[p + 3])


@njit(cache=True, inline="always")
def _u64(b, p):  # type: ignore[no-untyped-def]
    return (_u32(b, p) << 32) | _u32(b, p + 4)


@njit(cache=True, inline="always")
def _problem(probs, c, depth, kind):  # type: ignore[no-untyped-def]
    # Inside a tunnel, a broken inner packet is the tunnel's problem (docs: "Exact edges").
    if depth > 0 and kind in (P_TRUNCATED, P_BAD_IP, P_MPLS):
        probs[c, P_BAD_TUNNEL] += 1
    else:
        probs[c, kind] += 1


@njit(cache=True, inline="always")
def _push_label(ctx0, ctx1, depth, label):  # type: ignore[no-untyped-def]
    """The chain words with ``label`` at level ``depth`` (two 32-bit labels a word)."""
    if depth == 0:
        return label << 32, ctx1
    if depth == 1:
        return ctx0 | label, ctx1
    if depth == 2:
        return ctx0, label << 32
    return ctx0, ctx1 | label


def _counterparts(table: dict[int, int]) -> np.ndarray:
    """ICMP type -> its request/reply counterpart, -1 for one-way types."""
    out = np.full(256, -1, dtype=np.int64)
    for icmp_type, counterpart in table.items():
        out[icmp_type] = counterpart
    return out


_ICMP4_COUNTERPART = _counterparts(ICMP4_COUNTERPART)
_ICMP6_COUNTERPART = _counterparts(ICMP6_COUNTERPART)


@njit(cache=True, inline="always")
def _icmp_ports(proto, icmp_type, code):  # type: ignore[no-untyped-def]
    """Zeek's / Community ID's mapping of ICMP type and code to ports (_communityid.py)."""
    cp = _ICMP4_COUNTERPART[icmp_type] if proto == 1 else _ICMP6_COUNTERPART[icmp_type]
    return (icmp_type, code) if cp < 0 else (icmp_type, cp)


@njit(cache=True, inline="always")
def _null_family(family):  # type: ignore[no-untyped-def]
    """The state a BSD loopback address family leads to (_DONE: not IP)."""
    if family == 2:
        return _IP4
    if family == 10 or family == 23 or family == 24 or family == 28 or family == 30:
        return _IP6
    return _DONE


@njit(cache=True, inline="always")
def decode_packet(b, start, caplen, linktype, obs, c, probs):  # type: ignore[no-untyped-def]
    """Decode one packet into the rows ``obs[c]`` and its problems into ``probs[c]``.

    Returns how many observations it made. Rows are indexed, never sliced: a slice is an
    array view, and each view costs two atomic reference counts.
    """
    end = start + caplen
    pos = start
    n = 0
    depth = 0
    ctx0 = np.int64(0)
    ctx1 = np.int64(0)
    vlan = -1
    ivlan = -1
    nmpls = 0
    m0 = m1 = m2 = m3 = np.int64(0)  # scalars, not an array: no allocation per packet
    parent = -1
    not_ip = P_BAD_IP  # the problem when an "IP by its first nibble" layer is not IP
    ethertype = 0

    # link layer -> first state
    if linktype == 1:
        state = _ETHER
    elif linktype == 113:
        if caplen < 16:
            probs[c, P_TRUNCATED] += 1
            return 0
        ethertype = _u16(b, pos + 14)
        pos += 16
        state = _ETHERTYPE
    elif linktype == 276:
        if caplen < 20:
            probs[c, P_TRUNCATED] += 1
            return 0
        ethertype = _u16(b, pos)
        pos += 20
        state = _ETHERTYPE
    elif linktype == 101 or linktype == 12 or linktype == 14:
        state = _IP_BY_NIBBLE
    elif linktype == 228:
        state = _IP4
    elif linktype == 229:
        state = _IP6
    elif linktype == 0 or linktype == 108:
        if caplen < 4:
            probs[c, P_TRUNCATED] += 1
            return 0
        family = _u32(b, pos)
        if linktype == 0:  # the capturing host's byte order, unknown: little-endian first
            little = np.int64(b[pos]) | (np.int64(b[pos + 1]) << 8) | (np.int64(b[pos + 2]) << 16) \
                | (np.int64(b[pos + 3]) << 24)
            if _null_family(little) != _DONE:
                family = little
        pos += 4
        state = _null_family(family)
        if state == _DONE:
            probs[c, P_NON_IP] += 1
            return 0
    else:
        probs[c, P_LINKTYPE] += 1
        return 0

    while True:
        if state == _ETHER:
            if end - pos < 14:
                _problem(probs, c, depth, P_TRUNCATED)
                return n
            ethertype = _u16(b, pos + 12)
            pos += 14
            state = _ETHERTYPE

        elif state == _ETHERTYPE:
            # tags, after an Ethernet or a cooked (SLL) header alike
            ntags = 0
            while ethertype == 0x8100 or ethertype == 0x88A8 or ethertype == 0x9100:
                if end - pos < 4:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                tci = _u16(b, pos) & 0xFFF
                if ntags == 0:
                    vlan = tci
                    ivlan = -1
                elif ntags == 1:
                    ivlan = tci
                ntags += 1
                ethertype = _u16(b, pos + 2)
                pos += 4
            if ethertype == 0x0800:
                state = _IP4
            elif ethertype == 0x86DD:
                state = _IP6
            elif ethertype == 0x8847 or ethertype == 0x8848:
                state = _MPLS
            elif ethertype == 0x8864:
                if end - pos < 8:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                ppp = _u16(b, pos + 6)
                pos += 8
                if ppp == 0x0021:
                    state = _IP4
                elif ppp == 0x0057:
                    state = _IP6
                else:
                    probs[c, P_NON_IP] += 1
                    return n
            else:
                probs[c, P_NON_IP] += 1
                return n

        elif state == _MPLS:
            nmpls = 0
            while True:
                if end - pos < 4:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                entry = _u32(b, pos)
                if nmpls == 0:
                    m0 = entry >> 12
                elif nmpls == 1:
                    m1 = entry >> 12
                elif nmpls == 2:
                    m2 = entry >> 12
                elif nmpls == 3:
                    m3 = entry >> 12
                nmpls = min(nmpls + 1, 4)
                pos += 4
                if entry & 0x100:
                    break
            state = _IP_BY_NIBBLE
            not_ip = P_MPLS  # what follows a label stack and is no IP is an MPLS problem

        elif state == _IP_BY_NIBBLE:
            if end - pos < 1:
                _problem(probs, c, depth, P_TRUNCATED)
                return n
            nibble = b[pos] >> 4
            if nibble == 4:
                state = _IP4
            elif nibble == 6:
                state = _IP6
            else:
                _problem(probs, c, depth, not_ip)
                return n

        else:  # an IP header: one observation, maybe a tunnel to go on with
            if n >= MAX_OBS:
                probs[c, P_TOO_DEEP] += 1
                return n
            ip_start = pos
            frag = NOT_FRAGMENT
            fragid = np.int64(0)
            if state == _IP4:
                if end - pos < 20:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                vihl = b[pos]
                ihl = np.int64(vihl & 0x0F) * 4
                total = _u16(b, pos + 2)
                if (vihl >> 4) != 4 or ihl < 20 or total < ihl:
                    _problem(probs, c, depth, P_BAD_IP)
                    return n
                if end - pos < ihl:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                fragword = _u16(b, pos + 6)
                if fragword & 0x1FFF:
                    frag = LATER_FRAGMENT
                elif fragword & 0x2000:
                    frag = FIRST_FRAGMENT
                proto = np.int64(b[pos + 9])
                fragid = _u16(b, pos + 4) | (proto << 32)
                obs[c, n, OB_IPV] = 4
                obs[c, n, OB_SHI] = 0
                obs[c, n, OB_SLO] = _u32(b, pos + 12)
                obs[c, n, OB_DHI] = 0
                obs[c, n, OB_DLO] = _u32(b, pos + 16)
                iplen = total
                l4 = pos + ihl
                end = min(end, pos + iplen)  # what follows the IP length is not this packet's
            else:
                if end - pos < 40:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                if (b[pos] >> 4) != 6:
                    _problem(probs, c, depth, P_BAD_IP)
                    return n
                iplen = 40 + _u16(b, pos + 4)
                proto = np.int64(b[pos + 6])
                obs[c, n, OB_IPV] = 6
                obs[c, n, OB_SHI] = _u64(b, pos + 8)
                obs[c, n, OB_SLO] = _u64(b, pos + 16)
                obs[c, n, OB_DHI] = _u64(b, pos + 24)
                obs[c, n, OB_DLO] = _u64(b, pos + 32)
                l4 = pos + 40
                end = min(end, pos + iplen)  # what follows the IP length is not this packet's
                while proto == 0 or proto == 43 or proto == 60 or proto == 135 or proto == 139 \
                        or proto == 140 or proto == 51 or proto == 44:
                    if end - l4 < 8:
                        _problem(probs, c, depth, P_TRUNCATED)
                        return n
                    nxt = np.int64(b[l4])
                    if proto == 44:
                        fragword = _u16(b, l4 + 2)
                        # any fragment header makes a fragment, even offset 0 without M
                        frag = LATER_FRAGMENT if fragword >> 3 else FIRST_FRAGMENT
                        # the key holds the fragment header's next header, as both kinds carry it
                        fragid = _u32(b, l4 + 4) | (nxt << 32)
                        l4 += 8
                        if frag == LATER_FRAGMENT:
                            proto = nxt
                            break
                    elif proto == 51:
                        l4 += (np.int64(b[l4 + 1]) + 2) * 4
                    else:
                        l4 += (np.int64(b[l4 + 1]) + 1) * 8
                    if l4 > end:
                        _problem(probs, c, depth, P_TRUNCATED)
                        return n
                    proto = nxt
            ip_end = ip_start + iplen  # by the header's length, not the captured length
            obs[c, n, OB_PROTO] = proto
            obs[c, n, OB_IPLEN] = iplen
            obs[c, n, OB_FLAGS] = 0
            obs[c, n, OB_PAYLOAD] = 0
            obs[c, n, OB_SPORT] = 0
            obs[c, n, OB_DPORT] = 0
            obs[c, n, OB_FRAG] = frag
            obs[c, n, OB_FRAGID] = fragid
            obs[c, n, OB_VLAN] = vlan
            obs[c, n, OB_IVLAN] = ivlan
            obs[c, n, OB_NMPLS] = nmpls
            obs[c, n, OB_MPLS0] = m0 if nmpls > 0 else 0
            obs[c, n, OB_MPLS0 + 1] = m1 if nmpls > 1 else 0
            obs[c, n, OB_MPLS0 + 2] = m2 if nmpls > 2 else 0
            obs[c, n, OB_MPLS0 + 3] = m3 if nmpls > 3 else 0
            obs[c, n, OB_CTX0] = ctx0
            obs[c, n, OB_CTX1] = ctx1
            obs[c, n, OB_PARENT] = parent

            if frag == LATER_FRAGMENT:
                return n + 1  # ports come from the first fragment, in the flow stage

            avail = end - l4
            tunnel = 0
            vni = 0
            if proto == 6:
                if avail < 20:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                obs[c, n, OB_SPORT] = _u16(b, l4)
                obs[c, n, OB_DPORT] = _u16(b, l4 + 2)
                obs[c, n, OB_FLAGS] = b[l4 + 13]
                obs[c, n, OB_PAYLOAD] = max(0, ip_end - l4 - (np.int64(b[l4 + 12]) >> 4) * 4)
            elif proto == 17:
                if avail < 8:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                sport = _u16(b, l4)
                dport = _u16(b, l4 + 2)
                obs[c, n, OB_SPORT] = sport
                obs[c, n, OB_DPORT] = dport
                obs[c, n, OB_PAYLOAD] = max(0, ip_end - l4 - 8)
                p = l4 + 8
                # each UDP tunnel in the table's order, until one recognises its header
                claimed = frag != NOT_FRAGMENT
                if not claimed and dport == 4789 and end - p >= 8 and (b[p] & 0x08):
                    claimed = True
                    tunnel = T_VXLAN
                    vni = (_u32(b, p + 4) >> 8) & 0xFFFFFF
                    pos = p + 8
                    state = _ETHER
                if not claimed and dport == 6081 and end - p >= 8 and (b[p] >> 6) == 0:
                    claimed = True
                    if depth >= MAX_DEPTH:
                        probs[c, P_TOO_DEEP] += 1
                        return n + 1
                    inner = _u16(b, p + 2)
                    vni = (_u32(b, p + 4) >> 8) & 0xFFFFFF
                    pos = p + 8 + np.int64(b[p] & 0x3F) * 4
                    if inner == 0x6558:
                        state = _ETHER
                    elif inner == 0x0800:
                        state = _IP4
                    elif inner == 0x86DD:
                        state = _IP6
                    else:  # like GRE: a payload type not in the table
                        probs[c, P_BAD_TUNNEL] += 1
                        return n + 1
                    tunnel = T_GENEVE
                if not claimed and (sport == 2152 or dport == 2152) and end - p >= 8 and (b[p] >> 5) == 1 \
                        and (b[p] & 0x10):
                    claimed = True  # GTPv1-U; only a G-PDU carries a packet
                    if b[p + 1] == 255:
                        if depth >= MAX_DEPTH:
                            probs[c, P_TOO_DEEP] += 1
                            return n + 1
                        gflags = b[p]
                        q = p + 8
                        ok = True
                        if gflags & 0x07:
                            if end - q < 4:
                                ok = False
                            else:
                                next_ext = b[q + 3]
                                q += 4
                                while ok and next_ext != 0:
                                    if end - q < 4 or b[q] == 0:
                                        ok = False
                                    else:
                                        elen = np.int64(b[q]) * 4
                                        if end - q < elen:
                                            ok = False
                                        else:
                                            next_ext = b[q + elen - 1]
                                            q += elen
                        if not ok:
                            probs[c, P_BAD_TUNNEL] += 1
                            return n + 1
                        tunnel = T_GTPU
                        pos = q
                        state = _IP_BY_NIBBLE
                        not_ip = P_BAD_IP
                if not claimed and (sport == 3544 or dport == 3544):
                    q = p
                    if end - q >= 4 and _u16(b, q) == 0x0001:
                        q += 4 + np.int64(b[q + 2]) + np.int64(b[q + 3]) + 9
                    if end - q >= 8 and _u16(b, q) == 0x0000:
                        q += 8
                    if end - q >= 40 and (b[q] >> 4) == 6:
                        tunnel = T_TEREDO
                        pos = q
                        state = _IP6
            elif proto == 1 or proto == 58:
                if avail < 8:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                sp, dp = _icmp_ports(proto, np.int64(b[l4]), np.int64(b[l4 + 1]))
                obs[c, n, OB_SPORT] = sp
                obs[c, n, OB_DPORT] = dp
            elif proto == 132:
                if avail < 12:
                    _problem(probs, c, depth, P_TRUNCATED)
                    return n
                obs[c, n, OB_SPORT] = _u16(b, l4)
                obs[c, n, OB_DPORT] = _u16(b, l4 + 2)
            elif (proto == 4 or proto == 41) and frag == NOT_FRAGMENT:
                tunnel = T_IPIP
                pos = l4
                state = _IP4 if proto == 4 else _IP6
            elif proto == 47 and frag == NOT_FRAGMENT:
                # version 0 only; a routing bit, another version, an unknown payload or a
                # short header is a GRE packet we cannot look into
                if depth >= MAX_DEPTH:  # too deep is decided before the tunnel's header is read
                    probs[c, P_TOO_DEEP] += 1
                    return n + 1
                gflags = _u16(b, l4) if avail >= 4 else 0xFFFF
                inner = _u16(b, l4 + 2) if avail >= 4 else 0
                q = l4 + 4
                if gflags & 0x8000:
                    q += 4
                if gflags & 0x2000:
                    q += 4
                if gflags & 0x1000:
                    q += 4
                tunnel = T_GRE
                if (gflags & 0x4007) != 0 or q > end:
                    tunnel = 0
                elif inner == 0x0800:
                    state = _IP4
                elif inner == 0x86DD:
                    state = _IP6
                elif inner == 0x6558:
                    state = _ETHER
                elif inner == 0x8847 or inner == 0x8848:
                    state = _MPLS
                elif inner == 0x88BE:
                    tunnel = T_ERSPAN
                    if gflags & 0x1000:
                        q += 8
                    state = _ETHER
                elif inner == 0x22EB:
                    tunnel = T_ERSPAN
                    if end - q >= 12 and (b[q + 11] & 0x01):
                        q += 8
                    q += 12
                    state = _ETHER
                else:
                    tunnel = 0
                if tunnel == 0:
                    probs[c, P_BAD_TUNNEL] += 1
                    return n + 1
                pos = q
            n += 1
            if tunnel == 0:
                return n
            if depth >= MAX_DEPTH:
                probs[c, P_TOO_DEEP] += 1
                return n
            if tunnel == T_ERSPAN:  # ERSPAN rides in GRE: two labels, `gre,erspan`
                if depth + 1 >= MAX_DEPTH:
                    probs[c, P_TOO_DEEP] += 1
                    return n
                ctx0, ctx1 = _push_label(ctx0, ctx1, depth, np.int64(T_GRE) << 24)
                depth += 1
            ctx0, ctx1 = _push_label(ctx0, ctx1, depth, (np.int64(tunnel) << 24) | vni)
            depth += 1
            parent = n - 1
    return n
