"""Packets as sources hand them to the engines: batches of views into one byte buffer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, eq=False)
class PacketBatch:
    """Packets of one origin (a file or an interface), in capture order.

    ``data`` is the byte buffer (for a file, a memory map of the whole file); packet ``i``
    is ``data[offset[i] : offset[i] + caplen[i]]``. ``record_offset[i]`` is where the
    packet's record starts in the origin file (for error messages), or its packet number
    for a live source.
    """

    origin: str
    data: npt.NDArray[np.uint8]
    offset: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.int32]
    wirelen: npt.NDArray[np.int32]
    ts_us: npt.NDArray[np.int64]
    linktype: npt.NDArray[np.int32]
    record_offset: npt.NDArray[np.int64]
    last_of_origin: bool = False

    def __len__(self) -> int:
        return int(self.offset.shape[0])

    def packet(self, i: int) -> bytes:
        """The captured bytes of packet ``i`` (a copy; for tests and the scapy engine)."""
        start = int(self.offset[i])
        return bytes(self.data[start : start + int(self.caplen[i])])

    @classmethod
    def from_packets(
        cls,
        packets: list[tuple[int, bytes]],
        *,
        linktype: int = 1,
        origin: str = "<memory>",
        wirelens: list[int] | None = None,
    ) -> PacketBatch:
        """A batch from ``(timestamp_us, frame_bytes)`` pairs: the in-memory source for tests."""
        lengths = np.array([len(frame) for _, frame in packets], dtype=np.int32)
        offsets = np.zeros(len(packets), dtype=np.int64)
        if len(packets) > 1:
            offsets[1:] = np.cumsum(lengths[:-1], dtype=np.int64)
        data = np.frombuffer(b"".join(frame for _, frame in packets), dtype=np.uint8)
        wire = np.array(wirelens, dtype=np.int32) if wirelens is not None else lengths.copy()
        return cls(
            origin=origin,
            data=data,
            offset=offsets,
            caplen=lengths,
            wirelen=wire,
            ts_us=np.array([ts for ts, _ in packets], dtype=np.int64),
            linktype=np.full(len(packets), linktype, dtype=np.int32),
            record_offset=np.arange(len(packets), dtype=np.int64),
            last_of_origin=True,
        )
