"""Training-time regularisation kernels (dropout, input corruption)."""

from .._jit import kernel


@kernel
def dropout_forward(out, mask, x, u, rate):
    """Inverted dropout: ``mask = (u >= rate) / (1 - rate)``, ``out = x * mask``.

    ``u`` holds uniform [0, 1) draws made by the engine's seeded generator, so
    masks are reproducible and independent of the thread count.  All arrays
    are 1-D views of the same length.
    """
    keep = out.dtype.type(1.0 / (1.0 - rate))
    for i in range(out.shape[0]):
        if u[i] >= rate:
            mask[i] = keep
            out[i] = x[i] * keep
        else:
            mask[i] = 0
            out[i] = 0


@kernel
def multiply(out, a, b):
    """``out = a * b`` element-wise on 1-D views."""
    for i in range(out.shape[0]):
        out[i] = a[i] * b[i]
