"""The fast engine's memory layout: column numbers, vector slots, codes. Plain Python, no numba.

The compiled kernels (_fastflows.py, _fastdecode.py) and the Python side (_fastengine.py)
agree on these. This module imports nothing compiled, so that a process running the
ahead-of-time build (_aot.py) never loads numba.

The decoder's own constants (``OB_*``, problem kinds, tunnel codes) stay in _fastdecode.py;
the few the Python side needs are mirrored at the end of this file, and the ahead-of-time
build and the tests check that the two agree.
"""

from __future__ import annotations

import numpy as np

# Flow table hot row (16 words). W_HASH is 0 for an empty slot (live hashes have bit 62 set).
W_HASH, W_KEY, W_CTX0, W_CTX1, W_OHI, W_OLO, W_RHI, W_RLO = 0, 1, 2, 3, 4, 5, 6, 7
W_START, W_LAST, W_CLOSED, W_OPKTS, W_RPKTS, W_OBYTES, W_RBYTES, W_STATE = 8, 9, 10, 11, 12, 13, 14, 15
W_COLS = 16
# W_KEY: originator port | responder port << 16 | protocol << 32 | IP version << 40.
# W_STATE: originator flags | responder flags << 8 | history letter mask << 16 | parents << 29.
HMASK_SHIFT, NPAR_SHIFT = 16, 29

# Cold row.
K_HIST, K_TAGS, K_MPLS01, K_MPLS23, K_PAR0 = 0, 1, 2, 3, 4  # two parent keys of 8 words: 4..11, 12..19
PAR_COLS = 8
K_COLS = 20

# Output row (unpacked), for _fasttable.rows_to_table.
F_IPV, F_PROTO, F_CTX0, F_CTX1, F_OHI, F_OLO, F_RHI, F_RLO, F_OPORT, F_RPORT = range(10)
F_START, F_LAST, F_OPKTS, F_RPKTS, F_OBYTES, F_RBYTES, F_OFLAGS, F_RFLAGS = range(10, 18)
F_HLEN, F_VLAN, F_IVLAN, F_NMPLS, F_MPLS0 = 18, 19, 20, 21, 22  # four labels: 22..25
F_NPAR, F_PAR0 = 26, 27  # two parent keys: 27..34, 35..42
F_REASON, F_STATE = 43, 44
F_COLS = 45
HIST_MAX = 16

# Config vector.
C_IDLE_TCP, C_IDLE_UDP, C_IDLE_ICMP, C_IDLE_OTHER, C_ACTIVE, C_DELAY, C_MAX_FLOWS = 0, 1, 2, 3, 4, 5, 6
C_COLS = 7
# Scalar state vector.
S_LIVE, S_NEXT_SWEEP, S_OUT, S_LAST_TS, S_PACKETS, S_NEED, S_SWEPT_AT = 0, 1, 2, 3, 4, 5, 6
S_COLS = 7
# Fragment cache (bounded: groups of FRAG_WAYS slots by key), columns.
FR_TS, FR_IPV, FR_SHI, FR_SLO, FR_DHI, FR_DLO, FR_PROTO, FR_ID, FR_SPORT, FR_DPORT = range(10)
FR_COLS = 10
FRAG_SLOTS = 1 << 16
FRAG_WAYS = 8
FRAG_LIFETIME_US = 30_000_000
SWEEP_EVERY_US = 1_000_000
SWEEP_AT_MOST_US = 10_000_000
DECODE_AHEAD = 32
PACKETS_AHEAD = 8

# Return codes of run_packets.
DONE, NEED_FLUSH, NEED_GROW = 0, 1, 2

REASONS = ("idle", "active", "tcp_end", "eof", "evicted")
R_IDLE, R_ACTIVE, R_TCP_END, R_EOF, R_EVICTED = 0, 1, 2, 3, 4
CONN_STATES = ("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH")

# History letters, by bit: originator S H A D F R, then the responder's, then '^'.
LETTERS = np.frombuffer(b"SHADFRshadfr^", dtype=np.uint8).copy()
B_S, B_H, B_A, B_D, B_F, B_R = 0, 1, 2, 3, 4, 5
B_FLIP = 12

# The decoder's (_fastdecode.py) observation rows' shape, problem counters and tunnel label
# codes, kept here so that the Python side needs no numba to read them.
MAX_OBS = 6
OB_COLS = 24
PROBLEM_KINDS = (
    "truncated",
    "bad_ip",
    "non_ip",
    "mpls_payload",
    "orphan_fragment",
    "bad_tunnel",
    "too_deep",
    "unsupported_linktype",
)
TUNNEL_NAMES = {1: "gre", 2: "erspan", 3: "vxlan", 4: "geneve", 5: "gtpu", 6: "ipip", 7: "teredo"}


def chain_labels(ctx0: int, ctx1: int) -> str | None:
    """The tunnel chain text (``vxlan:100,gre``) of two packed chain words."""
    labels = []
    for word in (ctx0, ctx1):
        for label in ((word >> 32) & 0xFFFFFFFF, word & 0xFFFFFFFF):
            if label == 0:
                continue
            name = TUNNEL_NAMES[label >> 24]
            if name in ("vxlan", "geneve"):
                name = f"{name}:{label & 0xFFFFFF}"
            labels.append(name)
    return ",".join(labels) if labels else None


def new_scratch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """run_packets' scratch: observations per packet, problems per packet, two observation rows."""
    return (np.zeros(DECODE_AHEAD, dtype=np.int64), np.zeros((DECODE_AHEAD, len(PROBLEM_KINDS)), dtype=np.int64),
            np.zeros((2, OB_COLS), dtype=np.int64))


def new_obs() -> np.ndarray:
    """The decoder's scratch rows: a chunk of packets, each up to MAX_OBS observations."""
    return np.zeros((DECODE_AHEAD, MAX_OBS, OB_COLS), dtype=np.int64)


def new_fragments() -> np.ndarray:
    frags = np.zeros((FRAG_SLOTS, FR_COLS), dtype=np.int64)
    frags[:, FR_TS] = -1
    return frags
