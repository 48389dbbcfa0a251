"""A local partner for demos, tests and benchmarks: medallion (the OASIS TAXII 2.1 server) on loopback.

medallion is not a dependency of metagate (it comes with the ``test`` extra). :class:`LocalPartner`
writes medallion's configuration and data file (discovery, one API root, the collections it
is asked for, the URLs pointing at the port it really listens on), starts ``medallion`` on
127.0.0.1 on a free port, waits until discovery answers, and stops it. Its memory backend
keeps what is pushed until it stops. Loopback only: it never listens anywhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import TracebackType

import requests

from policies import ExchangeError

MEDIA_TYPE = "application/taxii+json;version=2.1"
API_ROOT = "api1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalPartner:
    """medallion on 127.0.0.1 with an API root ``api1`` and the named collections (read and write)."""

    def __init__(
        self,
        folder: str | Path,
        *,
        collections: tuple[str, ...] = ("outbound", "inbound"),
        port: int | None = None,
        user: str = "metagate",
        password: str = "metagate-demo-password",
        max_page_size: int = 100,
        max_content_length: int = 1_048_576,
    ) -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self.user = user
        self.password = password
        self.max_page_size = max_page_size
        self.max_content_length = max_content_length
        self.collections = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"metagate-local/{name}")) for name in collections}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_root(self) -> str:
        return f"{self.base}/{API_ROOT}/"

    def collection(self, name: str) -> str:
        return self.collections[name]

    def write_files(self) -> Path:
        """medallion's configuration (and the data file it names); the configuration's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = self.folder / "medallion-data.json"
        config = self.folder / "medallion-config.json"
        data.write_text(json.dumps(self._data(), indent=1), encoding="utf-8")
        config.write_text(
            json.dumps(
                {
                    "backend": {
                        "module": "medallion.backends.memory_backend",
                        "module_class": "MemoryBackend",
                        "filename": str(data),
                    },
                    "users": {self.user: self.password},
                    "taxii": {"max_page_size": self.max_page_size},
                }
            ),
            encoding="utf-8",
        )
        return config

    def _data(self) -> dict[str, object]:
        collections = [
            {
                "id": ident,
                "title": f"metagate local partner: {name}",
                "description": f"the {name} collection of a local demo partner",
                "can_read": True,
                "can_write": True,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": [],
            }
            for name, ident in self.collections.items()
        ]
        return {
            "/discovery": {
                "title": "metagate local partner",
                "description": "medallion on loopback, for demos and tests",
                "default": self.api_root,
                "api_roots": [self.api_root],
            },
            API_ROOT: {
                "information": {
                    "title": "local partner API root",
                    "description": "demo data only",
                    "versions": [MEDIA_TYPE],
                    "max_content_length": self.max_content_length,
                },
                "status": [],
                "collections": collections,
            },
        }

    def start(self, timeout: float = 30.0) -> LocalPartner:
        search = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
        program = shutil.which("medallion", path=search)
        if program is None:
            raise ExchangeError("medallion is not installed (pip install 'metagate[test]'): no local partner to run")
        config = self.write_files()
        log = (self.folder / "medallion.log").open("ab")
        self._process = subprocess.Popen(
            [program, "--host", "127.0.0.1", "--port", str(self.port), str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ExchangeError(f"medallion stopped at once; see {self.folder / 'medallion.log'}")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise ExchangeError(f"medallion did not answer on port {self.port} within {timeout:.0f} s")

    def ready(self) -> bool:
        try:
            answer = requests.get(
                f"{self.base}/taxii2/", headers={"Accept": MEDIA_TYPE}, auth=(self.user, self.password), timeout=1
            )
        except requests.RequestException:
            return False
        return answer.status_code == 200

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> LocalPartner:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
