"""The headers-only stripper: no content survives, the headers still decode, the tools still read.

Every canary capture (tests/data/canary/) and every golden capture (tests/data/pcaps/) is
stripped twice, once with an identity rewriter and once with a table of stand-ins, and the
output is read back with scapy, metagate's own scapy decoder, tcpdump and tshark. Hand-built
frames then pin the single rules (checksums, options, fragments, MACs, TEIDs, errors).
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, IPOption
from scapy.layers.inet6 import HBHOptUnknown, IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.l2 import ARP, GRE, CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import NoPayload, Packet, Raw
from scapy.utils import PcapReader

from collectors import FileSource
from collectors._pyflows import Observation
from collectors._scapy_decode import Decoder
from filters._strip import StripSummary, strip_capture
from filters._strip_packet import PacketStripper
from policies import CaptureError, ConfigError, GateViolation, NotACaptureError
from tests.canaries import CANARIES, CANARY_DIR, assert_no_canary, find_canaries

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN = DATA / "pcaps"
CANARY_CAPTURES = sorted(p for p in CANARY_DIR.iterdir() if p.suffix in (".pcap", ".pcapng"))
GOLDEN_CAPTURES = sorted(GOLDEN.iterdir())
CAPTURES = CANARY_CAPTURES + GOLDEN_CAPTURES
CAPTURE_IDS = [f"{p.parent.name}/{p.name}" for p in CAPTURES]
_ = (GENEVE, MPLS, VXLAN)  # imported for their layer bindings: the read-back dissects tunnels

# --- rewriters ---------------------------------------------------------------------------


def identity(text: str) -> str:
    return str(ipaddress.ip_address(text))


class StandIns:
    """A small pseudonymizer: each distinct address gets the next one of 100.64.0.0/10 or fd5e::/16."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        addr = ipaddress.ip_address(text)
        if addr.compressed not in self.table:
            base = ipaddress.ip_address("100.64.0.0" if addr.version == 4 else "fd5e::")
            self.table[addr.compressed] = str(base + len(self.table) + 1)
        return self.table[addr.compressed]

    def map(self, text: str) -> str:
        return self.table[ipaddress.ip_address(text).compressed]


REWRITERS = ["identity", "stand-ins"]


@dataclass
class Stripped:
    src: Path
    out: Path
    summary: StripSummary
    rewriter: Callable[[str], str]

    def mapped(self, text: str) -> str:
        return self.rewriter.map(text) if isinstance(self.rewriter, StandIns) else identity(text)


@pytest.fixture(scope="module")
def strip_once(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path, str], Stripped]:
    """Each capture stripped once per rewriter; tests share the result."""
    done: dict[tuple[Path, str], Stripped] = {}
    outdir = tmp_path_factory.mktemp("stripped")

    def run(src: Path, which: str) -> Stripped:
        if (src, which) not in done:
            rewriter: Callable[[str], str] = identity if which == "identity" else StandIns()
            out = outdir / f"{src.parent.name}-{which}-{src.name}"
            summary = strip_capture(src, out, rewrite_address=rewriter)
            done[src, which] = Stripped(src, out, summary, rewriter)
        return done[src, which]

    return run


def frames(path: Path) -> Iterator[tuple[int, bytes, int, int]]:
    """(link type, captured bytes, wire length, timestamp in microseconds) of every record."""
    source = FileSource(path)
    for batch in source.batches():
        for i in range(len(batch)):
            yield int(batch.linktype[i]), batch.packet(i), int(batch.wirelen[i]), int(batch.ts_us[i])
    assert not source.problems


def read_back(path: Path) -> list[Packet]:
    with PcapReader(str(path)) as reader:
        return list(reader)


def layers(packet: Packet) -> Iterator[Packet]:
    layer = packet
    while not isinstance(layer, NoPayload):
        yield layer
        layer = layer.payload


def ip_addresses(packet: Packet) -> set[str]:
    out: set[str] = set()
    for layer in layers(packet):
        if isinstance(layer, (IP, IPv6)):
            out |= {layer.src, layer.dst}
        elif isinstance(layer, ARP):
            out |= {layer.psrc, layer.pdst}
        elif isinstance(layer, IPv6ExtHdrRouting):
            out |= set(layer.addresses)
        elif isinstance(layer, ICMP) and layer.type == 5:
            out.add(layer.gw)
    return {ipaddress.ip_address(a).compressed for a in out}


def macs(packet: Packet) -> set[str]:
    out: set[str] = set()
    for layer in layers(packet):
        if isinstance(layer, Ether):
            out |= {layer.src, layer.dst}
        elif isinstance(layer, ARP):
            out |= {layer.hwsrc, layer.hwdst}
        elif isinstance(layer, (CookedLinux, CookedLinuxV2)):
            out.add(bytes(layer.src[:6]).hex(":"))  # the 8-byte address field of a 6-byte MAC
    return {m.lower() for m in out}


def teids(packet: Packet) -> set[int]:
    return {int(layer.teid) for layer in layers(packet) if isinstance(layer, GTP_U_Header)}


# --- the corpus ---------------------------------------------------------------------------


def test_every_canary_is_planted_somewhere() -> None:
    found = {canary for path in CANARY_CAPTURES for canary, _ in find_canaries(path.read_bytes())}
    assert found == set(CANARIES)
    for path in CANARY_CAPTURES:
        assert find_canaries(path.read_bytes()), f"{path.name} plants no canary"


def test_the_canary_corpus_is_reproducible(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(DATA / "make_canary_pcaps.py"), str(tmp_path)], check=True, capture_output=True)
    built = sorted(p.name for p in (tmp_path / "canary").iterdir())
    assert built == sorted(p.name for p in CANARY_DIR.iterdir())
    for name in built:
        assert (tmp_path / "canary" / name).read_bytes() == (CANARY_DIR / name).read_bytes(), name


def test_assert_no_canary_sees_re_encoded_content() -> None:
    import base64

    canary = CANARIES[0]
    for data in (canary, canary.lower(), canary.hex().upper().encode(), b"xx" + base64.b64encode(b"ab" + canary)):
        with pytest.raises(AssertionError, match=canary.decode()):
            assert_no_canary(b"<" + data + b">", "here")
    assert_no_canary(b"nothing to see", "here")


# --- every capture, stripped ----------------------------------------------------------------


@pytest.mark.parametrize("which", REWRITERS)
@pytest.mark.parametrize("src", CAPTURES, ids=CAPTURE_IDS)
def test_no_content_survives(strip_once: Callable[[Path, str], Stripped], src: Path, which: str) -> None:
    run = strip_once(src, which)
    assert_no_canary(run.out.read_bytes(), str(run.out))
    assert run.summary.packets_written == run.summary.packets_read, run.summary.dropped
    assert run.summary.payload_bytes_removed == run.summary.bytes_read - run.summary.bytes_written
    if src.parent == CANARY_DIR:
        assert run.summary.payload_bytes_removed > 0


def _tool_errors(stderr: str, path: Path) -> list[str]:
    """stderr lines that are more than the tools' own notices."""
    notices = ("reading from file ", "Running as user ", "Warning: interface names might be incorrect")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(notices)]


def _link_types(path: Path) -> set[int]:
    return {linktype for linktype, *_ in frames(path)}


@pytest.mark.tshark
@pytest.mark.skipif(
    shutil.which("tshark") is None or shutil.which("tcpdump") is None, reason="needs tshark and tcpdump"
)
@pytest.mark.parametrize("which", REWRITERS)
@pytest.mark.parametrize("src", CAPTURES, ids=CAPTURE_IDS)
def test_tcpdump_and_tshark_read_it(strip_once: Callable[[Path, str], Stripped], src: Path, which: str) -> None:
    out = strip_once(src, which).out
    shark = subprocess.run(["tshark", "-n", "-r", str(out)], capture_output=True, text=True, timeout=120)
    assert shark.returncode == 0 and not _tool_errors(shark.stderr, out), shark.stderr
    assert len(shark.stdout.splitlines()) == len(read_back(out))
    if len(_link_types(src)) > 1:
        return  # libpcap reads one link type a file: tcpdump refuses the input as well
    dump = subprocess.run(["tcpdump", "-nn", "-r", str(out)], capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0 and not _tool_errors(dump.stderr, out), dump.stderr
    assert len(re.findall(r"^\d\d:\d\d:\d\d\.\d+ ", dump.stdout, re.M)) == len(read_back(out))


@pytest.mark.parametrize("src", CAPTURES, ids=CAPTURE_IDS)
def test_records_keep_their_times_and_wire_lengths(strip_once: Callable[[Path, str], Stripped], src: Path) -> None:
    out = strip_once(src, "stand-ins").out
    before, after = read_back(src), read_back(out)
    assert len(after) == len(before)
    assert [p.time for p in after] == [p.time for p in before]
    assert [p.wirelen for p in after] == [p.wirelen for p in before]
    assert all(len(a) <= len(b) for a, b in zip(after, before, strict=True))
    pcapng = out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert pcapng == (len(_link_types(src)) > 1)  # one link type: a classic pcap


@pytest.mark.parametrize("src", CAPTURES, ids=CAPTURE_IDS)
def test_every_address_is_a_stand_in(strip_once: Callable[[Path, str], Stripped], src: Path) -> None:
    run = strip_once(src, "stand-ins")
    assert isinstance(run.rewriter, StandIns)
    stand_ins = set(run.rewriter.table.values())
    originals = set(run.rewriter.table)
    for packet in read_back(run.out):
        found = ip_addresses(packet)
        assert found <= stand_ins, found - stand_ins
        assert not found & originals
        assert not any(isinstance(layer, IPerror) for layer in layers(packet)), "an ICMP error still quotes"
    # (addresses the input shows beyond what is understood, in a pseudowire say, are cut, not rewritten)


@pytest.mark.parametrize("src", CAPTURES, ids=CAPTURE_IDS)
def test_no_hardware_address_or_teid_remains(strip_once: Callable[[Path, str], Stripped], src: Path) -> None:
    run = strip_once(src, "identity")
    keep = {"ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"}
    before = set().union(*(macs(p) for p in read_back(src))) - keep
    after = set().union(*(macs(p) for p in read_back(run.out))) - keep
    assert not before & after
    assert all(m.startswith(("02:00:00:", "03:00:00:")) for m in after), after
    data = run.out.read_bytes()
    for mac in before:
        assert bytes.fromhex(mac.replace(":", "")) not in data, mac
    teids_before = set().union(*(teids(p) for p in read_back(src))) - {0}
    teids_after = set().union(*(teids(p) for p in read_back(run.out)))
    assert not teids_before & teids_after
    assert teids_after <= set(range(len(teids_before) + 1))
    assert run.summary.teids == len(teids_before)


def _observations(path: Path) -> list[list[Observation]]:
    decoder = Decoder()
    return [decoder.decode(linktype, frame, ts)[0] for linktype, frame, _, ts in frames(path)]


@pytest.mark.parametrize("which", REWRITERS)
@pytest.mark.parametrize("src", CAPTURES, ids=CAPTURE_IDS)
def test_headers_still_decode_the_same(strip_once: Callable[[Path, str], Stripped], src: Path, which: str) -> None:
    """metagate's decoder sees the same IP headers, ports, flags, lengths, tags and tunnels."""
    run = strip_once(src, which)

    def mapped(obs: Observation) -> Observation:
        def one(packed: bytes) -> bytes:
            return ipaddress.ip_address(run.mapped(str(ipaddress.ip_address(packed)))).packed

        return replace(obs, src=one(obs.src), dst=one(obs.dst))

    before, after = _observations(src), _observations(run.out)
    assert len(before) == len(after)
    for i, (b, a) in enumerate(zip(before, after, strict=True)):
        assert a == [mapped(obs) for obs in b], f"packet {i + 1}"


def test_tunnel_layers_are_still_there(strip_once: Callable[[Path, str], Stripped]) -> None:
    run = strip_once(CANARY_DIR / "tunnels.pcap", "stand-ins")
    kinds = [{type(layer) for layer in layers(p)} for p in read_back(run.out)]
    assert any(GTP_U_Header in k and TCP in k for k in kinds)
    assert any(VXLAN in k and UDP in k for k in kinds)
    assert any(GRE in k and ICMP in k for k in kinds)
    assert any(GENEVE in k for k in kinds)


def test_the_summary_counts_what_was_cut(strip_once: Callable[[Path, str], Stripped]) -> None:
    summary = strip_once(CANARY_DIR / "l2.pcap", "identity").summary
    assert summary.cut_short == {
        "mpls_payload": 1, "ppp_control": 1, "pppoe_discovery": 1, "unknown_ethertype": 1, "llc": 1,
    }  # fmt: skip
    assert summary.output_format == "pcap"
    assert summary.as_dict()["packets_read"] == 11
    multi = strip_once(CANARY_DIR / "multi.pcapng", "identity").summary
    assert multi.output_format == "pcapng"
    assert strip_once(CANARY_DIR / "single.pcapng", "identity").summary.output_format == "pcap"


def test_nanoseconds_stay_nanoseconds(strip_once: Callable[[Path, str], Stripped]) -> None:
    for src in (GOLDEN / "pcap_nanosecond.pcap", CANARY_DIR / "single.pcapng"):
        out = strip_once(src, "identity").out
        assert struct.unpack_from("<I", out.read_bytes())[0] == 0xA1B23C4D
        assert [p.time for p in read_back(out)] == [p.time for p in read_back(src)]


# --- the rules, one frame at a time -----------------------------------------------------------

MAC_A, MAC_B = "00:1b:21:00:00:0a", "00:1b:21:00:00:0b"


def strip(packet: Packet | bytes, linktype: int = 1, stripper: PacketStripper | None = None) -> bytes:
    result = (stripper or PacketStripper(identity)).strip(linktype, bytes(packet))
    assert result.data is not None, result.reason
    return result.data


def test_checksums_ip_recomputed_transport_zeroed() -> None:
    stand_ins = StandIns()
    for l4 in (TCP(sport=1, dport=2, flags="PA"), UDP(sport=3, dport=4)):
        frame = Ether(src=MAC_A, dst=MAC_B) / IP(src="203.0.113.1", dst="198.51.100.2") / l4 / Raw(b"secret")
        out = Ether(strip(frame, stripper=PacketStripper(stand_ins)))
        assert out[IP].src == stand_ins.map("203.0.113.1")
        original = out[IP].chksum
        del out[IP].chksum
        assert IP(bytes(out[IP]))[IP].chksum == original  # valid over the rewritten header
        assert out[l4.__class__].chksum == 0
        assert Raw not in out


def test_ipv4_options_keep_types_and_lengths() -> None:
    options = [IPOption(b"\x9e\x08ABCDEF"), IPOption(b"\x07\x07\x04\xcb\x00\x71\x01")]
    packet = IP(src="203.0.113.1", dst="198.51.100.2", options=options) / UDP(sport=1, dport=2)
    out = strip(packet, 101)
    assert out[20:24] == b"\x9e\x08\0\0" and out[24:28] == bytes(4)
    assert out[28:30] == b"\x07\x07" and out[30:35] == bytes(5)
    assert len(out) == (out[0] & 0x0F) * 4 + 8


def test_ipv6_option_data_zeroed_and_fragments_cut() -> None:
    hbh = IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x1E, optdata=b"hidden data")])
    packet = IPv6(src="2001:db8:a::1", dst="2001:db8:f::2") / hbh / UDP(sport=1, dport=2) / Raw(b"x")
    out = strip(packet, 101)
    assert b"hidden" not in out and out[42] == 0x1E and out[43] == len(b"hidden data")
    assert len(out) == 40 + len(hbh) + 8
    later = IPv6(src="2001:db8:a::1", dst="2001:db8:f::2") / IPv6ExtHdrFragment(nh=17, offset=8) / Raw(b"x" * 64)
    assert len(strip(later, 101)) == 48
    ip_later = IP(src="203.0.113.1", dst="198.51.100.2", proto=17, frag=8) / Raw(b"x" * 64)
    assert len(strip(ip_later, 101)) == 20


def test_macs_become_sequential_local_addresses() -> None:
    stripper = PacketStripper(identity)
    ip = IP(src="203.0.113.1", dst="198.51.100.2") / UDP(sport=1, dport=2)
    first = Ether(strip(Ether(src=MAC_A, dst=MAC_B) / ip, stripper=stripper))
    back = Ether(strip(Ether(src=MAC_B, dst=MAC_A) / ip, stripper=stripper))
    bcast = Ether(strip(Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ip, stripper=stripper))
    group = Ether(strip(Ether(src=MAC_A, dst="01:00:5e:00:00:fb") / ip, stripper=stripper))
    assert (first.dst, first.src) == ("02:00:00:00:00:01", "02:00:00:00:00:02")
    assert (back.dst, back.src) == ("02:00:00:00:00:02", "02:00:00:00:00:01")
    assert bcast.dst == "ff:ff:ff:ff:ff:ff"
    assert group.dst == "03:00:00:00:00:03"


def test_teids_gre_keys_and_pppoe_sessions_are_renumbered() -> None:
    stripper = PacketStripper(identity)
    inner = IP(src="203.0.113.9", dst="198.51.100.9") / UDP(sport=5, dport=6) / Raw(b"payload")
    outer = IP(src="203.0.113.1", dst="203.0.113.2") / UDP(sport=2152, dport=2152)
    for teid, expected in ((0x1234567, 1), (0x7654321, 2), (0x1234567, 1), (0, 0)):
        out = IP(strip(outer / GTP_U_Header(teid=teid) / inner, 101, stripper))
        assert out[GTP_U_Header].teid == expected
        assert out[GTP_U_Header].payload[IP].src == "203.0.113.9"
    gre = IP(src="203.0.113.1", dst="203.0.113.2") / GRE(key_present=1, key=0xCAFE, proto=0x0800) / inner
    assert IP(strip(gre, 101, stripper))[GRE].key == 1


def test_icmp_redirect_gateway_and_error_quote() -> None:
    stand_ins = StandIns()
    quote = IP(src="203.0.113.7", dst="198.51.100.7") / UDP(sport=1, dport=2) / Raw(b"quoted")
    redirect = IP(src="203.0.113.1", dst="203.0.113.7") / ICMP(type=5, code=1, gw="203.0.113.254") / Raw(bytes(quote))
    out = IP(strip(redirect, 101, PacketStripper(stand_ins)))
    assert out[ICMP].gw == stand_ins.map("203.0.113.254") and out[ICMP].chksum == 0
    assert len(bytes(out)) == 28 and "198.51.100.7" not in stand_ins.table


def test_what_is_not_understood_is_cut_and_a_frame_of_nothing_known_is_dropped() -> None:
    stripper = PacketStripper(identity)
    unknown = stripper.strip(1, bytes(Ether(src=MAC_A, dst=MAC_B, type=0x88B5) / Raw(b"mystery")))
    assert unknown.data is not None and len(unknown.data) == 14 and unknown.reason == "unknown_ethertype"
    proto = stripper.strip(101, bytes(IP(src="203.0.113.1", dst="198.51.100.2", proto=253) / Raw(b"mystery")))
    assert proto.data is not None and len(proto.data) == 20 and proto.reason == "unknown_protocol"
    tagged = Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=5) / IP(src="203.0.113.1", dst="198.51.100.2", proto=47)
    bad_gre = stripper.strip(1, bytes(tagged / Raw(b"\x30\x81\x88\x0b" + b"mystery!")))
    assert bad_gre.data is not None and len(bad_gre.data) == 38 and bad_gre.reason == "bad_tunnel"
    assert stripper.strip(147, b"anything at all") == type(unknown)(None, "unsupported_linktype")
    assert stripper.strip(101, b"\x55" * 40).data is None
    assert stripper.strip(1, b"\x00" * 10).data is None


@settings(max_examples=300)
@given(linktype=st.sampled_from([0, 1, 12, 101, 108, 113, 228, 229, 276]), frame=st.binary(max_size=200))
def test_any_bytes_strip_to_a_prefix_length(linktype: int, frame: bytes) -> None:
    result = PacketStripper(identity).strip(linktype, frame)
    assert result.data is None or len(result.data) <= len(frame)


@given(payload=st.binary(min_size=1, max_size=64))
def test_no_payload_byte_is_ever_written(payload: bytes) -> None:
    stripper = PacketStripper(identity)
    for packet in (
        Ether(src=MAC_A, dst=MAC_B) / IP(src="203.0.113.1", dst="198.51.100.2") / TCP(sport=1, dport=2),
        Ether(src=MAC_A, dst=MAC_B) / IPv6(src="2001:db8:a::1", dst="2001:db8:f::2") / UDP(sport=1, dport=53),
        Ether(src=MAC_A, dst=MAC_B) / IP(src="203.0.113.1", dst="198.51.100.2") / ICMP(),
    ):
        headers = bytes(packet)
        out = strip(packet / Raw(payload), stripper=stripper)
        assert len(out) == len(headers)


# --- rewriters that misbehave, inputs that are bad ------------------------------------------


@pytest.mark.parametrize("bad", [lambda a: "2001:db8::1", lambda a: "not an address", lambda a: 42])
def test_a_bad_stand_in_is_a_gate_violation_and_writes_nothing(tmp_path: Path, bad: Callable[[str], Any]) -> None:
    out = tmp_path / "out.pcap"
    with pytest.raises(GateViolation) as info:
        strip_capture(GOLDEN / "tcp_session.pcap", out, rewrite_address=bad)
    assert "192.0.2" not in str(info.value) and "198.51.100" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_rewriter_is_a_gate_violation(tmp_path: Path) -> None:
    def broken(text: str) -> str:
        raise KeyError(text)

    with pytest.raises(GateViolation):
        strip_capture(GOLDEN / "tcp_session.pcap", tmp_path / "out.pcap", rewrite_address=broken)


def test_not_a_capture_names_the_file(tmp_path: Path) -> None:
    for name, data in (("notes.txt", b"these are not packets\n"), ("empty.pcap", b"")):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(NotACaptureError) as info:
            strip_capture(path, tmp_path / "out.pcap", rewrite_address=identity)
        assert info.value.path == str(path) and name in str(info.value)
    with pytest.raises(CaptureError, match=r"missing\.pcap"):
        strip_capture(tmp_path / "missing.pcap", tmp_path / "out.pcap", rewrite_address=identity)
    assert not (tmp_path / "out.pcap").exists()


def test_damage_names_file_and_offset_or_is_skipped_when_asked(tmp_path: Path) -> None:
    whole = (GOLDEN / "tcp_session.pcap").read_bytes()
    damaged = tmp_path / "cut.pcap"
    damaged.write_bytes(whole[:-10])  # the last record runs past the end
    last_record = max(o for o in _record_offsets(whole))
    with pytest.raises(CaptureError) as info:
        strip_capture(damaged, tmp_path / "out.pcap", rewrite_address=identity)
    assert info.value.path == str(damaged) and info.value.offset == last_record
    assert not (tmp_path / "out.pcap").exists() and not (tmp_path / "out.pcap.partial").exists()
    summary = strip_capture(damaged, tmp_path / "out.pcap", rewrite_address=identity, strict=False)
    assert summary.packets_written == len(_record_offsets(whole)) - 1
    assert summary.problems and summary.problems[0].offset == last_record
    assert len(read_back(tmp_path / "out.pcap")) == summary.packets_written


def _record_offsets(pcap: bytes) -> list[int]:
    out, at = [], 24
    while at + 16 <= len(pcap):
        out.append(at)
        at += 16 + struct.unpack_from("<I", pcap, at + 8)[0]
    return out


def test_the_input_is_never_overwritten(tmp_path: Path) -> None:
    src = tmp_path / "in.pcap"
    src.write_bytes((GOLDEN / "udp_dns.pcap").read_bytes())
    with pytest.raises(ConfigError):
        strip_capture(src, src, rewrite_address=identity)
    with pytest.raises(ConfigError):
        strip_capture(src, tmp_path / "." / "in.pcap", rewrite_address=identity)
    assert src.read_bytes() == (GOLDEN / "udp_dns.pcap").read_bytes()
