"""The rows one packaging batch adds to the queue, gathered in memory and written at once.

Packaging a finding adds an item, its object versions, the TLP marking definitions they
reference, a decision and a ``queue`` event: a dozen statements a finding when written one
by one. :class:`PendingRows` gathers them while a batch (``Queue.batch()``) is open and
:meth:`PendingRows.write` puts them in with one ``executemany`` a table, inside the batch's
transaction, just before it commits: either the whole batch is in the file or none of it.

While rows wait here, :meth:`PendingRows.latest` answers for the object versions they hold,
so a later finding of the batch merges into the version an earlier one queued. Item numbers
are given here, counting on from the largest in the file: the batch holds SQLite's write lock
(``BEGIN IMMEDIATE``) from its start, so no other process can take one meanwhile.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from exchange._stix import StixObject

_ITEM = (
    "INSERT INTO items (id, partner, finding, kind, summary, state, approvals_required, tlp, policy_sha256, "
    "created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)"
)
_OBJECT = (
    "INSERT OR IGNORE INTO objects (partner, object_id, version, type, item, position, role, json, sha256, "
    "tlp, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DECISION = "INSERT INTO decisions (finding, partner, outcome, item, notes, at, actor) VALUES (?, ?, ?, ?, ?, ?, ?)"
_TRANSITION = (
    "INSERT INTO transitions (uid, item, event, from_state, to_state, actor, at, reason, payload, ledger_kind) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(frozen=True)
class Event:
    """A review event as the ledger will record it: its uid, entry kind, actor and payload."""

    uid: str
    kind: str
    actor: str
    body: dict[str, Any]


@dataclass
class PendingRows:
    """Rows waiting for the batch's commit, and the object versions among them."""

    next_item: int
    items: list[tuple[Any, ...]] = field(default_factory=list)
    objects: list[tuple[Any, ...]] = field(default_factory=list)
    decisions: list[tuple[Any, ...]] = field(default_factory=list)
    transitions: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    parent: PendingRows | None = None
    _latest: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)

    @classmethod
    def start(cls, conn: sqlite3.Connection) -> PendingRows:
        """Rows for a batch whose transaction ``conn`` holds (so the next item number stays ours)."""
        top = conn.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0]
        return cls(int(top) + 1)

    def child(self) -> PendingRows:
        """Rows of one change, kept apart until :meth:`absorb` (a change that fails leaves nothing here)."""
        return PendingRows(self.next_item, parent=self)

    def absorb(self, child: PendingRows) -> None:
        """A child's rows, after this one's, in order."""
        self.next_item = child.next_item
        self.items += child.items
        self.objects += child.objects
        self.decisions += child.decisions
        self.transitions += child.transitions
        self.events += child.events
        for key, held in child._latest.items():
            mine = self._latest.get(key)
            if mine is None or mine[0] < held[0]:
                self._latest[key] = held

    def item(self, row: tuple[Any, ...]) -> int:
        """Add an item (its columns after the id); its number."""
        number = self.next_item
        self.next_item += 1
        self.items.append((number, *row))
        return number

    def object(
        self, partner: str, obj: StixObject, item: int | None, position: int, role: str, queued_at: str
    ) -> None:
        tlp = obj.tlp.value if obj.tlp else None
        self.objects.append(
            (partner, obj.id, obj.version, obj.type, item, position, role, obj.json, obj.sha256, tlp, queued_at)
        )
        key = (partner, obj.id)
        held = self._latest.get(key)
        if held is None or held[0] < obj.version:  # versions are timestamps of one form: text order is time order
            self._latest[key] = (obj.version, obj.json)

    def decision(self, row: tuple[Any, ...]) -> None:
        self.decisions.append(row)

    def event(self, item: int | None, event: str, actor: str, at: str, body: dict[str, Any], kind: str) -> None:
        """A ``transitions`` row (the payload as stored) and the event for the ledger."""
        self.transitions.append(
            (
                body["uid"],
                item,
                event,
                body["from"],
                body["to"],
                actor,
                at,
                body["reason"],
                json.dumps(body),
                kind,
            )
        )
        self.events.append(Event(body["uid"], kind, actor, body))

    def latest(self, partner: str, object_id: str) -> bytes | None:
        """The JSON of the latest version of an object waiting here, if one is."""
        held = self._latest.get((partner, object_id))
        if held is None and self.parent is not None:
            return self.parent.latest(partner, object_id)
        return held[1] if held is not None else None

    def write(self, conn: sqlite3.Connection) -> None:
        """Every row, one ``executemany`` a table, in the order the foreign keys want."""
        for statement, rows in (
            (_ITEM, self.items),
            (_OBJECT, self.objects),
            (_DECISION, self.decisions),
            (_TRANSITION, self.transitions),
        ):
            if rows:
                conn.executemany(statement, rows)
            rows.clear()
