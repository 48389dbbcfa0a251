"""Sightings of the partner's indicators: every flow that touches an indicated address.

Matching works on a batch's distinct addresses, not its rows: the distinct values are
parsed to numbers once (policies' address codec), every indicated prefix is looked up by
(version, prefix length, masked value), and the matching addresses are mapped back onto the
rows by their keys. Only the outside side of a flow is looked at (_indicators.py says why),
and only flows that start while the indicator is valid.

Sightings are counted per indicator in tumbling windows of ``window`` seconds: one finding
per indicator and window that saw it, with the flows, packets and bytes, the indicated
addresses seen (the subject), the inside parties as the gate left them, and first / last
seen. There is no threshold: a single flow is a sighting.

Confidence: the indicator's own ``confidence`` when it has one, else ``default_confidence``.
Technique: the indicator's ``mitre-attack`` external reference, else ``default_technique``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from detectors._config import IndicatorConfig
from detectors._finding import Finding, FindingKind, Role
from detectors._flows import FlowBatch
from detectors._groups import group, member
from detectors._indicators import Alternative, IndicatorSet, Network, Side
from detectors._keys import combine, leading_octets
from detectors._report import Limits, build
from detectors._windows import Rows, WindowStore
from policies import ParsedAddresses, parse_addresses

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
Bool = npt.NDArray[np.bool_]
_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_SIDE_CODE = {Side.ANY: 0, Side.ORIG: 1, Side.RESP: 2}


def _mask(bits: int, width: int) -> np.uint64:
    """The top ``bits`` of a ``width``-bit word set."""
    if bits <= 0:
        return np.uint64(0)
    return np.uint64((((1 << bits) - 1) << (width - bits)) & 0xFFFFFFFFFFFFFFFF)


def _prefix_keys(version: int, length: int, hi: U64, lo: U64) -> U64:
    """The key of (version, length, address masked to length bits): equal for addresses in one prefix."""
    if version == 4:
        lo = lo & _mask(length, 32)
        hi = np.zeros_like(hi)
    elif length <= 64:
        hi, lo = hi & _mask(length, 64), np.zeros_like(lo)
    else:
        lo = lo & _mask(length - 64, 64)
    n = len(hi)
    return combine(np.full(n, version, np.uint64), np.full(n, length, np.uint64), hi, lo)


def _network_words(network: Network) -> tuple[int, int, int, int]:
    value = int(network.network_address)
    if network.version == 4:
        return 4, network.prefixlen, 0, value
    return 6, network.prefixlen, value >> 64, value & 0xFFFFFFFFFFFFFFFF


def _expand(query: npt.NDArray[Any], table_keys: npt.NDArray[Any], table_values: I64) -> tuple[I64, I64]:
    """Every (query position, table value) whose keys are equal; ``table_keys`` sorted."""
    left = np.searchsorted(table_keys, query, "left")
    right = np.searchsorted(table_keys, query, "right")
    count = (right - left).astype(np.int64)
    where = np.repeat(np.arange(len(query), dtype=np.int64), count)
    offset = np.arange(len(where), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return where, table_values[left[where] + offset]


class _Prefixes:
    """Networks indexed by (version, prefix length): which distinct addresses lie in which."""

    def __init__(self, networks: list[tuple[Network, int]]) -> None:
        by_shape: dict[tuple[int, int], tuple[list[int], list[int], list[int]]] = {}
        for network, value in networks:
            version, length, hi, lo = _network_words(network)
            his, los, values = by_shape.setdefault((version, length), ([], [], []))
            his.append(hi)
            los.append(lo)
            values.append(value)
        self.shapes: list[tuple[int, int, U64, I64]] = []
        # the first two octets an IPv4 network can start with: rows outside them need no parsing
        self.leads = np.zeros(1 << 16, np.bool_)
        self.has_v6 = False
        for network, _ in networks:
            if network.version == 6:
                self.has_v6 = True
                continue
            first = int(network.network_address) >> 16
            self.leads[first : first + (1 << max(0, 16 - network.prefixlen))] = True
        for (version, length), (his, los, values) in sorted(by_shape.items()):
            keys = _prefix_keys(version, length, np.array(his, np.uint64), np.array(los, np.uint64))
            order = np.argsort(keys, kind="stable")
            self.shapes.append((version, length, keys[order], np.array(values, np.int64)[order]))

    def lookup(self, parsed: ParsedAddresses) -> tuple[I64, I64]:
        """(position among the parsed addresses, value) for every address inside a network."""
        positions: list[I64] = []
        values: list[I64] = []
        lo_all = np.where(parsed.version == 4, parsed.v4.astype(np.uint64), parsed.v6_lo)
        for version, length, keys, table in self.shapes:
            at = np.flatnonzero(parsed.version == version)
            if len(at) == 0:
                continue
            query = _prefix_keys(version, length, parsed.v6_hi[at], lo_all[at])
            hit = np.flatnonzero(member(query, keys))
            where, value = _expand(query[hit], keys, table)
            positions.append(at[hit][where])
            values.append(value)
        if not positions:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(positions), np.concatenate(values)


class Sightings:
    """Flows touching an address the partner indicated."""

    kind = FindingKind.INDICATOR_MATCH

    def __init__(self, config: IndicatorConfig, limits: Limits, indicators: IndicatorSet) -> None:
        self.config = config
        self.limits = limits
        self.indicators = indicators.indicators
        self.alternatives: list[Alternative] = []
        owner: list[int] = []
        primary: list[tuple[Network, int]] = []
        for i, indicator in enumerate(self.indicators):
            for alternative in indicator.alternatives:
                a = len(self.alternatives)
                self.alternatives.append(alternative)
                owner.append(i)
                primary += [(network, a) for network in alternative.networks]
        self.owner = np.array(owner, np.int64)
        self.side = np.array([_SIDE_CODE[a.side] for a in self.alternatives], np.int64)
        hosts = sorted({(str(net.network_address), a) for net, a in primary if net.prefixlen == net.max_prefixlen})
        texts = sorted({text for text, _ in hosts})
        self.host_text = pa.array(texts, pa.string())
        number = {text: i for i, text in enumerate(texts)}
        self.host_keys = np.array([number[text] for text, _ in hosts], np.int64)
        self.host_alts = np.array([a for _, a in hosts], np.int64)
        self.prefixes = _Prefixes([(net, a) for net, a in primary if net.prefixlen < net.max_prefixlen])
        self.valid_from = np.array([i.valid_from_us for i in self.indicators], np.int64)
        self.valid_until = np.array(
            [i.valid_until_us if i.valid_until_us is not None else np.iinfo(np.int64).max for i in self.indicators],
            np.int64,
        )
        self.store = WindowStore(config.window, limits.lateness, limits.max_window_rows, pairs=False)

    def match(self, batch: FlowBatch) -> tuple[I64, I64, I64]:
        """(row, indicator, matched side: 0 originator, 1 responder) for every sighting in the batch."""
        empty = np.zeros(0, np.int64)
        if not self.alternatives or batch.n == 0:
            return empty, empty, empty
        found_rows, found_alts, found_sides = [], [], []
        for side, names, outside in ((0, batch.names[0], batch.orig_outside), (1, batch.names[1], batch.resp_outside)):
            rows, alts = self._lookup(names.text, np.flatnonzero(outside))
            allowed = (self.side[alts] == 0) | (self.side[alts] == side + 1)
            found_rows.append(rows[allowed])
            found_alts.append(alts[allowed])
            found_sides.append(np.full(int(allowed.sum()), side, np.int64))
        rows, alts, sides = np.concatenate(found_rows), np.concatenate(found_alts), np.concatenate(found_sides)
        keep = self._constraints(batch, rows, alts)
        rows, alts, sides = rows[keep], alts[keep], sides[keep]
        owners = self.owner[alts]
        start = batch.start[rows]
        valid = (start >= self.valid_from[owners]) & (start < self.valid_until[owners])
        rows, owners, sides = rows[valid], owners[valid], sides[valid]
        if len(rows) == 0:
            return empty, empty, empty
        # one sighting per (row, indicator, side), whichever alternatives matched it
        unique = np.unique(np.stack([rows, owners, sides], axis=1), axis=0)
        return unique[:, 0], unique[:, 1], unique[:, 2]

    def _lookup(self, text: pa.Array, at: I64) -> tuple[I64, I64]:
        """(row, alternative) for the rows ``at`` whose address an alternative names."""
        rows_out, alts_out = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
        if len(at) == 0:
            return rows_out[0], alts_out[0]
        if len(self.host_text):
            index = pc.index_in(text, value_set=self.host_text)
            number = np.asarray(pc.fill_null(index, -1).to_numpy(zero_copy_only=False), np.int64)[at]
            hit = np.flatnonzero(number >= 0)
            where, alts = _expand(number[hit], self.host_keys, self.host_alts)
            rows_out.append(at[hit][where])
            alts_out.append(alts)
        if self.prefixes.shapes:
            lead = leading_octets(text, at)
            maybe = self.prefixes.leads[np.maximum(lead, 0)] & (lead >= 0) | (lead == -1)
            if self.prefixes.has_v6:
                maybe |= lead == -2
            at = at[maybe]
            parsed = parse_addresses(text.take(pa.array(at)))
            position, alts = self.prefixes.lookup(parsed)
            rows_out.append(at[position])
            alts_out.append(alts)
        return np.concatenate(rows_out), np.concatenate(alts_out)

    def _constraints(self, batch: FlowBatch, rows: I64, alts: I64) -> Bool:
        """Which (row, alternative) pairs also meet the alternative's ports, protocols and other addresses."""
        keep = np.ones(len(rows), np.bool_)
        for a in np.unique(alts):
            alternative = self.alternatives[int(a)]
            if not (
                alternative.more_addresses
                or alternative.orig_ports is not None
                or alternative.resp_ports is not None
                or alternative.protocols is not None
            ):
                continue
            mine = np.flatnonzero(alts == a)
            r = rows[mine]
            ok = np.ones(len(r), np.bool_)
            if alternative.orig_ports is not None:
                ok &= np.isin(batch.orig_port[r], list(alternative.orig_ports))
            if alternative.resp_ports is not None:
                ok &= np.isin(batch.resp_port[r], list(alternative.resp_ports))
            if alternative.protocols is not None:
                ok &= np.isin(batch.proto[r], list(alternative.protocols))
            for side, networks in alternative.more_addresses:
                inside = _Prefixes([(n, 0) for n in networks])
                hits = []
                for s, outside in ((Side.ORIG, batch.orig_outside), (Side.RESP, batch.resp_outside)):
                    if side not in (s, Side.ANY):
                        continue
                    text = batch.names[0 if s is Side.ORIG else 1].text.take(pa.array(r))
                    position, _ = inside.lookup(parse_addresses(text))
                    hit = np.zeros(len(r), np.bool_)
                    hit[position] = True
                    hits.append(hit & outside[r])
                ok &= np.logical_or.reduce(hits) if hits else False
            keep[mine] = ok
        return keep

    def add(self, batch: FlowBatch) -> None:
        rows, owners, sides = self.match(batch)
        if len(rows) == 0:
            return
        orig = sides == 0
        self.store.add(
            batch,
            rows,
            {
                "indicator": owners,
                "address": np.where(orig, batch.orig_key[rows], batch.resp_key[rows]),
                "other": np.where(orig, batch.resp_key[rows], batch.orig_key[rows]),
                "proto": batch.proto[rows],
                "port": batch.resp_port[rows],  # the service the flow reached
                "start": batch.start[rows],
                "end": batch.end[rows],
                "serial": batch.serial[rows],
                "packets": batch.orig_pkts[rows] + batch.resp_pkts[rows],
                "bytes": batch.orig_bytes[rows] + batch.resp_bytes[rows],
            },
        )

    def close(self, watermark: int | None) -> list[Finding]:
        found: list[Finding] = []
        for k in self.store.ready(watermark):
            found += self._evaluate(self.store.evaluate(k))
        return found

    def stats(self) -> dict[str, int]:
        return self.store.stats.as_dict()

    def _evaluate(self, rows: Rows) -> list[Finding]:
        if len(rows) == 0:
            return []
        groups = group(rows["indicator"].astype(np.uint64))
        rows.prefetch("address", "other")
        found = []
        for g in range(len(groups)):
            picked = groups.rows(g)
            indicator = self.indicators[int(groups.keys[g])]
            weights = rows["packets"][picked]
            found.append(
                build(
                    kind=self.kind,
                    technique_id=indicator.technique or self.config.default_technique,
                    rows=rows,
                    picked=picked,
                    limits=self.limits,
                    subject_keys=rows["address"][picked],
                    subject_weights=weights,
                    role=Role.INDICATED,
                    target_keys=rows["other"][picked],
                    target_weights=weights,
                    proto=rows["proto"][picked],
                    port_values=rows["port"][picked],
                    counts={
                        "packets": int(weights.sum()),
                        "bytes": int(rows["bytes"][picked].sum()),
                        "addresses": len(np.unique(rows["address"][picked])),
                        "counterparts": len(np.unique(rows["other"][picked])),
                    },
                    confidence=(
                        indicator.confidence if indicator.confidence is not None else self.config.default_confidence
                    )
                    / 100,
                    details={
                        "indicator_id": indicator.id,
                        "indicator_name": indicator.name,
                        "pattern": indicator.pattern,
                    },
                    id_extra=indicator.id,
                )
            )
        return found
