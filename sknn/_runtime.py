"""How a call runs: threads, chunks and the execution plan.

Every fit and predict computes one :class:`ExecutionPlan` (:func:`make_plan`)
from ``n_jobs``, the dtype and the machine's CPU count, and hands it to the
network; layers and the engine ask it how many chunks a piece of work is cut
into and run the chunks with :meth:`ExecutionPlan.run`.  Every threshold it
uses sits in :data:`THRESHOLDS`.

Determinism
-----------
How work is *cut* depends only on the shapes and the machine's CPU count
(never on ``n_jobs``); each chunk writes its own slice of the output with a
single-threaded BLAS call or a serial kernel; sums over chunks are added in
chunk order.  ``n_jobs`` only decides how many threads share the chunks, so
the same ``random_state`` gives the same bits for any ``n_jobs``.

Threads
-------
Work big enough to split that is made of compiled code only (a matrix
product's row chunks, a convolution's chunks) runs as a *task* on Numba's
threading layer (:func:`run_task`, :mod:`sknn._kernels.tasks`): a region
starts there in microseconds, where waking a Python thread that sleeps
costs tens to hundreds of them, and no chunk needs the GIL.  In a forked
child of a process that used GNU OpenMP (which is not fork-safe) the same
chunks run on the calling thread.  Other chunked work (the finiteness check of
a large input, NumPy's work on chunks of rows) runs on a small process-wide
team of Python threads (:class:`_Team`).
The work inside a chunk releases the GIL (NumPy's BLAS calls and ``nogil``
Numba kernels), so the threads run side by side.  Inside sknn's calls BLAS
itself is limited to one thread (:func:`kernel_threads`): two thread pools
active at once would oversubscribe the cores, and a multi-threaded BLAS may
round differently for different thread counts.  The team is rebuilt in a
forked child, so sknn works after ``fork`` whatever the parent did.

``n_jobs=None`` means all cores, but never more than a thread budget the
process was given through ``OMP_NUM_THREADS`` (set by joblib's loky workers
and by Dask's nanny), so nested parallelism does not oversubscribe.
"""

import _thread
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ._kernels import gemm
from ._kernels.dense import bias_act
from ._kernels.tasks import FINISH

#: Every threshold of the execution plan: name -> (value, reason).
THRESHOLDS = {
    "max_chunks": (8, "more chunks than cores only adds BLAS calls that repack the same "
                      "operands; the chunk count follows the CPU count, capped here"),
    "parallel_min_macs": (
        4_000_000, "a product or a convolution of a training batch is split from this "
                   "many multiply-adds: below it starting a parallel region is a large "
                   "share of the work, and a small network (digits-sized, products up "
                   "to about 3 million) neither pays it nor compiles the parallel tasks "
                   "on its first fit"),
    "conv_split_min_macs": (
        1_000_000, "a convolution of a batch is cut into chunks from this many "
                   "multiply-adds; they run in parallel once its task is compiled "
                   "(below parallel_min_macs, only then: see ExecutionPlan.runs_task)"),
    "pool_split_min_elements": (
        65_536, "a pooling pass is cut into chunks from this many input values; "
                "they run in parallel once its task is compiled (below "
                "parallel_min_elements, only then)"),
    "dense_split_min_macs": (
        150_000, "a dense layer's passes over a batch are cut into batch-row chunks "
                 "from this many multiply-adds (a digits network's 10-unit output "
                 "layer, 200k, trains faster in two, and a prediction's 10-unit output "
                 "layer of 4096 rows runs on every thread); below the plan's "
                 "min_macs they run in parallel once their tasks are compiled "
                 "(ExecutionPlan.runs_task)"),
    "one_pass_parallel_min_macs": (
        32_000_000, "a prediction (one pass over its rows) splits a product or a "
                    "convolution from this many multiply-adds: below it the one-time "
                    "compile of the parallel tasks is not repaid"),
    "min_chunk_rows": (32, "a chunk of fewer rows than this runs BLAS at low efficiency"),
    "parallel_min_elements": (
        1_048_576, "element-wise passes (the loss, optimizer and pooling tasks on a "
                   "first fit) run in parallel from this many elements: they wait on "
                   "memory, and below it a thread hand-off on Python threads, or "
                   "compiling the task, costs more than the second core saves"),
    "loss_split_min_elements": (
        65_536, "a training batch's loss and gradient are cut into row chunks from this "
                "many outputs; they run in parallel once its task is compiled (below "
                "parallel_min_elements, only then)"),
    "optimizer_split_min_elements": (
        131_072, "an optimizer step is cut into chunks from this many parameters; they "
                 "run in parallel once its task is compiled (below "
                 "parallel_min_elements, only then)"),
    "one_pass_parallel_min_elements": (
        64_000_000, "a prediction's pooling pass compiles its parallel task from this "
                    "many input values (a pass over them saves less than the compile "
                    "below it)"),
    "gather_parallel_min_elements": (
        65_536, "a mini-batch of this many input values is gathered on several "
                "threads (random rows wait on memory; below it starting a parallel "
                "region costs more than it saves)"),
    "blas_limit_min_macs": (
        262_144, "below this many multiply-adds per product OpenBLAS runs one thread "
                 "anyway, so tiny predictions skip limiting it"),
    "merge_rows_max_elements": (
        1 << 22, "sparse training sets up to this many cells are densified once to "
                 "merge identical rows for L-BFGS (see _engine.merged_rows)"),
    "predict_chunk_rows": (4096, "rows per prediction chunk: bounded workspace memory"),
    "conv_chunk_columns": (
        2048, "output positions per convolution chunk: its im2col matrix and products "
              "stay in cache (2048 trained the benchmark's networks 2-22 % faster per "
              "epoch than 4096), and the weight gradient's long inner dimension runs "
              "several times faster in BLAS as such blocks than as one product"),
    "conv_cols_bytes": (
        32 * 2**20, "im2col matrices of a training batch up to this size are kept "
                    "from the forward to the backward pass instead of being rebuilt"),
}


def threshold(name):
    """The value of :data:`THRESHOLDS` entry ``name``."""
    return THRESHOLDS[name][0]


_cpus = None


def cpu_count():
    """``os.cpu_count()``, read once per process (it reads /sys or /proc, tens
    of microseconds: most of a one-row prediction)."""
    global _cpus
    if _cpus is None:
        _cpus = os.cpu_count() or 1
    return _cpus


def cpu_split():
    """How many chunks work may be cut into: the CPU count, capped.

    The machine's CPU count, not the thread count, so that results never
    depend on ``n_jobs``.
    """
    return max(1, min(threshold("max_chunks"), cpu_count()))


def effective_n_jobs(n_jobs):
    """Number of threads for ``n_jobs`` (None, positive, or negative)."""
    max_threads = cpu_count()
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


def row_bounds(c, nc, n):
    """Rows ``[r0, r1)`` of chunk ``c`` of ``nc`` over ``n`` rows (the tasks
    cut the same rows: :func:`sknn._kernels.tasks.chunk_rows`)."""
    return c * n // nc, (c + 1) * n // nc


@dataclass(frozen=True)
class ExecutionPlan:
    """How one fit or predict call runs (see the module docstring).

    Attributes
    ----------
    n_threads : int
        Threads that share the chunks (from ``n_jobs``).
    split : int
        The most chunks any work is cut into (from the CPU count).
    min_macs : int
        Multiply-adds from which a product or a convolution is split
        (``parallel_min_macs``, or ``one_pass_parallel_min_macs`` for a
        prediction).
    min_elements : int
        Values from which a pooling pass or an optimizer step compiles its
        parallel task (``parallel_min_elements``, or
        ``one_pass_parallel_min_elements``).
    """

    n_threads: int = 1
    split: int = 1
    min_macs: int = 0
    min_elements: int = 0

    def chunks(self, rows, work_per_row, min_work=None):
        """Chunks for ``rows`` rows of ``work_per_row`` each (shape only).

        One chunk below ``min_work`` total (default: :attr:`min_macs`),
        otherwise up to :attr:`split` chunks of at least ``min_chunk_rows``.
        """
        if min_work is None:
            min_work = self.min_macs
        if rows * work_per_row < min_work:
            return 1
        return max(1, min(self.split, rows // threshold("min_chunk_rows")))

    def runs_task(self, task, work, compile_min):
        """Whether split work of size ``work`` runs as ``task`` on threads.

        With one thread, never.  Otherwise when ``task`` is ready (compiled
        in this process or in Numba's cache: :meth:`sknn._jit.Task.ready`),
        or when the work reaches ``compile_min``, from which it repays
        compiling the task.  Either way gives the same result: the chunks
        are the same and the serial path makes the same calls.
        """
        return self.n_threads > 1 and (work >= compile_min or task.ready())

    def product(self, c, a, b, trans_a=False, trans_b=False):
        """``c = op(a) @ op(b)`` (``op(x)`` is ``x.T`` when ``trans_x``).

        Below :attr:`min_macs` one NumPy call; otherwise row chunks of ``c``
        (:meth:`chunks`), each one single-threaded BLAS call, run in parallel
        on :attr:`n_threads` threads.
        """
        self._product(c, a, b, trans_a, trans_b, None, 0)

    def affine(self, c, a, b, bias, act, rows=1, flags=None):
        """``c = f(a @ b + bias)`` for a basic activation code ``act`` and a
        C-contiguous ``c``: the product as :meth:`product`, the bias and
        activation on each chunk's rows right after its product.

        ``rows > 1`` (a batch below :attr:`min_macs`, C-contiguous ``a``)
        cuts it into that many row chunks anyway: they run as the product
        task when :meth:`runs_task` says so, otherwise one after the other
        with the same BLAS calls.

        ``flags``, an int64 array of :attr:`split` entries, is zeroed and
        then receives, per chunk, how many values of ``a @ b`` are not
        finite (counted before the bias and activation, which could hide
        them): a NaN or infinite value in row ``i`` of ``a`` makes all of
        row ``i`` of the product non-finite, so a prediction learns this
        way whether its input rows are finite without another pass over
        them."""
        self._product(c, a, b, False, False, bias, act, rows, flags)

    def _product(self, c, a, b, trans_a, trans_b, bias, act, rows=1, flags=None):
        m, n = c.shape
        k = a.shape[0] if trans_a else a.shape[1]
        nc = self.chunks(m, k * n)
        task = gemm.product_rows_f32 if c.dtype == np.float32 else gemm.product_rows_f64
        if nc == 1 and rows > 1:
            nc = rows
            parallel = self.runs_task(task, m * k * n, self.min_macs)
        else:
            parallel = nc > 1
        if flags is not None:
            flags[:] = 0
        if nc == 1:
            np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=c)
            if bias is not None:
                if flags is not None:
                    flags[0] = not np.isfinite(c).all()
                bias_act(c, bias, act)
            return
        # The chunks read operands by rows: a column-major one (such as a
        # tied layer's ``w.T``) is passed as its row-major transpose.
        if a.strides[1] != a.itemsize:
            a, trans_a = a.T, not trans_a
        if b.strides[1] != b.itemsize:
            b, trans_b = b.T, not trans_b
        if parallel:
            args, refs = gemm.product_args(c, a, b, trans_a, trans_b, bias, act, flags)
            run_task(task, nc, self.n_threads, args, refs)
            return
        for i in range(nc):  # (rows > 1 only: a is not transposed)
            r0, r1 = row_bounds(i, nc, m)
            gemm.blas_product(c[r0:r1], a[r0:r1], b, False, trans_b)
            if bias is not None:
                if flags is not None:
                    flags[i] = not np.isfinite(c[r0:r1]).all()
                bias_act(c[r0:r1], bias, act)

    def run(self, fn, n_chunks):
        """Call ``fn(chunk, slot)`` for every chunk in ``range(n_chunks)``.

        ``slot`` (``0 <= slot < split``) names the thread running the chunk,
        for per-thread scratch buffers; results must not depend on it.
        """
        if n_chunks == 1 or self.n_threads == 1:
            for c in range(n_chunks):
                fn(c, 0)
            return
        _team().run(fn, n_chunks, min(self.n_threads, n_chunks))


_task_region = threading.Lock()  # held while a task runs on Numba's threads
_fork_unsafe_layer_used = False  # GNU OpenMP ran a region in this process
_in_unsafe_child = False  # forked from a process where it did


_task_runner = None  # what run_task calls, once a task ran (_load_task_runner)


def _array_data_offset():
    """Where an array's data pointer sits in its Python object, in bytes: it
    is the first field after the object header (``PyArrayObject_fields``,
    read by ``PyArray_DATA``), so ``object.__basicsize__``.  Checked on a
    few arrays; None (references are then resolved in Python) if it does not
    hold."""
    import ctypes

    offset = object.__basicsize__
    probe = np.arange(4.0)
    for a in (probe, probe[1:], probe[::2], np.zeros((2, 3), np.float32).T):
        if ctypes.c_int64.from_address(id(a) + offset).value != a.ctypes.data:
            return None
    return offset


def _load_task_runner():
    global _task_runner
    import numba

    from ._kernels.tasks import run_task as runner

    _task_runner = (numba.get_num_threads, numba.set_num_threads, runner,
                    numba.config.NUMBA_NUM_THREADS, numba.threading_layer,
                    _array_data_offset())
    return _task_runner


def _reference_entries(starts, refs):
    """The entries of a chain's ``args`` that hold array references: those
    from ``starts[k]`` on flagged in the bit mask ``refs[k]``."""
    for start, mask in zip(starts, refs):
        j = start
        while mask:
            if mask & 1:
                yield j
            mask >>= 1
            j += 1


def _referred(reference):
    """The array whose ``id`` is ``reference`` (the caller holds it)."""
    import ctypes

    return ctypes.cast(int(reference), ctypes.py_object).value


def _resolved(args, starts, refs):
    """``args`` with the array references of each task replaced by the
    arrays' data pointers, as the runner does
    (:func:`sknn._kernels.tasks.resolve`), for chunks that run here."""
    args = args.copy()
    for j in _reference_entries(starts, refs):
        args[j] = _referred(args[j]).ctypes.data
    return args


def referenced(args, starts, refs):
    """The arrays that the entries of ``args`` flagged as references (see
    :func:`run_chain`) refer to, while the caller still holds them: a list
    that keeps them alive."""
    return [_referred(args[j]) for j in _reference_entries(starts, refs)]


def run_task(task, n_chunks, n_threads, args, refs=0, finish=False):
    """Run chunks ``0 .. n_chunks - 1`` of ``task`` (:func:`sknn._jit.task`)
    with operands ``args`` (its int64 array), on up to ``n_threads`` of
    Numba's threads; on the calling thread for one thread or in a forked
    child where the threading layer is unsafe.  The result does not depend on
    which of these runs it.  With ``finish``, the task is called once more
    after every chunk, as chunk :data:`~sknn._kernels.tasks.FINISH`.

    Entries of ``args`` flagged in the bit mask ``refs`` hold references to
    arrays, ``id(array)``, instead of their data pointers: an array's
    ``ctypes.data`` costs about a microsecond in Python, a tenth of a small
    layer's task, and the runner reads the pointer itself.  The caller keeps
    every such array alive (bound to a name) until the call returns.
    """
    run_chain((task,), (0,), (refs,), n_chunks, n_threads, args, int(finish))


_chains = {}  # (tasks, starts, refs) -> the runner's int64 array of them


def run_chain(tasks, starts, refs, n_chunks, n_threads, args, finish=0):
    """:func:`run_task` for a chain of tasks: chunk ``c`` runs through
    ``tasks[0]``, ``tasks[1]``, ... in turn on one thread, task ``k`` reading
    its operands from entry ``starts[k]`` of ``args`` on, of which those
    flagged in the bit mask ``refs[k]`` are array references.  Each task's
    chunk ``c`` may read only what chunk ``c`` of the tasks before it wrote.
    ``finish`` is a bit mask of the tasks called once more at the end, in
    chain order, as chunk ``FINISH``."""
    global _fork_unsafe_layer_used
    # One parallel region at a time: a call from a second Python thread
    # while one runs takes its chunks on its own thread (Numba's workqueue
    # layer aborts on concurrent launches; the others would oversubscribe).
    if (_in_unsafe_child or n_threads == 1 or n_chunks == 1
            or not _task_region.acquire(False)):
        args = _resolved(args, starts, refs)
        address = args.ctypes.data
        for c in range(n_chunks):
            for task, start in zip(tasks, starts):
                task(c, 0, n_chunks, address + 8 * start)
        for k, (task, start) in enumerate(zip(tasks, starts)):
            if (finish >> k) & 1:
                task(FINISH, 0, n_chunks, address + 8 * start)
        return
    try:
        get_threads, set_threads, runner, most, layer, offset = (_task_runner
                                                                 or _load_task_runner())
        key = (tasks, starts, refs)
        chain = _chains.get(key)
        if chain is None:
            chain = _chains[key] = np.array(
                [v for task, start, mask in zip(tasks, starts, refs)
                 for v in (task.address, start, mask)], dtype=np.int64)
        if offset is None:  # (references resolved here, none left for the runner)
            args = _resolved(args, starts, refs)
            chain = chain.copy()
            chain[2::3] = 0
        if n_threads > most:
            n_threads = most
        previous = get_threads()
        if previous != n_threads:
            set_threads(n_threads)
        try:
            operands = np.empty_like(args)
            runner(chain, n_chunks, min(n_threads, n_chunks), args, operands, offset or 0,
                   finish)
        finally:
            if previous != n_threads:
                set_threads(previous)
        if not _fork_unsafe_layer_used:
            _fork_unsafe_layer_used = layer() == "omp"
    finally:
        _task_region.release()


_plans = (None, {})  # (the THRESHOLDS they were made from, {key: plan})


def make_plan(n_jobs, one_pass=False):
    """The :class:`ExecutionPlan` of a call with ``n_jobs`` (``one_pass``: a
    prediction).

    Plans are frozen, so each one is made once per ``n_jobs``, kind of call
    and thread budget (``OMP_NUM_THREADS``) and then shared: a one-row
    prediction is a few tens of microseconds, and making a plan costs a few.
    """
    global _plans
    table, plans = _plans
    if table is not THRESHOLDS:  # (tests replace the table)
        table, plans = _plans = (THRESHOLDS, {})
    key = (n_jobs, one_pass, os.environ.get("OMP_NUM_THREADS"))
    plan = plans.get(key)
    if plan is None:
        split = cpu_split()
        prefix = "one_pass_" if one_pass else ""
        plan = plans[key] = ExecutionPlan(
            n_threads=min(effective_n_jobs(n_jobs), split), split=split,
            min_macs=threshold(prefix + "parallel_min_macs"),
            min_elements=threshold(prefix + "parallel_min_elements"))
    return plan


SERIAL = ExecutionPlan()


class _Team:
    """Worker threads that share the chunks of one region at a time.

    The calling thread and the workers claim chunks from a shared counter,
    so a worker that wakes late (its core busy with another process) takes
    fewer chunks or none, and the caller never waits for a worker that has
    not started one: it waits only for chunks in progress.  Wake-ups use
    bare locks (``_thread`` locks block in C with the GIL released), the
    cheapest CPython has.  A second region started while one runs (sknn
    called from several Python threads) runs its chunks in its own thread.
    When the caller is interrupted (``KeyboardInterrupt``), the region still
    waits for the chunks in progress, so no worker writes afterwards.
    """

    def __init__(self, size):
        self.size = size
        self._busy = _thread.allocate_lock()
        self._state = _thread.allocate_lock()
        self._finished = _thread.allocate_lock()
        self._finished.acquire()
        self._wake = [_thread.allocate_lock() for _ in range(size - 1)]
        for lock in self._wake:
            lock.acquire()
        self._fn = None
        self._n = self._next = self._done = 0
        self._waiting = False
        self._error = None
        for slot in range(1, size):
            threading.Thread(target=self._worker, args=(slot,), daemon=True,
                             name=f"sknn-worker-{slot}").start()

    def _claim(self):
        with self._state:
            c = self._next
            if c >= self._n:
                return -1, None
            self._next = c + 1
            return c, self._fn

    def _complete(self, error=None):
        with self._state:
            self._done += 1
            if error is not None and self._error is None:
                self._error = error
                self._n = self._next  # no new chunks after a failure
            if self._done == self._next and self._waiting:
                self._waiting = False
                self._finished.release()

    def _worker(self, slot):
        # Floating-point warnings stay off in the workers: the engine detects
        # and reports divergence itself.
        np.seterr(all="ignore")
        wake = self._wake[slot - 1]
        while True:
            wake.acquire()
            while True:
                c, fn = self._claim()
                if c < 0:
                    break
                try:
                    fn(c, slot)
                except BaseException as exc:  # handed to the caller
                    self._complete(exc)
                else:
                    self._complete()

    def run(self, fn, n_chunks, n_threads):
        if not self._busy.acquire(False):
            for c in range(n_chunks):
                fn(c, 0)
            return
        try:
            with self._state:
                self._fn, self._n, self._next, self._done = fn, n_chunks, 0, 0
                self._error = None
            for slot in range(1, min(n_threads, self.size)):
                lock = self._wake[slot - 1]
                if lock.locked():  # a worker still awake finds the chunks itself
                    try:
                        lock.release()
                    except RuntimeError:  # released in between
                        pass
            try:
                while True:
                    c, _ = self._claim()
                    if c < 0:
                        break
                    try:
                        fn(c, 0)
                    except BaseException as exc:
                        self._complete(exc)
                        raise
                    self._complete()
            finally:
                with self._state:
                    self._n = self._next  # nothing left to claim
                    pending = self._done < self._next
                    self._waiting = pending
                if pending:
                    self._finished.acquire()
            if self._error is not None:
                raise self._error
        finally:
            self._fn = self._error = None
            self._busy.release()


_team_obj = None
_team_lock = threading.Lock()


def _team():
    global _team_obj
    if _team_obj is None:
        with _team_lock:
            if _team_obj is None:
                _team_obj = _Team(cpu_split())
    return _team_obj


def _after_fork_in_child():
    # The parent's worker threads do not exist in the child.
    global _team_obj, _team_lock, _blas_users, _blas_saved, _blas_state_lock, _cpus
    global _in_unsafe_child, _task_region
    _in_unsafe_child = _in_unsafe_child or _fork_unsafe_layer_used
    _task_region = threading.Lock()
    _team_obj = None
    _cpus = None
    _team_lock = threading.Lock()
    _blas_users = 0
    _blas_saved = None
    _blas_state_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- BLAS thread limit ---------------------------------------------------------
# BLAS libraries come in two kinds: most (OpenBLAS with pthreads, MKL, BLIS)
# have ONE process-wide thread count, a few (OpenBLAS built with OpenMP) one
# per calling thread.  The process-wide ones are limited once, by the first
# sknn call to start, and restored by the last one to end (a reference count
# under a lock); the per-thread ones are limited in every sknn call's thread.
# threadpoolctl >= 3.6 lets only one "controlling" Python thread change
# OpenBLAS' process-wide count and silently ignores the others; sknn
# coordinates its own changes with the lock above, so it clears that owner
# around each change (``OpenBLASController.clear_controlling_thread``).
_controller = None
_blas_state_lock = threading.Lock()
_blas_users = 0
_blas_saved = None  # process-wide thread counts to restore


def _blas_libraries():
    """``(process_wide, per_thread)`` BLAS library controllers."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    libs = [lc for lc in _controller.lib_controllers if lc.user_api == "blas"]
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
    """Limit BLAS to one thread; returns what :func:`_blas_exit` restores."""
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


@contextmanager
def kernel_threads(n_jobs, blas=True, one_pass=False):
    """Run the body under the plan for ``n_jobs`` with single-threaded BLAS.

    Yields the :class:`ExecutionPlan` (``one_pass``: of a prediction).
    ``blas=False`` skips the BLAS limit, for calls whose every product is
    below the size at which BLAS libraries start threads
    (``blas_limit_min_macs``), such as predicting a few rows:
    there the limit (two library calls each way) would cost more than the
    prediction.
    """
    plan = make_plan(n_jobs, one_pass)
    local = _blas_enter() if blas else None
    try:
        yield plan
    finally:
        if blas:
            _blas_exit(local)
