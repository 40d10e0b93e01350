"""Per-call thread control for kernels and BLAS.

``n_jobs`` is resolved per call and applied for the duration of that call only
(Numba's thread count is thread-local; the BLAS limit is restored on exit), so
a user's own BLAS and Numba settings are untouched outside sknn's calls.  Inside
a call Numba's ``prange`` kernels and BLAS (which ``np.dot`` inside kernels
calls) never run at the same time, and both are capped at ``n_jobs``: measured
here, OpenMP workers spinning next to OpenBLAS threads made a step 6-12×
slower, so the two budgets must never multiply.

``n_jobs=None`` means all cores, but never more than a thread budget the
process was given through ``OMP_NUM_THREADS`` (set by joblib's loky workers and
by Dask's nanny), so nested parallelism does not oversubscribe.
"""

import os
from contextlib import contextmanager

import numba

_controller = None


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
    numba.set_num_threads(n)
    try:
        with _blas_controller().limit(limits=n, user_api="blas"):
            yield n
    finally:
        numba.set_num_threads(previous)
