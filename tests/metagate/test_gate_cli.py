"""The legal gate from the command line: policy check/explain, gate, collect --policy, audit, retention."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

TESTS = Path(__file__).parent.parent
PCAPS = TESTS / "data" / "pcaps"
POLICIES = TESTS / "data" / "policies"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working directory with the test policy, its keys and an initialised ledger."""
    for item in POLICIES.iterdir():
        shutil.copy(item, tmp_path / item.name)
    done = run(tmp_path, "audit", "init")
    assert done.returncode == 0, done.stderr
    return tmp_path


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "METAGATE_ACTOR": "tester"}
    return subprocess.run(
        [sys.executable, "-m", "metagate", *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def _ledger(work: Path) -> list[dict[str, object]]:
    done = run(work, "audit", "show")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_policy_check_and_explain(work: Path) -> None:
    done = run(work, "policy", "check", "site-jp.yaml")
    assert done.returncode == 0 and "ok: policy jp-acd+test-carrier" in done.stdout
    done = run(work, "policy", "explain", "site-jp.yaml")
    assert done.returncode == 0
    assert "domestic-to-domestic: never passes" in done.stdout and "OC-2024-017" in done.stdout
    assert "What is never kept: dns_qname, tls_sni, http_host" in done.stdout
    bad = work / "bad.yaml"
    bad.write_text((work / "site-jp.yaml").read_text().replace("retention", "x") + "pseudonymise: {}\n")
    done = run(work, "policy", "check", "bad.yaml")
    assert done.returncode == 2 and "bad.yaml, line" in done.stderr and "unknown field 'pseudonymise'" in done.stderr


def test_gate_files_writes_only_gated_records_and_a_ledger_entry(work: Path) -> None:
    for name in ("tcp_session", "gtpu", "vxlan"):
        assert run(work, "collect", str(PCAPS / f"{name}.pcap"), "-o", f"{name}.jsonl").returncode == 0
    (work / "broken.jsonl").write_text('{"flow_id": 1, "nonsense": true}\n')
    done = run(work, "gate", "tcp_session.jsonl", "broken.jsonl", "gtpu.jsonl", "vxlan.jsonl",
               "--policy", "site-jp.yaml", "-o", "gated.parquet")  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "broken.jsonl" in done.stderr and "not gated" in done.stderr
    gated = pq.read_table(work / "gated.parquet")
    assert gated.num_rows > 0 and set(gated["policy"].to_pylist()) == {"jp-acd+test-carrier"}
    entry = _ledger(work)[-1]
    assert entry["kind"] == "gate.run" and entry["actor"] == "tester"
    payload = entry["payload"]
    assert isinstance(payload, dict)
    assert payload["records_out"] == gated.num_rows and payload["key_ids"] == ["k2024", "k2025"]
    assert [i["path"] for i in payload["inputs"]] == ["tcp_session.jsonl", "broken.jsonl", "gtpu.jsonl", "vxlan.jsonl"]
    assert "error" in payload["inputs"][1] and len(payload["inputs"][0]["sha256"]) == 64


def test_collect_with_policy_writes_no_ungated_record(work: Path) -> None:
    done = run(work, "collect", str(PCAPS / "tcp_session.pcap"), str(PCAPS / "vxlan.pcap"),
               "--policy", "site-jp.yaml", "-o", "flows.jsonl")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (work / "flows.jsonl").read_text().splitlines()]
    assert rows and all(r["policy"] == "jp-acd+test-carrier" and r["flow_id"].startswith("p1:") for r in rows)
    assert all("dns_qname" not in r for r in rows)
    assert "gate jp-acd+test-carrier" in done.stderr
    assert _ledger(work)[-1]["payload"]["mode"] == "collect"  # type: ignore[index]


def test_collect_with_policy_fails_before_writing_without_a_ledger_key(work: Path) -> None:
    (work / "metagate-ledger.key").unlink()
    done = run(work, "collect", str(PCAPS / "tcp_session.pcap"), "--policy", "site-jp.yaml", "-o", "flows.jsonl")
    assert done.returncode == 2 and "audit init" in done.stderr
    assert not (work / "flows.jsonl").exists() and not (work / "flows.jsonl.partial").exists()


def test_missing_key_or_expired_approval_writes_nothing(work: Path) -> None:
    (work / "test-key-2025.hex").unlink()
    done = run(work, "gate", "x.jsonl", "--policy", "site-jp.yaml", "-o", "gated.parquet")
    assert done.returncode == 2 and "k2025" in done.stderr and not (work / "gated.parquet").exists()
    site = work / "site-jp.yaml"
    site.write_text(site.read_text().replace("valid_until: 2030-12-31", "valid_until: 2025-12-31"))
    shutil.copy(POLICIES / "test-key-2025.hex", work)
    done = run(work, "collect", str(PCAPS / "tcp_session.pcap"), "--policy", "site-jp.yaml", "-o", "f.jsonl")
    assert done.returncode == 2 and "OC-2024-017 expired" in done.stderr and not (work / "f.jsonl").exists()


def test_ledger_tampering_is_found(work: Path) -> None:
    done = run(work, "collect", str(PCAPS / "tcp_session.pcap"), "--policy", "site-jp.yaml", "-o", "f.jsonl")
    assert done.returncode == 0, done.stderr
    done = run(work, "audit", "verify")
    assert done.returncode == 0 and ": ok" in done.stdout
    with sqlite3.connect(work / "metagate-ledger.sqlite") as db:
        db.execute("DROP TRIGGER ledger_no_update")  # as someone with the file would
        db.execute("UPDATE ledger SET payload = replace(payload, 'site-jp', 'elsewhere') WHERE seq = 2")
    done = run(work, "audit", "verify")
    assert done.returncode == 1 and "edited: entry 2" in done.stdout


def test_retention_deletes_expired_records_and_records_it(work: Path) -> None:
    store = work / "store"
    store.mkdir()
    assert run(work, "collect", str(PCAPS / "tcp_session.pcap"), "--policy", "site-jp.yaml",
               "-o", "store/a.parquet", "--format", "parquet").returncode == 0  # fmt: skip
    kept = pq.read_table(store / "a.parquet").num_rows
    assert kept > 0
    done = run(work, "retention", "apply", "store", "--policy", "site-jp.yaml")
    assert done.returncode == 0, done.stderr
    # the capture is from 2024-03: 730 days later is 2026-02-28, so today everything has expired
    assert not (store / "a.parquet").exists()
    entry = _ledger(work)[-1]
    assert entry["kind"] == "retention.apply" and entry["payload"]["records_deleted"] == kept  # type: ignore[index]


def test_collect_with_policy_runs_the_detectors_as_the_next_stage(work: Path) -> None:
    captures = [str(PCAPS / f"{name}.pcap") for name in ("tcp_states", "tcp_session", "udp_dns", "icmp")]
    done = run(work, "collect", *captures, "--policy", "site-jp.yaml", "-o", "gated.parquet",
               "--format", "parquet", "--detect", "inline.jsonl")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "findings" in done.stderr and (work / "inline.jsonl").exists()
    done = run(work, "detect", "gated.parquet", "-o", "after.jsonl")
    assert done.returncode == 0, done.stderr
    assert (work / "inline.jsonl").read_text() == (work / "after.jsonl").read_text()
    done = run(work, "collect", captures[0], "--detect", "x.jsonl", "-o", "f.jsonl")
    assert done.returncode == 2 and "--policy" in done.stderr
