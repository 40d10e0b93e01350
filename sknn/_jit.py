"""The one place that holds Numba's compilation options.

Every kernel module decorates its functions with :func:`kernel`,
:func:`parallel_kernel` or :func:`inlined_kernel` (the body of a ``prange``
loop); nothing else in the package calls ``numba.njit``, except the
benchmark suite's stand-in for a minimal Numba program
(:mod:`sknn.benchmarks._numba_floor`).

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
* **Lazy.** ``import sknn`` does not import Numba (about 0.3 s of
  Numba and llvmlite imports, more than the rest of sknn).  :func:`kernel`
  and :func:`parallel_kernel` return :class:`LazyKernel` placeholders; the
  first call of any of them imports Numba and decorates *every* sknn kernel
  at once (:func:`materialize`), then rebinds the placeholders in sknn's
  module namespaces to the real dispatchers.  Kernels that call other
  kernels thus see dispatchers when Numba compiles them, and Python code
  that bound a placeholder early keeps working through it (one extra call).
  Kernel modules write ``prange`` from this module (a placeholder rebound to
  ``numba.prange``) and register Numba-dependent globals with
  :func:`on_materialize`.
"""

import logging
import sys
import threading
import types

import numpy as np

from ._threads import ParallelKernel

_COMMON = dict(nogil=True, error_model="numpy")
_cache_usable = True


class _PrangePlaceholder:
    """Stands for ``numba.prange`` until Numba is imported (see module doc)."""

    def __repr__(self):
        return "prange (placeholder until sknn's kernels are compiled)"


prange = _PrangePlaceholder()

#: Pass a ``prange`` index to another kernel as ``prange_index(i)``.  Numba
#: types the index as int64 when it first types the kernel but as uint64 in
#: the parallel loop body it then compiles, so a kernel called with the raw
#: index is compiled twice (measured: ~1.9 s of a digits ``ConvClassifier``'s
#: cold first fit).  ``tests/test_reliability.py`` checks every ``prange``.
prange_index = np.int64

_registry = []  # every LazyKernel, in definition order
_hooks = []  # callables run once Numba is imported, before any decoration
_late_hooks = []  # callables run once every kernel is decorated, before any runs
_materialized = False
_materialize_lock = threading.RLock()


def on_materialize(hook):
    """Run ``hook()`` when Numba is first needed (to build Numba globals)."""
    _hooks.append(hook)
    if _materialized:
        hook()
    return hook


def after_materialize(hook):
    """Run ``hook()`` once every kernel is decorated and every namespace
    rebound, before any kernel can run (to compile code that calls kernels,
    such as a ``cfunc``, and bind it where kernels will find it)."""
    _late_hooks.append(hook)
    if _materialized:
        hook()
    return hook


def _cached(decorate):
    """``decorate(cache=True)``, or ``decorate(cache=False)`` when no Numba
    cache can be written (Numba refuses ``cache=True`` then)."""
    global _cache_usable
    if _cache_usable:
        try:
            return decorate(cache=True)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            _cache_usable = False
            logging.getLogger("sknn").debug(
                "No writable Numba cache directory (%s); kernels compile in "
                "memory for this process.", exc)
    return decorate(cache=False)


def _njit(func, **options):
    """``numba.njit(cache=True)``, or no cache when none can be written."""
    import numba

    if _materialized:
        _resolve_globals(func.__globals__, numba,
                         {id(lazy): lazy.target for lazy in _registry})
    return _cached(lambda cache: numba.njit(cache=cache, **_COMMON, **options)(func))


def compiled_cfunc(func, signature):
    """``numba.cfunc(signature, cache=True)``, or no cache when none can be
    written (as :func:`_njit`); only after :func:`materialize`."""
    import numba

    return _cached(lambda cache: numba.cfunc(signature, cache=cache)(func))


def _serial_twin(func):
    twin = types.FunctionType(func.__code__, func.__globals__,
                              func.__name__ + "__serial", func.__defaults__,
                              func.__closure__)
    twin.__qualname__ = func.__qualname__ + "__serial"
    twin.__module__ = func.__module__
    twin.__doc__ = func.__doc__
    return _njit(twin)


class LazyKernel:
    """Placeholder for a kernel until Numba is needed (see module doc).

    Calling it (or reading a dispatcher attribute such as ``py_func`` or
    ``serial``) materializes every kernel and forwards to the real one.
    """

    def __init__(self, func, parallel, inline=False):
        self.py_func = func
        self.parallel = parallel
        self.inline = inline
        self.target = None
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        _registry.append(self)

    def _build(self):
        return _build(self.py_func, self.parallel, self.inline)

    def __call__(self, *args, **kwargs):
        target = self.target
        if target is None:
            materialize()
            target = self.target
        return target(*args, **kwargs)

    def __getattr__(self, name):
        if name in ("target", "py_func", "parallel", "inline"):  # not set yet (copying)
            raise AttributeError(name)
        if self.target is None:
            materialize()
        return getattr(self.target, name)

    def __repr__(self):
        state = "pending" if self.target is None else repr(self.target)
        return f"LazyKernel({self.__qualname__}: {state})"


def _build(func, parallel, inline=False):
    """The real kernel: a dispatcher, or a :class:`ParallelKernel` pair."""
    if parallel:
        return ParallelKernel(_njit(func, parallel=True), lambda: _serial_twin(func))
    if inline:
        return _njit(func, inline="always")
    return _njit(func)


def _resolve_globals(ns, numba, built):
    """Rebind placeholders in namespace ``ns`` to ``numba.prange`` and to the
    built dispatchers (``built``: ``id(LazyKernel) -> dispatcher``)."""
    for key, value in list(ns.items()):
        if isinstance(value, _PrangePlaceholder):
            ns[key] = numba.prange
        elif isinstance(value, LazyKernel) and id(value) in built:
            ns[key] = built[id(value)]


def materialize():
    """Import Numba and decorate every sknn kernel (idempotent, thread-safe)."""
    global _materialized
    if _materialized:
        return
    with _materialize_lock:
        if _materialized:
            return
        import numba

        for hook in _hooks:
            hook()
        built = {id(lazy): lazy._build() for lazy in _registry}
        # Numba reads a kernel's globals (callees, prange) when it compiles,
        # at the first call: every namespace is rebound before any
        # placeholder lets a call through (targets are published last).
        modules = [m for name, m in list(sys.modules.items())
                   if m is not None and (name == "sknn" or name.startswith("sknn."))]
        for mod in modules:
            _resolve_globals(vars(mod), numba, built)
        for hook in _late_hooks:
            hook()
        for lazy in _registry:
            lazy.target = built[id(lazy)]
        _materialized = True


def kernel(func):
    """Compile ``func`` as a serial, cached, GIL-free kernel (lazily)."""
    if _materialized:
        return _build(func, False)
    return LazyKernel(func, parallel=False)


def inlined_kernel(func):
    """A serial kernel that Numba inlines into every kernel calling it.

    For the body of a ``prange`` loop.  Numba compiles a called kernel on its
    own, then links its code into the loop's outlined function and into the
    kernel holding the loop, and LLVM optimises it again at each level, so a
    large body is compiled three times.  Inlined (``inline="always"``) it is
    typed in its caller and compiled once less (measured, cold first fits on
    digits: ``ConvClassifier`` 22-24 s -> 20.3 s, ``MLPClassifierX`` 7.8 s
    -> 5.8 s; kernel run times unchanged).  Keep it to loop bodies: every
    caller gets its own copy.
    """
    if _materialized:
        return _build(func, False, inline=True)
    return LazyKernel(func, parallel=False, inline=True)


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
    if _materialized:  # defined late: built at once, no placeholder to track
        return _build(func, True)
    return LazyKernel(func, parallel=True)
