"""How a command ends on an error: one line naming what and where, and the exit status.

2 for a usage, configuration or policy error (nothing was done), 1 for any other metagate
error; the collect-style statuses 3 and 4 (partly read, not a capture) are the commands' own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from policies import ConfigError, MetagateError, PolicyError

EXIT_FAILED, EXIT_USAGE = 1, 2


@contextmanager
def command_errors() -> Iterator[None]:
    """Turn metagate's errors into a line on stderr and the exit status that says which kind."""
    try:
        yield
    except (ConfigError, PolicyError) as exc:
        typer.echo(f"metagate: error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    except MetagateError as exc:
        typer.echo(f"metagate: error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from exc
