"""Flow records (or GatedRecords) -> IPFIX messages with RFC 5103 biflow elements.

One template a record shape: IPv4 (id 256) or IPv6 (id 257), holding the elements the
table has columns for (a gated table may lack some): flowStart/EndMilliseconds, the
addresses, transport ports, protocolIdentifier, packet and octet delta counts forward and
reverse (enterprise 29305), tcpControlBits forward and reverse, icmpTypeCodeIPv4/IPv6,
vlanId and flowEndReason. ICMP rows carry type << 8 | code in the destination port as well
(what v5-era collectors read) and 0 as the source port. The records of a table are packed
by one numpy structured array, then cut into messages of at most ``max_message`` bytes.

Templates go in the first message and again every ``template_refresh`` seconds or
``refresh_messages`` messages (UDP collectors that start late or lose one need them, RFC
7011 8.4). Sequence numbers count the data records sent before each message.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from collectors._communityid import ICMP4_COUNTERPART, ICMP6_COUNTERPART
from collectors._fastlayout import REASONS
from collectors._ipfix_elements import REVERSE_PEN

TEMPLATE_V4, TEMPLATE_V6 = 256, 257
_HEADER = 16


@dataclass(frozen=True)
class _Element:
    element: int
    pen: int
    length: int
    value: str  # key into the values computed by _values


def _elements(columns: frozenset[str], version: int) -> list[_Element]:
    """The template of one IP version for a table with these columns."""
    src, dst, length = (8, 12, 4) if version == 4 else (27, 28, 16)
    out = [_Element(152, 0, 8, "start"), _Element(153, 0, 8, "end"),
           _Element(src, 0, length, "src"), _Element(dst, 0, length, "dst")]  # fmt: skip
    ported = {"orig_port", "resp_port", "proto"} <= columns
    optional = [
        (ported, _Element(7, 0, 2, "sport")),
        (ported, _Element(11, 0, 2, "dport")),
        ("proto" in columns, _Element(4, 0, 1, "proto")),
        ("orig_pkts" in columns, _Element(2, 0, 8, "orig_pkts")),
        ("orig_ip_bytes" in columns, _Element(1, 0, 8, "orig_ip_bytes")),
        ("resp_pkts" in columns, _Element(2, REVERSE_PEN, 8, "resp_pkts")),
        ("resp_ip_bytes" in columns, _Element(1, REVERSE_PEN, 8, "resp_ip_bytes")),
        ("orig_tcp_flags" in columns, _Element(6, 0, 2, "orig_tcp_flags")),
        ("resp_tcp_flags" in columns, _Element(6, REVERSE_PEN, 2, "resp_tcp_flags")),
        (ported, _Element(32 if version == 4 else 139, 0, 2, "icmp")),
        ("vlan" in columns, _Element(58, 0, 2, "vlan")),
        ("end_reason" in columns, _Element(136, 0, 1, "end_reason")),
    ]
    return out + [e for wanted, e in optional if wanted]


def _template_record(template_id: int, elements: list[_Element]) -> bytes:
    out = [struct.pack("!HH", template_id, len(elements))]
    for e in elements:
        if e.pen:
            out.append(struct.pack("!HHI", e.element | 0x8000, e.length, e.pen))
        else:
            out.append(struct.pack("!HH", e.element, e.length))
    return b"".join(out)


def _numbers(table: pa.Table, name: str) -> npt.NDArray[np.int64]:
    column = table[name]
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False)).astype(np.int64)


class IpfixEncoder:
    """Turns tables into IPFIX messages for one observation domain."""

    def __init__(
        self,
        *,
        domain: int = 1,
        max_message: int = 1400,
        template_refresh: float | None = 30.0,
        refresh_messages: int | None = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.domain = domain
        self.max_message = max_message
        self.template_refresh = template_refresh
        self.refresh_messages = refresh_messages
        self.clock = clock
        self.sequence = 0
        self.records = 0
        self.messages = 0
        self.skipped = 0  # rows whose addresses are not both IPv4 or both IPv6
        self._templates_at: float | None = None
        self._since_templates = 0

    def encode(self, table: pa.Table) -> list[bytes]:
        """The messages carrying every row of ``table``."""
        from policies import parse_addresses

        if table.num_rows == 0:
            return []
        orig, resp = parse_addresses(table["orig_addr"]), parse_addresses(table["resp_addr"])
        version = orig.version
        ok = (version == resp.version) & (version != 0)
        self.skipped += int((~ok).sum())
        columns = frozenset(table.column_names)
        values = self._values(table)
        templates = {v: _elements(columns, v) for v in (4, 6)}
        template_set = self._template_set(templates)
        messages: list[bytes] = []
        for v, template_id in ((4, TEMPLATE_V4), (6, TEMPLATE_V6)):
            rows = np.flatnonzero(ok & (version == v))
            if not rows.size:
                continue
            if v == 4:
                values["src"], values["dst"] = orig.v4[rows].astype(np.uint64), resp.v4[rows].astype(np.uint64)
            else:
                values["src_hi"], values["src_lo"] = orig.v6_hi[rows], orig.v6_lo[rows]
                values["dst_hi"], values["dst_lo"] = resp.v6_hi[rows], resp.v6_lo[rows]
            packed = self._pack(templates[v], values, rows)
            messages += self._cut(template_id, packed, template_set)
        return messages

    def _values(self, table: pa.Table) -> dict[str, npt.NDArray[np.uint64] | npt.NDArray[np.int64]]:
        names = set(table.column_names)
        values: dict[str, npt.NDArray[np.uint64] | npt.NDArray[np.int64]] = {
            "start": _numbers(table, "start") // 1000,
            "end": _numbers(table, "end") // 1000,
        }
        for name in ("orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes", "orig_tcp_flags",
                     "resp_tcp_flags", "vlan", "proto"):  # fmt: skip
            if name in names:
                values[name] = _numbers(table, name)
        if "end_reason" in names:
            index = pc.index_in(table["end_reason"].cast(pa.string()), value_set=pa.array(REASONS))
            values["end_reason"] = np.asarray(index.fill_null(-1).to_numpy(zero_copy_only=False)) + 1
        if {"orig_port", "resp_port", "proto"} <= names:
            proto, sport, dport = values["proto"], _numbers(table, "orig_port"), _numbers(table, "resp_port")
            icmp = (proto == 1) | (proto == 58)
            one_way = np.ones(len(proto), dtype=bool)  # no counterpart type: resp_port holds the code
            for number, pairs in ((1, ICMP4_COUNTERPART), (58, ICMP6_COUNTERPART)):
                one_way &= ~((proto == number) & np.isin(sport, list(pairs)))
            type_code = (sport & 0xFF) << 8 | np.where(one_way, dport & 0xFF, 0)
            values["icmp"] = np.where(icmp, type_code, 0)
            values["sport"] = np.where(icmp, 0, sport)
            values["dport"] = np.where(icmp, type_code, dport)
        return values

    @staticmethod
    def _pack(elements: list[_Element], values: dict[str, npt.NDArray[np.uint64] | npt.NDArray[np.int64]],
              rows: npt.NDArray[np.intp]) -> npt.NDArray[np.void]:  # fmt: skip
        names, formats = [], []
        for k, e in enumerate(elements):
            if e.length == 16:
                names += [f"f{k}_hi", f"f{k}_lo"]
                formats += [">u8", ">u8"]
            else:
                names.append(f"f{k}")
                formats.append(f">u{e.length}")
        records = np.zeros(rows.size, dtype=np.dtype({"names": names, "formats": formats}))
        for k, e in enumerate(elements):
            if e.length == 16:
                records[f"f{k}_hi"] = values[e.value + "_hi"]
                records[f"f{k}_lo"] = values[e.value + "_lo"]
            elif e.value in ("src", "dst"):
                records[f"f{k}"] = values[e.value]
            else:
                value = values[e.value][rows].astype(np.int64)
                if e.length < 8:
                    value &= (1 << (8 * e.length)) - 1
                records[f"f{k}"] = value.astype(np.uint64)
        return records

    def _template_set(self, templates: dict[int, list[_Element]]) -> bytes:
        body = _template_record(TEMPLATE_V4, templates[4]) + _template_record(TEMPLATE_V6, templates[6])
        return struct.pack("!HH", 2, 4 + len(body)) + body

    def _templates_due(self, now: float) -> bool:
        if self._templates_at is None:
            return True
        if self.template_refresh is not None and now - self._templates_at >= self.template_refresh:
            return True
        return self.refresh_messages is not None and self._since_templates >= self.refresh_messages

    def _cut(self, template_id: int, records: npt.NDArray[np.void], template_set: bytes) -> list[bytes]:
        size = records.dtype.itemsize
        data = records.tobytes()
        out: list[bytes] = []
        done, total = 0, records.size
        while done < total:
            now = self.clock()
            prefix = b""
            if self._templates_due(now):
                prefix, self._templates_at, self._since_templates = template_set, now, 0
            room = (self.max_message - _HEADER - len(prefix) - 4) // size
            if room < 1:
                raise ValueError(f"an IPFIX message of {self.max_message} bytes cannot hold a {size}-byte record")
            k = min(room, total - done)
            body = data[done * size : (done + k) * size]
            length = _HEADER + len(prefix) + 4 + len(body)
            header = struct.pack("!HHIII", 10, length, int(now), self.sequence, self.domain)
            out.append(header + prefix + struct.pack("!HH", template_id, 4 + len(body)) + body)
            self.sequence = (self.sequence + k) & 0xFFFFFFFF
            self.records += k
            self.messages += 1
            self._since_templates += 1
            done += k
        return out
