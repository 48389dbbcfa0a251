"""Packaging a batch of findings into the review queue, with one ledger entry for the run.

:func:`package_findings` runs the :class:`~exchange._package.Packager` over findings, queues
each finding's objects as one pending item (exchange._queue), keeps every decision, and
records an ``exchange.package`` event: how many findings were queued, unchanged and refused,
by clause, and the items made.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from detectors import Finding
from exchange._decision import Decision, Outcome
from exchange._package import Packager
from exchange._patterns import canonical_address
from exchange._queue import Queue


@dataclass
class PackageRun:
    decisions: list[Decision] = field(default_factory=list)

    @property
    def items(self) -> list[int]:
        return [d.item for d in self.decisions if d.item is not None]

    def outcomes(self) -> dict[str, int]:
        counts = Counter(d.outcome.value for d in self.decisions)
        return {o.value: counts.get(o.value, 0) for o in Outcome}

    def clauses(self) -> dict[str, int]:
        """How often each clause refused a finding or left part of one out."""
        return dict(sorted(Counter(n.clause for d in self.decisions for n in d.notes).items()))

    def payload(self) -> dict[str, Any]:
        return {
            "findings": len(self.decisions),
            "outcomes": self.outcomes(),
            "clauses": self.clauses(),
            "items": self.items,
        }


def summary(finding: Finding) -> str:
    """One line for ``review list``: kind, role, who, when."""
    who = ", ".join(finding.subject[:3]) + (
        f" and {finding.subject_total - 3} more" if finding.subject_total > 3 else ""
    )
    return (
        f"{finding.kind.value} ({finding.technique}) {finding.subject_role.value} {who}, "
        f"{finding.evidence_total} flows from {finding.first_seen:%Y-%m-%d %H:%M}Z, confidence {finding.confidence}"
    )


BATCH = 500  # findings queued per transaction: one fsync each, and little to redo after a crash


def package_findings(
    findings: Iterable[Finding], packager: Packager, queue: Queue, *, actor: str, policy_sha256: str | None = None
) -> PackageRun:
    """Package and queue every finding; the decisions (each queued one with its item)."""
    run = PackageRun()
    findings = list(findings)
    # every subject classified domestic or not in one pass (the agreement view remembers them)
    packager.view.domestic([a for f in findings for a in map(canonical_address, f.subject) if a is not None])
    partner = packager.partner
    queue.put_companion(partner, packager.identity())
    required = packager.view.agreement.approvals_required
    for start in range(0, len(findings), BATCH):
        with queue.batch():  # a later finding of the batch sees the versions an earlier one queued
            for finding in findings[start : start + BATCH]:
                decision, objects = packager.package(finding)
                decision = queue.enqueue(
                    decision,
                    objects,
                    actor=actor,
                    approvals_required=required,
                    summary=summary(finding),
                    kind=finding.kind.value,
                    policy_sha256=policy_sha256,
                )
                run.decisions.append(decision)
    queue.event("package", actor, {"partner": partner, **run.payload()}, "exchange.package")
    return run
