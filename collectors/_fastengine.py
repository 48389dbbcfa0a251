"""The ``fast`` engine: compiled decoder and flow table, Arrow out.

Python only allocates, grows and drains; every packet is handled in the compiled
``run_packets`` loop (_fastflows.py). Ended flows come back as rows of an int64 matrix and
are turned into FLOW_SCHEMA columns here, a batch at a time. The kernels come from the
ahead-of-time build when it is current, else from numba's JIT (_aot.py).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from collectors import _memory as memory
from collectors._config import FlowConfig
from collectors._fastkernels import engine_kernels
from collectors._fastlayout import (
    C_ACTIVE,
    C_COLS,
    C_DELAY,
    C_IDLE_ICMP,
    C_IDLE_OTHER,
    C_IDLE_TCP,
    C_IDLE_UDP,
    C_MAX_FLOWS,
    CONN_STATES,
    F_COLS,
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
    HIST_MAX,
    K_COLS,
    NEED_FLUSH,
    NEED_GROW,
    PAR_COLS,
    REASONS,
    S_COLS,
    S_LAST_TS,
    S_LIVE,
    S_NEED,
    S_OUT,
    S_PACKETS,
    W_COLS,
    new_fragments,
    new_scratch,
)
from collectors._packets import PacketBatch
from collectors._schema import FLOW_SCHEMA

_MASK64 = (1 << 64) - 1
_INITIAL_SLOTS = 1 << 12
_INITIAL_OUT = 1 << 14


def _address_bytes(version: int, hi: int, lo: int) -> bytes:
    if version == 4:
        return (lo & 0xFFFFFFFF).to_bytes(4, "big")
    return ((hi & _MASK64) << 64 | (lo & _MASK64)).to_bytes(16, "big")


class FastEngine:
    """Decoder and flow table compiled with numba (ahead of time or JIT); see docs/collectors.md."""

    name = "fast"

    def __init__(self, config: FlowConfig | None = None) -> None:
        self.kernels = engine_kernels()
        self.config = config or FlowConfig()
        self.problems: Counter[str] = Counter()
        cfg = np.zeros(C_COLS, dtype=np.int64)
        cfg[C_IDLE_TCP] = self.config.idle_us(6)
        cfg[C_IDLE_UDP] = self.config.idle_us(17)
        cfg[C_IDLE_ICMP] = self.config.idle_us(1)
        cfg[C_IDLE_OTHER] = self.config.idle_us(0)
        cfg[C_ACTIVE] = self.config.active_us
        cfg[C_DELAY] = self.config.close_delay_us
        cfg[C_MAX_FLOWS] = self.config.max_flows
        self._cfg = cfg
        self._table = memory.table(_INITIAL_SLOTS, W_COLS, np.int64)
        self._cold = memory.table(_INITIAL_SLOTS, K_COLS, np.int64)
        self._frags = new_fragments()
        self._state = np.zeros(S_COLS, dtype=np.int64)
        self._state[S_LAST_TS] = np.iinfo(np.int64).min
        self._out = np.zeros((_INITIAL_OUT, F_COLS), dtype=np.int64)
        self._out_hist = np.zeros((_INITIAL_OUT, HIST_MAX), dtype=np.uint8)
        self._obs = self.kernels.new_obs()
        self._scratch = new_scratch()
        self._probs = np.zeros(len(self.kernels.problem_kinds), dtype=np.int64)

    @property
    def packets(self) -> int:
        return int(self._state[S_PACKETS])

    @property
    def live_flows(self) -> int:
        return int(self._state[S_LIVE])

    def feed(self, batch: PacketBatch) -> pa.Table:
        return self.feed_deferred(batch).build()

    def feed_deferred(self, batch: PacketBatch) -> EndedRows:
        parts: list[EndedRows] = []
        i = 0
        while True:
            i, code = self.kernels.run_packets(
                batch.data, batch.offset, batch.caplen, batch.ts_us, batch.linktype, i,
                self._table, self._cold, self._frags, self._cfg, self._state,
                self._out, self._out_hist, self._obs, self._probs, *self._scratch,
            )
            if code == NEED_FLUSH:
                parts.append(self._take_ended())
                self._ensure_out(int(self._state[S_NEED]))
            elif code == NEED_GROW:
                self._grow()
            else:
                break
        parts.append(self._take_ended())
        self._sync_problems()
        return EndedRows.joined(parts, self.config.tap_id)

    def finish(self) -> pa.Table:
        first = self._take_ended()
        self._ensure_out(self.live_flows + 1)
        self.kernels.finish_all(self._table, self._cold, self._cfg, self._state, self._out, self._out_hist)
        return EndedRows.joined([first, self._take_ended()], self.config.tap_id).build()

    def snapshot(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, table=self._table, cold=self._cold, frags=self._frags, state=self._state,
                 probs=self._probs, cfg=self._cfg)
        return buffer.getvalue()

    def restore(self, state: bytes) -> None:
        with np.load(io.BytesIO(state)) as saved:
            self._table = saved["table"].copy()
            self._cold = saved["cold"].copy()
            self._frags = saved["frags"].copy()
            self._state = saved["state"].copy()
            self._probs = saved["probs"].copy()
        self._sync_problems()

    def _sync_problems(self) -> None:
        kinds = self.kernels.problem_kinds
        self.problems = Counter({kind: int(n) for kind, n in zip(kinds, self._probs, strict=True) if n})

    def _ensure_out(self, rows: int) -> None:
        if self._out.shape[0] < rows:
            size = max(rows, 2 * self._out.shape[0])
            self._out = np.zeros((size, F_COLS), dtype=np.int64)
            self._out_hist = np.zeros((size, HIST_MAX), dtype=np.uint8)

    def _grow(self) -> None:
        size = self._table.shape[0] * 2
        table = memory.table(size, W_COLS, np.int64)
        cold = memory.table(size, K_COLS, np.int64)
        self.kernels.rehash(self._table, self._cold, table, cold)
        self._table, self._cold = table, cold

    def _take_ended(self) -> EndedRows:
        """The rows of flows ended since the last take, copied out of the output matrices."""
        k = int(self._state[S_OUT])
        self._state[S_OUT] = 0
        return EndedRows(self._out[:k].copy(), self._out_hist[:k].copy(), self.config.tap_id)


class EndedRows:
    """Ended-flow rows of the compiled table, turned into FLOW_SCHEMA columns when built."""

    def __init__(self, rows: np.ndarray, hist: np.ndarray, tap_id: str) -> None:
        self.rows, self.hist, self.tap_id = rows, hist, tap_id

    @classmethod
    def joined(cls, parts: Sequence[EndedRows], tap_id: str) -> EndedRows:
        kept = [part for part in parts if part.count] or list(parts[:1])
        if len(kept) == 1:
            return kept[0]
        return cls(np.concatenate([p.rows for p in kept]), np.concatenate([p.hist for p in kept]), tap_id)

    @property
    def count(self) -> int:
        return int(self.rows.shape[0])

    def build(self) -> pa.Table:
        if not self.count:
            return FLOW_SCHEMA.empty_table()
        return rows_to_table(self.rows, self.hist, self.tap_id)


def _strings(data: np.ndarray, offsets: np.ndarray) -> pa.Array:
    return pa.StringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def _fixed_strings(data: np.ndarray, count: int, width: int) -> pa.Array:
    return _strings(data, np.arange(0, count * width + 1, width, dtype=np.int32))


def _tunnel_column(rows: np.ndarray) -> pa.Array:
    """Chain text by chain words; most flows are not tunnelled and only the rest are looked at."""
    n = rows.shape[0]
    tunnelled = np.flatnonzero(rows[:, F_CTX0] | rows[:, F_CTX1])
    index = np.zeros(n, dtype=np.int32)
    names: list[str | None] = [None]
    if tunnelled.size:
        chains = rows[tunnelled][:, [F_CTX0, F_CTX1]]
        unique, inverse = np.unique(chains, axis=0, return_inverse=True)
        chain_labels = engine_kernels().chain_labels
        names += [chain_labels(int(a), int(b)) for a, b in unique]
        index[tunnelled] = inverse.ravel() + 1
    return _labels(index, names)


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
    version = rows[:, F_IPV]
    par = np.ascontiguousarray(rows[:, F_PAR0 : F_PAR0 + 2 * PAR_COLS])
    addr, addr_off, ids, par_ids, par_off = engine_kernels().format_flows(
        version, rows[:, F_PROTO], rows[:, F_OHI], rows[:, F_OLO], rows[:, F_OPORT],
        rows[:, F_RHI], rows[:, F_RLO], rows[:, F_RPORT], rows[:, F_NPAR], par,
    )
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
