"""Large tables on transparent huge pages.

The flow table is read at random, one row a packet; with 4 KiB pages most of those reads
also miss the TLB. Anonymous memory advised MADV_HUGEPAGE is backed by 2 MiB pages where
the kernel allows it (``madvise`` mode is the common default) and by normal pages elsewhere.
"""

from __future__ import annotations

import mmap

import numpy as np

_HUGE = 2 * 1024 * 1024


def table(rows: int, cols: int, dtype: type[np.generic], fill: int = 0) -> np.ndarray:
    """A zeroed (or ``fill``-ed) 2-D array on huge pages when it is big enough to matter."""
    size = rows * cols * np.dtype(dtype).itemsize
    if size < _HUGE:
        return np.full((rows, cols), fill, dtype=dtype)
    buffer = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        buffer.madvise(mmap.MADV_HUGEPAGE)
    array = np.frombuffer(buffer, dtype=dtype).reshape(rows, cols)  # anonymous memory starts zeroed
    if fill:
        array.fill(fill)
    return array


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_MMAP_ABOVE = 64 << 20
_TRIM_ABOVE = 256 << 20


def reuse_freed_buffers() -> bool:
    """Have malloc keep big freed blocks for reuse instead of mapping fresh ones each time.

    Each batch allocates and frees buffers of a few MiB (index arrays, ended rows, columns,
    encoded lines). glibc gives a block above its mmap threshold a mapping of its own and
    unmaps it on free, so every batch paid page faults and zero-filling again, about 0.05 s
    of CPU a million packets. With the threshold at 64 MiB such blocks come from the heap,
    and up to 256 MiB of freed heap is kept rather than handed back. The pipeline bounds
    the batches in flight, so this bounds what is kept. False where malloc is not glibc's.
    """
    import ctypes  # numpy has loaded it already

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_ABOVE)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_ABOVE))
