"""The transparency report as data: what may be printed of the period's facts, and the verification.

:func:`report_document` turns exact :class:`~metagate._transparency.Facts` into the JSON
document both the HTML page and the JSON twin are made of, so the two carry the same
figures. Each count goes through one :class:`~metagate._disclosure.Disclosure`, with every
sum the report prints (or that follows from two printed figures) declared as a relation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from metagate._disclosure import Disclosure, JsonFigure
from metagate._transparency import NO_KEY_REASON, REGATED_REASON, Facts
from policies import LedgerVerification

FORMAT = 1
RULE = (
    "Counts of data (packets, flows, records, field values, bytes, STIX objects) from 1 to {k_1} are printed "
    "<{k}. Where a sum the report prints (a total, a day's point, kept plus dropped) would let such a count be "
    "worked out, or narrowed, by subtraction, another count of that sum is withheld as well (printed 'withheld'): "
    "the smallest of at least {k2} if there is one, else the smallest. Counts of acts, one ledger entry each "
    "(gate runs, retention passes, review events, approvals, share and pull runs), are printed exactly. People "
    "are never named: approvals are counted."
)


def report_document(
    facts: Facts,
    verification: LedgerVerification,
    *,
    k: int,
    ledger_name: str,
    public_key_ids: Iterable[str],
    expected_head: str | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    d = Disclosure(k)
    collection = _collection(d, facts)
    gate = _gate(d, facts)
    strip = _strip(d, facts)
    retention = _retention(d, facts)
    exchange = _exchange(d, facts)
    figures = _resolve(
        d, {"collection": collection, "gate": gate, "strip": strip, "retention": retention, "exchange": exchange}
    )
    period = facts.period
    return {
        "report": "metagate transparency report",
        "format": FORMAT,
        "period": {"from": period.first.isoformat(), "to": period.last.isoformat(), "timezone": "UTC"},
        "generated_at": (generated_at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "k": k,
        "suppression": RULE.format(k=k, k_1=k - 1, k2=2 * k - 2),
        "ledger": {
            "file": ledger_name,
            "entries_in_period": facts.entries,
            "first_seq": facts.first_seq,
            "last_seq": facts.last_seq,
            "last_hash": facts.last_hash,
            "kinds": dict(sorted(facts.kinds.items())),
            "signing_key_ids": sorted(facts.signing_keys),
            "unread": facts.unread,
        },
        "verification": {
            "ok": verification.ok and facts.unread is None,
            "entries": verification.entries,
            "head": f"{verification.head[0]}:{verification.head[1]}" if verification.head else None,
            "expected_head": expected_head,
            "public_key_ids": sorted(public_key_ids),
            "problems": [{"seq": p.seq, "kind": str(p.kind), "message": p.message} for p in verification.problems],
        },
        **figures,
        "runs_by_day": [{"day": day, "runs": n} for day, n in sorted(facts.runs_by_day.items())],
    }


class _Ref(str):
    """A figure's name inside the document being built, replaced by what may be printed of it."""


def _resolve(d: Disclosure, value: Any) -> Any:
    if isinstance(value, _Ref):
        return d.figure(str(value))
    if isinstance(value, dict):
        return {key: _resolve(d, item) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(d, item) for item in value]
    return value


def _fig(d: Disclosure, name: str, value: int, *, act: bool = False) -> _Ref:
    return _Ref(d.count(name, value, act=act))


def _sum(d: Disclosure, name: str, parts: Iterable[_Ref]) -> _Ref:
    members = list(parts)
    total = _fig(d, name, sum(d.values[p] for p in members))
    if members:
        d.relate(total, members)
    return total


def _collection(d: Disclosure, facts: Facts) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    packets: list[_Ref] = []
    flows: list[_Ref] = []
    for run in facts.gate_runs:
        row: dict[str, Any] = {
            "seq": run.seq,
            "at": run.at[:16].replace("T", " "),
            "mode": run.mode,
            "policy": run.policy,
            "packets": None,
        }
        if run.packets is not None:
            row["packets"] = _fig(d, f"run.{run.seq}.packets", run.packets)
            packets.append(row["packets"])
        row["flows_collected"] = _fig(d, f"run.{run.seq}.flows", run.records_in)
        flows.append(row["flows_collected"])
        runs.append(row)
    collected = _sum(d, "flows_collected", flows)
    kept = _fig(d, "flows_kept", sum(run.records_out for run in facts.gate_runs))
    dropped = _fig(d, "flows_dropped", d.values[collected] - d.values[kept])
    d.relate(collected, [kept, dropped])
    return {
        "gate_runs": _fig(d, "gate_runs", len(facts.gate_runs), act=True),
        "runs": runs,
        "packets": _sum(d, "packets", packets),
        "flows_collected": collected,
        "flows_kept": kept,
        "flows_dropped": dropped,
        "policies": [
            {"policy": name, "sha256": digest, "runs": n} for (name, digest), n in sorted(facts.policies.items())
        ],
    }


_EXPLAIN = (
    (re.compile(r"=never$"), "never passes under the profile"),
    (re.compile(r"=approval, none covers the flow$"), "needs an approval; none covered the flow"),
    (re.compile(r"^unclassified"), "address unreadable or versions differ: fail closed"),
    (re.compile(r"^dropped: no key"), "no pseudonymization key in force: fail closed"),
    (re.compile(r"^approval "), "passed under this approval"),
    (re.compile(r"=always$"), "always passes under the profile"),
    (re.compile(f"^{REGATED_REASON}$"), "gated before under the same policy"),
)


def _explain(reason: str) -> str:
    return next((text for pattern, text in _EXPLAIN if pattern.search(reason)), "")


def _rows(d: Disclosure, prefix: str, counts: Mapping[str, int], label: str) -> list[dict[str, Any]]:
    return [
        {label: reason, "meaning": _explain(reason), "flows": _fig(d, f"{prefix}.{reason}", n)}
        for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if n
    ]


def _gate(d: Disclosure, facts: Facts) -> dict[str, Any]:
    allowed = _rows(d, "allowed", facts.scope_allowed, "clause")
    drops = dict(facts.scope_dropped)
    if facts.no_key_dropped:
        drops[NO_KEY_REASON] = facts.no_key_dropped
    dropped = _rows(d, "dropped", drops, "clause")
    passed = _sum(d, "flows_passed_scope", [r["flows"] for r in allowed])
    total_dropped, kept = _Ref("flows_dropped"), _Ref("flows_kept")
    explained = sum(d.values[r["flows"]] for r in dropped)
    if explained == d.values[total_dropped]:
        d.relate(total_dropped, [r["flows"] for r in dropped])
    if d.values[passed] == d.values[kept] + facts.no_key_dropped:
        no_key = [_Ref(f"dropped.{NO_KEY_REASON}")] if facts.no_key_dropped else []
        d.relate(passed, [kept, *no_key])
    pseudonymized: list[dict[str, Any]] = []
    for reason, n in sorted(facts.pseudonymized.items()):
        method, _, key_id = reason.partition(" under key ")
        pseudonymized.append({"method": method, "key_id": key_id or None, "flows": _fig(d, f"pseudo.{reason}", n)})
    rest = d.values[kept] - sum(facts.pseudonymized.values())
    plain = None
    if rest >= 0:
        plain = _fig(d, "not_pseudonymized", rest)
        d.relate(kept, [*(p["flows"] for p in pseudonymized), plain])
    return {
        "allowed": allowed,
        "flows_passed_scope": passed,
        "dropped": dropped,
        "pseudonymized": pseudonymized,
        "kept_without_pseudonym": plain,
        "fields_removed": [
            {"field": name, "values": _fig(d, f"field.{name}", n)} for name, n in sorted(facts.fields_removed.items())
        ],
        "retention_days": dict(sorted(facts.retention_days.items())),
    }


def _strip(d: Disclosure, facts: Facts) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for s in facts.strips:
        rows.append(
            {
                "seq": s.seq,
                "at": s.at[:16].replace("T", " "),
                "key_id": s.key_id,
                "packets_read": _fig(d, f"strip.{s.seq}.read", s.packets_read),
                "packets_written": _fig(d, f"strip.{s.seq}.written", s.packets_written),
                "payload_bytes_removed": _fig(d, f"strip.{s.seq}.bytes", s.payload_bytes_removed),
            }
        )
    totals = {
        name: _sum(d, f"strip.{name}", [r[name] for r in rows])
        for name in ("packets_read", "packets_written", "payload_bytes_removed")
    }
    return {"runs": rows, **totals}


def _retention(d: Disclosure, facts: Facts) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for r in facts.retention:
        rows.append(
            {
                "seq": r.seq,
                "at": r.at[:16].replace("T", " "),
                "policy": r.policy,
                "records_deleted": _fig(d, f"retention.{r.seq}.deleted", r.records_deleted),
                "records_kept": _fig(d, f"retention.{r.seq}.kept", r.records_kept),
                "files_deleted": r.files_deleted,
                "files_rewritten": r.files_rewritten,
            }
        )
    return {
        "passes": _fig(d, "retention.passes", len(rows), act=True),
        "runs": rows,
        "records_deleted": _sum(d, "retention.records_deleted", [r["records_deleted"] for r in rows]),
    }


def _exchange(d: Disclosure, facts: Facts) -> dict[str, Any]:
    partners: list[dict[str, Any]] = []
    for name, p in sorted(facts.partners.items()):
        partners.append(
            {
                "partner": name,
                "items_queued": p.items_queued,
                "approvals_required": {str(n): items for n, items in sorted(p.approvals_required.items())},
                "approvals": p.approvals,
                "items_approved": p.items_approved,
                "items_auto_approved": p.items_auto_approved,
                "rejections": p.rejections,
                "revocations": p.revocations,
                "items_published": p.items_published,
                "share_runs": p.share_runs,
                "share_runs_incomplete": p.share_runs_incomplete,
                "objects_delivered": _fig(d, f"partner.{name}.delivered", p.objects_delivered),
                "objects_refused_by_partner": _fig(d, f"partner.{name}.refused", p.objects_refused),
                "pull_runs": p.pull_runs,
                "objects_received": _fig(d, f"partner.{name}.received", p.received),
                "objects_received_new": _fig(d, f"partner.{name}.new", p.received_new),
                "objects_received_invalid": _fig(d, f"partner.{name}.invalid", p.received_invalid),
                "findings_packaged": p.findings_packaged,
                "package_outcomes": dict(sorted(p.package_outcomes.items())),
                "package_clauses": dict(sorted(p.package_clauses.items())),
            }
        )
    days = sorted({day for p in facts.partners.values() for day in (*p.shared_by_day, *p.received_by_day)})
    by_day: list[dict[str, Any]] = []
    for day in days:
        shared = sum(p.shared_by_day.get(day, 0) for p in facts.partners.values())
        received = sum(p.received_by_day.get(day, 0) for p in facts.partners.values())
        by_day.append(
            {
                "day": day,
                "shared": _fig(d, f"day.{day}.shared", shared),
                "received": _fig(d, f"day.{day}.received", received),
            }
        )
    shared_total = _sum(d, "objects_shared", [p["objects_delivered"] for p in partners])
    received_total = _sum(d, "objects_received_new", [p["objects_received_new"] for p in partners])
    if by_day:
        d.relate(shared_total, [row["shared"] for row in by_day])
        d.relate(received_total, [row["received"] for row in by_day])
    return {
        "partners": partners,
        "objects_shared": shared_total,
        "objects_received_new": received_total,
        "by_day": by_day,
    }


def figure_text(value: JsonFigure | None) -> str:
    """A figure as the page prints it: 12,345, <10, withheld, or a dash for none."""
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else value
