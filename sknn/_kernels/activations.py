"""Element-wise activation kernels, dispatched by small integer codes.

Codes (not jitted callables) are passed to cached kernels so that one compiled
kernel serves every activation (guide rule 3).  Derivatives are written in
terms of the activation's *output* ``a = f(z)``, so pre-activations never need
to be stored:

==========  ===============================  ==================================
code        f(z)                             f'(z) written with a = f(z)
==========  ===============================  ==================================
IDENTITY    z                                1
LOGISTIC    1 / (1 + exp(-z))                a (1 - a)
TANH        tanh(z)                          1 - a**2
RELU        max(z, 0)                        1 if a > 0 else 0
LEAKY_RELU  z if z > 0 else 0.01 z           1 if a > 0 else 0.01
ELU         z if z > 0 else exp(z) - 1       1 if a > 0 else a + 1
SOFTPLUS    log(1 + exp(z))                  1 - exp(-a)
GELU        z Phi(z) (Phi: normal CDF)       from z: Phi(z) + z phi(z)
SILU        z / (1 + exp(-z))                from z: s (1 + z (1 - s)), s = sigmoid(z)
==========  ===============================  ==================================

GELU and SILU are not monotonic, so their derivative cannot be recovered from
the output: layers using them (the codes in :data:`NEEDS_PREACTIVATION`) keep
the pre-activation ``z`` and hand it to :func:`activation_grad` in place of
``a``.  Every other code keeps the output-only path.

Both are inlined helpers of the dense and convolution kernels: they work on
1-D views (``arr.reshape(-1)`` of C-contiguous buffers) and add no compiled
function of their own.
"""

import math

import numpy as np

from .._jit import inlined_kernel

IDENTITY, LOGISTIC, TANH, RELU, LEAKY_RELU, ELU = 0, 1, 2, 3, 4, 5
SOFTPLUS, GELU, SILU = 6, 7, 8
#: Codes from here on are applied by kernels of their own
#: (:func:`sknn._kernels.dense.extra_activation`), compiled only when a layer
#: uses one: the common activations' kernels stay small, and so does a first
#: fit's compile time.
FIRST_EXTRA = LEAKY_RELU
ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "softplus": SOFTPLUS,
    "gelu": GELU,
    "silu": SILU,
}
# Codes whose derivative needs the pre-activation z instead of the output.
NEEDS_PREACTIVATION = frozenset({GELU, SILU})
LEAKY_SLOPE = 0.01
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@inlined_kernel
def logistic(z):
    """The logistic function in place on the 1-D array ``z`` (on its own so
    that the loss kernel's logistic link inlines this loop only)."""
    one = z.dtype.type(1.0)
    for i in range(z.shape[0]):
        # Split by sign so exp never overflows (exp(-z) for z << 0).
        v = z[i]
        if v >= 0:
            z[i] = one / (one + np.exp(-v))
        else:
            e = np.exp(v)
            z[i] = e / (one + e)


@inlined_kernel
def activate(z, code):
    """Apply a basic activation (code below :data:`FIRST_EXTRA`) in place to
    the 1-D array ``z``; other codes are left to :func:`activate_extra`."""
    n = z.shape[0]
    if code == LOGISTIC:
        logistic(z)
    elif code == TANH:
        for i in range(n):
            z[i] = np.tanh(z[i])
    elif code == RELU:
        for i in range(n):
            # ``< 0`` (not ``not > 0``) so NaN propagates like np.maximum and
            # divergence stays detectable.
            if z[i] < 0:
                z[i] = 0


@inlined_kernel
def activate_extra(z, code):
    """Apply an activation of code :data:`FIRST_EXTRA` or above in place."""
    n = z.shape[0]
    one = z.dtype.type(1.0)
    if code == LEAKY_RELU:
        slope = z.dtype.type(LEAKY_SLOPE)
        for i in range(n):
            if z[i] < 0:
                z[i] = slope * z[i]
    elif code == ELU:
        for i in range(n):
            if z[i] < 0:
                z[i] = np.expm1(z[i])
    elif code == SOFTPLUS:
        for i in range(n):
            # max(z, 0) + log1p(exp(-|z|)): exp never overflows.
            v = z[i]
            if v > 0:
                z[i] = v + np.log1p(np.exp(-v))
            else:
                z[i] = np.log1p(np.exp(v))
    elif code == GELU:
        half = z.dtype.type(0.5)
        c = z.dtype.type(_INV_SQRT2)
        for i in range(n):
            v = z[i]
            z[i] = half * v * (one + math.erf(v * c))
    elif code == SILU:
        for i in range(n):
            v = z[i]
            if v >= 0:
                z[i] = v / (one + np.exp(-v))
            else:
                e = np.exp(v)
                z[i] = v * e / (one + e)


@inlined_kernel
def activation_grad(delta, a, code):
    """Multiply ``delta`` in place by f'(z) of a basic activation (code below
    :data:`FIRST_EXTRA`), computed from the output ``a``; other codes are
    left to :func:`activation_grad_extra`."""
    n = delta.shape[0]
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


@inlined_kernel
def activation_grad_extra(delta, a, code):
    """Multiply ``delta`` in place by f'(z) of an activation of code
    :data:`FIRST_EXTRA` or above, from the output ``a`` (from the
    pre-activation ``z``, passed as ``a``, for :data:`NEEDS_PREACTIVATION`)."""
    n = delta.shape[0]
    one = delta.dtype.type(1.0)
    if code == LEAKY_RELU:
        slope = delta.dtype.type(LEAKY_SLOPE)
        for i in range(n):
            if a[i] <= 0:
                delta[i] *= slope
    elif code == ELU:
        for i in range(n):
            if a[i] <= 0:
                delta[i] *= a[i] + one
    elif code == SOFTPLUS:
        for i in range(n):
            # sigmoid(z) = 1 - exp(-a); -expm1 keeps precision for small a.
            delta[i] *= -np.expm1(-a[i])
    elif code == GELU:
        half = delta.dtype.type(0.5)
        c = delta.dtype.type(_INV_SQRT2)
        d = delta.dtype.type(_INV_SQRT_2PI)
        for i in range(n):
            v = a[i]
            delta[i] *= half * (one + math.erf(v * c)) + v * d * np.exp(-half * v * v)
    elif code == SILU:
        for i in range(n):
            v = a[i]
            if v >= 0:
                s = one / (one + np.exp(-v))
            else:
                e = np.exp(v)
                s = e / (one + e)
            delta[i] *= s * (one + v * (one - s))
