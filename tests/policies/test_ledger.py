"""The audit ledger: round trips, concurrent appenders, and a tamperer editing the SQLite file."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import ConfigError, PolicyError
from policies._ledger import Ledger
from policies._ledger_format import GENESIS_HASH, canonical_json, entry_hash
from policies._ledger_keys import load_public_key, load_signing_key, public_key_id, write_public_key, write_signing_key
from policies._ledger_verify import LedgerVerification, ProblemKind, verify

START = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


class Clock:
    """A frozen clock that moves one second a call."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        moment = self.now
        self.now += timedelta(seconds=1)
        return moment


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def keys(key: Ed25519PrivateKey) -> dict[str, Ed25519PublicKey]:
    return {public_key_id(key.public_key()): key.public_key()}


@pytest.fixture
def ledger_path(tmp_path: Path, key: Ed25519PrivateKey) -> Path:
    """A ledger of six entries, written and closed as metagate leaves it."""
    path = tmp_path / "audit.db"
    with Ledger(path, key, clock=Clock()) as ledger:
        for n in range(1, 7):
            ledger.append("gate.run" if n % 2 else "review.approve", "metagate", {"run": n, "records_out": 10 * n})
    return path


def rows(path: Path) -> dict[int, dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return {row["seq"]: dict(row) for row in conn.execute("SELECT * FROM ledger ORDER BY seq")}
    finally:
        conn.close()


def tamper(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Edit the file as a tamperer with the sqlite3 module would: the triggers go first."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER ledger_no_update")
    conn.execute("DROP TRIGGER ledger_no_delete")
    for sql, args in statements:
        conn.execute(sql, args)
    conn.commit()
    conn.close()


def forged(
    seq: int, prev: str, signer: Ed25519PrivateKey, *, key_id: str | None = None, payload: dict[str, Any] | None = None
) -> tuple[str, tuple[object, ...]]:
    """An INSERT of a well-formed row: correct hash, signed by whoever the tamperer is."""
    at, body = "2025-01-31T13:00:00.000000Z", payload or {"run": 99, "records_out": 0}
    digest = entry_hash(seq, at, "gate.run", "metagate", body, prev)
    signature = signer.sign(bytes.fromhex(digest)).hex()
    kid = key_id or public_key_id(signer.public_key())
    values = (seq, at, "gate.run", "metagate", canonical_json(body).decode(), prev, digest, signature, kid)
    return "INSERT INTO ledger VALUES (?,?,?,?,?,?,?,?,?)", values


def found(result: LedgerVerification) -> list[tuple[int | None, str]]:
    return [(p.seq, str(p.kind)) for p in result.problems]


def message(result: LedgerVerification, seq: int) -> str:
    return " | ".join(p.message for p in result.problems if p.seq == seq)


# --- writing and reading ------------------------------------------------------------------


def test_append_read_round_trip(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with Ledger(tmp_path / "audit.db", key, clock=Clock()) as ledger:
        first = ledger.append("gate.run", "metagate", {"policy": "jp-acd", "counts": {"dropped": {"domestic": 3}}})
        second = ledger.append("review.approve", "analyst.kato", {"object": "indicator--1", "ids": (1, 2)})
        third = ledger.append("retention.apply", "metagate", {"note": 'say "hi" — 日本'})
        assert [first.seq, second.seq, third.seq] == [1, 2, 3]
        assert first.at == "2025-01-31T12:00:00.000000Z"
        assert second.timestamp == START + timedelta(seconds=1)
        assert first.prev_hash == GENESIS_HASH
        assert second.prev_hash == first.hash and third.prev_hash == second.hash
        assert second.payload == {"object": "indicator--1", "ids": [1, 2]}  # as a reader gets it back
        assert first.hash == entry_hash(1, first.at, "gate.run", "metagate", first.payload, GENESIS_HASH)
        key.public_key().verify(bytes.fromhex(third.signature), bytes.fromhex(third.hash))
        assert first.key_id == public_key_id(key.public_key()) == ledger.key_id
        assert len(first.key_id) == 16

        assert list(ledger.entries()) == [first, second, third]
        assert ledger.head() == third
        assert [e.seq for e in ledger.entries(kind="gate.run")] == [1]
        assert [e.seq for e in ledger.entries(actor="metagate")] == [1, 3]
        assert [e.seq for e in ledger.entries(contains="domestic")] == [1]  # a key, nested
        assert [e.seq for e in ledger.entries(contains="indicator--")] == [2]  # part of a value
        assert [e.seq for e in ledger.entries(contains='"hi" — 日')] == [3]  # quotes and non-ASCII
        assert [e.seq for e in ledger.entries(contains="jp-acd", kind="review.approve")] == []
        assert [e.seq for e in ledger.entries(contains="payload")] == []  # column names are no content


def test_entries_pages_through_a_long_ledger(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with Ledger(tmp_path / "audit.db", key) as ledger:
        for n in range(1001):  # two full pages of 500 and one entry more
            ledger.append("gate.run", "metagate", {"n": n, "odd": bool(n % 2)})
        assert [e.seq for e in ledger.entries()] == list(range(1, 1002))
        assert len(list(ledger.entries(contains="true"))) == 500


def test_chain_survives_reopen_and_read_only_cannot_append(
    ledger_path: Path, key: Ed25519PrivateKey, keys: dict[str, Ed25519PublicKey]
) -> None:
    before = rows(ledger_path)[6]
    with Ledger(ledger_path, key) as ledger:
        entry = ledger.append("gate.run", "metagate", {"run": 7})
    assert (entry.seq, entry.prev_hash) == (7, before["hash"])
    with Ledger(ledger_path, None) as reader:
        assert reader.read_only and reader.key_id is None
        assert [e.seq for e in reader.entries()] == list(range(1, 8))
        with pytest.raises(PolicyError, match="read-only") as caught:
            reader.append("gate.run", "metagate", {})
        assert caught.value.path == str(ledger_path)
    result = verify(ledger_path, keys)
    assert result.ok and result.entries == 7 and result.problems == []
    assert result.head == (7, entry.hash)


def test_refused_payloads_append_nothing(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    with Ledger(tmp_path / "audit.db", key) as ledger:
        ledger.append("gate.run", "metagate", {"ok": 1})
        for payload, field in [
            ({"seconds": 1.5}, "payload.seconds"),
            ({"counts": {"x": [1, float("nan")]}}, "payload.counts.x[1]"),
            ({"big": 2**60}, "payload.big"),
            ({"when": START}, "payload.when"),
            ({"by_port": {443: 1}}, "payload.by_port"),
        ]:
            with pytest.raises(PolicyError) as caught:
                ledger.append("gate.run", "metagate", payload)  # type: ignore[arg-type]
            assert caught.value.field == field
        for kind, actor in [("Gate Run", "metagate"), ("gate.", "metagate"), ("gate.run", ""), ("gate.run", " x")]:
            with pytest.raises(PolicyError):
                ledger.append(kind, actor, {})
        head = ledger.head()
        assert head is not None and head.seq == 1


def test_an_auditor_recomputes_hashes_and_signatures_with_other_tools(
    ledger_path: Path, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    # the recipe of the module docstring, written out with nothing of metagate
    for row in rows(ledger_path).values():
        body = {k: row[k] for k in ("seq", "at", "kind", "actor", "prev_hash")}
        body["payload"] = json.loads(row["payload"])
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert hashlib.sha256(text.encode()).hexdigest() == row["hash"]
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert rows(ledger_path)[1]["key_id"] == hashlib.sha256(raw).hexdigest()[:16]
    if shutil.which("openssl") is None:
        pytest.skip("no openssl to check a signature with")
    write_public_key(tmp_path / "ledger.pub", key.public_key())
    row = rows(ledger_path)[4]
    (tmp_path / "hash.bin").write_bytes(bytes.fromhex(row["hash"]))
    (tmp_path / "sig.bin").write_bytes(bytes.fromhex(row["signature"]))
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "ledger.pub", "-rawin"]
    good = subprocess.run([*command, "-in", "hash.bin", "-sigfile", "sig.bin"], cwd=tmp_path, capture_output=True)
    assert good.returncode == 0, good.stderr
    (tmp_path / "hash.bin").write_bytes(bytes.fromhex(rows(ledger_path)[3]["hash"]))
    bad = subprocess.run([*command, "-in", "hash.bin", "-sigfile", "sig.bin"], cwd=tmp_path, capture_output=True)
    assert bad.returncode != 0


def _append_many(path: str, key_path: str, actor: str, count: int, start: Any) -> None:
    key = load_signing_key(key_path)
    start.wait(60)  # both create the new file at once ...
    with Ledger(path, key) as ledger:
        start.wait(60)  # ... and both append at once
        for n in range(count):
            ledger.append("gate.run", actor, {"n": n})


def test_two_processes_appending_keep_one_chain(tmp_path: Path) -> None:
    key = write_signing_key(tmp_path / "ledger.key")
    path = tmp_path / "audit.db"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    workers = [
        context.Process(
            target=_append_many, args=(str(path), str(tmp_path / "ledger.key"), actor, 60, start), daemon=True
        )
        for actor in ("tap.a", "tap.b")
    ]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert [worker.exitcode for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    stored = rows(path)
    assert list(stored) == list(range(1, 121))
    assert all(stored[s]["prev_hash"] == stored[s - 1]["hash"] for s in range(2, 121))
    assert sorted(r["actor"] for r in stored.values()) == ["tap.a"] * 60 + ["tap.b"] * 60
    result = verify(path, {public_key_id(key.public_key()): key.public_key()})
    assert result.ok and result.entries == 120


def test_the_table_refuses_plain_updates_and_deletes(ledger_path: Path) -> None:
    conn = sqlite3.connect(ledger_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE ledger SET actor = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM ledger WHERE seq = 6")
    conn.close()


# --- tampering ----------------------------------------------------------------------------


def test_untouched_ledger_verifies(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    result = verify(ledger_path, keys, expected_head=(6, rows(ledger_path)[6]["hash"]))
    assert result.ok and result.entries == 6 and result.head == (6, rows(ledger_path)[6]["hash"])
    assert verify(ledger_path, keys, expected_head=(3, rows(ledger_path)[3]["hash"])).ok  # an older head is fine


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Ed25519PublicKey]]:
    key = Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("template") / "audit.db"
    with Ledger(path, key, clock=Clock()) as ledger:
        for n in range(1, 7):
            ledger.append("gate.run", "metagate", {"run": n, "note": "é"})
    return path, {public_key_id(key.public_key()): key.public_key()}


COLUMNS = ["at", "kind", "actor", "payload", "prev_hash", "hash", "signature", "key_id"]


@settings(max_examples=60)
@given(seq=st.integers(1, 6), column=st.sampled_from(COLUMNS), value=st.text(max_size=80))
def test_any_change_to_one_column_is_found_at_that_entry(
    template: tuple[Path, dict[str, Ed25519PublicKey]], seq: int, column: str, value: str
) -> None:
    path, keys = template
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "audit.db"
        shutil.copy(path, copy)
        if rows(copy)[seq][column] == value:
            return
        tamper(copy, (f"UPDATE ledger SET {column} = ? WHERE seq = ?", (value, seq)))
        result = verify(copy, keys)
        assert [p.seq for p in result.problems] == [seq], result.problems


def test_edited_payload(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(ledger_path, ("UPDATE ledger SET payload = ? WHERE seq = 3", ('{"records_out":0,"run":3}',)))
    result = verify(ledger_path, keys)
    assert not result.ok
    assert found(result) == [(3, "edited")]
    assert "entry 3 was changed after it was signed" in message(result, 3)


def test_payload_rewritten_out_of_canonical_form(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    # the same JSON meaning with a duplicate key first: readers disagree on it, so it is an edit
    tamper(ledger_path, ("UPDATE ledger SET payload = ? WHERE seq = 2", ('{"run":0,"records_out":20,"run":2}',)))
    result = verify(ledger_path, keys)
    assert found(result) == [(2, "edited")]
    assert "canonical" in message(result, 2)


def test_edited_with_hash_recomputed_but_no_key(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    row = rows(ledger_path)[3]
    payload = {"records_out": 0, "run": 3}
    digest = entry_hash(3, row["at"], row["kind"], row["actor"], payload, row["prev_hash"])
    tamper(ledger_path, ("UPDATE ledger SET payload = ?, hash = ? WHERE seq = 3", (json.dumps(payload), digest)))
    result = verify(ledger_path, keys)
    assert found(result) == [(3, "edited")]  # its old signature still matches the hash entry 4 chains to
    assert "hash recomputed" in message(result, 3)


def test_last_entry_rewritten_without_key_fails_its_signature(
    ledger_path: Path, keys: dict[str, Ed25519PublicKey]
) -> None:
    row = rows(ledger_path)[6]
    digest = entry_hash(6, row["at"], row["kind"], "analyst.x", json.loads(row["payload"]), row["prev_hash"])
    tamper(ledger_path, ("UPDATE ledger SET actor = 'analyst.x', hash = ? WHERE seq = 6", (digest,)))
    assert found(verify(ledger_path, keys)) == [(6, "bad_signature")]


def test_hash_column_changed(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(ledger_path, ("UPDATE ledger SET hash = ? WHERE seq = 2", ("ab" * 32,)))
    result = verify(ledger_path, keys)
    assert found(result) == [(2, "edited")]
    assert "hash changed" in message(result, 2)


def test_deleted_middle_row(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(ledger_path, ("DELETE FROM ledger WHERE seq = 3", ()))
    result = verify(ledger_path, keys)
    assert found(result) == [(3, "deleted")]
    assert message(result, 3) == "entry 3 is missing: entry 2 is followed by entry 4"


def test_deleted_run_and_first_row(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(ledger_path, ("DELETE FROM ledger WHERE seq IN (1, 3, 4)", ()))
    result = verify(ledger_path, keys)
    assert found(result) == [(1, "deleted"), (3, "deleted")]
    assert message(result, 1) == "entry 1 is missing: the ledger begins at entry 2"
    assert message(result, 3) == "entries 3 to 4 are missing: entry 2 is followed by entry 5"


def test_deleted_last_row_is_seen_only_against_a_noted_head(
    ledger_path: Path, keys: dict[str, Ed25519PublicKey]
) -> None:
    noted = verify(ledger_path, keys).head
    assert noted is not None and noted[0] == 6
    tamper(ledger_path, ("DELETE FROM ledger WHERE seq = 6", ()))
    assert verify(ledger_path, keys).ok  # the limit the docstring states
    result = verify(ledger_path, keys, expected_head=noted)
    assert found(result) == [(6, "deleted")]
    assert "ends at entry 5, but its head was noted as entry 6" in message(result, 6)


def test_tail_cut_and_written_again_against_a_noted_head(
    ledger_path: Path, key: Ed25519PrivateKey, keys: dict[str, Ed25519PublicKey]
) -> None:
    noted = verify(ledger_path, keys).head
    assert noted is not None
    tamper(ledger_path, ("DELETE FROM ledger WHERE seq >= 5", ()))
    with Ledger(ledger_path, key) as ledger:  # metagate goes on appending, unaware
        ledger.append("gate.run", "metagate", {"run": 5})
        ledger.append("gate.run", "metagate", {"run": 6})
    assert verify(ledger_path, keys).ok
    result = verify(ledger_path, keys, expected_head=noted)
    assert found(result) == [(6, "deleted")]
    assert "cut back" in message(result, 6)


def test_deleted_row_with_the_rest_renumbered(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(
        ledger_path,
        ("DELETE FROM ledger WHERE seq = 3", ()),
        ("UPDATE ledger SET seq = -(seq - 1) WHERE seq > 3", ()),
        ("UPDATE ledger SET seq = -seq WHERE seq < 0", ()),
    )
    result = verify(ledger_path, keys)
    assert found(result) == [(3, "edited"), (3, "deleted"), (4, "edited"), (5, "edited")]
    assert "entry 3 was signed as entry 4: its seq was changed" in message(result, 3)
    assert "entry 3 is missing" in message(result, 3)


def test_inserted_forged_row(ledger_path: Path, keys: dict[str, Ed25519PublicKey], key: Ed25519PrivateKey) -> None:
    # make room at seq 3, then a row with a correct hash, "signed" under the real key id
    tamperer = Ed25519PrivateKey.generate()
    prev = rows(ledger_path)[2]["hash"]
    real_id = public_key_id(key.public_key())
    tamper(
        ledger_path,
        ("UPDATE ledger SET seq = -(seq + 1) WHERE seq >= 3", ()),
        ("UPDATE ledger SET seq = -seq WHERE seq < 0", ()),
        forged(3, prev, tamperer, key_id=real_id),
    )
    result = verify(ledger_path, keys)
    assert found(result) == [(3, "inserted"), (4, "edited"), (5, "edited"), (6, "edited"), (7, "edited")]
    assert "entry 3 is not the signed entry 3 (stored as entry 4)" in message(result, 3)
    assert "entry 7 was signed as entry 6" in message(result, 7)


def test_forged_row_at_the_end(ledger_path: Path, keys: dict[str, Ed25519PublicKey], key: Ed25519PrivateKey) -> None:
    tamperer = Ed25519PrivateKey.generate()
    head = rows(ledger_path)[6]["hash"]
    tamper(ledger_path, forged(7, head, tamperer, key_id=public_key_id(key.public_key())))
    assert found(verify(ledger_path, keys)) == [(7, "bad_signature")]


def test_forged_row_under_an_unknown_key(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamperer = Ed25519PrivateKey.generate()
    tamper(ledger_path, forged(7, rows(ledger_path)[6]["hash"], tamperer))
    result = verify(ledger_path, keys)
    assert found(result) == [(7, "unknown_key")]
    assert public_key_id(tamperer.public_key()) in message(result, 7)


def test_forged_row_that_does_not_chain(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(ledger_path, forged(7, rows(ledger_path)[3]["hash"], Ed25519PrivateKey.generate()))
    result = verify(ledger_path, keys)
    assert found(result) == [(7, "inserted")]
    assert "does not chain to entry 6" in message(result, 7)


def test_forged_row_far_beyond_the_end(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    # it names entry 6 as its predecessor, so the seqs between are no deletion
    far = 10**12
    tamper(ledger_path, forged(far, rows(ledger_path)[6]["hash"], Ed25519PrivateKey.generate()))
    assert found(verify(ledger_path, keys)) == [(far, "inserted")]


def test_key_id_column_changed(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(ledger_path, ("UPDATE ledger SET key_id = ? WHERE seq = 5", ("0123456789abcdef",)))
    result = verify(ledger_path, keys)
    assert found(result) == [(5, "edited")]
    assert f"signed by key {next(iter(keys))}" in message(result, 5)


def test_replayed_copy_of_a_genuine_row(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(
        ledger_path,
        (
            "INSERT INTO ledger SELECT 7, at, kind, actor, payload, prev_hash, hash, signature, key_id "
            "FROM ledger WHERE seq = 2",
            (),
        ),
    )
    result = verify(ledger_path, keys)
    assert found(result) == [(7, "inserted")]
    assert "copy of entry 2" in message(result, 7)


def test_swapped_rows(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamper(
        ledger_path,
        ("UPDATE ledger SET seq = 0 WHERE seq = 3", ()),
        ("UPDATE ledger SET seq = 3 WHERE seq = 4", ()),
        ("UPDATE ledger SET seq = 4 WHERE seq = 0", ()),
    )
    result = verify(ledger_path, keys)
    assert found(result) == [(3, "reordered"), (4, "reordered")]
    assert "entry 3 was signed as entry 4" in message(result, 3)


def _recompute_chain(path: Path, signer: Ed25519PrivateKey, key_id: str) -> None:
    """What a tamperer without our key does to hide an edit: every hash and signature anew."""
    stored = rows(path)
    stored[3]["payload"] = '{"records_out":0,"run":3}'
    prev, statements = GENESIS_HASH, []
    for seq, row in stored.items():
        digest = entry_hash(seq, row["at"], row["kind"], row["actor"], json.loads(row["payload"]), prev)
        signature = signer.sign(bytes.fromhex(digest)).hex()
        sql = "UPDATE ledger SET payload = ?, prev_hash = ?, hash = ?, signature = ?, key_id = ? WHERE seq = ?"
        statements.append((sql, (row["payload"], prev, digest, signature, key_id, seq)))
        prev = digest
    tamper(path, *statements)


def test_chain_recomputed_with_another_key(ledger_path: Path, keys: dict[str, Ed25519PublicKey]) -> None:
    tamperer = Ed25519PrivateKey.generate()
    _recompute_chain(ledger_path, tamperer, public_key_id(tamperer.public_key()))
    assert found(verify(ledger_path, keys)) == [(s, "unknown_key") for s in range(1, 7)]


def test_chain_recomputed_under_the_real_key_id(
    ledger_path: Path, key: Ed25519PrivateKey, keys: dict[str, Ed25519PublicKey]
) -> None:
    _recompute_chain(ledger_path, Ed25519PrivateKey.generate(), public_key_id(key.public_key()))
    result = verify(ledger_path, keys)
    assert found(result) == [(s, "bad_signature") for s in range(1, 7)]
    assert "does not verify with key" in message(result, 1)


def test_rotated_keys(ledger_path: Path, key: Ed25519PrivateKey, keys: dict[str, Ed25519PublicKey]) -> None:
    successor = Ed25519PrivateKey.generate()
    with Ledger(ledger_path, successor) as ledger:
        ledger.append("gate.run", "metagate", {"run": 7})
    assert found(verify(ledger_path, keys)) == [(7, "unknown_key")]
    both = {**keys, public_key_id(successor.public_key()): successor.public_key()}
    assert verify(ledger_path, both).ok


def test_empty_ledger_and_a_noted_head(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "audit.db"
    Ledger(path, key).close()
    result = verify(path, {})
    assert result.ok and result.entries == 0 and result.head is None
    assert Ledger(path, None).head() is None
    cut = verify(path, {}, expected_head=(2, "cd" * 32))
    assert found(cut) == [(1, "deleted")]
    assert "the ledger is empty" in message(cut, 1)
    for bad in [(0, "cd" * 32), (2, "CD" * 32), (2, "cd")]:
        with pytest.raises(ConfigError) as caught:
            verify(path, {}, expected_head=bad)
        assert caught.value.field == "expected_head"


# --- files that are not what they should be -----------------------------------------------


@pytest.fixture
def other_database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "users.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    conn.close()
    yield path


def test_a_database_of_another_application_is_no_ledger(
    other_database: Path, key: Ed25519PrivateKey, keys: dict[str, Ed25519PublicKey]
) -> None:
    before = other_database.read_bytes()
    for signer in (key, None):
        with pytest.raises(PolicyError, match="not a metagate ledger: an SQLite database of another") as caught:
            Ledger(other_database, signer)
        assert caught.value.path == str(other_database)
    with pytest.raises(PolicyError, match="not a metagate ledger") as caught:
        verify(other_database, keys)
    assert caught.value.path == str(other_database)
    assert other_database.read_bytes() == before  # not turned into a ledger, not switched to WAL


def test_a_text_file_and_a_missing_file(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, but long enough to have a header " * 4)
    with pytest.raises(PolicyError, match="not a metagate ledger") as caught:
        Ledger(text, key)
    assert caught.value.path == str(text)
    with pytest.raises(PolicyError, match="does not exist") as caught:
        Ledger(tmp_path / "none.db", None)
    assert caught.value.path == str(tmp_path / "none.db")
    with pytest.raises(PolicyError, match="does not exist"):
        verify(tmp_path / "none.db", {})
    with pytest.raises(PolicyError, match="cannot open") as caught:
        Ledger(tmp_path / "no" / "such" / "dir.db", key)
    assert not (tmp_path / "none.db").exists()


# --- keys ---------------------------------------------------------------------------------


def test_write_and_load_keys(tmp_path: Path) -> None:
    key = write_signing_key(tmp_path / "ledger.key")
    assert stat.S_IMODE((tmp_path / "ledger.key").stat().st_mode) == 0o600
    loaded = load_signing_key(tmp_path / "ledger.key")
    assert public_key_id(loaded.public_key()) == public_key_id(key.public_key())
    before = (tmp_path / "ledger.key").read_bytes()
    with pytest.raises(PolicyError, match="already exists") as caught:
        write_signing_key(tmp_path / "ledger.key")
    assert caught.value.path == str(tmp_path / "ledger.key")
    assert (tmp_path / "ledger.key").read_bytes() == before
    write_public_key(tmp_path / "ledger.pub", key.public_key())
    assert public_key_id(load_public_key(tmp_path / "ledger.pub")) == public_key_id(key.public_key())
    with pytest.raises(PolicyError, match="already exists"):
        write_public_key(tmp_path / "ledger.pub", key.public_key())


def test_key_files_that_are_wrong(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    with pytest.raises(PolicyError, match="no signing key file") as caught:
        load_signing_key(missing)
    assert caught.value.path == str(missing)
    with pytest.raises(PolicyError, match="no public key file"):
        load_public_key(missing)

    ed448 = tmp_path / "ed448.key"
    pem = Ed448PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ed448.write_bytes(pem)
    with pytest.raises(PolicyError, match="holds a key of type Ed448; the ledger signs with Ed25519") as caught:
        load_signing_key(ed448)
    assert caught.value.path == str(ed448)
    body = [line for line in pem.decode().splitlines() if "-----" not in line]
    assert not any(line in str(caught.value) for line in body)  # no key material in the message

    key = write_signing_key(tmp_path / "ledger.key")
    write_public_key(tmp_path / "ledger.pub", key.public_key())
    with pytest.raises(PolicyError, match="holds a public key"):
        load_signing_key(tmp_path / "ledger.pub")
    with pytest.raises(PolicyError, match="holds a private key"):
        load_public_key(tmp_path / "ledger.key")

    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(PolicyError, match="is encrypted"):
        load_signing_key(encrypted)

    garbage = tmp_path / "garbage.key"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(PolicyError, match="is no PEM PKCS#8 private key") as caught:
        load_signing_key(garbage)
    assert "bm90IGEga2V5" not in str(caught.value)


def test_problem_kinds_are_the_plain_strings_the_cli_prints() -> None:
    kinds = ["edited", "deleted", "inserted", "reordered", "bad_signature", "unknown_key"]
    assert [str(kind) for kind in ProblemKind] == kinds
    assert [ProblemKind(kind) for kind in kinds] == list(ProblemKind)


def test_a_batch_is_chained_in_order_and_all_or_nothing(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path, key) as ledger:
        ledger.append("gate.run", "metagate", {"n": 0})
        made = ledger.append_many([("review.queue", "alice", {"n": i}) for i in range(1, 4)])
        assert [e.seq for e in made] == [2, 3, 4] and made[0].prev_hash == next(ledger.entries()).hash
        with pytest.raises(PolicyError, match="no actor"):
            ledger.append_many([("review.queue", "alice", {"n": 5}), ("review.queue", " bad", {"n": 6})])
        assert [e.payload["n"] for e in ledger.entries()] == [0, 1, 2, 3]
        assert ledger.append_many([]) == []
    assert verify(path, {public_key_id(key.public_key()): key.public_key()}).ok
