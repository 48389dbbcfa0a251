"""What every detector does to turn a firing group of rows into a Finding.

Evidence is the earliest flows of the group (by start, then by arrival), at most
``max_evidence`` of them; lists of addresses are capped at ``max_listed`` (the most active
first); totals always count everything. All choices depend on the rows only, never on how
they were batched.

Confidence formulas share one shape: a detector's main measure ``x`` against its threshold
``t`` gives the *strength* 1 - t / (2x), which is 0.5 at the threshold and tends to 1 far
above it; each detector multiplies it by a quality factor of its own (docs/detectors.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from detectors._config import PROTOCOL_NAMES, DetectorConfig
from detectors._finding import Finding, FindingKind, Role, finding_id, from_us, technique
from detectors._windows import Rows

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]


@dataclass(frozen=True)
class Limits:
    """The bounds every detector keeps (from the top of DetectorConfig)."""

    lateness: int = 2400
    max_evidence: int = 100
    max_listed: int = 50
    max_window_rows: int = 4_000_000

    @classmethod
    def of(cls, config: DetectorConfig) -> Limits:
        return cls(config.lateness, config.max_evidence, config.max_listed, config.max_window_rows)


def strength(value: float, threshold: float) -> float:
    """1 - t / (2x): 0.5 at the threshold, towards 1 far above it (0 below it)."""
    if value <= 0 or value < threshold:
        return 0.0
    return 1.0 - threshold / (2.0 * value)


def percent(score: float) -> int:
    return max(0, min(100, math.floor(score * 100 + 0.5)))


def evidence(rows: Rows, picked: I64, limit: int) -> tuple[tuple[str, ...], int]:
    """The flow ids of the earliest ``limit`` distinct flows among rows ``picked``, and how many there are."""
    serial = rows["serial"][picked]
    start = rows["start"][picked]
    order = np.lexsort((serial, start))
    ordered = picked[order]
    first = np.concatenate([[True], serial[order][1:] != serial[order][:-1]]) if len(order) else np.zeros(0, bool)
    distinct = ordered[first]
    chosen = distinct[:limit]
    return tuple(rows.flow_ids(chosen)), len(distinct)


def ranked(keys: U64, weights: npt.NDArray[np.generic], names: dict[int, str], limit: int) -> tuple[str, ...]:
    """Distinct keys by total weight (heaviest first, then by text), as text, at most ``limit``."""
    if len(keys) == 0:
        return ()
    unique, inverse = np.unique(keys, return_inverse=True)
    totals = np.bincount(inverse, weights=np.asarray(weights, dtype=np.float64), minlength=len(unique))
    items = sorted(((-float(w), names.get(int(k), "?")) for k, w in zip(unique, totals, strict=True)))
    return tuple(text for _, text in items[:limit])


def distinct(values: npt.NDArray[np.generic]) -> int:
    return len(np.unique(values))


def protocols(proto: npt.NDArray[np.generic]) -> tuple[str, ...]:
    return tuple(PROTOCOL_NAMES.get(int(p), str(int(p))) for p in np.unique(proto))


def ports(values: npt.NDArray[np.generic], limit: int) -> tuple[int, ...]:
    return tuple(int(p) for p in np.unique(values)[:limit])


def build(
    *,
    kind: FindingKind,
    technique_id: str,
    rows: Rows,
    picked: I64,
    limits: Limits,
    subject_keys: U64,
    subject_weights: npt.NDArray[np.generic],
    role: Role,
    target_keys: U64,
    target_weights: npt.NDArray[np.generic],
    proto: npt.NDArray[np.generic],
    port_values: npt.NDArray[np.generic],
    counts: dict[str, int],
    confidence: float,
    details: dict[str, Any],
    id_extra: str = "",
) -> Finding:
    """One finding from the rows ``picked`` of an evaluation."""
    names = rows.text_of(np.concatenate([subject_keys, target_keys]))
    subject = ranked(subject_keys, subject_weights, names, limits.max_listed)
    targets = ranked(target_keys, target_weights, names, limits.max_listed)
    ids, total = evidence(rows, picked, limits.max_evidence)
    start = rows["start"][picked]
    end = np.maximum(rows["end"][picked], start)
    return Finding(
        id=finding_id(kind, tuple(sorted(subject)), rows.start_us, id_extra),
        kind=kind,
        **technique(technique_id),
        subject=subject,
        subject_role=role,
        subject_total=distinct(subject_keys),
        targets=targets,
        target_total=distinct(target_keys),
        protocols=protocols(proto),
        ports=ports(port_values, limits.max_listed),
        window_start=from_us(rows.start_us),
        window_end=from_us(rows.end_us),
        first_seen=from_us(int(start.min())),
        last_seen=from_us(int(end.max())),
        counts={"flows": total, **counts},
        evidence=ids,
        evidence_total=total,
        confidence=percent(confidence),
        details=details,
    )
