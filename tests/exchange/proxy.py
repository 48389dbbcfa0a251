"""A fault-injecting HTTP proxy on loopback, in front of a real TAXII server.

Each request is offered to the rules in turn; a rule returns None (pass it on) or an action:
``("status", code, headers, body)`` answers instead of the server, ``"hang"`` never answers
(until the proxy stops), ``"drop"`` closes the connection before forwarding, ``"lost"``
forwards the request (the server acts on it) and closes the connection without the answer.
:meth:`stop` closes the port (connections are then refused); :meth:`start` opens it again.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from typing import Any

import requests

Rule = Callable[[str, str, bytes], Any]


class FaultProxy:
    def __init__(self, upstream: str, port: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str]] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._release = threading.Event()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy.seen.append((self.command, self.path))
                action = None
                for rule in list(proxy.rules):
                    action = rule(self.command, self.path, body)
                    if action is not None:
                        break
                if action == "hang":
                    proxy._release.wait(60)
                    self.close_connection = True
                    return
                if action == "drop":
                    self.close_connection = True
                    return
                if isinstance(action, tuple):
                    _, code, headers, text = action
                    self._reply(code, headers, text.encode() if isinstance(text, str) else text)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                answer = requests.request(
                    self.command, proxy.upstream + self.path, headers=headers, data=body, timeout=60
                )
                if action == "lost":
                    self.close_connection = True
                    return
                keep = {
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")
                }
                self._reply(answer.status_code, keep, answer.content)

            def _reply(self, code: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _handle

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self._release.clear()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
