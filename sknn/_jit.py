"""The one place that holds Numba's compilation options.

Every kernel module decorates its functions with :func:`kernel` (a kernel
Python calls) or :func:`inlined_kernel` (a helper that Numba types and
compiles inside each kernel calling it); nothing else in the package calls
``numba.njit``.

Why these options
-----------------
* ``cache=True``: compilation is the dominant first-call cost, so compiled
  machine code is written to Numba's cache.  When the package directory is
  read-only Numba falls back to a per-user cache directory by itself; when no
  cache can be written at all, Numba refuses ``cache=True`` ("no locator
  available") and the kernels are compiled in memory instead, so neither case
  breaks import or fit.
* ``nogil=True``: kernels release the GIL, so the runtime's worker threads
  (:mod:`sknn._runtime`) run them side by side.
* **Tasks for parallel work.**  A chunk of work that runs in parallel is a
  *task* (:func:`task`): a cached C function ``f(chunk, slot, n_chunks,
  args)`` whose operands are packed as addresses and sizes in the int64
  array at ``args``.  One ``parallel=True`` kernel, the task runner
  (:mod:`sknn._kernels.tasks`), runs any task's chunks on Numba's threading
  layer; because it calls tasks through their address, it is compiled once,
  small, for every task and dtype (parfor compilation is the slowest part of
  Numba, and a parallel kernel that calls other kernels re-optimizes their
  code in its own module).  The same task runs serially through ``ctypes``.
  A task is compiled (or loaded from the cache) when first used, not with
  the kernels, so a fit compiles only the tasks it runs.
* **Cache loads without Numba's refresh.**  Numba refreshes its target
  context (imports the implementations of everything it can compile) before
  every cache load, 0.12-0.3 s once per process; loading machine code needs
  only its runtime, so sknn's kernels and tasks load without it
  (:class:`_QuickLoads`) and a warm process's first fit stays short.
* ``fastmath`` is not enabled: kernels contain ``exp``/``log`` guards and
  finite checks whose NaN/Inf semantics must hold.
* ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead
  of raising inside a kernel.
* **A cache entry is as fresh as every kernel source.**  Numba checks a
  cached kernel against its own file only, but kernels inline helpers from
  other files of :mod:`sknn._kernels` (the activations into the dense and
  convolution kernels); a changed helper would leave stale machine code in
  the cache.  :func:`_install_cache_locators` gives sknn's kernels a source
  stamp over all of ``sknn/_kernels/*.py``, so any change there recompiles.
* **Lazy.**  ``import sknn`` does not import Numba.  :func:`kernel` returns a
  :class:`LazyKernel` placeholder; the first call of any kernel imports Numba
  and decorates every sknn kernel at once (:func:`materialize`), rebinding
  the placeholders in sknn's module namespaces to the real dispatchers so that
  kernels calling other kernels see dispatchers when Numba compiles them.
  Numba objects that kernels use as globals (``numba.prange``, ``carray``,
  intrinsics, external functions) are :func:`deferred` placeholders rebound
  the same way.
"""

import logging
import os
import sys
import threading
from contextlib import contextmanager

_COMMON = dict(nogil=True, error_model="numpy")
_cache_usable = True

_registry = []  # every LazyKernel, in definition order
_deferred = []  # every Deferred name
_materialized = False
_materialize_lock = threading.RLock()


_KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernels")


def _kernel_sources_stamp():
    """(name, mtime, size) of every kernel module: the cache's freshness."""
    stamp = []
    for name in sorted(os.listdir(_KERNEL_DIR)):
        if name.endswith(".py"):
            st = os.stat(os.path.join(_KERNEL_DIR, name))
            stamp.append((name, st.st_mtime_ns, st.st_size))
    return tuple(stamp)


def _install_cache_locators():
    """Put sknn's cache locators before Numba's (for sknn's kernel files
    only): the same cache places, with :func:`_kernel_sources_stamp`."""
    from numba.core import caching

    classes = caching.CacheImpl._locator_classes
    if any(getattr(cls, "_sknn", False) for cls in classes):
        return

    def make(base):
        def from_function(cls, py_func, py_file):
            if os.path.dirname(os.path.abspath(py_file)) != _KERNEL_DIR:
                return None
            return base.from_function.__func__(cls, py_func, py_file)

        return type("Sknn" + base.__name__, (base,), {
            "_sknn": True,
            "get_source_stamp": lambda self: _kernel_sources_stamp(),
            "from_function": classmethod(from_function),
        })

    bases = [cls for cls in classes if cls.__name__ in (
        "UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")]
    classes[:0] = [make(base) for base in bases]


@contextmanager
def _index_lock(cache, exclusive):
    """Hold a file lock on ``cache``'s index (``<index>.lock`` beside it):
    exclusive to save an entry, shared to load one.

    Numba saves an entry by reading the index, choosing a data file name
    that the index does not use yet, and writing the index and then the
    data file.  Two processes that save different signatures of one kernel
    at the same moment (workers of a search or of a test run sharing a
    cold cache) could both choose the same name, leaving an index entry
    that points at the other signature's machine code; and a process
    loading between the index and the data write could read a data file
    of an earlier generation.  Without ``fcntl`` (Windows) or a writable
    cache directory, no lock is taken.
    """
    fd = None
    try:
        import fcntl

        path = cache._cache_file._index_path + ".lock"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    except (ImportError, AttributeError, OSError):
        pass
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # (releases the lock)


class _QuickLoads:
    """A kernel's or task's Numba cache whose loads skip refreshing Numba's
    target context, and whose loads and saves hold the index's lock
    (:func:`_index_lock`).

    Before every cache load Numba refreshes its target context: it imports
    and installs the implementations of everything it can compile, 0.12-0.3
    s once per process and most of a warm process's first fit.  Machine code
    loaded from the cache needs only Numba's runtime (NRT), initialised
    here; compiling refreshes the context itself.  If the quick load fails
    for any reason, Numba's own load runs instead.
    """

    def __init__(self, cache):
        self._cache = cache

    def load_overload(self, sig, target_context):
        with _index_lock(self._cache, exclusive=False):
            try:
                from numba.core.runtime import rtsys

                rtsys.initialize(target_context)
                return self._cache._load_overload(sig, target_context)
            except Exception:
                return self._cache.load_overload(sig, target_context)

    def save_overload(self, sig, data):
        with _index_lock(self._cache, exclusive=True):
            return self._cache.save_overload(sig, data)

    def __getattr__(self, name):
        return getattr(self._cache, name)


def _no_extensions():
    pass


def _quick_loads(function):
    """Give a dispatcher's or cfunc's cache :class:`_QuickLoads`; returns
    ``function`` (unchanged without a cache Numba can load from).

    A dispatcher's first call also loads the entry points of third-party
    Numba extensions, so that they can type its arguments; sknn's kernels
    take only NumPy arrays and numbers, and compiling loads them anyway (in
    the refresh), so a dispatcher with quick loads skips that step.
    """
    cache = getattr(function, "_cache", None)
    if hasattr(cache, "_load_overload") and not isinstance(cache, _QuickLoads):
        function._cache = _QuickLoads(cache)
        if hasattr(function, "_compilation_chain_init_hook"):
            function._compilation_chain_init_hook = _no_extensions
    return function


def _njit(func, **options):
    """``numba.njit(cache=True)``, or no cache when none can be written."""
    global _cache_usable
    import numba

    if _cache_usable:
        try:
            return _quick_loads(numba.njit(cache=True, **_COMMON, **options)(func))
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            _cache_usable = False
            logging.getLogger("sknn").debug(
                "No writable Numba cache directory (%s); kernels compile in "
                "memory for this process.", exc)
    return numba.njit(cache=False, **_COMMON, **options)(func)


class Deferred:
    """A Numba object a kernel uses as a global, made by ``factory()`` when
    Numba is imported (see :func:`deferred`)."""

    def __init__(self, factory):
        self.factory = factory
        self.value = None
        _deferred.append(self)


def deferred(factory):
    """A placeholder for ``factory()`` (which may import Numba), rebound in
    every sknn module namespace before kernels are decorated."""
    return Deferred(factory)


class LazyKernel:
    """Placeholder for a kernel until Numba is needed (see module doc).

    Calling it (or reading a dispatcher attribute such as ``py_func`` or
    ``signatures``) materializes every kernel and forwards to the real one.
    """

    def __init__(self, func, inline, parallel=False):
        self.py_func = func
        self.inline = inline
        self.parallel = parallel
        self.target = None
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        _registry.append(self)

    def __call__(self, *args):
        target = self.target
        if target is None:
            materialize()
            target = self.target
        return target(*args)

    def __getattr__(self, name):
        if name in ("target", "py_func", "inline", "parallel"):  # not set yet (copying)
            raise AttributeError(name)
        if self.target is None:
            materialize()
        return getattr(self.target, name)

    def __repr__(self):
        state = "pending" if self.target is None else repr(self.target)
        return f"LazyKernel({self.__qualname__}: {state})"


def _build(func, inline, parallel=False):
    if inline:
        # Compiled inside its callers (whose cache entries hold the code), so
        # a cache of its own would only be set up, never used.
        import numba

        return numba.njit(inline="always", **_COMMON)(func)
    return _njit(func, parallel=True) if parallel else _njit(func)


def materialize():
    """Import Numba and decorate every sknn kernel (idempotent, thread-safe)."""
    global _materialized
    if _materialized:
        return
    with _materialize_lock:
        if _materialized:
            return
        _install_cache_locators()
        for item in _deferred:
            item.value = item.factory()
        built = {id(lazy): _build(lazy.py_func, lazy.inline, lazy.parallel)
                 for lazy in _registry}
        # Numba reads a kernel's globals (its callees) when it compiles, at
        # the first call: every namespace is rebound before any placeholder
        # lets a call through (targets are published last).
        for name, mod in list(sys.modules.items()):
            if mod is None or not (name == "sknn" or name.startswith("sknn.")):
                continue
            ns = vars(mod)
            for key, value in list(ns.items()):
                if isinstance(value, LazyKernel) and id(value) in built:
                    ns[key] = built[id(value)]
                elif isinstance(value, Deferred):
                    ns[key] = value.value
        for lazy in _registry:
            lazy.target = built[id(lazy)]
        _materialized = True


def kernel(func):
    """Compile ``func`` as a serial, cached, GIL-free kernel (lazily)."""
    if _materialized:
        return _build(func, False)
    return LazyKernel(func, inline=False)


def parallel_kernel(func):
    """Compile ``func`` as a cached ``parallel=True`` kernel (lazily); only
    the task runner is one (see the module doc)."""
    if _materialized:
        return _build(func, False, parallel=True)
    return LazyKernel(func, inline=False, parallel=True)


#: The C signature of every task: ``(chunk, slot, n_chunks, args address)``.
TASK_SIGNATURE = "void(int64, int64, int64, int64)"


class Task:
    """A task (:func:`task`), compiled or loaded from the cache on first use.

    ``address`` is the C function's address (for the task runner), and
    ``task(chunk, slot, n_chunks, args_address)`` calls it through
    ``ctypes``, which releases the GIL for the call.
    """

    def __init__(self, func):
        self.py_func = func
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__doc__ = func.__doc__
        self._cfunc = None
        self._address = None
        self._probed = False
        self._lock = threading.Lock()
        _tasks.append(self)

    @property
    def cfunc(self):
        if self._cfunc is None:
            with self._lock:
                if self._cfunc is None:
                    materialize()
                    self._cfunc = _load_cfunc(self.py_func) or _build_cfunc(self.py_func)
        return self._cfunc

    def ready(self):
        """Whether the task can run without compiling: built in this process,
        or found in Numba's cache (loaded then).  The cache is looked at once
        per process."""
        if self._cfunc is None and not self._probed:
            with self._lock:
                if self._cfunc is None and not self._probed:
                    self._probed = True
                    materialize()
                    self._cfunc = _load_cfunc(self.py_func)
        return self._cfunc is not None

    @property
    def address(self):
        address = self._address
        if address is None:
            address = self._address = self.cfunc.address
        return address

    def __call__(self, chunk, slot, n_chunks, args):
        self.cfunc.ctypes(chunk, slot, n_chunks, args)


_tasks = []


def _task_cfunc(func, cache):
    """``func``'s task as an uncompiled Numba ``CFunc`` (what ``numba.cfunc``
    makes before compiling), with :class:`_QuickLoads` on its cache."""
    from numba.core import sigutils
    from numba.core.ccallback import CFunc

    sig = sigutils.normalize_signature(TASK_SIGNATURE)
    cf = CFunc(func, sig, locals={}, options={"error_model": "numpy"})
    if cache:
        cf.enable_caching()
        _quick_loads(cf)
    return cf


def _build_cfunc(func):
    global _cache_usable

    if _cache_usable:
        try:
            cf = _task_cfunc(func, cache=True)
        except RuntimeError as exc:
            if "no locator available" not in str(exc):
                raise
            _cache_usable = False
        else:
            cf.compile()
            return cf
    cf = _task_cfunc(func, cache=False)
    cf.compile()
    return cf


def _load_cfunc(func):
    """``func``'s task from Numba's cache, or None when it is not there (or
    the cache cannot be read): :func:`_build_cfunc` without compiling."""
    if not _cache_usable:
        return None
    try:
        from numba.core.compiler_lock import global_compiler_lock

        cf = _task_cfunc(func, cache=True)
        with global_compiler_lock:
            cres = cf._cache.load_overload(cf._sig, cf._targetdescr.target_context)
            if cres is None:
                return None
            # What CFunc.compile does after loading.
            cf._cache_hits += 1
            cf._library = cres.library
            cf._wrapper_name = cres.fndesc.llvm_cfunc_wrapper_name
            cf._wrapper_address = cf._library.get_pointer_to_function(cf._wrapper_name)
        return cf
    except Exception:  # an unreadable cache or another Numba: compile when needed
        return None


def build_tasks(names):
    """Compile (or load from the cache) the tasks named in ``names``."""
    materialize()
    for t in _tasks:
        if t.__name__ in names:
            t.cfunc  # noqa: B018 - builds it


def task_names(module=""):
    """The names of every task (defined in a module whose name ends with
    ``module``)."""
    return [t.__name__ for t in _tasks if t.py_func.__module__.endswith(module)]


def build_runner():
    """Compile (or load from the cache) the task runner."""
    materialize()
    from numba import types

    from ._kernels.tasks import run_task

    # By argument types, as a call looks it up (a signature with a return
    # type is a different cache entry).
    i64 = types.int64
    array = types.Array(i64, 1, "C")
    run_task.compile((array, i64, i64, array, array, i64, i64))


def task(func):
    """Make ``func(chunk, slot, n_chunks, args)`` a task (see the module doc
    and :class:`Task`)."""
    return Task(func)


def inlined_kernel(func):
    """A helper that Numba inlines into every kernel calling it.

    Inlined (``inline="always"``) it is typed and compiled in its caller, not
    as a function of its own, so it adds nothing to a first fit's compile time
    beyond its caller's.  Keep it to small bodies: every caller gets a copy.
    """
    if _materialized:
        return _build(func, True)
    return LazyKernel(func, inline=True)


def compiled_kernels():
    """``{qualified name: compiled signatures}`` for every sknn kernel that
    was compiled or loaded from the cache in this process (for the benchmark
    suite's cold-compile rows and the precompile tests)."""
    counts = {}
    for lazy in _registry:
        target = lazy.target
        n = len(getattr(target, "signatures", ())) if target is not None else 0
        if n and not lazy.inline:
            counts[lazy.__qualname__] = n
    for t in _tasks:
        if t._cfunc is not None:
            counts[t.__qualname__] = 1
    return counts
