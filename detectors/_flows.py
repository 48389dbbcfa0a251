"""One batch of GatedRecords as the numpy columns every detector reads.

The chain builds a :class:`FlowBatch` once per batch and hands it to every detector: the
times in microseconds, ports, volumes, which side is outside (from ``traffic_class``), the
64-bit keys of both addresses, whether each flow was answered, and the *prior watermark* of
each row: the latest flow start seen before it, in arrival order. Windows close on that
watermark, so whether a late record still counts depends on the order of the records only,
never on where the batches were cut.

Only GatedRecords are read: a table without ``traffic_class`` did not go through the gate.
Columns a profile may leave out (``conn_state``) are optional; the rest are required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from detectors._errors import DetectorError
from detectors._keys import Names, encode_addresses, one_array
from policies import TrafficClass

I64: TypeAlias = npt.NDArray[np.int64]
U64: TypeAlias = npt.NDArray[np.uint64]
Bool: TypeAlias = npt.NDArray[np.bool_]

REQUIRED_COLUMNS: tuple[str, ...] = (
    "flow_id",
    "start",
    "end",
    "proto",
    "orig_addr",
    "orig_port",
    "resp_addr",
    "resp_port",
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "traffic_class",
)
OPTIONAL_COLUMNS: tuple[str, ...] = ("conn_state", "ip_version")

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
# TCP states in which the responder never took part in a connection (docs/collectors.md)
_REFUSED_STATES = ("S0", "REJ", "RSTOS0", "SH", "OTH", "RSTRH", "SHR")
_ESTABLISHED_STATES = ("SF", "S1", "S2", "S3", "RSTO", "RSTR")
# at most this many IP bytes a packet means headers only: IPv4 20 + TCP with options 40; IPv6 40 + 40
_HEADER_ONLY_V4, _HEADER_ONLY_V6 = 60, 80
_ORIG_OUTSIDE = (TrafficClass.FOREIGN_TO_DOMESTIC.value, TrafficClass.FOREIGN_TO_FOREIGN.value)
_RESP_OUTSIDE = (TrafficClass.DOMESTIC_TO_FOREIGN.value, TrafficClass.FOREIGN_TO_FOREIGN.value)


def _ints(column: pa.ChunkedArray | pa.Array, name: str) -> I64:
    try:
        values = pc.cast(column, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DetectorError(f"not a number column: {exc}", field=name) from exc
    if values.null_count:
        values = pc.fill_null(values, 0)
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64)


class _Labels:
    """A column of short labels (traffic class, conn_state) encoded once, then asked about."""

    def __init__(self, column: pa.ChunkedArray | pa.Array) -> None:
        column = one_array(column)
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        self.values = [str(v) if v is not None else None for v in column.dictionary.to_pylist()]
        indices = column.indices
        self.codes = np.asarray(pc.fill_null(indices, len(self.values)).to_numpy(zero_copy_only=False), np.int64)

    def isin(self, wanted: tuple[str, ...]) -> Bool:
        table = np.array([v in wanted for v in self.values] + [False], dtype=np.bool_)
        return table[self.codes]

    def unknown(self, known: tuple[str, ...]) -> list[str | None]:
        """The values present that are not ``known`` (None for a null)."""
        seen = np.flatnonzero(np.bincount(self.codes, minlength=len(self.values) + 1))
        present = [self.values[c] if c < len(self.values) else None for c in seen]
        return [value for value in present if value not in known]


@dataclass(frozen=True, eq=False)
class FlowBatch:
    """Column-wise view of one batch of GatedRecords (row order kept)."""

    n: int
    serial: I64  # global row number: rows fed before this batch + row index
    prior_watermark: I64  # latest start (us) among the rows before each row
    flow_id: pa.Array
    start: I64
    end: I64
    proto: I64
    orig_port: I64
    resp_port: I64
    orig_pkts: I64
    resp_pkts: I64
    orig_bytes: I64
    resp_bytes: I64
    orig_outside: Bool
    resp_outside: Bool
    orig_key: U64
    resp_key: U64
    answered: Bool  # the responder took part (sent something, and TCP: did not refuse)
    established: Bool  # a connection with both sides talking (TCP: handshake seen)
    empty: Bool  # no payload either way (headers only): a probe even when answered
    names: tuple[Names, Names]  # originator's and responder's addresses

    @property
    def service(self) -> I64:
        """Protocol and service port in one number: ``proto << 16 | port``; ICMP by its type."""
        icmp = (self.proto == ICMP) | (self.proto == ICMP6)
        port = np.where(icmp, self.orig_port, self.resp_port)
        return (self.proto << 16) | port


def check_columns(table: pa.Table) -> None:
    """DetectorError unless ``table`` holds GatedRecords with every column detection needs."""
    missing = [name for name in REQUIRED_COLUMNS if name not in table.column_names]
    if "traffic_class" in missing:
        raise DetectorError(
            "no traffic_class: only GatedRecords (the gate's output) can be read", field="traffic_class"
        )
    if missing:
        raise DetectorError(f"the records lack {', '.join(missing)}", field=missing[0])


def flow_batch(table: pa.Table, serial0: int, watermark: int) -> FlowBatch:
    """The detectors' view of ``table``; ``serial0`` rows came before it, the latest start so far is ``watermark``."""
    check_columns(table)
    wanted = [name for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in table.column_names]
    table = table.select(wanted)
    if any(table[name].num_chunks > 1 for name in wanted):
        table = table.combine_chunks()
    n = table.num_rows
    start = _ints(table["start"], "start")
    end = _ints(table["end"], "end")
    classes = _Labels(table["traffic_class"])
    unknown = classes.unknown(tuple(c.value for c in TrafficClass))
    if unknown:
        raise DetectorError(f"unknown traffic class {unknown[0]!r}", field="traffic_class")
    orig_outside = classes.isin(_ORIG_OUTSIDE)
    resp_outside = classes.isin(_RESP_OUTSIDE)
    proto = _ints(table["proto"], "proto")
    orig_pkts, resp_pkts = _ints(table["orig_pkts"], "orig_pkts"), _ints(table["resp_pkts"], "resp_pkts")
    orig_bytes = _ints(table["orig_ip_bytes"], "orig_ip_bytes")
    resp_bytes = _ints(table["resp_ip_bytes"], "resp_ip_bytes")
    tcp = proto == TCP
    answered = resp_pkts > 0
    established = answered & (orig_pkts > 1)
    if "conn_state" in table.column_names:
        state = _Labels(table["conn_state"])
        answered &= ~(tcp & state.isin(_REFUSED_STATES))
        established = np.where(tcp, state.isin(_ESTABLISHED_STATES) & answered, established)
    if "ip_version" in table.column_names:
        header = np.where(_ints(table["ip_version"], "ip_version") == 6, _HEADER_ONLY_V6, _HEADER_ONLY_V4)
    else:
        header = np.full(n, _HEADER_ONLY_V6)
    empty = tcp & (orig_bytes <= header * orig_pkts) & (resp_bytes <= header * resp_pkts)
    orig_key, orig_names = encode_addresses(table["orig_addr"])
    resp_key, resp_names = encode_addresses(table["resp_addr"])
    prior = np.maximum.accumulate(np.concatenate([np.array([watermark], np.int64), start]))[:n]
    flow_id = table["flow_id"]
    if not pa.types.is_string(flow_id.type):
        flow_id = flow_id.cast(pa.string())
    return FlowBatch(
        n=n,
        serial=np.arange(serial0, serial0 + n, dtype=np.int64),
        prior_watermark=prior,
        flow_id=one_array(flow_id),
        start=start,
        end=end,
        proto=proto,
        orig_port=_ints(table["orig_port"], "orig_port"),
        resp_port=_ints(table["resp_port"], "resp_port"),
        orig_pkts=orig_pkts,
        resp_pkts=resp_pkts,
        orig_bytes=orig_bytes,
        resp_bytes=resp_bytes,
        orig_outside=orig_outside,
        resp_outside=resp_outside,
        orig_key=orig_key,
        resp_key=resp_key,
        answered=answered,
        established=established,
        empty=empty,
        names=(orig_names, resp_names),
    )
