"""Issue 7: divergence, interruption, persistence, threads, processes, memory,
the Numba cache on a read-only install, and reproducibility.

Every estimator is covered (``ConvClassifier`` and ``AutoEncoderTransformer``
automatically once importable from ``sknn``).  Nothing here sleeps or times
itself: subprocesses and forked children get a generous ``timeout`` only so a
hang fails the test instead of blocking the suite, and memory bounds are
several times what chunked prediction needs while far below what unchunked
prediction would take.
"""

import multiprocessing as mp
import os
import pickle
import pickletools
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import tracemalloc
import warnings

import joblib
import numba
import numpy as np
import pytest
from _extras import sknn_estimator
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

import sknn
from sknn import _optim
from sknn import _threads as threads
from sknn._engine import DivergenceError

N_FEATURES = 16  # one 1x4x4 image for ConvClassifier
COMMON = dict(max_iter=3, random_state=0)
SPECS = {
    "MLPClassifierX": ("classifier", dict(hidden_layer_sizes=(8,))),
    "MLPRegressorX": ("regressor", dict(hidden_layer_sizes=(8,))),
    "ConvClassifier": ("classifier", dict(input_shape=(1, 4, 4), filters=(2,),
                                          kernel_size=3, hidden_layer_sizes=(8,))),
    "AutoEncoderTransformer": ("transformer", dict(n_components=2,
                                                   hidden_layer_sizes=(8,))),
}
NAMES = list(SPECS)
SUBPROCESS_TIMEOUT = 600  # a hang guard, not a timing assertion


def make(name, **params):
    cls = sknn_estimator(name)
    kind, base = SPECS[name]
    valid = cls().get_params()
    merged = {k: v for k, v in {**COMMON, **base, **params}.items() if k in valid}
    return cls(**merged), kind


def data(kind, n=40, seed=0, n_features=N_FEATURES):
    rng = np.random.RandomState(seed)
    X = rng.rand(n, n_features)
    if kind == "classifier":
        return X, np.arange(n) % 3
    if kind == "regressor":
        return X, X[:, :3].sum(axis=1) + 0.1 * rng.rand(n)
    return X, None


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


def fit(est, kind, X, y=None, **kw):
    if kind == "transformer":
        return quiet(est.fit, X, **kw)
    return quiet(est.fit, X, y, **kw)


def partial_fit(est, kind, X, y=None, **kw):
    if kind == "transformer":
        return quiet(est.partial_fit, X, **kw)
    if kind == "classifier" and not hasattr(est, "coefs_"):
        kw.setdefault("classes", [0, 1, 2])
    return quiet(est.partial_fit, X, y, **kw)


def outputs(est, kind, X):
    """The estimator's continuous output: probabilities, predictions or codes."""
    if kind == "classifier":
        return est.predict_proba(X)
    if kind == "regressor":
        return est.predict(X)
    return est.transform(X)


def flat_params(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


def assert_same_weights(a, b):
    assert len(a.coefs_) == len(b.coefs_)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(u, v)


# -- divergence -----------------------------------------------------------------
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("name", NAMES)
def test_divergence_detected_in_the_batch_it_happens(name, solver, monkeypatch):
    import sknn._engine as engine

    est, kind = make(name, solver=solver, learning_rate_init=1e200, batch_size=10,
                     max_iter=50)
    X, y = data(kind)
    losses = []
    original = engine.link_loss_grad

    def recording(*args):
        loss = original(*args)
        losses.append(loss)
        return loss

    monkeypatch.setattr(engine, "link_loss_grad", recording)
    with pytest.raises(ValueError, match="non-finite.*learning_rate_init=1e\\+200") as e:
        fit(est, kind, X, y)
    assert isinstance(e.value, DivergenceError)
    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
    # Raised at the first non-finite batch loss (or, when the weights overflow
    # on an epoch's last batch, by the end-of-epoch check): never later.
    assert not bad or bad[0] == len(losses) - 1, (bad, len(losses))
    assert len(losses) <= 2 * 4  # within the first two epochs of 4 batches
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("name", NAMES)
def test_divergence_keeps_the_previous_model(name):
    est, kind = make(name, warm_start=True)
    X, y = data(kind)
    fit(est, kind, X, y)
    saved = [a.copy() for a in est.coefs_ + est.intercepts_]
    ref = outputs(est, kind, X)

    def assert_unchanged():
        for a, b in zip(saved, est.coefs_ + est.intercepts_):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(outputs(est, kind, X), ref)
    n_iter, curve = est.n_iter_, list(est.loss_curve_)

    # warm start with a learning rate that overflows
    est.set_params(learning_rate_init=1e200)
    with pytest.raises(ValueError, match="non-finite"):
        fit(est, kind, X, y)
    assert_unchanged()
    assert est.n_iter_ == n_iter and est.loss_curve_ == curve

    # partial_fit on data that overflows the forward pass (finite input)
    with pytest.raises(ValueError, match="non-finite"):
        partial_fit(est, kind, X * 1e308, y)
    assert_unchanged()

    # L-BFGS: a non-finite objective is an error, not a model with loss_=nan
    est.set_params(solver="lbfgs", warm_start=False)
    with pytest.raises(ValueError, match="lbfgs.*non-finite"):
        fit(est, kind, X * 1e308, y)
    assert_unchanged()


# -- interruption -----------------------------------------------------------------
def _interrupt_after_step(monkeypatch, solver, at):
    """Raise KeyboardInterrupt right after optimizer step number ``at``."""
    cls = _optim.Adam if solver == "adam" else _optim.SGD
    original = cls.step
    state = {"steps": 0, "params": None}

    def step(self, params, *args):
        out = original(self, params, *args)
        state["steps"] += 1
        if state["steps"] == at:
            state["params"] = params.copy()
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(cls, "step", step)
    return state


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("name", NAMES)
def test_interrupt_stops_after_the_current_batch(name, solver, monkeypatch):
    est, kind = make(name, solver=solver, batch_size=10, max_iter=20)
    X, y = data(kind)  # 4 batches per epoch
    state = _interrupt_after_step(monkeypatch, solver, at=6)  # epoch 2, batch 2
    with pytest.warns(UserWarning, match="interrupted"):
        assert fit(est, kind, X, y) is est
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 1
    # the published weights are exactly those after the interrupted batch
    np.testing.assert_array_equal(flat_params(est), state["params"])
    out = outputs(est, kind, X)
    assert np.isfinite(out).all()
    if kind != "transformer":
        est.predict(X)
    # training can continue
    partial_fit(est, kind, X, y)
    est.set_params(warm_start=True)
    fit(est, kind, X, y)
    assert np.isfinite(outputs(est, kind, X)).all()


@pytest.mark.parametrize("name", NAMES)
def test_interrupt_with_early_stopping_keeps_the_best_weights(name, monkeypatch):
    params = dict(early_stopping=True, validation_fraction=0.25, batch_size=10,
                  n_iter_no_change=100, learning_rate_init=0.05)
    X, y = data(SPECS[name][0], n=40)  # 30 training rows: 3 batches per epoch
    ref, kind = make(name, max_iter=3, **params)
    fit(ref, kind, X, y)
    est, _ = make(name, max_iter=20, **params)
    _interrupt_after_step(monkeypatch, "adam", at=3 * 3 + 2)  # inside epoch 4
    with pytest.warns(UserWarning, match="interrupted"):
        fit(est, kind, X, y)
    assert est.n_iter_ == 3 and len(est.validation_scores_) == 3
    assert_same_weights(est, ref)  # best of the 3 finished epochs, as ref
    assert np.isfinite(outputs(est, kind, X)).all()


@pytest.mark.parametrize("name", NAMES)
def test_interrupt_lbfgs_keeps_the_best_point(name, monkeypatch):
    import sknn._engine as engine

    est, kind = make(name, solver="lbfgs", max_iter=200)
    X, y = data(kind)
    original = engine.make_objective
    seen = []

    def make_objective(*args, **kwargs):
        fun = original(*args, **kwargs)

        def interrupted(theta):
            if len(seen) == 8:
                raise KeyboardInterrupt
            loss, grad = fun(theta)
            seen.append((loss, theta.copy()))
            return loss, grad

        return interrupted

    monkeypatch.setattr(engine, "make_objective", make_objective)
    with pytest.warns(UserWarning, match="interrupted"):
        fit(est, kind, X, y)
    best_loss, best_theta = min(seen, key=lambda s: s[0])
    assert est.loss_ == best_loss
    np.testing.assert_array_equal(flat_params(est), best_theta)
    assert np.isfinite(outputs(est, kind, X)).all()


def test_interrupt_before_the_first_fit_leaves_estimator_unfitted(monkeypatch):
    """A KeyboardInterrupt outside the epoch loop propagates; nothing is set."""
    import sknn._base as base

    est, kind = make("MLPClassifierX")
    X, y = data(kind)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(base, "build_network", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(est, kind, X, y)
    assert not hasattr(est, "n_features_in_") and not hasattr(est, "classes_")


# -- persistence --------------------------------------------------------------------
ALLOWED_MODULES = ("builtins", "numpy", "sklearn", "sknn", "collections", "copy")


def _assert_plain(obj, path="est", seen=None):
    """Fitted state: NumPy arrays, Python/sklearn/sknn plain objects, no Numba."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    module = type(obj).__module__ or ""
    assert not module.startswith("numba"), f"{path} is a Numba object: {type(obj)}"
    assert module.split(".")[0] in ALLOWED_MODULES, f"{path}: {type(obj)}"
    if isinstance(obj, np.ndarray):
        assert obj.dtype != object or all(
            _assert_plain(v, f"{path}[]", seen) is None for v in obj.ravel())
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _assert_plain(v, f"{path}[{k!r}]", seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for i, v in enumerate(obj):
            _assert_plain(v, f"{path}[{i}]", seen)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for k, v in vars(obj).items():
            _assert_plain(v, f"{path}.{k}", seen)


def _fitted_models():
    models = {}
    for name in NAMES:
        if getattr(sknn, name, None) is None:
            continue
        for solver in ("adam", "sgd", "lbfgs"):
            est, kind = make(name, solver=solver, dropout=0.1 if solver != "lbfgs"
                             else 0.0)
            X, y = data(kind)
            models[f"{name}-{solver}"] = (fit(est, kind, X, y), kind)
    return models


@pytest.fixture(scope="module")
def fitted_models():
    return _fitted_models()


def test_pickle_and_joblib_round_trips(fitted_models, tmp_path):
    for key, (est, kind) in fitted_models.items():
        X, y = data(kind, seed=1)
        ref = outputs(est, kind, X)
        _assert_plain(est.__dict__, key)
        blob = pickle.dumps(est)
        strings = [a for _, a, _ in pickletools.genops(blob) if isinstance(a, str)]
        assert not [s for s in strings if s.startswith("numba")], key
        path = tmp_path / f"{key}.joblib"
        joblib.dump(est, path)
        for loaded in (pickle.loads(blob), joblib.load(path)):
            np.testing.assert_array_equal(outputs(loaded, kind, X), ref, err_msg=key)
            if kind != "transformer":
                np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
            # continue training after loading: same result as the original
            if not key.endswith("lbfgs"):
                a = partial_fit(pickle.loads(blob), kind, X, y)
                b = partial_fit(loaded, kind, X, y)
                assert_same_weights(a, b)
            loaded.set_params(warm_start=True)
            assert np.isfinite(flat_params(fit(loaded, kind, X, y))).all()


SUBPROCESS_SCRIPT = textwrap.dedent("""
    import json, pickle, sys, warnings
    import numba, numpy as np
    from numba.core import config
    from numba.np.ufunc import parallel

    import sknn

    # importing sknn changes no global Numba configuration
    report = {"initialized_at_import": bool(parallel._is_initialized),
              "priority_at_import": list(config.THREADING_LAYER_PRIORITY)}
    warnings.simplefilter("ignore")
    folder = sys.argv[1]
    with open(folder + "/jobs.pkl", "rb") as f:
        jobs = pickle.load(f)
    out = {}
    for key, (blob, jl_path, X, y, kind, params, cls_name) in jobs.items():
        import joblib
        for tag, est in (("pickle", pickle.loads(blob)), ("joblib", joblib.load(jl_path))):
            if kind == "classifier":
                out[key + "-" + tag] = est.predict_proba(X)
            elif kind == "regressor":
                out[key + "-" + tag] = est.predict(X)
            else:
                out[key + "-" + tag] = est.transform(X)
        est = pickle.loads(blob)
        if params["solver"] != "lbfgs":
            (est.partial_fit(X) if kind == "transformer" else est.partial_fit(X, y))
            out[key + "-continued"] = np.concatenate(
                [a.ravel() for a in est.coefs_ + est.intercepts_])
        fresh = getattr(sknn, cls_name)(**{**params, "n_jobs": 2})
        (fresh.fit(X) if kind == "transformer" else fresh.fit(X, y))
        out[key + "-fresh"] = np.concatenate(
            [a.ravel() for a in fresh.coefs_ + fresh.intercepts_])
    np.savez(folder + "/out.npz", **out)
    report["layer"] = numba.threading_layer()
    report["priority_after"] = list(config.THREADING_LAYER_PRIORITY)
    with open(folder + "/report.json", "w") as f:
        json.dump(report, f)
""")


def test_fresh_process_loads_predicts_continues_and_reproduces(fitted_models, tmp_path):
    """One subprocess: load (pickle and joblib), predict, continue, refit."""
    jobs, expected = {}, {}
    for key, (est, kind) in fitted_models.items():
        X, y = data(kind, seed=2)
        jl_path = str(tmp_path / f"{key}.joblib")
        joblib.dump(est, jl_path)
        params = est.get_params()
        jobs[key] = (pickle.dumps(est), jl_path, X, y, kind, params, type(est).__name__)
        for tag in ("pickle", "joblib"):
            expected[f"{key}-{tag}"] = outputs(est, kind, X)
        if params["solver"] != "lbfgs":
            expected[f"{key}-continued"] = flat_params(
                partial_fit(pickle.loads(pickle.dumps(est)), kind, X, y))
        # n_jobs=1 here, n_jobs=2 in the child: same weights
        fresh = clone(est).set_params(n_jobs=1)
        expected[f"{key}-fresh"] = flat_params(fit(fresh, kind, X, y))
    with open(tmp_path / "jobs.pkl", "wb") as f:
        pickle.dump(jobs, f)
    script = tmp_path / "child.py"
    script.write_text(SUBPROCESS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                          cwd=tmp_path, capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(tmp_path / "out.npz")
    assert sorted(got.files) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    import json

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["initialized_at_import"] is False
    default = ["tbb", "omp", "workqueue"]
    assert report["priority_at_import"] == report["priority_after"]
    if "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
        assert report["priority_after"] == default
        assert report["layer"] in ("tbb", "omp", "workqueue")


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
    # Layers large enough for the parallel dense kernels (batch 200 x 16 x 512
    # multiply-adds, above sknn._layers.PARALLEL_MIN_MACS) when n_jobs > 1.
    est, kind = make(name, **{"hidden_layer_sizes": (512,), "n_jobs": 2,
                              "max_iter": 2, **params})
    X, y = data(kind, n=n, n_features=N_FEATURES)
    return est, kind, X, y


def test_threading_layer_choice():
    layer = threads.threading_layer()
    assert layer == numba.threading_layer()
    if layer == "workqueue":
        assert threads._launch_lock is not None
    configured = threads._user_configured_layer()
    if not configured:
        # omp's launches cost ~1 us against ~90 us for workqueue: workqueue is
        # only the fallback when neither tbb nor an OpenMP runtime loads.
        assert layer in ("tbb", "omp", "workqueue")
    from numba.core import config

    if "NUMBA_THREADING_LAYER_PRIORITY" not in os.environ:
        assert list(config.THREADING_LAYER_PRIORITY) == ["tbb", "omp", "workqueue"]


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
    fit(est, kind, X, y)  # the parent has run parallel kernels
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
    # Under GNU OpenMP the child runs the kernels' serial twins (same chunks,
    # same order), so it must still match the parent bit for bit.
    assert status == "ok", out
    assert proc.exitcode == 0
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(fresh, ref_fresh)


GNU_OMP_FORK_SCRIPT = textwrap.dedent("""
    import multiprocessing as mp, warnings
    import numba, numpy as np
    from sknn import MLPRegressorX
    warnings.simplefilter("ignore")
    rng = np.random.RandomState(0)
    X = rng.rand(2000, 64); y = X[:, 0]
    est = MLPRegressorX(hidden_layer_sizes=(256,), max_iter=1, n_jobs=2,
                        random_state=0).fit(X, y)
    ref = est.predict(X)
    print("layer", numba.threading_layer())

    def child(conn):
        try:
            conn.send(bool(np.array_equal(est.predict(X), ref)))
        except Exception as exc:
            conn.send(repr(exc))

    ctx = mp.get_context("fork")
    a, b = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(b,))
    p.start()
    print("child:", a.recv() if a.poll(300) else "nothing")
    p.join(300)
    print("exitcode", p.exitcode)
    print("parent still works", bool(np.isfinite(est.predict(X)).all()))
""")


@pytest.mark.skipif(sys.platform != "linux", reason="GNU OpenMP fork issue: Linux")
def test_gnu_openmp_fork_child_runs_serial_twins(tmp_path):
    """libgomp kills a forked child at its first parallel region; sknn's
    kernels run their serial twins there instead, with identical results."""
    script = tmp_path / "omp_fork.py"
    script.write_text(GNU_OMP_FORK_SCRIPT)
    env = {**os.environ, "NUMBA_THREADING_LAYER": "omp"}
    proc = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    if proc.returncode and "No threading layer could be loaded" in proc.stderr:
        pytest.skip("the OpenMP threading layer is not available here")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "layer omp" in proc.stdout  # the user's choice is respected
    from numba.np.ufunc import omppool  # available, as the child used it

    if getattr(omppool, "openmp_vendor", "GNU") != "GNU":
        pytest.skip("not GNU OpenMP")
    assert "child: True" in proc.stdout, proc.stdout
    assert "exitcode 0" in proc.stdout
    assert "parent still works True" in proc.stdout


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


# -- the Numba cache on a read-only install --------------------------------------------
READONLY_SCRIPT = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("error")
    from sklearn.exceptions import ConvergenceWarning
    warnings.simplefilter("ignore", ConvergenceWarning)
    import numpy as np
    import sknn
    assert sknn.__file__.startswith(sys.argv[1]), sknn.__file__
    X = np.random.RandomState(0).rand(50, 4)
    est = sknn.MLPRegressorX(hidden_layer_sizes=(3,), max_iter=3, n_jobs=1,
                             random_state=0).fit(X, X.sum(axis=1))
    np.save(sys.argv[2], est.predict(X))
""")


def _readonly_command(root, code, args):
    """Command running ``code`` with the directory ``root`` read-only."""
    if os.geteuid() != 0:
        return [sys.executable, "-c", code, *args], True
    # root ignores permissions: use a private read-only bind mount instead
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: cannot make a read-only dir")
    script = (f'mount --bind "{root}" "{root}" && '
              f'mount -o remount,bind,ro "{root}" && exec "$0" "$@"')
    return ["unshare", "-m", "sh", "-c", script, sys.executable, "-c", code,
            *args], False


def _set_writable(path, writable):
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in [dirpath] + [os.path.join(dirpath, f) for f in filenames]:
            mode = os.stat(name).st_mode
            os.chmod(name, mode | 0o200 if writable else mode & ~0o222)


@pytest.mark.parametrize("user_cache", ["writable", "read-only"])
def test_read_only_install(tmp_path, user_cache):
    root = tmp_path / "ro"
    site = root / "site-packages"
    shutil.copytree(os.path.dirname(sknn.__file__), site / "sknn",
                    ignore=shutil.ignore_patterns("__pycache__"))
    home = (root if user_cache == "read-only" else tmp_path) / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "PYTHONPATH")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHONPATH=str(site))
    out = tmp_path / "pred.npy"
    cmd, chmod = _readonly_command(root, READONLY_SCRIPT, [str(site), str(out)])
    if chmod:
        _set_writable(root, False)
    try:
        proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=SUBPROCESS_TIMEOUT)
    finally:
        if chmod:
            _set_writable(root, True)
    if proc.returncode and proc.stderr.startswith(("unshare:", "mount:")):
        pytest.skip(f"cannot create a read-only mount here: {proc.stderr[-200:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == "" and proc.stdout == ""  # nothing alarming
    X = np.random.RandomState(0).rand(50, 4)
    ref = sknn.MLPRegressorX(hidden_layer_sizes=(3,), max_iter=3, n_jobs=1,
                             random_state=0)
    np.testing.assert_array_equal(np.load(out), quiet(ref.fit, X, X.sum(axis=1))
                                  .predict(X))
    assert not list(site.rglob("*.nbi"))  # nothing written into the install
    cached = list(home.rglob("*.nbi"))
    assert bool(cached) == (user_cache == "writable")


# -- reproducibility --------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_same_random_state_same_weights_for_any_n_jobs(name):
    fits = []
    for n_jobs in (1, 2, -1, None, 1):
        est, kind, X, y = _parallel_sized(name, n=600, n_jobs=n_jobs, dropout=0.1)
        fits.append(fit(est, kind, X, y))
    for other in fits[1:]:
        assert_same_weights(fits[0], other)


# -- lazy Numba ---------------------------------------------------------------


def test_import_sknn_does_not_import_numba_and_first_call_binds_kernels():
    """``import sknn`` loads neither Numba nor llvmlite (a third of a second);
    the first fit materializes every kernel: module namespaces then hold the
    real dispatchers (no placeholder, ``numba.prange`` in the kernel modules)
    and the fit matches a process where Numba was imported first."""
    code = """
import sys
import sknn
assert 'numba' not in sys.modules and 'llvmlite' not in sys.modules, 'eager'
import numpy as np
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
X = X[:300] / 16.0
m = sknn.MLPClassifierX(hidden_layer_sizes=(300,), max_iter=3, random_state=0)
import warnings
warnings.simplefilter("ignore")
m.fit(X, y[:300])
import numba
from sknn import _jit
from sknn._kernels import dense, optim
assert dense.prange is numba.prange and optim.prange is numba.prange
for mod in [m for n, m in sys.modules.items() if n.startswith('sknn')]:
    for k, v in vars(mod).items():
        assert not isinstance(v, (_jit.LazyKernel, _jit._PrangePlaceholder)), (mod, k)
np.save(sys.argv[1], m.predict_proba(X))
"""

    from sklearn.datasets import load_digits

    from sknn import MLPClassifierX

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.npy")
        subprocess.run([sys.executable, "-c", code, path], check=True,
                       capture_output=True, text=True)
        lazy = np.load(path)
    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    here = MLPClassifierX(hidden_layer_sizes=(300,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        here.fit(X, y[:300])
    np.testing.assert_array_equal(lazy, here.predict_proba(X))


def test_precompile_reaches_the_parallel_kernels():
    """``sknn.precompile()`` (run by the session fixture) compiles the
    parallel kernels that only big layers use, in both float dtypes, so a
    precompiled cache covers large models too."""
    import numba

    from sknn._kernels import dense, losses, optim

    for kern in (dense.dense_forward_parallel, dense.dense_backward_parallel,
                 dense.dense_backward_pair,
                 dense.gather_batch_parallel, optim._step_parallel,
                 losses.link_loss_grad_parallel):
        dispatcher = getattr(kern, "dispatcher", kern)
        floats = {arg.dtype for sig in dispatcher.signatures for arg in sig
                  if isinstance(arg, numba.types.Array)
                  and isinstance(arg.dtype, numba.types.Float)}
        assert floats >= {numba.float32, numba.float64}, (kern, floats)


def test_no_kernel_gets_a_raw_prange_index():
    """A ``prange`` index is int64 when Numba types a kernel and uint64 in the
    parallel loop body, so a kernel called with the raw index compiles twice
    (a cold digits ``ConvClassifier`` fit paid ~1.9 s for it).  Every call in
    a ``prange`` body must pass the index converted (``prange_index(i)``) or
    derived (``i // F``), never as is."""
    import ast
    import pathlib

    kernel_dir = pathlib.Path(sknn.__file__).parent / "_kernels"
    offenders = []
    for path in sorted(kernel_dir.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for loop in ast.walk(tree):
            if not (isinstance(loop, ast.For) and isinstance(loop.iter, ast.Call)
                    and getattr(loop.iter.func, "id", None) == "prange"):
                continue
            index = loop.target.id
            for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
                if isinstance(node, ast.Call) and getattr(
                        node.func, "id", None) != "prange_index" and any(
                        isinstance(a, ast.Name) and a.id == index for a in node.args):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
