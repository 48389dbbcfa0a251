"""The fast engine's flow table: open addressing over int64 matrices, compiled with numba.

Each slot is one 128-byte *hot* row of ``T`` (columns ``W_*``: the key and everything a
packet updates, two cache lines) and one *cold* row of ``K`` (columns ``K_*``: history
letters, tags, labels and tunnel parents, touched when a flow starts, when it gains a
history letter, and for tunnelled flows). The table is far larger than the caches, so
packets are decoded a chunk ahead and their hot rows prefetched. Linear probing with
backward-shift deletion keeps probe runs short without tombstones.

Ended flows are unpacked into the output matrix (columns ``F_*``) for _fastengine.py. The
rules are docs/collectors.md's; the plain-Python table in _pyflows.py keeps the same rules
and the tests hold the two to each other. The column numbers and codes are _fastlayout.py's
(plain Python, shared with the engine and the ahead-of-time build of _aot.py).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from collectors._fastdecode import (
    LATER_FRAGMENT,
    OB_CTX0,
    OB_CTX1,
    OB_DHI,
    OB_DLO,
    OB_DPORT,
    OB_FLAGS,
    OB_FRAG,
    OB_HASH,
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
    decode_packet,
)
from collectors._fastexport import _export
from collectors._fastfrags import _fragment
from collectors._fasthash import _key_hash, _key_hash_at, _key_word
from collectors._fastlayout import (
    B_A,
    B_D,
    B_F,
    B_FLIP,
    B_H,
    B_R,
    B_S,
    C_ACTIVE,
    C_DELAY,
    C_IDLE_ICMP,
    C_IDLE_OTHER,
    C_IDLE_TCP,
    C_IDLE_UDP,
    C_MAX_FLOWS,
    DONE,
    HMASK_SHIFT,
    K_HIST,
    K_MPLS01,
    K_MPLS23,
    K_PAR0,
    K_TAGS,
    MAX_OBS,
    NEED_FLUSH,
    NEED_GROW,
    NPAR_SHIFT,
    PACKETS_AHEAD,
    PAR_COLS,
    R_ACTIVE,
    R_EOF,
    R_EVICTED,
    R_IDLE,
    R_TCP_END,
    S_LAST_TS,
    S_LIVE,
    S_NEED,
    S_NEXT_SWEEP,
    S_OUT,
    S_PACKETS,
    S_SWEPT_AT,
    SWEEP_AT_MOST_US,
    SWEEP_EVERY_US,
    W_CLOSED,
    W_COLS,
    W_CTX0,
    W_CTX1,
    W_HASH,
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
from collectors._prefetch import prefetch, prefetch_byte


@njit(cache=True, inline="always")
def _proto(T, i):  # type: ignore[no-untyped-def]
    return (T[i, W_KEY] >> 32) & 0xFF


@njit(cache=True, inline="always")
def _find(T, mask, h, ob):  # type: ignore[no-untyped-def]
    """(slot, direction): direction 0 from the originator, 1 from the responder, -1 absent."""
    forward = _key_word(ob[OB_SPORT], ob[OB_DPORT], ob[OB_PROTO], ob[OB_IPV])
    backward = _key_word(ob[OB_DPORT], ob[OB_SPORT], ob[OB_PROTO], ob[OB_IPV])
    i = h & mask
    while T[i, W_HASH]:
        if T[i, W_HASH] == h and T[i, W_CTX0] == ob[OB_CTX0] and T[i, W_CTX1] == ob[OB_CTX1]:
            if (T[i, W_KEY] == forward and T[i, W_OHI] == ob[OB_SHI] and T[i, W_OLO] == ob[OB_SLO]
                    and T[i, W_RHI] == ob[OB_DHI] and T[i, W_RLO] == ob[OB_DLO]):
                return i, 0
            if (T[i, W_KEY] == backward and T[i, W_OHI] == ob[OB_DHI] and T[i, W_OLO] == ob[OB_DLO]
                    and T[i, W_RHI] == ob[OB_SHI] and T[i, W_RLO] == ob[OB_SLO]):
                return i, 1
        i = (i + 1) & mask
    return i, -1


@njit(cache=True)
def _delete(T, K, mask, i):  # type: ignore[no-untyped-def]
    """Backward-shift deletion: later members of the probe run move up into the hole."""
    j = i
    while True:
        T[i, W_HASH] = 0
        while True:
            j = (j + 1) & mask
            if not T[j, W_HASH]:
                return
            home = T[j, W_HASH] & mask
            if i <= j:
                if i < home <= j:
                    continue
            elif home > i or home <= j:
                continue
            break
        T[i, :] = T[j, :]
        K[i, :] = K[j, :]
        i = j


@njit(cache=True, inline="always")
def _idle_us(C, proto):  # type: ignore[no-untyped-def]
    if proto == 6:
        return C[C_IDLE_TCP]
    if proto == 17:
        return C[C_IDLE_UDP]
    if proto == 1 or proto == 58:
        return C[C_IDLE_ICMP]
    return C[C_IDLE_OTHER]


@njit(cache=True, inline="always")
def _over(T, i, now, C):  # type: ignore[no-untyped-def]
    """The reason a flow is over at ``now``, or -1."""
    if T[i, W_CLOSED] >= 0 and now - T[i, W_CLOSED] > C[C_DELAY]:
        return R_TCP_END
    if now - T[i, W_LAST] > _idle_us(C, _proto(T, i)):
        return R_IDLE
    return -1


@njit(cache=True)
def _end(T, K, mask, i, reason, out, out_hist, S):  # type: ignore[no-untyped-def]
    _export(T, K, i, reason, out, out_hist, S)
    _delete(T, K, mask, i)
    S[S_LIVE] -= 1


@njit(cache=True)
def sweep(T, K, now, C, S, out, out_hist):  # type: ignore[no-untyped-def]
    """End every flow that is over at ``now``."""
    mask = T.shape[0] - 1
    i = 0
    while i <= mask:
        if T[i, W_HASH]:
            reason = _over(T, i, now, C)
            if reason >= 0:
                _end(T, K, mask, i, reason, out, out_hist, S)
                continue  # the shift may have moved another flow into slot i
        i += 1


@njit(cache=True)
def _evict(T, K, C, S, out, out_hist):  # type: ignore[no-untyped-def]
    """End the eighth of the table with the oldest last packet (ties included)."""
    mask = T.shape[0] - 1
    threshold = _kth_oldest_last(T, max(1, C[C_MAX_FLOWS] // 8))
    i = 0
    while i <= mask:
        if T[i, W_HASH] and T[i, W_LAST] <= threshold:
            _end(T, K, mask, i, R_EVICTED, out, out_hist, S)
            continue
        i += 1


@njit(cache=True)
def _kth_oldest_last(T, k):  # type: ignore[no-untyped-def]
    """The k-th smallest last-packet time of the live flows (k <= live flows).

    A bisection over the times, one scan a step, instead of sorting a copy: run_packets
    allocates nothing (it is built without reference counting), and eviction is rare.
    """
    low = np.iinfo(np.int64).max
    high = np.iinfo(np.int64).min
    for i in range(T.shape[0]):
        if T[i, W_HASH]:
            low = min(low, T[i, W_LAST])
            high = max(high, T[i, W_LAST])
    while low < high:  # the answer stays in [low, high]
        middle = low + (high - low) // 2
        count = 0
        for i in range(T.shape[0]):
            if T[i, W_HASH] and T[i, W_LAST] <= middle:
                count += 1
        if count >= k:
            high = middle
        else:
            low = middle + 1
    return low


@njit(cache=True)
def finish_all(T, K, C, S, out, out_hist):  # type: ignore[no-untyped-def]
    """The input ended: a last sweep at the last packet's time, then every flow as ``eof``

    (or ``tcp_end`` for a TCP flow that has closed and was still lingering).
    """
    sweep(T, K, S[S_LAST_TS], C, S, out, out_hist)
    for i in range(T.shape[0]):
        if T[i, W_HASH]:
            _export(T, K, i, R_TCP_END if T[i, W_CLOSED] >= 0 else R_EOF, out, out_hist, S)
            T[i, W_HASH] = 0
    S[S_LIVE] = 0


@njit(cache=True, inline="always")
def _letter(T, K, i, bit):  # type: ignore[no-untyped-def]
    """Add a history letter unless the flow has it (the mask is hot, the letters cold)."""
    state = T[i, W_STATE]
    flag = np.int64(1) << (HMASK_SHIFT + bit)
    if not state & flag:
        T[i, W_STATE] = state | flag
        hist = K[i, K_HIST]
        n = 0
        while (hist >> (4 * n)) & 0xF:
            n += 1
        K[i, K_HIST] = hist | (np.int64(bit + 1) << (4 * n))


@njit(cache=True)
def _reset(T, K, i, ob, ts):  # type: ignore[no-untyped-def]
    """Counters, flags, history and context of a (new or continued) flow."""
    T[i, W_START] = ts
    T[i, W_LAST] = ts
    T[i, W_CLOSED] = -1
    T[i, W_OPKTS] = 0
    T[i, W_RPKTS] = 0
    T[i, W_OBYTES] = 0
    T[i, W_RBYTES] = 0
    T[i, W_STATE] = 0
    K[i, :] = 0
    K[i, K_TAGS] = (ob[OB_VLAN] + 1) | ((ob[OB_IVLAN] + 1) << 13) | (ob[OB_NMPLS] << 26)
    K[i, K_MPLS01] = ob[OB_MPLS0] | (ob[OB_MPLS0 + 1] << 20)
    K[i, K_MPLS23] = ob[OB_MPLS0 + 2] | (ob[OB_MPLS0 + 3] << 20)


@njit(cache=True)
def _insert(T, K, i, h, ob, ts):  # type: ignore[no-untyped-def]
    """A new flow in empty slot ``i``; returns the direction of its first packet."""
    T[i, W_HASH] = h
    T[i, W_CTX0] = ob[OB_CTX0]
    T[i, W_CTX1] = ob[OB_CTX1]
    _reset(T, K, i, ob, ts)
    flip = ob[OB_PROTO] == 6 and (ob[OB_FLAGS] & 0x12) == 0x12 and ob[OB_FRAG] != LATER_FRAGMENT
    if flip:  # a SYN+ACK first: its receiver opened the connection
        T[i, W_KEY] = _key_word(ob[OB_DPORT], ob[OB_SPORT], ob[OB_PROTO], ob[OB_IPV])
        T[i, W_OHI], T[i, W_OLO] = ob[OB_DHI], ob[OB_DLO]
        T[i, W_RHI], T[i, W_RLO] = ob[OB_SHI], ob[OB_SLO]
        _letter(T, K, i, B_FLIP)
        # a packet from an end to itself matches the originator first, as later ones will
        same = ob[OB_SHI] == ob[OB_DHI] and ob[OB_SLO] == ob[OB_DLO] and ob[OB_SPORT] == ob[OB_DPORT]
        return 0 if same else 1
    T[i, W_KEY] = _key_word(ob[OB_SPORT], ob[OB_DPORT], ob[OB_PROTO], ob[OB_IPV])
    T[i, W_OHI], T[i, W_OLO] = ob[OB_SHI], ob[OB_SLO]
    T[i, W_RHI], T[i, W_RLO] = ob[OB_DHI], ob[OB_DLO]
    return 0


@njit(cache=True, inline="always")
def _count(T, K, i, d, ob, ts):  # type: ignore[no-untyped-def]
    """One packet of direction ``d`` into flow ``i``."""
    T[i, W_OPKTS + d] += 1
    T[i, W_OBYTES + d] += ob[OB_IPLEN]
    if ts > T[i, W_LAST]:
        T[i, W_LAST] = ts
    if ob[OB_FRAG] == LATER_FRAGMENT:
        return
    proto = ob[OB_PROTO]
    base = 6 * d
    if proto == 6:
        flags = ob[OB_FLAGS]
        T[i, W_STATE] |= flags << (8 * d)
        syn, fin, rst, ack = flags & 2, flags & 1, flags & 4, flags & 16
        if syn and not ack:
            _letter(T, K, i, base + B_S)
        if syn and ack:
            _letter(T, K, i, base + B_H)
        if ack and not (syn or fin or rst) and ob[OB_PAYLOAD] == 0:
            _letter(T, K, i, base + B_A)
        if ob[OB_PAYLOAD] > 0:
            _letter(T, K, i, base + B_D)
        if fin:
            _letter(T, K, i, base + B_F)
        if rst:
            _letter(T, K, i, base + B_R)
        if T[i, W_CLOSED] < 0:
            m = T[i, W_STATE] >> HMASK_SHIFT
            both_fin = (m >> B_F) & 1 and (m >> (6 + B_F)) & 1
            if both_fin or (m >> B_R) & 1 or (m >> (6 + B_R)) & 1:
                T[i, W_CLOSED] = ts
    elif proto == 17 and ob[OB_PAYLOAD] > 0:
        _letter(T, K, i, base + B_D)


@njit(cache=True)
def _add_parent(T, K, i, P):  # type: ignore[no-untyped-def]
    """Remember the flow that carried this packet (at most two, the first met)."""
    n = (T[i, W_STATE] >> NPAR_SHIFT) & 0x3
    for k in range(n):
        c = K_PAR0 + k * PAR_COLS
        if K[i, c] != P[OB_IPV] or K[i, c + 1] != P[OB_PROTO]:
            continue
        same = (K[i, c + 2] == P[OB_SHI] and K[i, c + 3] == P[OB_SLO] and K[i, c + 4] == P[OB_DHI]
                and K[i, c + 5] == P[OB_DLO] and K[i, c + 6] == P[OB_SPORT] and K[i, c + 7] == P[OB_DPORT])
        swapped = (K[i, c + 2] == P[OB_DHI] and K[i, c + 3] == P[OB_DLO] and K[i, c + 4] == P[OB_SHI]
                   and K[i, c + 5] == P[OB_SLO] and K[i, c + 6] == P[OB_DPORT] and K[i, c + 7] == P[OB_SPORT])
        if same or swapped:
            return
    if n >= 2:
        return
    c = K_PAR0 + n * PAR_COLS
    K[i, c], K[i, c + 1] = P[OB_IPV], P[OB_PROTO]
    K[i, c + 2], K[i, c + 3], K[i, c + 4], K[i, c + 5] = P[OB_SHI], P[OB_SLO], P[OB_DHI], P[OB_DLO]
    K[i, c + 6], K[i, c + 7] = P[OB_SPORT], P[OB_DPORT]
    T[i, W_STATE] += np.int64(1) << NPAR_SHIFT


@njit(cache=True, inline="always")
def _copy_row(obs, c, j, row):  # type: ignore[no-untyped-def]
    for q in range(row.shape[0]):
        row[q] = obs[c, j, q]


@njit(cache=True, inline="always")
def _observe(T, K, FR, C, S, out, out_hist, obs, c, j, ts, probs, ob, parent):  # type: ignore[no-untyped-def]
    """Observation ``obs[c, j]`` into the table, through the scratch rows ``ob`` and ``parent``.

    Copying a row into a scratch array is cheaper than slicing it: every slice is a new
    array view with two atomic reference counts, and this runs once per observation.
    """
    _copy_row(obs, c, j, ob)
    if ob[OB_FRAG] != 0:
        if not _fragment(FR, ob, ts, probs):
            return
        h = _key_hash(ob)  # a later fragment has just been given its ports
    else:
        h = ob[OB_HASH]
    mask = T.shape[0] - 1
    i, d = _find(T, mask, h, ob)
    if d >= 0:
        syn_only = ob[OB_PROTO] == 6 and (ob[OB_FLAGS] & 0x12) == 0x02 and ob[OB_FRAG] != LATER_FRAGMENT
        reason = _over(T, i, ts, C)
        if reason < 0 and T[i, W_CLOSED] >= 0 and syn_only:
            reason = R_TCP_END  # the ports are being reused for a new connection
        if reason >= 0:
            _end(T, K, mask, i, reason, out, out_hist, S)
            d = -1
        elif ts - T[i, W_START] >= C[C_ACTIVE]:
            _export(T, K, i, R_ACTIVE, out, out_hist, S)
            _reset(T, K, i, ob, ts)
    if d < 0:
        if S[S_LIVE] >= C[C_MAX_FLOWS]:
            sweep(T, K, ts, C, S, out, out_hist)
            if S[S_LIVE] >= C[C_MAX_FLOWS]:
                _evict(T, K, C, S, out, out_hist)
            i, d = _find(T, mask, h, ob)
        d = _insert(T, K, i, h, ob, ts)
        S[S_LIVE] += 1
    _count(T, K, i, d, ob, ts)
    p = ob[OB_PARENT]
    if p >= 0:
        _copy_row(obs, c, p, parent)
        _add_parent(T, K, i, parent)


@njit(cache=True)
def _decode_ahead(data, offsets, caplens, linktypes, i, m, T, obs, counts, chunk_probs):  # type: ignore[no-untyped-def]
    """Decode packets ``i..i+m`` and prefetch the hot rows their flows will need."""
    mask = T.shape[0] - 1
    n = offsets.shape[0]
    for c in range(m):
        if i + c + PACKETS_AHEAD < n:  # the headers of a packet a little further on
            prefetch_byte(data, offsets[i + c + PACKETS_AHEAD])  # type: ignore[call-arg]
        for q in range(chunk_probs.shape[1]):
            chunk_probs[c, q] = 0
        k = decode_packet(data, offsets[i + c], caplens[i + c], linktypes[i + c], obs, c, chunk_probs)
        counts[c] = k
        for j in range(k):
            if obs[c, j, OB_FRAG] != LATER_FRAGMENT:
                h = _key_hash_at(obs, c, j)
                obs[c, j, OB_HASH] = h  # for the table, which would otherwise hash it again
                slot = h & mask
                prefetch(T, slot, 0)  # type: ignore[call-arg]
                prefetch(T, slot, W_COLS - 1)  # a row: two cache lines


@njit(cache=True)
def run_packets(data, offsets, caplens, tss, linktypes, i0, T, K, FR, C, S, out, out_hist, obs, probs,  # type: ignore[no-untyped-def]
                counts, chunk_probs, rows):
    """Packets ``i0..`` through decoder and table; stops early to let Python flush or grow.

    Packets are decoded a chunk ahead of the table so that the rows they need are already
    on their way from memory; decoding has no state, so a stop mid-chunk loses nothing.
    ``counts``, ``chunk_probs`` and ``rows`` are the caller's scratch (_fastlayout.new_scratch):
    this kernel allocates nothing, so it is built without reference counting (_aot.py).
    """
    n = offsets.shape[0]
    out_cap = out.shape[0]
    grow_at = T.shape[0] // 2
    chunk = obs.shape[0]
    ob = rows[0]
    parent = rows[1]
    i = i0
    while i < n:
        m = min(chunk, n - i)
        _decode_ahead(data, offsets, caplens, linktypes, i, m, T, obs, counts, chunk_probs)
        for c in range(m):
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
                sweep(T, K, ts, C, S, out, out_hist)
                S[S_NEXT_SWEEP] = ts + SWEEP_EVERY_US
                S[S_SWEPT_AT] = S[S_PACKETS]
            if ts > S[S_LAST_TS]:
                S[S_LAST_TS] = ts
            S[S_PACKETS] += 1
            for q in range(probs.shape[0]):
                probs[q] += chunk_probs[c, q]
            for j in range(counts[c]):
                _observe(T, K, FR, C, S, out, out_hist, obs, c, j, ts, probs, ob, parent)
            i += 1
    return i, DONE


@njit(cache=True)
def rehash(T, K, T2, K2):  # type: ignore[no-untyped-def]
    """Move every flow of ``T`` into the larger empty table ``T2``."""
    mask = T2.shape[0] - 1
    for i in range(T.shape[0]):
        if T[i, W_HASH]:
            j = T[i, W_HASH] & mask
            while T2[j, W_HASH]:
                j = (j + 1) & mask
            T2[j, :] = T[i, :]
            K2[j, :] = K[i, :]

