"""What the exchange commands share: where the queue and the configuration are, opening them.

Embedded defaults, as for the ledger: the exchange configuration ``metagate-exchange.yaml``
and the queue ``metagate-exchange.sqlite`` in the working directory; ``METAGATE_EXCHANGE`` and
``METAGATE_QUEUE`` (or ``--exchange`` / ``--queue``, or ``queue:`` in the configuration) move
them. Review events go to the audit ledger of metagate._audit (``--ledger``, ``--ledger-key``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from metagate._audit import LedgerPlace
from policies import ConfigError, MetagateError, PolicyError

if TYPE_CHECKING:
    from exchange import ExchangeConfig, Queue

DEFAULT_EXCHANGE = "metagate-exchange.yaml"
DEFAULT_QUEUE = "metagate-exchange.sqlite"
EXIT_FAILED, EXIT_USAGE, EXIT_PARTLY = 1, 2, 3

ExchangeOption = Annotated[
    Path | None,
    typer.Option("--exchange", help=f"exchange configuration (default: $METAGATE_EXCHANGE or {DEFAULT_EXCHANGE})"),
]
QueueOption = Annotated[
    Path | None, typer.Option("--queue", help=f"review queue (default: $METAGATE_QUEUE or {DEFAULT_QUEUE})")
]


def exchange_config(path: Path | None) -> ExchangeConfig:
    from exchange import load_exchange_config

    where = path or Path(os.environ.get("METAGATE_EXCHANGE", DEFAULT_EXCHANGE))
    if not where.exists():
        raise ConfigError(f"no exchange configuration at {where}", field="exchange")
    return load_exchange_config(where)


def queue_path(queue: Path | None, config: ExchangeConfig | None = None) -> Path:
    if queue is not None:
        return queue
    if "METAGATE_QUEUE" in os.environ:
        return Path(os.environ["METAGATE_QUEUE"])
    if config is not None and config.queue:
        base = Path(config.source).parent if config.source else Path()
        return base / config.queue
    return Path(DEFAULT_QUEUE)


@contextmanager
def open_queue(path: Path, place: LedgerPlace | None) -> Iterator[Queue]:
    """The queue, its events going to the ledger at ``place`` (None: reading only, no events)."""
    from exchange import LedgerAudit, Queue

    if place is None:
        if not path.exists():
            raise ConfigError(f"no review queue at {path}: package some findings first", field="queue")
        with Queue(path) as queue:
            yield queue
        return
    with place.open() as ledger, Queue(path, LedgerAudit(ledger)) as queue:
        yield queue


@contextmanager
def exchange_errors() -> Iterator[None]:
    """One line naming what failed, and the status: 2 for usage, configuration, policy or review errors."""
    from exchange import ReviewError

    try:
        yield
    except (ConfigError, PolicyError, ReviewError) as exc:
        typer.echo(f"metagate: error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except MetagateError as exc:
        typer.echo(f"metagate: error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc
