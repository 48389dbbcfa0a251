"""NetFlow v5, v9 and IPFIX messages in, decoded data records out, a whole set at a time.

A message is checked (version, lengths), its sets walked, templates handed to the store
and data sets queued by layout: the bytes of every set of one layout are joined and decoded
in one go when the records are drained (_ipfix_layout.py), so the work per message is the
header walk only. What each record needs from its message (export time, sysUpTime) travels
beside it as one entry per set.

Sequence numbers are kept per (exporter, domain): IPFIX and v5 count data records, v9 export
packets (RFC 3954 5.1); a jump forward is loss, a step back is counted as out of order and
does not move the expectation. A message with a data set waiting for its template leaves
the expectation unknown until the next message (its record count is not known yet).

A data set whose template has not arrived waits (at most ``pending_limit`` sets, for
``pending_timeout`` seconds); when the template comes it is decoded, else it counts as lost.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from collectors._ipfix_elements import V5_HEADER, V5_MAX_COUNT, V5_RECORD, V5_RECORD_LEN
from collectors._ipfix_layout import Columns, Field, Layout, compile_layout, decode_fixed, decode_variable
from collectors._ipfix_stats import FlowStats
from collectors._ipfix_templates import Domain, Template, TemplateStore

ALL_VERSIONS = frozenset({5, 9, 10})
_V5_LAYOUT = compile_layout(tuple(Field(e, 0, n) for e, n in V5_RECORD))
_PENDING_BYTES = 8 << 20
_NAMES = {5: "v5", 9: "v9", 10: "ipfix"}


@dataclass(frozen=True, eq=False)
class Decoded:
    """Data records of one layout with, row for row, what their messages said."""

    columns: Columns
    count: int
    export_ms: npt.NDArray[np.int64]
    uptime_ms: npt.NDArray[np.int64]  # the v5 / v9 header's sysUpTime; -1 for IPFIX
    init_ms: npt.NDArray[np.int64]  # IPFIX systemInitTimeMilliseconds of the domain; -1 unknown


@dataclass
class _Group:
    layout: Layout
    bodies: list[bytes] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    context: list[tuple[int, int, Domain]] = field(default_factory=list)  # export ms, uptime ms, domain


@dataclass(frozen=True)
class _Pending:
    arrival: float
    domain: Domain
    template_id: int
    body: bytes
    export_ms: int
    uptime_ms: int


class FlowDecoder:
    """Decodes messages of any of ``versions``; never raises on what an exporter sends."""

    def __init__(
        self,
        *,
        versions: frozenset[int] = ALL_VERSIONS,
        template_timeout: float | None = 1800.0,
        pending_timeout: float = 10.0,
        pending_limit: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        stats: FlowStats | None = None,
    ) -> None:
        self.versions = versions
        self.templates = TemplateStore(timeout=template_timeout)
        self.pending_timeout = pending_timeout
        self.pending_limit = pending_limit
        self.clock = clock
        self.stats = stats if stats is not None else FlowStats()
        self.ready = 0  # flow records queued for drain()
        self._groups: dict[int, _Group] = {}
        self._decoded: list[Decoded] = []
        self._pending: deque[_Pending] = deque()
        self._pending_bytes = 0
        self._expected: dict[Domain, int | None] = {}
        self._init_ms: dict[Domain, int] = {}

    # -- messages -------------------------------------------------------------------------

    def feed(self, data: bytes, exporter: str) -> None:
        """One datagram (or one framed TCP message) from ``exporter`` (address:port)."""
        self.stats.exporters.add(exporter)
        try:
            self._message(bytes(data), exporter)
        except Exception as exc:  # a bug must not stop the listener; it is reported like bad input
            self.stats.problem(exporter, "undecodable", f"{type(exc).__name__}: {exc}")
        self.stats.withdrawn, self.stats.expired_templates = self.templates.withdrawn, self.templates.expired

    def _message(self, data: bytes, exporter: str) -> None:
        report = self._reporter(exporter)
        if len(data) < 4:
            report("short_datagram", f"{len(data)} bytes")
            return
        (version,) = struct.unpack_from("!H", data, 0)
        if version not in self.versions:
            wanted = ", ".join(_NAMES[v] for v in sorted(self.versions))
            report("bad_version", f"version {version} (this listener reads {wanted})")
            return
        if version == 5:
            self._v5(data, exporter, report)
        elif version == 9:
            self._v9(data, exporter, report)
        else:
            self._ipfix(data, exporter, report)

    def _reporter(self, exporter: str) -> Callable[[str, str], None]:
        return lambda kind, detail: self.stats.problem(exporter, kind, detail)

    def _v5(self, data: bytes, exporter: str, report: Callable[[str, str], None]) -> None:
        if len(data) < V5_HEADER:
            report("short_datagram", f"v5 header needs {V5_HEADER} bytes, got {len(data)}")
            return
        count, uptime, secs, nsecs, seq, engine_type, engine_id = struct.unpack_from("!HIIIIBB", data, 2)
        need = V5_HEADER + count * V5_RECORD_LEN
        if count == 0 or count > V5_MAX_COUNT or need > len(data):
            report("bad_length", f"v5 header says {count} records ({need} bytes), the datagram has {len(data)}")
            return
        self.stats.messages["v5"] += 1
        domain = (exporter, engine_type << 8 | engine_id)
        self._sequence(domain, seq, count, exporter)
        self._queue(_V5_LAYOUT, data[V5_HEADER:need], count, (secs * 1000 + nsecs // 1_000_000, uptime, domain))
        self.stats.records += count

    def _v9(self, data: bytes, exporter: str, report: Callable[[str, str], None]) -> None:
        if len(data) < 20:
            report("short_datagram", f"v9 header needs 20 bytes, got {len(data)}")
            return
        uptime, secs, seq, source = struct.unpack_from("!IIII", data, 4)
        self.stats.messages["v9"] += 1
        domain = (exporter, source)
        expected = self._expected.get(domain)
        gap = 0 if expected is None else (seq - expected) & 0xFFFFFFFF
        if gap >= 1 << 31:
            self.stats.out_of_order += 1
        else:
            self.stats.lost_datagrams += gap
            self._expected[domain] = (seq + 1) & 0xFFFFFFFF
        self._sets(data, 20, len(data), domain, (secs * 1000, uptime), False, report)

    def _ipfix(self, data: bytes, exporter: str, report: Callable[[str, str], None]) -> None:
        if len(data) < 16:
            report("short_datagram", f"IPFIX header needs 16 bytes, got {len(data)}")
            return
        length, export_time, seq, domain_id = struct.unpack_from("!HIII", data, 2)
        if length != len(data):
            report("bad_length", f"IPFIX message length {length}, the datagram has {len(data)} bytes")
            return
        self.stats.messages["ipfix"] += 1
        domain = (exporter, domain_id)
        records, waiting = self._sets(data, 16, length, domain, (export_time * 1000, -1), True, report)
        if waiting:
            self._expected[domain] = None
        else:
            self._sequence(domain, seq, records, exporter)

    def _sequence(self, domain: Domain, seq: int, records: int, exporter: str) -> None:
        """Record-counting sequence numbers (IPFIX, v5): a jump forward is loss."""
        expected = self._expected.get(domain)
        if expected is not None:
            gap = (seq - expected) & 0xFFFFFFFF
            if gap >= 1 << 31:
                self.stats.out_of_order += 1
                return
            self.stats.lost_records += gap
        self._expected[domain] = (seq + records) & 0xFFFFFFFF

    def _sets(
        self,
        data: bytes,
        pos: int,
        end: int,
        domain: Domain,
        context: tuple[int, int],
        ipfix: bool,
        report: Callable[[str, str], None],
    ) -> tuple[int, bool]:
        """Walk the sets of one message; (data records decoded, whether any set waits)."""
        records, waiting = 0, False
        template_sets, options_sets = (2, 3) if ipfix else (0, 1)
        while end - pos >= 4:
            set_id, length = struct.unpack_from("!HH", data, pos)
            if length < 4 or pos + length > end:
                report("bad_set_length", f"set {set_id} at byte {pos} claims {length} bytes, {end - pos} are left")
                break
            body = data[pos + 4 : pos + length]
            pos += length
            if set_id in (template_sets, options_sets):
                now = self.clock()
                defined = self.templates.parse(domain, set_id, body, now, ipfix, report)
                self.stats.templates += len(defined)
                for template_id in defined:
                    records += self._release(domain, template_id)
            elif set_id < 256:
                report("reserved_set", f"set id {set_id} is reserved; skipped")
            else:
                template, expired = self.templates.get(domain, set_id, self.clock())
                if expired:
                    report("template_expired", f"template {set_id} of domain {domain[1]} was not refreshed in time")
                if template is None:
                    self._wait(domain, set_id, body, context)
                    waiting = True
                else:
                    records += self._accept(template, body, context[0], context[1], domain)
        return records, waiting

    # -- data sets ------------------------------------------------------------------------

    def _accept(self, template: Template, body: bytes, export_ms: int, uptime_ms: int, domain: Domain) -> int:
        """Queue (flow records) or read (options records) one data set; its record count."""
        layout = template.layout
        if template.options:
            columns, count = self._decode_now(layout, body)
            if count and "init_ms" in columns:
                self._init_ms[domain] = int(columns["init_ms"][-1])
            self.stats.option_records += count
            return count
        if layout.variable:
            columns, count = decode_variable(layout, body)
            if count:
                ctx = self._context([count], [(export_ms, uptime_ms, domain)])
                self._decoded.append(Decoded(columns, count, *ctx))
                self.ready += count
        else:
            count = layout.count(len(body))
            if count:
                self._queue(layout, body[: count * layout.record_len], count, (export_ms, uptime_ms, domain))
        self.stats.records += count
        return count

    @staticmethod
    def _decode_now(layout: Layout, body: bytes) -> tuple[Columns, int]:
        if layout.variable:
            return decode_variable(layout, body)
        count = layout.count(len(body))
        return decode_fixed(layout, body, count), count

    def _queue(self, layout: Layout, body: bytes, count: int, context: tuple[int, int, Domain]) -> None:
        group = self._groups.get(id(layout))
        if group is None:
            group = self._groups[id(layout)] = _Group(layout)
        group.bodies.append(body)
        group.counts.append(count)
        group.context.append(context)
        self.ready += count

    def _wait(self, domain: Domain, template_id: int, body: bytes, context: tuple[int, int]) -> None:
        self._pending.append(_Pending(self.clock(), domain, template_id, body, *context))
        self._pending_bytes += len(body)
        while len(self._pending) > self.pending_limit or self._pending_bytes > _PENDING_BYTES:
            self._lose(self._pending.popleft(), "the buffer of data sets waiting for templates is full")

    def _release(self, domain: Domain, template_id: int) -> int:
        """Decode the data sets that waited for a template just defined."""
        if not self._pending:
            return 0
        records, kept = 0, deque[_Pending]()
        for item in self._pending:
            if item.domain == domain and item.template_id == template_id:
                template, _ = self.templates.get(domain, template_id, self.clock())
                assert template is not None
                records += self._accept(template, item.body, item.export_ms, item.uptime_ms, domain)
                self._pending_bytes -= len(item.body)
                self.stats.waited_sets += 1
            else:
                kept.append(item)
        self._pending = kept
        return records

    def _lose(self, item: _Pending, why: str) -> None:
        self._pending_bytes -= len(item.body)
        self.stats.expired_sets += 1
        self.stats.problem(item.domain[0], "no_template", f"data set for template {item.template_id}: {why}; lost")

    def tick(self) -> None:
        """Give up on data sets that waited longer than ``pending_timeout``."""
        now = self.clock()
        while self._pending and now - self._pending[0].arrival > self.pending_timeout:
            self._lose(self._pending.popleft(), f"no template within {self.pending_timeout:g} s")

    def finish(self) -> None:
        """The input ended: whatever still waits for a template is lost."""
        while self._pending:
            self._lose(self._pending.popleft(), "the input ended before its template came")

    def forget(self, exporter: str) -> None:
        """An exporter's TCP connection closed: its templates and sequence state go with it."""
        self.templates.forget(exporter)
        for domain in [d for d in self._expected if d[0] == exporter]:
            del self._expected[domain]

    # -- out ------------------------------------------------------------------------------

    def drain(self) -> list[Decoded]:
        """Every queued flow record, decoded, grouped by layout."""
        out = self._decoded
        for group in self._groups.values():
            body = b"".join(group.bodies)
            total = sum(group.counts)
            columns = decode_fixed(group.layout, body, total)
            out.append(Decoded(columns, total, *self._context(group.counts, group.context)))
        self._groups, self._decoded, self.ready = {}, [], 0
        return out

    def _context(
        self, counts: list[int], context: list[tuple[int, int, Domain]]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        repeat = np.array(counts, dtype=np.int64)
        export = np.repeat(np.array([c[0] for c in context], dtype=np.int64), repeat)
        uptime = np.repeat(np.array([c[1] for c in context], dtype=np.int64), repeat)
        init = np.repeat(np.array([self._init_ms.get(c[2], -1) for c in context], dtype=np.int64), repeat)
        return export, uptime, init
