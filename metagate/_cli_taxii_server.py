"""``metagate taxii-server``: our TAXII 2.1 server, for the partner to pull what was published for it.

It serves the ``server:`` section of the exchange configuration over the review queue, on
``server.listen`` (127.0.0.1 unless configured otherwise) and ``server.port``, over TLS when
``server.tls`` names a certificate and key (relative to the configuration file). What the
partner posts is recorded in the audit ledger, as a pull is. SIGTERM or SIGINT stop it
cleanly: the request in hand is answered, the socket closed, exit status 0.

Exit status: 0 stopped by a signal; 2 a usage or configuration error (no ``server:``
section, a password where its hash belongs, a certificate that does not load, a port in use).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from metagate._audit import LedgerKeyOption, LedgerOption, LedgerPlace
from metagate._cli_exchange_setup import ExchangeOption, QueueOption, exchange_config, exchange_errors, queue_path

if TYPE_CHECKING:
    from exchange import Audit


def taxii_server(
    exchange: ExchangeOption = None,
    queue: QueueOption = None,
    host: Annotated[str | None, typer.Option("--host", help="listen address (default: server.listen)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="port (default: server.port; 0: any free one)")] = None,
    ledger: LedgerOption = None,
    ledger_key: LedgerKeyOption = None,
) -> None:
    """Serve the published objects to the partner over TAXII 2.1 and take its sightings, until SIGTERM."""
    from exchange import LedgerAudit, TaxiiServer, create_taxii_app, tls_context
    from policies import ConfigError, is_loopback

    place = LedgerPlace.resolve(ledger, ledger_key)

    @contextmanager
    def audit() -> Iterator[Audit | None]:
        with place.open() as opened:
            yield LedgerAudit(opened)

    with exchange_errors():
        config = exchange_config(exchange)
        settings = config.server
        if settings is None:
            raise ConfigError(f"{config.source}: no server: section (docs/exchange.md)", field="server")
        place.open().close()  # fail now, not at the partner's first POST, when the ledger cannot be written
        app = create_taxii_app(config, queue_path(queue, config), audit=audit)
        listen = host or settings.listen
        if settings.tls is None and not is_loopback(listen):
            raise ConfigError(f"plain HTTP is for loopback only: --host {listen} needs server.tls", field="host")
        base = Path(config.source).parent if config.source else None
        context = tls_context(settings.tls, base) if settings.tls is not None else None
        server = TaxiiServer(app, listen, settings.port if port is None else port, ssl_context=context)
    logging.basicConfig(level=logging.INFO, format="metagate: %(message)s", stream=sys.stderr)
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    server.start()
    typer.echo(f"metagate: TAXII 2.1 server at {server.url}/taxii2/ (API root /{settings.api_root}/)", err=True)
    while not stop.wait(1.0):
        pass
    server.stop()
    typer.echo("metagate: TAXII server stopped", err=True)
