"""The audit ledger: append-only, hash-chained, Ed25519-signed entries in one SQLite table.

Every use of the data (a gate run, a retention pass, an analyst's approval) is one entry, so
oversight can prove what was done, by whom, when and in which order.

What an entry is, so an auditor can recompute it with other tools::

    seq        1, 2, 3, ...
    at         UTC time, microseconds, ISO 8601: 2025-01-31T12:00:00.000000Z
    kind       what happened: gate.run, retention.apply, review.approve, ...
    actor      who: a user name, or metagate
    payload    a JSON object
    prev_hash  the hash of entry seq - 1; 64 zeros for entry 1
    hash       hex SHA-256 of canonical JSON of the object with the six fields above:
               {"actor": ..., "at": ..., "kind": ..., "payload": {...}, "prev_hash": ..., "seq": ...}
    signature  hex Ed25519 signature over the 32 bytes the hash stands for
    key_id     first 16 hex digits of SHA-256 of the signer's 32-byte raw public key

The hash covers the first six fields; signature and key_id vouch for the hash.

Canonical JSON: object keys sorted by code point, no whitespace (separators ``,`` and ``:``),
non-ASCII characters as themselves rather than ``\\u`` escapes, encoded as UTF-8, which is
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in Python.
Payload values are strings, integers within +/-(2**53 - 1), booleans, null, arrays and
objects; floats are refused because their text differs between JSON libraries. The
``payload`` column holds the payload in exactly this form. With stock tools::

    sqlite3 -json ledger.db 'SELECT * FROM ledger ORDER BY seq' | python3 -c '
    import hashlib, json, sys
    for e in json.load(sys.stdin):
        body = {k: e[k] for k in ("seq", "at", "kind", "actor", "prev_hash")}
        body["payload"] = json.loads(e["payload"])
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        print(e["seq"], hashlib.sha256(text.encode()).hexdigest() == e["hash"])'

    # one signature, with OpenSSL 3 (ledger.pub from write_public_key):
    echo -n "$HASH" | xxd -r -p > hash.bin; echo -n "$SIGNATURE" | xxd -r -p > sig.bin
    openssl pkeyutl -verify -pubin -inkey ledger.pub -rawin -in hash.bin -sigfile sig.bin

The file is marked as a metagate ledger by the SQLite header's application id; triggers
refuse UPDATE and DELETE, which stops mistakes, not a tamperer. :func:`verify` is what finds
tampering: it recomputes every hash, checks every signature and follows the chain, and says
for each entry concerned whether it was edited, deleted, inserted or reordered, or carries a
bad or unknown signature.

Limit: a chain proves the entries present and their order, not that none came after the
last one. Cutting off the newest entries, or removing the file, leaves a valid shorter chain.
So note the head (:attr:`LedgerVerification.head`: seq and hash) somewhere the tap cannot
rewrite (the transparency report, the oversight body's records) and pass it back as
``expected_head``: entries up to the noted head are then proven present, later ones are not.
Whoever holds the signing key can write any chain: the key stays on the tap, readable by
metagate only; auditors hold the public key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import accumulate, pairwise
from pathlib import Path
from types import TracebackType
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from policies._errors import ConfigError, PolicyError

JsonValue: TypeAlias = "bool | int | str | list[JsonValue] | dict[str, JsonValue] | None"
JsonInput: TypeAlias = "bool | int | str | Sequence[JsonInput] | Mapping[str, JsonInput] | None"

GENESIS_HASH = "0" * 64
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
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_KIND = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MAX_INT = 2**53 - 1  # beyond this, JSON readers in other languages round
_SEARCH_BUDGET = 1_000_000  # seq guesses for renumbered entries; a bound, not a tuning knob


# --- entries and their encoding -----------------------------------------------------------


@dataclass(frozen=True)
class LedgerEntry:
    """One entry as stored; :func:`verify`, not reading, proves it genuine."""

    seq: int
    at: str
    kind: str
    actor: str
    payload: dict[str, JsonValue]
    prev_hash: str
    hash: str
    signature: str
    key_id: str

    @property
    def timestamp(self) -> datetime:
        return datetime.strptime(self.at, _AT_FORMAT).replace(tzinfo=UTC)


def canonical_json(value: JsonInput) -> bytes:
    """The canonical encoding the ledger hashes (see the module docstring); refuses floats."""
    return _dumps(_plain(value, "payload"))


def _dumps(value: JsonValue) -> bytes:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:
        raise PolicyError("holds text that is not valid Unicode (a lone surrogate)", field="payload") from exc


def entry_hash(seq: int, at: str, kind: str, actor: str, payload: Mapping[str, JsonInput], prev_hash: str) -> str:
    """The hex SHA-256 an entry with these fields must carry."""
    body: dict[str, JsonValue] = {"seq": seq, "at": at, "kind": kind, "actor": actor, "prev_hash": prev_hash}
    body["payload"] = _plain(payload, "payload")
    return hashlib.sha256(_dumps(body)).hexdigest()


def _plain(value: object, where: str) -> JsonValue:
    """A plain copy of a JSON value (dicts, lists), or an error naming the field that is not one."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise PolicyError("an integer beyond +/-(2**53 - 1); record it as a string", field=where)
        return int(value)
    if isinstance(value, float):
        raise PolicyError("a float (its JSON text differs between tools); record an integer or a string", field=where)
    if isinstance(value, Mapping):
        plain: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise PolicyError(f"a key that is a {type(key).__name__}, not a string", field=where)
            plain[key] = _plain(item, f"{where}.{key}")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise PolicyError(f"a {type(value).__name__}, which is no JSON value", field=where)


def _parse_payload(text: str) -> dict[str, JsonValue]:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    value = json.loads(text, parse_constant=refuse)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _stamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the ledger clock must return an aware datetime")
    return moment.astimezone(UTC).strftime(_AT_FORMAT)


# --- the ledger file ----------------------------------------------------------------------


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
        if self._signer is None:
            raise PolicyError("opened without a signing key, so it is read-only here", path=self.path)
        if not _KIND.match(kind) or len(kind) > 64:
            raise PolicyError(f"{kind!r} is no entry kind (dotted lower-case words, e.g. gate.run)", field="kind")
        if not actor or len(actor) > 128 or not actor.isprintable() or actor.strip() != actor:
            raise PolicyError(f"{actor!r} is no actor (a user name or metagate)", field="actor")
        text = canonical_json(payload).decode("utf-8")
        body = _parse_payload(text)  # the entry returned is what a reader will get back
        at = _stamp(self._clock())
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                last = self._conn.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchall()
                seq, prev = (last[0][0] + 1, last[0][1]) if last else (1, GENESIS_HASH)
                if not isinstance(prev, str) or not _HEX64.match(prev):
                    raise PolicyError(f"entry {seq - 1} has no valid hash to chain to; verify it", path=self.path)
                digest = entry_hash(seq, at, kind, actor, body, prev)
                signature = self._signer.sign(bytes.fromhex(digest)).hex()
                assert self.key_id is not None
                values = (seq, at, kind, actor, text, prev, digest, signature, self.key_id)
                self._conn.execute(f"INSERT INTO ledger ({', '.join(_COLUMNS)}) VALUES (?,?,?,?,?,?,?,?,?)", values)
                self._conn.execute("COMMIT")
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise PolicyError(f"could not append a {kind} entry ({exc})", path=self.path) from exc
        return LedgerEntry(seq, at, kind, actor, body, prev, digest, signature, self.key_id)

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
    """None for a metagate ledger, "" for an empty database, else what it is instead."""
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


# --- keys ---------------------------------------------------------------------------------


def public_key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the 32-byte raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def write_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """Create a new signing key in a file only its owner can read; never replaces a file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_new(Path(path), pem, 0o600)
    return key


def write_public_key(path: str | Path, key: Ed25519PublicKey) -> None:
    """Write the public half (PEM SubjectPublicKeyInfo) for auditors; never replaces a file."""
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(Path(path), pem, 0o644)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise PolicyError("already exists; metagate does not replace a key file", path=path) from exc
    except OSError as exc:
        raise PolicyError(f"cannot create the key file ({exc.strerror})", path=path) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the mode exactly, whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise PolicyError(f"cannot write the key file ({exc.strerror})", path=path) from exc


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key of an unencrypted PEM PKCS#8 file."""
    path = Path(path)
    data = _read_key_file(path, "signing key")
    if b"PUBLIC KEY-----" in data:
        raise PolicyError("holds a public key; signing needs the private key", path=path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # cryptography's way of saying "encrypted"
        raise PolicyError("is encrypted; metagate reads unencrypted keys kept mode 0600", path=path) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:  # messages name no key material
        raise PolicyError("is no PEM PKCS#8 private key", path=path) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise PolicyError(f"holds a key of type {_algorithm(key)}; the ledger signs with Ed25519", path=path)
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key of a PEM SubjectPublicKeyInfo file."""
    path = Path(path)
    data = _read_key_file(path, "public key")
    if b"PRIVATE KEY-----" in data:
        raise PolicyError("holds a private key; give auditors the public key only", path=path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PolicyError("is no PEM public key", path=path) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PolicyError(f"holds a key of type {_algorithm(key)}; the ledger signs with Ed25519", path=path)
    return key


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise PolicyError(f"no {what} file here", path=path) from exc
    except OSError as exc:
        raise PolicyError(f"cannot read the {what} file ({exc.strerror})", path=path) from exc


def _algorithm(key: object) -> str:
    return type(key).__name__.replace("PrivateKey", "").replace("PublicKey", "")  # RSA, EC, Ed448, ...


# --- verification -------------------------------------------------------------------------


class ProblemKind(StrEnum):
    """What :func:`verify` found; each value is the plain string a report prints."""

    EDITED = "edited"  # changed after signing: content, seq, hash or key_id (its hash recomputed or not)
    DELETED = "deleted"  # entries missing: a gap in the chain, or gone since a noted head
    INSERTED = "inserted"  # a row that is not part of the signed chain: forged, a copy, or off the chain
    REORDERED = "reordered"  # a signed entry renumbered so that seq order and chain order disagree
    BAD_SIGNATURE = "bad_signature"  # in its place in the chain, but not signed by the key it names
    UNKNOWN_KEY = "unknown_key"  # signed with a key the auditor did not give


@dataclass(frozen=True)
class LedgerProblem:
    """What is wrong where: ``seq`` is the row's seq as stored, for ``deleted`` the first missing one.

    ``seq`` is None only for a row whose seq is no number at all.
    """

    seq: int | None
    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class LedgerVerification:
    """The outcome of :func:`verify`; note ``head`` to catch a later truncation."""

    path: str
    entries: int
    head: tuple[int, str] | None
    problems: list[LedgerProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    path: str | Path,
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    expected_head: tuple[int, str] | None = None,
) -> LedgerVerification:
    """Check every entry of a ledger file against the given public keys (by key id).

    ``expected_head`` is a (seq, hash) noted earlier: entries up to it must still be there.
    Without it, losing the newest entries goes unseen (see the module docstring).
    """
    path = Path(path)
    if expected_head is not None:
        seq, digest = expected_head
        if not isinstance(seq, int) or seq < 1 or not isinstance(digest, str) or not _HEX64.match(digest):
            raise ConfigError("a head is a seq of 1 or more and a 64-digit lower-case hex hash", field="expected_head")
    conn = _connect(path, writable=False)
    try:
        rows = conn.execute(f"{_SELECT} ORDER BY seq").fetchall()
    except sqlite3.Error as exc:
        raise PolicyError(f"cannot read the ledger ({exc})", path=path) from exc
    finally:
        conn.close()
    problems = _Verifier(rows, public_keys, expected_head).problems()
    numbered = [row for row in rows if type(row[0]) is int]
    head = (numbered[-1][0], str(numbered[-1][6])) if numbered else None
    return LedgerVerification(str(path), len(rows), head, problems)


@dataclass(eq=False)
class _Row:
    seq: int
    prev: object
    hash: object
    signature: object
    key_id: object
    prefix: bytes | None  # canonical encoding up to the seq value; None if the content cannot be encoded
    damage: str  # why not, for the message
    computed: str | None = None  # the hash of the content as stored
    auth: str | None = None  # the hash a known key's signature vouches for
    signed_by: str | None = None
    orig: int | None = None  # the seq it was signed with
    guessed: bool = False  # content edited beyond telling its seq: orig is the stored seq

    def hash_for(self, seq: int) -> str | None:
        return None if self.prefix is None else hashlib.sha256(self.prefix + b"%d}" % seq).hexdigest()

    @property
    def renumbered(self) -> bool:
        return self.orig is not None and self.orig != self.seq


def _examine(row: tuple[object, ...], keys: Mapping[str, Ed25519PublicKey]) -> _Row:
    seq, at, kind, actor, payload, prev, digest, signature, key_id = row
    assert isinstance(seq, int)
    prefix, damage = None, ""
    texts = dict(zip(("at", "kind", "actor", "payload", "prev_hash"), (at, kind, actor, payload, prev), strict=True))
    odd = [name for name, value in texts.items() if not isinstance(value, str)]
    if odd:
        damage = f"its {odd[0]} is not text"
    else:
        try:
            body = _parse_payload(str(payload))
            text = canonical_json(body)
            if text.decode("utf-8") != payload:
                damage = "its payload is not in canonical form"
            else:
                fields: dict[str, JsonInput] = {name: str(value) for name, value in texts.items()}
                fields["payload"] = body
                prefix = canonical_json(fields)[:-1] + b',"seq":'  # "seq" sorts last: the hash input stops here
        except (ValueError, PolicyError, RecursionError):
            damage = "its payload is no JSON object a ledger entry may hold"
    found = _Row(seq, prev, digest, signature, key_id, prefix, damage)
    found.computed = found.hash_for(seq)
    for candidate in dict.fromkeys((digest, found.computed)):
        signer = _vouching_key(candidate, signature, key_id, keys)
        if signer is not None:
            found.auth, found.signed_by = str(candidate), signer
            break
    return found


def _vouching_key(
    digest: object, signature: object, key_id: object, keys: Mapping[str, Ed25519PublicKey]
) -> str | None:
    """The id of a known key whose signature this is over the hash (the named key first)."""
    if not isinstance(digest, str) or not _HEX64.match(digest) or not isinstance(signature, str):
        return None
    try:
        raw = bytes.fromhex(signature)
    except ValueError:
        return None
    order = sorted(keys, key=lambda kid: kid != key_id)
    for kid in order:
        try:
            keys[kid].verify(raw, bytes.fromhex(digest))
        except InvalidSignature:
            continue
        return kid
    return None


class _Verifier:
    """Classifies every anomaly: the signatures say which hashes are genuine, the chain where they belong."""

    def __init__(
        self, rows: list[tuple[object, ...]], keys: Mapping[str, Ed25519PublicKey], expected: tuple[int, str] | None
    ) -> None:
        self.keys = keys
        self.expected = expected
        self.found: list[LedgerProblem] = []
        self.rows: list[_Row] = []
        for row in rows:
            if type(row[0]) is int:
                self.rows.append(_examine(row, keys))
            else:
                self.found.append(LedgerProblem(None, ProblemKind.INSERTED, f"a row numbered {row[0]!r}, no entry seq"))
        self.signed = [r for r in self.rows if r.auth is not None]
        self.unsigned = [r for r in self.rows if r.auth is None]
        self.by_auth: dict[str, list[_Row]] = defaultdict(list)
        self.chained_to: dict[str, list[_Row]] = defaultdict(list)
        for r in self.signed:
            assert r.auth is not None
            self.by_auth[r.auth].append(r)
            if isinstance(r.prev, str):
                self.chained_to[r.prev].append(r)
        self.stored_at: dict[int, list[_Row]] = defaultdict(list)
        for r in self.rows:
            self.stored_at[r.seq].append(r)
        self.stored_hashes = {r.hash for r in self.rows}
        self.keeper: dict[int, _Row] = {}
        self.noted: dict[_Row, LedgerProblem] = {}

    def problems(self) -> list[LedgerProblem]:
        self._place_signed()
        self._claim_slots()
        self._judge_signed()
        self._judge_unsigned()
        self._find_gaps()
        self._check_head()
        order = list(ProblemKind)
        return sorted(
            [*self.found, *self.noted.values()],
            key=lambda p: (p.seq is None, p.seq or 0, order.index(p.kind)),
        )

    def _note(self, row: _Row, kind: ProblemKind, message: str) -> None:
        self.noted.setdefault(row, LedgerProblem(row.seq, kind, message))

    # Which seq was each signed row signed with? Intact rows say so; a renumbered row is
    # placed by trying the seq its chain neighbours imply, since seq is part of the hash.
    def _place_signed(self) -> None:
        queue = []
        for r in self.signed:
            if r.auth == r.computed:
                r.orig = r.seq
                queue.append(r)
        for r in self.chained_to.get(GENESIS_HASH, []):
            self._try(r, 1, queue)
        if self.expected is not None:
            for r in self.by_auth.get(self.expected[1], []):
                self._try(r, self.expected[0], queue)
        self._spread(queue)
        budget = _SEARCH_BUDGET
        noted_seq = self.expected[0] if self.expected is not None else 0
        limit = max((r.seq for r in self.rows), default=0) + len(self.rows) + noted_seq
        for r in self.signed:  # after a deletion nothing points at the first renumbered row: search
            if r.orig is None and r.prefix is not None and r.prev not in self.by_auth and r.prev != GENESIS_HASH:
                for distance in range(1, limit + 1):
                    if budget <= 0:
                        break
                    guesses = [s for s in (r.seq + distance, r.seq - distance) if 1 <= s <= limit]
                    if not guesses:
                        break
                    budget -= len(guesses)
                    if any(self._try(r, s, queue) for s in guesses):
                        self._spread(queue)
                        break
        for r in self.signed:
            if r.orig is None:
                r.orig, r.guessed = r.seq, True

    def _try(self, row: _Row, seq: int, queue: list[_Row]) -> bool:
        if row.orig is None and row.hash_for(seq) == row.auth:
            row.orig = seq
            queue.append(row)
            return True
        return False

    def _spread(self, queue: list[_Row]) -> None:
        while queue:
            r = queue.pop()
            assert r.orig is not None and r.auth is not None
            for after in self.chained_to.get(r.auth, []):
                self._try(after, r.orig + 1, queue)
            if isinstance(r.prev, str):
                for before in self.by_auth.get(r.prev, []):
                    self._try(before, r.orig - 1, queue)

    def _claim_slots(self) -> None:
        claims: dict[int, list[_Row]] = defaultdict(list)
        for r in self.signed:
            assert r.orig is not None
            claims[r.orig].append(r)
        for orig, rows in claims.items():
            rows.sort(key=lambda r: (r.seq != orig, r.guessed, r.seq))
            self.keeper[orig] = rows[0]
            for extra in rows[1:]:
                if extra.guessed:
                    why = extra.damage or "its content no longer matches its hash"
                    self._note(extra, ProblemKind.EDITED, f"entry {extra.seq} was changed after it was signed: {why}")
                elif extra.auth == rows[0].auth:
                    self._note(extra, ProblemKind.INSERTED, f"entry {extra.seq} is a copy of entry {orig}")
                else:
                    self._note(
                        extra,
                        ProblemKind.INSERTED,
                        f"entry {extra.seq} is a second signed entry {orig}: the chain forked "
                        "(was the signing key used by another program?)",
                    )

    def _judge_signed(self) -> None:
        kept = sorted(self.keeper.values(), key=lambda r: r.seq)
        origs = [r.orig or 0 for r in kept]
        highest = list(accumulate(origs, max))
        lowest = list(accumulate(reversed(origs), min))[::-1]
        for i, r in enumerate(kept):
            out_of_order = (i > 0 and highest[i - 1] > origs[i]) or (i + 1 < len(kept) and lowest[i + 1] < origs[i])
            if r.renumbered and out_of_order:
                self._note(
                    r,
                    ProblemKind.REORDERED,
                    f"entry {r.seq} was signed as entry {r.orig}: its seq was changed and it stands out of "
                    "the chain's order",
                )
            elif r.renumbered:
                self._note(r, ProblemKind.EDITED, f"entry {r.seq} was signed as entry {r.orig}: its seq was changed")
            elif r.guessed:
                why = r.damage or "its content no longer matches its hash"
                self._note(r, ProblemKind.EDITED, f"entry {r.seq} was changed after it was signed: {why}")
            elif r.auth != r.hash:
                self._note(
                    r,
                    ProblemKind.EDITED,
                    f"entry {r.seq} had its hash changed: its signature is for the hash of its content, "
                    "not for the one stored",
                )
            elif r.signed_by != r.key_id:
                self._note(
                    r, ProblemKind.EDITED, f"entry {r.seq} had its key_id changed: it was signed by key {r.signed_by}"
                )
            else:
                self._check_link(r)

    def _check_link(self, r: _Row) -> None:
        assert r.orig is not None
        before = self.keeper.get(r.orig - 1)
        if r.orig == 1 and r.prev != GENESIS_HASH:
            self._note(r, ProblemKind.INSERTED, f"entry {r.seq} is signed as entry 1 but does not start the chain")
        elif before is not None and r.prev != before.auth:
            self._note(
                r,
                ProblemKind.INSERTED,
                f"entry {r.seq} does not chain to entry {r.orig - 1} though both are signed: the chain forked "
                "(was the signing key used by another program?)",
            )

    def _judge_unsigned(self) -> None:
        for r in self.unsigned:
            keeper = self.keeper.get(r.seq)
            if keeper is not None:
                where = "beside it" if keeper.seq == r.seq else f"stored as entry {keeper.seq}"
                self._note(
                    r, ProblemKind.INSERTED, f"entry {r.seq} is not the signed entry {r.seq} ({where}): it was inserted"
                )
            elif self.stored_at[r.seq][0] is not r:
                self._note(r, ProblemKind.INSERTED, f"entry {r.seq} is a second row numbered {r.seq}: it was inserted")
            elif (original := self._original_hash(r)) is not None:
                self._note(
                    r,
                    ProblemKind.EDITED,
                    f"entry {r.seq} was changed and its hash recomputed: its signature is for hash {original[:16]}..., "
                    f"which entry {r.seq + 1} chains to, not for its present content",
                )
            elif not self._chains(r):
                self._note(
                    r,
                    ProblemKind.INSERTED,
                    f"entry {r.seq} does not chain to entry {r.seq - 1}: its prev_hash names no entry before it",
                )
            elif not isinstance(r.key_id, str) or r.key_id not in self.keys:
                self._note(
                    r,
                    ProblemKind.UNKNOWN_KEY,
                    f"entry {r.seq} is signed with key {r.key_id}, which is not among the keys given, so it "
                    "cannot be checked",
                )
            else:
                extra = "" if r.computed == r.hash else ", and its hash does not match its content"
                self._note(
                    r,
                    ProblemKind.BAD_SIGNATURE,
                    f"entry {r.seq} has a signature that does not verify with key {r.key_id}{extra}: it was not "
                    "written by metagate with that key",
                )

    def _original_hash(self, r: _Row) -> str | None:
        """The hash a rewritten row had when signed, if the next entry still chains to it."""
        after = [*self.stored_at.get(r.seq + 1, [])]
        if r.seq + 1 in self.keeper:
            after.append(self.keeper[r.seq + 1])
        for candidate in {a.prev for a in after if isinstance(a.prev, str) and a.prev != r.hash}:
            if _vouching_key(candidate, r.signature, r.key_id, self.keys) is not None:
                return candidate
        return None

    def _chains(self, r: _Row) -> bool:
        if r.seq == 1:
            return r.prev == GENESIS_HASH
        before = [b.hash for b in self.stored_at.get(r.seq - 1, [])]
        if r.seq - 1 in self.keeper:
            before.append(self.keeper[r.seq - 1].auth)
        if before:
            return r.prev in before
        # nothing stored before it: fine if what it names is gone (the gap is the problem),
        # not if it names an entry that stands elsewhere
        return r.prev not in self.by_auth and r.prev not in self.stored_hashes

    def _find_gaps(self) -> None:
        present = set(self.keeper)
        present.update(r.seq for r in self.unsigned if self.noted[r].kind is not ProblemKind.INSERTED)
        last = max(present, default=0)
        end = max(last, self.expected[0] if self.expected else 0)
        bounds = [0, *sorted(present), *([end + 1] if end > last else [])]
        for below, above in pairwise(bounds):
            if above - below < 2:
                continue
            first, final = below + 1, above - 1
            what = f"entry {first} is" if first == final else f"entries {first} to {final} are"
            if final > last:
                ends = f"ends at entry {last}" if last else "is empty"
                where = f"the ledger {ends}, but its head was noted as entry {end}"
            elif first == 1:
                where = f"the ledger begins at entry {final + 1}"
            else:
                where = f"entry {first - 1} is followed by entry {final + 1}"
            self.found.append(LedgerProblem(first, ProblemKind.DELETED, f"{what} missing: {where}"))

    def _check_head(self) -> None:
        if self.expected is None:
            return
        seq, digest = self.expected
        keeper = self.keeper.get(seq)
        if keeper is not None and keeper.auth != digest:
            self.found.append(
                LedgerProblem(
                    seq,
                    ProblemKind.DELETED,
                    f"entry {seq} is not the head noted earlier (hash {digest[:16]}...): the ledger was cut back "
                    "and written again",
                )
            )
