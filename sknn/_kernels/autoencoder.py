"""Kernels for the autoencoder layers (tied decoder, input corruption, code L1).

A tied decoder layer runs the dense kernels of :mod:`sknn._kernels.dense` on the
transposed view of its encoder layer's weights; :func:`add_transposed` then
adds its weight gradient to the encoder's.  Corruption kernels work on
1-D views of C-contiguous buffers; the random draws (``eps``, ``u``) are made
by the engine's seeded ``numpy.random.Generator`` before the call, so results
are reproducible and independent of the thread count.

``csr_rows_to_dense`` densifies gathered CSR rows batch by batch; the engine
uses it for sparse *targets* (an autoencoder's targets are its sparse input),
so a sparse training set is never densified as a whole.
"""

from .._jit import kernel


@kernel
def add_transposed(dw, gt):
    """``dw += gt.T``: adds a tied layer's gradient ``gt (b, a)`` to ``dw (a, b)``."""
    a, b = dw.shape
    for i in range(a):
        for j in range(b):
            dw[i, j] += gt[j, i]


@kernel
def gaussian_corrupt(out, x, eps, scale):
    """``out = x + scale * eps`` on 1-D views (``eps`` standard normal draws)."""
    s = out.dtype.type(scale)
    for i in range(out.shape[0]):
        out[i] = x[i] + s * eps[i]


@kernel
def mask_corrupt(out, x, u, rate):
    """Masking noise: ``out = x`` where ``u >= rate``, else 0 (no rescaling)."""
    for i in range(out.shape[0]):
        if u[i] >= rate:
            out[i] = x[i]
        else:
            out[i] = 0


@kernel
def csr_gaussian_corrupt(out, data, indices, indptr, eps, scale):
    """Densify the CSR batch into ``out (n, d)`` and add ``scale * eps``."""
    n, d = out.shape
    s = out.dtype.type(scale)
    for i in range(n):
        for j in range(d):
            out[i, j] = s * eps[i, j]
        for p in range(indptr[i], indptr[i + 1]):
            out[i, indices[p]] += data[p]


@kernel
def csr_rows_to_dense(out, data, indices, indptr, idx):
    """``out[k] = X[idx[k]]`` densified, for the first ``len(idx)`` rows."""
    d = out.shape[1]
    for k in range(idx.shape[0]):
        r = idx[k]
        for j in range(d):
            out[k, j] = 0
        for p in range(indptr[r], indptr[r + 1]):
            out[k, indices[p]] += data[p]


@kernel
def l1_penalty(x, sw):
    """``sum_i sw_i * sum_j |x_ij|`` accumulated in float64."""
    n, m = x.shape
    total = 0.0
    for i in range(n):
        s = 0.0
        for j in range(m):
            s += abs(x[i, j])
        total += sw[i] * s
    return total


@kernel
def l1_backward(dx, dout, x, sw, l1):
    """``dx = dout + l1 * sign(x) * sw[:, None]`` (sign(0) = 0)."""
    n, m = x.shape
    for i in range(n):
        g = dx.dtype.type(l1 * sw[i])
        for j in range(m):
            v = x[i, j]
            if v > 0:
                dx[i, j] = dout[i, j] + g
            elif v < 0:
                dx[i, j] = dout[i, j] - g
            else:
                dx[i, j] = dout[i, j]


@kernel
def row_sq_error(out, x, r):
    """``out[i] = mean_j (x_ij - r_ij)**2`` for dense ``x``; float64 sums."""
    n, m = x.shape
    for i in range(n):
        s = 0.0
        for j in range(m):
            d = x[i, j] - r[i, j]
            s += d * d
        out[i] = s / m


@kernel
def csr_row_sq_error(out, data, indices, indptr, r):
    """:func:`row_sq_error` for a CSR ``x`` (never densified).

    ``x`` must be in canonical format (no duplicate column indices).
    """
    n, m = r.shape
    for i in range(n):
        s = 0.0
        for j in range(m):
            s += r[i, j] * r[i, j]
        for p in range(indptr[i], indptr[i + 1]):
            c = indices[p]
            d = data[p] - r[i, c]
            s += d * d - r[i, c] * r[i, c]
        out[i] = s / m
