"""The outbound review queue: nothing reaches the partner before a person approved it.

States of an item (the objects packaged from one finding for one partner)::

    pending ──approve (as many people as the agreement requires)──> approved ──delivered──> published
       └──reject (with a reason)──> rejected                          published ──revoke──> revoked

Approval needs ``approvals_required`` approvals (the agreement's, when the item was queued)
by as many different people; the same person approving twice is refused. When the last one
is given, the item's objects (and the identity and TLP marking definitions they reference,
once per partner and version) go into the durable outbox, in the same transaction.
Revoking a published item queues, for each of its objects, a new version with
``revoked: true``, straight into the outbox: withdrawing needs no second person.

Every event (queued, approved, rejected, revoked, published) is written with who, when and
why to the audit ledger (exchange._audit says how exactly once). ``actor`` is always the
person running the command; ``--auto-approve`` approves as ``auto-approve`` on behalf of
that person and says so in the entry.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from exchange._audit import AUTO_APPROVER, AUTO_WARNING, Audit
from exchange._db import Transaction, connect
from exchange._decision import Decision, Note, Outcome
from exchange._errors import ReviewError
from exchange._ids import later_than, stix_stamp
from exchange._package import Version
from exchange._queue_rows import Event, PendingRows
from exchange._stix import StixObject, dumps, encode, stix_object
from exchange._tlp import MARKING_IDS, level_of, marking_json
from exchange._validate import StixValidator
from policies import Tlp

STATES = ("pending", "approved", "rejected", "published", "revoked")


@dataclass(frozen=True)
class Approval:
    actor: str
    at: str
    reason: str | None


@dataclass(frozen=True)
class QueuedObject:
    """One object version of an item, as stored (and as it will be sent)."""

    object_id: str
    type: str
    version: str
    role: str
    json: bytes
    sha256: str
    delivery: str | None  # outbox state, None while not in the outbox


@dataclass(frozen=True)
class Item:
    id: int
    partner: str
    finding: str | None
    kind: str | None
    summary: str
    state: str
    approvals_required: int
    tlp: str | None
    created_at: str
    created_by: str
    updated_at: str
    approvals: tuple[Approval, ...]
    objects: tuple[QueuedObject, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "partner": self.partner,
            "finding": self.finding,
            "kind": self.kind,
            "summary": self.summary,
            "state": self.state,
            "tlp": self.tlp,
            "approvals": [{"actor": a.actor, "at": a.at, "reason": a.reason} for a in self.approvals],
            "approvals_required": self.approvals_required,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "objects": [
                {"id": o.object_id, "version": o.version, "role": o.role, "sha256": o.sha256, "delivery": o.delivery}
                for o in self.objects
            ],
        }

    def partner_json(self) -> bytes:
        """Exactly what the partner receives of this item: its objects' JSON, in a TAXII envelope."""
        return b'{"objects":[' + b",".join(o.json for o in self.objects) + b"]}"


class Queue:
    """The exchange's SQLite file (exchange._db), seen as the review queue."""

    def __init__(
        self, path: str | Path, audit: Audit | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.path = Path(path)
        self.conn = connect(self.path)
        self.audit = audit
        self.clock = clock or (lambda: datetime.now(UTC))
        self._deferred: list[str | Event] | None = None  # events of an open batch, recorded once it commits
        self._pending: PendingRows | None = None  # packaging's rows of an open batch, not yet written
        if audit is not None:
            self.settle_audit()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Queue:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many queue changes in one transaction (one fsync), their events recorded after it commits.

        Packaging's rows wait in memory (exchange._queue_rows) and go in together before the
        commit. A crash inside loses the whole batch and nothing else (packaging it again gives
        the same objects); a crash between the commit and the ledger is settled on the next open.
        """
        if self._deferred is not None:
            yield
            return
        self._deferred = []
        try:
            with Transaction(self.conn) as conn:
                self._pending = PendingRows.start(conn)
                yield
                self._pending.write(conn)
            deferred = self._deferred
        finally:
            self._deferred = None
            self._pending = None
        self._settle(deferred)

    def _stamp(self) -> str:
        return stix_stamp(self.clock())

    # what packaging asks (exchange._package.History) ----------------------------------

    def latest(self, partner: str, object_id: str) -> Version | None:
        if self._pending is not None:
            waiting = self._pending.latest(partner, object_id)
            if waiting is not None:  # queued earlier in this batch: later than anything in the file
                return Version(waiting)
        row = self.conn.execute(
            "SELECT json FROM objects WHERE partner = ? AND object_id = ? ORDER BY version DESC LIMIT 1",
            (partner, object_id),
        ).fetchone()
        return Version(bytes(row[0])) if row else None

    def latest_many(self, partner: str, object_ids: list[str]) -> dict[str, Version]:
        found: dict[str, Version] = {}
        asked: list[str] = []
        for object_id in object_ids:
            waiting = self._pending.latest(partner, object_id) if self._pending is not None else None
            if waiting is not None:
                found[object_id] = Version(waiting)
            else:
                asked.append(object_id)
        if asked:  # SQLite takes a bare column of a max() query from the row holding the max
            marks = ",".join("?" * len(asked))
            for object_id, _, data in self.conn.execute(
                f"SELECT object_id, max(version), json FROM objects WHERE partner = ? AND object_id IN ({marks}) "
                "GROUP BY object_id",
                (partner, *asked),
            ):
                found[object_id] = Version(bytes(data))
        return found

    def inbound_level(self, object_id: str) -> Tlp | None:
        row = self.conn.execute(
            "SELECT tlp FROM inbound WHERE object_id = ? ORDER BY version_us DESC LIMIT 1", (object_id,)
        ).fetchone()
        return Tlp(row[0]) if row else None

    # packaging -------------------------------------------------------------------------

    def put_companion(self, partner: str, obj: StixObject) -> None:
        """Keep an identity or marking definition version, to go out with the first object referencing it."""
        with Transaction(self.conn) as conn:
            self._put_object(conn, partner, obj, None, 0, "companion")

    def enqueue(
        self,
        decision: Decision,
        objects: Sequence[StixObject],
        *,
        actor: str,
        approvals_required: int,
        summary: str,
        kind: str | None,
        policy_sha256: str | None = None,
    ) -> Decision:
        """A pending item of a queued decision's objects, the decision recorded; the decision with its item."""
        inbound = self._inbound_among([o.id for o in objects])
        if inbound:
            note = Note("exchange:inbound-is-not-reshared", f"{', '.join(inbound)} came from a partner")
            decision = Decision(decision.finding_id, decision.partner, Outcome.REFUSED, (*decision.notes, note))
        if decision.outcome is not Outcome.QUEUED or not objects:
            self.record_decision(decision, actor)
            return decision
        partner = decision.partner
        with self._rows() as rows:
            now = self._stamp()
            levels = [o.tlp for o in objects if o.tlp is not None]
            tlp = max(levels, key=list(MARKING_IDS).index).value if levels else None
            item = rows.item(
                (partner, decision.finding_id, kind, summary, approvals_required, tlp, policy_sha256, now, actor, now)
            )
            for position, obj in enumerate(objects):
                rows.object(partner, obj, item, position, "object", now)
            for level in {o.tlp for o in objects if o.tlp is not None}:
                if rows.latest(partner, MARKING_IDS[level]) is None:  # once a batch is enough
                    rows.object(partner, _marking(level), None, 0, "companion", now)
            ids = tuple(o.id for o in objects)
            queued = Decision(decision.finding_id, partner, Outcome.QUEUED, decision.notes, item, ids)
            rows.decision(_decision_row(queued, actor, now))
            body = {
                "uid": str(uuid.uuid4()),
                "event": "queue",
                "from": None,
                "to": "pending",
                "at": now,
                "reason": None,
                "item": item,
                "partner": partner,
                "finding": decision.finding_id,
                "summary": summary,
                "objects": [{"id": o.id, "version": o.version, "sha256": o.sha256} for o in objects],
                "approvals_required": approvals_required,
                "notes": [str(n) for n in decision.notes],
            }
            rows.event(item, "queue", actor, now, body, "review.queue")
        return queued

    def record_decision(self, decision: Decision, actor: str) -> None:
        """A decision that queued nothing (refused, unchanged): kept for the record."""
        with self._rows() as rows:
            rows.decision(_decision_row(decision, actor, self._stamp()))

    @contextmanager
    def _rows(self) -> Iterator[PendingRows]:
        """Where packaging's rows go: the open batch's, else rows written (and recorded) at once."""
        if self._pending is not None:
            change = self._pending.child()
            yield change
            self._pending.absorb(change)
            assert self._deferred is not None
            self._deferred.extend(change.events)
            return
        with Transaction(self.conn) as conn:
            rows = PendingRows.start(conn)
            yield rows
            rows.write(conn)
        self._settle(rows.events)

    def _put_object(
        self, conn: sqlite3.Connection, partner: str, obj: StixObject, item: int | None, position: int, role: str
    ) -> None:
        conn.execute(
            "INSERT OR IGNORE INTO objects (partner, object_id, version, type, item, position, role, json, sha256, "
            "tlp, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                partner,
                obj.id,
                obj.version,
                obj.type,
                item,
                position,
                role,
                obj.json,
                obj.sha256,
                obj.tlp.value if obj.tlp else None,
                self._stamp(),
            ),
        )

    def _inbound_among(self, object_ids: list[str]) -> list[str]:
        """Those of ``object_ids`` that came from a partner, in their order (one query)."""
        if not object_ids:
            return []
        marks = ",".join("?" * len(object_ids))
        rows = self.conn.execute(f"SELECT DISTINCT object_id FROM inbound WHERE object_id IN ({marks})", object_ids)
        found = {row[0] for row in rows}
        return [i for i in object_ids if i in found]

    def items(self, state: str | None = None, partner: str | None = None) -> list[Item]:
        where, args = ["1"], list[object]()
        if state is not None:
            if state not in STATES:
                raise ReviewError(f"no state {state!r}; the states are {', '.join(STATES)}")
            where.append("state = ?")
            args.append(state)
        if partner is not None:
            where.append("partner = ?")
            args.append(partner)
        ids = [r[0] for r in self.conn.execute(f"SELECT id FROM items WHERE {' AND '.join(where)} ORDER BY id", args)]
        return [self.item(i) for i in ids]

    def item(self, item: int) -> Item:
        row = self.conn.execute(
            "SELECT id, partner, finding, kind, summary, state, approvals_required, tlp, created_at, created_by, "
            "updated_at FROM items WHERE id = ?",
            (item,),
        ).fetchone()
        if row is None:
            raise ReviewError("no such item in the queue", item=item)
        approvals = tuple(
            Approval(*a)
            for a in self.conn.execute("SELECT actor, at, reason FROM approvals WHERE item = ? ORDER BY at", (item,))
        )
        objects = tuple(
            QueuedObject(o[0], o[1], o[2], o[3], bytes(o[4]), o[5], o[6])
            for o in self.conn.execute(
                "SELECT o.object_id, o.type, o.version, o.role, o.json, o.sha256, b.state FROM objects o "
                "LEFT JOIN outbox b ON b.partner = o.partner AND b.object_id = o.object_id AND b.version = o.version "
                "WHERE o.item = ? ORDER BY o.role DESC, o.position, o.version",
                (item,),
            )
        )
        ident, partner, finding, kind, summary, state, required, tlp, created_at, created_by, updated_at = row
        return Item(
            ident,
            partner,
            finding,
            kind,
            summary,
            state,
            required,
            tlp,
            created_at,
            created_by,
            updated_at,
            approvals,
            objects,
        )

    def decisions(self, finding: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT finding, partner, outcome, item, notes, at, actor FROM decisions"
        rows = self.conn.execute(
            query + (" WHERE finding = ?" if finding else "") + " ORDER BY seq", (finding,) if finding else ()
        ).fetchall()
        keys = ("finding", "partner", "outcome", "item", "notes", "at", "actor")
        return [{**dict(zip(keys, r, strict=True)), "notes": json.loads(r[4])} for r in rows]

    # review ----------------------------------------------------------------------------

    def approve(self, item: int, actor: str, reason: str | None = None) -> Item:
        """One approval; the item becomes approved (and goes to the outbox) with the last one needed."""
        _check_actor(actor)
        if actor == AUTO_APPROVER:
            raise ReviewError(f"{AUTO_APPROVER!r} is reserved for --auto-approve", item=item)
        with Transaction(self.conn) as conn:
            current = self._state(conn, item, "pending", "approve")
            required = current[1]
            given = [r[0] for r in conn.execute("SELECT actor FROM approvals WHERE item = ?", (item,))]
            if actor in given:
                raise ReviewError(
                    f"{actor} has already approved it; the agreement wants {required} approvals by different people",
                    item=item,
                    state="pending",
                )
            now = self._stamp()
            conn.execute(
                "INSERT INTO approvals (item, actor, at, reason) VALUES (?, ?, ?, ?)", (item, actor, now, reason)
            )
            count = len(given) + 1
            done = count >= required
            payload = self._review_payload(
                conn, item, {"approvals": count, "approvals_required": required, "approvers": [*given, actor]}
            )
            if done:
                self._to_outbox(conn, item)
                conn.execute("UPDATE items SET state = 'approved', updated_at = ? WHERE id = ?", (now, item))
            uid = self._event(
                conn,
                item,
                "approve",
                "pending",
                "approved" if done else "pending",
                actor,
                reason,
                payload,
                "review.approve",
            )
        self._settle([uid])
        return self.item(item)

    def auto_approve(self, items: Iterable[int], actor: str) -> list[int]:
        """Approve pending items without review, for demos and tests; said so in the ledger. The items approved."""
        _check_actor(actor)
        done: list[int] = []
        uids: list[str] = []
        with Transaction(self.conn) as conn:
            now = self._stamp()
            for item in items:
                self._state(conn, item, "pending", "auto-approve")
                conn.execute(
                    "INSERT OR IGNORE INTO approvals (item, actor, at, reason) VALUES (?, ?, ?, ?)",
                    (item, AUTO_APPROVER, now, AUTO_WARNING),
                )
                self._to_outbox(conn, item)
                conn.execute("UPDATE items SET state = 'approved', updated_at = ? WHERE id = ?", (now, item))
                done.append(item)
            if done:
                payload = {"items": done, "auto_approve": True, "warning": AUTO_WARNING, "on_behalf_of": actor}
                uids.append(
                    self._event(
                        conn,
                        None,
                        "auto-approve",
                        "pending",
                        "approved",
                        actor,
                        AUTO_WARNING,
                        payload,
                        "review.auto_approve",
                    )
                )
        self._settle(uids)
        return done

    def reject(self, item: int, actor: str, reason: str) -> Item:
        _check_actor(actor)
        if not reason.strip():
            raise ReviewError("a rejection needs a reason (--reason)", item=item)
        with Transaction(self.conn) as conn:
            self._state(conn, item, "pending", "reject")
            conn.execute("UPDATE items SET state = 'rejected', updated_at = ? WHERE id = ?", (self._stamp(), item))
            payload = self._review_payload(conn, item, {})
            uid = self._event(conn, item, "reject", "pending", "rejected", actor, reason, payload, "review.reject")
        self._settle([uid])
        return self.item(item)

    def revoke(self, item: int, actor: str, reason: str, validator: StixValidator) -> Item:
        """A revoked version of each object of a published item, straight to the outbox."""
        _check_actor(actor)
        if not reason.strip():
            raise ReviewError("a revocation needs a reason (--reason)", item=item)
        with Transaction(self.conn) as conn:
            current = self._state(conn, item, "published", "revoke")
            partner = current[0]
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT object_id FROM objects WHERE item = ? AND role = 'object' ORDER BY object_id",
                    (item,),
                )
            ]
            revoked: list[StixObject] = []
            for object_id in ids:
                latest = self.latest(partner, object_id)
                assert latest is not None
                data = latest.data
                if data.get("revoked"):
                    continue
                data["revoked"] = True
                data["modified"] = stix_stamp(later_than(self.clock(), data["modified"]))
                encoded = encode(data) if data["type"] in ("indicator", "sighting", "identity") else dumps(data)
                validator.check_json(encoded, partner=partner)
                level = level_of(data.get("object_marking_refs", []))
                obj = stix_object(encoded, level)
                self._put_object(conn, partner, obj, item, 1000 + len(revoked), "revocation")
                revoked.append(obj)
            self._outbox_rows(conn, partner, [(o.id, o.version) for o in revoked], item)
            conn.execute("UPDATE items SET state = 'revoked', updated_at = ? WHERE id = ?", (self._stamp(), item))
            payload = self._review_payload(
                conn, item, {"revocations": [{"id": o.id, "version": o.version, "sha256": o.sha256} for o in revoked]}
            )
            uid = self._event(conn, item, "revoke", "published", "revoked", actor, reason, payload, "review.revoke")
        self._settle([uid])
        return self.item(item)

    def _state(self, conn: sqlite3.Connection, item: int, wanted: str, what: str) -> tuple[str, int, str]:
        row = conn.execute("SELECT partner, approvals_required, state FROM items WHERE id = ?", (item,)).fetchone()
        if row is None:
            raise ReviewError("no such item in the queue", item=item)
        if row[2] != wanted:
            raise ReviewError(f"cannot {what} an item that is {row[2]} (only a {wanted} one)", item=item, state=row[2])
        return row[0], row[1], row[2]

    def _review_payload(self, conn: sqlite3.Connection, item: int, extra: dict[str, Any]) -> dict[str, Any]:
        partner, finding = conn.execute("SELECT partner, finding FROM items WHERE id = ?", (item,)).fetchone()
        objects = [
            {"id": r[0], "version": r[1], "sha256": r[2]}
            for r in conn.execute(
                "SELECT object_id, version, sha256 FROM objects WHERE item = ? AND role = 'object' ORDER BY position",
                (item,),
            )
        ]
        return {"item": item, "partner": partner, "finding": finding, "objects": objects, **extra}

    # outbox rows -----------------------------------------------------------------------

    def _to_outbox(self, conn: sqlite3.Connection, item: int) -> None:
        """An approved item's objects into the outbox, after the companions they reference."""
        partner = conn.execute("SELECT partner FROM items WHERE id = ?", (item,)).fetchone()[0]
        rows = conn.execute(
            "SELECT object_id, version, json FROM objects WHERE item = ? AND role = 'object' ORDER BY position", (item,)
        ).fetchall()
        wanted: list[str] = []
        for _, _, data in rows:
            parsed = json.loads(data)
            refs = [
                parsed.get("created_by_ref"),
                *parsed.get("where_sighted_refs", []),
                *parsed.get("object_marking_refs", []),
            ]
            wanted += [r for r in refs if r and r not in wanted]
        companions = []
        for ref in wanted:
            found = conn.execute(
                "SELECT version FROM objects WHERE partner = ? AND object_id = ? AND role = 'companion' "
                "ORDER BY version DESC LIMIT 1",
                (partner, ref),
            ).fetchone()
            if found is not None:  # the partner's own identity (a sighting of its indicator) is not ours to send
                companions.append((ref, found[0]))
        self._outbox_rows(conn, partner, companions, None)
        self._outbox_rows(conn, partner, [(r[0], r[1]) for r in rows], item)

    def _outbox_rows(
        self, conn: sqlite3.Connection, partner: str, versions: Sequence[tuple[str, str]], item: int | None
    ) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO outbox (partner, object_id, version, item, state) VALUES (?, ?, ?, ?, 'queued')",
            [(partner, object_id, version, item) for object_id, version in versions],
        )

    # events ----------------------------------------------------------------------------

    def _event(
        self,
        conn: sqlite3.Connection,
        item: int | None,
        event: str,
        from_state: str | None,
        to_state: str | None,
        actor: str,
        reason: str | None,
        payload: dict[str, Any],
        ledger_kind: str,
    ) -> str:
        uid = str(uuid.uuid4())
        at = self._stamp()
        body = {"uid": uid, "event": event, "from": from_state, "to": to_state, "at": at, "reason": reason, **payload}
        conn.execute(
            "INSERT INTO transitions (uid, item, event, from_state, to_state, actor, at, reason, payload, ledger_kind) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, item, event, from_state, to_state, actor, at, reason, json.dumps(body), ledger_kind),
        )
        return uid

    def event(
        self, event: str, actor: str, payload: dict[str, Any], ledger_kind: str, *, reason: str | None = None
    ) -> str:
        """An event about no one item (a share or pull run), recorded like the others."""
        with Transaction(self.conn) as conn:
            uid = self._event(conn, None, event, None, None, actor, reason, payload, ledger_kind)
        self._settle([uid])
        return uid

    def ledger_seq(self, uid: str) -> int | None:
        row = self.conn.execute("SELECT ledger_seq FROM transitions WHERE uid = ?", (uid,)).fetchone()
        return row[0] if row else None

    def _settle(self, events: Sequence[str | Event]) -> None:
        """Record events in the ledger: by uid (read back from the file) or as made (exchange._queue_rows)."""
        if self.audit is None:
            return
        if self._deferred is not None:
            self._deferred.extend(events)
            return
        rows: list[tuple[str, str, str, dict[str, Any]]] = []
        for event in events:
            if isinstance(event, Event):  # written by a transaction that just committed: not yet recorded
                rows.append((event.uid, event.kind, event.actor, event.body))
                continue
            row = self.conn.execute(
                "SELECT ledger_kind, actor, payload FROM transitions WHERE uid = ? AND ledger_seq IS NULL", (event,)
            ).fetchone()
            if row is not None:
                rows.append((event, row[0], row[1], json.loads(row[2])))
        if not rows:
            return
        seqs = self.audit.append_many([(kind, actor, body) for _, kind, actor, body in rows])
        with Transaction(self.conn) as conn:
            conn.executemany(
                "UPDATE transitions SET ledger_seq = ? WHERE uid = ?",
                [(seq, row[0]) for seq, row in zip(seqs, rows, strict=True)],
            )

    def settle_audit(self) -> int:
        """Record in the ledger every event a crash left unrecorded; how many were."""
        if self.audit is None:
            return 0
        rows = self.conn.execute(
            "SELECT uid, ledger_kind, actor, payload FROM transitions WHERE ledger_seq IS NULL ORDER BY rowid"
        ).fetchall()
        for uid, kind, actor, payload in rows:
            seq = self.audit.find(uid)
            if seq is None:
                seq = self.audit.append(kind, actor, {**json.loads(payload), "recovered": True})
            self.conn.execute("UPDATE transitions SET ledger_seq = ? WHERE uid = ?", (seq, uid))
        return len(rows)


def _decision_row(decision: Decision, actor: str, at: str) -> tuple[Any, ...]:
    notes = json.dumps([{"clause": n.clause, "reason": n.reason} for n in decision.notes])
    return (decision.finding_id, decision.partner, decision.outcome.value, decision.item, notes, at, actor)


@functools.lru_cache(maxsize=8)
def _marking(level: Tlp) -> StixObject:
    """The TLP 2.0 marking definition of a level, as queued (its JSON is fixed)."""
    return stix_object(marking_json(level), None)


def _check_actor(actor: str) -> None:
    if not actor or not actor.isprintable() or actor.strip() != actor or len(actor) > 128:
        raise ReviewError(f"{actor!r} is no person's name")
