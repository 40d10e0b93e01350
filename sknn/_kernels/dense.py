"""Dense (fully connected) layer kernels.

Shapes: ``x (n, n_in)``, ``w (n_in, n_out)`` (scikit-learn's ``coefs_`` layout),
``b (n_out,)``, ``out (n, n_out)``.  The matrix products call BLAS through
``np.dot`` inside ``@njit`` (SciPy's OpenBLAS): for these shapes BLAS beats any
hand-written loop nest, and the benchmark (``python -m sknn.benchmarks``)
checks the whole step against the bare-GEMM floor.  The element-wise work
around the products (bias, activation, derivative, bias gradient) is fused
into the same call so that a layer costs one kernel launch per direction.

Sparse first layers use the CSR kernels at the end of the module; the CSR
weight gradient scatters rows serially, in row order, so it is deterministic.
"""

import numpy as np
from numba import prange

from .._jit import kernel, parallel_kernel
from .activations import activate, activation_grad

# Parallel kernels split work into a number of chunks that depends on the
# problem shape only, never on the thread count: each chunk is one
# single-threaded BLAS call on its own rows (BLAS is pinned to one thread
# inside sknn's calls), so the result is bit-identical for any ``n_jobs`` and
# no partial sums are needed.
MAX_CHUNKS = 8
MIN_ROWS = 128


@kernel
def n_chunks(n, min_rows):
    """How many chunks ``n`` rows are split into (shape-only, deterministic)."""
    return min(MAX_CHUNKS, max(1, n // min_rows))


@kernel
def _forward_rows(out, x, w, b, act, r0, r1):
    blk = out[r0:r1]
    np.dot(x[r0:r1], w, blk)
    m = out.shape[1]
    for i in range(r1 - r0):
        for j in range(m):
            blk[i, j] += b[j]
    activate(blk.reshape(-1), act)


@kernel
def dense_forward(out, x, w, b, act):
    """``out = f(x @ w + b)`` with activation code ``act`` (serial).

    Shapes: ``x (n, n_in)``, ``w (n_in, n_out)``, ``b (n_out,)``,
    ``out (n, n_out)``.  One GEMM over all rows: layers choose the serial or
    the parallel kernel from their shape alone (never from the thread
    count), so a given layer always runs the same arithmetic.
    """
    _forward_rows(out, x, w, b, act, 0, x.shape[0])


@parallel_kernel
def dense_forward_parallel(out, x, w, b, act):
    """Parallel :func:`dense_forward`: rows split in :func:`n_chunks` chunks.

    The chunks depend on the shape only, so the result is bit-identical for
    any thread count (it may differ in the last bits from the serial kernel,
    which a given layer never mixes with this one).
    """
    n = x.shape[0]
    nc = n_chunks(n, MIN_ROWS)
    for c in prange(nc):
        _forward_rows(out, x, w, b, act, c * n // nc, (c + 1) * n // nc)


@kernel
def _grad_rows(dout, out, act, r0, r1):
    activation_grad(dout[r0:r1].reshape(-1), out[r0:r1].reshape(-1), act)


@kernel
def _dw_rows(dw, xtv, x, dout, i0, i1):
    n = x.shape[0]
    for i in range(i0, i1):
        for r in range(n):
            xtv[i, r] = x[r, i]
    np.dot(xtv[i0:i1], dout, dw[i0:i1])


@kernel
def _dx_rows(dx, dout, w, r0, r1):
    np.dot(dout[r0:r1], w.T, dx[r0:r1])


@kernel
def _bias_grad(db, dout):
    n, m = dout.shape
    for j in range(m):
        db[j] = 0
    for i in range(n):
        for j in range(m):
            db[j] += dout[i, j]


@kernel
def dense_backward(dx, dw, db, xt, dout, out, x, w, act, need_dx):
    """Backward pass of :func:`dense_forward` (serial).

    ``dout`` (n, n_out) holds dL/d(out); it is overwritten with
    ``dz = dout * f'(z)``.  Then ``dw = x.T @ dz``, ``db = sum_rows(dz)`` and,
    when ``need_dx``, ``dx = dz @ w.T``.  Gradients are sums over the batch
    (the optimizer scales by ``1 / sum(sample_weight)``).  ``xt`` is unused
    here (the parallel twin needs it) so both share one signature.
    """
    _grad_rows(dout, out, act, 0, dout.shape[0])
    np.dot(x.T, dout, dw)
    _bias_grad(db, dout)
    if need_dx:
        np.dot(dout, w.T, dx)


@parallel_kernel
def dense_backward_parallel(dx, dw, db, xt, dout, out, x, w, act, need_dx):
    """Parallel :func:`dense_backward` over shape-determined chunks.

    ``dw`` is split over its rows using ``xt``, a flat workspace of at least
    ``n * n_in`` elements that receives a contiguous transposed copy of ``x``.
    """
    n = dout.shape[0]
    k = x.shape[1]
    nc = n_chunks(n, MIN_ROWS)
    for c in prange(nc):
        _grad_rows(dout, out, act, c * n // nc, (c + 1) * n // nc)
    xtv = xt[: k * n].reshape(k, n)
    kc = n_chunks(k, 64)
    for c in prange(kc):
        _dw_rows(dw, xtv, x, dout, c * k // kc, (c + 1) * k // kc)
    _bias_grad(db, dout)
    if need_dx:
        for c in prange(nc):
            _dx_rows(dx, dout, w, c * n // nc, (c + 1) * n // nc)


@kernel
def gather_rows(out, x, idx):
    """``out[k] = x[idx[k]]`` for the first ``len(idx)`` rows of ``out``."""
    m = x.shape[1]
    for k in range(idx.shape[0]):
        r = idx[k]
        for j in range(m):
            out[k, j] = x[r, j]


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
