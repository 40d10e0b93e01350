"""Element-wise work around a dense layer's matrix products.

The products themselves (``x @ w``, ``x.T @ dz``, ``dz @ w.T``) are NumPy
calls on the installed BLAS, made by :class:`sknn._layers.Dense`; these
kernels fuse what comes after them into one pass each:

* forward: ``out = f(out + b)`` (bias and activation, in place);
* backward: ``dz = dout * f'(out)`` (from the activation's output; for GELU
  and SiLU the layer passes the pre-activation ``z`` it kept instead) and
  the column sums of ``dz`` (the bias gradient of a block of rows).

Shapes: ``out, dz (n, m)`` C-contiguous, ``b (m,)``; one dtype per call.
"""

from .._jit import kernel
from .activations import activate, activate_extra, activation_grad, activation_grad_extra


@kernel
def bias_act(out, b, act):
    """``out[i, j] = f(out[i, j] + b[j])`` in place, ``f`` by activation code."""
    n, m = out.shape
    for i in range(n):
        for j in range(m):
            out[i, j] += b[j]
    activate(out.reshape(-1), act)


@kernel
def act_grad_colsum(dz, out, act, db):
    """``dz *= f'(z)`` in place (``f'`` from the output ``out``, or from ``z``
    passed as ``out`` for the codes of ``NEEDS_PREACTIVATION``), then
    ``db[j] = sum_i dz[i, j]`` summed in row order."""
    n, m = dz.shape
    activation_grad(dz.reshape(-1), out.reshape(-1), act)
    for j in range(m):
        db[j] = 0
    for i in range(n):
        for j in range(m):
            db[j] += dz[i, j]


@kernel
def extra_activation(z, act):
    """Activation ``act`` (:data:`~sknn._kernels.activations.FIRST_EXTRA` or
    above) in place on the 1-D array ``z``: its own kernel, compiled only for
    networks that use one (the fused kernels above apply the basic ones)."""
    activate_extra(z, act)


@kernel
def extra_activation_grad(delta, a, act):
    """``delta *= f'(z)`` on 1-D arrays for an activation of
    :func:`extra_activation` (``a``: the output, or ``z`` where needed)."""
    activation_grad_extra(delta, a, act)
