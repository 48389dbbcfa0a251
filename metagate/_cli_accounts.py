"""``metagate hash-password``: the hash an account's configuration carries instead of its password."""

from __future__ import annotations

import getpass
import sys

import typer

from metagate._exits import EXIT_USAGE


def hash_password() -> None:
    """Read a password (prompted on a terminal, else one line of stdin) and print its scrypt hash."""
    from policies import hash_password as make_hash

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            typer.echo("metagate: error: the passwords differ", err=True)
            raise typer.Exit(EXIT_USAGE)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        typer.echo("metagate: error: an empty password", err=True)
        raise typer.Exit(EXIT_USAGE)
    typer.echo(make_hash(password))
