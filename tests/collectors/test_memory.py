"""Big freed buffers are reused, not mapped afresh for every batch."""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = r"""
import ctypes, json, resource, sys
from collectors import _memory

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
SIZE = 40 << 20  # above the 32 MiB to which glibc's own threshold can rise: mapped afresh each time

def faults_of_a_block():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(SIZE)
    ctypes.memset(block, 1, SIZE)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults_of_a_block()
plain = faults_of_a_block()
applied = _memory.reuse_freed_buffers() if sys.argv[1] == "reuse" else False
faults_of_a_block()  # the first block the heap keeps
again = faults_of_a_block()
print(json.dumps({"applied": applied, "plain": plain, "again": again}))
"""


def _child(mode: str) -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(done.stdout)


def test_after_reuse_a_freed_block_is_taken_again_without_page_faults() -> None:
    without = _child("plain")
    assert without["again"] >= without["plain"] // 2 >= 10  # glibc alone maps the block afresh each time
    seen = _child("reuse")
    assert seen["applied"]
    assert seen["again"] < seen["plain"] // 4
