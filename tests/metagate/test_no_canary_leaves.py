"""Proof: no content byte survives any path of the gate, for every place content can hide.

The canary corpus (tests/data/canary/, from make_canary_pcaps.py) plants a distinct string in
HTTP, SMTP, DNS, TLS, tunnel payloads, ICMP, IP options and fragments. Every output of every
path (flow records collected under the policy by each engine, a gate run over ungated
records, a stripped capture, the audit ledger, every line printed) is searched for each
canary in every encoding tests/canaries.py knows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.canaries import CANARY_DIR, assert_no_canary, find_canaries

POLICIES = Path(__file__).parent.parent / "data" / "policies"
CAPTURES = sorted(CANARY_DIR.glob("*.pcap*"))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("canary")
    for item in POLICIES.iterdir():
        shutil.copy(item, root / item.name)
    assert _run(root, "audit", "init").returncode == 0
    return root


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "METAGATE_ACTOR": "canary-test"}
    done = subprocess.run([sys.executable, "-m", "metagate", *args], cwd=cwd, capture_output=True, timeout=600, env=env)
    assert_no_canary(done.stdout + done.stderr, f"output of metagate {' '.join(args)}")
    return done


def _gated_rows(path: Path) -> bytes:
    """Decoded rows: a byte search through compressed Parquet would find nothing either way."""
    return json.dumps(pq.read_table(path).to_pylist(), default=str).encode()


@pytest.mark.parametrize("engine", ["fast", "scapy", pytest.param("tshark", marks=pytest.mark.tshark)])
def test_collect_with_policy(work: Path, engine: str) -> None:
    out = work / f"collect-{engine}.parquet"
    done = _run(work, "collect", *map(str, CAPTURES), "--engine", engine, "--policy", "site-jp.yaml",
                "-o", str(out), "--format", "parquet")  # fmt: skip
    assert done.returncode in (0, 3), done.stderr
    rows = pq.read_table(out)
    assert rows.num_rows > 0, "the corpus has approved traffic: an empty output would prove nothing"
    assert_no_canary(_gated_rows(out), str(out))


@pytest.mark.tshark
def test_collect_jsonl_then_gate(work: Path) -> None:
    ungated = work / "ungated.jsonl"
    done = subprocess.run([sys.executable, "-m", "metagate", "collect", *map(str, CAPTURES), "--engine", "tshark",
                           "-o", str(ungated)], capture_output=True, timeout=600)  # fmt: skip
    assert done.returncode in (0, 3), done.stderr
    # the check has teeth: ungated, the names the tshark engine reads carry their canaries
    assert find_canaries(ungated.read_bytes()), "the ungated records should hold the DNS/SNI/Host canaries"
    for fmt in ("jsonl", "csv", "parquet"):
        out = work / f"gated.{fmt}"
        done = _run(work, "gate", str(ungated), "--policy", "site-jp.yaml", "-o", str(out), "--format", fmt)
        assert done.returncode == 0, done.stderr
        assert_no_canary(_gated_rows(out) if fmt == "parquet" else out.read_bytes(), str(out))


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_strip(work: Path, capture: Path) -> None:
    out = work / f"stripped-{capture.name}"
    done = _run(work, "strip", str(capture), "-o", str(out), "--policy", "site-jp.yaml")
    assert done.returncode == 0, done.stderr
    assert_no_canary(out.read_bytes(), str(out))


def test_ledger_and_its_export(work: Path) -> None:
    done = _run(work, "audit", "show")
    assert done.returncode == 0 and done.stdout.count(b"\n") >= 2
    ledger = work / "metagate-ledger.sqlite"
    assert_no_canary(ledger.read_bytes(), str(ledger))
    assert _run(work, "audit", "verify").returncode == 0
