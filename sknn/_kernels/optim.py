"""Optimizer updates over the flat parameter vector.

The flat vector holds every layer's weights first and every bias after them
(scikit-learn's ``_pack`` order), so L2 applies to ``params[:n_weights]``.
Gradients arrive as sums over the batch; a step scales them by
``inv_sw = 1 / sum(sample_weight)`` and adds ``alpha * w * inv_sw`` to the
weight part, exactly as scikit-learn's MLP does, and returns ``sum(w**2)`` of
the weights *before* the update (for the reported loss), so no extra pass over
the parameters is needed.

The kernels work on a range ``[lo, hi)`` of the vector, so a large vector
can be cut into chunks run in parallel (``sknn._optim``); each chunk's
``sum(w**2)`` comes back on its own and the chunks are added in order.
"""

import numpy as np

from .._jit import inlined_kernel, kernel


@inlined_kernel
def _sum_sq(x):
    """``sum(x**2)`` of a 1-D array with four fixed accumulators (a single
    running sum is a dependency chain that keeps the loop scalar)."""
    s0 = s1 = s2 = s3 = 0.0
    hi = x.shape[0]
    i = 0
    while i + 4 <= hi:
        s0 += x[i] * x[i]
        s1 += x[i + 1] * x[i + 1]
        s2 += x[i + 2] * x[i + 2]
        s3 += x[i + 3] * x[i + 3]
        i += 4
    while i < hi:
        s0 += x[i] * x[i]
        i += 1
    return (s0 + s1) + (s2 + s3)


@inlined_kernel
def _adam(w, g, m, v, alpha, inv, lr, b1, b2, eps):
    t = w.dtype.type
    alpha, inv, lr, eps = t(alpha), t(inv), t(lr), t(eps)
    c1, c2 = t(1.0 - b1), t(1.0 - b2)
    b1, b2 = t(b1), t(b2)
    for i in range(w.shape[0]):
        wi = w[i]
        gi = (g[i] + alpha * wi) * inv
        mi = b1 * m[i] + c1 * gi
        vi = b2 * v[i] + c2 * gi * gi
        m[i] = mi
        v[i] = vi
        w[i] = wi - lr * mi / (np.sqrt(vi) + eps)


@inlined_kernel
def _sgd(w, g, vel, alpha, inv, lr, momentum, nesterov):
    t = w.dtype.type
    alpha, inv, lr, momentum = t(alpha), t(inv), t(lr), t(momentum)
    for i in range(w.shape[0]):
        wi = w[i]
        gi = (g[i] + alpha * wi) * inv
        v = momentum * vel[i] - lr * gi
        vel[i] = v
        if nesterov:
            w[i] = wi + momentum * v - lr * gi
        else:
            w[i] = wi + v


def optimizer_step(params, grad, s1, s2, lo, hi, n_weights, alpha, inv_sw, lr, h1, h2,
                   h3, is_adam):
    """Update ``params[lo:hi]``; return ``sum(w**2)`` over its weights.

    Adam: ``s1, s2`` are the moments, ``h1, h2, h3`` are ``beta_1, beta_2,
    epsilon``, ``lr`` the bias-corrected step::

        m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g**2
        w -= lr * m / (sqrt(v) + eps)

    SGD: ``s1`` is the velocity, ``h1`` the momentum, ``h2`` non-zero for
    Nesterov (``s2``, ``h3`` unused)::

        v = momentum v - lr g;  w += momentum v - lr g  (Nesterov)  or  w += v

    with ``g = (grad + alpha * w) * inv_sw`` (biases get no ``alpha``).
    Scalars are cast to the arrays' dtype, so float32 models update in
    float32 as scikit-learn's NumPy code does.  The loops run over views
    (LLVM vectorises a loop over a whole view, not one over an index range).
    Adam and SGD are kernels of their own: a fit compiles only its solver's.
    """
    if is_adam:
        return adam_step(params, grad, s1, s2, lo, hi, n_weights, alpha, inv_sw, lr, h1,
                         h2, h3)
    return sgd_step(params, grad, s1, lo, hi, n_weights, alpha, inv_sw, lr, h1, h2 != 0)


@kernel
def adam_step(params, grad, m, v, lo, hi, n_weights, alpha, inv_sw, lr, b1, b2, eps):
    """The Adam update of :func:`optimizer_step` on ``params[lo:hi]``."""
    mid = min(max(lo, n_weights), hi)
    sq = _sum_sq(params[lo:mid])
    for part in range(2):  # the weights (with L2), then the biases
        i0, i1 = (lo, mid) if part == 0 else (mid, hi)
        a = alpha if part == 0 else 0.0
        _adam(params[i0:i1], grad[i0:i1], m[i0:i1], v[i0:i1], a, inv_sw, lr, b1, b2, eps)
    return sq


@kernel
def sgd_step(params, grad, velocity, lo, hi, n_weights, alpha, inv_sw, lr, momentum,
             nesterov):
    """The SGD update of :func:`optimizer_step` on ``params[lo:hi]``."""
    mid = min(max(lo, n_weights), hi)
    sq = _sum_sq(params[lo:mid])
    for part in range(2):  # the weights (with L2), then the biases
        i0, i1 = (lo, mid) if part == 0 else (mid, hi)
        a = alpha if part == 0 else 0.0
        _sgd(params[i0:i1], grad[i0:i1], velocity[i0:i1], a, inv_sw, lr, momentum,
             nesterov)
    return sq

