"""The text parts of the fast engine's ended-flow rows, for its tables and its JSON lines alike."""

from __future__ import annotations

import numpy as np

from collectors._fastkernels import engine_kernels
from collectors._fastlayout import (
    F_CTX0,
    F_CTX1,
    F_IPV,
    F_NPAR,
    F_OHI,
    F_OLO,
    F_OPORT,
    F_PAR0,
    F_PROTO,
    F_RHI,
    F_RLO,
    F_RPORT,
    PAR_COLS,
)


def flow_texts(rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """``format_flows`` of the rows: address data, offsets for orig then resp, flow ids, parent ids, their offsets."""
    par = np.ascontiguousarray(rows[:, F_PAR0 : F_PAR0 + 2 * PAR_COLS])
    return tuple(engine_kernels().format_flows(
        rows[:, F_IPV], rows[:, F_PROTO], rows[:, F_OHI], rows[:, F_OLO], rows[:, F_OPORT],
        rows[:, F_RHI], rows[:, F_RLO], rows[:, F_RPORT], rows[:, F_NPAR], par,
    ))


def tunnel_chains(rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct tunnel chain texts, and each row's code: 0 not tunnelled, ``k + 1`` for chain ``k``.

    Most flows are not tunnelled, and only the rest are looked at.
    """
    codes = np.zeros(rows.shape[0], dtype=np.int64)
    tunnelled = np.flatnonzero(rows[:, F_CTX0] | rows[:, F_CTX1])
    if not tunnelled.size:
        return [], codes
    unique, inverse = np.unique(rows[tunnelled][:, [F_CTX0, F_CTX1]], axis=0, return_inverse=True)
    chain_labels = engine_kernels().chain_labels
    codes[tunnelled] = inverse.ravel() + 1
    return [chain_labels(int(a), int(b)) or "" for a, b in unique], codes
