"""A console site in a folder: policy, signed ledger with a real gate run, a queue of packaged findings."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange import LedgerAudit, Packager, Queue, package_findings
from filters import Gate
from metagate._audit import LedgerPlace
from metagate._gating import gate_payload
from metagate.console import ConsoleConfig, console_config
from policies import Ledger, load_signing_key
from tests.exchange.conftest import AGREEMENT, Clock, exchange_config, finding, site_policy
from tests.flowtables import flow, table

NOW = datetime(2026, 12, 1, tzinfo=UTC)
PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3", "dave": "dave-pw-4"}
ROLES = {"alice": "approver", "bob": "approver", "carol": "analyst", "dave": "auditor"}


@functools.cache
def password_hash(name: str) -> str:
    from policies import hash_password

    return hash_password(PASSWORDS[name])


@dataclass
class Site:
    folder: Path
    place: LedgerPlace
    queue: Path
    items: list[int]
    policy_sha256: str
    exchange: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def config(self, **changes: Any) -> ConsoleConfig:
        data: dict[str, Any] = {
            "queue": str(self.queue),
            "ledger": str(self.place.ledger),
            "ledger_key": str(self.place.key),
            "users": [{"name": n, "role": ROLES[n], "password_hash": password_hash(n)} for n in PASSWORDS],
        }
        if self.exchange is not None:
            data["exchange"] = str(self.exchange)
        data.update(changes)
        return console_config(data)

    def open_queue(self) -> Queue:
        return Queue(self.queue)


def build_site(folder: Path, *, api_root: str = "http://127.0.0.1:9/api1/", collection: str = "outbound") -> Site:
    """Findings 1-3 queued (two approvals each, the agreement's), finding 9 refused; one gate run before."""
    policy = site_policy(folder, AGREEMENT)
    place = LedgerPlace(folder / "ledger.sqlite", folder / "ledger.key")
    place.init()
    gate = Gate(policy, now=NOW)
    gate(
        table(
            [
                flow("198.51.100.7", "192.0.2.10"),  # foreign-to-domestic, approved
                flow("192.0.2.10", "203.0.113.5"),  # domestic-to-domestic: never
                flow("192.0.2.11", "203.0.113.6"),
                flow("198.51.100.7", "8.8.8.8"),  # transit: no approval covers it
            ]
        )
    )
    with Ledger(place.ledger, load_signing_key(place.key)) as ledger:
        ledger.append("gate.run", "operator", gate_payload(gate, [{"source": "tap0.pcap"}], "gated.parquet", "collect"))
        queue = Queue(folder / "exchange.sqlite", LedgerAudit(ledger), clock=Clock())
        try:
            config = exchange_config(api_root, outbound_collection=collection, inbound_collection=collection)
            packager = Packager(policy, config, queue, clock=Clock(datetime(2025, 3, 2, 9, 0, tzinfo=UTC)))
            found = [finding(1), finding(2), finding(3), finding(9, confidence=10)]
            run = package_findings(found, packager, queue, actor="packager", policy_sha256=policy.digest)
        finally:
            queue.close()
    return Site(folder, place, folder / "exchange.sqlite", run.items, policy.digest)


def write_exchange(site: Site, api_root: str, collection: str) -> Path:
    path = site.folder / "metagate-exchange.yaml"
    path.write_text(
        "partner: us-partner\n"
        "producer: {name: Test Carrier SOC}\n"
        "taxii:\n"
        f"  api_root: {api_root}\n"
        f"  outbound_collection: {collection}\n"
        f"  inbound_collection: {collection}\n"
        "  user: metagate\n"
        "  password_env: METAGATE_TEST_TAXII_PASSWORD\n"
        "  connect_timeout: 2\n"
        "  read_timeout: 10\n"
        "  max_attempts: 2\n"
        "  backoff: 0.05\n"
        "  status_interval: 0.05\n",
        encoding="utf-8",
    )
    site.exchange = path
    return path
