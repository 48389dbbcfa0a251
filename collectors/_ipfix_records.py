"""Decoded flow records -> FlowRecord batches (FLOW_SCHEMA), the same columns as from packets.

The rows are laid out as the fast engine's ended flows (_fastlayout.F_*) and turned into
Arrow by the same code (_fasttable.rows_to_table), so addresses are written and Community
IDs computed exactly as on the pcap path. How each column is filled, and what a flow record
cannot tell (docs/collectors.md, "Flow records from routers"):

- originator: the record's source (RFC 5103: a biflow's source is the initiator), except
  that a biflow whose source sent no packet is turned round (some exporters, softflowd
  among them, key a biflow by address order), unless it is TCP answered by SYN+ACK; a uniflow record has nothing for the
  responder (resp_pkts 0).
- times: the first of flowStart/End Milliseconds, Seconds, Micro/Nanoseconds,
  DeltaMicroseconds (before the export time), SysUpTime (v5/v9: against the header's
  sysUpTime; IPFIX: after systemInitTimeMilliseconds from an options record); none: the
  export time.
- ICMP: type and code from icmpTypeCode / icmpType / icmpCode, else from the destination
  port (type << 8 | code, as v5 carries them), mapped to ports as Community ID does.
- history: empty (a flow record keeps no order of packets). conn_state: Zeek's rules on the
  union of TCP flags per side (S: the originator's flags hold SYN; H: the responder's do).
- end_reason: flowEndReason (1 idle, 2 active, 3 tcp_end, 4 eof, 5 evicted); without it,
  tcp_end for a TCP flow with FIN or RST seen, else idle.
- vlan / inner_vlan from vlanId / dot1qVlanId / dot1qCustomerVlanId (0 is no tag); mpls from
  the label stack sections; tunnel null, tunnel_parents empty, application names null.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from collectors._communityid import ICMP4_COUNTERPART, ICMP6_COUNTERPART
from collectors._fastlayout import (
    F_COLS,
    F_IPV,
    F_IVLAN,
    F_LAST,
    F_MPLS0,
    F_NMPLS,
    F_OBYTES,
    F_OFLAGS,
    F_OHI,
    F_OLO,
    F_OPKTS,
    F_OPORT,
    F_PROTO,
    F_RBYTES,
    F_REASON,
    F_RFLAGS,
    F_RHI,
    F_RLO,
    F_RPKTS,
    F_RPORT,
    F_START,
    F_STATE,
    F_VLAN,
    HIST_MAX,
)
from collectors._ipfix_decode import Decoded
from collectors._ipfix_stats import FlowStats
from collectors._schema import FLOW_SCHEMA

I64 = npt.NDArray[np.int64]
FIN, SYN, RST, ACK = 1, 2, 4, 16
TCP, ICMP, ICMP6 = 6, 1, 58
_STATE = {n: i for i, n in enumerate(("S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH",
                                        "SH", "SHR", "OTH"))}  # fmt: skip
_IDLE, _TCP_END = 0, 2
_REASON = np.array([_IDLE, 0, 1, 2, 3, 4, _IDLE, _IDLE], dtype=np.int64)  # flowEndReason 0..7 -> REASONS


def _counterparts(table: dict[int, int]) -> I64:
    out = np.full(256, -1, dtype=np.int64)
    for k, v in table.items():
        out[k] = v
    return out


_COUNTER4, _COUNTER6 = _counterparts(ICMP4_COUNTERPART), _counterparts(ICMP6_COUNTERPART)


def flow_table(batches: list[Decoded], tap_id: str, stats: FlowStats) -> pa.Table:
    """One FLOW_SCHEMA table of every decoded flow record (records without addresses are counted)."""
    parts = [rows for d in batches if (rows := _rows(d, stats)) is not None]
    if not parts:
        return FLOW_SCHEMA.empty_table()
    from collectors._fasttable import rows_to_table

    rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return rows_to_table(rows, np.zeros((rows.shape[0], HIST_MAX), dtype=np.uint8), tap_id)


def _col(d: Decoded, *names: str) -> I64 | None:
    for name in names:
        value = d.columns.get(name)
        if value is not None:
            return value.view(np.int64)
    return None


def _rows(d: Decoded, stats: FlowStats) -> npt.NDArray[np.int64] | None:
    n = d.count
    c = d.columns
    rows = np.zeros((n, F_COLS), dtype=np.int64)
    if "src4" in c and "dst4" in c:
        rows[:, F_IPV] = 4
        rows[:, F_OLO] = c["src4"].view(np.int64)
        rows[:, F_RLO] = c["dst4"].view(np.int64)
    elif "src6_hi" in c and "dst6_hi" in c:
        rows[:, F_IPV] = 6
        rows[:, F_OHI], rows[:, F_OLO] = c["src6_hi"].view(np.int64), c["src6_lo"].view(np.int64)
        rows[:, F_RHI], rows[:, F_RLO] = c["dst6_hi"].view(np.int64), c["dst6_lo"].view(np.int64)
    else:
        stats.not_flows += n
        stats.records -= n
        return None
    zero = np.zeros(n, dtype=np.int64)
    proto = _or(_col(d, "proto"), zero) & 0xFF
    rows[:, F_PROTO] = proto
    sport, dport = _or(_col(d, "sport"), zero) & 0xFFFF, _or(_col(d, "dport"), zero) & 0xFFFF
    sport, dport = _icmp_ports(d, proto, sport, dport)
    rows[:, F_OPORT], rows[:, F_RPORT] = sport, dport
    rows[:, F_OPKTS] = _or(_col(d, "pkts", "pkts_total"), zero)
    rows[:, F_OBYTES] = _or(_col(d, "bytes", "bytes_total"), zero)
    rows[:, F_RPKTS] = rpkts = _or(_col(d, "rpkts", "rpkts_total"), zero)
    rows[:, F_RBYTES] = _or(_col(d, "rbytes", "rbytes_total"), zero)
    oflags, rflags = _or(_col(d, "flags"), zero) & 0xFF, _or(_col(d, "rflags"), zero) & 0xFF
    rows[:, F_OFLAGS], rows[:, F_RFLAGS] = oflags, rflags
    _turn_round(rows, proto)
    oflags, rflags, rpkts = rows[:, F_OFLAGS], rows[:, F_RFLAGS], rows[:, F_RPKTS]
    start, end = _times(d)
    rows[:, F_START], rows[:, F_LAST] = start, np.maximum(start, end)
    rows[:, F_VLAN] = _tag(_col(d, "vlan"), n)
    rows[:, F_IVLAN] = _tag(_col(d, "inner_vlan"), n)
    _mpls(d, rows)
    tcp = proto == TCP
    reason = _col(d, "end_reason")
    if reason is None:
        rows[:, F_REASON] = np.where(tcp & (((oflags | rflags) & (FIN | RST)) != 0), _TCP_END, _IDLE)
    else:
        rows[:, F_REASON] = _REASON[np.minimum(reason, 7)]
    rows[:, F_STATE] = conn_states(tcp, oflags, rflags, rpkts)
    return rows


def _turn_round(rows: npt.NDArray[np.int64], proto: I64) -> None:
    """A biflow whose source sent nothing is the other end's flow: its sender is the originator.

    ICMP ports stay: they were mapped from the type the sender sent (the only one recorded).
    A TCP flow whose only sender sent SYN+ACK stays as it is: its originator is the SYN
    sender that was not seen, as the pcap path has it (history ``^``).
    """
    syn_ack = (proto == TCP) & ((rows[:, F_RFLAGS] & (SYN | ACK)) == (SYN | ACK))
    turn = (rows[:, F_OPKTS] == 0) & (rows[:, F_RPKTS] > 0) & ~syn_ack
    if not turn.any():
        return
    pairs = [(F_OHI, F_RHI), (F_OLO, F_RLO), (F_OPKTS, F_RPKTS), (F_OBYTES, F_RBYTES), (F_OFLAGS, F_RFLAGS)]
    for a, b in pairs:
        rows[turn, a], rows[turn, b] = rows[turn, b], rows[turn, a].copy()
    ports = turn & (proto != ICMP) & (proto != ICMP6)
    rows[ports, F_OPORT], rows[ports, F_RPORT] = rows[ports, F_RPORT], rows[ports, F_OPORT].copy()


def _or(value: I64 | None, default: I64) -> I64:
    return default if value is None else value


def _tag(value: I64 | None, n: int) -> I64:
    if value is None:
        return np.full(n, -1, dtype=np.int64)
    vlan = value & 0xFFF
    return np.where(vlan == 0, -1, vlan)


def _mpls(d: Decoded, rows: npt.NDArray[np.int64]) -> None:
    alive = np.ones(d.count, dtype=bool)
    count = np.zeros(d.count, dtype=np.int64)
    for k in range(4):
        section = _col(d, f"mpls{k}")
        if section is None:
            break
        alive &= section != 0
        rows[:, F_MPLS0 + k] = np.where(alive, section >> 4, 0)
        count += alive
    rows[:, F_NMPLS] = count


def _icmp_ports(d: Decoded, proto: I64, sport: I64, dport: I64) -> tuple[I64, I64]:
    """ICMP type / code mapped into the port fields the way Community ID maps them."""
    for number, combined, type_name, code_name, counter in (
        (ICMP, "icmp4", "icmp_type4", "icmp_code4", _COUNTER4),
        (ICMP6, "icmp6", "icmp_type6", "icmp_code6", _COUNTER6),
    ):
        rows = proto == number
        if not rows.any():
            continue
        both = _col(d, combined)
        kind, code = _col(d, type_name), _col(d, code_name)
        if both is None and kind is None:
            both = dport  # v5 / v9 custom: type << 8 | code in the destination port
        if both is not None:
            kind, code = (both >> 8) & 0xFF, both & 0xFF
        assert kind is not None
        kind = kind & 0xFF
        code = np.zeros_like(kind) if code is None else code & 0xFF
        pair = counter[kind]
        sport = np.where(rows, kind, sport)
        dport = np.where(rows, np.where(pair >= 0, pair, code), dport)
    return sport, dport


def _times(d: Decoded) -> tuple[I64, I64]:
    export_us = d.export_ms * 1000
    end = _time(d, "end", export_us)
    start = _time(d, "start", end)
    return start, end


def _time(d: Decoded, which: str, default: I64) -> I64:
    c = d.columns
    if (ms := c.get(which + "_ms")) is not None:
        return ms.view(np.int64) * 1000
    if (s := c.get(which + "_s")) is not None:
        return s.view(np.int64) * 1_000_000
    if (us := c.get(which + "_ntp")) is not None:
        return us.view(np.int64)
    if (delta := c.get(which + "_delta_us")) is not None:
        return d.export_ms * 1000 - delta.view(np.int64)
    if (up := c.get(which + "_up")) is not None:
        up64 = up.view(np.int64) & 0xFFFFFFFF
        # v5 / v9: how long before the header's sysUpTime, as a signed 32-bit difference (wraps)
        before = ((d.uptime_ms - up64 + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        from_header = (d.export_ms - before) * 1000
        from_init = (d.init_ms + up64) * 1000
        return np.where(d.uptime_ms >= 0, from_header, np.where(d.init_ms >= 0, from_init, default))
    return default


def conn_states(tcp: npt.NDArray[np.bool_], oflags: I64, rflags: I64, rpkts: I64) -> I64:
    """Zeek's conn_state (docs/collectors.md, "Flows") from each side's union of TCP flags."""
    o_s, r_h = (oflags & SYN) != 0, (rflags & SYN) != 0
    o_f, r_f, o_r, r_r = (oflags & FIN) != 0, (rflags & FIN) != 0, (oflags & RST) != 0, (rflags & RST) != 0
    s = _STATE
    choices = [
        (tcp & r_r & o_s & ~r_h, s["REJ"]),
        (tcp & r_r & r_h & ~o_s, s["RSTRH"]),
        (tcp & r_r, s["RSTR"]),
        (tcp & o_r & o_s & ~r_h, s["RSTOS0"]),
        (tcp & o_r, s["RSTO"]),
        (tcp & o_s & r_h & o_f & r_f, s["SF"]),
        (tcp & o_s & r_h & o_f, s["S2"]),
        (tcp & o_s & r_h & r_f, s["S3"]),
        (tcp & o_s & r_h, s["S1"]),
        (tcp & o_s & o_f, s["SH"]),
        (tcp & o_s & (rpkts == 0), s["S0"]),
        (tcp & o_s, s["OTH"]),
        (tcp & r_h & r_f, s["SHR"]),
        (tcp, s["OTH"]),
        (rpkts > 0, s["SF"]),
    ]
    return np.select([c for c, _ in choices], [np.int64(v) for _, v in choices], default=s["S0"]).astype(np.int64)
