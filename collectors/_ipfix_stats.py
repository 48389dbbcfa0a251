"""What a flow listener counts, and how it tells the operator about bad input.

Every damaged datagram, lying length or unusable template is one log line naming the
exporter (address:port) and what was wrong, and a count by kind; after ``LOG_LIMIT`` lines
of one kind from one exporter the rest are counted only (a broken router must not flood
the log). Losses seen in sequence numbers are counted, never hidden: they go to the
closing summary.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

LOG = logging.getLogger("collectors.flows")
LOG_LIMIT = 10


@dataclass
class FlowStats:
    """Counters of one listener (or decoder), for the closing summary."""

    messages: Counter[str] = field(default_factory=Counter)  # by version: v5, v9, ipfix
    records: int = 0  # flow records decoded
    option_records: int = 0
    not_flows: int = 0  # data records without a pair of addresses
    lost_records: int = 0  # from IPFIX and v5 sequence numbers
    lost_datagrams: int = 0  # from v9 sequence numbers
    out_of_order: int = 0  # messages whose sequence number was behind the expected one
    waited_sets: int = 0  # data sets that arrived before their template and later decoded
    expired_sets: int = 0  # data sets whose template never came in time: lost
    overflow: int = 0  # datagrams dropped because the listener's queue was full
    templates: int = 0  # template records accepted
    withdrawn: int = 0
    expired_templates: int = 0
    exporters: set[str] = field(default_factory=set)
    problems: Counter[str] = field(default_factory=Counter)
    _logged: Counter[tuple[str, str]] = field(default_factory=Counter, repr=False)

    def problem(self, exporter: str, kind: str, detail: str) -> None:
        """Count one piece of bad input; log it unless this exporter already said it often."""
        self.problems[kind] += 1
        key = (exporter, kind)
        self._logged[key] += 1
        seen = self._logged[key]
        if seen <= LOG_LIMIT:
            more = f" (further {kind} problems from {exporter} are only counted)" if seen == LOG_LIMIT else ""
            LOG.warning("flow exporter %s: %s: %s%s", exporter, kind, detail, more)

    def merge(self, other: FlowStats) -> None:
        """Add another listener's counts to these."""
        self.messages.update(other.messages)
        for name in (
            "records", "option_records", "not_flows", "lost_records", "lost_datagrams", "out_of_order",
            "waited_sets", "expired_sets", "overflow", "templates", "withdrawn", "expired_templates",
        ):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.exporters |= other.exporters
        self.problems.update(other.problems)

    def summary_lines(self) -> list[str]:
        """The closing summary's lines about flow-record input."""
        versions = ", ".join(f"{v} {n:,}" for v, n in sorted(self.messages.items())) or "none"
        lines = [
            f"flow messages {sum(self.messages.values()):,} ({versions}) from {len(self.exporters)} exporter(s); "
            f"flow records {self.records:,}, option records {self.option_records:,}"
        ]
        lost = [
            f"records {self.lost_records:,} (sequence numbers)",
            f"datagrams {self.lost_datagrams:,} (v9 sequence numbers)",
            f"data sets {self.expired_sets:,} (no template in time)",
        ]
        if self.overflow:
            lost.append(f"datagrams {self.overflow:,} (listener queue full)")
        lines.append("lost: " + ", ".join(lost))
        extra = []
        if self.out_of_order:
            extra.append(f"out of order {self.out_of_order:,}")
        if self.waited_sets:
            extra.append(f"decoded after waiting for their template {self.waited_sets:,} data sets")
        if self.not_flows:
            extra.append(f"records without addresses {self.not_flows:,}")
        if self.expired_templates or self.withdrawn:
            extra.append(f"templates expired {self.expired_templates:,}, withdrawn {self.withdrawn:,}")
        if extra:
            lines.append("flow input: " + ", ".join(extra))
        if self.problems:
            kinds = ", ".join(f"{kind} {count:,}" for kind, count in sorted(self.problems.items()))
            lines.append(f"bad flow input: {kinds}")
        return lines
