"""The metagate application shell: the command line, pipeline wiring and configuration."""

import os as _os

# numpy's bundled OpenBLAS starts a thread per core when numpy loads, and those threads spin
# for a while waiting for work (0.15 s of CPU per command). metagate does no linear algebra;
# on a tap the spinning takes a core from the engine. Set before anything loads numpy.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__all__: list[str] = []
