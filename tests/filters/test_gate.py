"""The gate: only allowed flows and fields pass, addresses and flow ids pseudonymized, idempotent."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from filters import Gate, gated_schema
from policies import GateViolation, PolicyError, load_policy
from tests.flowtables import T0, flow, table

SITE = Path(__file__).parent.parent / "data" / "policies" / "site-jp.yaml"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _gate() -> Gate:
    return Gate(load_policy(SITE), now=NOW)


def _mixed() -> pa.Table:
    return table(
        [
            flow("198.51.100.7", "192.0.2.10", dns_qname="secret.example", tls_sni="x.example"),  # in, approved
            flow("192.0.2.10", "203.0.113.5"),  # domestic-to-domestic: never
            flow("198.51.100.7", "8.8.8.8"),  # transit: no approval for it
            flow("2001:db8:a::5", "2606:4700::1111", proto=17, orig_port=5353, resp_port=53),  # out, approved
        ]
    )


def test_only_lawful_flows_and_fields_pass() -> None:
    gate = _gate()
    out = gate(_mixed())
    assert out.schema == gated_schema(load_policy(SITE).profile.fields)
    assert not {"dns_qname", "tls_sni", "http_host"} & set(out.column_names)
    assert out["traffic_class"].to_pylist() == ["foreign-to-domestic", "domestic-to-foreign"]
    assert out["approval_id"].to_pylist() == ["OC-2024-017"] * 2
    assert out["pseudonym_key"].to_pylist() == ["k2024"] * 2
    report = gate.report()
    assert report.records_in == 4 and report.records_out == 2
    assert report.counts["scope"]["jp-acd:classes.domestic-to-domestic=never"] == 1
    assert report.counts["scope"]["jp-acd:classes.foreign-to-foreign=approval, none covers the flow"] == 1
    assert report.counts["allowlist"] == {"field dns_qname not allowed": 1, "field tls_sni not allowed": 1}


def test_domestic_side_pseudonymized_foreign_side_clear() -> None:
    out = _gate()(_mixed()).to_pylist()
    inbound, outbound = out
    assert inbound["orig_addr"] == "198.51.100.7" and inbound["resp_addr"] != "192.0.2.10"
    assert outbound["resp_addr"] == "2606:4700::1111" and outbound["orig_addr"] != "2001:db8:a::5"
    ipaddress.ip_address(inbound["resp_addr"])  # Crypto-PAn gives an address
    ipaddress.ip_address(outbound["orig_addr"])
    assert all(r["flow_id"].startswith("p1:") for r in out)
    assert inbound["retain_until"] == inbound["end"].replace(year=2026), "730 days after the end (2024 is leap)"


def test_crypto_pan_keeps_domestic_prefixes_together() -> None:
    rows = [flow("198.51.100.7", f"192.0.2.{i}") for i in (1, 2, 200)]
    out = _gate()(table(rows))["resp_addr"].to_pylist()
    nets = {ipaddress.ip_network(f"{a}/24", strict=False) for a in out}
    assert len(nets) == 1 and len(set(out)) == 3


def test_keys_rotate_by_flow_time_and_pseudonyms_differ() -> None:
    early = flow("198.51.100.7", "192.0.2.10")
    late = flow("198.51.100.7", "192.0.2.10", start=datetime(2025, 6, 1, tzinfo=UTC))
    out = _gate()(table([late, early])).to_pylist()
    assert [r["pseudonym_key"] for r in out] == ["k2025", "k2024"], "order is kept"
    assert out[0]["resp_addr"] != out[1]["resp_addr"]
    assert out[0]["flow_id"] != out[1]["flow_id"]


def test_tunnel_parents_rekeyed_like_their_parents() -> None:
    outer = flow("192.0.2.77", "198.51.100.9", proto=17, orig_port=2152, resp_port=2152)
    inner = flow("198.51.100.7", "192.0.2.10", tunnel="gtpu", tunnel_parents=[outer["flow_id"]])
    out = _gate()(table([outer, inner])).to_pylist()
    assert out[1]["tunnel_parents"] == [out[0]["flow_id"]]
    assert outer["flow_id"] not in str(out)


def test_same_input_same_output_and_regating_changes_nothing() -> None:
    first, second = _gate()(_mixed()), _gate()(_mixed())
    assert first.equals(second)
    again = _gate()
    assert again(first).equals(first)
    assert again.report().counts["scope"] == {"already gated under this policy": 2}


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["192.0.2.10", "203.0.113.1", "10.0.0.1", "198.51.100.7", "8.8.8.8", "1.1.1.1"]),
            st.sampled_from(["192.0.2.99", "203.0.113.2", "198.51.100.8", "9.9.9.9"]),
            st.integers(0, 3 * 365 * 86400),
        ),
        max_size=30,
    )
)
def test_gate_is_idempotent_and_never_passes_domestic_to_domestic(rows: list[tuple[str, str, int]]) -> None:
    flows = table([flow(a, b, start=datetime.fromtimestamp(T0.timestamp() + s, UTC)) for a, b, s in rows])
    gate = _gate()
    once = gate(flows)
    assert gate(once).equals(once)
    assert "domestic-to-domestic" not in once["traffic_class"].to_pylist()
    for row in once.to_pylist():
        for side in ("orig_addr", "resp_addr"):
            assert row[side] not in {"192.0.2.10", "203.0.113.1", "10.0.0.1", "192.0.2.99", "203.0.113.2"}


def test_unknown_column_or_wrong_type_passes_nothing() -> None:
    flows = _mixed()
    with pytest.raises(GateViolation, match="payload"):
        _gate()(flows.append_column("payload", pa.array([b"x"] * 4)))
    with pytest.raises(GateViolation, match="lacks orig_addr"):
        _gate()(flows.drop_columns(["orig_addr"]))
    with pytest.raises(GateViolation, match="FlowRecord types"):
        _gate()(flows.set_column(9, "orig_pkts", pa.array(["many"] * 4)))


def test_records_of_another_policy_are_refused(tmp_path: Path) -> None:
    gated = _gate()(_mixed())
    other = tmp_path / "other.yaml"
    other.write_text(SITE.read_text().replace("name: test-carrier", "name: other-carrier"))
    for item in SITE.parent.iterdir():
        if item.suffix != ".yaml":
            (tmp_path / item.name).write_bytes(item.read_bytes())
    with pytest.raises(GateViolation, match="cannot be re-gated"):
        Gate(load_policy(other), now=NOW)(gated)


def test_expired_approval_stops_the_gate_before_anything() -> None:
    with pytest.raises(PolicyError, match="expired"):
        Gate(load_policy(SITE), now=datetime(2031, 1, 1, tzinfo=UTC))


def test_strict_profile_pseudonymizes_every_address(tmp_path: Path) -> None:
    site = tmp_path / "strict.yaml"
    site.write_text(SITE.read_text().replace("extends: jp-acd", "extends: strict"))
    for item in SITE.parent.iterdir():
        if item.suffix != ".yaml":
            (tmp_path / item.name).write_bytes(item.read_bytes())
    out = Gate(load_policy(site), now=NOW)(_mixed())
    assert "history" not in out.column_names and "tunnel" not in out.column_names
    assert "198.51.100.7" not in out["orig_addr"].to_pylist()
    assert "2606:4700::1111" not in out["resp_addr"].to_pylist()


def test_the_input_hash_is_sha256_of_each_batch_in_arrows_stream_format() -> None:
    import hashlib

    gate = _gate()
    batches = [_mixed(), _mixed().slice(1, 3)]
    want = hashlib.sha256()
    for batch in batches:
        gate(batch)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_table(batch)
        want.update(sink.getvalue())
    assert gate.report().input_sha256 == want.hexdigest()
