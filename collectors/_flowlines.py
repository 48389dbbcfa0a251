"""The fast engine's ended-flow rows straight to JSON lines (``_fastjson.flow_rows_jsonl``).

For a collect run whose records go to JSON lines as they are (no gate, no other sink): the
same bytes as building the rows' FLOW_SCHEMA table and encoding that, at about half the
cost. It runs on the writing thread, where Arrow (for the schema's names) has loaded.
"""

from __future__ import annotations

import functools
import json

import numpy as np

from collectors._fastjson import TEXT_NULL, TEXT_TAP, flow_rows_jsonl
from collectors._fastlayout import (
    CONN_STATES,
    F_REASON,
    F_STATE,
    HIST_MAX,
    REASONS,
)
from collectors._flowtexts import flow_texts, tunnel_chains

_STATES_AT = 2  # texts: null, the tap id, the conn states, the end reasons, then the tunnel chains
_REASONS_AT = _STATES_AT + len(CONN_STATES)
_CHAINS_AT = _REASONS_AT + len(REASONS)
# the most one row's values take besides its keys: two timestamps, a Community ID, two IPv6
# addresses, a dozen integers, a history, four MPLS labels and the longest three texts
_ROW_VALUES = 2 * 28 + 32 + 2 * 41 + 12 * 21 + HIST_MAX + 2 + 4 * 21 + 8


def flow_lines(rows: np.ndarray, hist: np.ndarray, tap_id: str) -> memoryview:
    """JSON lines of ended-flow rows (FLOW_SCHEMA order, as ``encode_jsonl`` writes them)."""
    n = rows.shape[0]
    addr, addr_off, ids, par_ids, par_off = flow_texts(rows)
    chains, codes = tunnel_chains(rows)
    encoded = [b"", b""]
    encoded[TEXT_NULL], encoded[TEXT_TAP] = b"null", json.dumps(tap_id, ensure_ascii=False).encode()
    encoded += [json.dumps(name).encode() for name in (*CONN_STATES, *REASONS, *chains)]
    texts = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    texts_off = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in encoded], out=texts_off[1:])
    row_texts = np.empty((n, 3), dtype=np.int64)
    row_texts[:, 0] = rows[:, F_STATE] + _STATES_AT
    row_texts[:, 1] = np.where(codes == 0, TEXT_NULL, codes - 1 + _CHAINS_AT)
    row_texts[:, 2] = rows[:, F_REASON] + _REASONS_AT
    keys, keys_off = _keys()
    longest = int(np.diff(texts_off).max())
    bound = n * (len(keys) + _ROW_VALUES + 3 * longest) + 33 * (len(par_ids) // 30)
    out = np.empty(bound, dtype=np.uint8)
    length = int(flow_rows_jsonl(rows, hist, addr, addr_off, ids, par_ids, par_off, texts, texts_off, row_texts,  # type: ignore[no-untyped-call]
                                 keys, keys_off, out))
    return out[:length].data


@functools.cache
def _keys() -> tuple[np.ndarray, np.ndarray]:
    from collectors._schema import FLOW_FIELDS

    keys = [(("{" if k == 0 else ",") + json.dumps(name) + ":").encode() for k, name in enumerate(FLOW_FIELDS)]
    offsets = np.zeros(len(keys) + 1, dtype=np.int64)
    np.cumsum([len(k) for k in keys], out=offsets[1:])
    return np.frombuffer(b"".join(keys), dtype=np.uint8), offsets
