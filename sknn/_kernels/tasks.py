"""The task runner: a task's chunks run in parallel on Numba's threads.

A *task* (:func:`sknn._jit.task`) is a C function ``f(chunk, slot,
n_chunks, args)``; ``args`` is the address of an int64 array holding its
operands (array addresses and sizes, packed by the caller, which keeps the
arrays alive for the call).  :func:`run_task` calls ``f`` for every chunk:
the ``prange`` loop runs over ``n_slots`` slots, slot ``t`` taking the
``t``-th of ``n_slots`` contiguous runs of chunks in turn, so at most
``n_slots`` chunks run at once and a chunk may use per-slot scratch buffers
(row ``slot``).  Contiguous runs keep a thread on the same rows from one
task to the next (a convolution's many chunks, then the pooling's few, over
one batch), where taking every ``n_slots``-th chunk handed most of the rows
to the other core.  Each chunk
writes only its own part of the output, so the result depends on
``n_chunks`` alone, never on the threads or the order.  Tasks whose chunk
``c`` needs only chunk ``c`` of the one before (a layer's rows, then the
loss on the same rows) can run as a chain: each chunk goes through all of
them on one thread, in one parallel region.

The caller may put references to arrays (``id(array)``) in ``args`` where
the task reads addresses, flagged in a bit mask: the runner hands the task
a copy with each one replaced by the array's data pointer (:func:`resolve`),
a read that costs nanoseconds where ``array.ctypes.data`` costs about a
microsecond in Python.

Helpers for task bodies: :data:`address_as` turns an address into a typed
pointer (``carray(address_as(addr, zero), shape)`` is an array view), and
:func:`unpack` reads the int64 array at ``args``.
"""

import numpy as np

from .._jit import deferred, inlined_kernel, parallel_kernel


def _make_call_task():
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def call_task(typingctx, address, chunk, slot, n_chunks, args):
        sig = types.void(types.int64, types.int64, types.int64, types.int64, types.int64)

        def codegen(context, builder, signature, llargs):
            i64 = ir.IntType(64)
            fnty = ir.FunctionType(ir.VoidType(), [i64, i64, i64, i64])
            fn = builder.inttoptr(llargs[0], fnty.as_pointer())
            builder.call(fn, llargs[1:])
            return context.get_dummy_value()

        return sig, codegen

    return call_task


def _make_address_as():
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def address_as(typingctx, address, like):
        ptr = types.CPointer(like)

        def codegen(context, builder, signature, llargs):
            return builder.inttoptr(llargs[0], context.get_value_type(ptr))

        return ptr(types.int64, like), codegen

    return address_as


def _prange():
    import numba

    return numba.prange


def _carray():
    import numba

    return numba.carray


#: ``call_task(address, chunk, slot, n_chunks, args)``: call a task.
call_task = deferred(_make_call_task)
#: ``address_as(address, zero)``: the address as a pointer to ``zero``'s type.
address_as = deferred(_make_address_as)
prange = deferred(_prange)
carray = deferred(_carray)


#: The chunk number of a task's finishing call, made after every chunk ran
#: when the caller asks for it: a task that leaves per-chunk partial sums adds
#: them there, in chunk order, without a return to Python.
FINISH = -1


@inlined_kernel
def chunk_rows(c, n_chunks, n):
    """Rows ``[r0, r1)`` of chunk ``c`` of ``n_chunks`` over ``n`` rows: the
    cut :func:`sknn._runtime.row_bounds` makes, so that a task's chunks and
    the serial path's are the same rows."""
    return c * n // n_chunks, (c + 1) * n // n_chunks


@inlined_kernel
def unpack(args, n):
    """The int64 array of ``n`` entries at address ``args``."""
    return carray(address_as(args, np.int64(0)), (n,))


@inlined_kernel
def resolve(out, args, chain, offset):
    """``out[:] = args``, except that each task of ``chain`` (see
    :func:`run_task`) has the entries its bit mask flags, references to NumPy
    arrays (``id(array)``), replaced by the arrays' data pointers: the first
    field of NumPy's array object after the Python object header of
    ``offset`` bytes (the field ``PyArray_DATA`` reads)."""
    for j in range(args.shape[0]):
        out[j] = args[j]
    for k in range(chain.shape[0] // 3):
        j = chain[3 * k + 1]
        refs = chain[3 * k + 2]
        while refs != 0:
            if refs & 1:
                out[j] = carray(address_as(args[j] + offset, np.int64(0)), (1,))[0]
            refs >>= 1
            j += 1


@parallel_kernel
def run_task(chain, n_chunks, n_slots, args, operands, offset, finish):
    """Run chunks ``0 .. n_chunks - 1`` of a chain of tasks, at most
    ``n_slots`` at a time (see the module doc): ``chain`` holds, for each
    task, its address, the entry of ``args`` where its own operands start
    and the bit mask of those that are array references (:func:`resolve`);
    a chunk runs through every task in turn on one thread.  Then each task
    flagged in the bit mask ``finish`` is called once more as chunk
    :data:`FINISH` on this thread.  The tasks read their operands from
    ``operands``, the caller's array of ``args``' size (held by the caller:
    the tasks see only its address, which would not keep an array made here
    alive)."""
    resolve(operands, args, chain, offset)
    where = operands.ctypes.data
    n_tasks = chain.shape[0] // 3
    for t in prange(n_slots):
        slot = np.int64(t)  # prange's index is unsigned
        for c in range(slot * n_chunks // n_slots, (slot + 1) * n_chunks // n_slots):
            for k in range(n_tasks):
                call_task(chain[3 * k], c, slot, n_chunks, where + 8 * chain[3 * k + 1])
    for k in range(n_tasks):
        if (finish >> k) & 1:
            call_task(chain[3 * k], FINISH, 0, n_chunks, where + 8 * chain[3 * k + 1])
