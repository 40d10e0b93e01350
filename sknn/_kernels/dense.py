"""Element-wise work around a dense layer's matrix products.

The products themselves (``x @ w``, ``x.T @ dz``, ``dz @ w.T``) are NumPy
calls on the installed BLAS, made by :class:`sknn._layers.Dense`; these
kernels fuse what comes after them into one pass each:

* forward: ``out = f(out + b)`` (bias and activation, in place);
* backward: ``dz = dout * f'(out)`` (from the activation's output) and the
  column sums of ``dz`` (the bias gradient of a block of rows).

Shapes: ``out, dz (n, m)`` C-contiguous, ``b (m,)``; one dtype per call.
"""

from .._jit import kernel
from .activations import activate, activation_grad


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
    """``dz *= f'(z)`` in place (``f'`` from the output ``out``), then
    ``db[j] = sum_i dz[i, j]`` summed in row order."""
    n, m = dz.shape
    activation_grad(dz.reshape(-1), out.reshape(-1), act)
    for j in range(m):
        db[j] = 0
    for i in range(n):
        for j in range(m):
            db[j] += dz[i, j]
