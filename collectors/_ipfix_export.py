"""IPFIX out: a file of IPFIX messages (RFC 5655's layout) and a UDP exporter.

The file (``--format ipfix``) is messages back to back, up to 65,535 bytes each, templates
in its first message; like every output it is written under ``NAME.partial`` and renamed
when closed. The exporter (``--export ipfix://HOST:PORT``) sends messages that fit a UDP
datagram under the path MTU (``max_message``, default 1400 bytes) and sends the templates
again every 30 s or 64 messages.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from collectors._ipfix_encode import IpfixEncoder
from collectors._ipfix_stats import LOG
from collectors._schema import FLOW_SCHEMA
from collectors._writers import FlowWriter
from policies import CaptureError, ConfigError

FILE_MESSAGE = 65_535
UDP_MESSAGE = 1400


class IpfixFileWriter(FlowWriter):
    """Flow records as an IPFIX file."""

    binary_stdout = True

    def __init__(self, path: str | Path | None, *, append: bool = False, schema: pa.Schema = FLOW_SCHEMA) -> None:
        # a continued file starts its new part with templates again: each part is readable alone
        self.encoder = IpfixEncoder(max_message=FILE_MESSAGE, template_refresh=None, refresh_messages=None)
        super().__init__(path, append=append, schema=schema)

    def _encode(self, table: pa.Table) -> bytes:
        return b"".join(self.encoder.encode(table))


class IpfixExporter:
    """Sends flow tables to an IPFIX collector over UDP."""

    def __init__(self, url: str, *, max_message: int = UDP_MESSAGE, domain: int = 1) -> None:
        from collectors._flowurl import parse_flow_url

        scheme, host, port = parse_flow_url(url)
        if scheme != "ipfix":
            raise ConfigError(f"{url!r}: export speaks IPFIX over UDP: use ipfix://HOST:PORT", field="export")
        if not 256 <= max_message <= 65_535:
            raise ConfigError(f"message size {max_message} is outside 256..65535", field="export")
        self.url = url
        self.encoder = IpfixEncoder(max_message=max_message, domain=domain)
        self.send_errors = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.connect((host, port))
        except OSError as exc:
            self._sock.close()
            raise ConfigError(f"cannot export to {url}: {exc.strerror or exc}", field="export") from exc

    def write(self, table: pa.Table) -> None:
        for message in self.encoder.encode(table):
            try:
                self._sock.send(message)
            except OSError as exc:  # nobody listening yet (ICMP refused): UDP export goes on
                self.send_errors += 1
                if self.send_errors <= 10:
                    LOG.warning("export to %s: %s", self.url, exc)

    def close(self) -> None:
        self._sock.close()

    def summary_line(self) -> str:
        e = self.encoder
        skipped = f", {e.skipped:,} without a usable address pair" if e.skipped else ""
        failed = f", {self.send_errors:,} send errors" if self.send_errors else ""
        return f"exported {e.records:,} records in {e.messages:,} IPFIX messages to {self.url}{skipped}{failed}"


def read_ipfix_file(path: str | Path, *, tap_id: str = "tap0", batch_size: int = 65_536) -> Iterator[pa.Table]:
    """The flow records of an IPFIX file (ours or any exporter's), as FLOW_SCHEMA tables.

    A message whose length runs past the end of the file, or is shorter than a header, ends
    the read with a CaptureError naming the file and the byte offset.
    """
    from collectors._ipfix_decode import FlowDecoder
    from collectors._ipfix_records import flow_table

    path = Path(path)
    decoder = FlowDecoder(versions=frozenset({10}), template_timeout=None)
    name = f"file:{path}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaptureError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    pos = 0
    while pos < len(data):
        if len(data) - pos < 16:
            raise CaptureError(f"{len(data) - pos} bytes after the last IPFIX message", path=path, offset=pos)
        version, length = struct.unpack_from("!HH", data, pos)
        if version != 10 or length < 16 or pos + length > len(data):
            raise CaptureError(f"no IPFIX message here (version {version}, length {length})", path=path, offset=pos)
        decoder.feed(data[pos : pos + length], name)
        pos += length
        if decoder.ready >= batch_size:
            yield flow_table(decoder.drain(), tap_id, decoder.stats)
    decoder.finish()
    if decoder.ready:
        yield flow_table(decoder.drain(), tap_id, decoder.stats)
