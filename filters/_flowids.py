"""Keyed flow ids: a Community ID is an unkeyed hash of the 5-tuple, so it must be re-keyed.

A Community ID (``1:`` + base64 of 20 SHA-1 bytes) can be reversed for a pseudonymized
address by trying every candidate address: the other endpoint, the ports and the protocol
are in the record. Wherever the gate pseudonymizes, it replaces each flow id (and each
tunnel parent id, so the links survive) by ``p1:`` + base64 of AES-128 of the first 16 hash
bytes under a subkey derived from the pseudonymization key. AES is a permutation: distinct
flows stay distinct, the same flow gets the same id in every run under the same key, and
without the key nothing links it back to the tuple. The last 4 hash bytes are dropped:
kept, they alone would let a guessed tuple be confirmed.

All ids of a column are decoded in one base64 call, encrypted in one ECB call and encoded in one
base64 call.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from policies import GateViolation

PREFIX = "p1:"
_CID_LEN = 30  # "1:" + 28 base64 characters
_BASE64 = np.zeros(256, np.bool_)
_BASE64[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)] = True
_OUT_LEN = len(PREFIX) + 22  # 16 bytes in base64, without the padding


def flow_id_subkey(key: bytes) -> bytes:
    """The AES key for flow ids, derived so that no two uses share key material."""
    return hmac.new(key, b"metagate flow-id v1", hashlib.sha256).digest()[:16]


def rekey_flow_ids(ids: pa.Array, subkey: bytes) -> pa.Array:
    """Each Community ID replaced by its keyed pseudonym; nulls stay null."""
    if len(ids) == 0:
        return pa.array([], pa.string())
    ids = ids.cast(pa.string())
    valid = ids.is_valid().to_numpy(zero_copy_only=False)
    raw = _fixed_width(ids.fill_null("1:" + "A" * 27 + "="), _CID_LEN)
    if raw is None or not (raw[:, :2] == np.frombuffer(b"1:", np.uint8)).all():
        bad = next(v for v in ids.to_pylist() if v is not None and (len(v) != _CID_LEN or not v.startswith("1:")))
        raise GateViolation(f"flow id {bad!r} is not a Community ID v1", field="flow_id")
    body = raw[:, 2:].copy()
    if not (body[:, -1] == ord("=")).all():  # 20 hash bytes always end in one '='
        raise GateViolation("a flow id is not a Community ID v1 (no closing '=')", field="flow_id")
    body[:, -1] = ord("A")  # a zero sextet instead: the ids then join into one base64 text
    if not _BASE64[body].all():  # checked here: the decoder's strict mode costs more than the rest
        raise GateViolation("a flow id is not base64 after '1:'", field="flow_id")
    digest = np.frombuffer(binascii.a2b_base64(body.data), np.uint8)
    digest = digest.reshape(-1, 21)[:, :16]
    encryptor = Cipher(algorithms.AES(subkey), modes.ECB()).encryptor()
    cipher = np.frombuffer(encryptor.update(digest.tobytes()) + encryptor.finalize(), np.uint8).reshape(-1, 16)
    padded = np.zeros((len(ids), 18), np.uint8)  # 18 bytes are 24 characters: every id encodes on its own
    padded[:, :16] = cipher
    encoded = np.frombuffer(binascii.b2a_base64(padded.data, newline=False), np.uint8).reshape(-1, 24)
    text = np.empty((len(ids), _OUT_LEN), np.uint8)
    text[:, : len(PREFIX)] = np.frombuffer(PREFIX.encode(), np.uint8)
    text[:, len(PREFIX) :] = encoded[:, :22]
    offsets = np.arange(0, (len(ids) + 1) * _OUT_LEN, _OUT_LEN, dtype=np.int32)
    mask = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    return pa.StringArray.from_buffers(len(ids), pa.py_buffer(offsets.tobytes()), pa.py_buffer(text.tobytes()), mask)


def rekey_id_lists(lists: pa.Array, subkey: bytes) -> pa.Array:
    """``tunnel_parents``: every element re-keyed, the list structure kept."""
    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    values = rekey_flow_ids(lists.flatten(), subkey)
    offsets = pc.subtract(lists.offsets, lists.offsets[0])
    return pa.ListArray.from_arrays(offsets, values, mask=lists.is_null() if lists.null_count else None)


def _fixed_width(strings: pa.Array, width: int) -> npt.NDArray[np.uint8] | None:
    """The strings as an (n, width) byte matrix, or None when they are not all ``width`` long."""
    strings = pa.concat_arrays([strings]) if strings.offset else strings
    _, offsets_buffer, data = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, np.int32)[: len(strings) + 1]
    if not (np.diff(offsets) == width).all():
        return None
    flat = np.frombuffer(data, np.uint8)[offsets[0] : offsets[-1]]
    return flat.reshape(-1, width)
