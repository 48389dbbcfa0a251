"""What our TAXII server reads from and writes to the exchange file.

**Served** (:func:`served`): for one partner, exactly the object versions that partner was
meant to receive, as the queue holds them (the bytes ``metagate review show`` prints):

- the objects of its items that are published (or were, and are now revoked), each added
  when its item was published: the time its last object was delivered, which is when the
  item became ``published`` in the same transaction. An item's objects appear together,
  never before the item is published, so a client's ``added_after`` cursor cannot pass one;
- the revoked version of each object of a revoked item, added when it was revoked (at
  once: a withdrawal does not wait for the next push);
- the companions (our Identity, the TLP marking definitions) once delivered with the first
  item referencing them.

Nothing pending, approved-but-undelivered, rejected or received from a partner is ever
served.

**Received** (:func:`receive`): a partner's POST. Each object is checked with
stix2-validator; an invalid one, one claiming to be ours (our identity, or created by it),
or one with the id of an object we queued (which would otherwise stop us sharing our own
indicator as "came from a partner") is a failure with the reason, and the rest is stored in
the inbound store with its TLP level (exchange._inbound), exactly as ``metagate pull`` keeps
what it reads. The status resource is kept in ``taxii_status`` and the POST is an
``exchange.receive`` entry of the audit ledger, as a pull is an ``exchange.pull`` entry.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from exchange._db import Transaction
from exchange._envelope import Entry, Query, micros, select
from exchange._ids import taxii_stamp
from exchange._inbound import Inbound
from exchange._queue import Queue
from exchange._stix import dumps
from exchange._tlp import MARKING_IDS, level_of
from exchange._validate import StixValidator
from policies import Tlp

_SHOWN_FAILURES = 100  # failures named in a ledger entry; the count says how many in all
_REASON = 300
_TLP_IDS = frozenset(MARKING_IDS.values())
_SELECTIONS = 32  # listings (filter sets) kept at once

_SERVED = """
WITH published(item, at) AS (
    SELECT b.item, max(b.delivered_at) FROM outbox b
    JOIN items i ON i.id = b.item AND i.state IN ('published', 'revoked')
    JOIN objects o ON o.partner = b.partner AND o.object_id = b.object_id AND o.version = b.version
    WHERE b.partner = :partner AND o.role = 'object' AND b.state = 'delivered'
    GROUP BY b.item
)
SELECT o.object_id, o.version, o.type, json_extract(CAST(o.json AS TEXT), '$.spec_version'), p.at
    FROM objects o JOIN published p ON o.item = p.item
    WHERE o.partner = :partner AND o.role = 'object'
UNION ALL
SELECT o.object_id, o.version, o.type, json_extract(CAST(o.json AS TEXT), '$.spec_version'), t.at
    FROM objects o JOIN items i ON i.id = o.item AND i.state = 'revoked'
    JOIN transitions t ON t.item = o.item AND t.event = 'revoke'
    WHERE o.partner = :partner AND o.role = 'revocation'
UNION ALL
SELECT o.object_id, o.version, o.type, json_extract(CAST(o.json AS TEXT), '$.spec_version'), b.delivered_at
    FROM outbox b
    JOIN objects o ON o.partner = b.partner AND o.object_id = b.object_id AND o.version = b.version
    WHERE b.partner = :partner AND b.item IS NULL AND b.state = 'delivered' AND o.role = 'companion'
"""


def served(conn: sqlite3.Connection, partner: str) -> list[Entry]:
    """Every object version served to ``partner``, unordered."""
    rows = conn.execute(_SERVED, {"partner": partner}).fetchall()
    return [
        Entry(object_id, version, kind, spec or "2.1", micros(added), micros(version))
        for object_id, version, kind, spec, added in rows
    ]


_GENERATION = (
    "SELECT count(*), coalesce(max(seq), 0), coalesce(sum(state = 'delivered'), 0), coalesce(max(delivered_at), '') "
    "FROM outbox WHERE partner = ?"
)


class ServedCache:
    """:func:`served` kept between requests while the partner's outbox rows stay as they were.

    Whatever changes what is served changes the partner's outbox: a delivery (which is what
    publishes an item) changes a row's state and ``delivered_at``, a revocation adds rows. So
    the count, the last row, the delivered count and the last delivery time say whether the
    entries read before still hold; asking costs one index scan instead of re-reading every
    object (a page of a 10,000-object collection in about a tenth of the time).
    """

    def __init__(self) -> None:
        self._held: dict[str, tuple[tuple[Any, ...], list[Entry]]] = {}
        self._selected: dict[tuple[str, Query], tuple[tuple[Any, ...], list[Entry]]] = {}
        self._lock = threading.Lock()

    def select(self, conn: sqlite3.Connection, partner: str, query: Query) -> list[Entry]:
        """:func:`exchange._envelope.select` of the served entries, kept for the pages of one listing."""
        generation = tuple(conn.execute(_GENERATION, (partner,)).fetchone())
        key = (partner, replace(query, limit=0, after=None, digest=""))
        with self._lock:
            held = self._selected.get(key)
        if held is not None and held[0] == generation:
            return held[1]
        chosen = select(self.get(conn, partner), query)
        with self._lock:
            if len(self._selected) >= _SELECTIONS:
                self._selected.clear()
            self._selected[key] = (generation, chosen)
        return chosen

    def get(self, conn: sqlite3.Connection, partner: str) -> list[Entry]:
        generation = tuple(conn.execute(_GENERATION, (partner,)).fetchone())
        with self._lock:
            held = self._held.get(partner)
        if held is not None and held[0] == generation:
            return held[1]
        entries = served(conn, partner)
        with self._lock:
            self._held[partner] = (generation, entries)
        return entries


def object_json(conn: sqlite3.Connection, partner: str, entries: list[Entry]) -> list[bytes]:
    """The stored bytes of each entry, in order."""
    found: list[bytes] = []
    for entry in entries:
        row = conn.execute(
            "SELECT json FROM objects WHERE partner = ? AND object_id = ? AND version = ?",
            (partner, entry.object_id, entry.version),
        ).fetchone()
        found.append(bytes(row[0]))
    return found


@dataclass(frozen=True)
class Receiver:
    """How a partner's POST is judged: our identity, the level of unmarked objects, the validator."""

    ours: str
    unmarked: Tlp
    validator: StixValidator
    lock: threading.Lock


def receive(
    queue: Queue,
    receiver: Receiver,
    *,
    partner: str,
    account: str,
    collection: str,
    objects: list[Any],
    body: bytes,
    requested_at: datetime,
) -> dict[str, Any]:
    """Judge, store and record one POST; its status resource."""
    conn = queue.conn
    successes: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    accepted: list[tuple[dict[str, Any], bytes, Tlp, bool]] = []
    refused: list[tuple[str | None, str | None, str]] = []
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        object_id = str(obj.get("id", "?")) if isinstance(obj, dict) else "?"
        version = str(obj.get("modified") or obj.get("created") or "?") if isinstance(obj, dict) else "?"
        reason = _refusal(conn, receiver, partner, obj)
        if reason is not None:
            failures.append({"id": object_id, "version": version, "message": reason})
            refused.append((object_id, version, reason))
            continue
        assert isinstance(obj, dict)
        held = (object_id, version) in seen or conn.execute(
            "SELECT 1 FROM inbound WHERE partner = ? AND object_id = ? AND version = ?", (partner, object_id, version)
        ).fetchone() is not None
        seen.add((object_id, version))
        detail = {"id": object_id, "version": version}
        if held:
            detail["message"] = "already held"
        successes.append(detail)
        marks = obj.get("object_marking_refs", [])
        level = level_of(marks if isinstance(marks, list) else [])
        accepted.append((obj, dumps(obj), level or receiver.unmarked, level is not None))
    stored = Inbound(queue, partner).store_page(collection, accepted, refused, None)
    status = {
        "id": str(uuid.uuid4()),
        "status": "complete",
        "request_timestamp": taxii_stamp(requested_at),
        "total_count": len(objects),
        "success_count": len(successes),
        "successes": successes,
        "failure_count": len(failures),
        "failures": failures,
        "pending_count": 0,
        "pendings": [],
    }
    now = taxii_stamp(datetime.now(UTC))
    with Transaction(conn):
        conn.execute(
            "INSERT INTO taxii_status (id, partner, account, collection, body, at) VALUES (?, ?, ?, ?, ?, ?)",
            (status["id"], partner, account, collection, json.dumps(status), now),
        )
    payload = {
        "partner": partner,
        "account": account,
        "collection": collection,
        "status": status["id"],
        "sha256": hashlib.sha256(body).hexdigest(),
        "received": len(objects),
        "new": stored,
        "already_held": len(successes) - stored,
        "refused": len(failures),
        "failures": [
            {"id": f["id"], "version": f["version"], "reason": f["message"][:_REASON]}
            for f in failures[:_SHOWN_FAILURES]
        ],
    }
    queue.event("receive", account, payload, "exchange.receive")
    return status


def status(conn: sqlite3.Connection, partner: str, status_id: str) -> dict[str, Any] | None:
    """A status resource of this partner's requests; None for any other id."""
    row = conn.execute("SELECT body FROM taxii_status WHERE id = ? AND partner = ?", (status_id, partner)).fetchone()
    if row is None:
        return None
    body: dict[str, Any] = json.loads(row[0])
    return body


def _refusal(conn: sqlite3.Connection, receiver: Receiver, partner: str, obj: Any) -> str | None:
    """Why a posted object is not stored; None when it is."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    with receiver.lock:  # stix2-validator's pattern parser is not known to be thread-safe
        verdict = receiver.validator.verdict(obj)
    if not verdict.valid:
        return "not valid STIX 2.1: " + "; ".join(verdict.errors)
    if obj.get("id") == receiver.ours or obj.get("created_by_ref") == receiver.ours:
        return f"claims to be ours ({receiver.ours}): not the partner's to send"
    if obj["id"] in _TLP_IDS:
        return None  # the OASIS TLP marking definitions are everyone's, and come with what they mark
    queued = conn.execute("SELECT 1 FROM objects WHERE partner = ? AND object_id = ? LIMIT 1", (partner, obj["id"]))
    if queued.fetchone() is not None:
        return "has the id of an object we shared: not the partner's to send"
    return None
