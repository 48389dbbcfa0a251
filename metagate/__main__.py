"""``python -m metagate``."""

from metagate.cli import command

command()
