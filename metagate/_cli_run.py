"""``metagate run``: capture -> collect -> gate -> detect -> package -> queue (metagate._run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace
from metagate._cli_exchange_setup import (
    ExchangeOption,
    QueueOption,
    exchange_config,
    exchange_errors,
    open_queue,
    queue_path,
)


def run(
    captures: Annotated[list[str], typer.Argument(help="capture files (pcap, pcapng) or ring directories")],
    policy: Annotated[Path, typer.Option("--policy", help="site policy: the gate's rules and the partner agreement")],
    exchange: ExchangeOption = None,
    queue: QueueOption = None,
    work: Annotated[Path, typer.Option("--work", help="where gated records and findings are written")] = Path(
        "metagate-run"
    ),
    detector_config: Annotated[Path | None, typer.Option("--detector-config", help="detector thresholds")] = None,
    indicators: Annotated[
        Path | None, typer.Option("--indicators", help="partner indicators (default: the pulled file, if any)")
    ] = None,
    auto_approve: Annotated[
        bool, typer.Option("--auto-approve", help="approve WITHOUT review: for demos and tests only (recorded)")
    ] = False,
    share: Annotated[bool, typer.Option("--share", help="push the outbox to the partner at the end")] = False,
    local_partner: Annotated[
        bool, typer.Option("--local-partner", help="demo: medallion on loopback is the partner (implies --share)")
    ] = False,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Run the main job: capture -> collect -> gate -> detect -> package -> queue (-> share)."""
    from metagate._cli_policy import load_checked
    from metagate._run import local_partner_config, run_pipeline

    place = LedgerPlace.resolve(ledger, ledger_key)
    with exchange_errors():
        resolved = load_checked(policy)
        config = exchange_config(exchange)
        place.open().close()  # fail before reading anything when the ledger cannot be written
        feed = indicators
        if feed is None:
            pulled = Path(config.inbound.indicators_file)
            if not pulled.is_absolute() and config.source:
                pulled = Path(config.source).parent / pulled
            feed = pulled
        partner = None
        if local_partner:
            from exchange._local_partner import LocalPartner

            partner = LocalPartner(work / "local-partner").start()
            config = local_partner_config(config, partner)
            typer.echo(f"run: local partner: medallion at {partner.api_root}", err=True)
        try:
            with open_queue(queue_path(queue, config), place) as opened:
                result = run_pipeline(
                    captures,
                    resolved,
                    config,
                    opened,
                    place,
                    work,
                    detector_config=detector_config,
                    indicators=feed,
                    auto_approve=auto_approve,
                    share=share or local_partner,
                )
        finally:
            if partner is not None:
                partner.stop()
    raise typer.Exit(result.exit_status)
