"""Pull from an in-memory collection: pages, a persisted cursor, refusals, the detectors' file."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from detectors import load_indicators
from exchange import (
    MARKING_IDS,
    ExchangeConfig,
    FailureKind,
    InboundStore,
    MemoryCollection,
    PartnerError,
    Puller,
    Queue,
    TransportError,
)
from policies import Tlp
from tests.exchange.conftest import exchange_config


def indicator(n: int, **changes: Any) -> dict[str, Any]:
    obj = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_DNS, str(n))}",
        "created": "2025-02-01T00:00:00.000Z",
        "modified": "2025-02-01T00:00:00.000Z",
        "pattern": f"[ipv4-addr:value = '203.0.{n // 250}.{n % 250 + 1}']",
        "pattern_type": "stix",
        "valid_from": "2025-02-01T00:00:00Z",
        "object_marking_refs": [MARKING_IDS[Tlp.GREEN]],
    }
    obj.update(changes)
    return obj


def puller(queue: Queue, collection: Any, lines: list[str], config: ExchangeConfig | None = None) -> Puller:
    return Puller(queue, collection, config or exchange_config(page_size=7), sleep=lambda s: None, log=lines.append)


def test_pages_cursor_and_the_detectors_file(queue: Queue, tmp_path: Path) -> None:
    collection = MemoryCollection(page_limit=5)
    for n in range(23):
        collection.add_raw(indicator(n))
    lines: list[str] = []
    report = puller(queue, collection, lines).run(tmp_path / "feed.jsonl")
    assert report.pages == 5 and report.received == report.new == 23 and report.indicators == 23
    assert report.cursor_after == "2025-01-01T00:00:00.000023Z"
    feed = load_indicators(tmp_path / "feed.jsonl")
    assert len(feed) == 23 and not feed.problems
    # the next run reads only what was added since
    collection.add_raw(indicator(100))
    again = puller(queue, collection, lines).run(tmp_path / "feed.jsonl")
    assert again.received == again.new == 1 and again.pages == 1
    assert InboundStore(queue, "us-partner").count() == 24


def test_invalid_objects_are_refused_with_a_clear_line_and_the_rest_kept(queue: Queue) -> None:
    collection = MemoryCollection()
    collection.add_raw(indicator(1))
    collection.add_raw(indicator(2, confidence=300))
    collection.add_raw(indicator(3, pattern="[ipv4-addr:value = '1.2.3.4'"))
    collection.add_raw(indicator(4))
    lines: list[str] = []
    report = puller(queue, collection, lines).run()
    assert report.received == 4 and report.new == 2 and report.refused == 2
    bad = indicator(2)["id"]
    (line,) = [line for line in lines if bad in line]
    assert line.startswith(f"partner us-partner: refused {bad} (2025-02-01T00:00:00.000Z): not valid STIX 2.1: ")
    assert "confidence: 300 is greater than the maximum of 100" in line
    refused = queue.conn.execute("SELECT object_id, reason FROM inbound_refused ORDER BY seq").fetchall()
    assert [r[0] for r in refused] == [bad, indicator(3)["id"]]


def test_markings_are_kept_and_unmarked_objects_get_the_configured_level(queue: Queue) -> None:
    collection = MemoryCollection()
    collection.add_raw(indicator(1, object_marking_refs=[MARKING_IDS[Tlp.RED]]))
    collection.add_raw({k: v for k, v in indicator(2).items() if k != "object_marking_refs"})
    puller(queue, collection, []).run()
    assert queue.inbound_level(indicator(1)["id"]) is Tlp.RED
    assert queue.inbound_level(indicator(2)["id"]) is Tlp.AMBER_STRICT
    rows = dict(queue.conn.execute("SELECT object_id, marked FROM inbound").fetchall())
    assert rows == {indicator(1)["id"]: 1, indicator(2)["id"]: 0}


def test_revoked_and_superseded_versions_are_not_matched(queue: Queue, tmp_path: Path) -> None:
    collection = MemoryCollection()
    collection.add_raw(indicator(1))
    collection.add_raw(indicator(1, modified="2025-02-02T00:00:00.000Z", revoked=True))
    collection.add_raw(indicator(2))
    collection.add_raw(indicator(2, modified="2025-02-03T00:00:00.500Z", pattern="[ipv4-addr:value = '203.0.9.9']"))
    report = puller(queue, collection, []).run(tmp_path / "feed.jsonl")
    assert report.indicators == 1
    (only,) = load_indicators(tmp_path / "feed.jsonl").indicators
    assert only.pattern == "[ipv4-addr:value = '203.0.9.9']"


def test_a_run_killed_mid_feed_resumes_without_storing_twice(queue: Queue) -> None:
    collection = MemoryCollection(page_limit=4)
    for n in range(20):
        collection.add_raw(indicator(n))
    calls = [0]
    original = collection.get_objects

    def dying(**kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return original(**kwargs)

    collection.get_objects = dying  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        puller(queue, collection, []).run()
    assert InboundStore(queue, "us-partner").count() == 8
    collection.get_objects = original  # type: ignore[method-assign]
    report = puller(queue, collection, []).run()
    assert report.new == 12 and InboundStore(queue, "us-partner").count() == 20


def test_an_expired_page_token_restarts_from_the_cursor(queue: Queue) -> None:
    collection = MemoryCollection(page_limit=3)
    for n in range(7):
        collection.add_raw(indicator(n))
    original = collection.get_objects
    expired = [True]

    def forgetful(**kwargs: Any) -> Any:
        if kwargs.get("next") and expired[0]:
            expired[0] = False
            raise TransportError(FailureKind.HTTP, "HTTP 400 'next' not valid", status=400)
        return original(**kwargs)

    collection.get_objects = forgetful  # type: ignore[method-assign]
    lines: list[str] = []
    report = puller(queue, collection, lines).run()
    assert report.new == 7 and any("page token expired" in line for line in lines)


def test_our_own_objects_echoed_back_are_skipped(queue: Queue) -> None:
    from exchange import identity_id

    collection = MemoryCollection()
    collection.add_raw(indicator(1, created_by_ref=identity_id("us-partner", "Test Carrier SOC")))
    report = puller(queue, collection, []).run()
    assert report.ours == 1 and report.new == 0


def test_failures_name_the_partner(queue: Queue) -> None:
    collection = MemoryCollection()
    refused = TransportError(FailureKind.HTTP, "HTTP 401", status=401)
    collection.faults.append(lambda request, argument: (_ for _ in ()).throw(refused))
    with pytest.raises(PartnerError, match="partner us-partner: reading collection inbound: refused us") as caught:
        puller(queue, collection, []).run()
    assert caught.value.status == 401 and not caught.value.retryable
