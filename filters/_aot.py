"""Build the gate's kernels ahead of time: ``python -m filters._aot [--force]``.

The same build as the fast engine's (collectors/_aot.py, whose compile step it uses): the
kernels of _fastgate.KERNELS go into ``filters/_gatecore*.so`` (git-ignored) with the hash of
their source, and _fastgate uses the build only while that hash is current. The compile runs
in a child process with ``METAGATE_JIT=1``, where the kernels are numba functions. Nothing
imports this module at run time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from collectors._aot import build_command, build_extension
from filters._fastgate import KERNELS, MODULE, current_build, source_hash

_HERE = Path(__file__).resolve().parent


def main(argv: Sequence[str] | None = None) -> int:
    return build_command(argv, "filters._aot", f"filters/{MODULE}", "the gate's kernels", current_build,
                         lambda: build_extension("filters", _HERE, MODULE, KERNELS, source_hash))


if __name__ == "__main__":
    sys.exit(main())
