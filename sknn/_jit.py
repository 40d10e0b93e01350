"""The one place that holds Numba's compilation options.

Every kernel module decorates its functions with :func:`kernel` or
:func:`parallel_kernel`; nothing else in the package calls ``numba.njit``.

Why these options
-----------------
* ``cache=True``: compilation is the dominant first-call cost, so compiled
  machine code is written to Numba's cache.  When the package directory is
  read-only Numba falls back to a per-user cache directory by itself.  When
  no cache can be written at all, Numba refuses ``cache=True`` ("no locator
  available", at decoration, i.e. at import); :func:`_njit` then compiles
  without the cache, in memory, and says so only at ``logging`` DEBUG level.
  Neither case may break import or fit (``tests/test_reliability.py``).
* ``nogil=True``: predict from several Python threads runs kernels at once.
* ``fastmath`` is *not* enabled: kernels contain ``exp``/``log`` guards and
  finite checks whose NaN/Inf semantics must hold.
* ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead of
  raising inside a kernel (inputs are validated before any kernel runs).
"""

import logging
import types

import numba

from ._threads import ParallelKernel

_COMMON = dict(nogil=True, error_model="numpy")
_cache_usable = True


def _njit(func, **options):
    """``numba.njit(cache=True)``, or no cache when none can be written."""
    global _cache_usable
    if _cache_usable:
        try:
            return numba.njit(cache=True, **_COMMON, **options)(func)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            _cache_usable = False
            logging.getLogger("sknn").debug(
                "No writable Numba cache directory (%s); kernels compile in "
                "memory for this process.", exc)
    return numba.njit(cache=False, **_COMMON, **options)(func)


def kernel(func):
    """Compile ``func`` as a serial, cached, GIL-free kernel."""
    return _njit(func)


def parallel_kernel(func):
    """Compile ``func`` as a cached kernel whose ``prange`` loops run in parallel.

    Parallel kernels must split their work into a *fixed* number of chunks (not
    ``numba.get_num_threads()``, which makes a function uncacheable) and write
    disjoint outputs, so results do not depend on the thread count.

    Launches go through :class:`sknn._threads.ParallelKernel`, which picks a
    safe threading layer on first use, serialises launches when the layer is
    not thread-safe, and in a forked child of a GNU OpenMP process runs the
    kernel's serial twin: a renamed copy of ``func`` (its own cache entry)
    compiled without ``parallel=True``, so ``prange`` runs as ``range`` over
    the same chunks and gives the same bits (see :mod:`sknn._threads`).
    """
    def make_serial():
        twin = types.FunctionType(func.__code__, func.__globals__,
                                  func.__name__ + "__serial", func.__defaults__,
                                  func.__closure__)
        twin.__qualname__ = func.__qualname__ + "__serial"
        twin.__module__ = func.__module__
        twin.__doc__ = func.__doc__
        return _njit(twin)

    return ParallelKernel(_njit(func, parallel=True), make_serial)
