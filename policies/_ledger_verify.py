"""Verifying a ledger file: what was edited, deleted, inserted or reordered, and what is unsigned.

A :class:`~policies._ledger.Ledger`'s triggers stop mistakes, not a tamperer. :func:`verify`
is what finds tampering: it recomputes every hash, checks every signature and follows the
chain, and says for each entry concerned whether it was edited, deleted, inserted or
reordered, or carries a bad or unknown signature (:class:`ProblemKind`). The signatures say
which hashes are genuine, the chain where they belong; a renumbered entry is placed by
trying the seq its chain neighbours imply, since seq is part of the hash.

Limit: a chain proves the entries present and their order, not that none came after the
last one. Cutting off the newest entries, or removing the file, leaves a valid shorter chain.
So note the head (:attr:`LedgerVerification.head`: seq and hash) somewhere the tap cannot
rewrite (the transparency report, the oversight body's records) and pass it back as
``expected_head``: entries up to the noted head are then proven present, later ones are not.
Whoever holds the signing key can write any chain (see ``policies._ledger_keys``).

:func:`verify` is exported from ``policies`` as :data:`verify_ledger`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import accumulate, pairwise
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from policies._errors import ConfigError, PolicyError
from policies._ledger import _SELECT, _connect
from policies._ledger_format import _HEX64, GENESIS_HASH, JsonInput, _parse_payload, canonical_json

_SEARCH_BUDGET = 1_000_000  # seq guesses for renumbered entries; a bound, not a tuning knob


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


verify_ledger = verify  # the name the policies front door exports: verify alone says too little there


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
