"""``metagate pull``: the partner's feed read from where we stopped, checked, kept, handed to detection.

Pages are read with ``added_after`` (a persisted cursor) and ``next``. Each object is checked
with stix2-validator (default mode); an invalid one is refused with a log line naming the
partner, the object and the errors, recorded, and the rest of the page is kept. A page's
objects and the advanced cursor are written in one transaction.

The cursor: objects come in ascending ``date_added`` order, so once a page whose last object
was added at *L* is stored, every object added before *L* is held (objects added at *L*
itself may continue on the next page). The cursor therefore becomes *L* minus one
microsecond after a page that has more behind it, and *L* at the end of the feed. A run that
dies anywhere reads a few objects again at most; they are recognised (same id and version)
and not stored twice. A partner that sends no ``X-TAXII-Date-Added-Last`` header leaves the
cursor where it is: the whole feed is read each time, and what is held is skipped.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from exchange._config import ExchangeConfig
from exchange._errors import PartnerError
from exchange._ids import identity_id, parse_stamp, taxii_stamp
from exchange._inbound import Inbound
from exchange._queue import Queue
from exchange._stix import dumps
from exchange._tlp import level_of
from exchange._transport import FailureKind, Transport, TransportError
from exchange._validate import StixValidator

_US = timedelta(microseconds=1)


@dataclass
class PullReport:
    partner: str
    collection: str
    cursor_before: str | None = None
    cursor_after: str | None = None
    pages: int = 0
    received: int = 0
    new: int = 0
    refused: int = 0
    ours: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    indicators: int = 0
    indicators_file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "collection": self.collection,
            "cursor_before": self.cursor_before,
            "cursor_after": self.cursor_after,
            "pages": self.pages,
            "received": self.received,
            "new": self.new,
            "already_held": self.received - self.new - self.refused - self.ours,
            "ours_skipped": self.ours,
            "refused": self.refused,
            "indicators": self.indicators,
            "indicators_file": self.indicators_file,
        }


class Puller:
    """The partner's collection ``config.taxii.inbound_collection`` into the inbound store."""

    def __init__(
        self,
        queue: Queue,
        transport: Transport,
        config: ExchangeConfig,
        *,
        validator: StixValidator | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.partner = config.partner
        self.collection = config.taxii.inbound_collection or config.taxii.outbound_collection
        self.ours = identity_id(self.partner, config.producer.name)
        self.inbound = Inbound(queue, self.partner)
        self.transport = transport
        self.validator = validator or StixValidator()
        self.sleep = sleep
        self.jitter = jitter
        self.log = log or (lambda line: None)

    def run(self, indicators_file: str | Path | None = None) -> PullReport:
        settings = self.config.taxii
        report = PullReport(self.partner, self.collection)
        cursor = report.cursor_before = self.inbound.cursor(self.collection)
        token: str | None = None
        listing = cursor  # the added_after of the listing being paged: a next token is only good with it
        warned = False
        while True:
            try:
                page = self._read(listing, token, settings.page_size)
            except _ExpiredPage:
                self.log(f"partner {self.partner}: the page token expired; reading on from the cursor {cursor}")
                token, listing = None, cursor
                continue
            report.pages += 1
            accepted, refused = [], []
            for obj in page.objects:
                report.received += 1
                verdict = self.validator.verdict(obj)
                object_id = str(obj.get("id")) if isinstance(obj, dict) else None
                version = str(obj.get("modified") or obj.get("created")) if isinstance(obj, dict) else None
                if not verdict.valid:
                    reason = "; ".join(verdict.errors)
                    self.log(f"partner {self.partner}: refused {object_id} ({version}): not valid STIX 2.1: {reason}")
                    refused.append((object_id, version, reason))
                    report.refused += 1
                    report.refusals[verdict.errors[0].split(": ", 1)[-1][:80]] += 1
                    continue
                if obj.get("created_by_ref") == self.ours or obj.get("id") == self.ours:
                    report.ours += 1  # our own objects, echoed back: not the partner's to hold
                    continue
                marks = obj.get("object_marking_refs", [])
                level = level_of(marks if isinstance(marks, list) else [])
                accepted.append((obj, dumps(obj), level or self.config.inbound.unmarked_tlp, level is not None))
            new_cursor = cursor
            if page.last_added:
                moment = parse_stamp(page.last_added)
                candidate = taxii_stamp(moment - _US) if page.more else page.last_added
                if cursor is None or parse_stamp(candidate) > parse_stamp(cursor):
                    new_cursor = candidate
            elif page.objects and not warned:
                warned = True
                self.log(f"partner {self.partner}: no X-TAXII-Date-Added-Last header; the cursor cannot advance")
            report.new += self.inbound.store_page(self.collection, accepted, refused, new_cursor)
            cursor = new_cursor
            if not page.more or not page.next:
                break
            token = page.next
        report.cursor_after = cursor
        if indicators_file is not None:
            report.indicators = self.inbound.write_indicators(indicators_file)
            report.indicators_file = str(indicators_file)
        return report

    def _read(self, cursor: str | None, token: str | None, limit: int) -> Any:
        settings = self.config.taxii
        tries = 0
        while True:
            tries += 1
            try:
                return self.transport.get_objects(added_after=cursor, next=token, limit=limit)
            except TransportError as exc:
                if token is not None and exc.status in (400, 404):
                    raise _ExpiredPage() from exc
                client_error = exc.kind is FailureKind.HTTP and exc.status is not None and 400 <= exc.status < 500
                if (client_error and exc.status != 429) or tries >= settings.max_attempts:
                    why = "refused us" if exc.status in (401, 403) else f"gave up after {tries} attempts"
                    raise PartnerError(
                        f"reading collection {self.collection}: {why}: {exc.message}",
                        partner=self.partner,
                        status=exc.status,
                        retryable=not client_error,
                    ) from exc
                base = min(settings.max_backoff, settings.backoff * 2.0 ** (tries - 1))
                delay = base * (0.5 + 0.5 * self.jitter())
                if exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, settings.max_retry_after))
                self.log(
                    f"partner {self.partner}: retry {tries}/{settings.max_attempts - 1} in {delay:.1f} s "
                    f"after {exc.message}"
                )
                self.sleep(delay)


class _ExpiredPage(Exception):
    pass
