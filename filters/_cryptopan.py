"""Crypto-PAn: prefix-preserving pseudonyms of IPv4 and IPv6 addresses, vectorized.

The scheme of Xu, Fan, Ammar and Moon (2002), bit for bit as the original implementation
(its published vectors are the tests). With k the first 16 bytes of the 32-byte key and the
pad AES_k(last 16 bytes), bit i of a pseudonym is bit i of the address XOR the first bit of
AES_k(the address's first i bits, then the pad's bits from i on). Two addresses sharing a
k-bit prefix share their first k flip bits, so their pseudonyms share a k-bit prefix.

The 32 (IPv4) or 128 (IPv6) blocks of an address depend on the address alone, so the
blocks of a whole chunk of addresses are built with numpy and go through AES in one ECB
call: the cipher runs at OpenSSL speed and Python touches a chunk once, never a bit.

Known limit (Brekne et al., 2005): packet injection plus frequency analysis can recover
addresses, so keys are per partner and rotate. A key never appears in a message or a repr.
"""

from __future__ import annotations

from typing import Final, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from filters._memo import NumberMemo, Words
from filters._pseudonymizer import pseudonymize_distinct, pseudonymize_parsed
from policies import PolicyError
from policies._addresses import ParsedAddresses, format_addresses

_U32: TypeAlias = npt.NDArray[np.uint32]
_U64: TypeAlias = npt.NDArray[np.uint64]

_KEY_BYTES: Final = 32
# AES input per ECB call: 16 MiB of blocks bounds memory, and the calls stay few
_CHUNK_BLOCKS = 1 << 20
_V4_CHUNK = _CHUNK_BLOCKS // 32
_V6_CHUNK = _CHUNK_BLOCKS // 64  # addresses or upper halves, 64 blocks each


def _prefix_masks(bits: int, positions: int, offset: int = 0) -> list[int]:
    """Masks of the first ``clamp(i - offset, 0, bits)`` bits of a ``bits``-bit word, i < positions."""
    full = (1 << bits) - 1
    return [(full << (bits - n)) & full for n in (min(max(i - offset, 0), bits) for i in range(positions))]


def _wire32(words: _U32) -> _U32:
    """The words' bytes in network order under a native type: AND and OR work byte by
    byte, so they commute with the byte order, and AES reads the bytes as they lie."""
    return words.astype(">u4").view(np.uint32)


def _wire64(words: _U64) -> _U64:
    return words.astype(">u8").view(np.uint64)


class CryptoPan:
    """Crypto-PAn under one 32-byte key (the first 16 for AES, the last 16 for the pad)."""

    method: Final = "cryptopan"

    def __init__(self, key: bytes, key_id: str) -> None:
        if not isinstance(key, bytes | bytearray):
            raise PolicyError(f"Crypto-PAn key {key_id!r} must be bytes, not {type(key).__name__}")
        if len(key) != _KEY_BYTES:
            raise PolicyError(
                f"Crypto-PAn key {key_id!r} must be {_KEY_BYTES} bytes (16 for AES, 16 for the pad), not {len(key)}"
            )
        self._key_id = key_id
        # what this key has already pseudonymized, across batches (bounded)
        self._memo4, self._memo6 = NumberMemo(1), NumberMemo(2)
        self._aes = algorithms.AES(bytes(key[:16]))
        pad = self._encryptor().update(bytes(key[16:]))
        pad4 = np.frombuffer(pad, dtype=">u4").astype(np.uint32)
        pad_hi, pad_lo = np.frombuffer(pad, dtype=">u8").astype(np.uint64)
        # IPv4 block i: (first i address bits | the pad after them) in the first word, the
        # pad's last 96 bits after it; only that first word depends on the address
        mask4 = np.array(_prefix_masks(32, 32), dtype=np.uint32)
        self._mask4 = _wire32(mask4)
        self._fill4 = _wire32(pad4[0] & ~mask4)
        self._tail4 = np.frombuffer(pad[4:], dtype=np.uint32)
        # IPv6 block i: the same over 128 bits, as two 64-bit words
        mask6_hi = np.array(_prefix_masks(64, 128), dtype=np.uint64)
        mask6_lo = np.array(_prefix_masks(64, 128, offset=64), dtype=np.uint64)
        self._mask6_hi, self._mask6_lo = _wire64(mask6_hi), _wire64(mask6_lo)
        self._fill6_hi, self._fill6_lo = _wire64(pad_hi & ~mask6_hi), _wire64(pad_lo & ~mask6_lo)

    @property
    def key_id(self) -> str:
        return self._key_id

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"CryptoPan(key_id={self._key_id!r})"

    def _encryptor(self) -> CipherContext:
        # one context a call: contexts are stateful and not to be shared between threads
        return Cipher(self._aes, modes.ECB()).encryptor()

    def anonymize_ipv4(self, addresses: _U32) -> _U32:
        """Crypto-PAn of IPv4 addresses given as integers."""
        a = np.ascontiguousarray(addresses, dtype=np.uint32)
        out = np.empty_like(a)
        encryptor = self._encryptor()
        # one buffer for every chunk: the pad's tail is written once, the first words per chunk
        blocks = np.empty((min(len(a), _V4_CHUNK), 32, 4), dtype=np.uint32)
        blocks[:, :, 1:] = self._tail4
        for s in range(0, len(a), _V4_CHUNK):
            chunk = a[s : s + _V4_CHUNK]
            n = len(chunk)
            # (address & mask) | fill, computed on the network-order words in place
            np.bitwise_or(_wire32(chunk)[:, None] & self._mask4, self._fill4, out=blocks[:n, :, 0])
            cipher = np.frombuffer(encryptor.update(blocks[:n].view(np.uint8).data), dtype=np.uint8).reshape(n, 32, 16)
            # bit i of the flips is the first bit of block i's ciphertext
            flips = np.packbits(cipher[:, :, 0] >= 0x80, axis=1).view(">u4").ravel()
            out[s : s + n] = chunk ^ flips
        return out

    def anonymize_ipv6(self, hi: _U64, lo: _U64) -> tuple[_U64, _U64]:
        """Crypto-PAn of IPv6 addresses given as upper and lower 64 bits.

        The first 64 blocks of an address depend on its upper half alone, so they are
        encrypted once per distinct upper half (a /64 holds many addresses), the last 64
        once per address."""
        h = np.ascontiguousarray(hi, dtype=np.uint64)
        lw = np.ascontiguousarray(lo, dtype=np.uint64)
        upper, where = np.unique(h, return_inverse=True)
        return h ^ self._flips6(upper, None)[where.ravel()], lw ^ self._flips6(h, lw)

    def _flips6(self, h: _U64, lw: _U64 | None) -> _U64:
        """Flip bits 0-63 of upper halves ``h`` (``lw`` None), or bits 64-127 of addresses (h, lw)."""
        out = np.empty(len(h), np.uint64)
        encryptor = self._encryptor()
        half = slice(0, 64) if lw is None else slice(64, 128)
        mask_hi, fill_hi = self._mask6_hi[half], self._fill6_hi[half]
        mask_lo, fill_lo = self._mask6_lo[half], self._fill6_lo[half]
        blocks = np.empty((min(len(h), _V6_CHUNK), 64, 2), dtype=np.uint64)
        for s in range(0, len(h), _V6_CHUNK):
            ch = h[s : s + _V6_CHUNK]
            n = len(ch)
            np.bitwise_or(_wire64(ch)[:, None] & mask_hi, fill_hi, out=blocks[:n, :, 0])
            if lw is None:  # blocks 0-63 hold no bit of the lower half: the pad's
                blocks[:n, :, 1] = fill_lo
            else:
                np.bitwise_or(_wire64(lw[s : s + n])[:, None] & mask_lo, fill_lo, out=blocks[:n, :, 1])
            cipher = np.frombuffer(encryptor.update(blocks[:n].view(np.uint8).data), dtype=np.uint8).reshape(n, 64, 16)
            out[s : s + n] = np.packbits(cipher[:, :, 0] >= 0x80, axis=1).view(">u8").ravel()
        return out

    def _v4_words(self, words: Words) -> Words:
        return (self.anonymize_ipv4(words[0].astype(np.uint32)).astype(np.uint64),)

    def _v6_words(self, words: Words) -> Words:
        return self.anonymize_ipv6(words[0], words[1])

    def pseudonymize(self, addresses: pa.Array | pa.ChunkedArray) -> pa.StringArray:
        """Crypto-PAn of a column of address text; nulls stay null, a non-address raises."""
        return pseudonymize_distinct(addresses, self._distinct, self.method)

    def pseudonymize_parsed(self, parsed: ParsedAddresses) -> pa.StringArray:
        """The same for addresses the gate has already parsed."""
        return pseudonymize_parsed(parsed, self._distinct, self.method)

    def pseudonymize_each(self, parsed: ParsedAddresses) -> pa.StringArray:
        """Crypto-PAn of addresses given once each, all valid (the gate's memo asks so): no memo here."""
        is4, is6 = parsed.version == 4, parsed.version == 6
        v4 = np.zeros_like(parsed.v4)
        hi, lo = np.zeros_like(parsed.v6_hi), np.zeros_like(parsed.v6_lo)
        v4[is4] = self.anonymize_ipv4(parsed.v4[is4])
        hi[is6], lo[is6] = self.anonymize_ipv6(parsed.v6_hi[is6], parsed.v6_lo[is6])
        return format_addresses(ParsedAddresses(parsed.version, v4, hi, lo))

    def _distinct(self, parsed: ParsedAddresses) -> pa.StringArray:
        is4, is6 = parsed.version == 4, parsed.version == 6
        v4 = np.zeros_like(parsed.v4)
        hi, lo = np.zeros_like(parsed.v6_hi), np.zeros_like(parsed.v6_lo)
        (out4,) = self._memo4.apply((parsed.v4[is4].astype(np.uint64),), self._v4_words)
        v4[is4] = out4.astype(np.uint32)
        hi[is6], lo[is6] = self._memo6.apply((parsed.v6_hi[is6], parsed.v6_lo[is6]), self._v6_words)
        return format_addresses(ParsedAddresses(parsed.version, v4, hi, lo))
