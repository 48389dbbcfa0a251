"""The ledger's Ed25519 keys: key ids, and the PEM files they are kept in.

The signing key is an unencrypted PEM PKCS#8 file, created mode 0600 by
:func:`write_signing_key`; its public half, for auditors, a PEM SubjectPublicKeyInfo file
(:func:`write_public_key`, which OpenSSL reads too). Neither writer ever replaces a file. A
key id is the first 16 hex digits of SHA-256 of the 32-byte raw public key.

Whoever holds the signing key can write any chain: the key stays on the tap, readable by
metagate only; auditors hold the public key. Errors name the file, never key material.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from policies._errors import PolicyError


def public_key_id(key: Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the 32-byte raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def write_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """Create a new signing key in a file only its owner can read; never replaces a file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_new(Path(path), pem, 0o600)
    return key


def write_public_key(path: str | Path, key: Ed25519PublicKey) -> None:
    """Write the public half (PEM SubjectPublicKeyInfo) for auditors; never replaces a file."""
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(Path(path), pem, 0o644)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise PolicyError("already exists; metagate does not replace a key file", path=path) from exc
    except OSError as exc:
        raise PolicyError(f"cannot create the key file ({exc.strerror})", path=path) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)  # the mode exactly, whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise PolicyError(f"cannot write the key file ({exc.strerror})", path=path) from exc


def load_signing_key(path: str | Path) -> Ed25519PrivateKey:
    """The Ed25519 private key of an unencrypted PEM PKCS#8 file."""
    path = Path(path)
    data = _read_key_file(path, "signing key")
    if b"PUBLIC KEY-----" in data:
        raise PolicyError("holds a public key; signing needs the private key", path=path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # cryptography's way of saying "encrypted"
        raise PolicyError("is encrypted; metagate reads unencrypted keys kept mode 0600", path=path) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:  # messages name no key material
        raise PolicyError("is no PEM PKCS#8 private key", path=path) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise PolicyError(f"holds a key of type {_algorithm(key)}; the ledger signs with Ed25519", path=path)
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    """The Ed25519 public key of a PEM SubjectPublicKeyInfo file."""
    path = Path(path)
    data = _read_key_file(path, "public key")
    if b"PRIVATE KEY-----" in data:
        raise PolicyError("holds a private key; give auditors the public key only", path=path)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PolicyError("is no PEM public key", path=path) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PolicyError(f"holds a key of type {_algorithm(key)}; the ledger signs with Ed25519", path=path)
    return key


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise PolicyError(f"no {what} file here", path=path) from exc
    except OSError as exc:
        raise PolicyError(f"cannot read the {what} file ({exc.strerror})", path=path) from exc


def _algorithm(key: object) -> str:
    return type(key).__name__.replace("PrivateKey", "").replace("PublicKey", "")  # RSA, EC, Ed448, ...
