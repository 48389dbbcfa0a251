"""The partner accounts of our TAXII server: HTTP Basic against scrypt hashes, permissions per collection.

An account belongs to one partner and names the collections it may read and write
(exchange._server_config). A password is checked against its scrypt hash (policies), which
costs about 30 ms of CPU by design; a client paging through thousands of objects would pay
that on every request, so a password that verified is remembered for a few minutes as an
HMAC under a key made at start-up (never the password itself, never across a restart). A
wrong password is never remembered and always pays the full cost; an unknown user pays it
too, against a dummy hash, so that the answer's timing does not tell which users exist.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exchange._server_config import ServerSettings
from policies import hash_password, verify_password

_CACHE_SIZE = 1024


@dataclass(frozen=True)
class Account:
    user: str
    partner: str
    read: frozenset[str]
    write: frozenset[str]

    def may(self, collection: str) -> bool:
        return collection in self.read or collection in self.write


class Accounts:
    """Who may do what, from the ``server:`` section; :meth:`authenticate` checks a Basic credential."""

    def __init__(
        self,
        settings: ServerSettings,
        partner: str,
        *,
        remember_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hashes = {a.user: a.password_hash for a in settings.accounts}
        self.accounts = {
            a.user: Account(a.user, a.partner or partner, frozenset(a.read), frozenset(a.write))
            for a in settings.accounts
        }
        self._key = secrets.token_bytes(32)
        self._dummy = hash_password(secrets.token_urlsafe(16))
        self._remember = remember_seconds
        self._clock = clock
        self._verified: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def authenticate(self, user: str, password: str) -> Account | None:
        """The account when the password is its own; None otherwise."""
        mark = hmac.new(self._key, user.encode() + b"\0" + password.encode(), hashlib.sha256).digest()
        now = self._clock()
        with self._lock:
            until = self._verified.get(mark)
        if until is not None and until > now and user in self.accounts:
            return self.accounts[user]
        stored = self._hashes.get(user)
        good = verify_password(password, stored if stored is not None else self._dummy)
        if not good or stored is None:
            return None
        with self._lock:
            if len(self._verified) >= _CACHE_SIZE:
                self._verified = {k: t for k, t in self._verified.items() if t > now}
                if len(self._verified) >= _CACHE_SIZE:
                    self._verified.clear()
            self._verified[mark] = now + self._remember
        return self.accounts[user]
