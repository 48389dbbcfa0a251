"""The ``scapy`` engine: scapy's own layers and the reference flow table, in plain Python.

It is slow on purpose (every header is a scapy object) and serves as the oracle the fast
engine is tested against. scapy is imported when the first engine is built, not with
``collectors``: it costs about a second and prints nothing we need at import.
"""

from __future__ import annotations

import pickle
import warnings
from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from collectors._config import FlowConfig
from collectors._packets import PacketBatch
from collectors._pyflows import FlowTable, Row, rows_to_table

if TYPE_CHECKING:
    from collectors._scapy_decode import Decoder

SWEEP_EVERY_US = 1_000_000


def _new_decoder() -> Decoder:
    """Import scapy on first use; its import-time warnings are scapy's business, not ours."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from collectors._scapy_decode import Decoder
    return Decoder()


class ScapyEngine:
    """Decodes with scapy, keys flows with :class:`FlowTable` (docs/collectors.md)."""

    name = "scapy"

    def __init__(self, config: FlowConfig | None = None) -> None:
        self.config = config or FlowConfig()
        self.packets = 0
        self.problems: Counter[str] = Counter()
        self._table = FlowTable(self.config)
        self._decoder = _new_decoder()
        self._last_sweep: int | None = None
        self._last_ts: int | None = None

    def feed(self, batch: PacketBatch) -> pa.Table:
        """Decode a batch; returns the flows that ended meanwhile."""
        rows: list[Row] = []
        for i in range(len(batch)):
            ts = int(batch.ts_us[i])
            rows.extend(self._sweep_if_due(ts))
            rows.extend(self._packet(int(batch.linktype[i]), batch.packet(i), ts))
        return rows_to_table(rows)

    def finish(self) -> pa.Table:
        """End every live flow: a last sweep at the last packet's time, then ``eof``."""
        if self._last_ts is None:
            return rows_to_table([])
        return rows_to_table(self._table.finish(self._last_ts))

    def snapshot(self) -> bytes:
        """Flow table, fragment table, counters and clocks: everything :meth:`feed` uses."""
        state: dict[str, Any] = {
            "packets": self.packets,
            "problems": self.problems,
            "table": self._table,
            "fragments": self._decoder.fragments,
            "last_sweep": self._last_sweep,
            "last_ts": self._last_ts,
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    def restore(self, state: bytes) -> None:
        """Continue from a :meth:`snapshot` (trusted: one this process family wrote)."""
        loaded = pickle.loads(state)  # our own snapshot, never foreign input
        self.packets = loaded["packets"]
        self.problems = loaded["problems"]
        self._table = loaded["table"]
        self._table.config = self.config  # timeouts and limits are this run's settings
        self._decoder.fragments = loaded["fragments"]
        self._last_sweep = loaded["last_sweep"]
        self._last_ts = loaded["last_ts"]

    # --- one packet ---------------------------------------------------------------

    def _sweep_if_due(self, ts: int) -> list[Row]:
        """Sweep when packet time has moved a second past the previous sweep."""
        if self._last_sweep is None:
            self._last_sweep = ts
            return []
        if ts - self._last_sweep < SWEEP_EVERY_US:
            return []
        self._last_sweep = ts
        self._decoder.purge(ts)
        return self._table.sweep(ts)

    def _packet(self, linktype: int, frame: bytes, ts: int) -> list[Row]:
        self.packets += 1
        self._last_ts = ts if self._last_ts is None else max(self._last_ts, ts)
        try:
            observations, problem = self._decoder.decode(linktype, frame, ts)
        except Exception:  # a scapy surprise the decoder did not foresee: still one bad packet
            observations, problem = [], "truncated"
        if problem is not None:
            self.problems[problem] += 1
        rows: list[Row] = []
        flow_ids: list[str | None] = []
        for obs in observations:
            parent = flow_ids[obs.parent] if obs.parent is not None else None
            rows.extend(self._table.add(obs, parent))
            flow_ids.append(self._table.last_flow_id)
        return rows
