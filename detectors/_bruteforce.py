"""Brute force: many short sessions from one outside source to authentication services (T1110).

An *attempt* is a flow from an outside originator to one of ``services`` (SSH, RDP,
Telnet, SMB, VNC, SIP, databases, mail logins, ...) in which both sides talked: for TCP the
handshake completed, at least ``min_orig_packets`` packets were sent, the session lasted at
most ``max_duration`` seconds and sent at most ``max_orig_bytes`` (a login, not a transfer);
for UDP (SIP) every request packet of an answered flow is an attempt, since one socket
carries many REGISTERs. Unanswered SYNs are a scan's business, not this detector's.

A (source, service) group fires when its attempts in one evaluation (two windows of
``window`` seconds) reach ``min_attempts``, to one target or spread over many (password
spraying). One finding per source and evaluation lists the services that fired.

Confidence: 100 · (1 - min_attempts / (2 · attempts)) · (0.75 + 0.25 · uniformity), where
uniformity = 1 - min(1, coefficient of variation of the bytes sent per attempt): tools send
the same exchange again and again, people do not.
"""

from __future__ import annotations

import numpy as np

from detectors._config import BruteForceConfig, parse_service
from detectors._finding import Finding, FindingKind, Role
from detectors._flows import TCP, FlowBatch
from detectors._groups import could_reach, group, sketch
from detectors._keys import combine
from detectors._report import Limits, build, strength
from detectors._windows import Continuity, Rows, WindowStore

TECHNIQUE = "T1110"


class BruteForce:
    """Many short sessions from one source to login services."""

    kind = FindingKind.BRUTE_FORCE

    def __init__(self, config: BruteForceConfig, limits: Limits) -> None:
        self.config = config
        self.limits = limits
        self.services = np.array([(p << 16) | port for p, port in map(parse_service, config.services)], np.int64)
        self.store = WindowStore(config.window, limits.lateness, limits.max_window_rows)
        self.continuity = Continuity()

    def add(self, batch: FlowBatch) -> None:
        svc = batch.service
        rows = batch.orig_outside & np.isin(svc, self.services) & batch.answered
        tcp = batch.proto == TCP
        duration = (batch.end - batch.start) / 1e6
        tcp_attempt = (
            batch.established
            & (batch.orig_pkts >= self.config.min_orig_packets)
            & (duration <= self.config.max_duration)
            & (batch.orig_bytes <= self.config.max_orig_bytes)
        )
        rows &= np.where(tcp, tcp_attempt, True)
        picked = np.flatnonzero(rows)
        if len(picked) == 0:
            return
        attempts = np.where(tcp[picked], 1, np.maximum(batch.orig_pkts[picked], 1))
        self.store.add(
            batch,
            picked,
            {
                "key": combine(batch.orig_key[picked], svc[picked]),
                "src": batch.orig_key[picked],
                "dst": batch.resp_key[picked],
                "svc": svc[picked],
                "start": batch.start[picked],
                "end": batch.end[picked],
                "serial": batch.serial[picked],
                "attempts": attempts,
                "bytes": batch.orig_bytes[picked] / attempts,
            },
        )

    def close(self, watermark: int | None) -> list[Finding]:
        found: list[Finding] = []
        for k in self.store.ready(watermark):
            found += self._evaluate(self.store.evaluate(k, sketch("key", self.config.min_attempts, "attempts")))
        return found

    def stats(self) -> dict[str, int]:
        return self.store.stats.as_dict()

    def _evaluate(self, rows: Rows) -> list[Finding]:
        self.continuity.begin(rows.window)
        if len(rows) == 0:
            return []
        threshold = self.config.min_attempts
        key = rows["key"]
        candidates = np.flatnonzero(could_reach(key, threshold, rows["attempts"]))
        if len(candidates) == 0:
            return []
        groups = group(key[candidates])
        attempts = groups.sum(rows["attempts"][candidates])
        reported: list[np.ndarray] = []
        continued: set[int] = set()
        for g in np.flatnonzero(attempts >= threshold):
            picked, again = self.continuity.report(
                rows,
                int(groups.keys[g]),
                candidates[groups.rows(int(g))],
                lambda some: float(rows["attempts"][some].sum()) >= threshold / 2,
            )
            reported.append(picked)
            if again and len(picked):
                continued.add(int(rows["src"][picked[0]]))
        firing = np.concatenate(reported) if reported else np.zeros(0, np.int64)
        src = rows["src"][firing]
        rows.prefetch("src", "dst", rows=firing)
        found = []
        for source in np.unique(src):
            picked = firing[src == source]
            weights = rows["attempts"][picked]
            total = int(weights.sum())
            per_attempt = rows["bytes"][picked]
            mean = float(np.average(per_attempt, weights=weights))
            spread = float(np.sqrt(np.average((per_attempt - mean) ** 2, weights=weights)))
            uniformity = 1.0 - min(1.0, spread / mean) if mean > 0 else 0.0
            svc = rows["svc"][picked]
            found.append(
                build(
                    kind=self.kind,
                    technique_id=TECHNIQUE,
                    rows=rows,
                    picked=picked,
                    limits=self.limits,
                    subject_keys=rows["src"][picked],
                    subject_weights=weights,
                    role=Role.ATTACKER,
                    target_keys=rows["dst"][picked],
                    target_weights=weights,
                    proto=svc >> 16,
                    port_values=svc & 0xFFFF,
                    counts={"attempts": total, "targets": len(np.unique(rows["dst"][picked]))},
                    confidence=strength(total, threshold) * (0.75 + 0.25 * uniformity),
                    details={
                        "window_s": self.config.window,
                        "uniformity": round(uniformity, 4),
                        "bytes_per_attempt": round(mean, 1),
                        "continues": int(source) in continued,
                    },
                )
            )
        return found
