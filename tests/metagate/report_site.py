"""A site with a real ledger for the report tests: every entry written by the real commands.

In one working directory: ``audit init``; ``run`` of a capture with six scanners abroad
probing the carrier (allowed under approval OC-2024-017), domestic-to-domestic flows (never
pass) and a few foreign-to-foreign ones (no approval covers them); approvals by two people,
one rejection; ``share`` to medallion on loopback; a revocation and a second share; ``pull``
of the partner's indicators; ``collect --policy`` and ``gate`` of the canary captures;
``retention apply``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from exchange._local_partner import MEDIA_TYPE, LocalPartner

TESTS = Path(__file__).resolve().parent.parent
POLICIES = TESTS / "data" / "policies"
CANARY = TESTS / "data" / "canary"
PASSWORD = "report-test-password"
SCANNERS = tuple(f"198.51.100.{n}" for n in (7, 17, 27, 37, 47, 57))
PEOPLE = ("alice", "bob", "carol")
PARTNER_ADDRESS = "203.0.113.250"  # in the partner's indicators: a pattern that must not reach the report


def metagate(work: Path, *args: str, actor: str = "operator") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "METAGATE_ACTOR": actor, "TAXII_PASSWORD": PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "metagate", *args], cwd=work, capture_output=True, text=True, timeout=300, env=env
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr
    return done


def capture(path: Path) -> None:
    """Six horizontal scans (40 targets each), 12 domestic-to-domestic and 3 foreign-to-foreign SYNs."""
    from scapy.all import IP, TCP, Ether, wrpcap

    start = 1_740_830_400.0  # 2025-03-01T12:00:00Z
    pairs = [(s, f"192.0.2.{i + 1}") for s in SCANNERS for i in range(40)]
    pairs += [(f"192.0.2.{200 + i}", f"203.0.113.{i + 1}") for i in range(12)]
    pairs += [("198.18.0.1", f"57.12.1.{i + 1}") for i in range(3)]
    packets = []
    for n, (src, dst) in enumerate(pairs):
        packet = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst)
        packet = packet / TCP(sport=40000 + n % 20000, dport=22, flags="S")
        packet.time = start + n * 0.5
        packets.append(packet)
    wrpcap(str(path), packets)


def partner_indicators(count: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
            "created": "2025-02-01T00:00:00.000Z",
            "modified": "2025-02-01T00:00:00.000Z",
            "pattern": f"[ipv4-addr:value = '{PARTNER_ADDRESS}']" if n == 0 else f"[ipv4-addr:value = '45.9.{n}.1']",
            "pattern_type": "stix",
            "valid_from": "2025-02-01T00:00:00Z",
        }
        for n in range(count)
    ]


@dataclass
class Site:
    work: Path
    partner: LocalPartner

    @property
    def ledger(self) -> Path:
        return self.work / "metagate-ledger.sqlite"

    def entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        done = ok(metagate(self.work, "audit", "show", *(["--kind", kind] if kind else [])))
        return [json.loads(line) for line in done.stdout.splitlines()]

    def report(self, *args: str, name: str = "report") -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        html, doc = self.work / f"{name}.html", self.work / f"{name}.json"
        done = metagate(self.work, "report", *args, "-o", str(html), "--json", str(doc))
        data = json.loads(doc.read_text()) if doc.exists() else {}
        return done, data


def build(work: Path, partner: LocalPartner) -> Site:
    for item in POLICIES.iterdir():
        shutil.copy(item, work / item.name)
    settings = {
        "api_root": partner.api_root, "outbound_collection": partner.collection("outbound"),
        "inbound_collection": partner.collection("inbound"), "user": partner.user, "password_env": "TAXII_PASSWORD",
        "backoff": 0.05, "max_backoff": 0.5, "status_interval": 0.05, "connect_timeout": 1, "read_timeout": 5,
    }  # fmt: skip
    config = {"partner": "us-partner", "producer": {"name": "Test Carrier SOC"}, "taxii": settings}
    (work / "metagate-exchange.yaml").write_text(json.dumps(config))
    ok(metagate(work, "audit", "init"))
    capture(work / "scan.pcap")
    ok(metagate(work, "run", "scan.pcap", "--policy", "site-jp.yaml"))
    for item in ("1", "2", "3"):
        for person in PEOPLE[:2]:
            ok(metagate(work, "review", "approve", item, "--reason", f"checked by {person}", actor=person))
    ok(metagate(work, "review", "reject", "4", "--reason", "a customer's own test", actor="carol"))
    ok(metagate(work, "share"))
    ok(metagate(work, "review", "revoke", "1", "--reason", "our own red team", actor="carol"))
    ok(metagate(work, "share"))
    answer = requests.post(
        f"{partner.api_root}collections/{partner.collection('inbound')}/objects/",
        data=json.dumps({"objects": partner_indicators(12)}),
        headers={"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE},
        auth=(partner.user, partner.password),
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    ok(metagate(work, "pull"))
    (work / "store").mkdir()
    canaries = [str(CANARY / name) for name in ("http.pcap", "dns.pcap", "tls.pcap", "smtp.pcap")]
    ok(metagate(work, "collect", *canaries, "--policy", "site-jp.yaml", "-o", "store/canary.parquet",
                "--format", "parquet"))  # fmt: skip
    ok(metagate(work, "collect", *canaries, "-o", "canary.jsonl"))
    ok(metagate(work, "gate", "canary.jsonl", "--policy", "site-jp.yaml", "-o", "store/gated.parquet"))
    ok(metagate(work, "retention", "apply", "store", "--policy", "site-jp.yaml"))
    return Site(work, partner)
