"""Dense (fully connected) layer kernels.

Shapes: ``x (n, n_in)``, ``w (n_in, n_out)`` (scikit-learn's ``coefs_`` layout),
``b (n_out,)``, ``out (n, n_out)``.  The matrix products call BLAS through
:func:`.blas.gemm` (NumPy's OpenBLAS when NumPy ships it): for these shapes
BLAS beats any hand-written loop nest, and the benchmark (``python -m sknn.benchmarks``)
checks the whole step against the bare-GEMM floor.  The element-wise work
around the products (bias, activation, derivative, bias gradient) is fused
into the same call so that a layer costs one kernel launch per direction.

Sparse first layers use the CSR kernels at the end of the module; the CSR
weight gradient scatters rows serially, in row order, so it is deterministic.
"""

import os

import numpy as np

from .._jit import inlined_kernel, kernel, parallel_kernel, prange, prange_index
from .activations import activate, activation_grad
from .blas import gemm

# Parallel kernels split work into chunks that depend on the problem shape
# and on ``split``, a number fixed per machine (:func:`work_split`), never on
# the thread count: each chunk is one single-threaded BLAS call on its own
# rows (BLAS is pinned to one thread inside sknn's calls), so the result is
# bit-identical for any ``n_jobs``, ``OMP_NUM_THREADS`` or
# ``NUMBA_NUM_THREADS``, and no partial sums of products are needed.
# A chunk of the forward pass gets at least MIN_FORWARD_ROWS batch rows (so
# a digits batch of 200 splits in two on two cores); the row-split backward
# pass at least MIN_ROWS, its weight-gradient blocks MIN_WEIGHT_ROWS rows.
MAX_CHUNKS = 8
MIN_FORWARD_ROWS = 64
MIN_ROWS = 128
MIN_WEIGHT_ROWS = 64


def work_split():
    """How many chunks parallel kernels may split a dimension into.

    The machine's CPU count (capped at ``MAX_CHUNKS``), not the thread count:
    every extra BLAS call on a smaller block costs its own packing (measured
    here: splitting a 784x256 weight gradient in 8 blocks instead of 2 made
    it 18% slower), so the chunks should match the cores there are, but they
    must not follow ``n_jobs`` or the results would change with it.
    """
    return max(1, min(MAX_CHUNKS, os.cpu_count() or 1))


@parallel_kernel
def matrix_all_finite(x, split):
    """True when every element of the 2-D array ``x`` is finite, checked in
    at most ``split`` row chunks side by side.

    For validating large prediction inputs: scikit-learn's own check
    (``np.isfinite`` over the whole array, on one thread) took 15-17 ms of a
    140 ms ``predict_proba`` of 100 000 x 784 float32 rows, this kernel
    7.5-8 ms on two threads (about the memory bandwidth).
    """
    n, m = x.shape
    nc = min(split, max(1, n // 256))
    ok = np.ones(nc, np.bool_)
    for c in prange(nc):
        bad = 0  # a count, not an early exit: the loop stays vectorised
        for i in range(c * n // nc, (c + 1) * n // nc):
            row = x[i]
            for j in range(m):
                bad += not np.isfinite(row[j])
        ok[c] = bad == 0
    return ok.all()


@kernel
def n_chunks(n, min_rows, split):
    """How many chunks ``n`` rows are split into (deterministic, see above)."""
    return min(split, max(1, n // min_rows))


@inlined_kernel
def _forward_rows(out, x, w, b, act, r0, r1):
    blk = out[r0:r1]
    gemm(blk, x[r0:r1], w, False, False)
    m = out.shape[1]
    for i in range(r1 - r0):
        for j in range(m):
            blk[i, j] += b[j]
    activate(blk.reshape(-1), act)


@kernel
def dense_forward(out, x, w, b, act, split):
    """``out = f(x @ w + b)`` with activation code ``act`` (serial).

    Shapes: ``x (n, n_in)``, ``w (n_in, n_out)``, ``b (n_out,)``,
    ``out (n, n_out)``.  One GEMM over all rows: layers choose the serial or
    the parallel kernel from their shape alone (never from the thread
    count), so a given layer always runs the same arithmetic.  ``split`` is
    unused (the parallel twin's chunking; both share one signature).
    """
    _forward_rows(out, x, w, b, act, 0, x.shape[0])


@parallel_kernel
def dense_forward_parallel(out, x, w, b, act, split):
    """Parallel :func:`dense_forward`: rows split in :func:`n_chunks` chunks.

    The chunks depend on the shape and ``split`` only, so the result is
    bit-identical for any thread count (it may differ in the last bits from the serial kernel,
    which a given layer never mixes with this one).
    """
    n = x.shape[0]
    nc = n_chunks(n, MIN_FORWARD_ROWS, split)
    for c in prange(nc):
        _forward_rows(out, x, w, b, act, c * n // nc, (c + 1) * n // nc)


@inlined_kernel
def _grad_rows(dout, out, act, r0, r1):
    activation_grad(dout[r0:r1].reshape(-1), out[r0:r1].reshape(-1), act)


@inlined_kernel
def _dx_rows(dx, dout, w, r0, r1):
    gemm(dx[r0:r1], dout[r0:r1], w, False, True)


@inlined_kernel
def _bias_grad(db, dout):
    n, m = dout.shape
    for j in range(m):
        db[j] = 0
    for i in range(n):
        for j in range(m):
            db[j] += dout[i, j]


@inlined_kernel
def _backward_part(part, dx, dw, db, work, dout, x, w, need_dx):
    """One of the two halves of a dense backward pass, after ``dz``.

    With ``need_dx``: part 0 is ``dw = x.T @ dz`` and ``db``, part 1
    ``dx = dz @ w.T``.  Without (a first layer) the weight gradient is all
    the work, so it is split over the batch: with ``h = n // 2``, part 0 is
    ``db`` and ``dw = x[:h].T @ dz[:h]``, part 1 ``x[h:].T @ dz[h:]`` into
    ``work``, which :func:`_finish_backward` then adds to ``dw``.  Both
    backward kernels below run exactly these calls, so they give the same
    bits."""
    h = x.shape[0] if need_dx else x.shape[0] // 2
    if part == 0:  # three gemm call sites in all: each adds compile time
        _bias_grad(db, dout)
        gemm(dw, x[:h], dout[:h], True, False)  # h = 0 (one row): gemm zeroes dw
    elif need_dx:
        gemm(dx, dout, w, False, True)
    else:
        gemm(work[:dw.size].reshape(dw.shape), x[h:], dout[h:], True, False)


@kernel
def _check_pair_work(work, dw, need_dx):
    if not need_dx and work.shape[0] < dw.shape[0] * dw.shape[1]:
        raise ValueError("work must hold n_in * n_out values when need_dx is False")


@kernel
def _finish_backward(dw, work, need_dx):
    """``dw += work`` (the second half of a first layer's weight gradient)."""
    if need_dx:
        return
    k, m = dw.shape
    for i in range(k):
        for j in range(m):
            dw[i, j] += work[i * m + j]


@kernel
def dense_backward(dx, dw, db, work, dout, out, x, w, act, need_dx, split):
    """Backward pass of :func:`dense_forward` (serial).

    ``dout`` (n, n_out) holds dL/d(out); it is overwritten with
    ``dz = dout * f'(z)``.  Then ``dw = x.T @ dz``, ``db = sum_rows(dz)`` and,
    when ``need_dx``, ``dx = dz @ w.T``.  Gradients are sums over the batch
    (the optimizer scales by ``1 / sum(sample_weight)``).  Without
    ``need_dx``, ``work`` (at least ``n_in * n_out`` values) holds half of the
    weight gradient (see :func:`_backward_part`); ``split`` is unused (the
    parallel twin's chunking; one signature for all three kernels).
    """
    _check_pair_work(work, dw, need_dx)
    _grad_rows(dout, out, act, 0, dout.shape[0])
    for part in range(2):
        _backward_part(part, dx, dw, db, work, dout, x, w, need_dx)
    _finish_backward(dw, work, need_dx)


@parallel_kernel
def dense_backward_pair(dx, dw, db, work, dout, out, x, w, act, need_dx, split):
    """:func:`dense_backward` with its two products on two threads.

    ``dz`` is formed first; then the two parts of :func:`_backward_part`
    (``dw`` with ``db`` and ``dx``; or, without ``dx``, the two halves of
    ``dw``) are the two iterations of one ``prange`` loop: the serial
    kernel's own calls on the same arrays, so the same bits for any thread
    count; on two threads the pass costs about the longer part instead of
    the sum (measured, 2 threads: 128 x 256 -> 10 float32 28.8 -> 20.0 us,
    200 x 64 -> 100 float64 117 -> 65 us).  For layers too small for the
    row-split :func:`dense_backward_parallel`.  ``work`` as for
    :func:`dense_backward`; ``split`` is unused.
    """
    _check_pair_work(work, dw, need_dx)
    _grad_rows(dout, out, act, 0, dout.shape[0])
    for part in prange(2):
        _backward_part(prange_index(part), dx, dw, db, work, dout, x, w, need_dx)
    _finish_backward(dw, work, need_dx)


@parallel_kernel
def dense_backward_parallel(dx, dw, db, work, dout, out, x, w, act, need_dx, split):
    """Parallel :func:`dense_backward` over shape-determined chunks.

    ``dw`` is split over its rows: chunk ``c`` is ``x[:, i0:i1].T @ dz``, one
    BLAS call on the column block in place (:func:`.blas.gemm`).  ``db``
    sums each row chunk into ``work`` (at least ``MAX_CHUNKS * n_out``
    elements), then adds the chunk sums in chunk order.
    """
    n = dout.shape[0]
    k = x.shape[1]
    m = dout.shape[1]
    nc = n_chunks(n, MIN_ROWS, split)
    part = work[: nc * m].reshape(nc, m)
    for c in prange(nc):
        r0 = c * n // nc
        r1 = (c + 1) * n // nc
        _grad_rows(dout, out, act, r0, r1)
        _bias_grad(part[c], dout[r0:r1])
    kc = n_chunks(k, MIN_WEIGHT_ROWS, split)
    for c in prange(kc):
        i0 = c * k // kc
        i1 = (c + 1) * k // kc
        gemm(dw[i0:i1], x[:, i0:i1], dout, True, False)
    for j in range(m):
        db[j] = part[0, j]
    for c in range(1, nc):
        for j in range(m):
            db[j] += part[c, j]
    if need_dx:
        for c in prange(nc):
            _dx_rows(dx, dout, w, c * n // nc, (c + 1) * n // nc)


@kernel
def _copy(dst, src):
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@kernel
def _gather_range(out, x, idx, k0, k1):
    # Row views, not an (index, column) loop nest: the copy then vectorises.
    for k in range(k0, k1):
        _copy(out[k], x[idx[k]])


@kernel
def gather_rows(out, x, idx):
    """``out[k] = x[idx[k]]`` for the first ``len(idx)`` rows of ``out``."""
    _gather_range(out, x, idx, 0, idx.shape[0])


@kernel
def gather_vector(out, x, idx):
    """``out[k] = x[idx[k]]`` for 1-D ``x``; returns ``sum(out[:len(idx)])``."""
    s = 0.0
    for k in range(idx.shape[0]):
        v = x[idx[k]]
        out[k] = v
        s += v
    return s


@kernel
def gather_batch(xo, yo, swo, x, y, sw, idx, split):
    """One mini-batch: rows ``idx`` of ``x``, ``y`` and ``sw`` into the first
    ``len(idx)`` rows of ``xo``, ``yo``, ``swo``; returns ``sum(swo)``.

    ``x``/``y`` are 2-D C-contiguous (the engine flattens images), ``sw`` 1-D.
    ``split`` is unused (the parallel twin's chunking; one signature).
    """
    n = idx.shape[0]
    _gather_range(xo, x, idx, 0, n)
    _gather_range(yo, y, idx, 0, n)
    return gather_vector(swo, sw, idx)


@parallel_kernel
def gather_batch_parallel(xo, yo, swo, x, y, sw, idx, split):
    """:func:`gather_batch` with the row copies split in chunks (a copy: the
    same bits for any chunking)."""
    n = idx.shape[0]
    nc = n_chunks(n, 32, split)
    for c in prange(nc):
        k0 = c * n // nc
        k1 = (c + 1) * n // nc
        _gather_range(xo, x, idx, k0, k1)
        _gather_range(yo, y, idx, k0, k1)
    return gather_vector(swo, sw, idx)


@kernel
def vector_sum(x):
    """``sum(x)`` of a 1-D array, accumulated in float64 in index order."""
    s = 0.0
    for k in range(x.shape[0]):
        s += x[k]
    return s


@kernel
def csr_gather(data_out, indices_out, indptr_out, data, indices, indptr, idx):
    """Gather CSR rows ``idx`` into preallocated CSR buffers; returns the nnz."""
    pos = 0
    indptr_out[0] = 0
    for k in range(idx.shape[0]):
        r = idx[k]
        for p in range(indptr[r], indptr[r + 1]):
            data_out[pos] = data[p]
            indices_out[pos] = indices[p]
            pos += 1
        indptr_out[k + 1] = pos
    return pos


@kernel
def csr_dense_forward(out, data, indices, indptr, w, b, act):
    """``out = f(X @ w + b)`` for a CSR batch ``X`` with ``out.shape[0]`` rows."""
    n, m = out.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = b[j]
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            c = indices[p]
            for j in range(m):
                out[i, j] += v * w[c, j]
    activate(out.reshape(-1), act)


@kernel
def csr_dense_backward(dw, db, dout, out, data, indices, indptr, act):
    """Weight/bias gradients of :func:`csr_dense_forward` (``dw = X.T @ dz``).

    The first layer never needs an input gradient, so none is computed.
    """
    activation_grad(dout.reshape(-1), out.reshape(-1), act)
    n, m = dout.shape
    dw[:, :] = 0
    for j in range(m):
        db[j] = 0
    for i in range(n):
        for j in range(m):
            db[j] += dout[i, j]
        for p in range(indptr[i], indptr[i + 1]):
            v = data[p]
            c = indices[p]
            for j in range(m):
                dw[c, j] += v * dout[i, j]
