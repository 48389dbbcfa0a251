"""The transparency report's facts: exact counts over the ledger entries of a period.

Only the audit ledger is read, so an auditor holding the verified ledger can recompute every
figure. An entry belongs to the period by the time it was recorded (``at``, UTC): a gate run
counts on the day it ended. What is read of each kind:

- ``gate.run``: packets (collect and run modes), records in and out, the scope step's
  reasons (allowed under an approval or a class, or dropped under a profile clause), the
  pseudonymize step's counts by method and key id, the allowlist's removed field values, the
  policy's name and SHA-256;
- ``strip.run``: packets read and written, payload bytes removed, the key id;
- ``retention.apply``: records deleted and kept, files removed and rewritten;
- ``review.*``, ``exchange.*``: items queued, approvals (counted, never named), items
  approved, auto-approved, rejected, published and revoked, object versions delivered and
  received, per partner, with the approvals each item required.

Nothing else is taken from a payload: no paths, addresses, summaries, reasons given by
people, object ids or patterns, and no actor. These facts are exact; ``metagate._report_doc``
decides what of them may be printed.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from policies import ConfigError, LedgerEntry

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NO_KEY_REASON = "dropped: no key in force at the flow's start"
REGATED_REASON = "already gated under this policy"  # records gated before pass again unchanged


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` inclusive."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), UTC)

    @property
    def end(self) -> datetime:  # exclusive
        return datetime.combine(self.last + timedelta(days=1), time(0), UTC)

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def parse_period(first: str, last: str) -> Period:
    """The period of ``--from`` and ``--to`` (YYYY-MM-DD, UTC, both days included)."""
    days = []
    for name, text in (("from", first), ("to", last)):
        try:
            if not _DATE.match(text):
                raise ValueError("not of the form YYYY-MM-DD")
            days.append(date.fromisoformat(text))
        except ValueError as exc:
            raise ConfigError(f"{text!r} is no date: {exc} (give YYYY-MM-DD, UTC)", field=f"--{name}") from exc
    if days[1] < days[0]:
        raise ConfigError(f"{last} is before --from {first}", field="--to")
    return Period(days[0], days[1])


@dataclass(frozen=True)
class GateRunFact:
    seq: int
    at: str
    mode: str
    policy: str
    packets: int | None
    records_in: int
    records_out: int


@dataclass(frozen=True)
class StripFact:
    seq: int
    at: str
    packets_read: int
    packets_written: int
    payload_bytes_removed: int
    key_id: str | None


@dataclass(frozen=True)
class RetentionFact:
    seq: int
    at: str
    policy: str
    records_deleted: int
    records_kept: int
    files_deleted: int
    files_rewritten: int


@dataclass
class PartnerFacts:
    items_queued: int = 0
    approvals_required: Counter[int] = field(default_factory=Counter)
    approvals: int = 0
    items_approved: int = 0
    items_auto_approved: int = 0
    rejections: int = 0
    revocations: int = 0
    items_published: int = 0
    objects_delivered: int = 0
    objects_refused: int = 0
    share_runs: int = 0
    share_runs_incomplete: int = 0
    pull_runs: int = 0
    received: int = 0
    received_new: int = 0
    received_invalid: int = 0
    findings_packaged: int = 0
    package_outcomes: Counter[str] = field(default_factory=Counter)
    package_clauses: Counter[str] = field(default_factory=Counter)
    shared_by_day: Counter[str] = field(default_factory=Counter)
    received_by_day: Counter[str] = field(default_factory=Counter)


@dataclass
class Facts:
    period: Period
    entries: int = 0  # in the period
    first_seq: int | None = None
    last_seq: int | None = None
    last_hash: str | None = None
    kinds: Counter[str] = field(default_factory=Counter)
    signing_keys: set[str] = field(default_factory=set)
    gate_runs: list[GateRunFact] = field(default_factory=list)
    policies: dict[tuple[str, str], int] = field(default_factory=dict)  # (name, sha256): runs
    scope_allowed: Counter[str] = field(default_factory=Counter)
    scope_dropped: Counter[str] = field(default_factory=Counter)
    no_key_dropped: int = 0
    pseudonymized: Counter[str] = field(default_factory=Counter)
    fields_removed: Counter[str] = field(default_factory=Counter)
    retention_days: dict[str, int] = field(default_factory=dict)  # policy: days
    strips: list[StripFact] = field(default_factory=list)
    retention: list[RetentionFact] = field(default_factory=list)
    partners: dict[str, PartnerFacts] = field(default_factory=lambda: defaultdict(PartnerFacts))
    runs_by_day: Counter[str] = field(default_factory=Counter)
    unread: str | None = None  # why reading stopped early, if it did


def is_allowed(reason: str) -> bool:
    """Whether a scope reason lets flows pass (an approval, or a class the profile always allows)."""
    return reason.startswith("approval ") or reason.endswith("=always") or reason == REGATED_REASON


def gather(entries: Iterable[LedgerEntry], period: Period) -> Facts:
    """Exact facts of the entries recorded in the period (the rest only tell items' partners)."""
    facts = Facts(period)
    item_partner: dict[int, str] = {}
    for entry in entries:
        payload = entry.payload
        item = payload.get("item")
        if entry.kind == "review.queue" and isinstance(item, int):
            item_partner[item] = str(payload.get("partner"))
        if not period.holds(entry.timestamp):
            continue
        facts.entries += 1
        facts.first_seq = entry.seq if facts.first_seq is None else facts.first_seq
        facts.last_seq, facts.last_hash = entry.seq, entry.hash
        facts.kinds[entry.kind] += 1
        facts.signing_keys.add(entry.key_id)
        _READERS.get(entry.kind, _ignore)(facts, entry, payload, item_partner)
    return facts


def _int(payload: dict[str, Any], name: str) -> int:
    value = payload.get(name, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _ignore(facts: Facts, entry: LedgerEntry, payload: dict[str, Any], items: dict[int, str]) -> None:
    return None


def _gate_run(facts: Facts, entry: LedgerEntry, payload: dict[str, Any], items: dict[int, str]) -> None:
    policy = str(payload.get("policy", "?"))
    packets = payload.get("packets")
    facts.gate_runs.append(
        GateRunFact(
            entry.seq,
            entry.at,
            str(payload.get("mode", "?")),
            policy,
            packets if isinstance(packets, int) else None,
            _int(payload, "records_in"),
            _int(payload, "records_out"),
        )
    )
    key = (policy, str(payload.get("policy_sha256", "?")))
    facts.policies[key] = facts.policies.get(key, 0) + 1
    facts.runs_by_day[entry.at[:10]] += 1
    counts = payload.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    for reason, n in _reasons(counts, "scope"):
        (facts.scope_allowed if is_allowed(reason) else facts.scope_dropped)[reason] += n
    for reason, n in _reasons(counts, "pseudonymize"):
        if reason == NO_KEY_REASON:
            facts.no_key_dropped += n
        else:
            facts.pseudonymized[reason] += n
    for reason, n in _reasons(counts, "allowlist"):
        facts.fields_removed[reason.removeprefix("field ").removesuffix(" not allowed")] += n
    for reason, _ in _reasons(counts, "retention"):
        days = re.fullmatch(r"kept (\d+) days", reason)
        if days:
            facts.retention_days[policy] = int(days.group(1))


def _reasons(counts: dict[str, Any], step: str) -> list[tuple[str, int]]:
    reasons = counts.get(step)
    if not isinstance(reasons, dict):
        return []
    return [(str(r), n) for r, n in reasons.items() if isinstance(n, int) and not isinstance(n, bool)]


def _strip_run(facts: Facts, entry: LedgerEntry, payload: dict[str, Any], items: dict[int, str]) -> None:
    key_id = payload.get("key_id")
    facts.strips.append(
        StripFact(
            entry.seq,
            entry.at,
            _int(payload, "packets_read"),
            _int(payload, "packets_written"),
            _int(payload, "payload_bytes_removed"),
            key_id if isinstance(key_id, str) else None,
        )
    )


def _retention(facts: Facts, entry: LedgerEntry, payload: dict[str, Any], items: dict[int, str]) -> None:
    def files(name: str) -> int:
        value = payload.get(name)
        return len(value) if isinstance(value, list) else 0

    facts.retention.append(
        RetentionFact(
            entry.seq,
            entry.at,
            str(payload.get("policy", "?")),
            _int(payload, "records_deleted"),
            _int(payload, "records_kept"),
            files("files_deleted"),
            files("files_rewritten"),
        )
    )


def _partner(facts: Facts, payload: dict[str, Any]) -> PartnerFacts:
    return facts.partners[str(payload.get("partner") or "unknown")]


def _review(facts: Facts, entry: LedgerEntry, payload: dict[str, Any], items: dict[int, str]) -> None:
    if entry.kind == "review.auto_approve":
        for item in payload.get("items") or []:
            who = items.get(item, "unknown") if isinstance(item, int) else "unknown"
            facts.partners[who].items_auto_approved += 1
        return
    partner = _partner(facts, payload)
    if entry.kind == "review.queue":
        partner.items_queued += 1
        partner.approvals_required[_int(payload, "approvals_required")] += 1
    elif entry.kind == "review.approve":
        partner.approvals += 1
        partner.items_approved += payload.get("to") == "approved"
    elif entry.kind == "review.reject":
        partner.rejections += 1
    elif entry.kind == "review.revoke":
        partner.revocations += 1


def _exchange(facts: Facts, entry: LedgerEntry, payload: dict[str, Any], items: dict[int, str]) -> None:
    partner = _partner(facts, payload)
    day = entry.at[:10]
    if entry.kind == "exchange.publish":
        objects = payload.get("objects")
        delivered = len(objects) if isinstance(objects, list) else 0
        partner.objects_delivered += delivered
        partner.shared_by_day[day] += delivered
        published = payload.get("items_published")
        partner.items_published += len(published) if isinstance(published, list) else 0
    elif entry.kind == "exchange.share":
        partner.share_runs += 1
        partner.share_runs_incomplete += payload.get("completed") is False
        failed = payload.get("failed")
        partner.objects_refused += len(failed) if isinstance(failed, list) else 0
    elif entry.kind == "exchange.pull":
        partner.pull_runs += 1
        partner.received += _int(payload, "received")
        partner.received_new += _int(payload, "new")
        partner.received_invalid += _int(payload, "refused")
        partner.received_by_day[day] += _int(payload, "new")
    elif entry.kind == "exchange.package":
        partner.findings_packaged += _int(payload, "findings")
        for name, source in (("outcomes", partner.package_outcomes), ("clauses", partner.package_clauses)):
            values = payload.get(name)
            for key, n in values.items() if isinstance(values, dict) else ():
                if isinstance(n, int):
                    source[str(key)] += n


_READERS = {
    "gate.run": _gate_run,
    "strip.run": _strip_run,
    "retention.apply": _retention,
    "review.queue": _review,
    "review.approve": _review,
    "review.auto_approve": _review,
    "review.reject": _review,
    "review.revoke": _review,
    "exchange.publish": _exchange,
    "exchange.share": _exchange,
    "exchange.pull": _exchange,
    "exchange.package": _exchange,
}
