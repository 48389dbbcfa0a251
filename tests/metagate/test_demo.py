"""``metagate demo``, the command a fresh machine runs first, runs the main job on the sample."""

from __future__ import annotations

import re
import subprocess
import sys


def test_demo_collects_gates_detects_and_shares_the_sample() -> None:
    done = subprocess.run([sys.executable, "-m", "metagate", "demo"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "packets 4,000" in done.stderr
    passed = re.search(r"(\d[\d,]*) flows in, (\d[\d,]*) passed", done.stdout)
    assert passed is not None, done.stdout
    flows_in, flows_out = (int(g.replace(",", "")) for g in passed.groups())
    assert 0 < flows_out < flows_in, "the sample holds both approved and domestic-only traffic"
    assert "jp-acd:classes.domestic-to-domestic=never" in done.stdout
    # the main job: detect, package under the agreement, auto-approve (said loudly), share, prove
    assert "AUTO-APPROVED without review" in done.stdout and "WITHOUT human review" in done.stdout
    holds = re.search(r"now holds (\d+) object\(s\):\n((?:  .*\n)+)", done.stdout)
    assert holds is not None, done.stdout
    received = holds.group(2)
    assert "indicator" in received and "'198.51.100.23'" in received and "sighting" in received
    assert "10.0.7." not in received  # the subscribers attacked are domestic: never shared
    assert "demo-partner:min_confidence=60" in done.stdout  # the agreement refused the weaker finding
    assert re.search(r"the audit ledger: \d+ signed entries, verified: ok", done.stdout)
