"""The TAXII edge: what share and pull need from a collection, and an in-memory one for tests.

:class:`Transport` is the interface; exchange._taxii implements it over HTTP with
taxii2-client, :class:`MemoryCollection` in memory. A transport makes one request per call
and never retries: trying again (and whether it is safe to) is decided above it, by share
and pull. A failure is a :class:`TransportError` saying what kind it was (no connection, no
answer in time, an HTTP status with its ``Retry-After``, an answer that is not TAXII).

:class:`MemoryCollection` behaves as medallion does where it matters: versions are
``modified`` (else ``created``); a version already present is reported as a failure and not
stored twice; objects are listed in the order they were added, ``added_after`` is strict and
pages end with ``more`` and ``next``. ``faults`` is a list of callables consulted before each
request, which may raise a TransportError or return a status to replace the real one (a
partial failure).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from exchange._ids import parse_stamp, taxii_stamp


class FailureKind(StrEnum):
    CONNECT = "connect"  # no connection: the request certainly did not arrive
    TIMEOUT = "timeout"  # sent (perhaps), no answer in time
    HTTP = "http"  # an answer with an error status
    PROTOCOL = "protocol"  # an answer that is not what TAXII says


class TransportError(Exception):
    def __init__(
        self, kind: FailureKind, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class StatusReport:
    """A TAXII status resource: per object version, delivered, failed (with the server's message) or pending."""

    id: str
    complete: bool
    successes: tuple[tuple[str, str], ...] = ()
    failures: tuple[tuple[str, str, str], ...] = ()
    pendings: tuple[tuple[str, str], ...] = ()
    total: int = 0
    success_count: int = 0


@dataclass(frozen=True)
class Page:
    """One page of a collection's objects and its ``X-TAXII-Date-Added-*`` headers."""

    objects: tuple[dict[str, Any], ...]
    more: bool
    next: str | None
    first_added: str | None
    last_added: str | None


class Transport(Protocol):
    """One TAXII 2.1 collection of the partner."""

    def max_content_length(self) -> int: ...

    def add_objects(self, body: bytes) -> StatusReport: ...

    def get_status(self, status_id: str) -> StatusReport: ...

    def get_objects(self, *, added_after: str | None, next: str | None, limit: int) -> Page: ...

    def present(self, object_ids: Sequence[str]) -> set[tuple[str, str]]:
        """The (id, version) pairs the collection holds for these ids."""
        ...

    def close(self) -> None: ...


Fault = Callable[[str, Any], StatusReport | None]


@dataclass
class _Stored:
    obj: dict[str, Any]
    version: str
    added: datetime


@dataclass
class MemoryCollection:
    """A TAXII collection in memory, with fault injection; see the module docstring."""

    content_limit: int = 10 * 1024 * 1024
    page_limit: int = 100
    faults: list[Fault] = field(default_factory=list)
    stored: list[_Stored] = field(default_factory=list)
    statuses: dict[str, StatusReport] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    _pages: dict[str, list[_Stored]] = field(default_factory=dict)
    _clock: datetime = field(default_factory=lambda: datetime(2025, 1, 1, tzinfo=UTC))

    def _request(self, what: str, argument: Any = None) -> StatusReport | None:
        self.requests.append(what)
        for fault in list(self.faults):
            replaced = fault(what, argument)
            if replaced is not None:
                return replaced
        return None

    def max_content_length(self) -> int:
        self._request("api_root")
        return self.content_limit

    def add_objects(self, body: bytes) -> StatusReport:
        if len(body) > self.content_limit:
            raise TransportError(FailureKind.HTTP, "413 Content-Length exceeds the maximum", status=413)
        replaced = self._request("add", body)
        envelope = json.loads(body)
        self._clock += timedelta(microseconds=1)
        now = self._clock
        successes, failures = [], []
        for obj in envelope.get("objects", []):
            version = str(obj.get("modified") or obj.get("created") or taxii_stamp(now))
            if any(s.obj["id"] == obj["id"] and s.version == version for s in self.stored):
                failures.append((obj["id"], version, "Unable to process object"))
                continue
            self.stored.append(_Stored(obj, version, now))
            successes.append((obj["id"], version))
        status = StatusReport(
            str(uuid.uuid4()),
            True,
            tuple(successes),
            tuple(failures),
            (),
            len(successes) + len(failures),
            len(successes),
        )
        if replaced is not None:
            status = replaced
        self.statuses[status.id] = status
        return status

    def get_status(self, status_id: str) -> StatusReport:
        self._request("status", status_id)
        if status_id not in self.statuses:
            raise TransportError(FailureKind.HTTP, f"404 no status {status_id}", status=404)
        return self.statuses[status_id]

    def get_objects(self, *, added_after: str | None, next: str | None, limit: int) -> Page:
        self._request("objects", (added_after, next))
        limit = min(limit, self.page_limit)
        if next is not None:
            rest = self._pages.pop(next, None)
            if rest is None:
                raise TransportError(FailureKind.HTTP, "400 'next' not valid", status=400)
        else:
            after = parse_stamp(added_after) if added_after else None
            rest = [s for s in self.stored if after is None or s.added > after]
        page, rest = rest[:limit], rest[limit:]
        token = None
        if rest:
            token = str(uuid.uuid4())
            self._pages[token] = rest
        first = taxii_stamp(page[0].added) if page else None
        last = taxii_stamp(page[-1].added) if page else None
        return Page(tuple(json.loads(json.dumps(s.obj)) for s in page), bool(rest), token, first, last)

    def present(self, object_ids: Sequence[str]) -> set[tuple[str, str]]:
        self._request("manifest", tuple(object_ids))
        wanted = set(object_ids)
        return {(s.obj["id"], s.version) for s in self.stored if s.obj["id"] in wanted}

    def close(self) -> None:
        return None

    def count(self, object_id: str, version: str | None = None) -> int:
        """How many times an object (version) is stored: 1 is right, 2 is a duplicate."""
        return sum(1 for s in self.stored if s.obj["id"] == object_id and (version is None or s.version == version))

    def add_raw(self, obj: dict[str, Any]) -> None:
        """Put an object in the collection directly (the partner publishing its own)."""
        self._clock += timedelta(microseconds=1)
        version = str(obj.get("modified") or obj.get("created"))
        self.stored.append(_Stored(obj, version, self._clock))
