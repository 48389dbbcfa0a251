"""Fixtures of the exchange tests: the test site's policy, findings, queues, a local medallion."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detectors import Finding, FindingKind, Role
from exchange import ExchangeConfig, MemoryAudit, Packager, Queue
from exchange._local_partner import LocalPartner
from policies import Policy, load_policy

POLICIES = Path(__file__).parent.parent / "data" / "policies"
T0 = datetime(2025, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
PASSWORD = "test-password"


class Clock:
    """A clock that moves on by one second each time it is read."""

    def __init__(self, start: datetime = datetime(2025, 3, 2, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def finding(n: int = 0, **changes: Any) -> Finding:
    """A horizontal scan from 198.51.100.n on tcp/22 (``changes`` override any field)."""
    start = changes.pop("first_seen", T0 + timedelta(minutes=n))
    fields: dict[str, Any] = {
        "id": f"finding--00000000-0000-5000-8000-{n:012d}",
        "kind": FindingKind.HORIZONTAL_SCAN,
        "technique": "T1046",
        "technique_name": "Network Service Discovery",
        "subject": (f"198.51.100.{n % 250 + 1}",),
        "subject_role": Role.SCANNER,
        "subject_total": 1,
        "targets": ("57.12.1.7", "57.12.1.8"),
        "target_total": 31,
        "protocols": ("tcp",),
        "ports": (22,),
        "window_start": start,
        "window_end": start + timedelta(minutes=10),
        "first_seen": start,
        "last_seen": start + timedelta(minutes=4),
        "counts": {"flows": 31},
        "evidence": ("1:abc",),
        "evidence_total": 31,
        "confidence": 80,
    }
    fields.update(changes)
    return Finding(**fields)


def site_policy(folder: Path, partner: dict[str, Any] | None = None) -> Policy:
    """The test site's policy copied into ``folder``, its partner agreement replaced by ``partner``."""
    for item in POLICIES.iterdir():
        shutil.copy(item, folder / item.name)
    text = (folder / "site-jp.yaml").read_text()
    if partner is not None:
        import yaml

        data = yaml.safe_load(text)
        data["partners"] = [partner]
        text = yaml.safe_dump(data)
    (folder / "site-jp.yaml").write_text(text)
    return load_policy(folder / "site-jp.yaml")


AGREEMENT = {
    "partner": "us-partner",
    "identity": "US partner SOC",
    "tlp_ceiling": "amber",
    "indicator_kinds": ["ipv4-addr", "ipv6-addr", "network-traffic"],
    "min_confidence": 60,
    "domestic_addresses": "never",
    "approvals_required": 2,
}


def exchange_config(api_root: str = "http://127.0.0.1:9/api1/", **taxii: Any) -> ExchangeConfig:
    settings = {
        "api_root": api_root,
        "outbound_collection": "outbound",
        "inbound_collection": "inbound",
        "user": "metagate",
        "backoff": 0.01,
        "max_backoff": 0.05,
        "status_interval": 0.01,
        **taxii,
    }
    return ExchangeConfig.model_validate(
        {"partner": "us-partner", "producer": {"name": "Test Carrier SOC"}, "taxii": settings}
    )


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return site_policy(tmp_path)


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def queue(tmp_path: Path, audit: MemoryAudit) -> Iterator[Queue]:
    with Queue(tmp_path / "exchange.sqlite", audit, clock=Clock()) as opened:
        yield opened


@pytest.fixture
def packager(policy: Policy, queue: Queue) -> Packager:
    return Packager(policy, exchange_config(), queue, clock=Clock(datetime(2025, 3, 2, 9, 0, tzinfo=UTC)))


@pytest.fixture(scope="session")
def medallion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPartner]:
    """One medallion for the session on a free loopback port, with 40 collections handed out one a test."""
    folder = tmp_path_factory.mktemp("medallion")
    names = tuple(f"c{i}" for i in range(40))
    partner = LocalPartner(folder, collections=names, password=PASSWORD, max_page_size=50, max_content_length=64_000)
    with partner:
        yield partner


_FRESH = itertools.count()


@pytest.fixture
def collection(medallion: LocalPartner) -> str:
    """A collection of the session's medallion that no other test uses."""
    return medallion.collection(f"c{next(_FRESH)}")
