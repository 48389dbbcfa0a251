"""The golden capture corpus: every engine turns each capture into exactly the expected flows.

tests/data/pcaps/NAME is read with ``open_source``, fed to the engine batch by batch and
finished; the flows must be those of tests/data/expected/NAME.jsonl, which
tests/data/make_pcaps.py writes from what it constructed (never from an engine's output).

Flows are matched on (proto, orig_addr, orig_port, resp_addr, resp_port, tunnel, start) and
compared on the fields the expectation lists. A null there means "not checked" for fields that
can never be null in FLOW_SCHEMA (end_reason, conn_state, ...); for the nullable ones (tunnel,
vlan, inner_vlan) null is the expected value. ``tunnel_parents_count`` is the length of
``tunnel_parents``.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import collectors
from collectors import FLOW_SCHEMA, FlowConfig, community_id

DATA = Path(__file__).resolve().parents[1] / "data"
PCAPS = DATA / "pcaps"
EXPECTED = DATA / "expected"
GENERATOR = DATA / "make_pcaps.py"

CAPTURES = sorted(path.name for path in PCAPS.iterdir()) if PCAPS.is_dir() else []
ENGINES = ["scapy", "fast"]
MATCH_KEY = ("proto", "orig_addr", "orig_port", "resp_addr", "resp_port", "tunnel", "start")
NULLABLE = frozenset(f.name for f in FLOW_SCHEMA if f.nullable)

Flow = dict[str, Any]


def _expected(capture: str) -> list[Flow]:
    path = EXPECTED / (Path(capture).stem + ".jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _run(engine_name: str, capture: str) -> list[Flow]:
    engine = collectors.make_engine(engine_name, FlowConfig())
    source = collectors.open_source(str(PCAPS / capture))
    flows: list[Flow] = []
    try:
        for batch in source.batches():
            flows.extend(engine.feed(batch).to_pylist())
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    flows.extend(engine.finish().to_pylist())
    return flows


def _norm(field: str, value: Any) -> Any:
    if value is None:
        return None
    if field in ("orig_addr", "resp_addr"):
        return ipaddress.ip_address(value).compressed
    if field in ("start", "end"):
        return datetime.fromisoformat(value) if isinstance(value, str) else value
    if field == "mpls":
        return list(value)
    return value


def _key(flow: Flow) -> tuple[Any, ...]:
    return tuple(_norm(field, flow[field]) for field in MATCH_KEY)


def _index(flows: list[Flow], what: str) -> dict[tuple[Any, ...], Flow]:
    index: dict[tuple[Any, ...], Flow] = {}
    for flow in flows:
        key = _key(flow)
        assert key not in index, f"two {what} flows share the key {key}"
        index[key] = flow
    return index


def _differences(expected: Flow, actual: Flow) -> list[str]:
    out = []
    for field, want in expected.items():
        if field == "tunnel_parents_count":
            have: Any = len(actual["tunnel_parents"])
        else:
            if want is None and field not in NULLABLE:
                continue  # not checked
            want, have = _norm(field, want), _norm(field, actual[field])
        if have != want:
            out.append(f"{field}: expected {want!r}, got {have!r}")
    return out


@pytest.mark.parametrize("engine_name", ENGINES)
@pytest.mark.parametrize("capture", CAPTURES)
def test_golden_capture(capture: str, engine_name: str) -> None:
    expected = _index(_expected(capture), "expected")
    flows = _run(engine_name, capture)
    actual = _index(flows, "output")

    problems = [f"missing flow {key}" for key in expected.keys() - actual.keys()]
    problems += [f"unexpected flow {key}: {actual[key]}" for key in actual.keys() - expected.keys()]
    for key in expected.keys() & actual.keys():
        problems += [f"{key} {diff}" for diff in _differences(expected[key], actual[key])]
    assert not problems, f"{capture} with {engine_name}:\n" + "\n".join(sorted(problems))

    ids = {flow["flow_id"] for flow in flows}
    for flow in flows:
        orig = ipaddress.ip_address(flow["orig_addr"]).packed
        resp = ipaddress.ip_address(flow["resp_addr"]).packed
        want = community_id(flow["proto"], orig, resp, flow["orig_port"], flow["resp_port"])
        assert flow["flow_id"] == want, f"flow_id of {_key(flow)}"
        parents = flow["tunnel_parents"]
        assert parents == sorted(set(parents)) and len(parents) <= 2, f"tunnel_parents of {_key(flow)}: {parents}"
        assert set(parents) <= ids, f"tunnel_parents of {_key(flow)} name flows not in the output: {parents}"


def test_every_capture_has_an_expectation() -> None:
    assert CAPTURES, "the corpus is empty: run tests/data/make_pcaps.py"
    stems = sorted(Path(name).stem for name in CAPTURES)
    assert stems == sorted(path.stem for path in EXPECTED.glob("*.jsonl"))


def test_generator_is_reproducible(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(GENERATOR), str(tmp_path)], check=True, capture_output=True, timeout=300)
    for sub in ("pcaps", "expected"):
        committed = {path.name: path.read_bytes() for path in (DATA / sub).iterdir()}
        fresh = {path.name: path.read_bytes() for path in (tmp_path / sub).iterdir()}
        assert sorted(fresh) == sorted(committed), f"{sub}: the generator writes other files"
        changed = sorted(name for name in fresh if fresh[name] != committed[name])
        assert not changed, f"{sub}: regenerated files differ from the committed ones: {changed}"
