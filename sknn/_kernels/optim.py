"""Optimizer updates over the flat parameter vector.

The flat vector holds every layer's weights first and every bias after them
(scikit-learn's ``_pack`` order), so L2 applies to ``params[:n_weights]``.
Gradients arrive as sums over the batch; a step scales them by
``inv_sw = 1 / sum(sample_weight)`` and adds ``alpha * w * inv_sw`` to the
weight part, exactly as scikit-learn's MLP does, and returns ``sum(w**2)`` of
the weights *before* the update (for the reported loss), so no extra pass over
the parameters is needed.

The kernels work on a range ``[lo, hi)`` of the vector, so a large vector
can be cut into chunks (``sknn._optim``); each chunk's ``sum(w**2)`` comes
back on its own and the chunks are added in order.  The chunks run in
parallel as a task (:data:`step_f64` / :data:`step_f32`) that makes the
same kernel calls on each chunk's range.
"""

import numpy as np

from .._jit import inlined_kernel, kernel, task
from .tasks import address_as, carray, chunk_rows, unpack


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


@inlined_kernel
def _weights_end(lo, hi, n_weights):
    """``min(max(lo, n_weights), hi)``: where the weights of ``[lo, hi)``
    end (comparisons: the builtins' overloads add to a first fit's compile)."""
    mid = n_weights if lo < n_weights else lo
    return hi if mid > hi else mid


@kernel
def adam_step(params, grad, m, v, lo, hi, n_weights, alpha, inv_sw, lr, b1, b2, eps):
    """The Adam update of :func:`optimizer_step` on ``params[lo:hi]``."""
    mid = _weights_end(lo, hi, n_weights)
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
    mid = _weights_end(lo, hi, n_weights)
    sq = _sum_sq(params[lo:mid])
    for part in range(2):  # the weights (with L2), then the biases
        i0, i1 = (lo, mid) if part == 0 else (mid, hi)
        a = alpha if part == 0 else 0.0
        _sgd(params[i0:i1], grad[i0:i1], velocity[i0:i1], a, inv_sw, lr, momentum,
             nesterov)
    return sq


#: Entries of an optimizer task's ``args`` (see :func:`step_args`).
STEP_ARGS = 11
#: Which of them are array references (:func:`sknn._runtime.run_task`).
STEP_REFS = 1 << 0 | 1 << 1 | 1 << 2 | 1 << 3 | 1 << 9 | 1 << 10


def step_args(params, grad, s1, s2, start, stop, n_weights, hyper, is_adam, parts):
    """The ``args`` of :data:`step_f64` / ``_f32`` for :func:`optimizer_step`
    on ``params[start:stop]`` in chunks, and its mask of array references
    (:func:`sknn._runtime.run_task`); ``hyper`` is the float64 array
    ``[alpha, inv_sw, lr, h1, h2, h3]``, ``parts`` the float64 array that
    receives each chunk's ``sum(w**2)`` (the caller keeps them alive)."""
    args = np.array([id(params), id(grad), id(s1), id(s2), params.shape[0], start,
                     stop, n_weights, int(is_adam), id(hyper), id(parts)], dtype=np.int64)
    return args, STEP_REFS


@inlined_kernel
def _step_chunk(c, n_chunks, args, zero):
    p = unpack(args, STEP_ARGS)
    size, start, stop, n_weights = p[4], p[5], p[6], p[7]
    params = carray(address_as(p[0], zero), (size,))
    grad = carray(address_as(p[1], zero), (size,))
    s1 = carray(address_as(p[2], zero), (size,))
    s2 = carray(address_as(p[3], zero), (size,))
    h = carray(address_as(p[9], np.float64(0)), (6,))
    parts = carray(address_as(p[10], np.float64(0)), (n_chunks,))
    n = stop - start
    lo, hi = chunk_rows(c, n_chunks, n)
    lo, hi = start + lo, start + hi
    if p[8] != 0:
        parts[c] = adam_step(params, grad, s1, s2, lo, hi, n_weights, h[0], h[1], h[2],
                             h[3], h[4], h[5])
    else:
        parts[c] = sgd_step(params, grad, s1, lo, hi, n_weights, h[0], h[1], h[2], h[3],
                            h[4] != 0)


@task
def step_f64(c, slot, n_chunks, args):
    """Chunk ``c`` of a float64 optimizer step (:func:`step_args`): the
    update of its range and its ``sum(w**2)``, the same calls as
    :func:`optimizer_step` on that range."""
    _step_chunk(c, n_chunks, args, np.float64(0))


@task
def step_f32(c, slot, n_chunks, args):
    """:data:`step_f64` in float32."""
    _step_chunk(c, n_chunks, args, np.float32(0))
