"""``python -m metagate``."""

from metagate.cli import main

main()
