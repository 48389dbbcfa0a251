"""What every packet source offers the collect loop, and the one place a spec picks a source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from collectors._packets import PacketBatch
from collectors._pcapfile import DEFAULT_BATCH, FileSource
from collectors._ring import RingSource
from policies import CaptureError, ConfigError

_NET = Path("/sys/class/net")


class PacketSource(Protocol):
    """A file, a capture ring or an interface, read as PacketBatch objects.

    Damage that does not stop the read is collected in ``problems``; ``stop`` may be called
    from another thread or a signal handler and makes ``batches`` return promptly.
    """

    origin: str
    problems: list[CaptureError]

    def batches(self, batch_size: int = DEFAULT_BATCH) -> Iterator[PacketBatch]:
        """Batches of at most ``batch_size`` packets, in capture order."""
        ...

    def stop(self) -> None:
        """Make :meth:`batches` return."""
        ...


def open_source(
    spec: str,
    *,
    follow: bool = False,
    bpf: str | None = None,
    skip: frozenset[str] = frozenset(),
) -> PacketSource:
    """The source ``spec`` names: a ring directory, a capture file, else a network interface.

    ``follow`` and ``skip`` only mean something for a ring; ``bpf`` only for an interface,
    where libpcap applies it in the kernel (files are not filtered here).
    """
    path = Path(spec)
    if path.is_dir() or path.is_file():
        if bpf is not None:
            raise ConfigError("--bpf applies to live interfaces")
        if path.is_dir():
            return RingSource(path, follow=follow, skip=skip)
        return FileSource(path)
    if spec and "/" not in spec and spec not in (".", "..") and (_NET / spec).exists():
        from collectors._live import LiveSource  # libpcap through ctypes: loaded for a live capture only

        return LiveSource(spec, bpf=bpf)
    raise CaptureError(f"no such file, directory or interface: {spec!r}")
