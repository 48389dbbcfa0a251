"""The fast engine's ended-flow rows as FLOW_SCHEMA columns (Arrow).

Apart from the engine so that the engine loads without Arrow: a collect run starts
decoding while Arrow loads on its writing thread.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from collectors._fastlayout import (
    CONN_STATES,
    F_HLEN,
    F_IPV,
    F_IVLAN,
    F_LAST,
    F_MPLS0,
    F_NMPLS,
    F_OBYTES,
    F_OFLAGS,
    F_OPKTS,
    F_OPORT,
    F_PROTO,
    F_RBYTES,
    F_REASON,
    F_RFLAGS,
    F_RPKTS,
    F_RPORT,
    F_START,
    F_STATE,
    F_VLAN,
    HIST_MAX,
    REASONS,
)
from collectors._flowtexts import flow_texts, tunnel_chains
from collectors._schema import FLOW_SCHEMA


def _strings(data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def _fixed_strings(data: np.ndarray, count: int, width: int) -> pa.Array:
    return _strings(data, np.arange(0, count * width + 1, width, dtype=np.int32))


def _tunnel_column(rows: np.ndarray) -> pa.Array:
    chains, codes = tunnel_chains(rows)
    return _labels(codes, [None, *chains])


def _labels(codes: np.ndarray, names: Sequence[str | None]) -> pa.Array:
    """The string column ``names[codes]`` (None: null), built from numpy buffers.

    Decoding a dictionary array (``cast``) would load Arrow's compute module, which a
    collect run otherwise never needs.
    """
    encoded = [b"" if name is None else name.encode() for name in names]
    lengths = np.array([len(b) for b in encoded], dtype=np.int32)
    width = max(1, int(lengths.max()))
    padded = np.zeros((len(encoded), width), dtype=np.uint8)
    for k, text in enumerate(encoded):
        padded[k, : len(text)] = np.frombuffer(text, dtype=np.uint8)
    codes = codes.astype(np.intp, copy=False)
    row_lengths = lengths[codes]
    offsets = np.zeros(len(codes) + 1, dtype=np.int32)
    np.cumsum(row_lengths, out=offsets[1:])
    data = padded[codes][np.arange(width)[None, :] < row_lengths[:, None]]
    nulls = [k for k, name in enumerate(names) if name is None]
    if not nulls:
        return _strings(data, offsets)
    valid = ~np.isin(codes, nulls)
    return pa.StringArray.from_buffers(len(codes), pa.py_buffer(offsets), pa.py_buffer(data),
                                       pa.py_buffer(np.packbits(valid, bitorder="little")), int((~valid).sum()))


def rows_to_table(rows: np.ndarray, hist: np.ndarray, tap_id: str) -> pa.Table:
    """FLOW_SCHEMA columns from ended-flow rows of the compiled table."""
    n = rows.shape[0]
    if n == 0:
        return FLOW_SCHEMA.empty_table()
    version = rows[:, F_IPV]
    addr, addr_off, ids, par_ids, par_off = flow_texts(rows)
    hlen = rows[:, F_HLEN]
    hist_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(hlen, out=hist_offsets[1:])
    history = hist[np.arange(HIST_MAX)[None, :] < hlen[:, None]]
    nmpls = rows[:, F_NMPLS]
    mpls_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(nmpls, out=mpls_offsets[1:])
    mpls_values = rows[:, F_MPLS0 : F_MPLS0 + 4][np.arange(4)[None, :] < nmpls[:, None]].astype(np.uint32)
    vlan = rows[:, F_VLAN]
    ivlan = rows[:, F_IVLAN]
    ts_type = FLOW_SCHEMA.field("start").type
    parent_ids = _fixed_strings(par_ids, len(par_ids) // 30, 30)
    columns = {
        "flow_id": _fixed_strings(ids, n, 30),
        "start": pa.array(rows[:, F_START], ts_type),
        "end": pa.array(rows[:, F_LAST], ts_type),
        "ip_version": pa.array(version.astype(np.uint8)),
        "proto": pa.array(rows[:, F_PROTO].astype(np.uint8)),
        "orig_addr": _strings(addr, addr_off[: n + 1]),
        "orig_port": pa.array(rows[:, F_OPORT].astype(np.uint16)),
        "resp_addr": _strings(addr, addr_off[n:]),
        "resp_port": pa.array(rows[:, F_RPORT].astype(np.uint16)),
        "orig_pkts": pa.array(rows[:, F_OPKTS].astype(np.uint64)),
        "resp_pkts": pa.array(rows[:, F_RPKTS].astype(np.uint64)),
        "orig_ip_bytes": pa.array(rows[:, F_OBYTES].astype(np.uint64)),
        "resp_ip_bytes": pa.array(rows[:, F_RBYTES].astype(np.uint64)),
        "orig_tcp_flags": pa.array(rows[:, F_OFLAGS].astype(np.uint8)),
        "resp_tcp_flags": pa.array(rows[:, F_RFLAGS].astype(np.uint8)),
        "history": _strings(history, hist_offsets),
        "conn_state": _labels(rows[:, F_STATE], CONN_STATES),
        "vlan": pa.array(np.where(vlan < 0, 0, vlan).astype(np.uint16), mask=vlan < 0),
        "inner_vlan": pa.array(np.where(ivlan < 0, 0, ivlan).astype(np.uint16), mask=ivlan < 0),
        "mpls": pa.ListArray.from_arrays(pa.array(mpls_offsets), pa.array(mpls_values, pa.uint32())),
        "tunnel": _tunnel_column(rows),
        "tunnel_parents": pa.ListArray.from_arrays(pa.array(par_off), parent_ids),
        "end_reason": _labels(rows[:, F_REASON], REASONS),
        "tap_id": _labels(np.zeros(n, dtype=np.int32), [tap_id]),
        "dns_qname": pa.nulls(n, pa.string()),
        "tls_sni": pa.nulls(n, pa.string()),
        "http_host": pa.nulls(n, pa.string()),
    }
    return pa.Table.from_pydict(columns, schema=FLOW_SCHEMA)
