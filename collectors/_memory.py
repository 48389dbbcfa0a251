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
