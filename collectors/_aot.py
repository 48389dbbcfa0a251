"""Build the fast engine's kernels ahead of time: ``python -m collectors._aot [--force]``.

numba.pycc compiles the kernels of _fastkernels.KERNELS, with their signatures, into one
extension module beside the sources (``collectors/_fastcore*.so``, git-ignored) and embeds
the hash of the kernel sources (_fastkernels.SOURCES); _fastkernels uses the build only
while that hash is current. Nothing imports this module at run time.

The compile runs in a child process with ``METAGATE_JIT=1``, where the kernels are numba
functions. It is skipped when the build is current (``--force`` rebuilds); the new module
replaces the old one by a rename, so running processes keep theirs.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from collectors._fastkernels import JIT_ENV, KERNELS, MODULE, current_build, jit_forced, source_hash

_HERE = Path(__file__).resolve().parent


def built_path() -> Path | None:
    found = sorted(_HERE.glob(f"{MODULE}.*.so")) + sorted(_HERE.glob(f"{MODULE}.*.pyd"))
    return found[0] if found else None


def _numba_type(spec: Any) -> Any:
    types: Any = importlib.import_module("numba.core.types")
    if isinstance(spec, str):
        return getattr(types, spec)
    return types.Array(getattr(types, spec.dtype), spec.ndim, spec.layout, readonly=spec.readonly)


def _build() -> int:
    """Compile every kernel into the extension module (in a process where the JIT is forced)."""
    return build_extension("collectors", _HERE, MODULE, KERNELS, source_hash)


def build_extension(package: str, directory: Path, name: str, kernels: Mapping[str, Any],
                    digest: Callable[[], int]) -> int:
    """Compile ``kernels`` (name -> a spec with ``module``, ``returns`` and ``args``, the
    functions in ``package.<module>``) into the extension ``directory/name*.so`` with
    ``digest()`` embedded as ``source_hash``; also the filters' own build (filters/_aot.py)."""
    import warnings

    from numba.core import types
    from numba.core.errors import NumbaPendingDeprecationWarning

    before = digest()
    with warnings.catch_warnings():  # pycc is pending deprecation in numba (still shipped in 0.68)
        warnings.simplefilter("ignore", NumbaPendingDeprecationWarning)
        pycc: Any = importlib.import_module("numba.pycc")

    _set_flags(kernels)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="metagate-aot-") as tmp:
        cc = pycc.CC(name)
        cc.output_dir = tmp
        cc.verbose = False  # generic x86-64 code: measured as fast as the JIT's host-tuned code here
        for kernel, spec in kernels.items():
            dispatcher = getattr(importlib.import_module(f"{package}.{spec.module}"), kernel)
            returns = eval(spec.returns, {}, vars(types))
            cc.export(kernel, returns(*(_numba_type(a) for a in spec.args)))(dispatcher.py_func)
        cc.export("source_hash", types.int64())(_constant(before))
        cc.compile()
        if digest() != before:
            print("the kernel sources changed during the build; run it again", file=sys.stderr)
            return 1
        [output] = Path(tmp).glob(f"{name}.*")
        found = sorted(directory.glob(f"{name}.*.so")) + sorted(directory.glob(f"{name}.*.pyd"))
        old = found[0] if found else None
        os.replace(output, directory / output.name)  # a running process keeps the old file's pages
        if old is not None and old.name != output.name:
            old.unlink()
    print(f"built {package}/{output.name} in {time.monotonic() - started:.0f} s")
    return 0


def _set_flags(kernels: Mapping[str, Any]) -> None:
    """Every export's wrapper releases the GIL; kernels marked uncounted are built without NRT.

    The kernels touch no Python object, so a collect run can read the next batch and write
    the last one's records on other threads meanwhile. pycc has no option for it; its
    compiler takes numba's ``Flags`` by name, so a subclass with ``release_gil`` set is
    put in its place (in the build's child process only). Per kernel, its compile call is
    wrapped to turn reference counting off for the kernels whose spec says so.
    """
    compiler: Any = importlib.import_module("numba.pycc.compiler")

    class NoGilFlags(compiler.Flags):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    compiler.Flags = NoGilFlags
    uncounted = {f"{spec.module}.{name}" for name, spec in kernels.items() if not getattr(spec, "counted", True)}
    compile_extra = compiler.compile_extra

    def compile_kernel(typingctx: Any, targetctx: Any, func: Any, args: Any, return_type: Any, flags: Any,
                       **kwargs: Any) -> Any:
        if f"{func.__module__.rpartition('.')[2]}.{func.__name__}" in uncounted:
            flags = flags.copy()
            flags.nrt = False  # its callees are compiled on their own, with counting
        return compile_extra(typingctx, targetctx, func, args, return_type, flags, **kwargs)

    compiler.compile_extra = compile_kernel


def _constant(value: int) -> Callable[[], int]:
    def source_hash() -> int:
        return value

    return source_hash


def main(argv: Sequence[str] | None = None) -> int:
    return build_command(argv, "collectors._aot", f"collectors/{MODULE}", "the fast engine's kernels",
                         current_build, _build)


def build_command(argv: Sequence[str] | None, module: str, label: str, what: str,
                  current: Callable[[], object], build: Callable[[], int]) -> int:
    """``python -m MODULE [--force]``: build in a child unless current; ``--compile`` is the child."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--compile" in args:
        if not jit_forced():
            print(f"--compile needs {JIT_ENV}=1", file=sys.stderr)
            return 2
        return build()
    if "--force" not in args and current() is not None:
        print(f"{label}: up to date")
        return 0
    print(f"{label}: compiling {what} ahead of time")
    return compile_in_child(module)


def compile_in_child(module: str) -> int:
    """Run ``python -m MODULE --compile`` with the JIT forced, in a numba cache of its own.

    numba's cache knows a function by its own file only: a kernel cached before a function
    it calls (or inlines) from another file changed would be linked stale, so every build
    compiles afresh.
    """
    with tempfile.TemporaryDirectory(prefix="metagate-aot-cache-") as cache:
        env = {**os.environ, JIT_ENV: "1", "NUMBA_CACHE_DIR": cache}
        return subprocess.call([sys.executable, "-m", module, "--compile"], env=env)


if __name__ == "__main__":
    sys.exit(main())
