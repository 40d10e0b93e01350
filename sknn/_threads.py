"""Per-call thread control for kernels and BLAS.

``n_jobs`` is resolved per call and applied for the duration of that call only
(Numba's thread count is thread-local; the BLAS limit is restored on exit), so
a user's own BLAS and Numba settings are untouched outside sknn's calls.

Inside a call BLAS is pinned to ONE thread and all parallelism comes from the
kernels' ``prange`` loops over fixed, shape-determined chunks, each chunk one
single-threaded BLAS call.  Two reasons: (1) OpenBLAS's multi-threaded GEMM
gives results that differ in the last bits between thread counts, which would
break "same random_state, same weights, any n_jobs"; (2) measured here, OpenMP
workers spinning next to OpenBLAS's own threads made a step 6-12x slower, so
the two thread pools must never be active together.

``n_jobs=None`` means all cores, but never more than a thread budget the
process was given through ``OMP_NUM_THREADS`` (set by joblib's loky workers and
by Dask's nanny), so nested parallelism does not oversubscribe.
"""

import os
import threading
from contextlib import contextmanager

import numba

_controller = None
_local = threading.local()


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


def effective_n_jobs(n_jobs):
    """Number of kernel threads for ``n_jobs`` (None, positive, or negative)."""
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
def kernel_threads(n_jobs):
    """Run the body with ``n_jobs`` Numba threads and BLAS threads."""
    n = effective_n_jobs(n_jobs)
    previous = numba.get_num_threads()
    previous_local = current_threads()
    numba.set_num_threads(n)
    _local.n = n
    try:
        # BLAS runs single-threaded inside our kernels: parallelism comes from
        # the kernels' fixed chunks, which keeps results independent of n.
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield n
    finally:
        _local.n = previous_local
        numba.set_num_threads(previous)
