"""Review and exchange events into the audit ledger, exactly once, even across a crash.

The queue and the ledger are two SQLite files, so one transaction cannot cover both. An
event is therefore first written to the queue's ``transitions`` table in the same transaction
as the state change it records, with no ledger entry yet; then it is appended to the ledger
(its payload carries the event's ``uid``) and the entry's number written back. If the process
dies in between, the next command that opens the queue settles what is left: an event whose
``uid`` is already in the ledger gets that entry's number, any other is appended then, marked
``"recovered": true``. No state change goes unaudited, and none is audited twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from policies import Ledger

AUTO_APPROVER = "auto-approve"
AUTO_WARNING = "approved WITHOUT human review (--auto-approve: for demos and tests only)"


class Audit(Protocol):
    """Where events are recorded: the signed ledger, or a stand-in in tests."""

    def append(self, kind: str, actor: str, payload: Mapping[str, Any]) -> int:
        """Append one entry; its sequence number."""
        ...

    def append_many(self, entries: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        """Append entries (kind, actor, payload) in order, all or none; their sequence numbers."""
        ...

    def find(self, uid: str) -> int | None:
        """The sequence number of the entry recording event ``uid``, if there is one."""
        ...


class LedgerAudit:
    """The audit ledger as the queue's :class:`Audit` (one ``policies.Ledger``, opened to append)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def append(self, kind: str, actor: str, payload: Mapping[str, Any]) -> int:
        return self.ledger.append(kind, actor, payload).seq

    def append_many(self, entries: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        return [entry.seq for entry in self.ledger.append_many(entries)]

    def find(self, uid: str) -> int | None:
        for entry in self.ledger.entries(contains=uid):
            if entry.payload.get("uid") == uid:
                return entry.seq
        return None


class MemoryAudit:
    """A list of entries, for tests that do not need signatures."""

    def __init__(self) -> None:
        self.entries: list[tuple[int, str, str, dict[str, Any]]] = []

    def append(self, kind: str, actor: str, payload: Mapping[str, Any]) -> int:
        self.entries.append((len(self.entries) + 1, kind, actor, dict(payload)))
        return len(self.entries)

    def append_many(self, entries: Sequence[tuple[str, str, Mapping[str, Any]]]) -> list[int]:
        return [self.append(kind, actor, payload) for kind, actor, payload in entries]

    def find(self, uid: str) -> int | None:
        for seq, _, _, payload in self.entries:
            if payload.get("uid") == uid:
                return seq
        return None

    def kinds(self) -> list[str]:
        return [kind for _, kind, _, _ in self.entries]
