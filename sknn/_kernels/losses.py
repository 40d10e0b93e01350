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
ABSOLUTE        identity    mean_k |y - p|
HUBER           identity    mean_k h(p - y), h(r) = r^2 / 2 if |r| <= d
                            else d (|r| - d / 2)   (``param`` = d)
QUANTILE        identity    mean_k q max(y - p, 0) + (1 - q) max(p - y, 0)
                            (``param`` = q)
==============  ==========  ===================================================

The last three are not scikit-learn MLP losses; their ``delta`` is the exact
derivative of the loss above (so it carries the ``1 / n_outputs`` of the
mean), and at a kink (``p == y``) the derivative taken is 0.

``clip`` bounds probabilities to ``[eps, 1 - eps]`` with the dtype's machine
epsilon, as scikit-learn does.  Training applies the link inside the loss
kernel (a row-wise softmax of a 200 x 10 batch costs ~20 us in NumPy, whose
axis-1 reductions are slow for short rows); prediction applies it with NumPy
(:func:`apply_link`), once per chunk of up to thousands of rows.

:data:`loss_rows_f64` / :data:`loss_rows_f32` are the task (see
:mod:`sknn._kernels.tasks`) of a batch cut into row chunks: chunk ``i``
runs the loss's kernel on the rows of :func:`~sknn._runtime.row_bounds` and
writes its loss sum to ``sums[i]``; the caller adds the sums in chunk order.
"""

import numpy as np
from scipy.special import expit

from .._jit import inlined_kernel, kernel, task
from .activations import logistic
from .tasks import address_as, carray, chunk_rows, unpack

SQUARED, POISSON, SOFTMAX_CE, BINARY_CE = 0, 1, 2, 3
ABSOLUTE, HUBER, QUANTILE = 4, 5, 6


#: Up to this many classes, and from ``_COLUMNWISE_ROWS_PER_CLASS`` rows per
#: class, the softmax of :func:`apply_link` reduces its rows one column at a
#: time: NumPy's axis-1 reductions are slow for many short rows, while a
#: NumPy call per column costs more than one reduction of a few rows, and
#: than the reductions of rows of about a hundred classes.
_COLUMNWISE_MAX = 32
_COLUMNWISE_ROWS_PER_CLASS = 16


def _row_reduce(ufunc, z):
    """``ufunc.reduce(z, axis=1)`` for ``z (n, k)``, ``k >= 1``: column by
    column in order for many rows of up to :data:`_COLUMNWISE_MAX`
    columns."""
    n, k = z.shape
    if k > _COLUMNWISE_MAX or n < _COLUMNWISE_ROWS_PER_CLASS * k:
        return ufunc.reduce(z, axis=1)
    out = z[:, 0].copy()
    for j in range(1, k):
        ufunc(out, z[:, j], out=out)
    return out


def apply_link(z, code):
    """Turn output pre-activations ``z (n, k)`` into predictions, in place."""
    if code == SOFTMAX_CE:
        if z.shape[0] == 0:
            return z
        z -= _row_reduce(np.maximum, z)[:, None]
        np.exp(z, out=z)
        z /= _row_reduce(np.add, z)[:, None]
    elif code == BINARY_CE:
        expit(z, out=z)
    elif code == POISSON:
        np.exp(z, out=z)
    return z


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


@inlined_kernel
def _robust_row(delta, z, y, i, s, code, param):
    """Row ``i`` of the identity-link robust losses: writes ``delta[i]`` and
    returns ``sum_k loss_k`` (float64)."""
    m = z.shape[1]
    inv = z.dtype.type(1.0 / m)
    zero = z.dtype.type(0.0)
    one = z.dtype.type(1.0)
    li = 0.0
    for k in range(m):
        r = z[i, k] - y[i, k]
        if code == ABSOLUTE:
            li += abs(float(r))
            g = zero if r == 0 else (inv if r > 0 else -inv)
        elif code == HUBER:
            d = z.dtype.type(param)
            if abs(r) <= d:
                li += 0.5 * float(r) * r
                g = r * inv
            else:
                li += param * (abs(float(r)) - 0.5 * param)
                g = d * inv if r > 0 else -d * inv
        else:  # QUANTILE
            q = z.dtype.type(param)
            if r < 0:
                li += -param * float(r)
                g = -q * inv
            elif r > 0:
                li += (1.0 - param) * float(r)
                g = (one - q) * inv
            else:
                g = zero
        delta[i, k] = g * s
    return li


def link_loss_grad(delta, z, y, sw, code, param=0.0):
    """Apply the link to ``z`` in place; return ``sum_i sw_i * loss_i``.

    Writes ``delta = dloss/dz * sw[:, None]`` (``(p - y) * sw`` for the
    canonical pairs).  Shapes: ``z, y, delta (n, k)``, ``sw (n,)``;
    ``param`` is the Huber threshold or the quantile (ignored by the other
    codes).  The loss sum is accumulated in float64, in row order.  Each
    family of losses has a kernel of its own, so a fit compiles only the one
    it uses.
    """
    if code == SOFTMAX_CE or code == BINARY_CE:
        return cross_entropy_grad(delta, z, y, sw, code)
    if code >= ABSOLUTE:
        return robust_loss_grad(delta, z, y, sw, code, param)
    return regression_loss_grad(delta, z, y, sw, code)


@kernel
def cross_entropy_grad(delta, z, y, sw, code):
    """:func:`link_loss_grad` for softmax or logistic outputs with the
    (binary) cross-entropy; probabilities clipped to ``[eps, 1 - eps]``."""
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
    else:
        logistic(z.reshape(-1))
    # The dtype's machine epsilon, 2**-23 or 2**-52, without np.finfo (whose
    # overload adds a tenth of a second to a first fit's compile).
    eps = z.dtype.type(2.0 ** -23 if z.itemsize == 4 else 2.0 ** -52)
    one = z.dtype.type(1.0)
    total = 0.0
    for i in range(n):
        s = sw[i]
        li = 0.0
        for j in range(m):
            p = z[i, j]
            t = y[i, j]
            # min(max(p, eps), 1 - eps) as comparisons, NaN kept (as the
            # builtins do, whose overloads add to a first fit's compile)
            pc = eps if p < eps else p
            pc = one - eps if pc > one - eps else pc
            if t != 0:
                li -= t * np.log(pc)
            if code == BINARY_CE and t != 1:
                li -= (1 - t) * np.log(1 - pc)
            delta[i, j] = (p - t) * s
        total += s * li
    return total


@kernel
def regression_loss_grad(delta, z, y, sw, code):
    """:func:`link_loss_grad` for the squared error (identity link) and the
    Poisson deviance (exp link)."""
    n, m = z.shape
    total = 0.0
    if code == SQUARED:  # 0.5 * mean_k (y - p)^2
        for i in range(n):
            s = sw[i]
            total += s * (0.5 * _squared_row(delta, z, y, i, s) / m)
        return total
    for i in range(n):
        s = sw[i]
        li = 0.0
        for j in range(m):
            p = np.exp(z[i, j])
            z[i, j] = p
            t = y[i, j]
            if t > 0:
                li += t * np.log(t / p)
            li += p - t
            delta[i, j] = (p - t) * s
        total += s * li
    return total


@kernel
def robust_loss_grad(delta, z, y, sw, code, param):
    """:func:`link_loss_grad` for the identity-link robust losses."""
    n, m = z.shape
    total = 0.0
    for i in range(n):
        s = sw[i]
        total += s * (_robust_row(delta, z, y, i, s, code, param) / m)
    return total


#: Entries of a loss task's ``args``: delta, z, y and sw addresses, the row
#: count, the outputs, the loss code, and the float64 array ``[param,
#: sums...]``.
LOSS_ARGS = 8
#: Which of them are array references (:func:`sknn._runtime.run_task`).
LOSS_REFS = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 7


def loss_operands(delta, z, y, sw, code, sums):
    """The operands (a list, :data:`LOSS_ARGS` long, references flagged by
    :data:`LOSS_REFS`) of :data:`loss_rows_f64` / ``_f32`` for C-contiguous
    ``delta``, ``z``, ``y`` (n, m) and ``sw`` (n,); ``sums`` is the float64
    array ``[param, chunk sums...]`` (the caller keeps them alive)."""
    n, m = z.shape
    return [id(delta), id(z), id(y), id(sw), n, m, code, id(sums)]


@inlined_kernel
def _loss_rows(i, n_chunks, args, zero, item):
    p = unpack(args, LOSS_ARGS)
    n, m, code = p[4], p[5], p[6]
    r0, r1 = chunk_rows(i, n_chunks, n)
    shape = (r1 - r0, m)
    delta = carray(address_as(p[0] + r0 * m * item, zero), shape)
    z = carray(address_as(p[1] + r0 * m * item, zero), shape)
    y = carray(address_as(p[2] + r0 * m * item, zero), shape)
    sw = carray(address_as(p[3] + r0 * item, zero), (r1 - r0,))
    f = carray(address_as(p[7], np.float64(0)), (n_chunks + 1,))
    if code == SOFTMAX_CE or code == BINARY_CE:
        f[i + 1] = cross_entropy_grad(delta, z, y, sw, code)
    elif code >= ABSOLUTE:
        f[i + 1] = robust_loss_grad(delta, z, y, sw, code, f[0])
    else:
        f[i + 1] = regression_loss_grad(delta, z, y, sw, code)


@task
def loss_rows_f64(i, slot, n_chunks, args):
    """Chunk ``i`` of a float64 batch's loss and gradient (module doc)."""
    _loss_rows(i, n_chunks, args, np.float64(0), 8)


@task
def loss_rows_f32(i, slot, n_chunks, args):
    """:data:`loss_rows_f64` in float32."""
    _loss_rows(i, n_chunks, args, np.float32(0), 4)
