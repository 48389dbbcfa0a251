"""The collect loop: sources -> engine -> writer, with checkpoints for capture rings.

Flow-record listeners (``ipfix://``, ``ipfix+tcp://``, ``netflow://``) skip the engine: they
yield FlowRecord batches themselves, which go through the same transform (the gate and the
detectors) to the writer and to any extra sinks (``--export``).

A capture ring is checkpointed after each of its files: the names consumed, the engine's
whole state and the output's flushed size go to one state file, replaced atomically. A
restart with the same state file cuts the output back to that size, restores the engine
and skips the consumed files, so no packet is counted twice and none is skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from collectors import _memory as memory
from collectors._engine import BuiltFlows, DeferringEngine, EndedFlows, Engine
from collectors._flowurl import ListenOptions, is_flow_url
from collectors._ipfix_stats import FlowStats
from collectors._packets import PacketBatch
from collectors._partial import partial_path, truncate_to
from collectors._pcapfile import FileSource
from collectors._pipeline import WriteBehind, read_ahead
from collectors._ring import RingSource
from collectors._sources import PacketSource, open_source
from policies import CaptureError, ConfigError, NotACaptureError

if TYPE_CHECKING:
    import pyarrow as pa

    from collectors._ipfix_listen import FlowListener
    from collectors._writers import FlowWriter

EXIT_OK, EXIT_USAGE, EXIT_PARTLY_READ, EXIT_NOT_A_CAPTURE = 0, 2, 3, 4
_STATE_VERSION = 1
_READ_AHEAD = 2  # batches a file source is walked ahead of the engine


@dataclass
class CollectSummary:
    """What a collect run did, for the closing summary and the exit status."""

    packets: int = 0
    flows: int = 0
    written: int = 0
    seconds: float = 0.0
    decode_problems: Counter[str] = field(default_factory=Counter)
    capture_problems: list[CaptureError] = field(default_factory=list)
    not_captures: list[CaptureError] = field(default_factory=list)
    resumed_files: int = 0
    stopped: bool = False
    flow_stats: FlowStats | None = None  # set when a flow-record listener was read
    sink_lines: list[str] = field(default_factory=list)

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_status(self) -> int:
        """4 when an input was no capture at all, 3 when one was read only in part, else 0."""
        if self.not_captures:
            return EXIT_NOT_A_CAPTURE
        if self.capture_problems:
            return EXIT_PARTLY_READ
        return EXIT_OK


Progress = Callable[[PacketSource, PacketBatch, CollectSummary], None]


class FlowSink(Protocol):
    """Where written records also go (an IPFIX exporter)."""

    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...

    def summary_line(self) -> str: ...


class StateCodec(Protocol):
    """Seals the engine state a checkpoint stores (live flows are ungated records)."""

    def seal(self, state: bytes) -> bytes: ...

    def open(self, sealed: bytes) -> bytes: ...


@dataclass
class _Checkpoint:
    """The state file of a ring run: consumed names, output size, engine state."""

    path: Path
    consumed: list[str] = field(default_factory=list)
    position: int = 0
    engine_state: bytes = b""

    @classmethod
    def load(cls, path: Path) -> _Checkpoint | None:
        if not path.exists():
            return None
        try:
            with path.open("rb") as handle:
                meta = json.loads(handle.readline())
                state = handle.read()
            if meta.get("version") != _STATE_VERSION:
                raise ValueError(f"state version {meta.get('version')!r}")
            return cls(path, list(meta["consumed"]), int(meta["position"]), state)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}: not a metagate state file ({exc})", field="state") from exc

    def save(self) -> None:
        meta = {"version": _STATE_VERSION, "consumed": self.consumed, "position": self.position}
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as handle:
            handle.write(json.dumps(meta).encode() + b"\n")
            handle.write(self.engine_state)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


class Collector:
    """One collect run over several sources into one output."""

    def __init__(
        self,
        engine: Engine,
        output: str | None,
        fmt: str,
        *,
        follow: bool = False,
        bpf: str | None = None,
        state: Path | None = None,
        batch_size: int = 65_536,
        progress: Progress | None = None,
        transform: Callable[[pa.Table], pa.Table] | None = None,
        schema: pa.Schema | None = None,
        state_seal: StateCodec | None = None,
        listen: ListenOptions | None = None,
        sinks: Sequence[FlowSink] = (),
    ) -> None:
        self.engine = engine
        self.output = None if output in (None, "-") else output
        self.fmt = fmt
        self.follow = follow
        self.bpf = bpf
        self.state = state
        self.batch_size = batch_size
        self.progress = progress
        # the legal gate, when a policy is given: flow records never reach the writer ungated
        self.transform = transform
        self.schema = schema  # None: FLOW_SCHEMA
        self.state_seal = state_seal
        self.listen = listen
        self.sinks = list(sinks)
        self.summary = CollectSummary()
        self._current: PacketSource | FlowListener | None = None
        self._stopping = False
        self._writer: FlowWriter | None = None
        # records written as they are to JSON lines skip the Arrow table (the engine encodes them)
        self._write_lines: Callable[[bytes | memoryview, int], None] | None = None
        self._behind: WriteBehind[EndedFlows] | None = None

    def stop(self) -> None:
        """Finish promptly (safe from a signal handler): the current source stops reading."""
        self._stopping = True
        if self._current is not None:
            self._current.stop()

    def run(self, specs: list[str]) -> CollectSummary:
        started = time.perf_counter()
        memory.reuse_freed_buffers()
        checkpoint = self._resume()
        packets_before = self.engine.packets  # restored state counts earlier runs' packets
        append = checkpoint is not None
        # the gate, the writer and the sinks run on a thread of their own, in order; the writer
        # opens there, so Arrow loads on that thread while the engine starts on this one
        self._behind = WriteBehind(self._store, start=lambda: self._open_writer(append=append))
        try:
            for spec in specs:
                if self._stopping:
                    break
                self._read_source(spec, checkpoint)
            if not (self._stopping and self.state is not None):
                # a stopped ring run keeps its live flows in the state file for the next run
                engine = self.engine
                self._write(engine.finish_deferred() if isinstance(engine, DeferringEngine)
                            else BuiltFlows(engine.finish()))
            else:
                self.summary.stopped = True
            self._behind.close()
        except BaseException:
            self._behind.abort()
            if self._writer is not None:
                self._writer.abort()
            self._close_sinks()
            raise
        assert self._writer is not None  # opened, or close() raised why not
        self._writer.close()
        self._close_sinks()
        self.summary.packets = self.engine.packets - packets_before
        self.summary.decode_problems = Counter(self.engine.problems)
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _resume(self) -> _Checkpoint | None:
        if self.state is None:
            return None
        checkpoint = _Checkpoint.load(self.state)
        if checkpoint is None:
            return None
        state = checkpoint.engine_state
        self.engine.restore(state if self.state_seal is None else self.state_seal.open(state))
        if self.output is not None:
            if self.fmt == "parquet":
                _drop_partial_parts(Path(self.output))
            else:
                truncate_to(self.output, checkpoint.position)
        self.summary.resumed_files = len(checkpoint.consumed)
        return checkpoint

    def _open_writer(self, *, append: bool) -> None:
        from collectors._writers import JsonlWriter, open_writer  # Arrow: loaded on the writing thread

        exists = self.output is not None and (Path(self.output).exists() or partial_path(self.output).exists())
        self._writer = open_writer(self.output, self.fmt, append=append and exists, schema=self.schema)
        plain = self.transform is None and not self.sinks and self.schema is None
        self._write_lines = self._writer.write_lines if plain and isinstance(self._writer, JsonlWriter) else None

    def _close_sinks(self) -> None:
        for sink in self.sinks:
            sink.close()
            self.summary.sink_lines.append(sink.summary_line())
        self.sinks = []

    def _read_flows(self, spec: str) -> None:
        """A flow-record listener: its batches are flow records already, no engine needed."""
        from collectors._ipfix_listen import FlowListener  # the IPFIX decoder, only when listening

        try:
            source = FlowListener(spec, self.listen)
        except CaptureError as exc:  # the port is taken, the address is not ours
            self.summary.not_captures.append(exc)
            return
        if self.summary.flow_stats is None:
            self.summary.flow_stats = FlowStats()
        self._current = source
        try:
            if self._stopping:
                source.stop()
            for table in source.tables(self.batch_size):
                self._write(BuiltFlows(table))
        finally:
            self._current = None
            self.summary.flow_stats.merge(source.stats)

    def _read_source(self, spec: str, checkpoint: _Checkpoint | None) -> None:
        if is_flow_url(spec):
            self._read_flows(spec)
            return
        skip = frozenset(checkpoint.consumed) if checkpoint else frozenset()
        try:
            source = open_source(spec, follow=self.follow, bpf=self.bpf, skip=skip)
        except CaptureError as exc:  # missing, unreadable or no capture at all: go on with the rest
            self.summary.not_captures.append(exc)
            return
        self._current = source
        if isinstance(source, FileSource):
            # a ring's checkpoints and a live capture's timing need the batch the engine is on
            batches = read_ahead(source.batches(self.batch_size, in_flight=_READ_AHEAD + 2), _READ_AHEAD)
        else:
            batches = source.batches(self.batch_size)
        # an engine that can leave building its tables to the writing thread goes on meanwhile
        engine = self.engine
        feed = engine.feed_deferred if isinstance(engine, DeferringEngine) else lambda b: BuiltFlows(engine.feed(b))
        try:
            for batch in batches:
                self._write(feed(batch))
                if self.progress is not None:
                    self.progress(source, batch, self.summary)
                if batch.last_of_origin and isinstance(source, RingSource) and self.state is not None:
                    self._checkpoint(source)
        except NotACaptureError as exc:
            self.summary.not_captures.append(exc)
        finally:
            self._current = None
        # inside a ring, even a file that is no capture only makes the run partial
        self.summary.capture_problems.extend(source.problems)

    def _write(self, flows: EndedFlows) -> None:
        assert self._behind is not None
        if flows.count:
            self.summary.flows += flows.count
            self._behind.put(flows)

    def _store(self, flows: EndedFlows) -> None:
        """On the write-behind thread: build, gate, write, and hand to the sinks."""
        assert self._writer is not None
        lines = flows.jsonl() if self._write_lines is not None else None
        if lines is not None:
            assert self._write_lines is not None
            self._write_lines(lines, flows.count)
            self.summary.written += flows.count
            return
        table = flows.build()
        if self.transform is not None:
            table = self.transform(table)
        if table.num_rows:
            self._writer.write(table)
            self.summary.written += table.num_rows
            for sink in self.sinks:
                sink.write(table)

    def _checkpoint(self, ring: RingSource) -> None:
        assert self.state is not None and self._behind is not None
        self._behind.drain()  # the checkpoint's output size must hold every flow before it
        assert self._writer is not None  # opened on the writing thread, or drain() raised why not
        if self.fmt == "parquet" and self.output is not None:
            # a parquet file is readable only once closed: each checkpoint closes a part
            self._writer.close()
            self._open_writer(append=True)
            position = 0
        else:
            self._writer.flush()
            position = self._writer.position()
        snapshot = self.engine.snapshot()
        _Checkpoint(
            self.state,
            consumed=list(ring.skip) + list(ring.consumed),
            position=position,
            engine_state=snapshot if self.state_seal is None else self.state_seal.seal(snapshot),
        ).save()


def _drop_partial_parts(output: Path) -> None:
    """Parts a crashed run left unfinished: their flows come back from the restored state."""
    for leftover in output.parent.glob(output.stem + "*.partial"):
        leftover.unlink()
