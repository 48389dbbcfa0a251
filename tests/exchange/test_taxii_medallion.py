"""Share and pull against a real TAXII 2.1 server (medallion on loopback), and its faults.

Faults come from a proxy in front of medallion (tests/exchange/proxy.py) or from medallion
itself (a wrong password, versions it already holds). After each fault, a second run
completes and medallion holds every version exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from detectors import load_indicators
from exchange import (
    ExchangeConfig,
    MemoryAudit,
    Packager,
    PartnerError,
    Puller,
    Queue,
    Sharer,
    TaxiiTransport,
    package_findings,
)
from exchange._local_partner import MEDIA_TYPE, LocalPartner, free_port
from policies import Policy
from tests.exchange.conftest import PASSWORD, Clock, exchange_config, finding
from tests.exchange.proxy import FaultProxy
from tests.exchange.test_pull_memory import indicator


def config_for(base: str, collection: str, **taxii: Any) -> ExchangeConfig:
    settings = {"connect_timeout": 1.0, "read_timeout": 2.0, **taxii}
    return exchange_config(f"{base}/api1/", outbound_collection=collection, inbound_collection=collection, **settings)


def share(queue: Queue, config: ExchangeConfig, password: str = PASSWORD, lines: list[str] | None = None) -> Any:
    transport = TaxiiTransport(config.taxii, config.taxii.outbound_collection, password=password)
    try:
        return Sharer(
            queue, transport, config.taxii, "us-partner", "tester", log=(lines if lines is not None else []).append
        ).run()
    finally:
        transport.close()


def held(medallion: LocalPartner, collection: str) -> list[tuple[str, str]]:
    """Every (id, version) medallion holds in the collection, read page by page from its manifest."""
    found: list[tuple[str, str]] = []
    url = f"{medallion.api_root}collections/{collection}/manifest/"
    params: dict[str, Any] = {"limit": 50, "match[version]": "all"}
    while True:
        answer = requests.get(
            url, params=params, headers={"Accept": MEDIA_TYPE}, auth=(medallion.user, PASSWORD), timeout=10
        )
        answer.raise_for_status()
        page = answer.json()
        found += [(o["id"], o["version"]) for o in page.get("objects", [])]
        if not page.get("more"):
            return found
        params = {"limit": 50, "match[version]": "all", "next": page["next"]}


def approved_queue(tmp_path: Path, policy: Policy, n: int) -> Queue:
    queue = Queue(tmp_path / "q.sqlite", MemoryAudit(), clock=Clock())
    packager = Packager(policy, exchange_config(), queue, clock=Clock())
    items = package_findings([finding(i) for i in range(n)], packager, queue, actor="packager").items
    queue.auto_approve(items, "tester")
    return queue


def exactly_once(queue: Queue, medallion: LocalPartner, collection: str) -> None:
    versions = held(medallion, collection)
    expected = queue.conn.execute("SELECT object_id, version FROM outbox").fetchall()
    assert sorted(versions) == sorted(expected)  # all there, none twice
    assert {i.state for i in queue.items()} == {"published"}


def test_share_then_pull_round_trip(tmp_path: Path, policy: Policy, medallion: LocalPartner, collection: str) -> None:
    queue = approved_queue(tmp_path, policy, 60)
    report = share(queue, config_for(medallion.base, collection))
    assert report.delivered == 122 and report.requests >= 2  # 64,000 bytes a request at most
    exactly_once(queue, medallion, collection)
    # the partner publishes its own indicators into the collection; ours come back and are skipped
    body = json.dumps({"objects": [indicator(n) for n in range(75)]})
    answer = requests.post(
        f"{medallion.api_root}collections/{collection}/objects/",
        data=body,
        timeout=10,
        headers={"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE},
        auth=(medallion.user, PASSWORD),
    )
    assert answer.status_code == 202
    config = config_for(medallion.base, collection, page_size=40)
    transport = TaxiiTransport(config.taxii, collection, password=PASSWORD)
    pulled = Puller(queue, transport, config).run(tmp_path / "feed.jsonl")
    # medallion pages at 50, we asked 40; our identity and objects come back and are skipped, the OASIS
    # TLP marking is anyone's and is kept
    assert pulled.pages >= 5 and pulled.ours == 121 and pulled.new == 76
    assert len(load_indicators(tmp_path / "feed.jsonl")) == 75
    again = Puller(queue, transport, config).run(tmp_path / "feed.jsonl")
    assert again.received == 0 and again.cursor_after == pulled.cursor_after
    transport.close()


def test_a_wrong_password_stops_the_run_and_keeps_everything(
    tmp_path: Path, policy: Policy, medallion: LocalPartner, collection: str
) -> None:
    queue = approved_queue(tmp_path, policy, 2)
    config = config_for(medallion.base, collection)
    with pytest.raises(PartnerError) as caught:
        share(queue, config, password="wrong")
    assert caught.value.status == 401 and "partner us-partner" in str(caught.value)
    share(queue, config)
    exactly_once(queue, medallion, collection)


def test_versions_medallion_already_holds_are_a_partial_failure_we_recognise(
    tmp_path: Path, policy: Policy, medallion: LocalPartner, collection: str
) -> None:
    queue = approved_queue(tmp_path, policy, 4)
    some = [json.loads(r[0]) for r in queue.conn.execute("SELECT json FROM objects WHERE role = 'object' LIMIT 3")]
    requests.post(
        f"{medallion.api_root}collections/{collection}/objects/",
        data=json.dumps({"objects": some}),
        headers={"Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE},
        auth=(medallion.user, PASSWORD),
        timeout=10,
    ).raise_for_status()
    report = share(queue, config_for(medallion.base, collection))
    assert report.found_there == 3 and report.delivered == 7
    exactly_once(queue, medallion, collection)


@pytest.fixture
def proxy(medallion: LocalPartner) -> Any:
    fault = FaultProxy(medallion.base, free_port()).start()
    yield fault
    fault.stop()


def test_refused_connections(tmp_path: Path, policy: Policy, medallion: LocalPartner, collection: str) -> None:
    queue = approved_queue(tmp_path, policy, 1)
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        PartnerError, match=r"partner us-partner: reading the API root: gave up after 2 attempts: .*connection refused"
    ):
        share(queue, config_for(nobody, collection, max_attempts=2))
    assert queue.conn.execute("SELECT count(*) FROM outbox WHERE state = 'queued'").fetchone()[0] == 4


def test_a_hanging_partner_times_out(
    tmp_path: Path, policy: Policy, proxy: FaultProxy, medallion: LocalPartner, collection: str
) -> None:
    queue = approved_queue(tmp_path, policy, 2)
    proxy.rules.append(lambda method, path, body: "hang" if method == "POST" else None)
    started = time.monotonic()
    with pytest.raises(PartnerError) as caught:
        share(queue, config_for(proxy.base, collection, max_attempts=2, read_timeout=0.5))
    assert time.monotonic() - started < 20
    assert "no answer in time" in str(caught.value) and "indicator--" in str(caught.value)
    assert set(caught.value.object_ids) == {r[0] for r in queue.conn.execute("SELECT object_id FROM outbox")}
    proxy.rules.clear()
    share(queue, config_for(proxy.base, collection))
    exactly_once(queue, medallion, collection)


def test_500_and_429_are_retried(
    tmp_path: Path, policy: Policy, proxy: FaultProxy, medallion: LocalPartner, collection: str
) -> None:
    queue = approved_queue(tmp_path, policy, 3)
    answers = [
        ("status", 500, {"Content-Type": MEDIA_TYPE}, '{"title": "boom"}'),
        ("status", 429, {"Retry-After": "1"}, "slow down"),
    ]
    proxy.rules.append(lambda method, path, body: answers.pop(0) if method == "POST" and answers else None)
    lines: list[str] = []
    started = time.monotonic()
    report = share(queue, config_for(proxy.base, collection), lines=lines)
    assert report.retries == 2 and time.monotonic() - started >= 1.0  # Retry-After honoured
    assert any("HTTP 500 (boom)" in line for line in lines) and any("HTTP 429" in line for line in lines)
    exactly_once(queue, medallion, collection)


def test_the_partner_goes_away_mid_push_and_comes_back(
    tmp_path: Path, policy: Policy, proxy: FaultProxy, medallion: LocalPartner, collection: str
) -> None:
    """The second request reaches medallion, its answer is lost, then the port is closed for a while."""
    queue = approved_queue(tmp_path, policy, 60)
    posts = [0]

    def away(method: str, path: str, body: bytes) -> Any:
        if method != "POST":
            return None
        posts[0] += 1
        if posts[0] == 2:
            threading.Thread(target=lambda: (time.sleep(0.05), proxy.stop(), time.sleep(1.5), proxy.start())).start()
            return "lost"
        return None

    proxy.rules.append(away)
    lines: list[str] = []
    report = share(queue, config_for(proxy.base, collection, backoff=0.3, max_backoff=2.0, max_attempts=8), lines=lines)
    assert report.found_there > 0 and report.retries >= 1
    assert any("connection" in line for line in lines)
    exactly_once(queue, medallion, collection)
