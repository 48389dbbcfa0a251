"""The gate's compiled kernels (_fastgate.py) held to the slow, obviously right ways.

The address parser against ``policies.parse_addresses`` (regex and ``inet_pton``),
``ipaddress`` and ``socket.inet_pton`` on random and malformed text; the flow-id kernels
against base64 and AES done by hand; the ahead-of-time build against the JIT, each in its
own process (the choice is made once, at import).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors._fastkernels import JIT_ENV
from filters import _fastgate
from filters._flowids import PREFIX, rekey_flow_ids
from filters._textaddr import parse_column
from policies import GateViolation, parse_addresses

ROOT = Path(__file__).resolve().parents[2]
NOT_BUILT = (
    "the gate's ahead-of-time build (filters/_gatecore*.so) is missing or older than filters/_fastgate.py: "
    "run `.venv/bin/python -m filters._aot` (make test does it first)"
)
_FIELDS = ("version", "v4", "v6_hi", "v6_lo")


def _malformed(rng: random.Random) -> str:
    """Text near an address: valid ones mutated, wrong lengths, stray characters, zones, dots in IPv6."""
    choice = rng.randrange(12)
    if choice == 0:
        return "".join(rng.choice("0123456789abcdefABCDEF:.x% \n\0é") for _ in range(rng.randint(0, 24)))
    if choice == 1:
        parts = [str(rng.choice([0, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255, 256, 999, "01", "00", "", "-1"]))
                 for _ in range(rng.choice([3, 4, 4, 4, 5]))]
        return ".".join(parts)
    if choice == 2:
        return str(ipaddress.IPv4Address(rng.getrandbits(32)))
    if choice in (3, 4):
        address = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice([0, 0, 16, 64, 100]))
        return address.compressed if choice == 3 else address.exploded.upper()
    if choice == 5:
        return "::ffff:" + ".".join(str(rng.randint(0, 260)) for _ in range(rng.choice([3, 4, 4, 5])))
    if choice == 6:
        groups = [format(rng.getrandbits(16), rng.choice(["x", "X", "04x", "05x"])) for _ in range(rng.randint(5, 9))]
        start, stop = sorted(rng.sample(range(len(groups) + 1), 2))
        if rng.random() < 0.6:
            groups[start:stop] = [""]
        return ":".join(groups)
    if choice == 7:
        text = str(ipaddress.IPv6Address(rng.getrandbits(128)))
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice([":", "::", ".", "g", "%eth0", " ", "0", "1.2.3.4"]) + text[at:]
    if choice == 8:
        return rng.choice(["", ":", "::", ":::", "::1", "1::", "1:::2", ":1::2", "1::2:", "::1.2.3.4",
                           "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "1.2.3.4::", "::ffff:1.2.3.04",
                           "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
                           "1::2::3", "fe80::1%eth0", "12345::", "0.0.0.0", "255.255.255.255", "1.2.3.4\n",
                           " 1.2.3.4", "1.2.3.4.", ".1.2.3.4", "1..2.3", "::a.2.3.4", "::1234.1.1.1"])
    if choice == 9:
        text = str(ipaddress.IPv4Address(rng.getrandbits(32)))
        at = rng.randrange(len(text) + 1)
        return text[:at] + rng.choice(["0", ".", "1", "x", ""]) + text[at:]
    if choice == 10:
        return "1:" * rng.randint(0, 9) + rng.choice(["", ":", "1", "::", "1.2.3.4"])
    return "::" + ".".join(str(rng.randint(0, 255)) for _ in range(4))


def _texts(seed: int, n: int) -> list[str | None]:
    rng = random.Random(seed)
    return [None if rng.random() < 0.03 else _malformed(rng) for _ in range(n)]


def _same(a: Any, b: Any) -> None:
    for name in _FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _pton6(text: str) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None


def _v4(text: str) -> int | None:
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        return None


@pytest.mark.parametrize("seed", range(4))
def test_the_parser_agrees_with_the_regex_and_inet_pton_path(seed: int) -> None:
    texts = _texts(seed, 20_000)
    arr = pa.array(texts, pa.string())
    _same(parse_column(arr), parse_addresses(arr))
    for start, length in ((1, 999), (7_777, 5_000), (19_990, 10)):  # sliced: the offsets start inside the buffer
        _same(parse_column(arr.slice(start, length)), parse_addresses(arr.slice(start, length)))
    chunked = pa.chunked_array([arr.slice(0, 300), arr.slice(300, 700)])
    _same(parse_column(chunked), parse_addresses(chunked))


@pytest.mark.parametrize("seed", range(2))
def test_the_parser_agrees_with_ipaddress_and_inet_pton_row_by_row(seed: int) -> None:
    texts = _texts(100 + seed, 5_000)
    parsed = parse_column(pa.array(texts, pa.string()))
    kinds = set()
    for i, text in enumerate(texts):
        version = int(parsed.version[i])
        kinds.add(version)
        if text is None:
            assert version == 0
            continue
        v6 = _pton6(text) if ":" in text else None
        v4 = _v4(text) if ":" not in text else None
        if v4 is not None:
            assert version == 4 and int(parsed.v4[i]) == v4, text
        elif v6 is not None:
            assert version == 6, text
            assert (int(parsed.v6_hi[i]) << 64) | int(parsed.v6_lo[i]) == v6, text
            if "%" not in text:
                assert int(ipaddress.IPv6Address(text)) == v6, text
        else:
            assert version == 0, text
            assert parsed.v4[i] == 0 and parsed.v6_hi[i] == 0 and parsed.v6_lo[i] == 0
    assert kinds == {0, 4, 6}  # the corpus reaches every outcome


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:.%", max_size=45))
def test_the_parser_agrees_on_any_text_of_address_characters(text: str) -> None:
    arr = pa.array([text], pa.string())
    _same(parse_column(arr), parse_addresses(arr))


def test_other_text_types_take_the_general_path() -> None:
    for arr in (pa.array(["192.0.2.1", "2001:db8::1", None, "x"], pa.large_string()),
                pa.array(["192.0.2.1", "::1", "192.0.2.1"]).dictionary_encode(), pa.nulls(3, pa.string())):
        _same(parse_column(arr), parse_addresses(arr))
    with pytest.raises(GateViolation):
        parse_column(pa.array([1, 2]))


# ---------------------------------------------------------------- flow ids

KEY = bytes(range(16))


def _by_hand(cid: str) -> str:
    digest = base64.b64decode(cid[2:])[:16]
    encryptor = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    return PREFIX + base64.b64encode(encryptor.update(digest)).decode()[:22]


def test_flow_ids_equal_base64_and_aes_by_hand() -> None:
    rng = random.Random(5)
    ids = ["1:" + base64.b64encode(rng.randbytes(20)).decode() for _ in range(3_000)]
    ids[::97] = [None] * len(ids[::97])
    arr = pa.array(ids, pa.string())
    want = [None if cid is None else _by_hand(cid) for cid in ids]
    assert rekey_flow_ids(arr, KEY).to_pylist() == want
    assert rekey_flow_ids(arr.slice(95, 1_000), KEY).to_pylist() == want[95:1_095]


@pytest.mark.parametrize("position", range(2, 29))
def test_a_flow_id_with_a_character_outside_base64_anywhere_does_not_pass(position: int) -> None:
    cid = "1:" + base64.b64encode(bytes(range(20))).decode()
    for stray in "!-_.=\0":
        bad = cid[:position] + stray + cid[position + 1 :]
        with pytest.raises(GateViolation, match="not base64") as caught:
            rekey_flow_ids(pa.array([cid, bad]), KEY)
        assert caught.value.field == "flow_id"


def test_flow_id_problems_are_reported_in_order_of_kind() -> None:
    good = "1:" + base64.b64encode(bytes(20)).decode()
    no_pad = good[:-1] + "A"
    stray = good[:5] + "!" + good[6:]
    with pytest.raises(GateViolation, match="'1:short' is not a Community ID"):
        rekey_flow_ids(pa.array([stray, no_pad, "1:short", good]), KEY)
    with pytest.raises(GateViolation, match="no closing"):
        rekey_flow_ids(pa.array([stray, no_pad, good]), KEY)
    with pytest.raises(GateViolation, match="not base64"):
        rekey_flow_ids(pa.array([good, stray]), KEY)


# ---------------------------------------------------------------- the build

_RUN = r"""
import json, sys
import numpy as np
import pyarrow as pa
from filters import Gate, _fastgate
from filters._textaddr import parse_column
from policies import load_policy
texts, policy = json.loads(sys.argv[1]), sys.argv[2]
parsed = parse_column(pa.array(texts, pa.string()))
sys.path.insert(0, "bench")
from gate_bench import synthetic_flows
gated = Gate(load_policy(policy))(synthetic_flows(5_000, subscribers=500))
print(json.dumps({
    "aot": _fastgate.module() is not None,
    "parsed": [getattr(parsed, f).tolist() for f in ("version", "v4", "v6_hi", "v6_lo")],
    "gated": [str(v) for v in gated.slice(0, 200).to_pydict().values()],
    "numba": sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite")),
}))
"""


def _child(args: list[str], *, jit: bool) -> Any:
    env = {k: v for k, v in os.environ.items() if k != JIT_ENV}
    if jit:
        env[JIT_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", _RUN, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_build_gives_what_the_jit_gives_and_loads_no_numba() -> None:
    if _fastgate.current_build() is None:
        pytest.fail(NOT_BUILT)
    args = [json.dumps(_texts(7, 3_000)), str(ROOT / "bench" / "policy" / "site.yaml")]
    built, jit = _child(args, jit=False), _child(args, jit=True)
    assert built["aot"] and not jit["aot"]
    assert built["numba"] == [] and jit["numba"]
    assert built["parsed"] == jit["parsed"]
    assert built["gated"] == jit["gated"]
    assert any(v for v in built["parsed"][0])
