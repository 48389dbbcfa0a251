"""Crypto-PAn against the published vectors, a bit-by-bit reference, and its properties."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from filters._cryptopan import CryptoPan
from filters._pseudonymizer import Pseudonymizer
from policies import GateViolation, PolicyError

DATA = Path(__file__).resolve().parent.parent / "data" / "cryptopan"
ALL64 = (1 << 64) - 1

SAMPLE_KEY = bytes(
    [
        21,
        34,
        23,
        141,
        51,
        164,
        207,
        128,
        19,
        10,
        91,
        22,
        73,
        144,
        125,
        16,
        216,
        152,
        143,
        131,
        121,
        121,
        101,
        39,
        98,
        87,
        76,
        45,
        42,
        132,
        34,
        2,
    ]
)
# Published vectors beyond the sample trace, as collected in node-cryptopan's test data
# (github.com/noinkling/node-cryptopan, src/test/test_data.ts), which gathers them from the
# Crypto-PAn reference implementation, Yawning Angel's Go cryptopan, Sappan.CryptoPAn (C#),
# IP::Anonymous (Perl), libanon (C; key = SHA1("tes") + SHA1("ting"), first 32 bytes),
# yacryptopan (Python, its README and contrib/diekmann), pwood/cryptopan (Ruby),
# JunjieChou/CryptoPAn (Java) and FFM/pycryptopan (Python). Written out here by hand.
PUBLISHED = [
    (
        SAMPLE_KEY,
        [
            ("129.69.205.36", "134.182.53.212"),
            ("129.69.215.37", "134.182.41.43"),
            ("127.0.0.1", "33.0.243.129"),
            ("0.0.0.0", "120.255.240.1"),
            ("10.0.1.128", "117.15.1.129"),
            ("169.254.100.50", "169.251.68.45"),
            ("255.255.255.255", "206.120.97.255"),
            ("::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"),
            ("::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"),
            ("::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"),
            ("2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"),
            ("2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"),
        ],
    ),
    (
        bytes.fromhex("d1c056a983786a38ca76a05cda240c7b86d7713693544000a0e6c4dd5b3dabdd"),
        [
            ("1.2.3.4", "236.157.211.10"),
            ("1.2.3.3", "236.157.211.12"),
            ("0.0.0.0", "237.113.211.225"),
            ("1.1.1.1", "236.159.20.242"),
            ("255.255.255.254", "0.0.127.6"),
            ("255.255.255.255", "0.0.127.7"),
            ("2.6.8.15", "238.6.10.23"),
            ("2.6.3.83", "238.6.7.179"),
            ("6.3.11.123", "233.3.231.131"),
            ("112.28.3.2", "136.126.15.210"),
            ("220.201.45.30", "61.17.221.254"),
            ("31d6:1be5:41bd:663c:3e9e:1005:1eec:6f01", "cc29:fb1a:b9fd:613c:e68:a03b:1efd:961f"),
            ("5dc9:b9a:5699:45e4:3c33:2f50:a4d:2fca", "a3cf:3bda:5768:b87b:ac8c:cc56:a43:5235"),
            ("2d70:77b8:119d:918:4165:78ae:2f24:1d00", "dcce:77ba:d5ad:16df:c119:68b2:2f0a:2518"),
            ("17a3:638e:1942:258e:c87:4416:5298:4071", "f7a3:94a6:da41:21f1:8fa6:bbe9:aa59:c001"),
            ("1c12:2019:e3f:648a:1689:65e9:1bcb:2436", "fdf2:1602:ce3f:5a8a:5da9:597:e43b:1bce"),
            ("2cc:5582:1702:485c:4a77:5077:575c:1035", "eecc:4a6d:2f3d:775b:cb88:ae6f:a8a2:6fc1"),
            ("bba:3c9d:5b3a:21de:2cf8:6578:2ae7:779f", "e7bd:c302:a5f5:d85e:3308:768:2570:fa5f"),
            ("e22:869:6f4f:55f9:73d2:7795:3881:1671", "e1ad:da60:80b0:bc67:c2c:7b50:3873:e40f"),
            ("827:7f95:2fe6:531f:d63:7bdf:323f:3ef6", "e527:7fea:c099:b4df:4e9d:73ac:2d3f:eb06"),
            ("1e45:45f7:d60:36d0:1827:6b55:5dae:5741", "fefb:a377:29d:3a2d:e8a6:eb59:a391:d621"),
            ("fffe:638:709:861::3", "1:ce05:ee9:971:7f1f:1f8:ec7:c05b"),
            ("fffe:638:709:861::4", "1:ce05:ee9:971:7f1f:1f8:ec7:c05f"),
            ("ffff:638:709:861::1", "0:e9f8:3928:f76e:3f:3fc6:135:ffa6"),
            ("ffff:638:709:861::2", "0:e9f8:3928:f76e:3f:3fc6:135:ffa5"),
            ("2001:638:709:861::1", "d0f1:f603:8e9:98c:3f5f:1f9:ffcf:bf9f"),
            ("2001:638:709:861::2", "d0f1:f603:8e9:98c:3f5f:1f9:ffcf:bf9d"),
            ("2001:638:709:861::3", "d0f1:f603:8e9:98c:3f5f:1f9:ffcf:bf9c"),
            ("2001:638:709:861::4", "d0f1:f603:8e9:98c:3f5f:1f9:ffcf:bf98"),
            ("2001:638:709:4::1", "d0f1:f603:8e9:6cb:803f:3e39:f134:3fbe"),
            ("2001:638:709:4::2", "d0f1:f603:8e9:6cb:803f:3e39:f134:3fbd"),
            ("2001:638:709:4::3", "d0f1:f603:8e9:6cb:803f:3e39:f134:3fbc"),
            ("2001:638:709:4::4", "d0f1:f603:8e9:6cb:803f:3e39:f134:3fbb"),
        ],
    ),
    (
        bytes(range(32)),
        [
            ("192.0.2.1", "2.90.93.17"),
            ("0.0.0.0", "254.152.65.220"),
            ("10.0.1.128", "246.35.190.47"),
            ("127.0.0.1", "168.227.160.61"),
            ("165.254.100.50", "90.1.157.13"),
            ("255.255.255.255", "56.0.15.254"),
            ("148.88.132.153", "106.38.130.153"),
            ("148.88.132.64", "106.38.130.64"),
            ("148.88.133.200", "106.38.131.223"),
            ("2001:db8::1", "dd92:2c44:3fc0:ff1e:7ff9:c7f0:8180:7e00"),
        ],
    ),
    (
        bytes.fromhex("8009ab3a605435bea0c385bea18485d8b0a1103d6590bdf48c968be5de53836e"),
        [
            ("123.123.123.123", "117.8.135.123"),
            ("131.159.1.42", "162.112.255.43"),
            ("8.8.8.8", "55.21.62.136"),
            ("255.8.1.100", "240.232.0.156"),
            ("0.0.0.0", "56.131.176.115"),
            ("255.255.255.255", "240.15.248.0"),
            ("2a02:0db8:85a3:0000:0000:8a2e:0370:7344", "1482:f447:75b3:f1f9:fbdf:622e:34f:ff7b"),
            ("2a02:db8:85a3::8a2e:370:7344", "1482:f447:75b3:f1f9:fbdf:622e:34f:ff7b"),
            ("2a02:0db8:85a3:08d3:1319:8a2e:0370:7344", "1482:f447:75b3:f904:c1d9:ba2e:489:1346"),
            ("2001:b8:a3:00:00:2e:70:44", "1f18:b37b:1cc3:8118:41f:9fd1:f875:fab8"),
            ("::ffff:192.0.2.128", "3883:b073:ff0f:fff8:203f:7c8:617:fd01"),
            ("fc00::", "f33c:8ca3:ef0f:e019:e7ff:f1e3:f91f:f800"),
        ],
    ),
    (
        b"32-char-str-for-AES-key-and-pad.",
        [("192.0.2.1", "192.0.125.244"), ("2001:db8::1", "27fe:8bc7:fee:1e:1e1f:f0fe:f0e1:83fd")],
    ),
    (
        bytes(
            [
                27,
                8,
                236,
                31,
                47,
                181,
                230,
                41,
                198,
                24,
                254,
                3,
                151,
                151,
                200,
                75,
                255,
                197,
                170,
                3,
                235,
                236,
                200,
                41,
                12,
                10,
                206,
                127,
                203,
                162,
                176,
                206,
            ]
        ),
        [("8.8.8.8", "50.54.20.240"), ("8.8.4.4", "50.54.28.11")],
    ),
    (b"wordlessthanfoursavecodefromboom", [("199.32.34.122", "58.161.230.78")]),
    (b"boojahyoo3vaeToong0Eijee7Ahz3yee", [("192.0.2.1", "206.2.124.120")]),
]


def _trace(name: str) -> list[str]:
    lines = (DATA / name).read_text().splitlines()
    return [line.split("\t")[2].strip() for line in lines if line.strip()]


def reference(key: bytes, address: int, bits: int) -> int:
    """Crypto-PAn one bit at a time, straight from the definition (slow, obviously right)."""
    aes = Cipher(algorithms.AES(key[:16]), modes.ECB()).encryptor()
    pad = int.from_bytes(aes.update(key[16:]), "big")
    padded = address << (128 - bits)
    flips = 0
    for i in range(bits):
        first_i = (((1 << i) - 1) << (128 - i)) & ((1 << 128) - 1)
        block = (padded & first_i) | (pad & ~first_i & ((1 << 128) - 1))
        flips |= (aes.update(block.to_bytes(16, "big"))[0] >> 7) << (bits - 1 - i)
    return address ^ flips


def _common_prefix(a: int, b: int, bits: int) -> int:
    return bits - (a ^ b).bit_length()


def _v6(cp: CryptoPan, numbers: list[int]) -> list[int]:
    hi = np.array([n >> 64 for n in numbers], dtype=np.uint64)
    lo = np.array([n & ALL64 for n in numbers], dtype=np.uint64)
    out_hi, out_lo = cp.anonymize_ipv6(hi, lo)
    return [(int(h) << 64) | int(lo) for h, lo in zip(out_hi, out_lo, strict=True)]


keys = st.binary(min_size=32, max_size=32)
v4_ints = st.integers(0, 2**32 - 1)
v6_ints = st.integers(0, 2**128 - 1)


# ---------------------------------------------------------------- published vectors


def test_all_100_sample_trace_vectors() -> None:
    raw, sanitized = _trace("sample_trace_raw.dat"), _trace("sample_trace_sanitized.dat")
    assert len(raw) == len(sanitized) == 100
    cp = CryptoPan(SAMPLE_KEY, "sample")
    assert cp.pseudonymize(pa.array(raw)).to_pylist() == sanitized
    numbers = np.array([int(ipaddress.IPv4Address(a)) for a in raw], dtype=np.uint32)
    assert cp.anonymize_ipv4(numbers).tolist() == [int(ipaddress.IPv4Address(a)) for a in sanitized]
    # one at a time, too: a batch must not lean on its neighbours
    assert [cp.pseudonymize(pa.array([a])).to_pylist()[0] for a in raw] == sanitized


@pytest.mark.parametrize(("key", "pairs"), PUBLISHED, ids=[f"key{i}" for i in range(len(PUBLISHED))])
def test_published_ipv4_and_ipv6_vectors(key: bytes, pairs: list[tuple[str, str]]) -> None:
    cp = CryptoPan(key, "published")
    assert cp.pseudonymize(pa.array([a for a, _ in pairs])).to_pylist() == [b for _, b in pairs]


def test_the_published_set_holds_ipv6() -> None:
    assert sum(":" in a for _, pairs in PUBLISHED for a, _ in pairs) >= 30


# ---------------------------------------------------------------- against the reference


@settings(max_examples=40)
@given(keys, st.lists(v4_ints, min_size=1, max_size=8))
def test_ipv4_equals_the_bitwise_reference(key: bytes, numbers: list[int]) -> None:
    out = CryptoPan(key, "k").anonymize_ipv4(np.array(numbers, dtype=np.uint32))
    assert out.dtype == np.uint32
    assert out.tolist() == [reference(key, n, 32) for n in numbers]


@settings(max_examples=25)
@given(keys, st.lists(v6_ints, min_size=1, max_size=4))
def test_ipv6_equals_the_bitwise_reference(key: bytes, numbers: list[int]) -> None:
    assert _v6(CryptoPan(key, "k"), numbers) == [reference(key, n, 128) for n in numbers]


def test_reference_reproduces_published_vectors() -> None:
    # the reference is itself checked, so agreeing with it means something
    assert reference(SAMPLE_KEY, int(ipaddress.IPv4Address("24.5.0.80")), 32) == int(
        ipaddress.IPv4Address("100.9.15.210")
    )
    assert reference(bytes(range(32)), int(ipaddress.IPv6Address("2001:db8::1")), 128) == int(
        ipaddress.IPv6Address("dd92:2c44:3fc0:ff1e:7ff9:c7f0:8180:7e00")
    )


# ---------------------------------------------------------------- properties


@given(keys, st.lists(v4_ints, max_size=30), st.lists(v6_ints, max_size=10))
def test_deterministic(key: bytes, v4: list[int], v6: list[int]) -> None:
    a, b = CryptoPan(key, "k"), CryptoPan(key, "k")
    numbers = np.array(v4, dtype=np.uint32)
    assert (
        a.anonymize_ipv4(numbers).tolist() == a.anonymize_ipv4(numbers).tolist() == b.anonymize_ipv4(numbers).tolist()
    )
    assert _v6(a, v6) == _v6(b, v6)


@given(keys, v4_ints, st.integers(0, 32), v4_ints)
def test_prefix_preserving_ipv4(key: bytes, a: int, shared: int, noise: int) -> None:
    # b shares exactly `shared` leading bits with a
    b = a if shared == 32 else (a ^ (1 << (31 - shared)) ^ (noise & ((1 << (31 - shared)) - 1)))
    assert _common_prefix(a, b, 32) == shared
    out = CryptoPan(key, "k").anonymize_ipv4(np.array([a, b], dtype=np.uint32)).tolist()
    assert _common_prefix(out[0], out[1], 32) == shared


@given(keys, v6_ints, st.integers(0, 128), v6_ints)
def test_prefix_preserving_ipv6(key: bytes, a: int, shared: int, noise: int) -> None:
    b = a if shared == 128 else (a ^ (1 << (127 - shared)) ^ (noise & ((1 << (127 - shared)) - 1)))
    assert _common_prefix(a, b, 128) == shared
    out = _v6(CryptoPan(key, "k"), [a, b])
    assert _common_prefix(out[0], out[1], 128) == shared


@settings(max_examples=10)
@given(keys, st.integers(0, 2**16 - 1))
def test_a_whole_slash16_maps_onto_a_whole_slash16(key: bytes, top: int) -> None:
    # prefix preserving and one-to-one: the 65536 addresses of a /16 fill exactly one /16
    block = (np.uint32(top) << np.uint32(16)) | np.arange(2**16, dtype=np.uint32)
    out = CryptoPan(key, "k").anonymize_ipv4(block)
    assert len(np.unique(out)) == 2**16
    assert len(np.unique(out >> np.uint32(16))) == 1


@settings(max_examples=10)
@given(keys)
def test_one_to_one_on_samples(key: bytes) -> None:
    rng = np.random.default_rng(int.from_bytes(key[:8], "big"))
    v4 = np.unique(rng.integers(0, 2**32, 20_000, dtype=np.uint64).astype(np.uint32))
    cp = CryptoPan(key, "k")
    assert len(np.unique(cp.anonymize_ipv4(v4))) == len(v4)
    hi = rng.integers(0, 2**64, 3000, dtype=np.uint64)
    hi[::2] = hi[0]  # many share their upper half: the lower half must still separate them
    lo = rng.integers(0, 2**64, 3000, dtype=np.uint64)
    out_hi, out_lo = cp.anonymize_ipv6(hi, lo)
    pairs = {(int(h), int(lo)) for h, lo in zip(hi, lo, strict=True)}
    assert len({(int(h), int(lo)) for h, lo in zip(out_hi, out_lo, strict=True)}) == len(pairs)


@given(keys, st.lists(v4_ints, max_size=20), st.lists(v6_ints, max_size=6))
def test_batched_equals_one_by_one(key: bytes, v4: list[int], v6: list[int]) -> None:
    cp = CryptoPan(key, "k")
    batch = cp.anonymize_ipv4(np.array(v4, dtype=np.uint32)).tolist()
    assert batch == [int(cp.anonymize_ipv4(np.array([n], dtype=np.uint32))[0]) for n in v4]
    assert _v6(cp, v6) == [_v6(cp, [n])[0] for n in v6]


def test_batches_across_chunk_boundaries() -> None:
    # more addresses than one ECB call takes (32768 IPv4, 8192 IPv6): the chunks must join up
    cp = CryptoPan(SAMPLE_KEY, "k")
    rng = np.random.default_rng(7)
    v4 = rng.integers(0, 2**32, 70_000, dtype=np.uint64).astype(np.uint32)
    whole = cp.anonymize_ipv4(v4)
    pieces = np.concatenate([cp.anonymize_ipv4(v4[i : i + 997]) for i in range(0, len(v4), 997)])
    assert np.array_equal(whole, pieces)
    hi = rng.integers(0, 2**64, 17_000, dtype=np.uint64)
    lo = rng.integers(0, 2**64, 17_000, dtype=np.uint64)
    whole_hi, whole_lo = cp.anonymize_ipv6(hi, lo)
    for i in (0, 8191, 8192, 16383, 16384, 16999):
        one = cp.anonymize_ipv6(hi[i : i + 1], lo[i : i + 1])
        assert (one[0][0], one[1][0]) == (whole_hi[i], whole_lo[i])
    assert [reference(SAMPLE_KEY, int(v4[i]), 32) for i in (0, 32767, 32768, 69999)] == [
        int(whole[i]) for i in (0, 32767, 32768, 69999)
    ]


# ---------------------------------------------------------------- the column interface


def test_pseudonymize_keeps_rows_nulls_and_versions() -> None:
    cp = CryptoPan(bytes(range(32)), "k")
    column = pa.array(["192.0.2.1", None, "2001:db8::1", "192.0.2.1", "2001:DB8:0::1", None])
    out = cp.pseudonymize(column)
    assert out.type == pa.string()
    p = "dd92:2c44:3fc0:ff1e:7ff9:c7f0:8180:7e00"
    assert out.to_pylist() == ["2.90.93.17", None, p, "2.90.93.17", p, None]
    chunked = pa.chunked_array([column[:3], column[3:]])
    assert cp.pseudonymize(chunked).to_pylist() == out.to_pylist()
    assert cp.pseudonymize(pa.array([], pa.string())).to_pylist() == []
    assert cp.pseudonymize(pa.nulls(2, pa.string())).to_pylist() == [None, None]


def test_an_invalid_address_stops_the_batch_and_is_named() -> None:
    cp = CryptoPan(SAMPLE_KEY, "k")
    with pytest.raises(GateViolation, match=r"cryptopan: not an IP address: '10\.0\.0\.256'"):
        cp.pseudonymize(pa.array(["10.0.0.1", "10.0.0.256", None]))
    with pytest.raises(GateViolation, match=r"and 2 more"):
        cp.pseudonymize(pa.array(["a", "b", "c", "d", "e"]))
    with pytest.raises(GateViolation, match="must be an Arrow string array"):
        cp.pseudonymize(pa.array([1, 2]))


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_a_key_of_the_wrong_length_is_a_policy_error(length: int) -> None:
    key = bytes(range(100, 100 + length))
    with pytest.raises(PolicyError, match=rf"'partner-a' must be 32 bytes.*not {length}") as caught:
        CryptoPan(key, "partner-a")
    if length:  # the message names the key by its id, never by its bytes
        assert key.hex() not in str(caught.value)
        assert key[:8].hex() not in str(caught.value)


def test_a_key_that_is_no_bytes_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="must be bytes"):
        CryptoPan("x" * 32, "k")  # type: ignore[arg-type]  # the wrong type is the point


def test_the_interface_and_no_key_in_the_repr() -> None:
    cp = CryptoPan(SAMPLE_KEY, "partner-a-2026")
    assert isinstance(cp, Pseudonymizer)
    assert (cp.method, cp.key_id) == ("cryptopan", "partner-a-2026")
    assert repr(cp) == "CryptoPan(key_id='partner-a-2026')"
    assert SAMPLE_KEY[:8].hex() not in repr(cp)
