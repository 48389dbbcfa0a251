"""The exchange from the command line, against medallion: run, review, share, revoke, pull, kill."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from exchange._local_partner import MEDIA_TYPE, LocalPartner, free_port
from tests.exchange.conftest import PASSWORD, POLICIES, finding
from tests.exchange.proxy import FaultProxy
from tests.exchange.test_pull_memory import indicator
from tests.exchange.test_taxii_medallion import held

SCANNER = "198.51.100.7"


def metagate(work: Path, *args: str, actor: str = "tester", **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "METAGATE_ACTOR": actor, "TAXII_PASSWORD": PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "metagate", *args], cwd=work, capture_output=True, text=True, timeout=300, env=env, **kw
    )


def write_exchange(work: Path, api_root: str, outbound: str, inbound: str, **taxii: Any) -> None:
    settings = {
        "api_root": api_root,
        "outbound_collection": outbound,
        "inbound_collection": inbound,
        "user": "metagate",
        "password_env": "TAXII_PASSWORD",
        "backoff": 0.05,
        "max_backoff": 0.5,
        "status_interval": 0.05,
        "connect_timeout": 1,
        "read_timeout": 5,
        **taxii,
    }
    config = {"partner": "us-partner", "producer": {"name": "Test Carrier SOC"}, "taxii": settings}
    (work / "metagate-exchange.yaml").write_text(json.dumps(config))


def scan_capture(path: Path) -> None:
    """40 unanswered SYNs from SCANNER to the test carrier's 192.0.2.0/24 on tcp/22, in March 2025."""
    from scapy.all import IP, TCP, Ether, wrpcap

    start = 1_740_830_400.0  # 2025-03-01T12:00:00Z
    packets = []
    for i in range(40):
        packet = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IP(src=SCANNER, dst=f"192.0.2.{i + 1}")
            / TCP(sport=40000 + i, dport=22, flags="S")
        )
        packet.time = start + i * 2
        packets.append(packet)
    wrpcap(str(path), packets)


@pytest.fixture
def work(tmp_path: Path, medallion: LocalPartner, collection: str) -> Path:
    for item in POLICIES.iterdir():
        shutil.copy(item, tmp_path / item.name)
    write_exchange(tmp_path, medallion.api_root, collection, collection)
    assert metagate(tmp_path, "audit", "init").returncode == 0
    return tmp_path


def ledger(work: Path, kind: str) -> list[dict[str, Any]]:
    done = metagate(work, "audit", "show", "--kind", kind)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_run_review_share_revoke(work: Path, medallion: LocalPartner, collection: str) -> None:
    scan_capture(work / "scan.pcap")
    done = metagate(work, "run", "scan.pcap", "--policy", "site-jp.yaml")
    assert done.returncode == 0, done.stderr
    assert "1 finding(s)" in done.stderr and "1 item(s) queued for review" in done.stderr
    listed = metagate(work, "review", "list")
    assert listed.stdout.split()[:3] == ["1", "pending", "0/2"] and SCANNER in listed.stdout
    shown = metagate(work, "review", "show", "1")
    envelope = json.loads(shown.stdout)
    assert [o["type"] for o in envelope["objects"]] == ["indicator", "sighting"]
    assert SCANNER in envelope["objects"][0]["pattern"] and "192.0.2." not in shown.stdout

    assert "another person must approve" in metagate(work, "review", "approve", "1", actor="alice").stdout
    twice = metagate(work, "review", "approve", "1", actor="alice")
    assert twice.returncode == 2 and "alice has already approved it" in twice.stderr
    assert "approved (2/2)" in metagate(work, "review", "approve", "1", "--reason", "seen it", actor="bob").stdout
    shared = metagate(work, "share")
    assert shared.returncode == 0, shared.stderr
    assert "4 delivered" in shared.stdout and "1 item(s) published" in shared.stdout

    on_server = requests.get(
        f"{medallion.api_root}collections/{collection}/objects/",
        params={"match[version]": "all"},
        headers={"Accept": MEDIA_TYPE},
        auth=(medallion.user, PASSWORD),
        timeout=10,
    ).json()
    by_id = {o["id"]: o for o in on_server["objects"]}
    assert [by_id[o["id"]] for o in envelope["objects"]] == envelope["objects"]  # what was shown is what arrived

    assert metagate(work, "review", "reject", "1", "--reason", "x").returncode == 2  # published: not rejectable
    revoked = metagate(work, "review", "revoke", "1", "--reason", "our own red team", actor="carol")
    assert revoked.returncode == 0 and "2 revocation(s) queued" in revoked.stdout
    assert metagate(work, "share").returncode == 0
    versions = held(medallion, collection)
    assert len(versions) == 6 and len(set(versions)) == 6
    assert metagate(work, "review", "list", "--state", "revoked").stdout.startswith("    1  revoked")

    approvals = ledger(work, "review.approve")
    assert [e["actor"] for e in approvals] == ["alice", "bob"]
    assert ledger(work, "review.revoke")[0]["payload"]["reason"] == "our own red team"
    assert len(ledger(work, "exchange.publish")) == 2 and ledger(work, "gate.run")[0]["payload"]["mode"] == "run"
    assert "ok" in metagate(work, "audit", "verify").stdout


def test_pull_feeds_detection_and_sightings_go_back(work: Path, medallion: LocalPartner, collection: str) -> None:
    theirs = indicator(7, pattern=f"[ipv4-addr:value = '{SCANNER}']", confidence=90)
    requests.post(
        f"{medallion.api_root}collections/{collection}/objects/",
        data=json.dumps({"objects": [theirs]}),
        headers={"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE},
        auth=(medallion.user, PASSWORD),
        timeout=10,
    ).raise_for_status()
    pulled = metagate(work, "pull")
    assert pulled.returncode == 0, pulled.stderr
    assert "1 new" in pulled.stdout and (work / "partner-indicators.jsonl").exists()
    scan_capture(work / "scan.pcap")
    done = metagate(work, "run", "scan.pcap", "--policy", "site-jp.yaml", "--auto-approve", "--share")
    assert done.returncode == 0, done.stderr
    assert "WITHOUT human review" in done.stderr and "1 partner indicators matched against" in done.stderr
    sightings = [json.loads(o["json"]) for o in _objects(work) if o["type"] == "sighting"]
    assert theirs["id"] in {s["sighting_of_ref"] for s in sightings}
    ours = next(s for s in sightings if s["sighting_of_ref"] == theirs["id"])
    assert ours["object_marking_refs"] == ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]  # amber
    (auto,) = ledger(work, "review.auto_approve")
    assert auto["payload"]["auto_approve"] is True and auto["actor"] == "tester"


def _objects(work: Path) -> list[dict[str, Any]]:
    import sqlite3

    with sqlite3.connect(work / "metagate-exchange.sqlite") as conn:
        return [{"type": t, "json": j} for t, j in conn.execute("SELECT type, json FROM objects")]


def test_killed_at_any_moment_then_restarted_leaves_every_version_once(
    work: Path, medallion: LocalPartner, collection: str
) -> None:
    lines = "".join(finding(i).to_json() + "\n" for i in range(150))
    (work / "findings.jsonl").write_text(lines)
    policy = (work / "site-jp.yaml").read_text().replace("approvals_required: 2", "approvals_required: 1")
    (work / "site-jp.yaml").write_text(policy)
    assert metagate(work, "package", "findings.jsonl", "--policy", "site-jp.yaml").returncode == 0
    import sqlite3

    with sqlite3.connect(work / "metagate-exchange.sqlite") as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM items")]
    from exchange import MemoryAudit, Queue

    with Queue(work / "metagate-exchange.sqlite", MemoryAudit()) as queue:
        queue.auto_approve(ids, "tester")
    proxy = FaultProxy(medallion.base, free_port()).start()
    proxy.rules.append(lambda method, path, body: time.sleep(0.15) if method == "POST" else None)
    write_exchange(work, f"{proxy.base}/api1/", collection, collection, max_objects_per_request=20)
    env = {**os.environ, "METAGATE_ACTOR": "tester", "TAXII_PASSWORD": PASSWORD}
    partial = []
    try:
        for delay in (1.2, 1.6, 2.0, 2.4, 2.8):
            child = subprocess.Popen(
                [sys.executable, "-m", "metagate", "share"],
                cwd=work,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(delay)
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            with sqlite3.connect(work / "metagate-exchange.sqlite") as conn:
                partial.append(conn.execute("SELECT count(*) FROM outbox WHERE state = 'delivered'").fetchone()[0])
        proxy.rules.clear()
        done = metagate(work, "share")
        assert done.returncode == 0, done.stderr
    finally:
        proxy.stop()
    assert any(0 < n < 302 for n in partial), partial  # at least one kill came in the middle of a push
    versions = held(medallion, collection)
    assert len(versions) == 302 and len(set(versions)) == 302  # 150 indicators, 150 sightings, identity, marking
    assert metagate(work, "review", "list", "--state", "published").stderr.startswith("150 item(s)")
    assert "ok" in metagate(work, "audit", "verify").stdout
