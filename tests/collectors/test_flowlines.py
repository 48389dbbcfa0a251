"""FlowRecords written straight from the fast engine's rows: the bytes the table path writes, and only when plain."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import Collector, FlowConfig, make_engine, open_source
from collectors._fastengine import EndedRows
from collectors._jsonl import encode_jsonl
from collectors._writers import open_writer

PCAPS = Path(__file__).parent.parent / "data" / "pcaps"
DEMO = Path(__file__).parent.parent.parent / "metagate" / "data" / "demo.pcap"
# every tunnel kind, VLAN and MPLS, IPv6, fragments, TCP states: each row field in its variants
CAPTURES = [*sorted(PCAPS.glob("*.pcap")), DEMO]


def _ended(path: Path, tap_id: str = "tap0") -> list[EndedRows]:
    engine = make_engine("fast", FlowConfig(tap_id=tap_id))
    parts = [engine.feed_deferred(batch) for batch in open_source(str(path)).batches(700)]
    return [*parts, engine.finish_deferred()]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_the_rows_give_the_bytes_their_table_gives(path: Path) -> None:
    parts = _ended(path)
    assert sum(p.count for p in parts) > 0
    for part in parts:
        assert bytes(part.jsonl()) == encode_jsonl(part.build())


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=16))
def test_any_tap_id_is_escaped_as_json_does(tap_id: str) -> None:
    last = _ended(PCAPS / "vxlan.pcap", tap_id)[-1]
    assert bytes(last.jsonl()) == encode_jsonl(last.build())


def _paths_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> dict[str, int]:
    taken = {"jsonl": 0, "build": 0}
    jsonl, build = EndedRows.jsonl, EndedRows.build

    def counted_jsonl(self: EndedRows) -> memoryview:
        taken["jsonl"] += 1
        return jsonl(self)

    def counted_build(self: EndedRows) -> pa.Table:
        taken["build"] += 1
        return build(self)

    monkeypatch.setattr(EndedRows, "jsonl", counted_jsonl)
    monkeypatch.setattr(EndedRows, "build", counted_build)
    fmt = str(options.pop("fmt", "jsonl"))
    Collector(make_engine("fast"), str(tmp_path / f"out.{fmt}"), fmt, batch_size=1000, **options).run([str(DEMO)])  # type: ignore[arg-type]
    return taken


def test_plain_json_lines_skip_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = _paths_taken(tmp_path, monkeypatch)
    assert taken["jsonl"] >= 3 and taken["build"] == 0


@pytest.mark.parametrize("options", [{"fmt": "csv"}, {"transform": lambda table: table}], ids=["csv", "gated"])
def test_other_formats_and_a_gate_get_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             options: dict[str, object]) -> None:
    taken = _paths_taken(tmp_path, monkeypatch, **options)
    assert taken["build"] >= 3 and taken["jsonl"] == 0


def test_encoded_flow_records_go_only_to_a_flow_record_writer(tmp_path: Path) -> None:
    other = pa.schema([pa.field("flow_id", pa.string())])
    with open_writer(tmp_path / "gated.jsonl", "jsonl", schema=other) as writer, \
            pytest.raises(ValueError, match="FlowRecord writer"):
        writer.write_lines(b"{}\n", 1)  # type: ignore[attr-defined]
