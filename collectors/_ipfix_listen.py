"""Flow-record sources: a UDP or TCP listener that routers and probes export to.

``netflow://HOST:PORT`` (UDP: NetFlow v5, v9 and IPFIX), ``ipfix://HOST:PORT`` (UDP, IPFIX)
and ``ipfix+tcp://HOST:PORT`` (TCP, IPFIX, RFC 7011 10.4: a stream of messages framed by
their length field; templates live as long as the connection). A listener runs until
:meth:`FlowListener.stop` (the collect command calls it on SIGTERM / Ctrl-C), or after
``stop_after_messages`` messages, or once no message came for ``stop_when_idle`` seconds.

It yields FLOW_SCHEMA tables, as the packet path's engine does: when ``batch_size`` records
are queued, and at least every ``flush_every`` seconds while records wait, so that a slow
exporter's flows are not held back.

Over UDP a thread of its own only receives (the socket call releases the GIL) into a queue
of at most ``queue_bytes``: while the main thread builds a table or the writer writes one,
datagrams wait there instead of overflowing the kernel's buffer (which an unprivileged
process cannot make larger than net.core.rmem_max). A full queue drops the datagram and
counts it (``overflow``), as the kernel would, but visibly.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator

import pyarrow as pa

from collectors._flowurl import SCHEMES, ListenOptions, parse_flow_url
from collectors._ipfix_decode import FlowDecoder
from collectors._ipfix_records import flow_table
from collectors._ipfix_stats import LOG, FlowStats
from policies import CaptureError

_WAIT = 0.1  # longest sleep between looks at the stop flag
_BURST = 1024  # datagrams read per wake-up before the loop looks at its clocks again


def _name(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class FlowListener:
    """One listening socket; flow records out as FLOW_SCHEMA tables."""

    def __init__(
        self, spec: str, options: ListenOptions | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.origin = spec
        self.options = options or ListenOptions()
        self.problems: list[CaptureError] = []
        self.stats = FlowStats()
        self.clock = clock
        scheme, host, port = parse_flow_url(spec)
        self.transport, versions = SCHEMES[scheme]
        tcp = self.transport == "tcp"
        self.decoder = FlowDecoder(
            versions=versions,
            template_timeout=None if tcp else self.options.template_timeout,
            pending_timeout=self.options.pending_timeout,
            clock=clock,
            stats=self.stats,
        )
        self._stopping = False
        self._connections: dict[socket.socket, tuple[str, bytearray]] = {}
        self.messages = 0  # handed to the decoder
        self._received = 0  # taken from the socket (UDP, by the receiving thread)
        self._queue: deque[tuple[bytes, tuple[str, int]]] = deque()
        self._queued_bytes = self._taken_bytes = 0  # each written by one thread only
        self._receiving = False
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._sock = socket.socket(family, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
        except OSError as exc:
            raise CaptureError(f"cannot listen on {spec}: {exc.strerror or exc}") from exc
        try:
            if tcp:
                self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            else:
                self._grow_buffer()
            self._sock.bind((host, port))
            if tcp:
                self._sock.listen(16)
            self._sock.setblocking(False)
        except OSError as exc:
            self._sock.close()
            raise CaptureError(f"cannot listen on {spec}: {exc.strerror or exc}") from exc
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        LOG.info("listening for flow records on %s (%s port %d)", spec, self.transport, self.address[1])

    def _grow_buffer(self) -> None:
        """A large receive buffer rides out bursts; root may pass the kernel's rmem_max."""
        wanted = self.options.receive_buffer
        force = getattr(socket, "SO_RCVBUFFORCE", None)
        try:
            if force is None:
                raise OSError
            self._sock.setsockopt(socket.SOL_SOCKET, force, wanted)
        except OSError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, wanted)

    def stop(self) -> None:
        """Make :meth:`tables` finish (safe from a signal handler)."""
        self._stopping = True

    def tables(self, batch_size: int = 65_536) -> Iterator[pa.Table]:
        """Flow records as they arrive, until stopped; the last table holds what was left."""
        opts = self.options
        last_flush = last_message = self.clock()
        receiver = None
        if self.transport == "udp":
            self._receiving = True
            receiver = threading.Thread(target=self._receive, name=f"receive {self.origin}", daemon=True)
            receiver.start()
        try:
            while True:
                before = self.messages
                if receiver is None:
                    if self._stopping or self._enough():
                        break
                    readable, _, _ = select.select([self._sock, *self._connections], [], [], _WAIT)
                    for sock in readable:
                        self._read(sock)
                elif not self._take():
                    if not self._receiving:
                        break  # stopped or enough received, and everything taken
                    time.sleep(0.002)
                now = self.clock()
                if self.messages != before:
                    last_message = now
                self.decoder.tick()
                if self.decoder.ready >= batch_size or (self.decoder.ready and now - last_flush >= opts.flush_every):
                    last_flush = now
                    yield self._table()
                if opts.stop_when_idle is not None and now - last_message >= opts.stop_when_idle:
                    break
            self._stopping = True
            if receiver is not None:
                receiver.join()
                while self._take():
                    pass
            self.decoder.finish()
            if self.decoder.ready:
                yield self._table()
        finally:
            self._stopping = True
            if receiver is not None:
                receiver.join()
            self.close()

    def _enough(self) -> bool:
        limit = self.options.stop_after_messages
        return limit is not None and max(self.messages, self._received) >= limit

    def _receive(self) -> None:
        """The receiving thread: datagrams into the queue until stopped or enough came."""
        limit = self.options.stop_after_messages
        try:
            while not self._stopping and (limit is None or self._received < limit):
                readable, _, _ = select.select([self._sock], [], [], _WAIT)
                for _ in range(_BURST if readable else 0):
                    if limit is not None and self._received >= limit:
                        break
                    try:
                        data, address = self._sock.recvfrom(65_535)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # e.g. ICMP errors surfacing on the socket: keep listening
                        LOG.warning("flow listener %s: receive failed: %s", self.origin, exc)
                        break
                    self._received += 1
                    if self._queued_bytes - self._taken_bytes + len(data) > self.options.queue_bytes:
                        self.stats.overflow += 1
                        continue
                    self._queue.append((data, address))
                    self._queued_bytes += len(data)
        finally:
            self._receiving = False

    def _take(self) -> int:
        """Decode what the receiving thread queued (a bounded number at a time)."""
        taken = 0
        while self._queue and taken < _BURST:
            data, address = self._queue.popleft()
            self._taken_bytes += len(data)
            self.messages += 1
            self.decoder.feed(data, _name(address))
            taken += 1
        return taken

    def _table(self) -> pa.Table:
        return flow_table(self.decoder.drain(), self.options.tap_id, self.stats)

    def _read(self, sock: socket.socket) -> None:
        """TCP: a new connection, or bytes on one."""
        if sock is self._sock:
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(False)
            self._connections[conn] = (_name(address), bytearray())
            LOG.info("flow exporter %s connected to %s", _name(address), self.origin)
        else:
            self._read_stream(sock)

    def _read_stream(self, conn: socket.socket) -> None:
        name, buffer = self._connections[conn]
        try:
            data = conn.recv(1 << 16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            LOG.warning("flow exporter %s: connection failed: %s", name, exc)
            data = b""
        if not data:
            self._drop(conn)
            return
        buffer += data
        while len(buffer) >= 4 and not self._enough():
            version, length = struct.unpack_from("!HH", buffer, 0)
            if version != 10 or length < 16:
                what = f"version {version}" if version != 10 else f"message length {length}"
                self.stats.problem(name, "bad_stream", f"{what} in an IPFIX stream; connection closed")
                self._drop(conn)
                return
            if len(buffer) < length:
                return
            message = bytes(buffer[:length])
            del buffer[:length]
            self.messages += 1
            self.decoder.feed(message, name)

    def _drop(self, conn: socket.socket) -> None:
        name, _ = self._connections.pop(conn)
        conn.close()
        self.decoder.forget(name)
        LOG.info("flow exporter %s disconnected from %s", name, self.origin)

    def close(self) -> None:
        for conn in list(self._connections):
            self._drop(conn)
        self._sock.close()
