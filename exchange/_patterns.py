"""STIX patterns for what a finding says about an outside address.

Three kinds, named as an agreement's ``indicator_kinds`` name them:

- ``ipv4-addr``: ``[ipv4-addr:value = '198.51.100.7']``
- ``ipv6-addr``: ``[ipv6-addr:value = '2001:db8::7']``
- ``network-traffic``: the address on one side of a flow, with the service:
  ``[network-traffic:src_ref.value = '198.51.100.7' AND network-traffic:dst_port = 22 AND
  network-traffic:protocols[*] = 'tcp']``

Addresses are written in their canonical text (``ipaddress``), ports as integers, protocols as
IANA keywords, so the same indicator always has the same pattern, and so the same id. These
are exactly the forms the detectors' indicator matching reads (detectors/_indicators.py), so
a metagate partner can match what we send.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from enum import StrEnum

KINDS = ("ipv4-addr", "ipv6-addr", "network-traffic")
PROTOCOLS = ("icmp", "tcp", "udp", "ipv6-icmp", "sctp")


class Side(StrEnum):
    """Which end of a flow the indicated address is."""

    SRC = "src"
    DST = "dst"


@dataclass(frozen=True)
class PatternSpec:
    """One pattern: an address, and for network-traffic its side, a port (on a side) and a protocol."""

    address: str
    side: Side | None = None
    port: int | None = None
    port_side: Side = Side.DST
    protocol: str | None = None

    def __post_init__(self) -> None:
        canonical = canonical_address(self.address)
        if canonical is None:
            ipaddress.ip_address(self.address)  # its own ValueError, saying what is wrong
        if canonical != self.address:
            raise ValueError(f"{self.address!r} is not in canonical form ({canonical!r})")
        if self.side is None and (self.port is not None or self.protocol is not None):
            raise ValueError("a port or protocol needs a side (a network-traffic pattern)")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port {self.port} is out of range")
        if self.protocol is not None and self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")

    @property
    def version(self) -> int:
        return 6 if ":" in self.address else 4

    @property
    def kind(self) -> str:
        """The agreement's name for this kind of pattern."""
        if self.side is not None:
            return "network-traffic"
        return f"ipv{self.version}-addr"

    @property
    def address_kind(self) -> str:
        return f"ipv{self.version}-addr"

    def plain(self) -> PatternSpec:
        """The address alone (the fallback when network-traffic patterns are not agreed)."""
        return PatternSpec(self.address)

    def text(self) -> str:
        if self.side is None:
            return f"[{self.address_kind}:value = '{self.address}']"
        terms = [f"network-traffic:{self.side.value}_ref.value = '{self.address}'"]
        if self.port is not None:
            terms.append(f"network-traffic:{self.port_side.value}_port = {self.port}")
        if self.protocol is not None:
            terms.append(f"network-traffic:protocols[*] = '{self.protocol}'")
        return "[" + " AND ".join(terms) + "]"


@functools.lru_cache(maxsize=65_536)  # packaging asks about each subject more than once
def canonical_address(text: str) -> str | None:
    """The canonical text of an address, or None when ``text`` is not one (a pseudonym, a prefix)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
