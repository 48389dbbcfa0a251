"""Beaconing: connections from inside to one outside endpoint at a regular interval (T1071).

Groups are (inside originator, outside responder, protocol, port); services in ``ignore``
(DNS, NTP, DHCP, mDNS: periodic by design) are left out. Within one evaluation (two windows
of ``window`` seconds) a group's flow starts closer than ``merge_within`` seconds are one
*beat* (a beacon that opens two connections at once beats once). From the beats:

- period = the median interval between consecutive beats;
- jitter = the median absolute deviation of the intervals / the period (robust to a few
  missed or extra beats); regularity = 1 - jitter, clipped to [0, 1].

A group fires with at least ``min_beats`` beats, a period within [``min_period``,
``max_period``] seconds and regularity at least ``min_regularity``. An outside endpoint that
more than ``max_clients`` inside hosts talk to in the evaluation is a service (a push
gateway, a mail provider polled by its customers), not a controller: its groups do not fire.
One finding per outside endpoint and evaluation names it and counts the inside hosts.

Confidence: 100 · (1 - min_beats / (2 · beats)) · regularity, for the group with the most beats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors._config import BeaconingConfig, parse_service
from detectors._finding import Finding, FindingKind, Role
from detectors._flows import FlowBatch
from detectors._groups import I64, U64, could_reach, distinct_per_group, group, grouped_median, member, sketch
from detectors._keys import combine
from detectors._report import Limits, build, strength
from detectors._windows import US, Continuity, Rows, WindowStore

TECHNIQUE = "T1071"
WEB_TECHNIQUE = "T1071.001"
_WEB_PORTS = (80, 443, 8080, 8443)


@dataclass(frozen=True)
class _Beacon:
    """One firing group: the rows it reports, and what its beats measured."""

    rows: I64
    period: float
    regularity: float
    jitter: float
    beats: int
    continued: bool


class Beaconing:
    """Regular connections from inside hosts to one outside endpoint."""

    kind = FindingKind.BEACONING

    def __init__(self, config: BeaconingConfig, limits: Limits) -> None:
        self.config = config
        self.limits = limits
        self.ignore = np.array([(p << 16) | port for p, port in map(parse_service, config.ignore)], np.int64)
        self.store = WindowStore(config.window, limits.lateness, limits.max_window_rows)
        self.continuity = Continuity()

    def add(self, batch: FlowBatch) -> None:
        svc = batch.service
        picked = np.flatnonzero(batch.resp_outside & ~np.isin(svc, self.ignore))
        if len(picked) == 0:
            return
        self.store.add(
            batch,
            picked,
            {
                "key": combine(batch.orig_key[picked], batch.resp_key[picked], svc[picked]),
                "endpoint": combine(batch.resp_key[picked], svc[picked]),
                "src": batch.orig_key[picked],
                "dst": batch.resp_key[picked],
                "svc": svc[picked],
                "start": batch.start[picked],
                "end": batch.end[picked],
                "serial": batch.serial[picked],
            },
        )

    def close(self, watermark: int | None) -> list[Finding]:
        found: list[Finding] = []
        for k in self.store.ready(watermark):
            found += self._evaluate(self.store.evaluate(k, sketch("key", self.config.min_beats)))
        return found

    def stats(self) -> dict[str, int]:
        return self.store.stats.as_dict()

    def _popular(self, rows: Rows, endpoints: U64) -> U64:
        """Those of ``endpoints`` that more than ``max_clients`` inside hosts talk to in the evaluation.

        Counted over every row the evaluation's windows hold, not only the candidates: a
        server that a thousand hosts reach once each is popular even if one of them beacons.
        """
        ends, srcs = [], []
        for part in rows.parts:
            on = member(part["endpoint"], endpoints)
            ends.append(part["endpoint"][on])
            srcs.append(part["src"][on])
        if not ends:
            return endpoints[:0]
        groups, clients = distinct_per_group(np.concatenate(ends), np.concatenate(srcs))
        return groups.keys[clients > self.config.max_clients]

    def _evaluate(self, rows: Rows) -> list[Finding]:
        cfg = self.config
        self.continuity.begin(rows.window)
        if len(rows) == 0:
            return []
        key = rows["key"]
        candidates = np.flatnonzero(could_reach(key, cfg.min_beats))
        if len(candidates) == 0:
            return []
        groups = group(key[candidates], rows["start"][candidates], rows["serial"][candidates])
        ordered = candidates[groups.order]
        label = np.repeat(np.arange(len(groups)), groups.sizes)
        times = rows["start"][ordered]
        same = np.concatenate([[False], label[1:] == label[:-1]])
        gap = np.concatenate([[0], np.diff(times)])
        head = ~same | (gap > cfg.merge_within * US)
        beat_label, beat_time = label[head], times[head]
        beats = np.bincount(beat_label, minlength=len(groups))
        follows = np.concatenate([[False], beat_label[1:] == beat_label[:-1]])
        interval = (np.concatenate([[0], np.diff(beat_time)]) / US)[follows]
        interval_label = beat_label[follows]
        enough = np.flatnonzero(beats >= cfg.min_beats)
        if len(enough) == 0:
            return []
        keep = np.isin(interval_label, enough)
        dense = np.searchsorted(enough, interval_label[keep])
        values = interval[keep].astype(np.float64)
        period = grouped_median(values, dense, len(enough))
        mad = grouped_median(np.abs(values - period[dense]), dense, len(enough))
        jitter = np.where(period > 0, mad / np.maximum(period, 1e-9), 1.0)
        regularity = np.clip(1.0 - jitter, 0.0, 1.0)
        fire = (period >= cfg.min_period) & (period <= cfg.max_period) & (regularity >= cfg.min_regularity)
        if fire.any():  # popularity is checked for the regular groups only: few endpoints, one pass
            first_row = ordered[groups.starts[enough]]
            endpoint = rows["endpoint"][first_row]
            fire &= ~np.isin(endpoint, self._popular(rows, np.unique(endpoint[fire])))
        firing: list[_Beacon] = []
        for i in np.flatnonzero(fire):
            g = int(enough[i])
            picked, continued = self.continuity.report(
                rows, int(groups.keys[g]), ordered[label == g], lambda some: len(some) >= cfg.min_beats / 2
            )
            if len(picked):
                firing.append(
                    _Beacon(picked, float(period[i]), float(regularity[i]), float(jitter[i]), int(beats[g]), continued)
                )
        return self._findings(rows, firing)

    def _findings(self, rows: Rows, firing: list[_Beacon]) -> list[Finding]:
        if firing:
            rows.prefetch("src", "dst", rows=np.concatenate([b.rows for b in firing]))
        by_endpoint: dict[int, list[_Beacon]] = {}
        for beacon in firing:
            by_endpoint.setdefault(int(rows["dst"][beacon.rows[0]]), []).append(beacon)
        found = []
        for _, items in sorted(by_endpoint.items()):
            picked = np.concatenate([b.rows for b in items])
            best = max(items, key=lambda b: (b.beats, b.regularity))
            period, regularity, jitter, beats = best.period, best.regularity, best.jitter, best.beats
            svc = rows["svc"][picked]
            ports = svc & 0xFFFF
            web = bool(np.isin(ports, _WEB_PORTS).all())
            found.append(
                build(
                    kind=self.kind,
                    technique_id=WEB_TECHNIQUE if web else TECHNIQUE,
                    rows=rows,
                    picked=picked,
                    limits=self.limits,
                    subject_keys=rows["dst"][picked],
                    subject_weights=np.ones(len(picked)),
                    role=Role.C2_SERVER,
                    target_keys=rows["src"][picked],
                    target_weights=np.ones(len(picked)),
                    proto=svc >> 16,
                    port_values=ports,
                    counts={
                        "beats": sum(b.beats for b in items),
                        "clients": len(np.unique(rows["src"][picked])),
                    },
                    confidence=strength(beats, self.config.min_beats) * regularity,
                    details={
                        "period_s": round(period, 3),
                        "regularity": round(regularity, 4),
                        "jitter": round(jitter, 4),
                        "beats": beats,
                        "continues": all(b.continued for b in items),
                    },
                )
            )
        return found
