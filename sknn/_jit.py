"""The one place that holds Numba's compilation options.

Every kernel module decorates its functions with :func:`kernel` or
:func:`parallel_kernel`; nothing else in the package calls ``numba.njit``.

Why these options
-----------------
* ``cache=True``: compilation is the dominant first-call cost, so compiled
  machine code is written to Numba's cache.  When the package directory is
  read-only Numba falls back to a per-user cache directory by itself; when no
  cache can be written at all, the kernels still compile in memory.  Neither
  case may break import or fit (see ``tests/test_cache.py``).
* ``nogil=True``: predict from several Python threads runs kernels at once.
* ``fastmath`` is *not* enabled: kernels contain ``exp``/``log`` guards and
  finite checks whose NaN/Inf semantics must hold.
* ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead of
  raising inside a kernel (inputs are validated before any kernel runs).
"""

import numba

from ._threads import ParallelKernel

_COMMON = dict(cache=True, nogil=True, error_model="numpy")


def kernel(func):
    """Compile ``func`` as a serial, cached, GIL-free kernel."""
    return numba.njit(**_COMMON)(func)


def parallel_kernel(func):
    """Compile ``func`` as a cached kernel whose ``prange`` loops run in parallel.

    Parallel kernels must split their work into a *fixed* number of chunks (not
    ``numba.get_num_threads()``, which makes a function uncacheable) and write
    disjoint outputs, so results do not depend on the thread count.

    Launches go through :class:`sknn._threads.ParallelKernel`, which picks a
    safe threading layer on first use and serialises launches when the layer
    is not thread-safe (see :mod:`sknn._threads`).
    """
    return ParallelKernel(numba.njit(parallel=True, **_COMMON)(func))
