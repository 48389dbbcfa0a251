"""The durable outbox: which approved object versions still have to reach the partner.

A row per (partner, object, version), in the order the versions were approved (companions
before the objects that reference them)::

    queued ──a request carries it──> sending ──the partner has it──> delivered
       ^                                │
       └─── failed, or not there ───────┘        (a version the partner refuses: failed)

``sending`` is written, and synced, before the request leaves: a row found ``sending`` after a
crash may or may not have reached the partner, so share asks the partner before sending it
again (exchange._share). Delivering the last object of an approved item publishes the item,
in the same transaction, and the event goes to the ledger.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from exchange._db import Transaction
from exchange._queue import Queue


@dataclass(frozen=True)
class Row:
    seq: int
    object_id: str
    version: str
    item: int | None
    attempts: int
    alone: bool
    json: bytes
    sha256: str


class Outbox:
    """The outbox rows of one partner in a queue file."""

    def __init__(self, queue: Queue, partner: str) -> None:
        self.queue = queue
        self.partner = partner
        self.conn: sqlite3.Connection = queue.conn

    def counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT state, count(*) FROM outbox WHERE partner = ? GROUP BY state", (self.partner,))
        return {state: n for state, n in rows}

    def open_rows(self) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM outbox WHERE partner = ? AND state IN ('queued', 'sending')", (self.partner,)
        ).fetchone()
        return int(row[0])

    def in_flight(self) -> list[Row]:
        """Rows a request may have carried (left ``sending``): the partner is asked before they go again."""
        return self._rows("state = 'sending'", ())

    def due(self, now: float, limit: int, max_bytes: int) -> list[Row]:
        """The next rows to send: queued and due, in order, within ``limit`` objects and ``max_bytes``.

        A row marked ``alone`` (it failed in company) goes in a request of its own.
        """
        rows = self._rows("state = 'queued' AND next_attempt <= ?", (now,), limit)
        batch: list[Row] = []
        size = 0
        for row in rows:
            if row.alone:
                return batch or [row]
            size += len(row.json) + 1
            if batch and size > max_bytes:
                break
            batch.append(row)
        return batch

    def next_due(self) -> float | None:
        row = self.conn.execute(
            "SELECT min(next_attempt) FROM outbox WHERE partner = ? AND state = 'queued'", (self.partner,)
        ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def _rows(self, where: str, args: tuple[object, ...], limit: int | None = None) -> list[Row]:
        query = (
            "SELECT b.seq, b.object_id, b.version, b.item, b.attempts, b.alone, o.json, o.sha256 FROM outbox b "
            "JOIN objects o ON o.partner = b.partner AND o.object_id = b.object_id AND o.version = b.version "
            f"WHERE b.partner = ? AND {where} ORDER BY b.seq" + (f" LIMIT {int(limit)}" if limit else "")
        )
        return [
            Row(r[0], r[1], r[2], r[3], r[4], bool(r[5]), bytes(r[6]), r[7])
            for r in self.conn.execute(query, (self.partner, *args))
        ]

    def mark_sending(self, rows: Sequence[Row]) -> None:
        with Transaction(self.conn) as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, status_id = NULL WHERE seq = ?",
                [(r.seq,) for r in rows],
            )

    def set_status(self, rows: Sequence[Row], status_id: str) -> None:
        with Transaction(self.conn) as conn:
            conn.executemany("UPDATE outbox SET status_id = ? WHERE seq = ?", [(status_id, r.seq) for r in rows])

    def requeue(self, rows: Sequence[Row], *, due: float = 0.0, error: str | None = None, alone: bool = False) -> None:
        """Back to queued, due at ``due`` (seconds since the epoch); ``alone``: to be sent by itself next time."""
        with Transaction(self.conn) as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'queued', next_attempt = ?, last_error = coalesce(?, last_error), "
                "alone = max(alone, ?) WHERE seq = ?",
                [(due, error, int(alone), r.seq) for r in rows],
            )

    def fail(self, rows: Sequence[Row], error: str) -> None:
        """The partner refuses these versions: kept, ``failed``, until ``share --retry-failed``."""
        with Transaction(self.conn) as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'failed', last_error = ? WHERE seq = ?", [(error, r.seq) for r in rows]
            )

    def retry_failed(self) -> int:
        with Transaction(self.conn) as conn:
            cursor = conn.execute(
                "UPDATE outbox SET state = 'queued', next_attempt = 0, alone = 1 "
                "WHERE partner = ? AND state = 'failed'",
                (self.partner,),
            )
            return cursor.rowcount

    def failed(self) -> list[tuple[str, str, str]]:
        rows = self.conn.execute(
            "SELECT object_id, version, coalesce(last_error, '') FROM outbox WHERE partner = ? AND state = 'failed' "
            "ORDER BY seq",
            (self.partner,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def deliver(self, rows: Sequence[Row], *, actor: str, status_id: str | None, how: str) -> list[int]:
        """Rows the partner has: delivered; items whose every object is delivered: published. The items published."""
        if not rows:
            return []
        now = self.queue._stamp()
        with Transaction(self.conn) as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?, status_id = coalesce(?, status_id), "
                "last_error = NULL WHERE seq = ? AND state != 'delivered'",
                [(now, status_id, r.seq) for r in rows],
            )
            items = sorted({r.item for r in rows if r.item is not None})
            published = [i for i in items if self._complete(conn, i)]
            for item in published:
                conn.execute("UPDATE items SET state = 'published', updated_at = ? WHERE id = ?", (now, item))
            payload = {
                "partner": self.partner,
                "status": status_id,
                "how": how,
                "objects": [
                    {"id": r.object_id, "version": r.version, "sha256": r.sha256, "item": r.item} for r in rows
                ],
                "items_published": published,
            }
            uid = self.queue._event(
                conn,
                None,
                "publish",
                "approved" if published else None,
                "published" if published else None,
                actor,
                None,
                payload,
                "exchange.publish",
            )
        self.queue._settle([uid])
        return published

    def serve(self, *, actor: str, batch: int = 1_000) -> list[int]:
        """Everything queued, published on our own TAXII server for the partner to pull; the items published.

        For a partner that pulls rather than receives pushes: the versions become ``delivered``
        (``how: served``) in the same way a push would leave them, so they are served from now
        on, dated now, and each exactly once.
        """
        published: list[int] = []
        while rows := self._rows("state = 'queued'", (), batch):
            published += self.deliver(rows, actor=actor, status_id=None, how="served")
        return published

    def _complete(self, conn: sqlite3.Connection, item: int) -> bool:
        state = conn.execute("SELECT state FROM items WHERE id = ?", (item,)).fetchone()
        if state is None or state[0] != "approved":
            return False
        open_rows = conn.execute(
            "SELECT count(*) FROM outbox WHERE item = ? AND state != 'delivered'", (item,)
        ).fetchone()[0]
        return int(open_rows) == 0


def envelope(rows: Sequence[Row]) -> bytes:
    """The TAXII envelope of rows: their stored JSON, byte for byte, in order."""
    return b'{"objects":[' + b",".join(r.json for r in rows) + b"]}"


def object_ids(rows: Sequence[Row]) -> list[str]:
    return [r.object_id for r in rows]
