"""A metagate process starts no linear-algebra threads (they spin on a core the engine needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_CHILD = r"""
import json, os
import metagate.cli  # loads numpy, as every command does
print(json.dumps({"setting": os.environ.get("OPENBLAS_NUM_THREADS"), "threads": len(os.listdir("/proc/self/task"))}))
"""


def _threads(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120, check=True,
                          env=env)
    return json.loads(done.stdout)


def test_no_blas_threads_unless_asked_for() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    seen = _threads(env)
    assert seen == {"setting": "1", "threads": 1}
    chosen = _threads({**env, "OPENBLAS_NUM_THREADS": "2"})  # an operator's own setting stands
    assert chosen["setting"] == "2"
