"""Volumetric DDoS: many outside sources flooding one target, mostly unanswered (T1498.001, T1499.001).

Rows are flows an outside party originated, except UDP from amplifying services (those are
reflection's, _reflection.py). A flow's packets are spread over the windows it overlaps, in
proportion to the time it spent in each (a flood reported as one 30-minute flow record is
not counted as one burst). Per target and evaluation (two windows of ``window`` seconds):
the packets sent toward it, the packets it answered, the distinct sources.

A target fires when at least ``min_packets`` packets reached it from at least
``min_sources`` sources and it answered at most ``max_answer_ratio`` of them (a busy
server answers its clients; a flooded one cannot). The finding names the sources (the most
active first; spoofed floods name many addresses that sent a packet or two each, which
``packets_per_source`` shows) and the target as the gate left it. A flood made mostly of
TCP connection attempts maps to T1499.001 (OS exhaustion flood), any other to T1498.001.

Confidence: 100 · (1 - min_packets / (2 · packets)) · (1 - answer ratio / (2 · max_answer_ratio)).
"""

from __future__ import annotations

import numpy as np

from detectors._config import DdosConfig
from detectors._finding import Finding, FindingKind, Role
from detectors._flows import TCP, UDP, FlowBatch
from detectors._groups import could_reach, distinct_per_group, group, sketch, spread
from detectors._report import Limits, build, strength
from detectors._windows import Continuity, Rows, WindowStore

SYN_FLOOD, NETWORK_FLOOD = "T1499.001", "T1498.001"


class Ddos:
    """Fan-in of unanswered packets toward one target."""

    kind = FindingKind.DDOS

    def __init__(self, config: DdosConfig, limits: Limits, reflection_ports: tuple[int, ...] = ()) -> None:
        self.config = config
        self.limits = limits
        self.reflection_ports = np.array(reflection_ports, np.int64)
        self.store = WindowStore(config.window, limits.lateness, limits.max_window_rows)
        self.max_pieces = limits.lateness // config.window + 2
        self.continuity = Continuity()

    def add(self, batch: FlowBatch) -> None:
        reflected = (batch.proto == UDP) & np.isin(batch.orig_port, self.reflection_ports)
        flows = np.flatnonzero(batch.orig_outside & ~reflected)
        if len(flows) == 0:
            return
        piece, window, share = spread(batch.start[flows], batch.end[flows], self.store.width, self.max_pieces)
        rows = flows[piece]
        self.store.add(
            batch,
            rows,
            {
                "src": batch.orig_key[rows],
                "dst": batch.resp_key[rows],
                "proto": batch.proto[rows],
                "port": batch.resp_port[rows],
                "start": batch.start[rows],
                "end": batch.end[rows],
                "serial": batch.serial[rows],
                "packets": batch.orig_pkts[rows] * share,
                "answers": batch.resp_pkts[rows] * share,
                "bytes": batch.orig_bytes[rows] * share,
            },
            window=window,
        )

    def close(self, watermark: int | None) -> list[Finding]:
        found: list[Finding] = []
        for k in self.store.ready(watermark):
            found += self._evaluate(self.store.evaluate(k, sketch("dst", self.config.min_packets, "packets")))
        return found

    def stats(self) -> dict[str, int]:
        return self.store.stats.as_dict()

    def _evaluate(self, rows: Rows) -> list[Finding]:
        cfg = self.config
        self.continuity.begin(rows.window)
        if len(rows) == 0:
            return []
        dst = rows["dst"]
        candidates = np.flatnonzero(could_reach(dst, cfg.min_packets, rows["packets"]))
        if len(candidates) == 0:
            return []
        groups = group(dst[candidates])
        packets = groups.sum(rows["packets"][candidates])
        answers = groups.sum(rows["answers"][candidates])
        _, sources = distinct_per_group(dst[candidates], rows["src"][candidates])
        ratio = answers / np.maximum(packets, 1e-9)
        fire = (packets >= cfg.min_packets) & (sources >= cfg.min_sources) & (ratio <= cfg.max_answer_ratio)
        found = []
        if fire.any():
            rows.prefetch("src", "dst", rows=candidates[fire[groups.label()]])
        for g in np.flatnonzero(fire):
            picked, continued = self.continuity.report(
                rows, int(groups.keys[g]), candidates[groups.rows(int(g))], lambda some: self._holds(rows, some)
            )
            if len(picked):
                found.append(self._finding(rows, picked, continued))
        return found

    def _holds(self, rows: Rows, picked: np.ndarray) -> bool:
        """Whether ``picked`` alone is a flood at half the thresholds (a continuing window)."""
        cfg = self.config
        packets = float(rows["packets"][picked].sum())
        answered = float(rows["answers"][picked].sum()) / max(packets, 1e-9)
        sources = len(np.unique(rows["src"][picked]))
        return packets >= cfg.min_packets / 2 and sources >= cfg.min_sources / 2 and answered <= cfg.max_answer_ratio

    def _finding(self, rows: Rows, picked: np.ndarray, continued: bool) -> Finding:
        cfg = self.config
        weights = rows["packets"][picked]
        packets = float(weights.sum())
        ratio = float(rows["answers"][picked].sum()) / max(packets, 1e-9)
        sources = len(np.unique(rows["src"][picked]))
        proto = rows["proto"][picked]
        tcp_share = float(weights[proto == TCP].sum() / max(weights.sum(), 1e-9))
        answer_factor = 1.0 - 0.5 * ratio / cfg.max_answer_ratio if cfg.max_answer_ratio > 0 else 1.0
        span = (rows.end_us - rows.start_us) / 1e6
        return build(
            kind=self.kind,
            technique_id=SYN_FLOOD if tcp_share >= 0.5 else NETWORK_FLOOD,
            rows=rows,
            picked=picked,
            limits=self.limits,
            subject_keys=rows["src"][picked],
            subject_weights=weights,
            role=Role.FLOOD_SOURCE,
            target_keys=rows["dst"][picked],
            target_weights=weights,
            proto=proto,
            port_values=rows["port"][picked],
            counts={
                "packets": round(packets),
                "bytes": round(float(rows["bytes"][picked].sum())),
                "sources": sources,
            },
            confidence=strength(packets, cfg.min_packets) * answer_factor,
            details={
                "window_s": cfg.window,
                "packets_per_second": round(packets / span, 1),
                "answer_ratio": round(ratio, 4),
                "packets_per_source": round(packets / max(sources, 1), 1),
                "tcp_share": round(tcp_share, 4),
                "continues": continued,
            },
        )
