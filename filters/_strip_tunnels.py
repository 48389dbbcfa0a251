"""The tunnel headers a stripped packet keeps, and under them the same walk again.

The collectors' tunnels: GRE, ERSPAN II / III, VXLAN, Geneve with its option data zeroed,
GTP-U with its TEID renumbered and its extension contents zeroed, IP in IP, 6in4, 4in6,
Teredo with its authentication data zeroed and its origin indication's address rewritten.
IP in IP, 6in4 and 4in6 need no step of their own (``filters._strip_walk`` enters them);
the UDP tunnels are recognised by port and header in the collectors' order, and a UDP
payload that is none of them is not kept. A fifth encapsulation level, a fragmented IP or
GRE tunnel and a tunnel header that does not decode are cut.
"""

from __future__ import annotations

from filters._strip_options import _zero_geneve_options
from filters._strip_walk import _Cut, _Walk

VXLAN_PORT, GENEVE_PORT, GTPU_PORT, TEREDO_PORT = 4789, 6081, 2152, 3544


class _TunnelWalk(_Walk):
    """The whole walk: :class:`_Walk` with the tunnel steps it hands UDP and GRE payloads to."""

    def udp_tunnel(self, sport: int, dport: int, pos: int, end: int) -> None:
        """The first UDP tunnel (in the collectors' order) whose header is recognised."""
        buf, size = self.buf, end - pos
        if dport == VXLAN_PORT and size >= 8 and buf[pos] & 0x08:
            self.vxlan(pos, end)
        elif dport == GENEVE_PORT and size >= 8 and buf[pos] >> 6 == 0:
            self.geneve(pos, end)
        elif GTPU_PORT in (sport, dport) and size >= 8 and buf[pos] >> 4 == 0x3:  # version 1, PT 1
            self.gtpu(pos, end)
        elif TEREDO_PORT in (sport, dport):
            self.teredo(pos, end)
        # anything else is the datagram's payload: nothing of it is kept

    def vxlan(self, pos: int, end: int) -> None:
        self.enter()
        self.zero(pos + 1, pos + 4)  # reserved
        self.buf[pos + 7] = 0
        self.keep = pos + 8
        self.ether(pos + 8, end)

    def geneve(self, pos: int, end: int) -> None:
        self.enter()
        size = 8 + (self.buf[pos] & 0x3F) * 4
        self.need(pos, size, end)
        self.buf[pos + 1] &= 0xC0  # O and C stay, reserved bits go
        self.buf[pos + 7] = 0
        _zero_geneve_options(self.buf, pos + 8, pos + size)
        self.keep = pos + size
        proto = self.u16(pos + 2)
        if proto == 0x6558:
            self.ether(pos + size, end)
        elif proto in (0x0800, 0x86DD):
            self.ethertype(proto, pos + size, end)
        else:
            raise _Cut("bad_tunnel")

    def gtpu(self, pos: int, end: int) -> None:
        """GTPv1-U: the TEID renumbered, extension contents zeroed; a G-PDU's inner packet follows."""
        buf = self.buf
        flags, kind = buf[pos], buf[pos + 1]
        end = min(end, pos + 8 + self.u16(pos + 2))
        self.renumber(pos + 4, 4, self.owner.teids)
        self.keep = pos + 8
        at = pos + 8
        if flags & 0x07:
            self.need(pos, 12, end)
            at = pos + 12
            self.keep = at
            next_ext = buf[pos + 11] if flags & 0x04 else 0
            while next_ext:
                self.need(at, 1, end)
                size = buf[at] * 4
                if size == 0:
                    raise _Cut("bad_tunnel")
                self.need(at, size, end)
                self.zero(at + 1, at + size - 1)
                next_ext = buf[at + size - 1]
                at += size
                self.keep = at
        if kind != 255:
            raise _Cut("gtp_message")  # echo, error indication, end marker: information elements cut
        self.enter()
        self.ip_by_nibble(at, end, "bad_tunnel")

    def teredo(self, pos: int, end: int) -> None:
        """Teredo: authentication (data zeroed) and origin indication (address rewritten), then IPv6."""
        buf, at = self.buf, pos
        auth = origin = None
        if end - at >= 4 and self.u16(at) == 1:
            size = 4 + buf[at + 2] + buf[at + 3] + 9  # client id, value, nonce, confirmation
            if end - at < size:
                return
            auth, at = (at, size), at + size
        if end - at >= 8 and self.u16(at) == 0:
            origin, at = at, at + 8
        if end - at < 40 or buf[at] >> 4 != 6:
            return  # not Teredo after all: the datagram's payload, not kept
        self.enter()
        if auth is not None:
            self.zero(auth[0] + 4, auth[0] + auth[1])
        if origin is not None:  # the client's address and port, each bit inverted
            plain = bytes(b ^ 0xFF for b in buf[origin + 4 : origin + 8])
            buf[origin + 4 : origin + 8] = bytes(b ^ 0xFF for b in self.owner.address(plain))
        self.keep = at
        self.ipv6(at, end)

    def gre(self, pos: int, end: int) -> None:
        """GRE version 0 with the C, K and S fields; anything else (routing, version 1) is cut."""
        self.enter()
        self.need(pos, 4, end)
        flags, proto = self.u16(pos), self.u16(pos + 2)
        if flags & 0x4FFF:
            raise _Cut("bad_tunnel")
        size = 4 + 4 * sum(1 for bit in (0x8000, 0x2000, 0x1000) if flags & bit)
        self.need(pos, size, end)
        at = pos + 4
        if flags & 0x8000:
            self.zero(at, at + 4)  # the checksum (a function of the payload) and reserved1
            at += 4
        if flags & 0x2000:
            self.renumber(at, 4, self.owner.gre_keys)
        self.keep = pos + size
        at = pos + size
        if proto in (0x0800, 0x86DD, 0x8847, 0x8848):
            self.ethertype(proto, at, end)
        elif proto == 0x6558:
            self.ether(at, end)
        elif proto == 0x88BE:
            self.enter()
            if flags & 0x1000:
                self.erspan2(at, end)
            else:
                self.ether(at, end)  # ERSPAN type I: no header of its own
        elif proto == 0x22EB:
            self.enter()
            self.erspan3(at, end)
        else:
            raise _Cut("bad_tunnel")

    def erspan2(self, pos: int, end: int) -> None:
        self.need(pos, 8, end)
        if self.buf[pos] >> 4 != 1:
            raise _Cut("bad_tunnel")
        self.buf[pos + 4] = 0  # reserved
        self.buf[pos + 5] &= 0x0F
        self.keep = pos + 8
        self.ether(pos + 8, end)

    def erspan3(self, pos: int, end: int) -> None:
        self.need(pos, 12, end)
        buf = self.buf
        if buf[pos] >> 4 != 2:
            raise _Cut("bad_tunnel")
        size = 12
        if buf[pos + 11] & 0x01:  # the platform-specific subheader: its platform id stays
            size = 20
            self.need(pos, size, end)
            buf[pos + 12] &= 0xFC
            self.zero(pos + 13, pos + 20)
        self.keep = pos + size
        if (buf[pos + 10] >> 2) & 0x1F:
            raise _Cut("bad_tunnel")  # a frame type other than Ethernet
        self.ether(pos + size, end)
