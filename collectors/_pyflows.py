"""The reference flow table: docs/collectors.md ("Flows") in plain Python, one rule at a time.

It is the oracle the fast engine is tested against, so every rule is spelt out where it
applies and nothing is optimised. Engines hand it :class:`Observation` objects (one per IP
header met in a packet) and get back the rows of the flows that ended.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from collectors._communityid import community_id
from collectors._config import TCP, UDP, FlowConfig
from collectors._schema import FLOW_SCHEMA, EndReason

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10

Row = dict[str, Any]
End = tuple[bytes, int]  # (address, port)
FlowKey = tuple[tuple[str, ...], int, int, frozenset[End]]


@dataclass(frozen=True, slots=True)
class Observation:
    """One IP header of a packet and where it was found (docs/collectors.md, "Decoding").

    ``sport`` / ``dport`` are already ICMP-mapped; ``is_fragment`` marks a non-first
    fragment, which counts packets and bytes only; ``parent`` is the index of the
    enclosing observation of the same packet.
    """

    ts_us: int
    ip_version: int
    proto: int
    src: bytes
    dst: bytes
    sport: int
    dport: int
    ip_bytes: int
    tcp_flags: int = 0
    payload_len: int = 0
    is_fragment: bool = False
    vlan: int | None = None
    inner_vlan: int | None = None
    mpls: tuple[int, ...] = ()
    tunnel: tuple[str, ...] = ()
    parent: int | None = None

    def key(self) -> FlowKey:
        """Tunnel chain, IP version, protocol and the unordered pair of ends."""
        ends = frozenset({(self.src, self.sport), (self.dst, self.dport)})
        return (self.tunnel, self.ip_version, self.proto, ends)


@dataclass(slots=True)
class Flow:
    """A live flow. Index 0 of the per-side lists is the originator, 1 the responder."""

    key: FlowKey
    orig: End
    resp: End
    start: int
    last: int
    vlan: int | None
    inner_vlan: int | None
    mpls: tuple[int, ...]
    history: str = ""
    pkts: list[int] = field(default_factory=lambda: [0, 0])
    ip_bytes: list[int] = field(default_factory=lambda: [0, 0])
    flags: list[int] = field(default_factory=lambda: [0, 0])
    letters: list[set[str]] = field(default_factory=lambda: [set(), set()])
    sent_s: list[bool] = field(default_factory=lambda: [False, False])  # SYN without ACK
    sent_h: list[bool] = field(default_factory=lambda: [False, False])  # SYN+ACK
    parents: list[str] = field(default_factory=list)
    closed_at: int | None = None  # packet time when both FINs or a RST were seen

    @property
    def proto(self) -> int:
        return self.key[2]

    def flow_id(self) -> str:
        """Community ID seen from originator to responder."""
        return community_id(self.proto, self.orig[0], self.resp[0], self.orig[1], self.resp[1])


def _tcp_letters(flags: int, payload_len: int) -> str:
    """History letters of one TCP packet, in the contract's order S/H, A, D, F, R."""
    letters = ""
    if flags & SYN:
        letters += "H" if flags & ACK else "S"
    if flags & ACK and not flags & (SYN | FIN | RST) and payload_len == 0:
        letters += "A"
    if payload_len > 0:
        letters += "D"
    if flags & FIN:
        letters += "F"
    if flags & RST:
        letters += "R"
    return letters


def conn_state(flow: Flow) -> str:
    """Zeek's conn_state from what each side sent (docs/collectors.md, rules 1-6)."""
    if flow.proto != TCP:
        return "SF" if flow.pkts[1] else "S0"
    orig_s, resp_h = flow.sent_s[0], flow.sent_h[1]
    orig_fin, resp_fin = bool(flow.flags[0] & FIN), bool(flow.flags[1] & FIN)
    if flow.flags[1] & RST:
        if orig_s and not resp_h:
            return "REJ"
        return "RSTRH" if resp_h and not orig_s else "RSTR"
    if flow.flags[0] & RST:
        return "RSTOS0" if orig_s and not resp_h else "RSTO"
    if orig_s and resp_h:
        if orig_fin and resp_fin:
            return "SF"
        return "S2" if orig_fin else "S3" if resp_fin else "S1"
    if orig_s:
        return "SH" if orig_fin else "S0" if not flow.pkts[1] else "OTH"
    if resp_h:
        return "SHR" if resp_fin else "OTH"
    return "OTH"


def _text(addr: bytes) -> str:
    # inet_ntop's form (RFC 5952, dotted tail for IPv4-mapped), as Zeek and tcpdump print
    return socket.inet_ntop(socket.AF_INET if len(addr) == 4 else socket.AF_INET6, addr)


class FlowTable:
    """Bidirectional flows keyed by tunnel chain, IP version, protocol and ends."""

    def __init__(self, config: FlowConfig) -> None:
        self.config = config
        self.flows: dict[FlowKey, Flow] = {}
        self.last_flow_id: str | None = None  # the flow the last added observation went to

    def __len__(self) -> int:
        return len(self.flows)

    # --- ending flows -------------------------------------------------------------

    def _expiry(self, flow: Flow, now_us: int) -> EndReason | None:
        """Why ``flow`` has ended by packet time ``now_us``, or None while it lives."""
        if flow.closed_at is not None and now_us - flow.closed_at > self.config.close_delay_us:
            return EndReason.TCP_END
        if now_us - flow.last > self.config.idle_us(flow.proto):
            return EndReason.IDLE
        return None

    def _end(self, flow: Flow, reason: EndReason) -> Row:
        del self.flows[flow.key]
        return self._row(flow, reason)

    def sweep(self, now_us: int) -> list[Row]:
        """End every flow that is idle or past its close delay at packet time ``now_us``."""
        rows = []
        for flow in list(self.flows.values()):
            reason = self._expiry(flow, now_us)
            if reason is not None:
                rows.append(self._end(flow, reason))
        return rows

    def finish(self, last_ts_us: int) -> list[Row]:
        """A last sweep at the last packet's time; closed TCP flows end as ``tcp_end``, the rest ``eof``."""
        rows = self.sweep(last_ts_us)
        for flow in list(self.flows.values()):
            rows.append(self._end(flow, EndReason.EOF if flow.closed_at is None else EndReason.TCP_END))
        return rows

    def _make_room(self, now_us: int) -> list[Row]:
        """Before a new flow: sweep expired flows; if still full, evict the oldest eighth."""
        if len(self.flows) < self.config.max_flows:
            return []
        rows = self.sweep(now_us)
        if len(self.flows) < self.config.max_flows:
            return rows
        lasts = sorted(flow.last for flow in self.flows.values())
        cutoff = lasts[max(1, len(lasts) // 8) - 1]
        rows.extend(self._end(flow, EndReason.EVICTED) for flow in list(self.flows.values()) if flow.last <= cutoff)
        return rows

    # --- adding packets -----------------------------------------------------------

    def add(self, obs: Observation, parent_flow_id: str | None = None) -> list[Row]:
        """Account one observation; returns the rows of flows that ended because of it."""
        rows: list[Row] = []
        key = obs.key()
        flow = self.flows.get(key)
        if flow is not None:
            reason = self._expiry(flow, obs.ts_us)
            if reason is None and flow.closed_at is not None and _is_bare_syn(obs):
                reason = EndReason.TCP_END  # a new connection reuses the ports
            if reason is not None:
                rows.append(self._end(flow, reason))
                flow = None
            elif obs.ts_us - flow.start >= self.config.active_us:
                rows.append(self._end(flow, EndReason.ACTIVE))
                flow = self._new_flow(obs, orig=flow.orig, resp=flow.resp)
        if flow is None:
            rows.extend(self._make_room(obs.ts_us))
            flow = self._new_flow(obs)
        self._account(flow, obs, parent_flow_id)
        self.last_flow_id = flow.flow_id()
        return rows

    def _new_flow(self, obs: Observation, orig: End | None = None, resp: End | None = None) -> Flow:
        """A flow starting with ``obs``; ``orig``/``resp`` given for an active continuation."""
        history = ""
        if orig is None or resp is None:
            orig, resp = (obs.src, obs.sport), (obs.dst, obs.dport)
            if obs.proto == TCP and not obs.is_fragment and obs.tcp_flags & (SYN | ACK) == SYN | ACK:
                orig, resp = resp, orig
                history = "^"
        flow = Flow(
            key=obs.key(),
            orig=orig,
            resp=resp,
            start=obs.ts_us,
            last=obs.ts_us,
            vlan=obs.vlan,
            inner_vlan=obs.inner_vlan,
            mpls=obs.mpls,
            history=history,
        )
        self.flows[flow.key] = flow
        return flow

    def _account(self, flow: Flow, obs: Observation, parent_flow_id: str | None) -> None:
        side = 0 if (obs.src, obs.sport) == flow.orig else 1
        flow.last = max(flow.last, obs.ts_us)
        flow.pkts[side] += 1
        flow.ip_bytes[side] += obs.ip_bytes
        if parent_flow_id is not None and parent_flow_id not in flow.parents and len(flow.parents) < 2:
            flow.parents.append(parent_flow_id)
        if obs.is_fragment:
            return
        if flow.proto == TCP:
            flags = obs.tcp_flags
            flow.flags[side] |= flags
            if flags & SYN:
                (flow.sent_h if flags & ACK else flow.sent_s)[side] = True
            self._letters(flow, side, _tcp_letters(flags, obs.payload_len))
            both_fin = flow.flags[0] & FIN and flow.flags[1] & FIN
            if flow.closed_at is None and (both_fin or (flow.flags[0] | flow.flags[1]) & RST):
                flow.closed_at = obs.ts_us
        elif flow.proto == UDP and obs.payload_len > 0:
            self._letters(flow, side, "D")

    @staticmethod
    def _letters(flow: Flow, side: int, letters: str) -> None:
        for letter in letters:
            if letter not in flow.letters[side]:
                flow.letters[side].add(letter)
                flow.history += letter if side == 0 else letter.lower()

    def _row(self, flow: Flow, reason: EndReason) -> Row:
        version = flow.key[1]
        return {
            "flow_id": flow.flow_id(),
            "start": flow.start,
            "end": flow.last,
            "ip_version": version,
            "proto": flow.proto,
            "orig_addr": _text(flow.orig[0]),
            "orig_port": flow.orig[1],
            "resp_addr": _text(flow.resp[0]),
            "resp_port": flow.resp[1],
            "orig_pkts": flow.pkts[0],
            "resp_pkts": flow.pkts[1],
            "orig_ip_bytes": flow.ip_bytes[0],
            "resp_ip_bytes": flow.ip_bytes[1],
            "orig_tcp_flags": flow.flags[0],
            "resp_tcp_flags": flow.flags[1],
            "history": flow.history,
            "conn_state": conn_state(flow),
            "vlan": flow.vlan,
            "inner_vlan": flow.inner_vlan,
            "mpls": list(flow.mpls),
            "tunnel": ",".join(flow.key[0]) or None,
            "tunnel_parents": sorted(flow.parents),
            "end_reason": str(reason),
            "tap_id": self.config.tap_id,
            "dns_qname": None,
            "tls_sni": None,
            "http_host": None,
        }


def _is_bare_syn(obs: Observation) -> bool:
    return obs.proto == TCP and not obs.is_fragment and obs.tcp_flags & (SYN | ACK) == SYN


def rows_to_table(rows: list[Row]) -> pa.Table:
    """Rows as produced by :class:`FlowTable` -> an Arrow table with FLOW_SCHEMA."""
    return pa.Table.from_pylist(rows, schema=FLOW_SCHEMA)
