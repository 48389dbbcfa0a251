"""Tunnels for the scapy walk (docs/collectors.md, "Tunnels"): GRE, ERSPAN, IP in IP, VXLAN,
Geneve, GTP-U and Teredo, recognised by the contract's rules, not scapy's port bindings.

Once a tunnel is recognised, a malformed header or payload below it is ``bad_tunnel`` (the
carrier's observation stays); ``non_ip``, ``orphan_fragment`` and ``too_deep`` keep their kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE

from collectors._scapy_layers import (
    Context,
    DecodeProblem,
    GtpExtension,
    GtpMandatory,
    TeredoAuth,
    TeredoOrigin,
    VxlanHeader,
    dissect,
)

MAX_TUNNELS = 4
_BECOMES_BAD_TUNNEL = frozenset({"truncated", "bad_ip", "mpls_payload"})
VXLAN_PORT, GENEVE_PORT, GTPU_PORT, TEREDO_PORT = 4789, 6081, 2152, 3544
G_PDU = 255


class TunnelWalk:
    """The tunnel half of a packet walk; the subclass supplies the link and IP layers."""

    def ether(self, data: bytes, ctx: Context) -> None:
        raise NotImplementedError

    def ethertype(self, etype: int, data: bytes, ctx: Context) -> None:
        raise NotImplementedError

    def ipv4(self, data: bytes, ctx: Context) -> None:
        raise NotImplementedError

    def ipv6(self, data: bytes, ctx: Context) -> None:
        raise NotImplementedError

    def ip_by_nibble(self, data: bytes, ctx: Context, kind: str) -> None:
        raise NotImplementedError

    @staticmethod
    def need(data: bytes, size: int) -> None:
        if len(data) < size:
            raise DecodeProblem("truncated")

    # --- plumbing -----------------------------------------------------------------

    @staticmethod
    def enter(ctx: Context, label: str) -> Context:
        """The context inside one more tunnel; a fifth level is ``too_deep``."""
        if len(ctx.tunnel) >= MAX_TUNNELS:
            raise DecodeProblem("too_deep")
        return replace(ctx, tunnel=(*ctx.tunnel, label))

    @staticmethod
    def inside(step: Callable[[bytes, Context], None], data: bytes, ctx: Context) -> None:
        """Run ``step`` on a recognised tunnel's payload; its malformations are ``bad_tunnel``."""
        try:
            step(data, ctx)
        except DecodeProblem as problem:
            if problem.kind in _BECOMES_BAD_TUNNEL:
                raise DecodeProblem("bad_tunnel") from problem
            raise

    def tunnel(self, proto: int, sport: int, dport: int, payload: bytes, ctx: Context) -> None:
        """Follow the tunnel an observation carries, if it is one."""
        if proto == 47:
            self.inside(self.gre, payload, ctx)
        elif proto == 4:
            self.inside(self.ipv4, payload, self.enter(ctx, "ipip"))
        elif proto == 41:
            self.inside(self.ipv6, payload, self.enter(ctx, "ipip"))
        elif proto == 17:
            self.udp_tunnel(sport, dport, payload, ctx)

    # --- GRE and ERSPAN -----------------------------------------------------------

    def gre(self, data: bytes, ctx: Context) -> None:
        ctx = self.enter(ctx, "gre")  # too deep is decided before the header is read
        self.need(data, 4)
        gre, rest = dissect(GRE, data)  # the C, K and S fields are scapy's conditional fields
        if gre.version != 0 or gre.routing_present:
            raise DecodeProblem("bad_tunnel")
        if gre.proto in (0x0800, 0x86DD, 0x8847, 0x8848):
            self.ethertype(gre.proto, rest, ctx)
        elif gre.proto == 0x6558:
            self.ether(rest, ctx)
        elif gre.proto == 0x88BE and not gre.seqnum_present:  # ERSPAN type I: no header
            self.ether(rest, self.enter(ctx, "erspan"))
        elif gre.proto == 0x88BE:
            ctx = self.enter(ctx, "erspan")
            self.need(rest, 8)
            _, rest = dissect(ERSPAN_II, rest)
            self.ether(rest, ctx)
        elif gre.proto == 0x22EB:
            ctx = self.enter(ctx, "erspan")
            self.need(rest, 12)
            erspan, rest = dissect(ERSPAN_III, rest)
            if erspan.o:
                self.need(rest, 8)
                _, rest = dissect(ERSPAN_PlatformSpecific, rest)
            self.ether(rest, ctx)
        else:
            raise DecodeProblem("bad_tunnel")

    # --- UDP tunnels --------------------------------------------------------------

    def udp_tunnel(self, sport: int, dport: int, data: bytes, ctx: Context) -> None:
        """The first UDP tunnel (in the contract's table order) whose header is recognised."""
        if dport == VXLAN_PORT and len(data) >= 8:
            vxlan, _ = dissect(VxlanHeader, data[:8])
            if int(vxlan.flags) & 0x08:  # the I flag: the VNI is valid
                self.inside(self.ether, data[8:], self.enter(ctx, f"vxlan:{vxlan.vni}"))
                return
        if dport == GENEVE_PORT and len(data) >= 8:
            geneve, _ = dissect(GENEVE, data[:8])
            if geneve.version == 0:
                self.inside(self.geneve, data, self.enter(ctx, f"geneve:{geneve.vni}"))
                return
        if GTPU_PORT in (sport, dport) and len(data) >= 8:
            gtp, _ = dissect(GtpMandatory, data[:8])
            if gtp.version == 1 and gtp.PT == 1:
                if gtp.gtp_type == G_PDU:
                    self.inside(self.gtpu, data, self.enter(ctx, "gtpu"))
                return
        if TEREDO_PORT in (sport, dport):
            self.teredo(data, ctx)

    def geneve(self, data: bytes, ctx: Context) -> None:
        geneve, _ = dissect(GENEVE, data[:8])
        size = 8 + geneve.optionlen * 4
        self.need(data, size)
        if geneve.proto == 0x6558:
            self.ether(data[size:], ctx)
        elif geneve.proto in (0x0800, 0x86DD):
            self.ethertype(geneve.proto, data[size:], ctx)
        else:
            raise DecodeProblem("bad_tunnel")

    def gtpu(self, data: bytes, ctx: Context) -> None:
        """A G-PDU: skip the optional fields and extension headers; the TEID is not kept."""
        head, rest = dissect(GtpMandatory, data)
        if head.E or head.S or head.PN:
            self.need(data, 12)
            gtp, rest = dissect(GTP_U_Header, data)
            next_ex = gtp.next_ex if head.E else 0
            while next_ex:
                self.need(rest, 1)
                ext, after = dissect(GtpExtension, rest)
                if ext.length == 0:
                    raise DecodeProblem("bad_tunnel")
                self.need(rest, ext.length * 4)
                rest, next_ex = after, ext.next_ex
        self.ip_by_nibble(rest, ctx, kind="bad_tunnel")

    def teredo(self, data: bytes, ctx: Context) -> None:
        """Teredo: optional authentication and origin indication, then an IPv6 header."""
        rest = data
        if len(rest) >= 4:
            auth, _ = dissect(TeredoAuth, rest[:4])
            if auth.indicator == 1:
                size = 4 + auth.id_len + auth.au_len + 9  # client id, value, nonce, confirmation
                if len(rest) < size:
                    return
                rest = rest[size:]
        if len(rest) >= 8:
            origin, after = dissect(TeredoOrigin, rest)
            if origin.indicator == 0:
                rest = after
        if len(rest) >= 40 and dissect(IPv6, rest[:40])[0].version == 6:
            self.inside(self.ipv6, rest, self.enter(ctx, "teredo"))
