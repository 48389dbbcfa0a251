"""All detectors behind one door: feed gated batches, take findings as windows close.

    chain = DetectorChain(load_detector_config(path), indicators=load_indicators(feed))
    for table in gated_batches:
        chain.feed(table)
        send(chain.drain())        # findings of the windows closed so far (optional)
    send(chain.finish())           # everything still open, evaluated now

``feed`` never returns findings, so a caller that only wants them at the end loses none;
``drain`` hands over (and forgets) the findings ready so far, ``finish`` closes every window
and returns what was not drained. Findings come sorted by window, kind and subject. The
chain reads GatedRecords only (the gate's output), in any batch sizes: the same records give
the same findings however they are cut (docs/detectors.md, "Windows").
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from detectors._beaconing import Beaconing
from detectors._bruteforce import BruteForce
from detectors._config import DetectorConfig
from detectors._ddos import Ddos
from detectors._detector import Detector
from detectors._errors import DetectorError
from detectors._finding import Finding
from detectors._flows import FlowBatch, flow_batch
from detectors._horizontal import HorizontalScan
from detectors._indicators import IndicatorSet
from detectors._reflection import Reflection
from detectors._report import Limits
from detectors._sightings import Sightings
from detectors._vertical import VerticalScan

_NO_TIME = np.iinfo(np.int64).min


def build_detectors(config: DetectorConfig, indicators: IndicatorSet | None = None) -> list[Detector]:
    """The enabled detectors of ``config``; indicator matching only with indicators."""
    limits = Limits.of(config)
    detectors: list[Detector] = []
    if config.horizontal_scan.enabled:
        detectors.append(HorizontalScan(config.horizontal_scan, limits))
    if config.vertical_scan.enabled:
        detectors.append(VerticalScan(config.vertical_scan, limits))
    if config.brute_force.enabled:
        detectors.append(BruteForce(config.brute_force, limits))
    if config.beaconing.enabled:
        detectors.append(Beaconing(config.beaconing, limits))
    if config.ddos.enabled:
        reflected = config.reflection.ports if config.reflection.enabled else ()
        detectors.append(Ddos(config.ddos, limits, reflected))
    if config.reflection.enabled:
        detectors.append(Reflection(config.reflection, limits))
    if config.indicators.enabled and indicators is not None and len(indicators):
        detectors.append(Sightings(config.indicators, limits, indicators))
    return detectors


class DetectorChain:
    """Every enabled detector over one stream of GatedRecord batches."""

    def __init__(self, config: DetectorConfig | None = None, *, indicators: IndicatorSet | None = None) -> None:
        self.config = config or DetectorConfig()
        self.detectors = build_detectors(self.config, indicators)
        self.records = 0
        self._watermark = _NO_TIME
        self._pending: list[Finding] = []
        self._finished = False

    def feed(self, table: pa.Table | pa.RecordBatch) -> None:
        """Take one batch of GatedRecords (DetectorError, and nothing kept, if it is not that)."""
        if self._finished:
            raise DetectorError("the chain has finished: start a new one")
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if table.num_rows == 0:
            return
        batch = flow_batch(table, self.records, self._watermark)
        self._add(batch)
        self.records += batch.n
        self._watermark = max(self._watermark, int(batch.start.max()))
        for detector in self.detectors:
            self._pending += detector.close(self._watermark)

    def drain(self) -> list[Finding]:
        """The findings of the windows closed so far, sorted; they are not returned again."""
        ready, self._pending = sorted(self._pending, key=Finding.sort_key), []
        return ready

    def finish(self) -> list[Finding]:
        """Close every window and return every finding not drained yet, sorted."""
        if not self._finished:
            self._finished = True
            for detector in self.detectors:
                self._pending += detector.close(None)
        return self.drain()

    def stats(self) -> dict[str, dict[str, int]]:
        """Per detector: rows held and their peak, rows dropped as late or over the bound, evaluations."""
        return {detector.kind.value: detector.stats() for detector in self.detectors}

    def _add(self, batch: FlowBatch) -> None:
        for detector in self.detectors:
            detector.add(batch)
