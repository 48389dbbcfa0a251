"""The audit ledger: append-only, hash-chained, Ed25519-signed entries in one SQLite table.

Every use of the data (a gate run, a retention pass, an analyst's approval) is one entry, so
oversight can prove what was done, by whom, when and in which order.

This module is the file: :class:`Ledger` appends and reads entries. The rest of the ledger
lives beside it:

- ``policies._ledger_format``: what an entry is (:class:`LedgerEntry`), its canonical JSON
  and hash, written down so an auditor can recompute them with other tools;
- ``policies._ledger_keys``: the Ed25519 signing and public key files and key ids;
- ``policies._ledger_verify``: :func:`verify`, which finds tampering, and its limits.

The file is marked as a metagate ledger by the SQLite header's application id; triggers
refuse UPDATE and DELETE, which stops mistakes, not a tamperer. Verification is what finds
tampering.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from policies._errors import PolicyError
from policies._ledger_format import (
    _HEX64,
    GENESIS_HASH,
    JsonInput,
    JsonValue,
    LedgerEntry,
    _parse_payload,
    _stamp,
    canonical_json,
    hash_of_text,
)
from policies._ledger_keys import public_key_id

_APPLICATION_ID = 0x4D474C47  # "MGLG" in the SQLite header
_FORMAT = 1  # PRAGMA user_version
_COLUMNS = ("seq", "at", "kind", "actor", "payload", "prev_hash", "hash", "signature", "key_id")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM ledger"
_SCHEMA = (
    """CREATE TABLE ledger (
        seq INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL,
        payload TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
        signature TEXT NOT NULL, key_id TEXT NOT NULL)""",
    "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger "
    "BEGIN SELECT RAISE(ABORT, 'the metagate ledger is append-only'); END",
    "CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger "
    "BEGIN SELECT RAISE(ABORT, 'the metagate ledger is append-only'); END",
    f"PRAGMA application_id = {_APPLICATION_ID}",
    f"PRAGMA user_version = {_FORMAT}",
)
_BUSY_SECONDS = 30.0  # another process's append holds the write lock for milliseconds
_PAGE = 500
_KIND = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")


class Ledger:
    """An audit ledger file; without a signer it is opened read-only and :meth:`append` refuses.

    Opening with a signer creates the file if it does not exist. Appends from several
    processes are serialized by SQLite's write lock (``BEGIN IMMEDIATE``), so they never fork
    the chain. Use one ``Ledger`` per thread.
    """

    def __init__(
        self,
        path: str | Path,
        signer: Ed25519PrivateKey | None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self._signer = signer
        self.key_id = public_key_id(signer.public_key()) if signer is not None else None
        self._clock = clock or (lambda: datetime.now(UTC))
        self._conn = _connect(self.path, writable=signer is not None)

    @property
    def read_only(self) -> bool:
        return self._signer is None

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def append(self, kind: str, actor: str, payload: Mapping[str, JsonInput]) -> LedgerEntry:
        """Add one signed entry after the current head, in one transaction."""
        return self.append_many([(kind, actor, payload)])[0]

    def append_many(self, entries: Sequence[tuple[str, str, Mapping[str, JsonInput]]]) -> list[LedgerEntry]:
        """Add signed entries (kind, actor, payload) after the head, in order, all in one transaction.

        One commit (one fsync) for a batch: a run that queues thousands of objects records
        them at the speed of signing, and either every entry of the batch is there or none.
        """
        if self._signer is None:
            raise PolicyError("opened without a signing key, so it is read-only here", path=self.path)
        checked = [(kind, actor, *self._checked(kind, actor, payload)) for kind, actor, payload in entries]
        if not checked:
            return []
        at = _stamp(self._clock())
        made: list[LedgerEntry] = []
        kind = checked[0][0]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                last = self._conn.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchall()
                seq, prev = (last[0][0], last[0][1]) if last else (0, GENESIS_HASH)
                if not isinstance(prev, str) or not _HEX64.match(prev):
                    raise PolicyError(f"entry {seq} has no valid hash to chain to; verify it", path=self.path)
                assert self.key_id is not None
                rows = []
                for kind, actor, text, body in checked:
                    seq += 1
                    digest = hash_of_text(seq, at, kind, actor, text, prev)  # text: the body's canonical JSON
                    signature = self._signer.sign(bytes.fromhex(digest)).hex()
                    rows.append((seq, at, kind, actor, text, prev, digest, signature, self.key_id))
                    made.append(LedgerEntry(seq, at, kind, actor, body, prev, digest, signature, self.key_id))
                    prev = digest
                self._conn.executemany(f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
                self._conn.execute("COMMIT")
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            what = f"a {kind} entry" if len(checked) == 1 else f"{len(checked)} entries"
            raise PolicyError(f"could not append {what} ({exc})", path=self.path) from exc
        return made

    @staticmethod
    def _checked(kind: str, actor: str, payload: Mapping[str, JsonInput]) -> tuple[str, dict[str, JsonValue]]:
        if not _KIND.match(kind) or len(kind) > 64:
            raise PolicyError(f"{kind!r} is no entry kind (dotted lower-case words, e.g. gate.run)", field="kind")
        if not actor or len(actor) > 128 or not actor.isprintable() or actor.strip() != actor:
            raise PolicyError(f"{actor!r} is no actor (a user name or metagate)", field="actor")
        text = canonical_json(payload).decode("utf-8")
        return text, _parse_payload(text)  # the entry returned is what a reader will get back

    def entries(
        self, kind: str | None = None, actor: str | None = None, contains: str | None = None
    ) -> Iterator[LedgerEntry]:
        """Entries in seq order; ``contains`` keeps those with a payload key or value holding that text."""
        where, args = ["seq > ?"], list[object]()
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if actor is not None:
            where.append("actor = ?")
            args.append(actor)
        if contains is not None:  # a first cut in SQL: the text as it appears escaped in the column
            where.append("instr(payload, ?) > 0")
            args.append(json.dumps(contains, ensure_ascii=False)[1:-1])
        query = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY seq LIMIT {_PAGE}"
        last = 0
        while True:  # page by seq: no read transaction stays open while the caller works
            rows = self._read(query, (last, *args))
            for row in rows:
                entry = self._entry(row)
                if contains is None or _mentions(entry.payload, contains):
                    yield entry
            if len(rows) < _PAGE:
                return
            last = _seq_of(rows[-1])

    def head(self) -> LedgerEntry | None:
        """The last entry, or None while the ledger is empty."""
        rows = self._read(f"{_SELECT} ORDER BY seq DESC LIMIT 1", ())
        return self._entry(rows[0]) if rows else None

    def _read(self, query: str, args: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self._conn.execute(query, args).fetchall()
        except sqlite3.Error as exc:
            raise PolicyError(f"could not read the ledger ({exc})", path=self.path) from exc

    def _entry(self, row: tuple[object, ...]) -> LedgerEntry:
        seq, *columns = row
        texts = [value for value in columns if isinstance(value, str)]
        try:
            if not isinstance(seq, int) or len(texts) != len(columns):
                raise ValueError("a column holds a value of the wrong type")
            body = _parse_payload(texts[3])
        except (ValueError, RecursionError) as exc:
            raise PolicyError(f"entry {seq!r} is damaged ({exc}); verify the ledger", path=self.path) from exc
        at, kind, actor, _, prev, digest, signature, key_id = texts
        return LedgerEntry(seq, at, kind, actor, body, prev, digest, signature, key_id)


def _seq_of(row: tuple[object, ...]) -> int:
    seq = row[0]
    assert isinstance(seq, int)  # the primary key of the rows just read
    return seq


def _mentions(value: JsonValue, text: str) -> bool:
    if isinstance(value, dict):
        return any(text in key or _mentions(item, text) for key, item in value.items())
    if isinstance(value, list):
        return any(_mentions(item, text) for item in value)
    return text in (value if isinstance(value, str) else json.dumps(value))


def _connect(path: Path, *, writable: bool) -> sqlite3.Connection:
    if not writable and not path.exists():
        raise PolicyError("no ledger here: the file does not exist", path=path)
    try:
        if writable:
            conn = sqlite3.connect(path, timeout=_BUSY_SECONDS, isolation_level=None)
        else:
            uri = path.resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise PolicyError(f"cannot open the ledger ({exc})", path=path) from exc
    try:
        what = _inspect(conn)
        if what == "" and writable:  # a new, empty file: make it a ledger (once, if two race)
            conn.execute("BEGIN IMMEDIATE")
            try:
                if _inspect(conn) == "":
                    for statement in _SCHEMA:
                        conn.execute(statement)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            what = _inspect(conn)
        if what is not None:
            raise PolicyError(f"not a metagate ledger: {what or 'an empty file'}", path=path)
        if writable:
            _switch_to_wal(conn)
            conn.execute("PRAGMA synchronous=FULL")  # an acknowledged entry survives a power cut
    except sqlite3.Error as exc:
        conn.close()
        raise PolicyError(f"not a metagate ledger ({exc})", path=path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _inspect(conn: sqlite3.Connection) -> str | None:
    """None for a metagate ledger, "" for an empty database, else what it is instead.

    Its reads are one snapshot: read one by one, a ledger another process creates meanwhile
    would look half-made (no application id yet, but tables) and be taken for a stranger's.
    """
    if conn.in_transaction:
        return _inspect_snapshot(conn)
    conn.execute("BEGIN")
    try:
        return _inspect_snapshot(conn)
    finally:
        conn.execute("COMMIT")


def _inspect_snapshot(conn: sqlite3.Connection) -> str | None:
    app_id = _value(conn, "PRAGMA application_id")
    objects = _value(conn, "SELECT count(*) FROM sqlite_master")
    if app_id == 0 and objects == 0:
        return ""
    if app_id != _APPLICATION_ID:
        return "an SQLite database of another application"
    columns = {row[1] for row in conn.execute("PRAGMA table_info(ledger)")}
    if not columns:
        return "it has no ledger table"
    missing = [name for name in _COLUMNS if name not in columns]
    if missing:
        return f"its ledger table lacks the columns {', '.join(missing)}"
    version = _value(conn, "PRAGMA user_version")
    if version != _FORMAT:
        return f"ledger format {version}, where this metagate reads format {_FORMAT}"
    return None


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    # SQLite does not wait on its busy handler for this switch, so two processes opening a
    # new ledger at once would see "database is locked": wait here instead
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _value(conn: sqlite3.Connection, query: str) -> object:
    # fetchall runs the statement to its end: a half-read one would keep holding the shared
    # lock, and two processes opening a new file at once would deadlock on it
    return conn.execute(query).fetchall()[0][0]
