"""Horizontal scans: one outside source probing one service on many destinations (T1046).

Groups are (source, protocol, port) (ICMP: by type, so an echo sweep is one service); the
count is of distinct destinations. A group fires when, in one evaluation (two windows),
it reached at least ``min_targets`` destinations and at least ``min_probe_fraction`` of
them saw only probes (_scans.py says what a probe is). The slow tier does the same over
``slow_window`` with ``slow_min_targets`` and ``slow_min_probe_fraction``, for scans spread
over hours. One finding per source and evaluation lists the services that fired.

Confidence: 100 · (1 - min_targets / (2 · targets)) · (0.5 + 0.5 · probe fraction), for the
service with the most targets.
"""

from __future__ import annotations

from detectors._config import HorizontalScanConfig
from detectors._finding import FindingKind
from detectors._report import Limits
from detectors._scans import U64, ScanDetector, Tier, source_and
from detectors._windows import Columns


class HorizontalScan(ScanDetector):
    """One source, one service, many destinations."""

    kind = FindingKind.HORIZONTAL_SCAN
    counted = "targets"

    def __init__(self, config: HorizontalScanConfig, limits: Limits) -> None:
        fast = Tier("fast", config.window, config.min_targets, config.min_probe_fraction)
        slow = (
            Tier("slow", config.slow_window, config.slow_min_targets, config.slow_min_probe_fraction)
            if config.slow_window
            else None
        )
        super().__init__(fast, slow, limits)

    def group_key(self, columns: Columns) -> U64:
        return source_and(columns, "svc")

    def counted_key(self, columns: Columns) -> U64:
        return columns["dst"].astype("uint64")
