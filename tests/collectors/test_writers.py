"""Flow writers: each format read back by an independent reader, append / resume, atomic files."""

from __future__ import annotations

import csv
import ipaddress
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from parsezeeklogs import ZeekLog

from collectors import FLOW_SCHEMA, community_id
from collectors._partial import partial_path, truncate_to
from collectors._writers import (
    ZEEK_FIELDS,
    ZeekWriter,
    iso_utc,
    open_writer,
    zeek_uid,
)
from policies import ConfigError

T0 = 1_714_564_800_123_456  # 2024-05-01T12:00:00.123456Z, in microseconds


def _cid(proto: int, a: str, b: str, sport: int, dport: int) -> str:
    return community_id(proto, ipaddress.ip_address(a).packed, ipaddress.ip_address(b).packed, sport, dport)


PARENTS = sorted([_cid(17, "192.0.2.1", "192.0.2.2", 40000, 4789), _cid(17, "192.0.2.2", "192.0.2.1", 50000, 4789)])


def _row(**kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "start": T0, "end": T0 + 2_500_000, "ip_version": 4, "proto": 6,
        "orig_addr": "10.0.0.1", "orig_port": 51000, "resp_addr": "10.0.0.2", "resp_port": 443,
        "orig_pkts": 5, "resp_pkts": 4, "orig_ip_bytes": 600, "resp_ip_bytes": 4000,
        "orig_tcp_flags": 0x1B, "resp_tcp_flags": 0x1B, "history": "ShADadFf", "conn_state": "SF",
        "vlan": 100, "inner_vlan": None, "mpls": [], "tunnel": None, "tunnel_parents": [],
        "end_reason": "tcp_end", "tap_id": "tap-1", "dns_qname": None, "tls_sni": None, "http_host": None,
    }  # fmt: skip
    row.update(kw)
    row["flow_id"] = _cid(row["proto"], row["orig_addr"], row["resp_addr"], row["orig_port"], row["resp_port"])
    return row


ROWS = [
    _row(tls_sni="example.org"),
    _row(
        ip_version=6,
        proto=17,
        orig_addr="2001:db8::1",
        orig_port=5353,
        resp_addr="2001:db8::53",
        resp_port=53,
        orig_tcp_flags=0,
        resp_tcp_flags=0,
        history="Dd",
        vlan=None,
        mpls=[16, 1048575],
        tunnel="vxlan:100",
        tunnel_parents=PARENTS,
        end_reason="idle",
        dns_qname="example.com",
    ),
    _row(
        proto=47,
        orig_port=0,
        resp_port=0,
        end=T0,
        resp_pkts=0,
        resp_ip_bytes=0,
        history="",
        conn_state="S0",
        orig_tcp_flags=0,
        resp_tcp_flags=0,
        vlan=7,
        inner_vlan=8,
        mpls=[30],
        end_reason="eof",
    ),
    _row(
        ip_version=6,
        proto=58,
        orig_addr="fe80::1",
        orig_port=128,
        resp_addr="fe80::2",
        resp_port=129,
        orig_tcp_flags=0,
        resp_tcp_flags=0,
        history="",
        vlan=None,
        end_reason="idle",
    ),
]


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=FLOW_SCHEMA)


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows as FLOW_SCHEMA field order, timestamps as ISO strings."""
    return [{k: (iso_utc(r[k]) if k in ("start", "end") else r[k]) for k in FLOW_SCHEMA.names} for r in rows]


TABLE = _table(ROWS)


def test_table_fixture_is_typed_right() -> None:
    assert TABLE.schema.equals(FLOW_SCHEMA)
    assert TABLE.column("start")[0].as_py() == datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_jsonl_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "flows.jsonl"
    with open_writer(out, "jsonl") as w:
        w.write(TABLE.slice(0, 2))
        w.write(TABLE.slice(2))
        assert not out.exists()
    assert w.records == 4
    lines = out.read_text("utf-8").splitlines()
    got = [json.loads(line) for line in lines]
    assert got == _plain(ROWS)
    assert got[0]["start"] == "2024-05-01T12:00:00.123456Z"
    assert '"vlan":null' in lines[1] and '"mpls":[16,1048575]' in lines[1] and '"mpls":[]' in lines[0]


def _from_csv(cell: str, name: str) -> Any:
    field = FLOW_SCHEMA.field(name)
    if pa.types.is_list(field.type):
        items = cell.split(";") if cell else []
        return [int(i) for i in items] if pa.types.is_integer(field.type.value_type) else items
    if cell == "" and field.nullable:
        return None
    if pa.types.is_integer(field.type):
        return int(cell)
    return cell


def test_csv_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "flows.csv"
    with open_writer(out, "csv") as w:
        w.write(TABLE)
    with out.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == FLOW_SCHEMA.names
        got = [{k: _from_csv(v, k) for k, v in rec.items()} for rec in reader]
    assert got == _plain(ROWS)
    assert out.read_text().splitlines()[2].count(";") == 2  # mpls 16;1048575 and the two parents


def test_parquet_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "flows.parquet"
    with open_writer(out, "parquet") as w:
        w.write(TABLE.slice(0, 3))
        w.write(TABLE.slice(3))
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups == 2 and meta.num_rows == 4
    back = pq.read_table(out)
    assert back.schema.equals(FLOW_SCHEMA)
    assert back.equals(TABLE)


def _zeek_records(path: Path) -> tuple[ZeekLog, list[dict[str, Any]]]:
    log = ZeekLog(path)
    with log:
        records = list(log)
    assert log.skipped == 0
    return log, records


def test_zeek_conn_log_read_by_parsezeeklogs(tmp_path: Path) -> None:
    out = tmp_path / "conn.log"
    with ZeekWriter(out, clock=lambda: 0.0) as w:
        w.write(TABLE)
    log, recs = _zeek_records(out)
    assert log.path == "conn"
    assert log.types == dict(ZEEK_FIELDS)
    assert len(recs) == 4
    tcp, udp6, gre, icmp6 = recs
    assert tcp["ts"] == pytest.approx(T0 / 1e6, abs=1e-6)
    assert tcp["uid"] == zeek_uid(ROWS[0]["flow_id"], T0)
    assert re.fullmatch(r"C[0-9A-Za-z]{17}", tcp["uid"])
    assert [tcp[f"id.{k}"] for k in ("orig_h", "orig_p", "resp_h", "resp_p")] == ["10.0.0.1", 51000, "10.0.0.2", 443]
    assert (tcp["proto"], tcp["service"], tcp["duration"]) == ("tcp", None, 2.5)
    assert (tcp["orig_bytes"], tcp["resp_bytes"], tcp["local_orig"], tcp["local_resp"]) == (None, None, None, None)
    assert (tcp["conn_state"], tcp["missed_bytes"], tcp["history"]) == ("SF", 0, "ShADadFf")
    assert (tcp["orig_pkts"], tcp["orig_ip_bytes"], tcp["resp_pkts"], tcp["resp_ip_bytes"]) == (5, 600, 4, 4000)
    assert (tcp["tunnel_parents"], tcp["vlan"], tcp["inner_vlan"]) == (None, 100, None)
    assert tcp["community_id"] == ROWS[0]["flow_id"]
    assert (udp6["id.orig_h"], udp6["id.resp_h"], udp6["proto"]) == ("2001:db8::1", "2001:db8::53", "udp")
    assert udp6["tunnel_parents"] == PARENTS and udp6["vlan"] is None
    assert (gre["proto"], gre["duration"], gre["history"], gre["vlan"], gre["inner_vlan"]) == (
        "unknown_transport",
        None,
        None,
        7,
        8,
    )
    assert (icmp6["proto"], icmp6["id.orig_p"], icmp6["id.resp_p"]) == ("icmp", 128, 129)
    text = out.read_text()
    lines = text.splitlines()
    assert lines[0] == "#separator \\x09"
    assert lines[1:5] == ["#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-", "#path\tconn"]
    assert re.fullmatch(r"#open\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d", lines[5])
    assert re.fullmatch(r"#close\t\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d", lines[-1])
    assert lines[8].split("\t")[0] == "1714564800.123456" and "\t2.500000\t" in lines[8]


def test_zeek_escapes_like_zeek(tmp_path: Path) -> None:
    out = tmp_path / "conn.log"
    odd = _table([_row(history="-"), _row(conn_state="a\tb\\c")])
    with open_writer(out, "zeek") as w:
        w.write(odd)
    _, recs = _zeek_records(out)
    assert recs[0]["history"] == "-" and recs[1]["conn_state"] == "a\tb\\c"


def _body(path: Path) -> list[str]:
    """The lines of an output, without Zeek's wall-clock #open / #close lines."""
    return [x for x in path.read_text("utf-8").splitlines() if not x.startswith(("#open", "#close"))]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "zeek"])
def test_append_continues_a_finished_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"flows.{fmt}"
    with open_writer(out, fmt) as w:
        w.write(TABLE.slice(0, 2))
    with open_writer(out, fmt, append=True) as w:
        w.write(TABLE.slice(2))
        assert w.records == 2
    whole = tmp_path / f"whole.{fmt}"
    with open_writer(whole, fmt) as w:
        w.write(TABLE)
    assert _body(out) == _body(whole)
    if fmt == "zeek":
        assert out.read_text().count("#close") == 1 and out.read_text().endswith("\n")
        assert len(_zeek_records(out)[1]) == 4


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "zeek"])
def test_resume_after_crash_from_checkpoint(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"flows.{fmt}"
    w = open_writer(out, fmt)
    w.write(TABLE.slice(0, 2))
    w.flush()
    checkpoint = w.position()
    assert checkpoint == partial_path(out).stat().st_size
    w.write(TABLE.slice(2, 1))  # written after the checkpoint, then the process dies
    w.flush()
    w.abort()
    assert not out.exists() and partial_path(out).exists()
    truncate_to(out, checkpoint)
    with open_writer(out, fmt, append=True) as w2:
        assert w2.position() == checkpoint
        w2.write(TABLE.slice(2))
    assert not partial_path(out).exists()
    whole = tmp_path / f"whole.{fmt}"
    with open_writer(whole, fmt) as w3:
        w3.write(TABLE)
    assert _body(out) == _body(whole)


def test_parquet_append_writes_a_new_part(tmp_path: Path) -> None:
    out = tmp_path / "flows.parquet"
    with open_writer(out, "parquet") as w:
        w.write(TABLE.slice(0, 1))
    for n in (1, 2):
        with open_writer(out, "parquet", append=True) as w:
            w.write(TABLE.slice(n, 1))
        assert w.path == tmp_path / f"flows.part{n}.parquet"
    parts = [out, tmp_path / "flows.part1.parquet", tmp_path / "flows.part2.parquet"]
    back = pa.concat_tables(pq.read_table(p) for p in parts)
    assert back.equals(TABLE.slice(0, 3))


class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet", "zeek"])
def test_failure_mid_write_leaves_no_file_at_final_name(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"flows.{fmt}"
    with pytest.raises(_Boom), open_writer(out, fmt) as w:
        w.write(TABLE)
        w.flush()
        raise _Boom
    assert not out.exists()
    assert partial_path(out).exists()
    with pytest.raises(ValueError), open_writer(out, fmt) as w:
        w.write(pa.table({"x": [1]}))
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "zeek"])
def test_stdout(fmt: str, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with open_writer("-", fmt) as w:
        w.write(TABLE)
        w.flush()
        assert w.position() > 0
    text = capsysbinary.readouterr().out.decode()
    assert ROWS[1]["flow_id"] in text
    assert len(text.splitlines()) == {"jsonl": 4, "csv": 5, "zeek": 13}[fmt]


def test_parquet_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    with open_writer(None, "parquet") as w:
        w.write(TABLE)
    data = capsysbinary.readouterr().out
    assert pq.read_table(pa.BufferReader(data)).equals(TABLE)


def test_unknown_format() -> None:
    with pytest.raises(ConfigError) as err:
        open_writer("-", "xml")
    assert err.value.field == "format"


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "zeek", "parquet"])
def test_a_pipe_is_written_directly_and_stays_a_pipe(tmp_path: Path, fmt: str) -> None:
    import os
    import stat
    import threading

    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    with open_writer(fifo, fmt) as writer:
        writer.write(TABLE)
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert not (tmp_path / "out.fifo.partial").exists()
    assert len(received[0]) > 100
