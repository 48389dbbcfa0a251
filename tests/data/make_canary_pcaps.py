"""Build the canary corpus: tests/data/canary/*.pcap(ng) and tests/data/canary/canaries.txt.

Run as ``.venv/bin/python tests/data/make_canary_pcaps.py [OUTPUT_DIR]`` (default: this
folder). Each capture plants distinct canary strings (``CANARY-HTTPBODY-7f3a``: a place name
and four hex digits of its SHA-256) in a place where content of communications can hide:
HTTP, SMTP, DNS and TLS fields, tunnel payloads, ICMP payloads and quotes, IP options,
fragments, unknown headers, link trailers, pcapng comments and name records. Nothing that
metagate may keep (addresses, ports, TCP options, tunnel ids) carries one, so any canary
found in what metagate writes is content that leaked. A few are planted re-encoded (base64,
hex, lower case), as content often travels; tests/canaries.py finds them in those forms too.

Packets are built with scapy (IP and transport layers) and ``struct`` (everything else) with
fixed timestamps, IP ids, sequence numbers and MACs, so the output is byte-for-byte
reproducible. Domestic addresses (for test policies) are 203.0.113.0/24 and 2001:db8:a::/48,
foreign ones 198.51.100.0/24 and 2001:db8:f::/48; overlays and subscribers use 10.0.0.0/8,
192.168.0.0/16 and 203.0.113.0/24.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption, IPOption_RR
from scapy.layers.inet6 import (
    HBHOptUnknown,
    ICMPv6EchoReply,
    ICMPv6EchoRequest,
    ICMPv6PacketTooBig,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.packet import Packet, Raw

BASE_S = 1_717_200_000  # 2024-06-01T00:00:00Z
LINK_ETHERNET, LINK_NULL, LINK_RAW, LINK_SLL, LINK_SLL2 = 1, 0, 101, 113, 276
ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806

# hardware addresses with real vendor prefixes: every one must be gone from a stripped file
MAC_HOST = bytes.fromhex("001b213a4f01")
MAC_GW = bytes.fromhex("001b213a4f02")
MAC_VM1 = bytes.fromhex("005056aabb01")
MAC_VM2 = bytes.fromhex("005056aabb02")
MAC_BRAS = bytes.fromhex("3c8ab0c0ffee")
MAC_CPE = bytes.fromhex("f0b4d2112233")
TEID_UP, TEID_DOWN, TEID_GTPC = 0x1A2B3C4D, 0x55667788, 0x0BADF00D
GRE_KEY = 0xDEADBEEF
PPPOE_SESSION = 0x1234
TCP_SYN_OPTIONS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (123456, 0)), ("NOP", None), ("WScale", 7)]

# ---------------------------------------------------------------------------------------------
# canaries


class Canaries:
    """The canary strings in planting order; each place name is used once."""

    def __init__(self) -> None:
        self.planted: list[bytes] = []

    def __call__(self, place: str) -> bytes:
        suffix = hashlib.sha256(place.encode()).hexdigest()[:4]
        canary = f"CANARY-{place}-{suffix}".encode()
        assert canary not in self.planted, place
        assert all(canary not in c and c not in canary for c in self.planted), place
        self.planted.append(canary)
        return canary


C = Canaries()

# ---------------------------------------------------------------------------------------------
# IP and transport layers


class _Ids:
    """IP identification values: one fixed sequence per run."""

    next = 0x2000

    @classmethod
    def take(cls) -> int:
        cls.next += 1
        return cls.next


def _v6(addr: str) -> bool:
    return ipaddress.ip_address(addr).version == 6


def ip(src: str, dst: str, ext: Sequence[Packet] = (), **v4: Any) -> Packet:
    if _v6(src):
        head: Packet = IPv6(src=src, dst=dst, hlim=64)
        for layer in ext:
            head = head / layer
        return head
    return IP(src=src, dst=dst, id=_Ids.take(), ttl=64, **v4)


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    flags: str,
    data: bytes = b"",
    *,
    seq: int,
    ack: int = 0,
    ext: Sequence[Packet] = (),
) -> bytes:
    options = (
        TCP_SYN_OPTIONS if "S" in flags else [("NOP", None), ("NOP", None), ("Timestamp", (123456 + seq % 1000, 1))]
    )
    layer = TCP(sport=sport, dport=dport, flags=flags, seq=seq, ack=ack, window=64240, options=options)
    packet = ip(src, dst, ext) / layer
    return bytes(packet / Raw(data) if data else packet)


def udp(
    src: str, dst: str, sport: int, dport: int, data: bytes = b"", *, ext: Sequence[Packet] = (), **v4: Any
) -> bytes:
    packet = ip(src, dst, ext, **v4) / UDP(sport=sport, dport=dport)
    return bytes(packet / Raw(data) if data else packet)


def carrier(src: str, dst: str, proto: int, inner: bytes) -> bytes:
    """An IP packet carrying ``inner`` under IP protocol ``proto``."""
    if _v6(src):
        return bytes(IPv6(src=src, dst=dst, nh=proto, hlim=64) / Raw(inner))
    return bytes(IP(src=src, dst=dst, id=_Ids.take(), ttl=64, proto=proto) / Raw(inner))


@dataclass
class Conversation:
    """A TCP connection: the handshake, then segments with their sequence numbers kept."""

    client: str
    server: str
    cport: int
    sport: int
    seq: dict[str, int] = field(default_factory=dict)

    def handshake(self) -> list[bytes]:
        self.seq = {self.client: 1_000_000, self.server: 5_000_000}
        c, s = self.client, self.server
        out = [
            tcp(c, s, self.cport, self.sport, "S", seq=self.seq[c]),
            tcp(s, c, self.sport, self.cport, "SA", seq=self.seq[s], ack=self.seq[c] + 1),
        ]
        self.seq[c] += 1
        self.seq[s] += 1
        out.append(tcp(c, s, self.cport, self.sport, "A", seq=self.seq[c], ack=self.seq[s]))
        return out

    def send(self, who: str, data: bytes, flags: str = "PA") -> bytes:
        other = self.server if who == self.client else self.client
        ports = (self.cport, self.sport) if who == self.client else (self.sport, self.cport)
        packet = tcp(who, other, *ports, flags, data, seq=self.seq[who], ack=self.seq[other])
        self.seq[who] += len(data) + (1 if "F" in flags else 0)
        return packet

    def close(self) -> list[bytes]:
        return [self.send(self.client, b"", "FA"), self.send(self.server, b"", "FA"), self.send(self.client, b"", "A")]


# ---------------------------------------------------------------------------------------------
# link, shim and tunnel headers


def ether(
    payload: bytes, ethertype: int, *, src: bytes = MAC_HOST, dst: bytes = MAC_GW, tags: Sequence[tuple[int, int]] = ()
) -> bytes:
    head = dst + src
    for tpid, vid in tags:
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def eth_ip(packet: bytes, *, back: bool = False, tags: Sequence[tuple[int, int]] = ()) -> bytes:
    kind = ETH_IPV6 if packet[0] >> 4 == 6 else ETH_IPV4
    src, dst = (MAC_GW, MAC_HOST) if back else (MAC_HOST, MAC_GW)
    return ether(packet, kind, src=src, dst=dst, tags=tags)


def vm_frame(packet: bytes, *, back: bool = False) -> bytes:
    src, dst = (MAC_VM2, MAC_VM1) if back else (MAC_VM1, MAC_VM2)
    return ether(packet, ETH_IPV6 if packet[0] >> 4 == 6 else ETH_IPV4, src=src, dst=dst)


def gtpu(teid: int, inner: bytes, seq: int) -> bytes:
    """A G-PDU with a sequence number and a PDU session container (QFI 9)."""
    ext = struct.pack("!BBBB", 1, 0x10, 0x09, 0)
    body = struct.pack("!HBB", seq, 0, 0x85) + ext + inner
    return struct.pack("!BBHI", 0x34 | 0x02, 0xFF, len(body), teid) + body


def gtp_echo(seq: int) -> bytes:
    body = struct.pack("!HBB", seq, 0, 0)
    return struct.pack("!BBHI", 0x32, 1, len(body), 0) + body


def _bcd(digits: str) -> bytes:
    if len(digits) % 2:
        digits += "F"
    return bytes(int(digits[i + 1], 16) << 4 | int(digits[i], 16) for i in range(0, len(digits), 2))


def gtpc_create_session(apn: bytes) -> bytes:
    """GTPv2-C Create Session Request with IMSI, MSISDN and APN information elements."""

    def ie(kind: int, value: bytes) -> bytes:
        return struct.pack("!BHB", kind, len(value), 0) + value

    apn_labels = b"".join(bytes([len(label)]) + label for label in (apn, b"example", b"gprs"))
    ies = ie(1, _bcd("440101234567890")) + ie(76, _bcd("819012345678")) + ie(71, apn_labels)
    body = struct.pack("!I", TEID_GTPC) + struct.pack("!I", 0x000101 << 8) + ies
    return struct.pack("!BBH", 0x48, 32, len(body)) + body


def vxlan(vni: int, frame: bytes, flags: int = 0x08) -> bytes:
    return struct.pack("!BBHI", flags, 0, 0, vni << 8) + frame


def geneve(vni: int, frame: bytes, options: bytes) -> bytes:
    return struct.pack("!BBHI", len(options) // 4, 0, 0x6558, vni << 8) + options + frame


def geneve_option(cls: int, kind: int, data: bytes) -> bytes:
    data += b"\0" * (-len(data) % 4)
    return struct.pack("!HBB", cls, kind, len(data) // 4) + data


def gre(proto: int, payload: bytes, *, key: int | None = None, seq: int | None = None, csum: bool = False) -> bytes:
    flags = (0x8000 if csum else 0) | (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    head = struct.pack("!HH", flags, proto)
    if csum:
        head += struct.pack("!HH", 0xBEEF, 0)  # any value: it must not survive
    if key is not None:
        head += struct.pack("!I", key)
    if seq is not None:
        head += struct.pack("!I", seq)
    return head + payload


def erspan2(frame: bytes, session: int, index: int) -> bytes:
    return struct.pack("!HHI", (1 << 12) | 0, session & 0x3FF, index & 0xFFFFF) + frame


def teredo_auth(client_id: bytes) -> bytes:
    nonce = bytes.fromhex("0102030405060708")
    return struct.pack("!HBB", 1, len(client_id), 0) + client_id + nonce + b"\0"


def teredo_origin(port: int, addr: str) -> bytes:
    packed = ipaddress.ip_address(addr).packed
    return struct.pack("!HH", 0, port ^ 0xFFFF) + bytes(b ^ 0xFF for b in packed)


def mpls(labels: Sequence[int], payload: bytes) -> bytes:
    out = b""
    for i, label in enumerate(labels):
        out += struct.pack("!I", (label << 12) | (int(i == len(labels) - 1) << 8) | 64)
    return out + payload


def pppoe_session(ppp_proto: int, payload: bytes) -> bytes:
    ppp = struct.pack("!H", ppp_proto) + payload
    return struct.pack("!BBHH", 0x11, 0x00, PPPOE_SESSION, len(ppp)) + ppp


def sll(packet: bytes) -> bytes:
    proto = ETH_IPV6 if packet[0] >> 4 == 6 else ETH_IPV4
    return struct.pack("!HHH8sH", 0, 1, 6, MAC_HOST + b"\0\0", proto) + packet


def sll2(packet: bytes) -> bytes:
    proto = ETH_IPV6 if packet[0] >> 4 == 6 else ETH_IPV4
    return struct.pack("!HHIHBB8s", proto, 0, 3, 1, 4, 6, MAC_GW + b"\0\0") + packet


# ---------------------------------------------------------------------------------------------
# application content


def client_hello(sni: bytes) -> bytes:
    """A TLS 1.3 ClientHello record with server_name, ALPN and supported_versions."""
    sni_ext = struct.pack("!HHHBH", 0, len(sni) + 5, len(sni) + 3, 0, len(sni)) + sni
    alpn = b"\x02h2\x08http/1.1"
    alpn_ext = struct.pack("!HHH", 16, len(alpn) + 2, len(alpn)) + alpn
    versions_ext = struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"
    exts = sni_ext + alpn_ext + versions_ext
    body = b"\x03\x03" + bytes(range(32)) + b"\x00" + struct.pack("!H", 2) + b"\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(exts)) + exts
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def server_hello() -> bytes:
    body = b"\x03\x03" + bytes(range(32, 64)) + b"\x00" + b"\x13\x01" + b"\x00" + struct.pack("!H", 6)
    body += struct.pack("!HHH", 43, 2, 0x0304)
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(handshake)) + handshake


def tls_record(kind: int, data: bytes) -> bytes:
    return struct.pack("!BHH", kind, 0x0303, len(data)) + data


def dns_query(ident: int, name: bytes, qtype: str) -> bytes:
    return bytes(DNS(id=ident, rd=1, qd=DNSQR(qname=name + b".example.", qtype=qtype)))


def dns_answer(ident: int, name: bytes, qtype: str, rdata: object) -> bytes:
    qname = name + b".example."
    answer = DNSRR(rrname=qname, type=qtype, ttl=300, rdata=rdata)
    return bytes(DNS(id=ident, qr=1, rd=1, ra=1, qd=DNSQR(qname=qname, qtype=qtype), an=[answer]))


# ---------------------------------------------------------------------------------------------
# capture files


@dataclass
class Capture:
    """Packets of one file: (microseconds from the file's start, frame, interface)."""

    name: str
    hour: int
    interfaces: list[tuple[int, int]] = field(default_factory=lambda: [(LINK_ETHERNET, 6)])
    records: list[tuple[int, bytes, int]] = field(default_factory=list)
    t: int = 250

    def add(self, frame: bytes, *, interface: int = 0, gap_us: int = 1_000) -> None:
        self.records.append((self.t, frame, interface))
        self.t += gap_us

    def ts_us(self, offset: int) -> int:
        return (BASE_S + self.hour * 3600) * 1_000_000 + offset

    def pcap(self, *, nano: bool = False) -> bytes:
        ((linktype, _),) = self.interfaces
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
        out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
        for offset, frame, _ in self.records:
            sec, frac = divmod(self.ts_us(offset), 1_000_000)
            if nano:
                frac = frac * 1000 + 123
            out.append(struct.pack("<IIII", sec, frac, len(frame), len(frame)) + frame)
        return b"".join(out)

    def pcapng(
        self, *, comment: bytes = b"", if_description: bytes = b"", names: Sequence[tuple[str, bytes]] = ()
    ) -> bytes:
        """pcapng with an interface description, packet comments and a name resolution block."""

        def block(kind: int, body: bytes) -> bytes:
            body += b"\0" * (-len(body) % 4)
            return struct.pack("<II", kind, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

        def option(code: int, value: bytes) -> bytes:
            return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

        shb_opts = (
            option(2, b"tap host hardware") + option(3, b"Linux 6.1") + option(4, b"capture-tool 1.0") + option(0, b"")
        )
        out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_opts)]
        for i, (linktype, tsresol) in enumerate(self.interfaces):
            opts = option(2, f"tap{i}".encode()) + option(9, bytes([tsresol]))
            if if_description:
                opts += option(3, if_description)
            out.append(block(1, struct.pack("<HHI", linktype, 0, 262144) + opts + option(0, b"")))
        if names:
            records = b""
            for addr, name in names:
                packed = ipaddress.ip_address(addr).packed
                kind = 1 if len(packed) == 4 else 2
                value = packed + name + b"\0"
                records += struct.pack("<HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)
            out.append(block(4, records + struct.pack("<HH", 0, 0)))
        for n, (offset, frame, interface) in enumerate(self.records):
            tsresol = self.interfaces[interface][1]
            ticks = self.ts_us(offset) * 10 ** (tsresol - 6) + (456 if tsresol == 9 else 0)
            body = struct.pack("<IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame
            body += b"\0" * (-len(frame) % 4)
            opts = option(1, comment + b" #%d" % n) + option(0, b"") if comment else b""
            out.append(block(6, body + opts))
        return b"".join(out)


# ---------------------------------------------------------------------------------------------
# scenarios


def http() -> Capture:
    cap = Capture("http.pcap", 0)
    conv = Conversation("203.0.113.10", "198.51.100.80", 49152, 80)
    body = C("HTTPBODY")
    auth = base64.b64encode(b"user:" + C("HTTPAUTHB64"))
    request = (
        b"POST /" + C("HTTPPATH") + b"/upload?q=" + C("HTTPQUERY") + b" HTTP/1.1\r\n"
        b"Host: " + C("HTTPHOST") + b".example\r\n"
        b"User-Agent: " + C("HTTPUSERAGENT") + b"\r\n"
        b"Cookie: session=" + C("HTTPCOOKIE") + b"\r\n"
        b"Authorization: Basic " + auth + b"\r\n"
        b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)
    ) + body
    response_body = C("HTTPRESPONSE")
    response = (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: id=" + C("HTTPSETCOOKIE") + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % len(response_body)
    ) + response_body
    for packet in conv.handshake():
        cap.add(eth_ip(packet, back=packet[12:16] != ipaddress.ip_address(conv.client).packed))
    cap.add(eth_ip(conv.send(conv.client, request)))
    cap.add(eth_ip(conv.send(conv.server, response), back=True))
    for packet in conv.close():
        cap.add(eth_ip(packet, back=packet[12:16] != ipaddress.ip_address(conv.client).packed))
    # over IPv6, with the Host in lower case (as a canary may come re-encoded)
    conv6 = Conversation("2001:db8:a::10", "2001:db8:f::80", 49153, 8080)
    get = b"GET /" + C("HTTP6PATH") + b" HTTP/1.1\r\nHost: " + C("HTTP6HOST").lower() + b".example\r\n\r\n"
    for packet in conv6.handshake():
        cap.add(eth_ip(packet))
    cap.add(eth_ip(conv6.send(conv6.client, get)))
    return cap


def smtp() -> Capture:
    cap = Capture("smtp.pcap", 1)
    client, server = "198.51.100.25", "203.0.113.25"
    conv = Conversation(client, server, 50025, 25)
    for packet in conv.handshake():
        cap.add(eth_ip(packet))
    auth = base64.b64encode(b"\0user\0" + C("SMTPAUTHB64"))
    dialogue = [
        (server, b"220 " + C("SMTPBANNER") + b" ESMTP ready\r\n"),
        (client, b"EHLO " + C("SMTPEHLO") + b".example\r\n"),
        (server, b"250-mx.example\r\n250 AUTH PLAIN\r\n"),
        (client, b"AUTH PLAIN " + auth + b"\r\n"),
        (server, b"235 2.7.0 Authentication successful\r\n"),
        (client, b"MAIL FROM:<" + C("SMTPMAILFROM") + b"@example.org>\r\n"),
        (server, b"250 OK\r\n"),
        (client, b"RCPT TO:<" + C("SMTPRCPTTO") + b"@example.net>\r\n"),
        (server, b"250 OK\r\n"),
        (client, b"DATA\r\n"),
        (server, b"354 go ahead\r\n"),
        (
            client,
            b"Subject: "
            + C("SMTPSUBJECT")
            + b"\r\nX-Hex: "
            + C("SMTPHEX").hex().encode()
            + b"\r\n\r\n"
            + C("SMTPBODY")
            + b"\r\n.\r\n",
        ),
        (server, b"250 queued\r\n"),
        (client, b"QUIT\r\n"),
    ]
    for who, line in dialogue:
        cap.add(eth_ip(conv.send(who, line), back=who == server))
    return cap


def dns() -> Capture:
    cap = Capture("dns.pcap", 2)
    c4, r4, c6, r6 = "203.0.113.53", "198.51.100.53", "2001:db8:a::53", "2001:db8:f::53"
    name = C("DNSQNAME")
    cap.add(eth_ip(udp(c4, r4, 53001, 53, dns_query(0x101, name, "A"))))
    cap.add(eth_ip(udp(r4, c4, 53, 53001, dns_answer(0x101, name, "A", "198.51.100.99")), back=True))
    txt_name = C("DNSTXTQNAME")
    cap.add(eth_ip(udp(c4, r4, 53002, 53, dns_query(0x102, txt_name, "TXT"))))
    answer = dns_answer(0x102, txt_name, "TXT", [C("DNSTXTANSWER")])
    cap.add(eth_ip(udp(r4, c4, 53, 53002, answer), back=True))
    name6 = C("DNS6QNAME")
    cap.add(eth_ip(udp(c6, r6, 53003, 53, dns_query(0x103, name6, "AAAA"))))
    cap.add(eth_ip(udp(r6, c6, 53, 53003, dns_answer(0x103, name6, "AAAA", "2001:db8:f::99")), back=True))
    conv = Conversation(c4, r4, 53004, 53)
    for packet in conv.handshake():
        cap.add(eth_ip(packet))
    query = dns_query(0x104, C("DNSTCPQNAME"), "A")
    cap.add(eth_ip(conv.send(c4, struct.pack("!H", len(query)) + query)))
    return cap


def tls() -> Capture:
    cap = Capture("tls.pcap", 3)
    conv = Conversation("203.0.113.44", "198.51.100.44", 50443, 443)
    for packet in conv.handshake():
        cap.add(eth_ip(packet))
    cap.add(eth_ip(conv.send(conv.client, client_hello(C("TLSSNI") + b".example"))))
    cap.add(eth_ip(conv.send(conv.server, server_hello()), back=True))
    cap.add(eth_ip(conv.send(conv.client, tls_record(23, C("TLSAPPDATA") + bytes(16)))))
    cap.add(eth_ip(conv.send(conv.server, tls_record(23, C("TLSAPPDATAREPLY") + bytes(16))), back=True))
    conv6 = Conversation("2001:db8:a::44", "2001:db8:f::44", 50444, 443)
    for packet in conv6.handshake():
        cap.add(eth_ip(packet))
    cap.add(eth_ip(conv6.send(conv6.client, client_hello(C("TLS6SNI") + b".example"))))
    return cap


def icmp() -> Capture:
    cap = Capture("icmp.pcap", 4)
    a, b, router = "203.0.113.7", "198.51.100.7", "198.51.100.1"
    echo = C("ICMPECHO") + bytes(range(16))
    cap.add(eth_ip(bytes(ip(a, b) / ICMP(type=8, id=0x4D47, seq=1) / Raw(echo))))
    cap.add(eth_ip(bytes(ip(b, a) / ICMP(type=0, id=0x4D47, seq=1) / Raw(echo)), back=True))
    a6, b6 = "2001:db8:a::7", "2001:db8:f::7"
    echo6 = C("ICMP6ECHO") + bytes(range(16))
    cap.add(eth_ip(bytes(ip(a6, b6) / ICMPv6EchoRequest(id=7, seq=1, data=echo6))))
    cap.add(eth_ip(bytes(ip(b6, a6) / ICMPv6EchoReply(id=7, seq=1, data=echo6)), back=True))
    # errors quote the offending packet, payload and all
    probe = udp(a, b, 33000, 33434, C("ICMPQUOTE") + bytes(8))
    cap.add(eth_ip(bytes(ip(b, a) / ICMP(type=3, code=3) / Raw(probe)), back=True))
    late = tcp(a, b, 40001, 80, "PA", C("ICMPTTLQUOTE"), seq=777)
    cap.add(eth_ip(bytes(ip(router, a) / ICMP(type=11, code=0) / Raw(late)), back=True))
    big = udp(a6, b6, 40002, 4433, C("ICMP6QUOTE") + bytes(32))
    cap.add(eth_ip(bytes(ip("2001:db8:f::1", a6) / ICMPv6PacketTooBig(mtu=1280) / Raw(big)), back=True))
    redirected = udp(a, b, 40003, 9999, C("ICMPREDIRECTQUOTE"))
    redirect = ip("203.0.113.1", a) / ICMP(type=5, code=1, gw="203.0.113.2") / Raw(redirected)
    cap.add(eth_ip(bytes(redirect), back=True))
    return cap


def ip_options() -> Capture:
    cap = Capture("ipopts.pcap", 5)
    a, b = "203.0.113.30", "198.51.100.30"
    options = [IPOption_RR(routers=["203.0.113.254"]), IPOption(b"\x9e\x15" + C("IPV4OPT"))]
    cap.add(eth_ip(udp(a, b, 40030, 7000, C("IPV4OPTPAYLOAD"), options=options)))
    a6, b6 = "2001:db8:a::30", "2001:db8:f::30"
    ext = [
        IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x1E, optdata=C("HBHOPT"))]),
        IPv6ExtHdrRouting(addresses=["2001:db8:a::fe"]),
        IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x1E, optdata=C("DSTOPT"))]),
    ]
    cap.add(eth_ip(udp(a6, b6, 40031, 7000, C("IPV6OPTPAYLOAD"), ext=ext)))
    conv = Conversation(a6, b6, 40032, 443)
    syn = conv.handshake()[0]
    cap.add(eth_ip(syn))
    return cap


def fragments() -> Capture:
    cap = Capture("fragments.pcap", 6)
    a, b = "203.0.113.60", "198.51.100.60"
    payload = C("FRAG4FIRST") + bytes(64 - 8 - 22) + bytes(8) + C("FRAG4LATER") + bytes(40)
    whole = bytes(IP(src=a, dst=b) / UDP(sport=40060, dport=9000) / Raw(payload))[20:]
    for offset in range(0, len(whole), 64):
        more = offset + 64 < len(whole)
        head = IP(src=a, dst=b, id=0x4242, ttl=64, proto=17, flags="MF" if more else 0, frag=offset // 8)
        cap.add(eth_ip(bytes(head / Raw(whole[offset : offset + 64]))), gap_us=100)
    a6, b6 = "2001:db8:a::60", "2001:db8:f::60"
    payload6 = C("FRAG6FIRST") + bytes(64 - 8 - 22) + bytes(8) + C("FRAG6LATER") + bytes(40)
    whole6 = bytes(IPv6(src=a6, dst=b6) / UDP(sport=40061, dport=9000) / Raw(payload6))[40:]
    for offset in range(0, len(whole6), 64):
        more = offset + 64 < len(whole6)
        frag = IPv6ExtHdrFragment(nh=17, offset=offset // 8, m=int(more), id=0x51515151)
        cap.add(
            eth_ip(bytes(IPv6(src=a6, dst=b6, nh=44, hlim=64) / frag / Raw(whole6[offset : offset + 64]))), gap_us=100
        )
    return cap


def tunnels() -> Capture:
    cap = Capture("tunnels.pcap", 7)
    # GTP-U between a base station and the core; the subscriber is 203.0.113.200
    enb, sgw = "203.0.113.70", "203.0.113.71"
    cap.add(eth_ip(udp(enb, sgw, 2152, 2152, gtp_echo(1))))
    conv = Conversation("203.0.113.200", "198.51.100.80", 40070, 443)
    inner = [*conv.handshake(), conv.send(conv.client, C("GTPUUPLINK")), conv.send(conv.server, C("GTPUDOWNLINK"))]
    for i, packet in enumerate(inner):
        up = packet[12:16] == ipaddress.ip_address(conv.client).packed
        if up:
            cap.add(eth_ip(udp(enb, sgw, 2152, 2152, gtpu(TEID_UP, packet, i))))
        else:
            cap.add(eth_ip(udp(sgw, enb, 2152, 2152, gtpu(TEID_DOWN, packet, i)), back=True))
    cap.add(eth_ip(udp("203.0.113.72", "203.0.113.73", 2123, 2123, gtpc_create_session(C("GTPCAPN")))))
    # VXLAN between a foreign and a domestic VTEP
    overlay = udp("10.1.0.1", "10.1.0.2", 40080, 5353, C("VXLANINNER"))
    cap.add(eth_ip(udp("198.51.100.90", "203.0.113.90", 49152, 4789, vxlan(5001, vm_frame(overlay)))))
    # GRE with checksum and key, an ICMP echo inside
    echo = bytes(ip("192.168.7.1", "192.168.7.2") / ICMP(type=8, id=1, seq=1) / Raw(C("GREINNER")))
    cap.add(eth_ip(carrier("203.0.113.91", "198.51.100.91", 47, gre(ETH_IPV4, echo, key=GRE_KEY, csum=True))))
    # ERSPAN II mirroring a TCP segment
    mirrored = vm_frame(tcp("10.3.0.1", "10.3.0.2", 40090, 22, "PA", C("ERSPANINNER"), seq=42))
    cap.add(eth_ip(carrier("203.0.113.97", "198.51.100.97", 47, gre(0x88BE, erspan2(mirrored, 7, 3), seq=1))))
    # Geneve with an option whose data is a canary
    option = geneve_option(0x0102, 0x80, C("GENEVEOPT"))
    inner_udp = udp("10.4.0.1", "10.4.0.2", 40100, 8125, C("GENEVEINNER"))
    cap.add(eth_ip(udp("203.0.113.92", "198.51.100.92", 51000, 6081, geneve(77, vm_frame(inner_udp), option))))
    # IP in IP, 6in4, 4in6
    cap.add(eth_ip(carrier("203.0.113.93", "198.51.100.93", 4, udp("10.2.0.1", "10.2.0.2", 40110, 53, C("IPIPINNER")))))
    six = udp("2001:db8:a::94", "2001:db8:f::94", 40120, 53, C("6IN4INNER"))
    cap.add(eth_ip(carrier("203.0.113.94", "198.51.100.94", 41, six)))
    four = tcp("203.0.113.95", "198.51.100.95", 40130, 80, "PA", C("4IN6INNER"), seq=9)
    cap.add(eth_ip(carrier("2001:db8:a::95", "2001:db8:f::95", 4, four)))
    # Teredo: authentication with a client id, then an origin indication on the way back
    client, server = "203.0.113.96", "198.51.100.96"
    t_out = udp("2001:0:c633:6460::1", "2001:db8:f::96", 40140, 7, C("TEREDOINNER"))
    cap.add(eth_ip(udp(client, server, 40000, 3544, teredo_auth(C("TEREDOCLIENTID")) + t_out)))
    t_back = udp("2001:db8:f::96", "2001:0:c633:6460::1", 7, 40140, C("TEREDOREPLY"))
    cap.add(eth_ip(udp(server, client, 3544, 40000, teredo_origin(40000, client) + t_back), back=True))
    return cap


def link_layer() -> Capture:
    cap = Capture("l2.pcap", 8)
    a, b = "203.0.113.80", "198.51.100.81"
    qinq = [(0x88A8, 100), (0x8100, 200)]
    cap.add(eth_ip(udp(a, b, 40150, 8000, C("QINQ")), tags=qinq))
    cap.add(ether(mpls([16000, 17000], udp(a, b, 40151, 8000, C("MPLSINNER"))), 0x8847))
    pw_frame = vm_frame(udp("10.5.0.1", "10.5.0.2", 40152, 8000, C("MPLSPW")))
    cap.add(ether(mpls([18000], b"\0\0\0\0" + pw_frame), 0x8847))
    cap.add(ether(pppoe_session(0x0021, udp(a, b, 40153, 8000, C("PPPOEINNER"))), 0x8864, src=MAC_CPE, dst=MAC_BRAS))
    lcp = struct.pack("!BBHI", 9, 1, 8 + 18, 0x01020304) + C("PPPLCP")
    cap.add(ether(pppoe_session(0xC021, lcp), 0x8864, src=MAC_CPE, dst=MAC_BRAS))
    host_uniq = C("PPPOETAG")
    tags = struct.pack("!HH", 0x0101, 0) + struct.pack("!HH", 0x0103, len(host_uniq)) + host_uniq
    padi = struct.pack("!BBHH", 0x11, 0x09, 0, len(tags)) + tags
    cap.add(ether(padi, 0x8863, src=MAC_CPE, dst=b"\xff" * 6))
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, MAC_HOST, ipaddress.ip_address(a).packed, b"\0" * 6,
                      ipaddress.ip_address("203.0.113.1").packed)  # fmt: skip
    cap.add(ether(arp, ETH_ARP, dst=b"\xff" * 6))
    cap.add(ether(arp + C("ARPPADDING"), ETH_ARP, dst=b"\xff" * 6))
    cap.add(eth_ip(udp(a, b, 40154, 8000)) + C("ETHTRAILER"))
    cap.add(ether(C("ETHERTYPE") + bytes(30), 0x88B5))
    llc = b"\x42\x42\x03" + C("LLCFRAME") + bytes(30)
    cap.add(MAC_GW + MAC_HOST + struct.pack("!H", len(llc)) + llc)
    return cap


def misc() -> Capture:
    cap = Capture("misc.pcap", 9)
    a, b, a6, b6 = "203.0.113.14", "198.51.100.14", "2001:db8:a::14", "2001:db8:f::14"
    cap.add(eth_ip(udp(a, b, 51400, 514, b"<13>Jun  1 00:00:00 host app: " + C("UDPPAYLOAD"))))
    cap.add(eth_ip(udp(a6, b6, 51401, 443, b"\xc0\x00\x00\x00\x01" + C("UDP6PAYLOAD"))))
    cap.add(eth_ip(carrier(a, b, 253, C("IPPROTO253"))))
    chunk = struct.pack("!BBHIHHI", 0, 3, 16 + 17, 1, 0, 0, 46) + C("SCTPDATA")
    sctp = struct.pack("!HHII", 38412, 38412, 0x11223344, 0xCAFEBABE) + chunk
    cap.add(eth_ip(carrier(a, b, 132, sctp)))
    cap.add(eth_ip(carrier(a, b, 50, struct.pack("!II", 0x1000, 1) + C("ESPDATA"))))
    icv = C("AHICV")
    icv += b"\0" * (-(12 + len(icv)) % 8)
    ah = struct.pack("!BBHII", 17, (12 + len(icv)) // 4 - 2, 0, 0x200, 1) + icv
    datagram = bytes(IPv6(src=a6, dst=b6) / UDP(sport=40160, dport=5000) / Raw(C("AHPAYLOAD")))[40:]
    cap.add(eth_ip(carrier(a6, b6, 51, ah + datagram)))
    cap.add(eth_ip(carrier(a6, b6, 59, C("NONEXTHEADER"))))
    cap.add(eth_ip(tcp(a, b, 40171, 443, "S", C("TCPSYNDATA"), seq=1)))  # TCP Fast Open: data on the SYN
    pptp = struct.pack("!HHHHI", 0x3001, 0x880B, 17, 0x0042, 1) + C("PPTPGRE")
    cap.add(eth_ip(carrier(a, b, 47, pptp)))
    cap.add(eth_ip(udp(a, b, 40172, 4789, vxlan(9, C("VXLANNOIFLAG"), flags=0))))
    cap.add(eth_ip(udp(a, b, 40173, 3544, C("TEREDOPORTUDP"))))
    return cap


def link_types() -> list[tuple[Capture, bytes]]:
    """One capture per link type and file format, each with its own canary."""
    a, b, a6, b6 = "203.0.113.20", "198.51.100.20", "2001:db8:a::20", "2001:db8:f::20"
    out = []
    cap = Capture("linux_sll.pcap", 10, [(LINK_SLL, 6)])
    cap.add(sll(udp(a, b, 40200, 9, C("SLL"))))
    out.append((cap, cap.pcap()))
    cap = Capture("linux_sll2.pcap", 11, [(LINK_SLL2, 6)])
    cap.add(sll2(udp(a6, b6, 40201, 9, C("SLL2"))))
    out.append((cap, cap.pcap()))
    cap = Capture("raw_ip.pcap", 12, [(LINK_RAW, 6)])
    cap.add(tcp(a, b, 40202, 80, "PA", C("RAWIP"), seq=5))
    out.append((cap, cap.pcap()))
    cap = Capture("null_loopback.pcap", 13, [(LINK_NULL, 6)])
    cap.add(struct.pack("<I", 24) + udp(a6, b6, 40203, 9, C("NULLLOOPBACK")))
    out.append((cap, cap.pcap()))
    cap = Capture("nanosecond.pcap", 14)
    cap.add(eth_ip(udp(a, b, 40204, 9, C("NANOSECOND"))))
    out.append((cap, cap.pcap(nano=True)))
    cap = Capture("single.pcapng", 15, [(LINK_ETHERNET, 9)])
    cap.add(eth_ip(udp(a, b, 40205, 9, C("NGSINGLE"))))
    out.append((cap, cap.pcapng(comment=C("NGSINGLECOMMENT"))))
    cap = Capture("multi.pcapng", 16, [(LINK_ETHERNET, 6), (LINK_RAW, 9)])
    cap.add(eth_ip(udp(a, b, 40206, 9, C("NGETHERNET"))))
    cap.add(udp(b6, a6, 9, 40207, C("NGRAWIP")), interface=1)
    names = [(a, C("NRBNAME") + b".example"), (b6, C("NRBNAME6") + b".example")]
    out.append((cap, cap.pcapng(comment=C("NGCOMMENT"), if_description=C("NGIFDESCR"), names=names)))
    return out


SCENARIOS = [http, smtp, dns, tls, icmp, ip_options, fragments, tunnels, link_layer, misc]


def main(argv: list[str]) -> None:
    outdir = (Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent) / "canary"
    outdir.mkdir(parents=True, exist_ok=True)
    files = [(cap, cap.pcap()) for cap in (scenario() for scenario in SCENARIOS)] + link_types()
    for cap, data in files:
        (outdir / cap.name).write_bytes(data)
    for canary in C.planted:
        assert (
            any(canary in data or canary.lower() in data for _, data in files) or b"B64" in canary or b"HEX" in canary
        )
    (outdir / "canaries.txt").write_bytes(b"".join(canary + b"\n" for canary in C.planted))
    print(f"wrote {len(files)} captures and {len(C.planted)} canaries to {outdir}")


if __name__ == "__main__":
    main(sys.argv)
