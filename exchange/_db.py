"""The exchange's SQLite file: review queue, outbox, what the partner sent us, and cursors.

One file (default ``metagate-exchange.sqlite``), WAL journal, ``synchronous=FULL``: a state
change the command acknowledged survives a crash or a power cut. Tables:

- ``items``: one review item a finding (and partner): state, approvals needed, who queued it;
- ``objects``: every object version ever queued, exact JSON and SHA-256; an item's objects,
  its revocations, and the companions (identity, marking definitions: ``item`` NULL);
- ``approvals``: who approved which item, when, why;
- ``transitions``: every review event with who, when, why and the ledger entry recording it;
- ``outbox``: one row an object version to deliver to a partner: queued, sending (a request
  carrying it may have reached the partner), delivered, failed (refused by the partner);
- ``decisions``: what packaging decided about each finding, with the clauses;
- ``inbound`` / ``inbound_refused``: the partner's objects received (with their TLP) and
  those refused as invalid; ``cursors``: where the partner's feed was read up to;
- ``taxii_status``: the status resource of each request the partner posted to our TAXII
  server (exchange._server_store), kept so that polling it works across a restart.

A file of an earlier format is brought up to date when it is opened (``MIGRATIONS``: only
tables added, nothing rewritten).

The file is marked as a metagate exchange file by the SQLite header's application id.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from policies import ExchangeError

APPLICATION_ID = 0x4D475851  # "MGXQ"
FORMAT = 2
_BUSY_SECONDS = 30.0

_TABLES = (
    """CREATE TABLE items (
        id INTEGER PRIMARY KEY, partner TEXT NOT NULL, finding TEXT, kind TEXT, summary TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'published', 'revoked')),
        approvals_required INTEGER NOT NULL, tlp TEXT, policy_sha256 TEXT,
        created_at TEXT NOT NULL, created_by TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE objects (
        partner TEXT NOT NULL, object_id TEXT NOT NULL, version TEXT NOT NULL, type TEXT NOT NULL,
        item INTEGER REFERENCES items(id), position INTEGER NOT NULL, role TEXT NOT NULL,
        json BLOB NOT NULL, sha256 TEXT NOT NULL, tlp TEXT, queued_at TEXT NOT NULL,
        PRIMARY KEY (partner, object_id, version))""",
    "CREATE INDEX objects_item ON objects (item, position)",
    """CREATE TABLE approvals (
        item INTEGER NOT NULL REFERENCES items(id), actor TEXT NOT NULL, at TEXT NOT NULL, reason TEXT,
        PRIMARY KEY (item, actor))""",
    """CREATE TABLE transitions (
        uid TEXT PRIMARY KEY, item INTEGER REFERENCES items(id), event TEXT NOT NULL, from_state TEXT,
        to_state TEXT, actor TEXT NOT NULL, at TEXT NOT NULL, reason TEXT, payload TEXT NOT NULL,
        ledger_kind TEXT NOT NULL, ledger_seq INTEGER)""",
    "CREATE INDEX transitions_item ON transitions (item)",
    "CREATE INDEX transitions_unaudited ON transitions (ledger_seq) WHERE ledger_seq IS NULL",
    """CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY, partner TEXT NOT NULL, object_id TEXT NOT NULL, version TEXT NOT NULL,
        item INTEGER, state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL DEFAULT 0, alone INTEGER NOT NULL DEFAULT 0,
        status_id TEXT, last_error TEXT, delivered_at TEXT,
        UNIQUE (partner, object_id, version))""",
    "CREATE INDEX outbox_open ON outbox (partner, state, seq)",
    "CREATE INDEX outbox_item ON outbox (item)",
    """CREATE TABLE decisions (
        seq INTEGER PRIMARY KEY, finding TEXT NOT NULL, partner TEXT NOT NULL, outcome TEXT NOT NULL,
        item INTEGER, notes TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL)""",
    "CREATE INDEX decisions_finding ON decisions (finding)",
    """CREATE TABLE inbound (
        partner TEXT NOT NULL, object_id TEXT NOT NULL, version TEXT NOT NULL, version_us INTEGER NOT NULL,
        type TEXT NOT NULL, tlp TEXT NOT NULL, marked INTEGER NOT NULL, json BLOB NOT NULL, received_at TEXT NOT NULL,
        PRIMARY KEY (partner, object_id, version))""",
    "CREATE INDEX inbound_id ON inbound (object_id)",
    """CREATE TABLE inbound_refused (
        seq INTEGER PRIMARY KEY, partner TEXT NOT NULL, object_id TEXT, version TEXT, reason TEXT NOT NULL,
        at TEXT NOT NULL)""",
    """CREATE TABLE cursors (
        partner TEXT NOT NULL, collection TEXT NOT NULL, added_after TEXT, updated_at TEXT NOT NULL,
        PRIMARY KEY (partner, collection))""",
)
_STATUS = (
    """CREATE TABLE taxii_status (
        id TEXT PRIMARY KEY, partner TEXT NOT NULL, account TEXT NOT NULL, collection TEXT NOT NULL,
        body TEXT NOT NULL, at TEXT NOT NULL)""",
)
# what turns a file of format N into format N + 1
MIGRATIONS: dict[int, tuple[str, ...]] = {1: _STATUS}
SCHEMA: tuple[str, ...] = (
    *_TABLES,
    *_STATUS,
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {FORMAT}",
)


def connect(path: str | Path) -> sqlite3.Connection:
    """The exchange file, created when missing; ExchangeError naming it when it is something else."""
    path = Path(path)
    try:
        conn = sqlite3.connect(path, timeout=_BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise ExchangeError(f"{path}: cannot open the exchange queue ({exc})") from exc
    try:
        what = _inspect(conn)
        if what == "":
            conn.execute("BEGIN IMMEDIATE")
            try:
                if _inspect(conn) == "":
                    for statement in SCHEMA:
                        conn.execute(statement)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            what = _inspect(conn)
        if what is not None and _older(conn):
            _migrate(conn)
            what = _inspect(conn)
        if what is not None:
            raise ExchangeError(f"{path}: not a metagate exchange queue: {what}")
        _wal(conn)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.Error as exc:
        conn.close()
        raise ExchangeError(f"{path}: not a metagate exchange queue ({exc})") from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _inspect(conn: sqlite3.Connection) -> str | None:
    app_id = conn.execute("PRAGMA application_id").fetchall()[0][0]
    objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchall()[0][0]
    if app_id == 0 and objects == 0:
        return ""
    if app_id != APPLICATION_ID:
        return "an SQLite database of another application"
    version = conn.execute("PRAGMA user_version").fetchall()[0][0]
    if version != FORMAT:
        return f"format {version}, where this metagate reads format {FORMAT}"
    return None


def _older(conn: sqlite3.Connection) -> bool:
    app_id = conn.execute("PRAGMA application_id").fetchall()[0][0]
    version = conn.execute("PRAGMA user_version").fetchall()[0][0]
    return bool(app_id == APPLICATION_ID and version in MIGRATIONS)


def _migrate(conn: sqlite3.Connection) -> None:
    """Format by format up to ``FORMAT``, each step in one transaction (another process may race us)."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchall()[0][0]
            if version not in MIGRATIONS:
                conn.execute("COMMIT")
                return
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")


def _wal(conn: sqlite3.Connection) -> None:
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class Transaction:
    """``with Transaction(conn):`` one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on error).

    Inside another transaction it is a savepoint: an inner failure undoes only the inner work,
    and everything becomes durable when the outermost one commits.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._savepoint: str | None = None

    def __enter__(self) -> sqlite3.Connection:
        if self.conn.in_transaction:
            self._savepoint = f"inner_{id(self):x}"
            self.conn.execute(f"SAVEPOINT {self._savepoint}")
        else:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: object) -> None:
        if self._savepoint is not None:
            if kind is not None:
                self.conn.execute(f"ROLLBACK TO {self._savepoint}")
            self.conn.execute(f"RELEASE {self._savepoint}")
        elif kind is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
