"""The fast engine's flow table: open addressing over one int64 matrix, compiled with numba.

A flow is one row of ``T`` (columns ``F_*``) plus its history letters in ``H``. Linear
probing with backward-shift deletion keeps lookups short without tombstones. Ended flows
are copied into the output matrix ``O`` (same columns) for the Python side to turn into
Arrow. The rules are docs/collectors.md's; the plain-Python table in _pyflows.py keeps the
same rules and the tests hold the two to each other.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from collectors._fastdecode import (
    FIRST_FRAGMENT,
    LATER_FRAGMENT,
    MAX_OBS,
    OB_COLS,
    OB_CTX0,
    OB_CTX1,
    OB_DHI,
    OB_DLO,
    OB_DPORT,
    OB_FLAGS,
    OB_FRAG,
    OB_FRAGID,
    OB_IPLEN,
    OB_IPV,
    OB_IVLAN,
    OB_MPLS0,
    OB_NMPLS,
    OB_PARENT,
    OB_PAYLOAD,
    OB_PROTO,
    OB_SHI,
    OB_SLO,
    OB_SPORT,
    OB_VLAN,
    P_ORPHAN,
    decode_packet,
)

# Flow columns.
F_USED, F_HASH, F_CTX0, F_CTX1, F_IPV, F_PROTO = 0, 1, 2, 3, 4, 5
F_OHI, F_OLO, F_RHI, F_RLO, F_OPORT, F_RPORT = 6, 7, 8, 9, 10, 11
F_START, F_LAST, F_CLOSED = 12, 13, 14
F_OPKTS, F_RPKTS, F_OBYTES, F_RBYTES, F_OFLAGS, F_RFLAGS = 15, 16, 17, 18, 19, 20
F_HLEN, F_HMASK, F_NPAR = 21, 22, 23  # the columns every packet touches come first
F_VLAN, F_IVLAN, F_NMPLS, F_MPLS0 = 24, 25, 26, 27  # four labels: 27..30
F_PAR0 = 31  # two parent keys of 8 columns: 31..38, 39..46
PAR_COLS = 8
F_REASON, F_STATE = 47, 48
F_COLS = 49
HIST_MAX = 16

# Config vector.
C_IDLE_TCP, C_IDLE_UDP, C_IDLE_ICMP, C_IDLE_OTHER, C_ACTIVE, C_DELAY, C_MAX_FLOWS = 0, 1, 2, 3, 4, 5, 6
C_COLS = 7
# Scalar state vector.
S_LIVE, S_NEXT_SWEEP, S_OUT, S_LAST_TS, S_PACKETS, S_NEED, S_SWEPT_AT = 0, 1, 2, 3, 4, 5, 6
S_COLS = 7
# Fragment cache (direct mapped), columns.
FR_TS, FR_IPV, FR_SHI, FR_SLO, FR_DHI, FR_DLO, FR_PROTO, FR_ID, FR_SPORT, FR_DPORT = range(10)
FR_COLS = 10
FRAG_SLOTS = 1 << 16
FRAG_LIFETIME_US = 30_000_000
SWEEP_EVERY_US = 1_000_000
NEVER = np.iinfo(np.int64).max
SWEEP_AT_MOST_US = 10_000_000

# Return codes of run_packets.
DONE, NEED_FLUSH, NEED_GROW = 0, 1, 2

REASONS = ("idle", "active", "tcp_end", "eof", "evicted")
R_IDLE, R_ACTIVE, R_TCP_END, R_EOF, R_EVICTED = 0, 1, 2, 3, 4
CONN_STATES = ("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")

# History letter bits: originator S H A D F R, then the responder's, then '^'.
_LETTERS = np.frombuffer(b"SHADFRshadfr^", dtype=np.uint8).copy()
B_S, B_H, B_A, B_D, B_F, B_R = 0, 1, 2, 3, 4, 5
B_FLIP = 12


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


@njit(cache=True)
def _key_hash(ctx0, ctx1, ipv, proto, shi, slo, sport, dhi, dlo, dport):  # type: ignore[no-untyped-def]
    # the sum of the two ends' hashes does not depend on the direction
    ends = _end_hash(shi, slo, sport) + _end_hash(dhi, dlo, dport)
    ctx = _mix(np.uint64(ctx0) ^ _mix(np.uint64(ctx1) ^ np.uint64(ipv * 256 + proto)))
    return np.int64(_mix(ends ^ ctx) >> np.uint64(1))


@njit(cache=True)
def _find(T, mask, h, ob):  # type: ignore[no-untyped-def]
    """(slot, direction): direction 0 from the originator, 1 from the responder, -1 absent."""
    i = h & mask
    while T[i, F_USED]:
        if (T[i, F_HASH] == h and T[i, F_CTX0] == ob[OB_CTX0] and T[i, F_CTX1] == ob[OB_CTX1]
                and T[i, F_IPV] == ob[OB_IPV] and T[i, F_PROTO] == ob[OB_PROTO]):
            if (T[i, F_OHI] == ob[OB_SHI] and T[i, F_OLO] == ob[OB_SLO] and T[i, F_OPORT] == ob[OB_SPORT]
                    and T[i, F_RHI] == ob[OB_DHI] and T[i, F_RLO] == ob[OB_DLO] and T[i, F_RPORT] == ob[OB_DPORT]):
                return i, 0
            if (T[i, F_OHI] == ob[OB_DHI] and T[i, F_OLO] == ob[OB_DLO] and T[i, F_OPORT] == ob[OB_DPORT]
                    and T[i, F_RHI] == ob[OB_SHI] and T[i, F_RLO] == ob[OB_SLO] and T[i, F_RPORT] == ob[OB_SPORT]):
                return i, 1
        i = (i + 1) & mask
    return i, -1


@njit(cache=True)
def _delete(T, H, E, mask, i):  # type: ignore[no-untyped-def]
    """Backward-shift deletion: later members of the probe run move up into the hole."""
    j = i
    while True:
        T[i, F_USED] = 0
        E[i] = NEVER
        while True:
            j = (j + 1) & mask
            if not T[j, F_USED]:
                return
            home = T[j, F_HASH] & mask
            if i <= j:
                if i < home <= j:
                    continue
            elif home > i or home <= j:
                continue
            break
        T[i, :] = T[j, :]
        H[i, :] = H[j, :]
        E[i] = E[j]
        i = j


@njit(cache=True)
def _conn_state(proto, m, resp_pkts):  # type: ignore[no-untyped-def]
    if proto != 6:
        return 2 if resp_pkts > 0 else 0
    o_s = (m >> B_S) & 1
    o_f = (m >> B_F) & 1
    o_r = (m >> B_R) & 1
    r_h = (m >> (6 + B_H)) & 1
    r_f = (m >> (6 + B_F)) & 1
    r_r = (m >> (6 + B_R)) & 1
    if r_r:
        if o_s and not r_h:
            return 3  # REJ
        if r_h and not o_s:
            return 9  # RSTRH
        return 7  # RSTR
    if o_r:
        return 8 if (o_s and not r_h) else 6  # RSTOS0 / RSTO
    if o_s and r_h:
        if o_f and r_f:
            return 2  # SF
        if o_f:
            return 4  # S2
        if r_f:
            return 5  # S3
        return 1  # S1
    if o_s:
        if o_f:
            return 10  # SH
        return 0 if resp_pkts == 0 else 12  # S0 / OTH
    if r_h:
        return 11 if r_f else 12  # SHR / OTH
    return 12  # OTH


@njit(cache=True)
def _export(T, H, i, reason, out, out_hist, S):  # type: ignore[no-untyped-def]
    k = S[S_OUT]
    out[k, :] = T[i, :]
    out_hist[k, :] = H[i, :]
    out[k, F_REASON] = reason
    out[k, F_STATE] = _conn_state(T[i, F_PROTO], T[i, F_HMASK], T[i, F_RPKTS])
    S[S_OUT] = k + 1


@njit(cache=True, inline="always")
def _idle_us(C, proto):  # type: ignore[no-untyped-def]
    if proto == 6:
        return C[C_IDLE_TCP]
    if proto == 17:
        return C[C_IDLE_UDP]
    if proto == 1 or proto == 58:
        return C[C_IDLE_ICMP]
    return C[C_IDLE_OTHER]


@njit(cache=True)
def _over(T, i, now, C):  # type: ignore[no-untyped-def]
    """The reason a flow is over at ``now``, or -1."""
    if T[i, F_CLOSED] >= 0 and now - T[i, F_CLOSED] > C[C_DELAY]:
        return R_TCP_END
    if now - T[i, F_LAST] > _idle_us(C, T[i, F_PROTO]):
        return R_IDLE
    return -1


@njit(cache=True)
def sweep(T, H, E, now, C, S, out, out_hist):  # type: ignore[no-untyped-def]
    """End every flow that is over at ``now``.

    ``E`` (one word a slot) says when each flow will be over, so the scan reads 8 bytes
    a slot instead of the whole table.
    """
    mask = T.shape[0] - 1
    i = 0
    while i <= mask:
        if E[i] < now:
            reason = _over(T, i, now, C)
            if reason >= 0:
                _export(T, H, i, reason, out, out_hist, S)
                _delete(T, H, E, mask, i)
                S[S_LIVE] -= 1
                continue  # the shift may have moved another flow into slot i
        i += 1


@njit(cache=True)
def _evict(T, H, E, C, S, out, out_hist):  # type: ignore[no-untyped-def]
    """End the eighth of the table with the oldest last packet (ties included)."""
    mask = T.shape[0] - 1
    lasts = np.empty(S[S_LIVE], dtype=np.int64)
    k = 0
    for i in range(mask + 1):
        if T[i, F_USED]:
            lasts[k] = T[i, F_LAST]
            k += 1
    lasts.sort()
    threshold = lasts[max(1, C[C_MAX_FLOWS] // 8) - 1]
    i = 0
    while i <= mask:
        if T[i, F_USED] and T[i, F_LAST] <= threshold:
            _export(T, H, i, R_EVICTED, out, out_hist, S)
            _delete(T, H, E, mask, i)
            S[S_LIVE] -= 1
            continue
        i += 1


@njit(cache=True)
def finish_all(T, H, E, C, S, out, out_hist):  # type: ignore[no-untyped-def]
    """The input ended: a last sweep at the last packet's time, then every flow as ``eof``

    (or ``tcp_end`` for a TCP flow that has closed and was still lingering).
    """
    sweep(T, H, E, S[S_LAST_TS], C, S, out, out_hist)
    for i in range(T.shape[0]):
        if T[i, F_USED]:
            _export(T, H, i, R_TCP_END if T[i, F_CLOSED] >= 0 else R_EOF, out, out_hist, S)
            T[i, F_USED] = 0
            E[i] = NEVER
    S[S_LIVE] = 0


@njit(cache=True, inline="always")
def _letter(T, H, i, bit):  # type: ignore[no-untyped-def]
    m = T[i, F_HMASK]
    if not (m >> bit) & 1:
        T[i, F_HMASK] = m | (np.int64(1) << bit)
        n = T[i, F_HLEN]
        if n < HIST_MAX:
            H[i, n] = _LETTERS[bit]
            T[i, F_HLEN] = n + 1


@njit(cache=True)
def _reset(T, H, i, ob, ts):  # type: ignore[no-untyped-def]
    """Counters, flags, history and context of a (new or continued) flow."""
    T[i, F_START] = ts
    T[i, F_LAST] = ts
    T[i, F_CLOSED] = -1
    for c in range(F_OPKTS, F_RFLAGS + 1):
        T[i, c] = 0
    T[i, F_VLAN] = ob[OB_VLAN]
    T[i, F_IVLAN] = ob[OB_IVLAN]
    T[i, F_NMPLS] = ob[OB_NMPLS]
    for c in range(4):
        T[i, F_MPLS0 + c] = ob[OB_MPLS0 + c]
    T[i, F_NPAR] = 0
    T[i, F_HLEN] = 0
    T[i, F_HMASK] = 0
    H[i, :] = 0


@njit(cache=True)
def _insert(T, H, i, h, ob, ts):  # type: ignore[no-untyped-def]
    """A new flow in empty slot ``i``; returns the direction of its first packet."""
    T[i, F_USED] = 1
    T[i, F_HASH] = h
    T[i, F_CTX0] = ob[OB_CTX0]
    T[i, F_CTX1] = ob[OB_CTX1]
    T[i, F_IPV] = ob[OB_IPV]
    T[i, F_PROTO] = ob[OB_PROTO]
    _reset(T, H, i, ob, ts)
    flip = ob[OB_PROTO] == 6 and (ob[OB_FLAGS] & 0x12) == 0x12 and ob[OB_FRAG] != LATER_FRAGMENT
    if flip:  # a SYN+ACK first: its receiver opened the connection
        T[i, F_OHI], T[i, F_OLO], T[i, F_OPORT] = ob[OB_DHI], ob[OB_DLO], ob[OB_DPORT]
        T[i, F_RHI], T[i, F_RLO], T[i, F_RPORT] = ob[OB_SHI], ob[OB_SLO], ob[OB_SPORT]
        _letter(T, H, i, B_FLIP)
        # a packet from an end to itself matches the originator first, as later ones will
        same = ob[OB_SHI] == ob[OB_DHI] and ob[OB_SLO] == ob[OB_DLO] and ob[OB_SPORT] == ob[OB_DPORT]
        return 0 if same else 1
    T[i, F_OHI], T[i, F_OLO], T[i, F_OPORT] = ob[OB_SHI], ob[OB_SLO], ob[OB_SPORT]
    T[i, F_RHI], T[i, F_RLO], T[i, F_RPORT] = ob[OB_DHI], ob[OB_DLO], ob[OB_DPORT]
    return 0


@njit(cache=True)
def _count(T, H, i, d, ob, ts):  # type: ignore[no-untyped-def]
    """One packet of direction ``d`` into flow ``i``."""
    T[i, F_OPKTS + d] += 1
    T[i, F_OBYTES + d] += ob[OB_IPLEN]
    if ts > T[i, F_LAST]:
        T[i, F_LAST] = ts
    if ob[OB_FRAG] == LATER_FRAGMENT:
        return
    proto = ob[OB_PROTO]
    base = 6 * d
    if proto == 6:
        flags = ob[OB_FLAGS]
        T[i, F_OFLAGS + d] |= flags
        syn, fin, rst, ack = flags & 2, flags & 1, flags & 4, flags & 16
        if syn and not ack:
            _letter(T, H, i, base + B_S)
        if syn and ack:
            _letter(T, H, i, base + B_H)
        if ack and not (syn or fin or rst) and ob[OB_PAYLOAD] == 0:
            _letter(T, H, i, base + B_A)
        if ob[OB_PAYLOAD] > 0:
            _letter(T, H, i, base + B_D)
        if fin:
            _letter(T, H, i, base + B_F)
        if rst:
            _letter(T, H, i, base + B_R)
        m = T[i, F_HMASK]
        if T[i, F_CLOSED] < 0:
            both_fin = (m >> B_F) & 1 and (m >> (6 + B_F)) & 1
            if both_fin or (m >> B_R) & 1 or (m >> (6 + B_R)) & 1:
                T[i, F_CLOSED] = ts
    elif proto == 17 and ob[OB_PAYLOAD] > 0:
        _letter(T, H, i, base + B_D)


@njit(cache=True)
def _add_parent(T, i, P):  # type: ignore[no-untyped-def]
    n = T[i, F_NPAR]
    for k in range(n):
        c = F_PAR0 + k * PAR_COLS
        if T[i, c] != P[OB_IPV] or T[i, c + 1] != P[OB_PROTO]:
            continue
        same = (T[i, c + 2] == P[OB_SHI] and T[i, c + 3] == P[OB_SLO] and T[i, c + 4] == P[OB_DHI]
                and T[i, c + 5] == P[OB_DLO] and T[i, c + 6] == P[OB_SPORT] and T[i, c + 7] == P[OB_DPORT])
        swapped = (T[i, c + 2] == P[OB_DHI] and T[i, c + 3] == P[OB_DLO] and T[i, c + 4] == P[OB_SHI]
                   and T[i, c + 5] == P[OB_SLO] and T[i, c + 6] == P[OB_DPORT] and T[i, c + 7] == P[OB_SPORT])
        if same or swapped:
            return
    if n >= 2:
        return
    c = F_PAR0 + n * PAR_COLS
    T[i, c], T[i, c + 1] = P[OB_IPV], P[OB_PROTO]
    T[i, c + 2], T[i, c + 3], T[i, c + 4], T[i, c + 5] = P[OB_SHI], P[OB_SLO], P[OB_DHI], P[OB_DLO]
    T[i, c + 6], T[i, c + 7] = P[OB_SPORT], P[OB_DPORT]
    T[i, F_NPAR] = n + 1


@njit(cache=True)
def _frag_slot(ob):  # type: ignore[no-untyped-def]
    # OB_FRAGID holds the identification and the protocol of the key (decoder)
    h = _mix(np.uint64(ob[OB_SLO]) ^ _mix(np.uint64(ob[OB_DLO]) ^ np.uint64(ob[OB_FRAGID])))
    return np.int64(h & np.uint64(FRAG_SLOTS - 1))


@njit(cache=True)
def _frag_matches(FR, s, ob):  # type: ignore[no-untyped-def]
    return (FR[s, FR_IPV] == ob[OB_IPV] and FR[s, FR_SHI] == ob[OB_SHI] and FR[s, FR_SLO] == ob[OB_SLO]
            and FR[s, FR_DHI] == ob[OB_DHI] and FR[s, FR_DLO] == ob[OB_DLO] and FR[s, FR_ID] == ob[OB_FRAGID])


@njit(cache=True)
def _observe(T, H, E, FR, C, S, out, out_hist, obs, j, ts, probs):  # type: ignore[no-untyped-def]
    ob = obs[j]
    if ob[OB_FRAG] == LATER_FRAGMENT:
        s = _frag_slot(ob)
        if FR[s, FR_TS] < 0 or not _frag_matches(FR, s, ob) or ts - FR[s, FR_TS] > FRAG_LIFETIME_US:
            probs[P_ORPHAN] += 1
            return
        ob[OB_PROTO] = FR[s, FR_PROTO]  # the transport protocol the first fragment showed
        ob[OB_SPORT] = FR[s, FR_SPORT]
        ob[OB_DPORT] = FR[s, FR_DPORT]
    elif ob[OB_FRAG] == FIRST_FRAGMENT:
        s = _frag_slot(ob)
        FR[s, FR_TS] = ts
        FR[s, FR_IPV], FR[s, FR_SHI], FR[s, FR_SLO] = ob[OB_IPV], ob[OB_SHI], ob[OB_SLO]
        FR[s, FR_DHI], FR[s, FR_DLO], FR[s, FR_PROTO] = ob[OB_DHI], ob[OB_DLO], ob[OB_PROTO]
        FR[s, FR_ID], FR[s, FR_SPORT], FR[s, FR_DPORT] = ob[OB_FRAGID], ob[OB_SPORT], ob[OB_DPORT]

    mask = T.shape[0] - 1
    h = _key_hash(ob[OB_CTX0], ob[OB_CTX1], ob[OB_IPV], ob[OB_PROTO],
                  ob[OB_SHI], ob[OB_SLO], ob[OB_SPORT], ob[OB_DHI], ob[OB_DLO], ob[OB_DPORT])
    i, d = _find(T, mask, h, ob)
    if d >= 0:
        syn_only = ob[OB_PROTO] == 6 and (ob[OB_FLAGS] & 0x12) == 0x02 and ob[OB_FRAG] != LATER_FRAGMENT
        reason = _over(T, i, ts, C)
        if reason < 0 and T[i, F_CLOSED] >= 0 and syn_only:
            reason = R_TCP_END  # the ports are being reused for a new connection
        if reason >= 0:
            _export(T, H, i, reason, out, out_hist, S)
            _delete(T, H, E, mask, i)
            S[S_LIVE] -= 1
            d = -1
        elif ts - T[i, F_START] >= C[C_ACTIVE]:
            _export(T, H, i, R_ACTIVE, out, out_hist, S)
            _reset(T, H, i, ob, ts)
    if d < 0:
        if S[S_LIVE] >= C[C_MAX_FLOWS]:
            sweep(T, H, E, ts, C, S, out, out_hist)
            if S[S_LIVE] >= C[C_MAX_FLOWS]:
                _evict(T, H, E, C, S, out, out_hist)
        i, d = _find(T, mask, h, ob)
        d = _insert(T, H, i, h, ob, ts)
        S[S_LIVE] += 1
    _count(T, H, i, d, ob, ts)
    expiry = T[i, F_LAST] + _idle_us(C, T[i, F_PROTO])
    if T[i, F_CLOSED] >= 0:
        expiry = min(expiry, T[i, F_CLOSED] + C[C_DELAY])
    E[i] = expiry
    p = ob[OB_PARENT]
    if p >= 0:
        _add_parent(T, i, obs[p])


@njit(cache=True)
def run_packets(data, offsets, caplens, tss, linktypes, i0, T, H, E, FR, C, S, out, out_hist, obs, probs):  # type: ignore[no-untyped-def]
    """Packets ``i0..`` through decoder and table; stops early to let Python flush or grow."""
    n = offsets.shape[0]
    out_cap = out.shape[0]
    grow_at = T.shape[0] // 2
    i = i0
    while i < n:
        ts = tss[i]
        live = S[S_LIVE]
        need = MAX_OBS
        # A sweep visits every slot: at most once a second of packet time, and then only
        # after enough packets to pay for it (or 10 s), so its cost per packet stays small.
        sweep_due = ts >= S[S_NEXT_SWEEP] and (
            (S[S_PACKETS] - S[S_SWEPT_AT]) * 8 >= T.shape[0] or ts >= S[S_NEXT_SWEEP] + SWEEP_AT_MOST_US
        )
        if sweep_due or live + MAX_OBS >= C[C_MAX_FLOWS]:
            need += live
        if out_cap - S[S_OUT] < need:
            S[S_NEED] = need
            return i, NEED_FLUSH
        if live + MAX_OBS > grow_at and grow_at < C[C_MAX_FLOWS]:
            return i, NEED_GROW
        if sweep_due:
            sweep(T, H, E, ts, C, S, out, out_hist)
            S[S_NEXT_SWEEP] = ts + SWEEP_EVERY_US
            S[S_SWEPT_AT] = S[S_PACKETS]
        if ts > S[S_LAST_TS]:
            S[S_LAST_TS] = ts
        S[S_PACKETS] += 1
        k = decode_packet(data, offsets[i], caplens[i], linktypes[i], obs, probs)
        for j in range(k):
            _observe(T, H, E, FR, C, S, out, out_hist, obs, j, ts, probs)
        i += 1
    return i, DONE


@njit(cache=True)
def rehash(T, H, E, T2, H2, E2):  # type: ignore[no-untyped-def]
    """Move every flow of ``T`` into the larger empty table ``T2``."""
    mask = T2.shape[0] - 1
    for i in range(T.shape[0]):
        if T[i, F_USED]:
            j = T[i, F_HASH] & mask
            while T2[j, F_USED]:
                j = (j + 1) & mask
            T2[j, :] = T[i, :]
            H2[j, :] = H[i, :]
            E2[j] = E[i]


def new_obs() -> np.ndarray:
    """The decoder's scratch rows."""
    return np.zeros((MAX_OBS, OB_COLS), dtype=np.int64)


def new_expiry(slots: int) -> np.ndarray:
    """When each slot's flow will be over; empty slots never."""
    return np.full(slots, NEVER, dtype=np.int64)


def new_fragments() -> np.ndarray:
    frags = np.zeros((FRAG_SLOTS, FR_COLS), dtype=np.int64)
    frags[:, FR_TS] = -1
    return frags
