"""Vertical scans: one outside source probing many services on one destination (T1046).

Groups are (source, destination); the count is of distinct services (protocol and port,
ICMP by type). A group fires when, in one evaluation (two windows), it reached at least
``min_ports`` services and at least ``min_probe_fraction`` of them saw only probes
(_scans.py). The slow tier does the same over ``slow_window`` with ``slow_min_ports`` and
``slow_min_probe_fraction``. One finding per source and evaluation lists the destinations
that fired.

Confidence: 100 · (1 - min_ports / (2 · ports)) · (0.5 + 0.5 · probe fraction), for the
destination with the most services.
"""

from __future__ import annotations

from detectors._config import VerticalScanConfig
from detectors._finding import FindingKind
from detectors._report import Limits
from detectors._scans import U64, ScanDetector, Tier, service_key, source_and
from detectors._windows import Columns


class VerticalScan(ScanDetector):
    """One source, one destination, many services."""

    kind = FindingKind.VERTICAL_SCAN
    counted = "ports"

    def __init__(self, config: VerticalScanConfig, limits: Limits) -> None:
        fast = Tier("fast", config.window, config.min_ports, config.min_probe_fraction)
        slow = (
            Tier("slow", config.slow_window, config.slow_min_ports, config.slow_min_probe_fraction)
            if config.slow_window
            else None
        )
        super().__init__(fast, slow, limits)

    def group_key(self, columns: Columns) -> U64:
        return source_and(columns, "dst")

    def counted_key(self, columns: Columns) -> U64:
        return service_key(columns)
