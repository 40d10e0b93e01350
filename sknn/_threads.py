"""Per-call thread control for kernels and BLAS, and the Numba threading layer.

``n_jobs`` is resolved per call and applied for the duration of that call only
(Numba's thread count is thread-local; the BLAS limit is restored when the
last concurrent sknn call ends), so a user's own BLAS and Numba settings are
untouched outside sknn's calls.

Inside a call BLAS is pinned to ONE thread and all parallelism comes from the
kernels' ``prange`` loops over fixed chunks (set by the shapes and the
machine's CPU count, see ``sknn._kernels.dense.work_split``), each chunk one
single-threaded BLAS call.  Two reasons: (1) OpenBLAS's multi-threaded GEMM
gives results that differ in the last bits between thread counts, which would
break "same random_state, same weights, any n_jobs"; (2) measured here, OpenMP
workers spinning next to OpenBLAS's own threads made a step 6-12x slower, so
the two thread pools must never be active together.  The BLAS limit is
reference-counted across Python threads: with two sknn calls running at once,
the first one to finish must not lift the limit under the other.

``n_jobs=None`` means all cores, but never more than a thread budget the
process was given through ``OMP_NUM_THREADS`` (set by joblib's loky workers and
by Dask's nanny), so nested parallelism does not oversubscribe.

The threading layer
-------------------
Numba runs ``parallel=True`` kernels on one process-wide *threading layer*,
chosen once, at the first parallel launch (or the first
``numba.get_num_threads``/``set_num_threads`` call), from
``tbb > omp > workqueue`` by default.  None of the three is safe for sknn's
use everywhere:

* ``tbb``: thread-safe and fork-safe, but an optional dependency (the ``tbb``
  wheel) that is often absent.
* ``omp`` on Linux is GNU libgomp: thread-safe, but **not fork-safe**.  A
  child forked after the parent ran a parallel region is killed (SIGTERM,
  "fork() called from a process already using GNU OpenMP") at its first
  parallel kernel: ``multiprocessing`` with the ``fork`` start method after a
  ``fit`` would die.
* ``workqueue``: fork-safe, but **not thread-safe**: two parallel launches
  from two Python threads at once abort the whole process ("Concurrent access
  has been detected").

sknn therefore makes the choice itself, lazily, just before its first
parallel launch, and only when nobody configured one: ``NUMBA_THREADING_LAYER``
and ``NUMBA_THREADING_LAYER_PRIORITY`` unset (environment or
``.numba_config.yaml``), ``numba.config`` untouched, and no parallel Numba code
run yet in the process.  It asks for ``tbb``, then ``omp``, then
``workqueue``, and restores Numba's priority setting right after (the layer,
once loaded, cannot change).  Nothing happens at import time.

``omp`` is preferred over ``workqueue`` because of launch cost, measured on
this project's quiet 2-core machine: an empty parallel launch takes 1.4 us on
``omp`` and 93 us on ``workqueue``; a 200x64x100 float64 GEMM split in two
chunks takes 28 us on ``omp`` (52 us on one core) but 119 us on
``workqueue``, so on ``workqueue`` two cores are slower than one for every
layer of a typical MLP.  Its one flaw, fork-safety, is handled here:

* GNU ``omp`` in a forked child of a process that ran parallel kernels: every
  parallel kernel runs its *serial twin*, the same Python function compiled
  without ``parallel=True`` (``prange`` becomes ``range``), compiled on first
  use in the child.  The twin loops over the same shape-determined chunks in
  the same order, so the child's results are bit-identical to the parent's,
  and libgomp is never entered.
* ``workqueue`` (only when omp is unavailable): every sknn parallel launch
  takes one process-wide lock, so launches from several Python threads are
  serialised instead of aborting.  The lock is re-created in forked children
  (``os.register_at_fork``).
* ``tbb`` / ``omp`` otherwise: no lock (both are thread-safe).

If your own code also launches ``parallel=True`` Numba functions from several
Python threads under ``workqueue``, install ``tbb`` or use ``omp``.
"""

import os
import threading
from contextlib import contextmanager

_controller = None
_local = threading.local()

# -- threading layer ---------------------------------------------------------
_NUMBA_DEFAULT_PRIORITY = ["tbb", "omp", "workqueue"]
_SKNN_PRIORITY = ["tbb", "omp", "workqueue"]

_select_lock = threading.Lock()
_layer = None  # name of the loaded threading layer, once known
_launch_lock = None  # a Lock when the layer is not thread-safe
_gnu_omp_child = False  # forked from a process that initialised GNU OpenMP
_fork_hook_registered = False

_GNU_OMP_FORK_MSG = (
    "This process was forked from a parent that had already run Numba's GNU "
    "OpenMP threading layer ('omp'), which is not fork-safe: a parallel kernel "
    "here would kill the process. Start worker processes with the 'spawn' or "
    "'forkserver' method (joblib's default 'loky' backend is fine), or let sknn "
    "choose the threading layer (unset NUMBA_THREADING_LAYER), or install tbb."
)


def _user_configured_layer():
    """True when the user (environment, config file or code) chose a layer."""
    from numba.core import config

    if "NUMBA_THREADING_LAYER" in os.environ:
        return True
    if "NUMBA_THREADING_LAYER_PRIORITY" in os.environ:
        return True
    if str(config.THREADING_LAYER).lower() != "default":
        return True
    priority = getattr(config, "THREADING_LAYER_PRIORITY", _NUMBA_DEFAULT_PRIORITY)
    return list(priority) != _NUMBA_DEFAULT_PRIORITY


def _layer_initialized():
    try:
        from numba.np.ufunc import parallel
    except ImportError:  # pragma: no cover - other Numba layouts
        return True
    return bool(getattr(parallel, "_is_initialized", True))


def _omp_vendor():
    try:
        from numba.np.ufunc import omppool
    except ImportError:  # pragma: no cover
        return "GNU"
    return getattr(omppool, "openmp_vendor", "GNU")


def _after_fork_in_child():
    global _launch_lock, _gnu_omp_child, _blas_users, _blas_saved, _blas_state_lock
    if _launch_lock is not None:
        _launch_lock = threading.Lock()
    if _layer == "omp" and _omp_vendor() == "GNU":
        _gnu_omp_child = True
    # Threads of the parent that were inside sknn calls do not exist here
    # (their BLAS limit, if any, stays in place in this child).
    _blas_users = 0
    _blas_saved = None
    _blas_state_lock = threading.Lock()


def _select_layer():
    """Load Numba's threading layer (sknn's choice unless configured)."""
    global _layer, _launch_lock, _fork_hook_registered
    import numba  # not at module level: `import sknn` must not load Numba
    from numba.core import config

    if not _layer_initialized() and not _user_configured_layer():
        saved = config.THREADING_LAYER_PRIORITY
        config.THREADING_LAYER_PRIORITY = list(_SKNN_PRIORITY)
        try:
            numba.get_num_threads()  # loads the layer
        finally:
            config.THREADING_LAYER_PRIORITY = saved
    else:
        numba.get_num_threads()
    layer = numba.threading_layer()
    _launch_lock = threading.Lock() if layer == "workqueue" else None
    if not _fork_hook_registered and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_registered = True
    _layer = layer


def threading_layer():
    """The Numba threading layer sknn's kernels run on (selected on first use).

    See the module docstring for how it is chosen.
    """
    if _layer is None:
        with _select_lock:
            if _layer is None:
                _select_layer()
    return _layer


class ParallelKernel:
    """A ``parallel=True`` dispatcher behind sknn's launch policy.

    Calls select the threading layer on first use, serialise launches when the
    layer is not thread-safe, and run the serial twin in a forked child of a
    GNU OpenMP process.  Attribute access falls through to
    the Numba dispatcher (``py_func``, ``signatures``, ...).
    """

    def __init__(self, dispatcher, make_serial=None):
        self.dispatcher = dispatcher
        self._make_serial = make_serial
        self._serial = None
        self.__wrapped__ = dispatcher
        self.__name__ = getattr(dispatcher, "__name__", "kernel")
        self.__qualname__ = getattr(dispatcher, "__qualname__", self.__name__)
        self.__doc__ = getattr(dispatcher, "__doc__", None)
        self.__module__ = getattr(dispatcher, "__module__", __name__)

    def __call__(self, *args, **kwargs):
        if _layer is None:
            threading_layer()
        if _gnu_omp_child:
            return self.serial(*args, **kwargs)
        lock = _launch_lock
        if lock is None:
            return self.dispatcher(*args, **kwargs)
        with lock:
            return self.dispatcher(*args, **kwargs)

    @property
    def serial(self):
        """The serial twin (same chunks, no threading layer), built on demand."""
        if self._serial is None:
            if self._make_serial is None:
                raise RuntimeError(_GNU_OMP_FORK_MSG)
            self._serial = self._make_serial()
        return self._serial

    def __getattr__(self, name):
        if name == "dispatcher":  # not set yet (copy, unpickling)
            raise AttributeError(name)
        return getattr(self.dispatcher, name)

    def __repr__(self):
        return f"ParallelKernel({self.dispatcher!r})"


# -- thread counts and BLAS ---------------------------------------------------
# BLAS libraries come in two kinds: most (OpenBLAS with pthreads, MKL, BLIS)
# have ONE process-wide thread count, a few (OpenBLAS built with OpenMP) one
# per calling thread.  The process-wide ones are limited once, by the first
# sknn call to start, and restored by the last one to end (a reference count
# under a lock); the per-thread ones are limited in every sknn call's thread.
# threadpoolctl >= 3.6 lets only one "controlling" Python thread change
# OpenBLAS' process-wide count and silently ignores the others; sknn
# coordinates its own changes with the lock above, so it clears that owner
# around each change (``OpenBLASController.clear_controlling_thread``).
_blas_state_lock = threading.Lock()
_blas_users = 0
_blas_saved = None  # process-wide thread counts to restore


def current_threads():
    """Kernel threads of the sknn call running in this Python thread (1 outside)."""
    return getattr(_local, "n", 1)


def _blas_controller():
    global _controller
    if _controller is None:
        import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS kernels call)
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def _blas_libraries():
    """``(process_wide, per_thread)`` BLAS library controllers."""
    libs = [lc for lc in _blas_controller().lib_controllers if lc.user_api == "blas"]
    per_thread = [lc for lc in libs if getattr(lc, "threading_layer", "") == "openmp"]
    return [lc for lc in libs if lc not in per_thread], per_thread


def _set_blas_threads(libs, counts):
    try:
        from threadpoolctl import OpenBLASController

        clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    except ImportError:  # pragma: no cover
        clear = None
    for lc, n in zip(libs, counts):
        if clear is not None:
            clear(force=True)
        lc.set_num_threads(n)
    if clear is not None:
        clear(force=True)


def _blas_enter():
    """Pin BLAS to one thread; returns what :func:`_blas_exit` restores."""
    global _blas_users, _blas_saved
    shared, per_thread = _blas_libraries()
    with _blas_state_lock:
        if _blas_users == 0:
            _blas_saved = [lc.get_num_threads() for lc in shared]
            _set_blas_threads(shared, [1] * len(shared))
        _blas_users += 1
    local = [lc.get_num_threads() for lc in per_thread]
    _set_blas_threads(per_thread, [1] * len(per_thread))
    return local


def _blas_exit(local):
    global _blas_users, _blas_saved
    shared, per_thread = _blas_libraries()
    _set_blas_threads(per_thread, local)
    with _blas_state_lock:
        if _blas_users == 0:  # forked child of a process that was inside a call
            return
        _blas_users -= 1
        if _blas_users == 0 and _blas_saved is not None:
            saved, _blas_saved = _blas_saved, None
            _set_blas_threads(shared, saved)


def effective_n_jobs(n_jobs):
    """Number of kernel threads for ``n_jobs`` (None, positive, or negative)."""
    import numba  # not at module level: `import sknn` must not load Numba

    max_threads = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None:
        n = max_threads
        budget = os.environ.get("OMP_NUM_THREADS", "")
        if budget.isdigit() and int(budget) > 0:
            n = min(n, int(budget))
        return n
    n_jobs = int(n_jobs)
    if n_jobs < 0:
        return max(max_threads + 1 + n_jobs, 1)
    return max(min(n_jobs, max_threads), 1)


@contextmanager
def kernel_threads(n_jobs, blas=True):
    """Run the body with ``n_jobs`` Numba threads and single-threaded BLAS.

    ``blas=False`` skips the BLAS limit, for calls whose every GEMM is below
    the size at which BLAS libraries start threads (OpenBLAS: m*n*k < 262144),
    such as predicting a few rows: there the limit (two library calls each
    way, ~30 us) would cost more than the prediction.
    """
    import numba  # not at module level: `import sknn` must not load Numba

    n = effective_n_jobs(n_jobs)
    threading_layer()  # before Numba's first thread call loads a layer
    previous = numba.get_num_threads()
    previous_local = current_threads()
    numba.set_num_threads(n)
    _local.n = n
    # BLAS runs single-threaded inside our kernels: parallelism comes from
    # the kernels' fixed chunks, which keeps results independent of n.
    local = _blas_enter() if blas else None
    try:
        yield n
    finally:
        if blas:
            _blas_exit(local)
        _local.n = previous_local
        numba.set_num_threads(previous)
