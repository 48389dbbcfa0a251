"""``metagate share``: the outbox pushed to the partner's collection, every version exactly once.

One run, in order:

1. The API root's ``max_content_length`` bounds every request (and ``max_objects_per_request``).
2. Rows left ``sending`` by an earlier run that died may have reached the partner: the partner
   is asked (its manifest) which of those versions it holds; those are delivered, the rest go
   back to the queue.
3. Batches of due rows are sent, each marked ``sending`` (and synced) before its request. A
   row that was tried before is first looked up at the partner, and only sent if missing: a
   request whose answer was lost (timeout, connection cut, server gone) is never repeated for
   what already arrived. The partner holding a version exactly once follows from that, however
   the process is killed, and from the partner's own rule that a version (id + ``modified``)
   it holds is not added again.
4. A 202 answer's status resource is polled until complete. Successes are delivered;
   a failed object is looked up (medallion reports a version it already holds as a failure),
   and if it is really missing it is retried *alone*; refused alone again and again, it is
   set ``failed`` with the partner's message (``share --retry-failed`` puts it back).
5. Failures of a request: no connection, no answer, 5xx, 429: retried with exponential
   backoff and jitter, never sooner than ``Retry-After`` says (up to ``max_retry_after``),
   at most ``max_attempts`` times a run; 401 and 403 stop the run (a password does not get
   better by retrying); 413 halves the request size; another 4xx splits a batch into single
   objects, and a single object refused so is ``failed``.

Every message names the partner and the objects concerned. Nothing is lost: whatever is not
delivered stays in the outbox for the next run.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from exchange._config import TaxiiSettings
from exchange._errors import PartnerError, name_objects
from exchange._outbox import Outbox, Row, envelope, object_ids
from exchange._queue import Queue
from exchange._transport import FailureKind, StatusReport, Transport, TransportError

_T = TypeVar("_T")
_ENVELOPE_BYTES = len(b'{"objects":[]}')
_NOT_AUTHORIZED = (401, 403)


@dataclass
class ShareReport:
    partner: str
    delivered: int = 0
    found_there: int = 0
    requests: int = 0
    retries: int = 0
    published: list[int] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    remaining: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "partner": self.partner,
            "delivered": self.delivered,
            "found_at_partner": self.found_there,
            "requests": self.requests,
            "retries": self.retries,
            "items_published": self.published,
            "failed": [{"id": i, "version": v, "error": e} for i, v, e in self.failed],
            "remaining": self.remaining,
        }


class _GiveUp(Exception):
    """A request was tried ``max_attempts`` times this run; the rows stay queued."""

    def __init__(self, error: PartnerError) -> None:
        self.error = error


class Sharer:
    """One partner's outbox pushed through one transport."""

    def __init__(
        self,
        queue: Queue,
        transport: Transport,
        settings: TaxiiSettings,
        partner: str,
        actor: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.outbox = Outbox(queue, partner)
        self.transport = transport
        self.settings = settings
        self.partner = partner
        self.actor = actor
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self.log = log or (lambda line: None)
        self.report = ShareReport(partner)
        self._tries: dict[int, int] = {}  # attempts this run, by outbox row

    def run(self) -> ShareReport:
        """Push everything due; PartnerError when the partner cannot be reached or refuses us (rows stay)."""
        try:
            limit = self._retrying(self.transport.max_content_length, "reading the API root", ())
            max_bytes = min(limit, self.settings.max_content_length or limit) - _ENVELOPE_BYTES
            max_objects = self.settings.max_objects_per_request
            self._recover()
            while True:
                rows = self.outbox.due(self.clock(), max_objects, max_bytes)
                if not rows:
                    due = self.outbox.next_due()
                    if due is None:
                        break
                    self.sleep(max(0.0, due - self.clock()))
                    continue
                rows = self._not_there_yet(rows)
                if not rows:
                    continue
                if len(rows) == 1 and len(rows[0].json) > max_bytes:
                    self._fail(
                        rows, f"the object is {len(rows[0].json):,} bytes; the partner takes at most {max_bytes:,}"
                    )
                    continue
                shrink = self._send(rows)
                if shrink:
                    max_bytes = max(1024, max_bytes // 2)
                    max_objects = max(1, max_objects // 2)
        except _GiveUp as stop:
            raise stop.error from None
        finally:
            self.report.failed = self.outbox.failed()
            self.report.remaining = self.outbox.open_rows()
        return self.report

    # steps -----------------------------------------------------------------------------

    def _recover(self) -> None:
        rows = self.outbox.in_flight()
        if not rows:
            return
        self.log(f"{len(rows)} object(s) were being sent when an earlier run stopped: asking the partner which it has")
        self.outbox.requeue(rows, due=0.0)  # attempts > 0: each is looked up before it is sent again

    def _not_there_yet(self, rows: list[Row]) -> list[Row]:
        """Rows tried before that the partner already holds are delivered; the others are returned."""
        tried = [r for r in rows if r.attempts > 0]
        if not tried:
            return rows
        held = self._retrying(
            lambda: self.transport.present(object_ids(tried)), "asking what it holds", object_ids(tried)
        )
        there = [r for r in tried if (r.object_id, r.version) in held]
        if there:
            self._deliver(there, None, "found at the partner")
            self.report.found_there += len(there)
        return [r for r in rows if r not in there]

    def _send(self, rows: list[Row]) -> bool:
        """One request; True when the partner wants smaller requests (413)."""
        ids = object_ids(rows)
        self.outbox.mark_sending(rows)
        self.report.requests += 1
        try:
            status = self.transport.add_objects(envelope(rows))
        except TransportError as exc:
            return self._failed_request(rows, exc)
        self.outbox.set_status(rows, status.id)
        try:
            final = self._poll(status, ids)
        except _GiveUp:
            self.outbox.requeue(rows, due=self.clock())  # looked up before they go again
            raise
        self._settle(rows, final)
        return False

    def _failed_request(self, rows: list[Row], exc: TransportError) -> bool:
        ids = object_ids(rows)
        status = exc.status
        if status in _NOT_AUTHORIZED:
            self.outbox.requeue(rows, due=0.0)
            raise _GiveUp(
                PartnerError(
                    f"refused us: {exc.message}; check taxii.user and the password",
                    partner=self.partner,
                    object_ids=ids,
                    status=status,
                    retryable=False,
                )
            )
        if status == 413:
            if len(rows) > 1:
                self.log(f"the partner found a request too large ({exc.message}): sending smaller ones")
                self.outbox.requeue(rows, due=0.0)
                return True
            self._fail(rows, exc.message)
            return False
        if exc.kind is FailureKind.HTTP and status is not None and 400 <= status < 500 and status != 429:
            if len(rows) > 1:
                self.log(f"the partner refused a request ({exc.message}): sending its {len(rows)} objects one by one")
                self.outbox.requeue(rows, due=0.0, error=exc.message, alone=True)
            else:
                self._fail(rows, exc.message)
            return False
        self._again(rows, exc)
        return False

    def _again(self, rows: Sequence[Row], exc: TransportError) -> None:
        """A retryable failure of a request carrying ``rows``: back in the queue after a backoff, or give up."""
        tries = max(self._tries.get(r.seq, 0) for r in rows) + 1
        for r in rows:
            self._tries[r.seq] = tries
        ids = object_ids(rows)
        if tries >= self.settings.max_attempts:
            self.outbox.requeue(rows, due=0.0, error=exc.message)
            raise _GiveUp(
                PartnerError(
                    f"gave up after {tries} attempts: {exc.message}; the objects stay in the outbox",
                    partner=self.partner,
                    object_ids=ids,
                    status=exc.status,
                )
            )
        delay = self._delay(tries, exc.retry_after)
        self.report.retries += 1
        self.log(
            f"retry {tries}/{self.settings.max_attempts - 1} in {delay:.1f} s after {exc.message} ({name_objects(ids)})"
        )
        self.outbox.requeue(rows, due=self.clock() + delay, error=exc.message)

    def _poll(self, status: StatusReport, ids: Sequence[str]) -> StatusReport:
        deadline = self.clock() + self.settings.status_timeout
        while not status.complete and self.clock() < deadline:
            self.sleep(self.settings.status_interval)
            read = functools.partial(self.transport.get_status, status.id)
            status = self._retrying(read, f"reading status {status.id}", ids)
        return status

    def _settle(self, rows: list[Row], status: StatusReport) -> None:
        by_version = {(r.object_id, r.version): r for r in rows}
        succeeded = [by_version[p] for p in status.successes if p in by_version]
        if status.complete and not status.failures and not status.pendings and status.success_count >= len(rows):
            succeeded = rows  # a complete status that lists no details: every object was taken
        self._deliver(succeeded, status.id, "status")
        self.report.delivered += len(succeeded)
        unsure = [r for r in rows if r not in succeeded]
        if not unsure:
            return
        messages = {(i, v): m for i, v, m in status.failures}
        held = self._retrying(
            lambda: self.transport.present(object_ids(unsure)), "asking what it holds", object_ids(unsure)
        )
        there = [r for r in unsure if (r.object_id, r.version) in held]
        self._deliver(there, status.id, "found at the partner")
        self.report.found_there += len(there)
        missing = [r for r in unsure if r not in there]
        for row in missing:
            message = messages.get((row.object_id, row.version)) or (
                "still pending" if not status.complete else "not taken, no reason given"
            )
            tries = self._tries.get(row.seq, 0) + 1
            self._tries[row.seq] = tries
            if row.alone and tries >= self.settings.max_attempts:
                self._fail([row], f"refused {tries} times: {message}")
                continue
            self.log(f"{row.object_id} ({row.version}) not taken: {message}; it will be sent alone")
            self.outbox.requeue([row], due=self.clock() + self._delay(tries, None), error=message, alone=True)

    # helpers ---------------------------------------------------------------------------

    def _deliver(self, rows: Sequence[Row], status_id: str | None, how: str) -> None:
        published = self.outbox.deliver(rows, actor=self.actor, status_id=status_id, how=how)
        self.report.published += published

    def _fail(self, rows: Sequence[Row], message: str) -> None:
        for row in rows:
            self.log(f"FAILED: partner {self.partner} refuses {row.object_id} ({row.version}): {message}")
        self.outbox.fail(rows, f"partner {self.partner}: {message}")

    def _delay(self, tries: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter (half fixed, half random), and never sooner than Retry-After."""
        base = min(self.settings.max_backoff, self.settings.backoff * 2.0 ** (tries - 1))
        delay = float(base * (0.5 + 0.5 * self.jitter()))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.max_retry_after))
        return delay

    def _retrying(self, request: Callable[[], _T], what: str, ids: Sequence[str]) -> _T:
        """A request that is safe to repeat (a read), retried as the settings say."""
        tries = 0
        while True:
            tries += 1
            try:
                return request()
            except TransportError as exc:
                retryable = exc.status not in _NOT_AUTHORIZED and not (
                    exc.kind is FailureKind.HTTP
                    and exc.status is not None
                    and 400 <= exc.status < 500
                    and exc.status != 429
                )
                if not retryable or tries >= self.settings.max_attempts:
                    why = "refused us" if exc.status in _NOT_AUTHORIZED else f"gave up after {tries} attempts"
                    raise _GiveUp(
                        PartnerError(
                            f"{what}: {why}: {exc.message}",
                            partner=self.partner,
                            object_ids=ids,
                            status=exc.status,
                            retryable=retryable,
                        )
                    ) from exc
                delay = self._delay(tries, exc.retry_after)
                self.report.retries += 1
                self.log(f"{what}: retry {tries}/{self.settings.max_attempts - 1} in {delay:.1f} s after {exc.message}")
                self.sleep(delay)
