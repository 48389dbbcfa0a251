"""Reflection and amplification: UDP from amplifying services fanning in toward one victim (T1498.002).

A row is a UDP flow with one of ``ports`` (DNS, NTP, SSDP, memcached, chargen, CLDAP, ...)
on one side: that side is the *reflector* (the responder's port first, so a query from
port 123 to port 123 has its server on the responder's side), the other the *victim*. The
victim's bytes are the requests, the reflector's the responses. Two pictures give rows:

- the victim is ours: reflectors abroad send responses nobody here asked for (the
  originator of such a flow sent from the service port; no request was seen, the ratio is
  unbounded);
- the reflectors are ours: a spoofed victim abroad "sends" small requests, our customers'
  open services answer with large responses.

Bytes are spread over the windows a flow overlaps, as for floods. Per victim and evaluation
(two windows of ``window`` seconds) a victim fires when at least ``min_reflectors``
reflectors sent it at least ``min_response_bytes`` bytes of responses, at least
``min_ratio`` times what it sent (responses to requests; no request at all counts as an
unbounded ratio). Ordinary resolvers and NTP peers ask for what they get: their ratio
stays near 1 to 5.

The subject is the outside party: the reflectors when they are outside (the victim is then
a target, as the gate left it), else the victim.

Confidence: 100 · (1 - min_response_bytes / (2 · response bytes)) · r, where r = 1 when no
request was seen, else min(1, 0.6 + 0.4 · log10(ratio / min_ratio)).
"""

from __future__ import annotations

import math

import numpy as np

from detectors._config import ReflectionConfig
from detectors._finding import Finding, FindingKind, Role
from detectors._flows import UDP, FlowBatch
from detectors._groups import could_reach, distinct_per_group, group, sketch, spread
from detectors._report import Limits, build, strength
from detectors._windows import Continuity, Rows, WindowStore

TECHNIQUE = "T1498.002"


class Reflection:
    """Unsolicited or amplified UDP responses toward one victim."""

    kind = FindingKind.REFLECTION

    def __init__(self, config: ReflectionConfig, limits: Limits) -> None:
        self.config = config
        self.limits = limits
        self.ports = np.array(config.ports, np.int64)
        self.store = WindowStore(config.window, limits.lateness, limits.max_window_rows)
        self.max_pieces = limits.lateness // config.window + 2
        self.continuity = Continuity()

    def add(self, batch: FlowBatch) -> None:
        udp = batch.proto == UDP
        resp_service = udp & np.isin(batch.resp_port, self.ports)
        orig_service = udp & ~resp_service & np.isin(batch.orig_port, self.ports)
        flows = np.flatnonzero(resp_service | orig_service)
        if len(flows) == 0:
            return
        piece, window, share = spread(batch.start[flows], batch.end[flows], self.store.width, self.max_pieces)
        rows = flows[piece]
        at_resp = resp_service[rows]

        def side(resp_value: np.ndarray, orig_value: np.ndarray) -> np.ndarray:
            return np.where(at_resp, resp_value[rows], orig_value[rows])

        self.store.add(
            batch,
            rows,
            {
                "reflector": side(batch.resp_key, batch.orig_key),
                "victim": side(batch.orig_key, batch.resp_key),
                "reflector_outside": side(batch.resp_outside, batch.orig_outside),
                "port": side(batch.resp_port, batch.orig_port),
                "start": batch.start[rows],
                "end": batch.end[rows],
                "serial": batch.serial[rows],
                "responses": side(batch.resp_bytes, batch.orig_bytes) * share,
                "requests": side(batch.orig_bytes, batch.resp_bytes) * share,
                "packets": side(batch.resp_pkts, batch.orig_pkts) * share,
            },
            window=window,
        )

    def close(self, watermark: int | None) -> list[Finding]:
        found: list[Finding] = []
        for k in self.store.ready(watermark):
            rows = self.store.evaluate(k, sketch("victim", self.config.min_response_bytes, "responses"))
            found += self._evaluate(rows)
        return found

    def stats(self) -> dict[str, int]:
        return self.store.stats.as_dict()

    def _evaluate(self, rows: Rows) -> list[Finding]:
        cfg = self.config
        self.continuity.begin(rows.window)
        if len(rows) == 0:
            return []
        victim = rows["victim"]
        candidates = np.flatnonzero(could_reach(victim, cfg.min_response_bytes, rows["responses"]))
        if len(candidates) == 0:
            return []
        groups = group(victim[candidates])
        responses = groups.sum(rows["responses"][candidates])
        requests = groups.sum(rows["requests"][candidates])
        _, reflectors = distinct_per_group(victim[candidates], rows["reflector"][candidates])
        ratio = np.where(requests > 0, responses / np.maximum(requests, 1e-9), np.inf)
        fire = (reflectors >= cfg.min_reflectors) & (responses >= cfg.min_response_bytes) & (ratio >= cfg.min_ratio)
        found = []
        if fire.any():
            rows.prefetch("reflector", "victim", rows=candidates[fire[groups.label()]])
        for g in np.flatnonzero(fire):
            picked, continued = self.continuity.report(
                rows, int(groups.keys[g]), candidates[groups.rows(int(g))], lambda some: self._holds(rows, some)
            )
            if len(picked):
                found.append(self._finding(rows, picked, continued))
        return found

    def _holds(self, rows: Rows, picked: np.ndarray) -> bool:
        """Whether ``picked`` alone is reflection at half the thresholds (a continuing window)."""
        cfg = self.config
        responses = float(rows["responses"][picked].sum())
        requests = float(rows["requests"][picked].sum())
        reflectors = len(np.unique(rows["reflector"][picked]))
        ratio = responses / requests if requests > 0 else float("inf")
        return (
            responses >= cfg.min_response_bytes / 2 and reflectors >= cfg.min_reflectors / 2 and ratio >= cfg.min_ratio
        )

    def _finding(self, rows: Rows, picked: np.ndarray, continued: bool) -> Finding:
        cfg = self.config
        responses = float(rows["responses"][picked].sum())
        requests = float(rows["requests"][picked].sum())
        reflectors = len(np.unique(rows["reflector"][picked]))
        weights = rows["responses"][picked]
        outside = rows["reflector_outside"][picked]
        if outside.any():
            picked, weights = picked[outside], weights[outside]
            subject, targets, role = rows["reflector"][picked], rows["victim"][picked], Role.REFLECTOR
        else:
            subject, targets, role = rows["victim"][picked], rows["reflector"][picked], Role.VICTIM
        ratio = responses / requests if requests > 0 else None
        quality = 1.0 if ratio is None else min(1.0, 0.6 + 0.4 * math.log10(max(ratio / cfg.min_ratio, 1.0)))
        span = (rows.end_us - rows.start_us) / 1e6
        return build(
            kind=self.kind,
            technique_id=TECHNIQUE,
            rows=rows,
            picked=picked,
            limits=self.limits,
            subject_keys=subject,
            subject_weights=weights,
            role=role,
            target_keys=targets,
            target_weights=weights,
            proto=np.full(len(picked), UDP),
            port_values=rows["port"][picked],
            counts={
                "response_bytes": round(responses),
                "request_bytes": round(requests),
                "packets": round(float(rows["packets"][picked].sum())),
                "reflectors": reflectors,
            },
            confidence=strength(responses, cfg.min_response_bytes) * quality,
            details={
                "window_s": cfg.window,
                "amplification": None if ratio is None else round(ratio, 2),
                "bits_per_second": round(8 * responses / span, 1),
                "continues": continued,
            },
        )
