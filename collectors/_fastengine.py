"""The ``fast`` engine: compiled decoder and flow table, Arrow out.

Python only allocates, grows and drains; every packet is handled in the compiled
``run_packets`` loop (_fastflows.py). Ended flows come back as rows of an int64 matrix and
are turned into FLOW_SCHEMA columns by _fasttable.py, a batch at a time and only when
asked (a collect run asks on its writing thread). The kernels come from the
ahead-of-time build when it is current, else from numba's JIT (_aot.py).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

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
    F_COLS,
    HIST_MAX,
    K_COLS,
    NEED_FLUSH,
    NEED_GROW,
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

if TYPE_CHECKING:
    import pyarrow as pa

_INITIAL_SLOTS = 1 << 12
_INITIAL_OUT = 1 << 14


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
        return self.finish_deferred().build()

    def finish_deferred(self) -> EndedRows:
        first = self._take_ended()
        self._ensure_out(self.live_flows + 1)
        self.kernels.finish_all(self._table, self._cold, self._cfg, self._state, self._out, self._out_hist)
        return EndedRows.joined([first, self._take_ended()], self.config.tap_id)

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
        from collectors._fasttable import rows_to_table  # Arrow, loaded on first build

        return rows_to_table(self.rows, self.hist, self.tap_id)

    def jsonl(self) -> memoryview:
        from collectors._flowlines import flow_lines

        return flow_lines(self.rows, self.hist, self.tap_id)
