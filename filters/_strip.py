"""Headers-only captures for evidence sharing: every payload byte gone, identifiers rewritten.

:func:`strip_capture` reads a pcap or pcapng file and writes the same packets as a snaplen
capture would have recorded them had it stopped after the last header metagate understands:
each record keeps its timestamp and original wire length, and its captured length becomes
the bytes kept. One link type (and a timestamp resolution a classic pcap can hold) gives a
classic pcap of that link type and resolution; anything else gives pcapng. A packet whose
first header is not understood is not written at all; one whose walk was cut short is
written with the headers before the cut; both are counted by reason in :class:`StripSummary`.

The parts, each in a module of its own:

- ``filters._strip_packet``: :class:`PacketStripper`, one packet at a time, with the
  stand-ins for addresses, MACs, TEIDs, GRE keys and PPPoE session ids;
- ``filters._strip_walk``: what a packet keeps, walking from the wire inwards through link,
  IP and transport headers, failing closed at any header it does not understand; which
  checksums are recomputed and which are zeroed;
- ``filters._strip_tunnels``: the tunnel headers the collectors follow;
- ``filters._strip_options``: option areas zeroed so that they still parse;
- ``filters._strip_io``: reading records and interfaces, writing pcap or pcapng, and the
  file metadata an output keeps.

Errors: a file that is no capture raises :class:`policies.NotACaptureError`; damage raises
:class:`policies.CaptureError` with the file and byte offset (or, with ``strict=False``, is
skipped as the collectors skip it and listed in :attr:`StripSummary.problems`). A rewritten
address that is not an address of the same version raises :class:`policies.GateViolation`
(its message names no address). Whatever fails, no output file is left behind.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors import FileSource
from filters._strip_io import _Interface, _Output, _Reader
from filters._strip_packet import AddressRewriter, PacketStripper
from policies import CaptureError, ConfigError


@dataclass(frozen=True)
class StripSummary:
    """What one :func:`strip_capture` run did (for the audit ledger and the operator)."""

    source: str
    output: str
    output_format: str  # "pcap" or "pcapng"
    packets_read: int
    packets_written: int
    dropped: dict[str, int]  # reason -> packets not written at all
    cut_short: dict[str, int]  # reason -> packets written with headers cut where not understood
    bytes_read: int  # captured bytes of every packet read
    bytes_written: int  # captured bytes of every packet written (record headers not counted)
    addresses: int  # distinct IP addresses rewritten
    macs: int  # distinct MAC addresses rewritten
    teids: int  # distinct non-zero GTP-U TEIDs renumbered
    problems: tuple[CaptureError, ...] = field(default=())  # damage skipped (strict=False only)

    @property
    def packets_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def payload_bytes_removed(self) -> int:
        """Captured bytes not written: payload, unknown headers and dropped packets."""
        return self.bytes_read - self.bytes_written

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (problems as their messages)."""
        return {
            "source": self.source,
            "output": self.output,
            "output_format": self.output_format,
            "packets_read": self.packets_read,
            "packets_written": self.packets_written,
            "packets_dropped": self.packets_dropped,
            "dropped": dict(sorted(self.dropped.items())),
            "cut_short": dict(sorted(self.cut_short.items())),
            "bytes_read": self.bytes_read,
            "bytes_written": self.bytes_written,
            "payload_bytes_removed": self.payload_bytes_removed,
            "addresses": self.addresses,
            "macs": self.macs,
            "teids": self.teids,
            "problems": [str(p) for p in self.problems],
        }


def strip_capture(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    rewrite_address: AddressRewriter,
    strict: bool = True,
) -> StripSummary:
    """Write the headers-only, rewritten copy of capture ``src`` to ``dst``.

    ``rewrite_address`` maps an address's text to its stand-in (the policy's pseudonymizer);
    it is asked once per distinct address. With ``strict`` (the default) any damage in
    ``src`` raises CaptureError; without it damaged stretches are skipped and listed in the
    summary's ``problems``. ``dst`` is written as ``dst.partial`` and renamed when complete;
    an existing ``dst`` that is no regular file (a FIFO, /dev/null) is written directly.
    """
    src_path, dst_path = Path(src), Path(dst)
    if _same_file(src_path, dst_path):
        raise ConfigError("the output would overwrite the input capture", field="output")
    source = FileSource(src_path)
    reader = _Reader(source)
    stripper = PacketStripper(rewrite_address)
    output = _Output()
    read = written = bytes_read = bytes_written = 0
    dropped: Counter[str] = Counter()
    cut_short: Counter[str] = Counter()
    try:
        for _, records in reader.records():
            if strict and source.problems:
                raise source.problems[0]
            for record in records:
                read += 1
                if record is None:
                    dropped["unknown_interface"] += 1
                    continue
                bytes_read += len(record.frame)
                result = stripper.strip(record.linktype, record.frame)
                if result.data is None:
                    dropped[result.reason or "truncated"] += 1
                    continue
                if result.reason is not None:
                    cut_short[result.reason] += 1
                output.add(record, result.data)
                written += 1
                bytes_written += len(result.data)
        if strict and source.problems:
            raise source.problems[0]
        fmt = _write(dst_path, output, reader.interfaces)
    finally:
        output.close()
    return StripSummary(
        source=str(src_path),
        output=str(dst_path),
        output_format=fmt,
        packets_read=read,
        packets_written=written,
        dropped=dict(dropped),
        cut_short=dict(cut_short),
        bytes_read=bytes_read,
        bytes_written=bytes_written,
        addresses=stripper.addresses,
        macs=len(stripper.macs),
        teids=len(stripper.teids),
        problems=tuple(source.problems),
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _write(dst: Path, output: _Output, interfaces: list[_Interface]) -> str:
    """The output file, complete or not at all; its format."""
    try:
        direct = dst.exists() and not stat.S_ISREG(dst.stat().st_mode)
        target = dst if direct else dst.with_name(dst.name + ".partial")
        with target.open("wb") as fh:
            try:
                fmt = output.write(fh, interfaces)
            except BaseException:
                if not direct:
                    fh.close()
                    with contextlib.suppress(OSError):
                        target.unlink()
                raise
        if not direct:
            os.replace(target, dst)
    except OSError as exc:
        raise CaptureError(f"cannot write the stripped capture: {exc.strerror or exc}", path=dst) from exc
    return fmt
