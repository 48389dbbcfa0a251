"""Ending a flow in the fast engine: its conn_state, and its row unpacked for the Python side."""

from __future__ import annotations

from numba import njit

from collectors._fastlayout import (
    B_F,
    B_H,
    B_R,
    B_S,
    F_CTX0,
    F_CTX1,
    F_HLEN,
    F_IPV,
    F_IVLAN,
    F_LAST,
    F_MPLS0,
    F_NMPLS,
    F_NPAR,
    F_OBYTES,
    F_OFLAGS,
    F_OHI,
    F_OLO,
    F_OPKTS,
    F_OPORT,
    F_PAR0,
    F_PROTO,
    F_RBYTES,
    F_REASON,
    F_RFLAGS,
    F_RHI,
    F_RLO,
    F_RPKTS,
    F_RPORT,
    F_START,
    F_STATE,
    F_VLAN,
    HMASK_SHIFT,
    K_HIST,
    K_MPLS01,
    K_MPLS23,
    K_PAR0,
    K_TAGS,
    LETTERS,
    NPAR_SHIFT,
    PAR_COLS,
    S_OUT,
    W_CTX0,
    W_CTX1,
    W_KEY,
    W_LAST,
    W_OBYTES,
    W_OHI,
    W_OLO,
    W_OPKTS,
    W_RBYTES,
    W_RHI,
    W_RLO,
    W_RPKTS,
    W_START,
    W_STATE,
)


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
def _export(T, K, i, reason, out, out_hist, S):  # type: ignore[no-untyped-def]
    """Unpack flow ``i`` into the next output row."""
    k = S[S_OUT]
    row = out[k]
    key = T[i, W_KEY]
    state = T[i, W_STATE]
    proto = (key >> 32) & 0xFF
    row[F_IPV] = (key >> 40) & 0xF
    row[F_PROTO] = proto
    row[F_OPORT] = key & 0xFFFF
    row[F_RPORT] = (key >> 16) & 0xFFFF
    row[F_CTX0] = T[i, W_CTX0]
    row[F_CTX1] = T[i, W_CTX1]
    row[F_OHI] = T[i, W_OHI]
    row[F_OLO] = T[i, W_OLO]
    row[F_RHI] = T[i, W_RHI]
    row[F_RLO] = T[i, W_RLO]
    row[F_START] = T[i, W_START]
    row[F_LAST] = T[i, W_LAST]
    row[F_OPKTS] = T[i, W_OPKTS]
    row[F_RPKTS] = T[i, W_RPKTS]
    row[F_OBYTES] = T[i, W_OBYTES]
    row[F_RBYTES] = T[i, W_RBYTES]
    row[F_OFLAGS] = state & 0xFF
    row[F_RFLAGS] = (state >> 8) & 0xFF
    hist = K[i, K_HIST]
    n = 0
    while n < 13 and (hist >> (4 * n)) & 0xF:
        out_hist[k, n] = LETTERS[((hist >> (4 * n)) & 0xF) - 1]
        n += 1
    row[F_HLEN] = n
    tags = K[i, K_TAGS]
    row[F_VLAN] = (tags & 0x1FFF) - 1
    row[F_IVLAN] = ((tags >> 13) & 0x1FFF) - 1
    row[F_NMPLS] = (tags >> 26) & 0x7
    row[F_MPLS0] = K[i, K_MPLS01] & 0xFFFFF
    row[F_MPLS0 + 1] = (K[i, K_MPLS01] >> 20) & 0xFFFFF
    row[F_MPLS0 + 2] = K[i, K_MPLS23] & 0xFFFFF
    row[F_MPLS0 + 3] = (K[i, K_MPLS23] >> 20) & 0xFFFFF
    row[F_NPAR] = (state >> NPAR_SHIFT) & 0x3
    for c in range(2 * PAR_COLS):
        row[F_PAR0 + c] = K[i, K_PAR0 + c]
    row[F_REASON] = reason
    row[F_STATE] = _conn_state(proto, (state >> HMASK_SHIFT) & 0x1FFF, T[i, W_RPKTS])
    S[S_OUT] = k + 1
