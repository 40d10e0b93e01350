"""Output links fused with their canonical losses.

For each pair the gradient of the loss with respect to the output layer's
pre-activation ``z`` is ``p - y`` (``p = link(z)``), so one kernel applies the
link in place, returns the weighted loss sum and writes
``delta = (p - y) * sample_weight``.

The per-sample losses follow scikit-learn's MLP exactly (so ``loss_curve_``
values are comparable):

==============  ==========  ===================================================
code            link        per-sample loss (k runs over outputs)
==============  ==========  ===================================================
SQUARED         identity    0.5 * mean_k (y - p)^2
POISSON         exp         sum_k y log(y / p) - y + p   (0 log 0 = 0)
SOFTMAX_CE      softmax     -sum_k y log(clip(p))
BINARY_CE       logistic    -sum_k y log(clip(p)) + (1 - y) log(1 - clip(p))
==============  ==========  ===================================================

``clip`` bounds probabilities to ``[eps, 1 - eps]`` with the dtype's machine
epsilon, as scikit-learn does.
"""

import numpy as np

from .._jit import inlined_kernel, kernel, parallel_kernel, prange
from .activations import LOGISTIC, activate
from .dense import vector_sum

SQUARED, POISSON, SOFTMAX_CE, BINARY_CE = 0, 1, 2, 3


@kernel
def softmax_rows(z):
    """Row-wise softmax in place, shifted by the row max for stability."""
    n, m = z.shape
    for i in range(n):
        mx = z[i, 0]
        for j in range(1, m):
            if z[i, j] > mx:
                mx = z[i, j]
        s = z.dtype.type(0.0)
        for j in range(m):
            e = np.exp(z[i, j] - mx)
            z[i, j] = e
            s += e
        for j in range(m):
            z[i, j] /= s


@kernel
def apply_link(z, code):
    """Turn output pre-activations into predictions, in place."""
    if code == SOFTMAX_CE:
        softmax_rows(z)
    elif code == BINARY_CE:
        activate(z.reshape(-1), LOGISTIC)
    elif code == POISSON:
        n, m = z.shape
        for i in range(n):
            for j in range(m):
                z[i, j] = np.exp(z[i, j])


@inlined_kernel
def _squared_row(delta, z, y, i, s):
    """Row ``i``: ``delta[i] = (z[i] - y[i]) * s``; returns
    ``sum((y[i] - z[i])**2)`` in float64 with four fixed accumulators (a
    single running sum is a dependency chain: it made the loss of a
    256 x 784 autoencoder batch cost ~200 us)."""
    m = z.shape[1]
    a0 = a1 = a2 = a3 = 0.0
    j = 0
    while j + 4 <= m:
        d0 = y[i, j] - z[i, j]
        d1 = y[i, j + 1] - z[i, j + 1]
        d2 = y[i, j + 2] - z[i, j + 2]
        d3 = y[i, j + 3] - z[i, j + 3]
        a0 += float(d0) * d0
        a1 += float(d1) * d1
        a2 += float(d2) * d2
        a3 += float(d3) * d3
        j += 4
    while j < m:
        d0 = y[i, j] - z[i, j]
        a0 += float(d0) * d0
        j += 1
    for k in range(m):
        delta[i, k] = (z[i, k] - y[i, k]) * s
    return (a0 + a1) + (a2 + a3)


@inlined_kernel
def _row_loss(delta, z, y, i, s, code, eps):
    """Loss of sample ``i`` (after its link); writes ``delta[i] = (p - y) * s``.

    Whole arrays and a row index, not row views, and inlined: three
    reference-counted views and a call per row took 8 of the 14 us of a
    128-row, 10-class batch's loss (more than its arithmetic)."""
    m = z.shape[1]
    if code == SQUARED:  # identity link; 0.5 * mean_k (y - p)^2
        return 0.5 * _squared_row(delta, z, y, i, s) / m
    one = z.dtype.type(1.0)
    li = 0.0
    for j in range(m):
        p = z[i, j]
        t = y[i, j]
        if code == POISSON:
            if t > 0:
                li += t * np.log(t / p)
            li += p - t
        elif code == SOFTMAX_CE:
            if t != 0:
                li -= t * np.log(min(max(p, eps), one - eps))
        else:
            pc = min(max(p, eps), one - eps)
            if t != 0:
                li -= t * np.log(pc)
            if t != 1:
                li -= (1 - t) * np.log(1 - pc)
        delta[i, j] = (p - t) * s
    return li


@inlined_kernel
def _loss_range(delta, z, y, sw, code, r0, r1, rows):
    """Link, gradient and ``rows[i] = sw_i * loss_i`` for rows ``r0:r1``."""
    apply_link(z[r0:r1], code)
    eps = np.finfo(z.dtype).eps
    for i in range(r0, r1):
        rows[i] = sw[i] * _row_loss(delta, z, y, i, sw[i], code, eps)


@kernel
def link_loss_grad(delta, z, y, sw, code):
    """Apply the link to ``z`` in place; return ``sum_i sw_i * loss_i``.

    Writes ``delta = (p - y) * sw[:, None]``.  Shapes: ``z, y, delta (n, k)``,
    ``sw (n,)``.  The loss sum is accumulated in float64, in row order.
    """
    n = z.shape[0]
    rows = np.empty(n)
    _loss_range(delta, z, y, sw, code, 0, n, rows)
    return vector_sum(rows)


@parallel_kernel
def link_loss_grad_parallel(delta, z, y, sw, code, split):
    """:func:`link_loss_grad` over ``split`` row chunks: each row's loss is
    the same arithmetic and the row losses are added in row order, so the
    result is bit-identical to the serial kernel (for wide outputs, such as
    an autoencoder's reconstruction)."""
    n = z.shape[0]
    rows = np.empty(n)
    nc = min(split, max(1, n // 32))
    for c in prange(nc):
        _loss_range(delta, z, y, sw, code, c * n // nc, (c + 1) * n // nc, rows)
    return vector_sum(rows)
