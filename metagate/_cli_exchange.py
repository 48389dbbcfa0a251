"""``metagate package``, ``metagate share`` and ``metagate pull``: the exchange with the partner.

- ``package FINDINGS``: findings (``metagate detect`` output) into STIX for the partner of the
  exchange configuration, under the agreement in the policy; each finding is queued for review,
  left as it is (unchanged) or refused, with the clause that decided.
- ``share``: the approved objects in the outbox pushed to the partner's collection.
- ``pull``: the partner's feed read on from the cursor, kept, and written out for
  ``metagate detect --indicators``.

Exit status: 0 done; 1 the partner could not be reached or refused us (nothing is lost: run
again); 2 a usage, configuration or policy error; 3 done, but some objects were refused (by
the partner when sharing, as invalid STIX when pulling).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace, actor
from metagate._cli_exchange_setup import (
    EXIT_PARTLY,
    ExchangeOption,
    QueueOption,
    exchange_config,
    exchange_errors,
    open_queue,
    queue_path,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from detectors import Finding
    from exchange import ExchangeConfig, PackageRun, PullReport, Queue, ShareReport
    from policies import Policy

PolicyOption = Annotated[Path, typer.Option("--policy", help="site policy holding the partner agreement")]


def _log(line: str) -> None:
    print(f"metagate: {line}", file=sys.stderr, flush=True)


def package(
    findings: Annotated[list[Path], typer.Argument(help="findings as JSON lines (metagate detect -o)")],
    policy: PolicyOption,
    exchange: ExchangeOption = None,
    queue: QueueOption = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Package findings as STIX 2.1 for the partner, as the agreement allows, into the review queue."""
    from detectors import read_findings

    with exchange_errors():
        from metagate._cli_policy import load_checked

        resolved = load_checked(policy)
        config = exchange_config(exchange)
        found = [f for path in findings for f in read_findings(path)]
        with open_queue(queue_path(queue, config), LedgerPlace.resolve(ledger, ledger_key)) as opened:
            run = package_into(opened, found, resolved, config)
    print_package(run)


def package_into(queue: Queue, findings: Sequence[Finding], policy: Policy, config: ExchangeConfig) -> PackageRun:
    from exchange import Packager, package_findings

    packager = Packager(policy, config, queue)
    return package_findings(findings, packager, queue, actor=actor(), policy_sha256=policy.digest)


def print_package(run: PackageRun) -> None:
    for decision in run.decisions:
        if decision.outcome.value == "refused":
            typer.echo(f"refused {decision.finding_id}: {decision.reason}", err=True)
        elif decision.notes:
            typer.echo(
                f"queued {decision.finding_id} as item {decision.item}, leaving out: {decision.reason}", err=True
            )
    outcomes = run.outcomes()
    typer.echo(
        f"package: {len(run.decisions)} finding(s): {outcomes['queued']} queued for review "
        f"(items {_span(run.items)}), {outcomes['unchanged']} unchanged, {outcomes['refused']} refused"
    )
    for clause, count in run.clauses().items():
        typer.echo(f"  {clause}: {count}")


def _span(items: list[int]) -> str:
    if not items:
        return "none"
    return str(items[0]) if len(items) == 1 else f"{items[0]}-{items[-1]}"


def share(
    exchange: ExchangeOption = None,
    queue: QueueOption = None,
    retry_failed: Annotated[
        bool, typer.Option(help="first put objects the partner refused back in the outbox")
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="publish on our own TAXII server for the partner to pull; push nothing")
    ] = False,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Push the approved objects to the partner's TAXII collection, each version exactly once."""
    with exchange_errors():
        config = exchange_config(exchange)
        with open_queue(queue_path(queue, config), LedgerPlace.resolve(ledger, ledger_key)) as opened:
            if serve:
                from exchange import Outbox

                published = Outbox(opened, config.partner).serve(actor=actor())
                typer.echo(f"{len(published)} item(s) published on our TAXII server for {config.partner} to pull")
                return
            report = share_with(opened, config, retry_failed=retry_failed)
    print_share(report)
    raise typer.Exit(EXIT_PARTLY if report.failed else 0)


def share_with(
    queue: Queue, config: ExchangeConfig, *, retry_failed: bool = False, log: Callable[[str], None] = _log
) -> ShareReport:
    from exchange import Outbox, PartnerError, Sharer, TaxiiTransport

    if retry_failed:
        log(f"{Outbox(queue, config.partner).retry_failed()} refused object(s) back in the outbox")
    transport = TaxiiTransport(config.taxii, config.taxii.outbound_collection, password=config.taxii.password())
    sharer = Sharer(queue, transport, config.taxii, config.partner, actor(), log=lambda line: log(f"share: {line}"))
    try:
        report = sharer.run()
    except PartnerError:
        queue.event(
            "share",
            actor(),
            {"partner": config.partner, "completed": False, **sharer.report.as_dict()},
            "exchange.share",
        )
        raise
    finally:
        transport.close()
    queue.event("share", actor(), {"completed": True, **report.as_dict()}, "exchange.share")
    return report


def print_share(report: ShareReport) -> None:
    typer.echo(
        f"share {report.partner}: {report.delivered:,} delivered, {report.found_there:,} found already there, "
        f"{len(report.published)} item(s) published, {report.requests} request(s), {report.retries} retries, "
        f"{report.remaining:,} left in the outbox"
    )
    for object_id, version, error in report.failed:
        typer.echo(f"  refused by the partner: {object_id} ({version}): {error}", err=True)


def pull(
    exchange: ExchangeOption = None,
    queue: QueueOption = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="indicators for metagate detect (default: from the config)")
    ] = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Read the partner's feed on from the cursor; keep what is valid, with its TLP; write its indicators."""
    with exchange_errors():
        config = exchange_config(exchange)
        with open_queue(queue_path(queue, config), LedgerPlace.resolve(ledger, ledger_key)) as opened:
            report = pull_from(opened, config, output)
    typer.echo(
        f"pull {report.partner}: {report.received:,} received in {report.pages} page(s), {report.new:,} new, "
        f"{report.refused:,} refused as invalid; {report.indicators:,} indicator(s) in {report.indicators_file}"
    )
    raise typer.Exit(EXIT_PARTLY if report.refused else 0)


def pull_from(
    queue: Queue, config: ExchangeConfig, output: Path | None, *, log: Callable[[str], None] = _log
) -> PullReport:
    from exchange import Puller, TaxiiTransport

    target = output or _beside(config, config.inbound.indicators_file)
    collection = config.taxii.inbound_collection or config.taxii.outbound_collection
    transport = TaxiiTransport(config.taxii, collection, password=config.taxii.password())
    try:
        report = Puller(queue, transport, config, log=lambda line: log(f"pull: {line}")).run(target)
    finally:
        transport.close()
    queue.event("pull", actor(), {"refusals": dict(report.refusals), **report.as_dict()}, "exchange.pull")
    return report


def _beside(config: ExchangeConfig, name: str) -> Path:
    path = Path(name)
    if path.is_absolute() or config.source is None:
        return path
    return Path(config.source).parent / path
