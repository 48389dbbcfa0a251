"""Sealed engine state: a ring checkpoint under a policy holds live flows in the clear, so it is encrypted.

A capture-ring checkpoint stores the flow table of flows still open, and those are ungated
records. With a policy, the checkpoint is sealed with AES-256-GCM under a key derived from
the policy's newest pseudonymization key: it can be restored by the same site after a
restart, and read by nobody without the key. A checkpoint sealed under another key, or
edited, does not open: the error says so instead of restoring garbage.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from policies import KeyRing, PolicyError

_MAGIC = b"MGSEAL1\n"
_NONCE = 12


class StateSeal:
    """Seals and opens engine snapshots under one key."""

    def __init__(self, keys: KeyRing) -> None:
        if not keys.keys:
            raise PolicyError("sealing the ring state needs a pseudonymization key", field="keys")
        newest = keys.keys[-1]
        self.key_id = newest.id
        self._aead = AESGCM(hmac.new(newest.material, b"metagate state seal v1", hashlib.sha256).digest())

    def seal(self, state: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return _MAGIC + self.key_id.encode() + b"\n" + nonce + self._aead.encrypt(nonce, state, self.key_id.encode())

    def open(self, sealed: bytes) -> bytes:
        if not sealed:
            return sealed
        if not sealed.startswith(_MAGIC):
            raise PolicyError("the ring state file is not sealed: it was written without a policy", field="state")
        key_id, _, rest = sealed[len(_MAGIC) :].partition(b"\n")
        if key_id.decode(errors="replace") != self.key_id:
            raise PolicyError(
                f"the ring state was sealed under key {key_id.decode(errors='replace')}, not {self.key_id}",
                field="state",
            )
        try:
            return self._aead.decrypt(rest[:_NONCE], rest[_NONCE:], key_id)
        except InvalidTag as exc:
            raise PolicyError("the ring state file was altered: its seal does not verify", field="state") from exc
