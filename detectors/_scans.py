"""What horizontal and vertical scans share: probes, distinct counts, a fast and a slow tier.

A scan is one outside source reaching many distinct *things* (destinations on one service,
or services on one destination) with *probes*: flows the responder never answered, refused,
or answered with headers only (a SYN scan's SYN-ACK + RST carries no payload). Benign
fan-out (a mail provider delivering to many domestic servers, a resolver querying many
authoritative servers) is answered with data, so the share of probes keeps it out.

Two tiers run side by side. The fast tier counts within ``window`` (evaluated two windows at
a time, _windows.py); the slow tier keeps only probes, over ``slow_window`` (hours), with its
own, higher thresholds, and reports only what the fast tier did not already report in the
same span: a scan of one probe every few minutes is found there. A group that fired in one
evaluation is not reported again in the next (which shares a window with it): a long scan
gives one finding every two windows, each covering its own flows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from detectors._finding import Finding, FindingKind, Role
from detectors._flows import FlowBatch
from detectors._groups import could_reach, sketch
from detectors._keys import combine
from detectors._report import Limits, build, strength
from detectors._windows import Columns, Continuity, Rows, WindowStore

U64: TypeAlias = npt.NDArray[np.uint64]
I64: TypeAlias = npt.NDArray[np.int64]
TECHNIQUE = "T1046"


@dataclass(frozen=True)
class Tier:
    name: str
    window: int
    min_distinct: int
    min_probe_fraction: float


@dataclass
class _TierState:
    tier: Tier
    store: WindowStore
    continuity: Continuity = field(default_factory=Continuity)


class ScanDetector:
    """A scan detector over (source, group, distinct thing); subclasses say which columns are which."""

    kind: FindingKind
    counted: str  # what the distinct count counts, for the finding's details

    def __init__(self, fast: Tier, slow: Tier | None, limits: Limits) -> None:
        self.limits = limits
        self.fast = _TierState(fast, WindowStore(fast.window, limits.lateness, limits.max_window_rows))
        self.slow = (
            _TierState(slow, WindowStore(slow.window, limits.lateness, limits.max_window_rows)) if slow else None
        )
        self._fast_fired: dict[int, list[int]] = {}  # group key -> end (us) of fast evaluations that fired

    # which columns make a group and what is counted distinct within it
    def group_key(self, columns: Columns) -> U64:
        raise NotImplementedError

    def counted_key(self, columns: Columns) -> U64:
        raise NotImplementedError

    def add(self, batch: FlowBatch) -> None:
        rows = np.flatnonzero(batch.orig_outside)
        if len(rows) == 0:
            return
        probe = ~batch.answered[rows] | batch.empty[rows]
        columns = {
            "src": batch.orig_key[rows],
            "dst": batch.resp_key[rows],
            "svc": batch.service[rows],
            "start": batch.start[rows],
            "end": batch.end[rows],
            "serial": batch.serial[rows],
            "probe": probe,
        }
        columns["key"] = self.group_key(columns)
        self.fast.store.add(batch, rows, columns)
        if self.slow is not None and probe.any():
            self.slow.store.add(batch, rows[probe], {name: values[probe] for name, values in columns.items()})

    def close(self, watermark: int | None) -> list[Finding]:
        found: list[Finding] = []
        for k in self.fast.store.ready(watermark):
            rows = self.fast.store.evaluate(k, sketch("key", self.fast.tier.min_distinct))
            found += self._evaluate(self.fast, rows)
        if self.slow is not None:
            for k in self.slow.store.ready(watermark):
                rows = self.slow.store.evaluate(k, sketch("key", self.slow.tier.min_distinct))
                found += self._evaluate(self.slow, rows)
        return found

    def stats(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for state in (self.fast, self.slow):
            if state is not None:
                s = state.store.stats
                prefix = state.tier.name
                out |= {f"{prefix}_held": s.held, f"{prefix}_peak": s.peak, f"{prefix}_late": s.late}
                out |= {f"{prefix}_over_bound": s.over_bound, f"{prefix}_evaluations": s.evaluations}
        return out

    def _evaluate(self, state: _TierState, rows: Rows) -> list[Finding]:
        tier = state.tier
        state.continuity.begin(rows.window)
        if len(rows) == 0:
            return []
        key = rows["key"]
        candidates = np.flatnonzero(could_reach(key, tier.min_distinct))
        if len(candidates) == 0:
            return []
        counted = self.counted_key(rows.columns)[candidates]
        probe = rows["probe"][candidates]
        order = np.lexsort((counted, key[candidates]))
        keys_sorted, counted_sorted = key[candidates][order], counted[order]
        new_group = np.concatenate([[True], keys_sorted[1:] != keys_sorted[:-1]])
        new_pair = new_group | np.concatenate([[True], counted_sorted[1:] != counted_sorted[:-1]])
        pair_starts = np.flatnonzero(new_pair)
        group_of_row = np.cumsum(new_group) - 1
        group_of_pair = group_of_row[pair_starts]
        # a thing counts as probed when every flow to it was a probe
        probed = np.minimum.reduceat(probe[order].astype(np.int64), pair_starts)
        distinct = np.bincount(group_of_pair)
        probed_count = np.bincount(group_of_pair, weights=probed)
        fraction = probed_count / np.maximum(distinct, 1)
        fire = (distinct >= tier.min_distinct) & (fraction >= tier.min_probe_fraction)
        group_keys = keys_sorted[np.flatnonzero(new_group)]
        group_starts = np.flatnonzero(new_group)
        group_ends = np.concatenate([group_starts[1:], [len(order)]])
        ordered_rows = candidates[order]
        reported, groups_of, continued = [], [], set()
        for g in np.flatnonzero(fire):
            gk = int(group_keys[g])
            if state is self.slow and self._fast_overlaps(gk, rows):
                continue
            picked, again = state.continuity.report(
                rows, gk, ordered_rows[group_starts[g] : group_ends[g]], lambda some: self._holds(rows, some, tier)
            )
            if len(picked) == 0:
                continue
            if state is self.fast:
                self._fast_fired.setdefault(gk, []).append(rows.end_us)
            reported.append(picked)
            groups_of.append(np.full(len(picked), g))
            if again:
                continued.add(int(rows["src"][picked[0]]))
        if not reported:
            return []
        strongest = {int(g): (int(distinct[g]), float(fraction[g])) for g in np.flatnonzero(fire)}
        firing = np.concatenate(reported)
        rows.prefetch("src", "dst", rows=firing)
        return self._findings(rows, firing, np.concatenate(groups_of), strongest, tier, continued)

    def _holds(self, rows: Rows, picked: I64, tier: Tier) -> bool:
        """Whether ``picked`` alone is a scan at half the distinct threshold (a continuing window)."""
        things, which = np.unique(self.counted_key(rows.columns)[picked], return_inverse=True)
        probed = np.ones(len(things), np.int64)
        np.minimum.at(probed, which, rows["probe"][picked].astype(np.int64))
        return len(things) >= tier.min_distinct / 2 and float(probed.mean()) >= tier.min_probe_fraction

    def _fast_overlaps(self, group_key: int, rows: Rows) -> bool:
        """Whether a fast evaluation ending inside this slow span (start, end] fired for the group."""
        ends = self._fast_fired.get(group_key)
        if not ends:
            return False
        kept = [e for e in ends if e > rows.start_us]
        if kept:
            self._fast_fired[group_key] = kept
        else:
            del self._fast_fired[group_key]
        return any(e <= rows.end_us for e in kept)

    def _findings(
        self,
        rows: Rows,
        firing: I64,
        groups: I64,
        strongest: dict[int, tuple[int, float]],
        tier: Tier,
        continued: set[int],
    ) -> list[Finding]:
        src = rows["src"][firing]
        found = []
        for source in np.unique(src):
            mine = src == source
            picked = firing[mine]
            best_distinct, best_fraction = max(strongest[int(g)] for g in np.unique(groups[mine]))
            svc = rows["svc"][picked]
            probes = rows["probe"][picked]
            confidence = strength(best_distinct, tier.min_distinct) * (0.5 + 0.5 * best_fraction)
            found.append(
                build(
                    kind=self.kind,
                    technique_id=TECHNIQUE,
                    rows=rows,
                    picked=picked,
                    limits=self.limits,
                    subject_keys=rows["src"][picked],
                    subject_weights=np.ones(len(picked)),
                    role=Role.SCANNER,
                    target_keys=rows["dst"][picked],
                    target_weights=np.ones(len(picked)),
                    proto=svc >> 16,
                    port_values=svc & 0xFFFF,
                    counts={
                        "targets": len(np.unique(rows["dst"][picked])),
                        "services": len(np.unique(svc)),
                        "probes": int(probes.sum()),
                    },
                    confidence=confidence,
                    details={
                        "tier": tier.name,
                        "window_s": tier.window,
                        self.counted: best_distinct,
                        "probe_fraction": round(best_fraction, 4),
                        "continues": int(source) in continued,
                    },
                    id_extra=tier.name,
                )
            )
        return found


def service_key(columns: Columns) -> U64:
    return np.asarray(columns["svc"], dtype=np.int64).astype(np.uint64)


def source_and(columns: Columns, column: str) -> U64:
    return combine(columns["src"], columns[column])
