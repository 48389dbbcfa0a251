"""The ahead-of-time build of the fast engine's kernels (_aot.py, _fastkernels.py).

`make test` builds it first (``python -m collectors._aot``). The build must give exactly the
flows the JIT gives, and a process on the build must not load numba or LLVM. Each path is run
in its own process: the choice is made once, at import.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from collectors import _fastkernels

ROOT = Path(__file__).resolve().parents[2]
PCAPS = ROOT / "tests" / "data" / "pcaps"
NOT_BUILT = (
    "the ahead-of-time build (collectors/_fastcore*.so) is missing or older than the kernel sources: "
    "run `.venv/bin/python -m collectors._aot` (make test does it first)"
)

# Run in a child: every capture through FileSource and FastEngine; flows, problems and capture
# damage as JSON, plus which kernels ran and whether numba got loaded.
_RUN = r"""
import json, sys
import pyarrow as pa
from collectors import FlowConfig, make_engine, open_source
from collectors._pcapfile import FileSource

results = {}
for path, max_flows, batch in json.loads(sys.argv[1]):
    engine = make_engine("fast", FlowConfig(max_flows=max_flows))
    source = FileSource(path)
    parts = [engine.feed(b) for b in source.batches(batch)] + [engine.finish()]
    rows = pa.concat_tables(parts).to_pylist()
    results[f"{path}:{max_flows}:{batch}"] = {
        "flows": sorted(json.dumps(r, sort_keys=True, default=str) for r in rows),
        "problems": dict(engine.problems),
        "damage": [str(p) for p in source.problems],
        "packets": engine.packets,
    }
print(json.dumps({
    "aot": engine.kernels.aot,
    "numba": sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite")),
    "results": results,
}))
"""


def _child(code: str, args: list[str], *, jit: bool) -> Any:
    env = {k: v for k, v in os.environ.items() if k != _fastkernels.JIT_ENV}
    if jit:
        env[_fastkernels.JIT_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _require_build() -> None:
    if _fastkernels.current_build() is None:
        pytest.fail(NOT_BUILT)


def _udp_frame(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp


def _many_flows(path: Path, flows: int) -> None:
    """A pcap of ``flows`` UDP flows, each seen twice (both ways), to grow, flush and evict."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for k in range(2 * flows):
        f = k % flows
        a, b = 0x0A000000 + f, 0xC0000200 + (f % 7)
        frame = _udp_frame(a, b, 1024 + f % 50000, 53, b"q" * (k % 5)) if k < flows else \
            _udp_frame(b, a, 53, 1024 + f % 50000, b"r" * 3)
        out.append(struct.pack("<IIII", 1_700_000_000 + k // 400, (k * 37) % 1_000_000, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))


def _damaged(tmp_path: Path) -> list[Path]:
    """Copies of two captures with a record / block length broken mid-file (for the resync scans)."""
    pcap = bytearray((PCAPS / "tcp_session.pcap").read_bytes())
    pos, k = 24, 0
    while k < 3:  # the fourth record's captured length
        pos += 16 + struct.unpack_from("<I", pcap, pos + 8)[0]
        k += 1
    struct.pack_into("<I", pcap, pos + 8, 0x7FFFFFF0)
    ng = bytearray((PCAPS / "multi_interface.pcapng").read_bytes())
    pos, k = 0, 0
    while k < 4:  # the fifth block's length
        pos += struct.unpack_from("<I", ng, pos + 4)[0]
        k += 1
    struct.pack_into("<I", ng, pos + 4, 0x99)
    paths = [tmp_path / "damaged.pcap", tmp_path / "damaged.pcapng"]
    paths[0].write_bytes(bytes(pcap))
    paths[1].write_bytes(bytes(ng))
    return paths


def test_aot_build_gives_the_jit_flows(tmp_path: Path) -> None:
    _require_build()
    many = tmp_path / "many.pcap"
    _many_flows(many, 6000)
    runs: list[tuple[str, int, int]] = [(str(p), 500_000, 262144) for p in sorted(PCAPS.iterdir())]
    runs += [(str(p), 500_000, 262144) for p in _damaged(tmp_path)]
    runs += [(str(many), 500_000, 1000), (str(many), 1000, 777)]  # table growth, flushes; eviction
    args = [json.dumps(runs)]
    aot = _child(_RUN, args, jit=False)
    jit = _child(_RUN, args, jit=True)
    assert aot["aot"] and aot["numba"] == [], "the child did not run on the ahead-of-time build"
    assert not jit["aot"] and "numba" in jit["numba"], "METAGATE_JIT=1 did not force the JIT"
    assert sum(r["packets"] for r in aot["results"].values()) > 24000
    assert any(r["damage"] for r in aot["results"].values())
    for key, expected in jit["results"].items():
        assert aot["results"][key] == expected, key


_COLLECT = r"""
import json, sys
import collectors
after_import = sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite"))
from metagate.cli import main
sys.argv = ["metagate", "collect", sys.argv[1], "-o", sys.argv[2]]
try:
    main()
except SystemExit as exit:
    status = exit.code
from collectors._fastkernels import engine_kernels
print(json.dumps({
    "status": status,
    "aot": engine_kernels().aot,
    "after_import": after_import,
    "after_collect": sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite")),
}))
"""


def test_collect_on_the_aot_build_loads_no_numba(tmp_path: Path) -> None:
    _require_build()
    out = tmp_path / "flows.jsonl"
    seen = _child(_COLLECT, [str(PCAPS / "vxlan.pcap"), str(out)], jit=False)
    assert seen["status"] in (0, None)
    assert seen["aot"]
    assert seen["after_import"] == []
    assert seen["after_collect"] == []
    assert out.read_text().count("\n") == 3


def test_stale_or_forced_build_falls_back_to_the_jit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_fastkernels.JIT_ENV, "1")
    assert _fastkernels.module() is None
    _fastkernels.current_build.cache_clear()
    try:
        monkeypatch.setattr(_fastkernels, "source_hash", lambda: -1)
        assert _fastkernels.current_build() is None
    finally:
        monkeypatch.undo()
        _fastkernels.current_build.cache_clear()


def test_argument_check_converts_inputs_and_refuses_outputs() -> None:
    seen: list[tuple[Any, ...]] = []
    spec = (_fastkernels.KERNELS["_ng_resync"].args[0], _fastkernels.KERNELS["rehash"].args[0])
    call = _fastkernels._checked("k", lambda *a: seen.append(a), spec)
    table = np.zeros((4, 2), dtype=np.int64)
    call(np.arange(8, dtype=np.uint8)[::2], table)  # a strided input is copied contiguous
    assert seen[0][0].flags.c_contiguous and seen[0][1] is table
    with pytest.raises(TypeError):
        call(np.zeros(4, dtype=np.uint8), table.astype(np.int32))
    with pytest.raises(TypeError):
        call(np.zeros(4, dtype=np.uint8), table[:, :1])
    with pytest.raises(TypeError):
        call(np.zeros(4, dtype=np.uint8))
