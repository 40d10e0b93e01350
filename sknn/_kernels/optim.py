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

from .._jit import inlined_kernel, kernel, parallel_kernel, prange, prange_index
from .dense import vector_sum


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
def _sum_sq(x):
    """``sum(x**2)`` of a 1-D array with four fixed accumulators.

    A single running sum is a serial dependency chain that also keeps the
    surrounding loop from vectorising; four partial sums added in a fixed
    order keep the result deterministic.
    """
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


# The update runs over fixed blocks of BLOCK parameters.  ``sum(w**2)`` is
# summed per block and the block sums are added in block order, so the
# serial and the parallel kernels (which hand whole blocks to threads) give
# the same bits for the weights *and* for the reported loss.  The loops above
# get each block as views: LLVM vectorises a loop over a whole view, but not
# the same loop over an index range inside an enclosing loop (measured 5x
# slower).
BLOCK = 4096
# Below this many parameters the update is a few microseconds: serial.
PARALLEL_MIN_PARAMS = 65536


@kernel
def _sgd_range(params, grad, velocity, alpha, inv_sw, lr, momentum, nesterov):
    t = params.dtype.type
    alpha, inv_sw, lr, momentum = t(alpha), t(inv_sw), t(lr), t(momentum)
    for i in range(params.shape[0]):
        w = params[i]
        g = (grad[i] + alpha * w) * inv_sw
        v = momentum * velocity[i] - lr * g
        velocity[i] = v
        if nesterov:
            params[i] = w + momentum * v - lr * g
        else:
            params[i] = w + v


@kernel
def _adam_range(params, grad, m, v, alpha, inv_sw, lr_t, beta_1, beta_2, eps):
    # Scalars in the arrays' dtype: float32 models update in float32 (as
    # scikit-learn's NumPy code does) and the loop vectorises at full width.
    t = params.dtype.type
    alpha, inv_sw, lr_t, eps = t(alpha), t(inv_sw), t(lr_t), t(eps)
    b1, b2 = t(beta_1), t(beta_2)
    c1, c2 = t(1.0 - beta_1), t(1.0 - beta_2)
    for i in range(params.shape[0]):
        w = params[i]
        g = (grad[i] + alpha * w) * inv_sw
        mi = b1 * m[i] + c1 * g
        vi = b2 * v[i] + c2 * g * g
        m[i] = mi
        v[i] = vi
        params[i] = w - lr_t * mi / (np.sqrt(vi) + eps)


@inlined_kernel
def _block_step(k, params, grad, s1, s2, n_weights, alpha, inv_sw, lr, h1, h2, h3,
                is_adam, part):
    """Update block ``k``; store ``sum(w**2)`` of its weights in ``part[k]``.

    Weights (``i < n_weights``) get the L2 term, biases do not; each part is
    one branch-free loop so both vectorise.  For Adam ``s1, s2`` are the
    moments and ``h1, h2, h3`` are ``beta_1, beta_2, epsilon``; for SGD ``s1``
    is the velocity and ``h1, h2`` are momentum and nesterov (``s2``, ``h3``
    unused).
    """
    lo = k * BLOCK
    hi = min(lo + BLOCK, params.shape[0])
    mid = min(max(lo, n_weights), hi)
    part[k] = _sum_sq(params[lo:mid])
    if is_adam:
        _adam_range(params[lo:mid], grad[lo:mid], s1[lo:mid], s2[lo:mid], alpha, inv_sw,
                    lr, h1, h2, h3)
        _adam_range(params[mid:hi], grad[mid:hi], s1[mid:hi], s2[mid:hi], 0.0, inv_sw,
                    lr, h1, h2, h3)
    else:
        _sgd_range(params[lo:mid], grad[lo:mid], s1[lo:mid], alpha, inv_sw, lr, h1,
                   h2 != 0)
        _sgd_range(params[mid:hi], grad[mid:hi], s1[mid:hi], 0.0, inv_sw, lr, h1,
                   h2 != 0)


@parallel_kernel
def _step_parallel(params, grad, s1, s2, n_weights, alpha, inv_sw, lr, h1, h2, h3,
                   is_adam):
    nb = (params.shape[0] + BLOCK - 1) // BLOCK
    part = np.empty(nb)
    for k in prange(nb):
        _block_step(prange_index(k), params, grad, s1, s2, n_weights, alpha, inv_sw, lr,
                    h1, h2, h3, is_adam, part)
    return vector_sum(part)


def _stepper(params):
    # Small vectors: the serial twin (same blocks, same bits, no launch).
    return _step_parallel if params.shape[0] >= PARALLEL_MIN_PARAMS else _step_parallel.serial


def sgd_step(params, grad, velocity, n_weights, alpha, inv_sw, lr, momentum, nesterov):
    """SGD with (Nesterov) momentum, scikit-learn's formulation.

    ``v = momentum * v - lr * g``; ``w += momentum * v - lr * g`` (Nesterov)
    or ``w += v``, with ``g = (grad + alpha * w) * inv_sw`` (biases get no
    ``alpha``).  Returns ``sum(w**2)`` over the weights before the update.
    Vectors of at least ``PARALLEL_MIN_PARAMS`` are updated block-parallel:
    element-wise updates and block-ordered sums make the result the same bits
    for any thread count and either path.
    """
    return _stepper(params)(params, grad, velocity, velocity, n_weights, alpha, inv_sw,
                            lr, momentum, 1.0 if nesterov else 0.0, 0.0, False)


def adam_step(params, grad, m, v, n_weights, alpha, inv_sw, lr_t, beta_1, beta_2, eps):
    """Adam (Kingma & Ba), with the bias correction folded into ``lr_t``.

    ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g**2``;
    ``w -= lr_t * m / (sqrt(v) + eps)`` with
    ``lr_t = lr * sqrt(1 - b2**t) / (1 - b1**t)`` computed by the caller.
    Returns ``sum(w**2)`` over the weights before the update; parallel for
    large vectors with the same bits (see :func:`sgd_step`).
    """
    return _stepper(params)(params, grad, m, v, n_weights, alpha, inv_sw, lr_t, beta_1,
                            beta_2, eps, True)


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
