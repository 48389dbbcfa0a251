"""Keyed flow ids: deterministic, distinct, unlinkable without the key, and refusing what is no Community ID."""

from __future__ import annotations

import base64
import hashlib

import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from filters._flowids import PREFIX, rekey_flow_ids, rekey_id_lists
from policies import GateViolation

KEY = bytes(range(16))


def _cid(n: int) -> str:
    return "1:" + base64.b64encode(hashlib.sha1(str(n).encode()).digest()).decode()


def test_matches_aes_of_the_hash_done_by_hand() -> None:
    cid = _cid(7)
    digest = base64.b64decode(cid[2:])[:16]
    encryptor = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    want = PREFIX + base64.b64encode(encryptor.update(digest)).decode()[:22]
    assert rekey_flow_ids(pa.array([cid, None]), KEY).to_pylist() == [want, None]


def test_distinct_deterministic_and_keyed() -> None:
    ids = pa.array([_cid(i) for i in range(1000)])
    once, again = rekey_flow_ids(ids, KEY), rekey_flow_ids(ids, KEY)
    assert once.equals(again) and len(set(once.to_pylist())) == 1000
    other = rekey_flow_ids(ids, bytes(16))
    assert not set(once.to_pylist()) & set(other.to_pylist())


def test_lists_keep_their_shape() -> None:
    lists = pa.array([[_cid(1), _cid(2)], [], None, [_cid(1)]], pa.list_(pa.string()))
    out = rekey_id_lists(lists, KEY).to_pylist()
    assert len(out[0]) == 2 and out[1] == [] and out[2] is None and out[3] == [out[0][0]]


@pytest.mark.parametrize("bad", ["2:" + _cid(1)[2:], _cid(1)[:-1] + "A", _cid(1)[:-2] + "!=", "1:short"])
def test_what_is_no_community_id_does_not_pass(bad: str) -> None:
    with pytest.raises(GateViolation):
        rekey_flow_ids(pa.array([_cid(3), bad]), KEY)
