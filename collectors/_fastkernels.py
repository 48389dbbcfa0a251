"""Which compiled kernels run: the ahead-of-time build (_aot.py) when it is current, else numba's JIT.

The kernels Python calls (the flow table's ``run_packets``, ``finish_all`` and ``rehash``,
``format_flows``, the pcap / pcapng walks and resync scans) are compiled by
``python -m collectors._aot`` into one extension module, ``collectors/_fastcore*.so``, with
the signatures of KERNELS, and the build embeds a hash of the kernel sources. It is used only
when that hash is the current sources' one: a missing or stale build, or ``METAGATE_JIT=1``,
means numba's JIT, exactly as without the build. On the ahead-of-time path neither numba nor
LLVM is loaded: this module and _fastlayout.py import neither.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np

JIT_ENV = "METAGATE_JIT"
MODULE = "_fastcore"
SOURCES = (
    "_aot.py",
    "_communityid.py",
    "_fastdecode.py",
    "_fastexport.py",
    "_fastflows.py",
    "_fastjson.py",
    "_fastfrags.py",
    "_fasthash.py",
    "_fastkernels.py",
    "_fastlayout.py",
    "_fasttext.py",
    "_pcapfile.py",
    "_prefetch.py",
)
"""The files the compiled kernels are made of (or whose constants they freeze): all in the hash."""

_HERE = Path(__file__).resolve().parent


class _Arr(NamedTuple):
    """An array argument: dtype, dimensions, layout ('C' contiguous or 'A' any) and how the kernel uses it."""

    dtype: str
    ndim: int
    layout: str = "C"
    written: bool = True  # False: only read, so a caller's array of another dtype or layout may be converted
    readonly: bool = False  # numba's type flag, as the JIT sees the memory-mapped capture


_Arg = _Arr | str  # a scalar: "int64" or "boolean"

_DATA = _Arr("uint8", 1, written=False, readonly=True)
_IN64 = _Arr("int64", 1, written=False)
_IN32 = _Arr("int32", 1, written=False)
_COL = _Arr("int64", 1, "A", written=False)
_W64 = _Arr("int64", 1)
_W32 = _Arr("int32", 1)
_T64 = _Arr("int64", 2)
_T8 = _Arr("uint8", 2)


@dataclass(frozen=True)
class _Kernel:
    module: str  # where the kernel is defined (collectors.<module>)
    returns: str  # numba type, evaluated in numba.types at build time
    args: tuple[_Arg, ...]
    # False: built without numba's reference counting, which costs two atomic calls per array
    # an inlined helper takes; such a kernel must allocate nothing (the build fails if it does)
    counted: bool = True


# The types the JIT compiles for the engine's and the file source's own calls.
KERNELS: dict[str, _Kernel] = {
    "run_packets": _Kernel(
        "_fastflows",
        "UniTuple(int64, 2)",
        (_DATA, _IN64, _IN32, _IN64, _IN32, "int64", _T64, _T64, _T64, _IN64, _W64, _T64, _T8,
         _Arr("int64", 3), _W64, _W64, _T64, _T64),
        counted=False,
    ),
    "finish_all": _Kernel("_fastflows", "none", (_T64, _T64, _IN64, _W64, _T64, _T8)),
    "rehash": _Kernel("_fastflows", "none", (_T64, _T64, _T64, _T64)),
    "format_flows": _Kernel(
        "_fasttext",
        "Tuple((Array(uint8, 1, 'C'), Array(int32, 1, 'C'), Array(uint8, 1, 'C'), Array(uint8, 1, 'C'),"
        " Array(int32, 1, 'C')))",
        (_COL,) * 9 + (_Arr("int64", 2, written=False),),
    ),
    "jsonl_rows": _Kernel(
        "_fastjson",
        "int64",
        (_IN64, _IN64, _Arr("uint8", 1, written=False), _IN64, _Arr("uint8", 2, written=False),
         _Arr("int64", 2, written=False), _IN64, _Arr("uint8", 1, written=False), _Arr("int64", 2, written=False),
         _IN64, _Arr("uint8", 1)),
        counted=False,
    ),
    "flow_rows_jsonl": _Kernel(
        "_fastjson",
        "int64",
        (_Arr("int64", 2, written=False), _Arr("uint8", 2, written=False), _Arr("uint8", 1, written=False), _IN32,
         _Arr("uint8", 1, written=False), _Arr("uint8", 1, written=False), _IN32, _Arr("uint8", 1, written=False),
         _IN64, _Arr("int64", 2, written=False), _Arr("uint8", 1, written=False), _IN64, _Arr("uint8", 1)),
        counted=False,
    ),
    "_pcap_walk": _Kernel(
        "_pcapfile",
        "UniTuple(int64, 3)",
        (_DATA, "int64", "int64", "boolean", "boolean", "int64", _W64, _W32, _W32, _W64, _W64),
    ),
    "_pcap_resync": _Kernel(
        "_pcapfile", "int64", (_DATA, "int64", "int64", "boolean", "boolean", "int64", "int64", "boolean")
    ),
    "_ng_walk": _Kernel(
        "_pcapfile",
        "UniTuple(int64, 4)",
        (_DATA, "int64", "int64", "boolean", _IN32, _IN64, _IN64, _IN64, _IN64, "int64", "int64",
         _W64, _W32, _W32, _W64, _W32, _W64),
    ),
    "_ng_resync": _Kernel("_pcapfile", "int64", (_DATA, "int64", "int64", "boolean")),
}


def source_hash() -> int:
    """A 63-bit hash of the kernel sources (it fits the build's int64 return)."""
    return hash_sources(_HERE, SOURCES)


def hash_sources(directory: Path, names: Sequence[str]) -> int:
    """A 63-bit hash of the named files in ``directory``: an ahead-of-time build's identity."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((directory / name).read_bytes())
    return int.from_bytes(digest.digest()[:8], "big") >> 1


def load_build(dotted: str, digest: Callable[[], int]) -> ModuleType | None:
    """The extension module ``dotted`` when it is present and embeds ``digest()``, else None."""
    try:
        core = importlib.import_module(dotted)
    except ImportError:
        return None
    built = getattr(core, "source_hash", None)
    if built is None or built() != digest():
        return None
    return core


def jit_forced() -> bool:
    return os.environ.get(JIT_ENV, "") not in ("", "0")


def module() -> ModuleType | None:
    """The ahead-of-time build when it is present and current and the JIT is not forced, else None."""
    return None if jit_forced() else current_build()


@functools.cache
def current_build() -> ModuleType | None:
    """The ahead-of-time build when it is present and built from the current sources, else None."""
    return load_build(f"collectors.{MODULE}", source_hash)


def _checked(name: str, fn: Callable[..., Any], spec: Sequence[_Arg]) -> Callable[..., Any]:
    """``fn`` behind a check of its array arguments.

    The compiled wrapper reads an array's memory as the signature says without checking
    it; the JIT would compile another version instead. Arrays the kernel only reads are
    converted when they differ; arrays it writes must match.
    """
    arrays = [(k, np.dtype(a.dtype), a.ndim, a.layout == "C", a.written) for k, a in enumerate(spec)
              if isinstance(a, _Arr)]
    nargs = len(spec)

    def call(*args: Any) -> Any:
        if len(args) != nargs:
            raise TypeError(f"{name}() takes {nargs} arguments ({len(args)} given)")
        fixed: list[Any] | None = None
        for k, dtype, ndim, contiguous, written in arrays:
            a = args[k]
            if (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == ndim
                    and (a.flags.c_contiguous or not contiguous) and (a.flags.writeable or not written)):
                continue
            if written or not isinstance(a, np.ndarray) or a.ndim != ndim:
                raise TypeError(f"{name}(): argument {k} must be a {'writable ' if written else ''}{ndim}-d "
                                f"{'contiguous ' if contiguous else ''}{dtype} array")
            if fixed is None:
                fixed = list(args)
            fixed[k] = np.ascontiguousarray(a.astype(dtype, casting="same_kind", copy=False))
        return fn(*(args if fixed is None else fixed))

    call.__name__ = call.__qualname__ = name
    call.__doc__ = fn.__doc__
    return call


def aot_kernel(name: str) -> Callable[..., Any]:
    """The ahead-of-time build's ``name`` behind its argument check (the build must be loaded)."""
    core = module()
    if core is None:
        raise RuntimeError("the ahead-of-time build is not loaded")
    return _checked(name, getattr(core, name), KERNELS[name].args)


_F = TypeVar("_F", bound=Callable[..., Any])


def kernel(fn: _F) -> _F:
    """Decorator for _pcapfile's kernels: the build's export of the same name, else ``numba.njit(cache=True)``.

    On the ahead-of-time path a function the build does not export (a helper only kernels
    call) stays plain Python and is not called.
    """
    if module() is None:
        from numba import njit

        return cast(_F, njit(cache=True, nogil=True)(fn))
    if fn.__name__ in KERNELS:
        return cast(_F, aot_kernel(fn.__name__))
    return fn


@dataclass(frozen=True)
class EngineKernels:
    """What FastEngine needs from the compiled side, from the build or from the JIT modules."""

    run_packets: Callable[..., Any]
    finish_all: Callable[..., Any]
    rehash: Callable[..., Any]
    format_flows: Callable[..., Any]
    new_obs: Callable[[], np.ndarray]
    problem_kinds: tuple[str, ...]
    chain_labels: Callable[[int, int], str | None]
    aot: bool


@functools.cache
def engine_kernels() -> EngineKernels:
    from collectors import _fastlayout as layout

    if module() is not None:
        return EngineKernels(
            aot_kernel("run_packets"), aot_kernel("finish_all"), aot_kernel("rehash"), aot_kernel("format_flows"),
            layout.new_obs, layout.PROBLEM_KINDS, layout.chain_labels, True,
        )
    from collectors import _fastflows, _fasttext

    return EngineKernels(
        _fastflows.run_packets, _fastflows.finish_all, _fastflows.rehash, _fasttext.format_flows,
        layout.new_obs, layout.PROBLEM_KINDS, layout.chain_labels, False,
    )
