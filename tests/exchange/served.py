"""Queues whose items went the whole way (queued, approved, delivered: published), for the server tests.

:func:`publish` takes the real queue and outbox steps (enqueue, approve, deliver) with
indicators made here rather than by the packager, so that thousands of objects are ready in
seconds; :func:`server_config` writes the ``server:`` section the tests serve.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from exchange import (
    Decision,
    ExchangeConfig,
    Outbox,
    Outcome,
    Queue,
    identity_id,
    indicator_id,
    marking_definition,
)
from exchange._stix import StixObject, dumps, stix_object
from policies import Tlp, hash_password

PARTNER = "us-partner"
PRODUCER = "Test Carrier SOC"
OURS = identity_id(PARTNER, PRODUCER)
AMBER = marking_definition(Tlp.AMBER)["id"]
OUTBOUND = "3f0a9c4e-2b1d-4c55-9e1a-6d7b8c9d0e1f"
INBOUND = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
OTHERS = "0b7e6d5c-4a39-4281-9f0e-1d2c3b4a5968"  # another partner's collection
HIDDEN = "5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716"  # the partner's, but not for the reader account
READER, WRITER, STRANGER = "us-reader", "us-writer", "other-reader"
PASSWORDS = {READER: "reader-password", WRITER: "writer-password", STRANGER: "stranger-password"}
_HASHES = {user: hash_password(password) for user, password in PASSWORDS.items()}


def identity() -> StixObject:
    data = {
        "type": "identity",
        "spec_version": "2.1",
        "id": OURS,
        "created": "2025-03-01T00:00:00.000Z",
        "modified": "2025-03-01T00:00:00.000Z",
        "name": PRODUCER,
        "identity_class": "organization",
    }
    return stix_object(dumps(data))


def indicator(n: int, modified: str | None = None, *, revoked: bool = False) -> StixObject:
    """A valid indicator of 198.18.x.y, created by us, TLP:AMBER."""
    address = f"198.18.{n // 250}.{n % 250 + 1}"
    pattern = f"[ipv4-addr:value = '{address}']"
    created = "2025-03-01T12:00:00.000Z"
    data: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": indicator_id(PARTNER, pattern),
        "created_by_ref": OURS,
        "created": created,
        "modified": modified or created,
        "name": f"scanner {address}",
        "indicator_types": ["anomalous-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": created,
        "object_marking_refs": [AMBER],
    }
    if revoked:
        data["revoked"] = True
    return stix_object(dumps(data), Tlp.AMBER)


def enqueue(queue: Queue, objects: Sequence[StixObject], n: int) -> int:
    queue.put_companion(PARTNER, identity())
    decision = Decision(f"finding--00000000-0000-5000-8000-{n:012d}", PARTNER, Outcome.QUEUED, ())
    queued = queue.enqueue(decision, objects, actor="packager", approvals_required=1, summary=f"item {n}", kind="scan")
    assert queued.item is not None
    return queued.item


def deliver_all(queue: Queue) -> list[int]:
    """What share does once the partner took everything: every queued outbox row delivered."""
    outbox = Outbox(queue, PARTNER)
    published: list[int] = []
    while rows := outbox.due(1e12, 500, 1 << 30):
        published += outbox.deliver(rows, actor="share", status_id=None, how="test")
    return published


def publish(queue: Queue, count: int, per_item: int = 10, *, batches: int = 5) -> list[int]:
    """``count`` indicators in items of ``per_item``, approved and delivered in ``batches`` share runs."""
    items = []
    for start in range(0, count, per_item):
        objects = [indicator(n) for n in range(start, min(count, start + per_item))]
        items.append(enqueue(queue, objects, start))
    size = -(-len(items) // batches)
    for first in range(0, len(items), size):
        batch = items[first : first + size]
        for item in batch:
            queue.approve(item, "alice")
        deliver_all(queue)
    return items


def server_section(**changes: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "page_size": 100,
        "max_page_size": 500,
        "max_content_length": 64_000,
        "collections": [
            {"id": OUTBOUND, "title": "indicators for us-partner", "serves": "published"},
            {"id": INBOUND, "title": "sightings from us-partner", "serves": "inbound"},
            {"id": HIDDEN, "title": "another feed of us-partner", "serves": "published"},
            {"id": OTHERS, "title": "indicators for eu-partner", "serves": "published", "partner": "eu-partner"},
        ],
        "accounts": [
            {"user": READER, "password_hash": _HASHES[READER], "read": [OUTBOUND], "write": [INBOUND]},
            {"user": WRITER, "password_hash": _HASHES[WRITER], "write": [INBOUND]},
            {"user": STRANGER, "password_hash": _HASHES[STRANGER], "partner": "eu-partner", "read": [OTHERS]},
        ],
    }
    section.update(changes)
    return section


def server_config(**changes: Any) -> ExchangeConfig:
    return ExchangeConfig.model_validate(
        {
            "partner": PARTNER,
            "producer": {"name": PRODUCER},
            "taxii": {"api_root": "http://127.0.0.1:9/api1/", "outbound_collection": "x"},
            "server": server_section(**changes),
        }
    )


def later(stamp: str, seconds: int) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def envelope(objects: Sequence[dict[str, Any]]) -> bytes:
    return json.dumps({"objects": list(objects)}).encode()
