"""The contract every detector keeps, so the chain can drive them all alike."""

from __future__ import annotations

from typing import Protocol

from detectors._finding import Finding, FindingKind
from detectors._flows import FlowBatch


class Detector(Protocol):
    """Rows in with :meth:`add`, findings out with :meth:`close` as windows close on flow time."""

    kind: FindingKind

    def add(self, batch: FlowBatch) -> None:
        """Keep what this detector needs of one batch (nothing is evaluated here)."""

    def close(self, watermark: int | None) -> list[Finding]:
        """Evaluate the windows due at ``watermark`` (the latest flow start, in us); None: all of them."""
        ...

    def stats(self) -> dict[str, int]:
        """Rows held now, the most ever held, rows dropped as late or over the bound, evaluations."""
        ...
