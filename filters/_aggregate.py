"""Counts of gated records by prefix, port and class, with small cells suppressed.

A count about few flows can single out a person (a subscriber's one connection to a rare
service), so every cell under ``k`` flows (the profile's ``aggregate_k``, 10 by default) is
left out. The suppressed cells are reported only as their number, never their sum: a sum
of the hidden cells would let them be recovered by subtraction from a total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from policies import ConfigError, format_ipv4, format_ipv6, parse_addresses

PREFIX_KEYS = {"orig_prefix": "orig_addr", "resp_prefix": "resp_addr"}


@dataclass(frozen=True)
class Aggregate:
    cells: pa.Table
    suppressed_cells: int
    k: int


def aggregate(
    records: pa.Table, by: Sequence[str], *, k: int = 10, v4_prefix: int = 24, v6_prefix: int = 48
) -> Aggregate:
    """Flows (and packets, bytes) per distinct value of ``by``; cells under ``k`` flows dropped."""
    if k < 2:
        raise ConfigError(f"k must be at least 2, got {k}", field="k")
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in by:
        if name in PREFIX_KEYS:
            columns[name] = _prefixes(records[PREFIX_KEYS[name]], v4_prefix, v6_prefix)
        elif name in records.column_names:
            columns[name] = records[name]
        else:
            raise ConfigError(f"no column {name!r} to aggregate by", field="by")
    table = pa.table(
        {
            **columns,
            "_pkts": pc.add(records["orig_pkts"], records["resp_pkts"]),
            "_bytes": pc.add(records["orig_ip_bytes"], records["resp_ip_bytes"]),
        }
    )
    grouped = table.group_by(list(by)).aggregate([("_pkts", "count"), ("_pkts", "sum"), ("_bytes", "sum")])
    grouped = grouped.rename_columns([*by, "flows", "packets", "bytes"][: grouped.num_columns])
    grouped = grouped.select([*by, "flows", "packets", "bytes"])
    keep = pc.greater_equal(grouped["flows"], k)
    cells = grouped.filter(keep).sort_by([("flows", "descending"), *((name, "ascending") for name in by)])
    return Aggregate(cells, grouped.num_rows - cells.num_rows, k)


def _prefixes(addresses: pa.ChunkedArray | pa.Array, v4: int, v6: int) -> pa.Array:
    parsed = parse_addresses(addresses)
    mask4 = np.uint32((0xFFFFFFFF << (32 - v4)) & 0xFFFFFFFF)
    hi_bits, lo_bits = min(v6, 64), max(v6 - 64, 0)
    mask_hi = np.uint64(((1 << 64) - 1) ^ ((1 << (64 - hi_bits)) - 1))
    mask_lo = np.uint64(((1 << 64) - 1) ^ ((1 << (64 - lo_bits)) - 1)) if lo_bits else np.uint64(0)
    text4 = pc.binary_join_element_wise(format_ipv4(parsed.v4 & mask4), f"/{v4}", "")
    text6 = pc.binary_join_element_wise(format_ipv6(parsed.v6_hi & mask_hi, parsed.v6_lo & mask_lo), f"/{v6}", "")
    is4 = pa.array(parsed.version == 4)
    is6 = pa.array(parsed.version == 6)
    return pc.if_else(is4, text4, pc.if_else(is6, text6, pa.scalar(None, pa.string())))
