"""Keyed flow ids: a Community ID is an unkeyed hash of the 5-tuple, so it must be re-keyed.

A Community ID (``1:`` + base64 of 20 SHA-1 bytes) can be reversed for a pseudonymized
address by trying every candidate address: the other endpoint, the ports and the protocol
are in the record. Wherever the gate pseudonymizes, it replaces each flow id (and each
tunnel parent id, so the links survive) by ``p1:`` + base64 of AES-128 of the first 16 hash
bytes under a subkey derived from the pseudonymization key. AES is a permutation: distinct
flows stay distinct, the same flow gets the same id in every run under the same key, and
without the key nothing links it back to the tuple. The last 4 hash bytes are dropped:
kept, they alone would let a guessed tuple be confirmed.

All ids of a column are checked and decoded in one pass of a compiled kernel (_fastgate.py),
encrypted in one ECB call and encoded in one more pass.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from filters._fastgate import decode_ids, encode_ids
from filters._textaddr import string_buffers, valid_bytes
from policies import GateViolation

PREFIX = "p1:"
_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)
_OUT_LEN = len(PREFIX) + 22  # 16 bytes in base64, without the padding


def flow_id_subkey(key: bytes) -> bytes:
    """The AES key for flow ids, derived so that no two uses share key material."""
    return hmac.new(key, b"metagate flow-id v1", hashlib.sha256).digest()[:16]


def rekey_flow_ids(ids: pa.Array, subkey: bytes) -> pa.Array:
    """Each Community ID replaced by its keyed pseudonym; nulls stay null."""
    if len(ids) == 0:
        return pa.array([], pa.string())
    ids = ids.cast(pa.string())
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    n = len(ids)
    offsets, data = string_buffers(ids)
    digest = np.empty((n, 16), np.uint8)
    problem = np.empty(n, np.uint8)
    if decode_ids(offsets, data, valid_bytes(ids), digest, problem):
        if (problem == 1).any():
            bad = ids[int(np.argmax(problem == 1))].as_py()
            raise GateViolation(f"flow id {bad!r} is not a Community ID v1", field="flow_id")
        if (problem == 2).any():  # 20 hash bytes always end in one '='
            raise GateViolation("a flow id is not a Community ID v1 (no closing '=')", field="flow_id")
        raise GateViolation("a flow id is not base64 after '1:'", field="flow_id")
    encryptor = Cipher(algorithms.AES(subkey), modes.ECB()).encryptor()
    cipher = np.frombuffer(encryptor.update(digest.data) + encryptor.finalize(), np.uint8).reshape(-1, 16)
    text = np.empty(n * _OUT_LEN, np.uint8)
    encode_ids(cipher, _ALPHABET, text)
    offsets_out = np.arange(0, (n + 1) * _OUT_LEN, _OUT_LEN, dtype=np.int32)
    mask = None
    if ids.null_count:
        mask = pa.py_buffer(np.packbits(ids.is_valid().to_numpy(zero_copy_only=False), bitorder="little").tobytes())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets_out), pa.py_buffer(text), mask)


def rekey_id_lists(lists: pa.Array, subkey: bytes) -> pa.Array:
    """``tunnel_parents``: every element re-keyed, the list structure kept."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    values = rekey_flow_ids(lists.flatten(), subkey)
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    return pa.ListArray.from_arrays(offsets, values, mask=lists.is_null() if lists.null_count else None)
