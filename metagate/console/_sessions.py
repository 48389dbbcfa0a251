"""Server-side sessions, CSRF tokens, and the limit on failed logins.

A session is a random id (256 bits) in an HttpOnly, SameSite=Strict cookie (Secure over TLS);
everything else, the user, the CSRF token, pending messages, stays in this process's memory.
A restart therefore logs everybody out, which fails closed; logging out ends the session on
the server, so a copied cookie is worthless afterwards. Sessions end after an idle time and
after a maximum age whatever the activity.

Failed logins are counted per user name and per client address in a sliding window; once
either has reached the limit, every further attempt (even with the right password) is
answered 429 with ``Retry-After`` until the oldest failure leaves the window.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

_MAX_SESSIONS = 10_000
_MAX_TRACKED = 100_000  # keys in the login limiter; beyond it the quietest are forgotten


@dataclass
class Session:
    id: str
    user: str
    csrf: str
    created: float
    seen: float
    messages: list[tuple[str, str]] = field(default_factory=list)  # (kind: ok | error, text)

    def say(self, kind: str, text: str) -> None:
        self.messages.append((kind, text))

    def take_messages(self) -> list[tuple[str, str]]:
        taken, self.messages = self.messages, []
        return taken


class Sessions:
    def __init__(self, idle_seconds: float, max_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle, self.max_age, self.clock = idle_seconds, max_seconds, clock
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def create(self, user: str) -> Session:
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            if len(self._by_id) >= _MAX_SESSIONS:  # drop the least recently seen
                oldest = min(self._by_id.values(), key=lambda s: s.seen)
                del self._by_id[oldest.id]
            self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return None
            if now - session.seen > self.idle or now - session.created > self.max_age:
                del self._by_id[session_id]
                return None
            session.seen = now
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._by_id.pop(session_id, None)

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._by_id.values() if now - s.seen > self.idle or now - s.created > self.max_age]:
            del self._by_id[sid]


def same_token(given: str | None, expected: str) -> bool:
    """A CSRF token compared in constant time; a missing one never matches."""
    return bool(given) and secrets.compare_digest(str(given).encode(), expected.encode())


class LoginLimiter:
    """At most ``attempts`` failures per key within ``window`` seconds."""

    def __init__(self, attempts: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts, self.window, self.clock = attempts, window, clock
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, *keys: str) -> int | None:
        """Seconds until an attempt under these keys is allowed again; None when it is allowed now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._prune(key, now)
                if times is not None and len(times) >= self.attempts:
                    wait = max(wait, times[0] + self.window - now)
        return max(1, int(wait + 0.999)) if wait > 0 else None

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= _MAX_TRACKED:
                for key in [k for k, v in self._failures.items() if not v or v[-1] < now - self.window]:
                    del self._failures[key]
                if len(self._failures) >= _MAX_TRACKED:
                    self._failures.pop(next(iter(self._failures)))
            for key in keys:
                self._failures.setdefault(key, deque(maxlen=self.attempts)).append(now)

    def _prune(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
