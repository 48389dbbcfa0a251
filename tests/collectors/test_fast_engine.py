"""The fast engine's own guarantees: batch cuts, restarts, bounds and hostile bytes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors import FlowConfig, PacketBatch, make_engine, open_source

DEMO = Path(__file__).parent.parent.parent / "metagate" / "data" / "demo.pcap"
_SORT = [("flow_id", "ascending"), ("start", "ascending"), ("tunnel", "ascending")]


def _one_batch() -> PacketBatch:
    batches = list(open_source(str(DEMO)).batches())
    assert len(batches) == 1
    return batches[0]


def _slices(batch: PacketBatch, size: int) -> list[PacketBatch]:
    out = []
    for start in range(0, len(batch), size):
        part = slice(start, start + size)
        out.append(PacketBatch(batch.origin, batch.data, batch.offset[part], batch.caplen[part], batch.wirelen[part],
                               batch.ts_us[part], batch.linktype[part], batch.record_offset[part]))
    return out


def _flows(batches: list[PacketBatch], config: FlowConfig | None = None) -> pa.Table:
    engine = make_engine("fast", config)
    tables = [engine.feed(b) for b in batches]
    tables.append(engine.finish())
    return pa.concat_tables(tables).sort_by(_SORT)


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_the_same_flows_however_the_input_is_cut(size: int) -> None:
    batch = _one_batch()
    whole = _flows([batch])
    assert whole.num_rows > 100
    assert _flows(_slices(batch, size)).equals(whole)


def test_a_restored_snapshot_goes_on_as_if_never_stopped() -> None:
    batch = _one_batch()
    first, second = _slices(batch, 2500)[:2]
    straight = _flows([first, second])
    engine = make_engine("fast")
    early = engine.feed(first)
    resumed = make_engine("fast")
    resumed.restore(engine.snapshot())
    rest = pa.concat_tables([resumed.feed(second), resumed.finish()])
    assert pa.concat_tables([early, rest]).sort_by(_SORT).equals(straight)


def test_deferred_flows_are_copies_built_as_fed() -> None:
    """A deferred feed holds its own rows: feeding on before building changes nothing."""
    batches = _slices(_one_batch(), 500)
    engine, twin = make_engine("fast"), make_engine("fast")
    pending = [engine.feed_deferred(b) for b in batches]  # all fed before anything is built
    direct = [twin.feed(b) for b in batches]
    assert sum(p.count for p in pending) == sum(t.num_rows for t in direct) > 0
    for later, now in zip(pending, direct, strict=True):
        assert later.build().equals(now)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])  # written straight from the rows, and through a table
def test_a_collect_run_encodes_on_its_writing_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     fmt: str) -> None:
    from collectors import Collector
    from collectors._fastengine import EndedRows

    threads: list[str] = []
    for name in ("build", "jsonl"):
        original = getattr(EndedRows, name)

        def recorded(self: EndedRows, original: Any = original) -> Any:
            threads.append(threading.current_thread().name)
            return original(self)

        monkeypatch.setattr(EndedRows, name, recorded)
    out = tmp_path / f"flows.{fmt}"
    summary = Collector(make_engine("fast"), str(out), fmt, batch_size=1000).run([str(DEMO)])
    assert len(threads) >= 3 and set(threads) == {"metagate-write-behind"}
    assert summary.flows == summary.written == _flows([_one_batch()]).num_rows
    assert out.read_text().count("\n") == summary.written + (fmt == "csv")


def test_live_flows_stay_within_the_bound() -> None:
    batch = _one_batch()
    engine = make_engine("fast", FlowConfig(max_flows=16))
    ended = 0
    for part in _slices(batch, 50):
        table = engine.feed(part)
        ended += table.filter(pa.compute.equal(table["end_reason"], "evicted")).num_rows
        assert engine.live_flows <= 16  # type: ignore[attr-defined]
    assert ended > 0, "a bound this small must evict"


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=20),
       st.sampled_from([0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147]))
def test_random_bytes_never_raise(frames: list[bytes], linktype: int) -> None:
    engine = make_engine("fast")
    batch = PacketBatch.from_packets([(1_700_000_000_000_000 + i, f) for i, f in enumerate(frames)], linktype=linktype)
    engine.feed(batch)
    engine.finish()
    assert engine.packets == len(frames)
    if linktype == 147:
        assert engine.problems["unsupported_linktype"] == len(frames)


def test_wire_length_does_not_change_volumes() -> None:
    batch = _one_batch()
    snapped = PacketBatch(batch.origin, batch.data, batch.offset, np.minimum(batch.caplen, 96), batch.wirelen,
                          batch.ts_us, batch.linktype, batch.record_offset)
    whole, cut = _flows([batch]), _flows([snapped])
    plain = pa.compute.is_null(whole["tunnel"])
    # flows not inside tunnels keep their IP byte counts when the capture keeps only headers
    assert whole.filter(plain)["orig_ip_bytes"].equals(cut.filter(pa.compute.is_null(cut["tunnel"]))["orig_ip_bytes"])
