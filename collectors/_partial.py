"""Where an output lives while it is written, and cutting it back to a checkpoint.

Kept apart from the writers (which need Arrow) so that a collect run can settle its output
before Arrow has loaded.
"""

from __future__ import annotations

from pathlib import Path

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    """Where the output for ``path`` is written until it is closed."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def truncate_to(path: str | Path, size: int) -> None:
    """Cut the output for ``path`` (its ``.partial`` if a run left one) back to ``size`` bytes."""
    partial = partial_path(path)
    target = partial if partial.exists() else Path(path)
    if not target.is_file():
        return  # a device or a pipe keeps nothing to cut back
    with target.open("r+b") as fh:
        fh.truncate(size)
