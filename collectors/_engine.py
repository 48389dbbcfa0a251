"""What every decoding engine offers the collect loop."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from collectors._packets import PacketBatch

if TYPE_CHECKING:
    import pyarrow as pa


class Engine(Protocol):
    """Turns packet batches into ended flows; keeps its flow table between calls."""

    name: str

    @property
    def packets(self) -> int:
        """Packets fed so far (a restored engine counts those before the restore too)."""
        ...

    @property
    def problems(self) -> Counter[str]:
        """Decode problems by kind (docs/collectors.md, "Decode problems")."""
        ...

    def feed(self, batch: PacketBatch) -> pa.Table:
        """Decode a batch; returns the flows that ended meanwhile (FLOW_SCHEMA)."""
        ...

    def finish(self) -> pa.Table:
        """End every live flow (``eof`` unless expired) and return them."""
        ...

    def snapshot(self) -> bytes:
        """The whole engine state, for resuming after a restart."""
        ...

    def restore(self, state: bytes) -> None:
        """Continue from a :meth:`snapshot`."""
        ...


class EndedFlows(Protocol):
    """Flows an engine has ended but not yet built into a table."""

    @property
    def count(self) -> int:
        """How many records :meth:`build` gives."""
        ...

    def build(self) -> pa.Table:
        """The FLOW_SCHEMA table (callable from any thread)."""
        ...

    def jsonl(self) -> bytes | memoryview | None:
        """The FlowRecords as JSON lines written without a table, or None where only a table can be built."""
        ...


class BuiltFlows:
    """A table already built, as :class:`EndedFlows`."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table

    @property
    def count(self) -> int:
        return int(self.table.num_rows)

    def build(self) -> pa.Table:
        return self.table

    def jsonl(self) -> None:
        return None


@runtime_checkable
class DeferringEngine(Engine, Protocol):
    """An engine whose table building can wait: the collect loop builds on its writing thread,
    so the engine goes on to the next batch meanwhile."""

    def feed_deferred(self, batch: PacketBatch) -> EndedFlows:
        """:meth:`feed`, with the table built only when asked."""
        ...

    def finish_deferred(self) -> EndedFlows:
        """:meth:`finish`, with the table built only when asked."""
        ...
