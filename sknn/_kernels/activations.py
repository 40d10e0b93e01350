"""Element-wise activation kernels, dispatched by small integer codes.

Codes (not jitted callables) are passed to cached kernels so that one compiled
kernel serves every activation (guide rule 3).  Derivatives are written in
terms of the activation's *output* ``a = f(z)``, so pre-activations never need
to be stored:

==========  ===========================  ==========================
code        f(z)                         f'(z) written with a = f(z)
==========  ===========================  ==========================
IDENTITY    z                            1
LOGISTIC    1 / (1 + exp(-z))            a (1 - a)
TANH        tanh(z)                      1 - a**2
RELU        max(z, 0)                    1 if a > 0 else 0
LEAKY_RELU  z if z > 0 else 0.01 z       1 if a > 0 else 0.01
ELU         z if z > 0 else exp(z) - 1   1 if a > 0 else a + 1
==========  ===========================  ==========================

Both are inlined helpers of the dense and convolution kernels: they work on
1-D views (``arr.reshape(-1)`` of C-contiguous buffers) and add no compiled
function of their own.
"""

import numpy as np

from .._jit import inlined_kernel

IDENTITY, LOGISTIC, TANH, RELU, LEAKY_RELU, ELU = 0, 1, 2, 3, 4, 5
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
}
LEAKY_SLOPE = 0.01


@inlined_kernel
def activate(z, code):
    """Apply activation ``code`` in place to the 1-D array ``z``."""
    n = z.shape[0]
    if code == IDENTITY:
        return
    one = z.dtype.type(1.0)
    if code == LOGISTIC:
        for i in range(n):
            # Split by sign so exp never overflows (exp(-z) for z << 0).
            v = z[i]
            if v >= 0:
                z[i] = one / (one + np.exp(-v))
            else:
                e = np.exp(v)
                z[i] = e / (one + e)
    elif code == TANH:
        for i in range(n):
            z[i] = np.tanh(z[i])
    elif code == RELU:
        for i in range(n):
            # ``< 0`` (not ``not > 0``) so NaN propagates like np.maximum and
            # divergence stays detectable.
            if z[i] < 0:
                z[i] = 0
    elif code == LEAKY_RELU:
        slope = z.dtype.type(LEAKY_SLOPE)
        for i in range(n):
            if z[i] < 0:
                z[i] = slope * z[i]
    elif code == ELU:
        for i in range(n):
            if z[i] < 0:
                z[i] = np.expm1(z[i])


@inlined_kernel
def activation_grad(delta, a, code):
    """Multiply ``delta`` in place by f'(z), computed from the output ``a``."""
    n = delta.shape[0]
    if code == IDENTITY:
        return
    one = delta.dtype.type(1.0)
    if code == LOGISTIC:
        for i in range(n):
            delta[i] *= a[i] * (one - a[i])
    elif code == TANH:
        for i in range(n):
            delta[i] *= one - a[i] * a[i]
    elif code == RELU:
        for i in range(n):
            if a[i] <= 0:
                delta[i] = 0
    elif code == LEAKY_RELU:
        slope = delta.dtype.type(LEAKY_SLOPE)
        for i in range(n):
            if a[i] <= 0:
                delta[i] *= slope
    elif code == ELU:
        for i in range(n):
            if a[i] <= 0:
                delta[i] *= a[i] + one
