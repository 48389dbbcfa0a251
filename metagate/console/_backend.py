"""What the console's pages stand on: the queue, the ledger, and a sharer that runs beside the pages.

SQLite connections belong to one thread, so every request opens the queue (and, to change
something, the signed ledger) for itself and closes it again; the queue's own transactions
keep concurrent approvals consistent. Pushing to the partner can take a while (timeouts,
backoff), so it never runs inside a request: a request asks for a share run and one worker
thread does it, one run at a time, with the person who asked as the ledger's actor. What the
last run did is kept for the queue page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from metagate._audit import LedgerPlace
from metagate._cli_exchange_setup import exchange_config, queue_path
from metagate.console._config import ConsoleConfig
from policies import ConfigError

if TYPE_CHECKING:
    from exchange import ExchangeConfig, Queue, Transport
    from policies import Ledger, LedgerVerification

TransportFactory = Callable[["ExchangeConfig"], "Transport"]


@dataclass(frozen=True)
class ShareOutcome:
    at: str
    by: str
    delivered: int
    published: tuple[int, ...]
    failed: int
    remaining: int
    error: str | None


class Backend:
    def __init__(self, config: ConsoleConfig, transport: TransportFactory | None = None) -> None:
        self.config = config
        self.queue_path = config.path(config.queue) or queue_path(None)
        self.place = LedgerPlace.resolve(config.path(config.ledger), config.path(config.ledger_key))
        self.exchange_path = config.path(config.exchange)
        self._transport = transport
        self._verified: tuple[tuple[int, ...], LedgerVerification] | None = None
        self._verify_lock = threading.Lock()
        self.sharing = ShareWorker(self)

    def check(self) -> None:
        """Fail at start-up, not at the first click: the ledger must be initialised, the queue readable.

        A missing queue is created empty (as packaging would): the console then shows no items.
        """
        from exchange import Queue

        self.place.open().close()
        Queue(self.queue_path).close()

    # the queue and the ledger -----------------------------------------------------------

    @contextmanager
    def reading(self) -> Iterator[Queue]:
        from exchange import Queue

        if not self.queue_path.exists():
            raise ConfigError(f"no review queue at {self.queue_path}: package some findings first", field="queue")
        with Queue(self.queue_path) as queue:
            yield queue

    @contextmanager
    def writing(self) -> Iterator[Queue]:
        """The queue with its events going to the signed ledger."""
        from exchange import LedgerAudit, Queue

        with self.place.open() as ledger, Queue(self.queue_path, LedgerAudit(ledger)) as queue:
            yield queue

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        from policies import Ledger

        if not self.place.ledger.exists():
            raise ConfigError(f"no audit ledger at {self.place.ledger}: run `metagate audit init`", field="ledger")
        with Ledger(self.place.ledger, None) as opened:
            yield opened

    def verification(self) -> LedgerVerification:
        """verify_ledger with the ledger key's public half; recomputed only when the files changed."""
        from policies import load_public_key, public_key_id, verify_ledger

        files = [self.place.ledger, Path(f"{self.place.ledger}-wal")]
        stamp = tuple(v for f in files if f.exists() for v in (f.stat().st_mtime_ns, f.stat().st_size))
        with self._verify_lock:
            if self._verified is not None and self._verified[0] == stamp:
                return self._verified[1]
            key = load_public_key(self.place.public_key)
            result = verify_ledger(self.place.ledger, {public_key_id(key): key})
            self._verified = (stamp, result)
            return result

    # the partner ------------------------------------------------------------------------

    def exchange(self) -> ExchangeConfig | None:
        """How to reach the partner, None when the console is set up without one."""
        if self.exchange_path is None:
            try:
                return exchange_config(None)
            except ConfigError:
                return None
        return exchange_config(self.exchange_path)

    def share(self, actor: str) -> ShareOutcome:
        """One share run now, in this thread (the worker calls it)."""
        from exchange import PartnerError, Sharer, TaxiiTransport

        at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        config = self.exchange()
        if config is None:
            return ShareOutcome(at, actor, 0, (), 0, 0, "no exchange configuration: nothing can be shared")
        if self._transport is not None:
            transport = self._transport(config)
        else:
            password = config.taxii.password()
            transport = TaxiiTransport(config.taxii, config.taxii.outbound_collection, password=password)
        with self.writing() as queue:
            sharer = Sharer(queue, transport, config.taxii, config.partner, actor)
            try:
                report = sharer.run()
            except PartnerError as exc:
                payload = {"partner": config.partner, "completed": False, **sharer.report.as_dict()}
                queue.event("share", actor, payload, "exchange.share")
                part = sharer.report
                return ShareOutcome(at, actor, part.delivered, tuple(part.published), 0, part.remaining, str(exc))
            finally:
                transport.close()
            queue.event("share", actor, {"completed": True, **report.as_dict()}, "exchange.share")
        published = tuple(report.published)
        return ShareOutcome(at, actor, report.delivered, published, len(report.failed), report.remaining, None)


class ShareWorker:
    """One thread that runs share when asked; asking while it runs makes it run once more after."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.last: ShareOutcome | None = None
        self._wanted: list[str] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._running = False
        self._thread: threading.Thread | None = None

    def request(self, actor: str) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="metagate-console-share", daemon=True)
                self._thread.start()
            self._wanted.append(actor)
            self._cond.notify()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._running or bool(self._wanted)

    def wait_idle(self, timeout: float) -> bool:
        """For tests and shutdown: whether every requested run finished within ``timeout`` seconds."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._running and not self._wanted, timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or bool(self._wanted))
                if self._stopping:
                    return
                actor = self._wanted[0]
                self._wanted.clear()
                self._running = True
            try:
                outcome = self.backend.share(actor)
            except Exception as exc:  # the thread must outlive any failure: shown on the queue page, outbox intact
                at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
                outcome = ShareOutcome(at, actor, 0, (), 0, 0, str(exc))
            with self._cond:
                self.last = outcome
                self._running = False
                self._cond.notify_all()
