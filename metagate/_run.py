"""``metagate run``: the main job, end to end: capture -> collect -> gate -> detect -> package -> queue.

Every stage is the one the separate commands use, in memory where it can be: captures are
decoded by the fast engine and gated as they are read, so only GatedRecords are written
(``WORK/gated.parquet``); the detectors read them (with the partner's indicators, when a
pulled file is there) and write ``WORK/findings.jsonl``; packaging queues each finding for
review. The ledger gets the gate's ``gate.run`` entry and the exchange's events.

``--auto-approve`` approves every new item without review, for demos and tests only: it is
said in capitals on the terminal and recorded in the ledger (``review.auto_approve``, approver
``auto-approve``, on behalf of the person running it). ``--share`` pushes the outbox at the end.
``--local-partner`` starts medallion on loopback (exchange._local_partner) as the partner and
shares with it instead of the configured one: a demo of the whole exchange on one machine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metagate._audit import LedgerPlace, actor, record

if TYPE_CHECKING:
    from exchange import ExchangeConfig, PackageRun, Queue, ShareReport
    from policies import Policy

AUTO_BANNER = "*** --auto-approve: items are approved WITHOUT human review. For demos and tests only. ***"
_LOCAL_PASSWORD_ENV = "METAGATE_LOCAL_PARTNER_PASSWORD"


@dataclass
class RunResult:
    packets: int = 0
    records_in: int = 0
    records_out: int = 0
    findings: int = 0
    package: PackageRun | None = None
    approved: list[int] = field(default_factory=list)
    share: ShareReport | None = None
    exit_status: int = 0


def run_pipeline(
    captures: list[str],
    policy: Policy,
    config: ExchangeConfig,
    queue: Queue,
    place: LedgerPlace,
    work: Path,
    *,
    detector_config: Path | None = None,
    indicators: Path | None = None,
    auto_approve: bool = False,
    share: bool = False,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> RunResult:
    from collectors import Collector, make_engine, read_flow_file
    from detectors import DetectorChain, load_detector_config, load_indicators, write_findings
    from filters import Gate
    from metagate._cli_exchange import package_into, share_with
    from metagate._gating import gate_payload

    result = RunResult()
    work.mkdir(parents=True, exist_ok=True)
    gated = work / "gated.parquet"
    gate = Gate(policy)
    summary = Collector(make_engine("fast"), str(gated), "parquet", transform=gate, schema=gate.schema).run(captures)
    result.packets, result.exit_status = summary.packets, summary.exit_status
    report = gate.report()
    result.records_in, result.records_out = report.records_in, report.records_out
    payload = gate_payload(gate, [{"source": s} for s in captures], str(gated), "run")
    payload["packets"] = summary.packets
    seq = record(place, "gate.run", payload)
    say(
        f"run: {summary.packets:,} packets, {report.records_in:,} flows, {report.records_out:,} passed the gate "
        f"({policy.name}; ledger entry {seq})"
    )

    feed = load_indicators(indicators) if indicators is not None and indicators.exists() else None
    chain = DetectorChain(load_detector_config(detector_config), indicators=feed)
    if gated.exists():
        for table in read_flow_file(gated, schema=None):
            chain.feed(table)
    findings = chain.finish()
    result.findings = write_findings(findings, work / "findings.jsonl")
    with_feed = f", {len(feed)} partner indicators matched against" if feed is not None else ""
    say(f"run: {result.findings} finding(s){with_feed} -> {work / 'findings.jsonl'}")

    result.package = package_into(queue, findings, policy, config)
    outcomes = result.package.outcomes()
    say(
        f"run: {outcomes['queued']} item(s) queued for review, {outcomes['unchanged']} unchanged, "
        f"{outcomes['refused']} refused by the agreement"
    )
    for decision in result.package.decisions:
        if decision.outcome.value == "refused":
            say(f"run: refused {decision.finding_id}: {decision.reason}")
    if auto_approve:
        say(AUTO_BANNER)
        result.approved = queue.auto_approve(result.package.items, actor())
        say(f"run: {len(result.approved)} item(s) AUTO-APPROVED without review (recorded in the ledger)")
    if share:
        result.share = share_with(queue, config, log=lambda line: say(f"run: {line}"))
        say(
            f"run: shared with {config.partner}: {result.share.delivered:,} object(s) delivered, "
            f"{len(result.share.published)} item(s) published, {result.share.remaining:,} left in the outbox"
        )
    return result


def local_partner_config(config: ExchangeConfig, partner: Any) -> ExchangeConfig:
    """``config`` pointed at a running LocalPartner (its password passed through the environment)."""
    os.environ[_LOCAL_PASSWORD_ENV] = partner.password
    taxii = config.taxii.model_copy(
        update={
            "api_root": partner.api_root,
            "outbound_collection": partner.collection("outbound"),
            "inbound_collection": partner.collection("inbound"),
            "user": partner.user,
            "password_env": _LOCAL_PASSWORD_ENV,
        }
    )
    return config.model_copy(update={"taxii": taxii})
