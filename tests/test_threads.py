"""Threads and processes: the runtime's thread team, Python threads
predicting and fitting concurrently, forked children, loky workers, the same
weights for any ``n_jobs``, and the memory taken by predict and by repeated fits.

Every estimator is covered (``ConvClassifier`` and ``AutoEncoderTransformer``
automatically once importable from ``sknn``).  Nothing here sleeps or times
itself: subprocesses and forked children get a generous ``timeout`` only so a
hang fails the test instead of blocking the suite, and memory bounds are
several times what chunked prediction needs while far below what unchunked
prediction would take.
"""

import multiprocessing as mp
import os
import sys
import threading
import tracemalloc

import joblib
import numpy as np
import pytest
from _extras import (
    N_FEATURES,
    NAMES,
    SUBPROCESS_TIMEOUT,
    assert_same_weights,
    data,
    fit,
    flat_params,
    make,
    outputs,
    quiet,
)
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

import sknn
from sknn import _runtime


# -- threads ------------------------------------------------------------------------
def _run_threads(targets):
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        return run

    workers = [threading.Thread(target=wrap(t)) for t in targets]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]


def _parallel_sized(name, n=2000, **params):
    # Layers large enough to be cut into chunks on two threads (batch 200 x 16
    # x 2048 multiply-adds, above the plan's parallel_min_macs) when n_jobs > 1.
    est, kind = make(name, **{"hidden_layer_sizes": (2048,), "n_jobs": 2,
                              "max_iter": 2, **params})
    X, y = data(kind, n=n, n_features=N_FEATURES)
    return est, kind, X, y


def test_plan_cuts_work_by_shape_not_by_n_jobs():
    plans = [_runtime.make_plan(n) for n in (1, 2, -1, None)]
    assert {p.split for p in plans} == {_runtime.cpu_split()}
    assert plans[0].n_threads == 1
    for rows, work in ((1, 10**9), (200, 64 * 100), (4096, 784 * 256), (10, 10)):
        assert len({p.chunks(rows, work) for p in plans}) == 1
    big = plans[-1].chunks(4096, 784 * 256)
    assert big == min(_runtime.cpu_split(), 4096 // _runtime.threshold("min_chunk_rows"))
    assert plans[0].chunks(1, 10**9) == 1  # one row is never cut


def test_plans_follow_the_thread_budget_and_the_threshold_table(monkeypatch):
    """Plans are made once and shared, but a new OMP_NUM_THREADS budget or a
    new threshold table gives a new plan."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    plan = _runtime.make_plan(None)
    assert _runtime.make_plan(None) is plan
    assert plan.n_threads == min(_runtime.cpu_count(), _runtime.cpu_split())
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _runtime.make_plan(None).n_threads == 1
    assert _runtime.make_plan(2).n_threads == min(2, _runtime.cpu_split())
    monkeypatch.delenv("OMP_NUM_THREADS")
    table = dict(_runtime.THRESHOLDS)
    table["parallel_min_macs"] = (7, "")
    monkeypatch.setattr(_runtime, "THRESHOLDS", table)
    assert _runtime.make_plan(None).min_macs == 7
    assert _runtime.make_plan(None, one_pass=True).min_macs == table[
        "one_pass_parallel_min_macs"][0]


@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_team_runs_every_chunk_once(n_threads):
    plan = _runtime.ExecutionPlan(n_threads=n_threads, split=3)
    lock = threading.Lock()
    for n_chunks in (1, 2, 3, 7):
        seen = []

        def chunk(c, slot, seen=seen):
            assert 0 <= slot < n_threads
            with lock:
                seen.append(c)

        plan.run(chunk, n_chunks)
        assert sorted(seen) == list(range(n_chunks))


def test_team_hands_a_chunk_error_to_the_caller_and_keeps_working():
    plan = _runtime.ExecutionPlan(n_threads=2, split=2)

    def failing(c, slot):
        if c == 3:
            raise ValueError("chunk 3 failed")

    with pytest.raises(ValueError, match="chunk 3 failed"):
        plan.run(failing, 6)
    done = []
    plan.run(lambda c, slot: done.append(c), 4)
    assert sorted(done) == [0, 1, 2, 3]


def test_array_references_read_the_data_pointer():
    """The runner reads an array's data pointer from its object (``id``) at
    the offset the runtime checks once: the Python object header's size."""
    _runtime._load_task_runner()
    offset = _runtime._task_runner[-1]
    assert offset == object.__basicsize__
    base = np.arange(24.0).reshape(4, 6)
    views = (base, base[1:], base[:, 2:], base.T, base[::2], base.astype(np.float32))
    refs = sum(1 << j for j in range(len(views)))
    args = np.array([id(v) for v in views], dtype=np.int64)
    resolved = _runtime._resolved(args, (0,), (refs,))
    assert resolved.tolist() == [v.ctypes.data for v in views]
    assert args.tolist() == [id(v) for v in views]  # left as it was


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("fallback", [False, True])
def test_tasks_take_array_references_or_addresses(monkeypatch, n_threads, fallback):
    """A product task gives the same bits whether its operands are passed as
    data pointers or as references, on Numba's threads or serially, and with
    the references resolved by the runner or (offset unknown) in Python; a
    cached ``args`` array is not changed by a run."""
    from sknn._kernels import gemm

    rng = np.random.RandomState(0)
    a, b = rng.rand(67, 33), rng.rand(33, 21)
    bias = rng.rand(21)
    expected = np.maximum(a @ b + bias, 0.0)
    _runtime._load_task_runner()
    if fallback:
        monkeypatch.setattr(_runtime, "_task_runner", _runtime._task_runner[:-1] + (None,))
    outputs = []
    for by_reference in (True, False):
        c = np.full_like(expected, np.nan)
        args, refs = gemm.product_args(c, a, b, False, False, bias, 3)
        if not by_reference:
            args, refs = _runtime._resolved(args, (0,), (refs,)), 0
        for _ in range(2):
            c[...] = np.nan
            _runtime.run_task(gemm.product_rows_f64, 3, n_threads, args, refs)
            outputs.append(c.copy())
        if by_reference:  # runs leave the args as they were (cached ones are reused)
            assert args[[0, 4, 6, 11]].tolist() == [id(c), id(a), id(b), id(bias)]
    if fallback:  # the runner's own resolving works again afterwards
        monkeypatch.undo()
        c[...] = np.nan
        args, refs = gemm.product_args(c, a, b, False, False, bias, 3)
        _runtime.run_task(gemm.product_rows_f64, 3, n_threads, args, refs)
        outputs.append(c.copy())
    for out in outputs:
        np.testing.assert_array_equal(out, outputs[0])
    np.testing.assert_allclose(outputs[0], expected, rtol=1e-12)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_chain_of_tasks_equals_the_tasks_run_one_after_the_other(n_threads):
    """A chain runs every chunk through a product task and then a loss task
    on the rows the product wrote: the same outputs, gradients and chunk
    sums as the two tasks run one after the other, and as NumPy."""
    from sknn._kernels import gemm, losses

    rng = np.random.RandomState(1)
    n, k, m, nc = 90, 17, 5, 3
    x, w, b, y = rng.rand(n, k), rng.rand(k, m), rng.rand(m), rng.rand(n, m)
    sw = rng.rand(n)
    results = []
    for chained in (True, False):
        z, delta = np.empty((n, m)), np.empty((n, m))
        sums = np.zeros(nc + 1)
        product, refs = gemm.product_args(z, x, w, False, False, b, 0)
        loss = np.array([id(delta), id(z), id(y), id(sw), n, m, losses.SQUARED, id(sums)],
                        dtype=np.int64)
        if chained:
            _runtime.run_chain((gemm.product_rows_f64, losses.loss_rows_f64),
                               (0, gemm.PRODUCT_ARGS), (refs, losses.LOSS_REFS), nc,
                               n_threads, np.concatenate([product, loss]))
        else:
            _runtime.run_task(gemm.product_rows_f64, nc, n_threads, product, refs)
            _runtime.run_task(losses.loss_rows_f64, nc, n_threads, loss, losses.LOSS_REFS)
        results.append((z, delta, sums))
    for a, b_ in zip(*results):
        np.testing.assert_array_equal(a, b_)
    z, delta, sums = results[0]
    np.testing.assert_allclose(z, x @ w + b, rtol=1e-12)
    np.testing.assert_allclose(delta, (z - y) * sw[:, None], rtol=1e-12)
    per_row = 0.5 * ((y - z) ** 2).mean(axis=1) * sw
    np.testing.assert_allclose(sums[1:].sum(), per_row.sum(), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_concurrent_predict_from_threads(name):
    est, kind, X, y = _parallel_sized(name)
    fit(est, kind, X, y)
    ref = outputs(est, kind, X)
    results = []

    def work():
        for _ in range(4):
            results.append(outputs(est, kind, X))

    _run_threads([work] * 4)
    assert len(results) == 16
    for r in results:
        np.testing.assert_array_equal(r, ref)


def test_fit_in_one_thread_while_another_predicts():
    names = [n for n in NAMES if getattr(sknn, n, None) is not None]
    fitted = []
    for name in names:
        est, kind, X, y = _parallel_sized(name)
        fitted.append((fit(est, kind, X, y), kind, X, outputs(est, kind, X)))
    trainees = []
    for name in names:
        est, kind, X, y = _parallel_sized(name, random_state=1)
        ref = fit(clone(est), kind, X, y)
        trainees.append((est, kind, X, y, ref))

    def train():
        for est, kind, X, y, _ in trainees:
            fit(est, kind, X, y)

    def predict():
        for _ in range(3):
            for est, kind, X, ref in fitted:
                np.testing.assert_array_equal(outputs(est, kind, X), ref)

    _run_threads([train, predict, predict])
    for est, _, _, _, ref in trainees:
        assert_same_weights(est, ref)


# -- processes ------------------------------------------------------------------------
def _child_predict(conn, est, kind, X, y):
    try:
        out = outputs(est, kind, X)
        fresh = fit(clone(est), kind, X, y)
        conn.send(("ok", out, flat_params(fresh)))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent
        conn.send(("error", repr(exc), None))
    finally:
        conn.close()


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
@pytest.mark.parametrize("name", NAMES)
def test_fork_after_fit(name):
    est, kind, X, y = _parallel_sized(name)
    fit(est, kind, X, y)  # the parent has started its worker threads
    ref = outputs(est, kind, X)
    ref_fresh = flat_params(fit(clone(est), kind, X, y))
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_predict, args=(child, est, kind, X, y))
    proc.start()
    child.close()
    ready = parent.poll(SUBPROCESS_TIMEOUT)
    result = parent.recv() if ready else None
    proc.join(SUBPROCESS_TIMEOUT)
    if proc.is_alive():
        proc.kill()
        pytest.fail("the forked child hung")
    assert result is not None, f"child died with exit code {proc.exitcode}"
    status, out, fresh = result
    # The parent's worker threads do not exist in the child: the runtime
    # starts its own there.  The parent ran parallel products on Numba's
    # threading layer; GNU OpenMP would abort a forked child that starts a
    # region, so the child runs the same chunks on its own thread.  The
    # results match the parent's bit for bit.
    assert status == "ok", out
    assert proc.exitcode == 0
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(fresh, ref_fresh)


def test_grid_search_with_loky_workers():
    est, kind = make("MLPClassifierX", max_iter=5)
    X, y = data(kind, n=60)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (8,)]}
    serial = quiet(GridSearchCV(est, grid, cv=2, n_jobs=1).fit, X, y)
    with joblib.parallel_config(backend="loky"):
        par = quiet(GridSearchCV(est, grid, cv=2, n_jobs=2).fit, X, y)
    np.testing.assert_array_equal(serial.cv_results_["mean_test_score"],
                                  par.cv_results_["mean_test_score"])
    assert_same_weights(serial.best_estimator_, par.best_estimator_)


# -- reproducibility --------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_same_weights_for_any_n_jobs(name):
    fits = []
    for n_jobs in (1, 2, -1, None, 1):
        est, kind, X, y = _parallel_sized(name, n=600, n_jobs=n_jobs, dropout=0.1)
        fits.append(fit(est, kind, X, y))
    for other in fits[1:]:
        assert_same_weights(fits[0], other)


_LAYER_SCRIPT = """
import sys, threading, warnings
import numpy as np
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from _extras import data, fit, flat_params, make
import numba
results = {}

def run(key, n_jobs):
    est, kind = make("MLPClassifierX", hidden_layer_sizes=(2048,), max_iter=2,
                     n_jobs=n_jobs)
    X, y = data(kind, n=600, n_features=16)
    results[key] = flat_params(fit(est, kind, X, y))

threads = [threading.Thread(target=run, args=(k, 2)) for k in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
run("serial", 1)
print(numba.threading_layer())
np.save(sys.argv[2], np.stack([results[k] for k in (0, 1, 2, "serial")]))
"""


@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_tasks_on_each_threading_layer_from_concurrent_threads(layer, tmp_path):
    """Fits from three Python threads at once run their tasks without
    crashing on Numba's workqueue layer (which aborts on concurrent parallel
    launches: sknn runs one region at a time) and on OpenMP, with the bits
    of a serial fit and of this process's."""
    import subprocess

    out = tmp_path / "w.npy"
    env = dict(os.environ, NUMBA_THREADING_LAYER=layer)
    proc = subprocess.run([sys.executable, "-c", _LAYER_SCRIPT,
                           os.path.dirname(__file__), str(out)],
                          env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    if proc.returncode != 0 and "No threading layer could be loaded" in proc.stderr:
        pytest.skip(f"Numba's {layer} layer is not installed")  # pragma: no cover
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == layer
    got = np.load(out)
    est, kind = make("MLPClassifierX", hidden_layer_sizes=(2048,), max_iter=2, n_jobs=2)
    X, y = data(kind, n=600, n_features=16)
    here = flat_params(fit(est, kind, X, y))
    for row in got:
        np.testing.assert_array_equal(row, here)


# -- memory ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_predict_on_a_million_rows_is_chunked(name):
    est, kind = make(name, hidden_layer_sizes=(64,), max_iter=1, n_jobs=1)
    X, y = data(kind, n=200)
    fit(est, kind, X.astype(np.float32), y)
    big = np.random.RandomState(0).rand(1_000_000, N_FEATURES).astype(np.float32)
    outputs(est, kind, big[:10])  # warm, outside the measurement
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        out = outputs(est, kind, big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape[0] == big.shape[0] and np.isfinite(out).all()
    extra = peak - base
    # Unchunked, the hidden layer alone would take 1e6 * 64 * 4 = 256 MB.
    bound = 2 * out.nbytes + 24 * 2**20
    assert extra < bound, (extra / 2**20, bound / 2**20)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="Linux only")
def test_repeated_fit_predict_does_not_grow_memory():
    cases = []
    for name in NAMES:
        if getattr(sknn, name, None) is None:
            continue
        est, kind = make(name, max_iter=2)
        X, y = data(kind, n=30)
        cases.append((est, kind, X, y))

    def cycle():
        for est, kind, X, y in cases:
            outputs(fit(clone(est), kind, X, y), kind, X)

    for _ in range(20):  # warm-up: caches, allocator pools
        cycle()
    before = _rss()
    for _ in range(200):
        cycle()
    grown = _rss() - before
    assert grown < 32 * 2**20, f"resident memory grew by {grown / 2**20:.1f} MB"
