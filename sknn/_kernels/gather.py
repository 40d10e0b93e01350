"""Copying a mini-batch's rows out of the training set, as a task.

``dst[r] = src[idx[r]]`` for the rows of chunk ``c`` of ``n_chunks`` (see
:mod:`sknn._kernels.tasks`); ``src (n_src, row)`` and ``dst (n_idx, row)``
are C-contiguous, ``idx`` int64 with valid indices.  Rows are copied whole,
so the result does not depend on the chunking.  Small batches are copied
by NumPy (``sknn._engine.BatchBuffers``).
"""

import numpy as np

from .._jit import inlined_kernel, task
from .tasks import address_as, carray, chunk_rows, unpack

#: Entries of a gather task's ``args``: the addresses and sizes of ``src``
#: ``(n_src, row)``, ``idx (n_idx,)`` and ``dst (n_idx, row)``.
GATHER_ARGS = 6
#: Which of them are array references (:func:`sknn._runtime.run_task`).
GATHER_REFS = 1 << 0 | 1 << 3 | 1 << 5
#: The entry of the row indices.
GATHER_IDX = 3


def gather_operands(src, idx, dst):
    """The operands (a list, :data:`GATHER_ARGS` long, references flagged by
    :data:`GATHER_REFS`) of a gather task copying rows ``idx`` of ``src``
    into the first ``len(idx)`` rows of ``dst`` (the caller keeps them
    alive)."""
    return [id(src), src.shape[0], src.size // max(src.shape[0], 1), id(idx),
            idx.shape[0], id(dst)]


@inlined_kernel
def _gather(c, n_chunks, args, zero):
    p = unpack(args, GATHER_ARGS)
    n_src, row, n_idx = p[1], p[2], p[4]
    src = carray(address_as(p[0], zero), (n_src, row))
    idx = carray(address_as(p[3], np.int64(0)), (n_idx,))
    dst = carray(address_as(p[5], zero), (n_idx, row))
    r0, r1 = chunk_rows(c, n_chunks, n_idx)
    for r in range(r0, r1):
        i = idx[r]
        # An element loop: Numba copies a row slice (dst[r] = src[i])
        # through a generic strided path, which is slower.
        for j in range(row):
            dst[r, j] = src[i, j]


@task
def gather_rows_f64(c, slot, n_chunks, args):
    """Chunk ``c`` of a float64 row gather (see the module doc)."""
    _gather(c, n_chunks, args, np.float64(0))


@task
def gather_rows_f32(c, slot, n_chunks, args):
    """:data:`gather_rows_f64` in float32."""
    _gather(c, n_chunks, args, np.float32(0))
