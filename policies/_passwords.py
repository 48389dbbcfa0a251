"""Password hashes for the accounts of the console and of our TAXII server.

scrypt from the standard library, stored as one self-describing string so that a site's
configuration carries the hash, never the password, and the cost can be raised later
without breaking the hashes already issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from policies._errors import ConfigError

_SCHEME = "scrypt"
# n=2**14, r=8, p=1 costs about 16 MiB and 30 ms: slow for a guesser, fine for a login.
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` with a fresh random salt (base64, no padding)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(password, salt, _N, _R, _P, _HASH_BYTES)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; compared in constant time."""
    n, r, p, salt, expected = _parse(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p, len(expected)), expected)


def check_password_hash(stored: str, where: str) -> None:
    """Refuse a configuration value that is not a hash this module made (a clear password, say)."""
    try:
        _parse(stored)
    except ValueError as exc:
        raise ConfigError(f"{where}: not a password hash ({exc}); make one with `metagate hash-password`") from exc


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != _SCHEME:
        raise ValueError(f"expected {_SCHEME}$n$r$p$salt$hash")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError as exc:
        raise ValueError("malformed scrypt parameters") from exc
    if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or len(digest) < 16:
        raise ValueError("scrypt parameters out of range")
    return n, r, p, salt, digest


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=length, maxmem=64 * 1024 * 1024)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
