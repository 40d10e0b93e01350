"""Optimizer updates over the flat parameter vector.

The flat vector holds every layer's weights first and every bias after them
(scikit-learn's ``_pack`` order), so L2 applies to ``params[:n_weights]``.
Gradients arrive as sums over the batch; each step scales them by
``inv_sw = 1 / sum(sample_weight)`` and adds ``alpha * w * inv_sw`` to the
weight part, exactly as scikit-learn's MLP does, and returns ``sum(w**2)`` of
the weights *before* the update (for the reported loss), so no extra pass over
the parameters is needed.
"""

import numpy as np

from .._jit import kernel


@kernel
def scale_grad_l2(grad, params, n_weights, alpha, inv_sw):
    """Finish a summed gradient in place: ``g = (g + alpha * w) * inv_sw``.

    Returns ``sum(w**2)`` over the weight part. Used by L-BFGS.
    """
    sq = 0.0
    for i in range(n_weights):
        w = params[i]
        sq += w * w
        grad[i] = (grad[i] + alpha * w) * inv_sw
    for i in range(n_weights, grad.shape[0]):
        grad[i] *= inv_sw
    return sq


@kernel
def _sum_sq(x, lo, hi):
    """``sum(x[lo:hi]**2)`` with four fixed accumulators.

    A single running sum is a serial dependency chain that also keeps the
    surrounding loop from vectorising; four partial sums added in a fixed
    order keep the result deterministic.
    """
    s0 = s1 = s2 = s3 = 0.0
    i = lo
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


@kernel
def _sgd_range(params, grad, velocity, lo, hi, alpha, inv_sw, lr, momentum, nesterov):
    t = params.dtype.type
    alpha, inv_sw, lr, momentum = t(alpha), t(inv_sw), t(lr), t(momentum)
    sq = _sum_sq(params, lo, hi)
    for i in range(lo, hi):
        w = params[i]
        g = (grad[i] + alpha * w) * inv_sw
        v = momentum * velocity[i] - lr * g
        velocity[i] = v
        if nesterov:
            params[i] = w + momentum * v - lr * g
        else:
            params[i] = w + v
    return sq


@kernel
def sgd_step(params, grad, velocity, n_weights, alpha, inv_sw, lr, momentum, nesterov):
    """SGD with (Nesterov) momentum, scikit-learn's formulation.

    ``v = momentum * v - lr * g``; ``w += momentum * v - lr * g`` (Nesterov)
    or ``w += v``.  Weights and biases are two branch-free loops (biases get
    ``alpha = 0``) so both vectorise.
    """
    sq = _sgd_range(params, grad, velocity, 0, n_weights, alpha, inv_sw, lr, momentum,
                    nesterov)
    _sgd_range(params, grad, velocity, n_weights, params.shape[0], 0.0, inv_sw, lr,
               momentum, nesterov)
    return sq


@kernel
def _adam_range(params, grad, m, v, lo, hi, alpha, inv_sw, lr_t, beta_1, beta_2, eps):
    # Scalars in the arrays' dtype: float32 models update in float32 (as
    # scikit-learn's NumPy code does) and the loop vectorises at full width.
    t = params.dtype.type
    alpha, inv_sw, lr_t, eps = t(alpha), t(inv_sw), t(lr_t), t(eps)
    b1, b2 = t(beta_1), t(beta_2)
    c1, c2 = t(1.0 - beta_1), t(1.0 - beta_2)
    sq = _sum_sq(params, lo, hi)
    for i in range(lo, hi):
        w = params[i]
        g = (grad[i] + alpha * w) * inv_sw
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        params[i] = w - lr_t * mi / (np.sqrt(vi) + eps)
    return sq


@kernel
def adam_step(params, grad, m, v, n_weights, alpha, inv_sw, lr_t, beta_1, beta_2, eps):
    """Adam (Kingma & Ba), with the bias correction folded into ``lr_t``.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g**2``;
    ``w -= lr_t * m / (sqrt(v) + eps)`` with
    ``lr_t = lr * sqrt(1 - b2**t) / (1 - b1**t)`` computed by the caller.
    Weights and biases are two branch-free loops so both vectorise.
    """
    sq = _adam_range(params, grad, m, v, 0, n_weights, alpha, inv_sw, lr_t, beta_1,
                     beta_2, eps)
    _adam_range(params, grad, m, v, n_weights, params.shape[0], 0.0, inv_sw, lr_t,
                beta_1, beta_2, eps)
    return sq


@kernel
def sum_squares(x, n):
    """``sum(x[:n]**2)`` accumulated in float64."""
    s = 0.0
    for i in range(n):
        s += x[i] * x[i]
    return s


@kernel
def all_finite(x):
    """True when every element of the 1-D array ``x`` is finite."""
    for i in range(x.shape[0]):
        if not np.isfinite(x[i]):
            return False
    return True
