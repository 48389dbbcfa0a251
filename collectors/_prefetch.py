"""A software prefetch for compiled kernels (LLVM's ``llvm.prefetch``).

The flow table is far larger than the caches; decoding a few dozen packets ahead and
prefetching their rows lets those memory reads overlap instead of queueing one by one.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, array, row, col):  # type: ignore[no-untyped-def]
    """Hint that ``array[row, col]`` (a 2-D array) will be read soon."""
    signature = types.void(array, row, col)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        array_type = sig.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, ary, [args[1], args[2]], wraparound=False)
        _emit(builder, pointer)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def prefetch_byte(typingctx, array, index):  # type: ignore[no-untyped-def]
    """Hint that ``array[index]`` (a 1-D array) will be read soon."""
    signature = types.void(array, index)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        array_type = sig.args[0]
        ary = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, ary, [args[1]], wraparound=False)
        _emit(builder, pointer)
        return context.get_dummy_value()

    return signature, codegen


def _emit(builder, pointer):  # type: ignore[no-untyped-def]
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [ir.PointerType(), i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
    # read, high temporal locality, data cache
    builder.call(fn, [pointer, i32(0), i32(3), i32(1)])
