"""Findings from gated flow metadata: scans, brute force, beaconing, floods, reflection, sightings.

Input: GatedRecords only (what the legal gate let through, pseudonyms included); output:
:class:`Finding` objects, each with its evidence and confidence, for the exchange. One
module a detector; :class:`DetectorChain` drives them all over a stream of batches. See
docs/detectors.md for every detector's rule, thresholds and confidence formula.
"""

from detectors._beaconing import Beaconing
from detectors._bruteforce import BruteForce
from detectors._chain import DetectorChain, build_detectors
from detectors._config import (
    AUTH_SERVICES,
    REFLECTION_PORTS,
    BeaconingConfig,
    BruteForceConfig,
    DdosConfig,
    DetectorConfig,
    HorizontalScanConfig,
    IndicatorConfig,
    ReflectionConfig,
    VerticalScanConfig,
    load_detector_config,
)
from detectors._ddos import Ddos
from detectors._detector import Detector
from detectors._errors import DetectorError, IndicatorError
from detectors._finding import TECHNIQUES, Finding, FindingKind, Role
from detectors._flows import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, FlowBatch, flow_batch
from detectors._horizontal import HorizontalScan
from detectors._indicators import Alternative, Indicator, IndicatorSet, load_indicators
from detectors._output import read_findings, write_findings
from detectors._reflection import Reflection
from detectors._report import Limits
from detectors._sightings import Sightings
from detectors._vertical import VerticalScan

__all__ = [
    "AUTH_SERVICES",
    "Alternative",
    "Beaconing",
    "BeaconingConfig",
    "BruteForce",
    "BruteForceConfig",
    "Ddos",
    "DdosConfig",
    "Detector",
    "DetectorChain",
    "DetectorConfig",
    "DetectorError",
    "Finding",
    "FindingKind",
    "FlowBatch",
    "HorizontalScan",
    "HorizontalScanConfig",
    "Indicator",
    "IndicatorConfig",
    "IndicatorError",
    "IndicatorSet",
    "Limits",
    "OPTIONAL_COLUMNS",
    "REFLECTION_PORTS",
    "REQUIRED_COLUMNS",
    "Reflection",
    "ReflectionConfig",
    "Role",
    "Sightings",
    "TECHNIQUES",
    "VerticalScan",
    "VerticalScanConfig",
    "build_detectors",
    "flow_batch",
    "load_detector_config",
    "load_indicators",
    "read_findings",
    "write_findings",
]
