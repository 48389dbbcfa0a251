"""Serving the TAXII application: werkzeug's threaded server, TLS when configured, a clean stop.

werkzeug's threaded server (one thread a request) is plenty for a partner that pulls every
few minutes and posts now and then; it is not a server for thousands of clients. TLS uses
the standard library's ``ssl`` with TLS 1.2 as the minimum, with the certificate and key
files of ``server.tls``. :class:`TaxiiServer` listens as soon as it is made (port 0: any free
one, see :attr:`TaxiiServer.port`), serves in a thread or in the caller's, and
:meth:`TaxiiServer.stop` finishes the request in hand and closes the socket.
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from exchange._server_config import TlsFiles
from policies import ConfigError


def tls_context(tls: TlsFiles, base: Path | None = None) -> ssl.SSLContext:
    """A server context of the certificate and key files (relative to ``base``), TLS 1.2 or later."""
    cert, key = (Path(name) for name in (tls.cert, tls.key))
    if base is not None:
        cert, key = (p if p.is_absolute() else base / p for p in (cert, key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the TLS certificate {cert} and key {key}: {exc}", field="server.tls") from exc
    return context


class TaxiiServer:
    """A WSGI application on ``host:port``, threaded, over TLS when ``ssl_context`` is given."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None):
        try:
            self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc}", field="server.port") from exc
        self.host = host
        self.tls = ssl_context is not None
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another one."""
        self._serving.set()
        self._server.serve_forever(poll_interval=0.2)

    def start(self) -> TaxiiServer:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self.serve_forever, name="taxii-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._serving.is_set():  # shutdown() waits for a serve_forever loop: only when one ran
            self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> TaxiiServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
