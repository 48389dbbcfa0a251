"""Keyed HMAC pseudonyms: unlinkable to the address without the key, and no prefix kept.

The pseudonym of an address is HMAC-SHA256 under the key of its version byte (4 or 6)
followed by its 4 or 16 network-order bytes, so an IPv4 address and an IPv6 address never
share a pseudonym. The text is ``h4-`` or ``h6-`` and the first 16 bytes of the digest in
lower-case base32 without padding (26 characters): it cannot be mistaken for an address,
and 128 bits leave collisions out of reach at any traffic volume.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from filters._pseudonymizer import pseudonymize_distinct, pseudonymize_parsed
from policies import PolicyError
from policies._addresses import ParsedAddresses

_U8: TypeAlias = npt.NDArray[np.uint8]

_MIN_KEY_BYTES: Final = 16
_DIGEST_BYTES = 16
_BASE32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
_TEXT_BYTES = 3 + 26  # "h4-" + base32 of 128 bits


class HmacPseudonymizer:
    """HMAC-SHA256 pseudonyms under one key of at least 16 bytes."""

    method: Final = "hmac"

    def __init__(self, key: bytes, key_id: str) -> None:
        if not isinstance(key, bytes | bytearray):
            raise PolicyError(f"HMAC key {key_id!r} must be bytes, not {type(key).__name__}")
        if len(key) < _MIN_KEY_BYTES:
            raise PolicyError(f"HMAC key {key_id!r} must be at least {_MIN_KEY_BYTES} bytes, not {len(key)}")
        # the key schedule once; each address then costs a copy of the keyed state
        self._keyed = hmac.new(bytes(key), digestmod=hashlib.sha256)
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"HmacPseudonymizer(key_id={self._key_id!r})"

    def pseudonymize(self, addresses: pa.Array | pa.ChunkedArray) -> pa.StringArray:
        """HMAC pseudonyms of a column of address text; nulls stay null, a non-address raises."""
        return pseudonymize_distinct(addresses, self._distinct, self.method)

    def pseudonymize_parsed(self, parsed: ParsedAddresses) -> pa.StringArray:
        """The same for addresses the gate has already parsed."""
        return pseudonymize_parsed(parsed, self._distinct, self.method)

    def pseudonymize_each(self, parsed: ParsedAddresses) -> pa.StringArray:
        """HMAC pseudonyms of addresses given once each, all valid (the gate's memo asks so)."""
        return self._distinct(parsed)

    def digests(self, parsed: ParsedAddresses) -> _U8:
        """The first 16 digest bytes of each address, one row each (version 4 or 6 only)."""
        out = np.zeros((len(parsed), _DIGEST_BYTES), dtype=np.uint8)
        for version, width in ((4, 4), (6, 16)):
            rows = np.flatnonzero(parsed.version == version)
            if not len(rows):
                continue
            message = np.empty((len(rows), 1 + width), dtype=np.uint8)
            message[:, 0] = version
            if version == 4:
                message[:, 1:] = parsed.v4[rows].astype(">u4")[:, None].view(np.uint8)
            else:
                words = np.stack([parsed.v6_hi[rows], parsed.v6_lo[rows]], axis=1).astype(">u8")
                message[:, 1:] = words.view(np.uint8)
            raw, step, keyed = message.tobytes(), 1 + width, self._keyed
            digests = b"".join(_digest(keyed, raw[i : i + step]) for i in range(0, len(raw), step))
            out[rows] = np.frombuffer(digests, dtype=np.uint8).reshape(-1, _DIGEST_BYTES)
        return out

    def _distinct(self, parsed: ParsedAddresses) -> pa.StringArray:
        n = len(parsed)
        text = np.empty((n, _TEXT_BYTES), dtype=np.uint8)
        text[:, 0] = ord("h")
        text[:, 1] = np.where(parsed.version == 6, ord("6"), ord("4"))
        text[:, 2] = ord("-")
        text[:, 3:] = _base32(self.digests(parsed))
        offsets = np.arange(0, _TEXT_BYTES * (n + 1), _TEXT_BYTES, dtype=np.int32)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text))


def _digest(keyed: hmac.HMAC, message: bytes) -> bytes:
    h = keyed.copy()
    h.update(message)
    return h.digest()[:_DIGEST_BYTES]


def _base32(data: _U8) -> _U8:
    """RFC 4648 base32 of each 16-byte row, lower case, without the padding: 26 characters."""
    bits = np.unpackbits(data, axis=1)
    bits = np.concatenate([bits, np.zeros((len(bits), 2), dtype=np.uint8)], axis=1)  # 128 -> 130 bits
    symbols = bits.reshape(len(bits), 26, 5) @ np.array([16, 8, 4, 2, 1], dtype=np.uint8)
    return _BASE32[symbols]
