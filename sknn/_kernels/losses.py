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
epsilon, as scikit-learn does.  Training applies the link inside the loss
kernel (a row-wise softmax of a 200 x 10 batch costs ~20 us in NumPy, whose
axis-1 reductions are slow for short rows); prediction applies it with NumPy
(:func:`apply_link`), once per chunk of up to thousands of rows.
"""

import numpy as np
from scipy.special import expit

from .._jit import inlined_kernel, kernel
from .activations import LOGISTIC, activate

SQUARED, POISSON, SOFTMAX_CE, BINARY_CE = 0, 1, 2, 3


def apply_link(z, code):
    """Turn output pre-activations ``z (n, k)`` into predictions, in place."""
    if code == SOFTMAX_CE:
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
    elif code == BINARY_CE:
        expit(z, out=z)
    elif code == POISSON:
        np.exp(z, out=z)
    return z


@inlined_kernel
def _link_rows(z, code):
    """The link of :func:`apply_link`, in place, as loops."""
    n, m = z.shape
    if code == SOFTMAX_CE:
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
    elif code == BINARY_CE:
        activate(z.reshape(-1), LOGISTIC)
    elif code == POISSON:
        for i in range(n):
            for j in range(m):
                z[i, j] = np.exp(z[i, j])


@inlined_kernel
def _squared_row(delta, z, y, i, s):
    """Row ``i``: ``delta[i] = (z[i] - y[i]) * s``; returns
    ``sum((y[i] - z[i])**2)`` in float64 with four fixed accumulators (a
    single running sum is a dependency chain that keeps the loop scalar)."""
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


@kernel
def link_loss_grad(delta, z, y, sw, code):
    """Apply the link to ``z`` in place; return ``sum_i sw_i * loss_i``.

    Writes ``delta = (p - y) * sw[:, None]``.  Shapes: ``z, y, delta (n, k)``,
    ``sw (n,)``.  The loss sum is accumulated in float64, in row order.
    """
    _link_rows(z, code)
    n, m = z.shape
    eps = np.finfo(z.dtype).eps
    one = z.dtype.type(1.0)
    total = 0.0
    for i in range(n):
        s = sw[i]
        if code == SQUARED:  # identity link; 0.5 * mean_k (y - p)^2
            total += s * (0.5 * _squared_row(delta, z, y, i, s) / m)
            continue
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
        total += s * li
    return total
