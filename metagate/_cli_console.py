"""``metagate console``: the analyst console in a browser (metagate.console, docs/console.md).

The configuration is ``--config``, else ``$METAGATE_CONSOLE``, else ``metagate-console.yaml``
when there is one, else the embedded defaults (the command line's queue and ledger, demo
accounts on loopback).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from metagate._exits import command_errors


def console(
    config: Annotated[Path | None, typer.Option("--config", help="console configuration (YAML)")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (0: any free one)")] = 8080,
) -> None:
    """Serve the analyst console: review queue, audit ledger, dashboard."""
    from metagate.console import console_config, load_console_config, serve
    from metagate.console._config import DEFAULT_CONFIG

    with command_errors():
        where = config or (Path(os.environ["METAGATE_CONSOLE"]) if "METAGATE_CONSOLE" in os.environ else None)
        if where is None and Path(DEFAULT_CONFIG).exists():
            where = Path(DEFAULT_CONFIG)
        loaded = load_console_config(where) if where is not None else console_config({})
        serve(loaded, host, port, lambda line: print(f"metagate: {line}", file=sys.stderr, flush=True))
