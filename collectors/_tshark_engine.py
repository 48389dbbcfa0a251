"""The ``tshark`` engine: the fast engine's flows, with names tshark's dissectors find.

Flows come from the fast engine; one pyshark pass over each capture file adds the DNS
query name, TLS SNI and HTTP Host a profile may allow. Flows that end while a file is being
read wait until that file is done, so every flow gets the names of every file read so far.
It reads files only: tshark cannot read the same packets again from a live interface.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa

from collectors._config import FlowConfig
from collectors._fastengine import FastEngine
from collectors._packets import PacketBatch
from collectors._schema import FLOW_SCHEMA
from collectors._tshark_meta import AppMeta, annotate, app_metadata
from policies import ConfigError


class TsharkEngine:
    """Fast-engine flows annotated with application names from tshark."""

    name = "tshark"

    def __init__(self, config: FlowConfig | None = None) -> None:
        self._flows = FastEngine(config)
        self._metas: list[AppMeta] = []
        self._waiting: list[pa.Table] = []
        self._read: set[str] = set()

    @property
    def packets(self) -> int:
        return self._flows.packets

    @property
    def problems(self) -> Counter[str]:
        return self._flows.problems

    def feed(self, batch: PacketBatch) -> pa.Table:
        if not Path(batch.origin).is_file():
            raise ConfigError(f"the tshark engine reads capture files, not {batch.origin!r}", field="engine")
        self._waiting.append(self._flows.feed(batch))
        if not batch.last_of_origin:
            return FLOW_SCHEMA.empty_table()
        if batch.origin not in self._read:
            self._read.add(batch.origin)
            self._metas.extend(app_metadata(batch.origin))
        return self._release()

    def finish(self) -> pa.Table:
        self._waiting.append(self._flows.finish())
        return self._release()

    def snapshot(self) -> bytes:
        if self._waiting:
            raise ConfigError("a tshark engine can be saved only between files", field="engine")
        return self._flows.snapshot()

    def restore(self, state: bytes) -> None:
        self._flows.restore(state)

    def _release(self) -> pa.Table:
        flows = pa.concat_tables(self._waiting)
        self._waiting = []
        return annotate(flows, self._metas) if flows.num_rows and self._metas else flows
