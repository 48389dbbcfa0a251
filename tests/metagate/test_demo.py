"""``metagate demo``, the command a fresh machine runs first, collects and gates the sample."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_collects_and_gates_the_sample() -> None:
    done = subprocess.run([sys.executable, "-m", "metagate", "demo"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "packets 4,000" in done.stderr
    passed = re.search(r"(\d[\d,]*) flows in, (\d[\d,]*) passed", done.stdout)
    assert passed is not None, done.stdout
    flows_in, flows_out = (int(g.replace(",", "")) for g in passed.groups())
    assert 0 < flows_out < flows_in, "the sample holds both approved and domestic-only traffic"
    assert "jp-acd:classes.domestic-to-domestic=never" in done.stdout
