"""A ring checkpoint under a policy is sealed: nobody reads its live flows without the key."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from filters import StateSeal
from policies import PolicyError, load_keys, load_policy

TESTS = Path(__file__).parent.parent
POLICIES = TESTS / "data" / "policies"
PCAPS = TESTS / "data" / "pcaps"


def _keys(site: Path):  # type: ignore[no-untyped-def]
    return load_keys(load_policy(site).keys, base=site.parent)


def test_seal_round_trip_and_tampering() -> None:
    seal = StateSeal(_keys(POLICIES / "site-jp.yaml"))
    state = b"live flows: 192.0.2.10 -> 198.51.100.7"
    sealed = seal.seal(state)
    assert b"192.0.2.10" not in sealed and seal.open(sealed) == state
    assert seal.open(b"") == b""
    broken = bytearray(sealed)
    broken[-1] ^= 1
    with pytest.raises(PolicyError, match="altered"):
        seal.open(bytes(broken))
    with pytest.raises(PolicyError, match="not sealed"):
        seal.open(state)


def test_a_ring_collected_under_a_policy_keeps_no_clear_state(tmp_path: Path) -> None:
    for item in POLICIES.iterdir():
        shutil.copy(item, tmp_path / item.name)
    ring = tmp_path / "ring"
    ring.mkdir()
    shutil.copy(PCAPS / "tcp_active.pcap", ring / "cap_00001.pcap")
    env = {**os.environ, "METAGATE_ACTOR": "tester"}

    def metagate(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "metagate", *args], cwd=tmp_path, capture_output=True, env=env,
                              timeout=300)  # fmt: skip

    assert metagate("audit", "init").returncode == 0
    args = ("collect", "ring", "--policy", "site-jp.yaml", "-o", "out.jsonl", "--state", "ring.state")
    assert metagate(*args).returncode == 0
    state = (tmp_path / "ring.state").read_bytes()
    meta, _, body = state.partition(b"\n")
    assert json.loads(meta)["consumed"] == ["cap_00001.pcap"]
    assert body.startswith(b"MGSEAL1\n")
    for clear in (b"192.0.2", b"198.51.100", b"203.0.113"):
        assert clear not in body
    shutil.copy(PCAPS / "tcp_session.pcap", ring / "cap_00002.pcap")
    done = metagate(*args)
    assert done.returncode == 0 and b"resumed after 1 ring file" in done.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows and all(r["policy"] == "jp-acd+test-carrier" for r in rows)
