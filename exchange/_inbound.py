"""What the partner sent us: every valid object version with its TLP level, the refused, the cursor.

An object is kept with the TLP level its markings give (exchange._tlp), or the configured level
for unmarked objects, and that level follows it: packaging marks a sighting of it at least as
restrictively, and the queue refuses to queue any object that came from a partner
(``exchange:inbound-is-not-reshared``), so nothing received is ever sent on against its
marking. :meth:`Inbound.write_indicators` hands the usable indicators to the detectors'
indicator matching (detectors.load_indicators reads the file: JSON lines, one object a line).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exchange._db import Transaction
from exchange._ids import parse_stamp
from exchange._queue import Queue
from policies import Tlp


class Inbound:
    """The inbound tables of a queue file, for one partner."""

    def __init__(self, queue: Queue, partner: str) -> None:
        self.queue = queue
        self.partner = partner
        self.conn: sqlite3.Connection = queue.conn

    def cursor(self, collection: str) -> str | None:
        row = self.conn.execute(
            "SELECT added_after FROM cursors WHERE partner = ? AND collection = ?", (self.partner, collection)
        ).fetchone()
        return row[0] if row else None

    def store_page(
        self,
        collection: str,
        accepted: Sequence[tuple[dict[str, Any], bytes, Tlp, bool]],
        refused: Sequence[tuple[str | None, str | None, str]],
        cursor: str | None,
    ) -> int:
        """One page: its valid objects, its refusals and the new cursor, in one transaction; how many were new."""
        now = self.queue._stamp()
        new = 0
        with Transaction(self.conn) as conn:
            for obj, data, level, marked in accepted:
                version = str(obj.get("modified") or obj.get("created") or "")
                cursor_obj = conn.execute(
                    "INSERT OR IGNORE INTO inbound (partner, object_id, version, version_us, type, tlp, marked, json, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.partner,
                        obj["id"],
                        version,
                        _micros(version),
                        obj["type"],
                        level.value,
                        int(marked),
                        data,
                        now,
                    ),
                )
                new += cursor_obj.rowcount
            conn.executemany(
                "INSERT INTO inbound_refused (partner, object_id, version, reason, at) VALUES (?, ?, ?, ?, ?)",
                [(self.partner, object_id, version, reason, now) for object_id, version, reason in refused],
            )
            if cursor is not None:
                conn.execute(
                    "INSERT INTO cursors (partner, collection, added_after, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (partner, collection) DO UPDATE SET added_after = excluded.added_after, "
                    "updated_at = excluded.updated_at",
                    (self.partner, collection, cursor, now),
                )
        return new

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM inbound WHERE partner = ?", (self.partner,)).fetchone()[0])

    def indicators(self) -> list[bytes]:
        """The latest version of each indicator received, unless that version revokes it."""
        rows = self.conn.execute(
            "SELECT i.json FROM inbound i WHERE i.partner = ? AND i.type = 'indicator' AND i.version_us = "
            "(SELECT max(version_us) FROM inbound j WHERE j.partner = i.partner AND j.object_id = i.object_id) "
            "ORDER BY i.object_id",
            (self.partner,),
        )
        found = [bytes(r[0]) for r in rows]
        return [data for data in found if not json.loads(data).get("revoked")]

    def write_indicators(self, path: str | Path) -> int:
        """The indicators as JSON lines (written whole, then renamed into place); how many."""
        path = Path(path)
        lines = self.indicators()
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            for data in lines:
                handle.write(data + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        return len(lines)


def _micros(version: str) -> int:
    """A version's time in microseconds (versions of other producers differ in their decimals)."""
    try:
        moment = parse_stamp(version)
    except ValueError:
        return 0
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond
