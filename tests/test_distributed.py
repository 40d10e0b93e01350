"""sknn on a real dask.distributed cluster (extra ``distributed``).

One LocalCluster of two worker *processes* (loopback only) serves the whole
module and is closed at module teardown, also when a test fails.  Fits use a
fixed ``random_state`` so a search on the cluster must reproduce the local
search exactly.
"""

import logging
import os
import warnings

import joblib
import numpy as np
import pytest
from _extras import require_extra, sknn_estimator
from sklearn.base import clone
from sklearn.model_selection import (
    GridSearchCV,
    RandomizedSearchCV,
    StratifiedKFold,
    cross_val_score,
)

require_extra("distributed")

import dask.array as da  # noqa: E402
from dask_ml.wrappers import Incremental  # noqa: E402
from distributed import Client, LocalCluster, get_task_stream  # noqa: E402

from sknn import MLPClassifierX  # noqa: E402

N_WORKERS = 2
THREADS_PER_WORKER = 1


@pytest.fixture(scope="module")
def client():
    with LocalCluster(
        n_workers=N_WORKERS,
        threads_per_worker=THREADS_PER_WORKER,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:480] / 16.0, y[:480]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def make(cls, **params):
    names = cls().get_params()
    return cls(**{k: v for k, v in params.items() if k in names})


def _small_mlp(**kw):
    # One kernel thread here as on the workers, so the local reference run and
    # the cluster run are bit-for-bit comparable whatever this machine's cores.
    return MLPClassifierX(hidden_layer_sizes=(16,), max_iter=15, random_state=0,
                          n_jobs=1, **kw)


def _search_on_cluster(client, search, X, y):
    """Fit ``search`` with joblib's dask backend; return it and the tasks' workers."""
    with get_task_stream(client) as ts, joblib.parallel_config(backend="dask"):
        search.fit(X, y)
    return search, {t["worker"] for t in ts.data}


def _assert_same_search(local, remote):
    assert remote.best_params_ == local.best_params_
    n_splits = local.n_splits_
    for key in ["mean_test_score", "rank_test_score"] + [
        f"split{i}_test_score" for i in range(n_splits)
    ]:
        np.testing.assert_array_equal(remote.cv_results_[key],
                                      local.cv_results_[key], err_msg=key)
    assert remote.cv_results_["params"] == local.cv_results_["params"]


def test_worker_thread_budget(client):
    """Kernels on a worker use the worker's budget, not all the machine's cores."""
    from sknn._runtime import kernel_threads

    def threads():
        with kernel_threads(None) as plan:
            return os.environ.get("OMP_NUM_THREADS"), plan.n_threads

    result = client.run(threads)
    assert len(result) == N_WORKERS
    for omp, n in result.values():
        assert omp == str(THREADS_PER_WORKER)
        assert n == THREADS_PER_WORKER


def test_warming_each_worker_once_leaves_nothing_to_compile(client, data):
    """``client.run(sknn.precompile)`` (the README's recipe) fills or loads each
    worker's kernel cache once; the worker's fits then compile nothing."""
    import sknn

    seconds = client.run(sknn.precompile, verbose=False)
    assert len(seconds) == N_WORKERS and all(s > 0 for s in seconds.values())

    def fit_and_count(X, y):
        from sknn import _jit

        def compiled():  # signatures compiled (not loaded) in this process so far
            return sum(sum(lazy.target.stats.cache_misses.values())
                       for lazy in _jit._registry if lazy.target is not None
                       and not lazy.inline)

        before = compiled()
        clone(_small_mlp()).fit(X, y).predict_proba(X)
        return compiled() - before

    X, y = data
    futures = [client.submit(fit_and_count, X, y, workers=[w], pure=False)
               for w in client.scheduler_info()["workers"]]
    assert client.gather(futures) == [0] * N_WORKERS


def test_estimators_travel_between_processes(client, data):
    X, y = data
    local = clone(_small_mlp()).fit(X, y)
    # Fitted here, predicting there.
    remote_pred = client.submit(lambda est, X: (est.predict(X), est.predict_proba(X)),
                                local, X).result()
    np.testing.assert_array_equal(remote_pred[0], local.predict(X))
    np.testing.assert_array_equal(remote_pred[1], local.predict_proba(X))
    # Fitted there, predicting here: the same model as a local fit.
    remote = client.submit(lambda est, X, y: est.fit(X, y), clone(_small_mlp()),
                           X, y).result()
    for a, b in zip(local.coefs_ + local.intercepts_,
                    remote.coefs_ + remote.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_grid_search_on_cluster_matches_local(client, data):
    X, y = data
    grid = {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]}
    cv = StratifiedKFold(3)
    local = GridSearchCV(_small_mlp(), grid, cv=cv).fit(X, y)
    remote, workers = _search_on_cluster(
        client, GridSearchCV(_small_mlp(), grid, cv=cv, n_jobs=-1), X, y)
    assert len(workers) == N_WORKERS  # the fits really ran on both workers
    _assert_same_search(local, remote)
    np.testing.assert_array_equal(remote.best_estimator_.predict_proba(X),
                                  local.best_estimator_.predict_proba(X))


def test_randomized_search_and_cross_val_score_on_cluster(client, data):
    X, y = data
    dist = {"alpha": [1e-5, 1e-4, 1e-3, 1e-1], "hidden_layer_sizes": [(8,), (16,)]}
    cv = StratifiedKFold(3)
    local = RandomizedSearchCV(_small_mlp(), dist, n_iter=3, cv=cv,
                               random_state=0).fit(X, y)
    remote, workers = _search_on_cluster(
        client, RandomizedSearchCV(_small_mlp(), dist, n_iter=3, cv=cv,
                                   random_state=0, n_jobs=-1), X, y)
    assert workers
    _assert_same_search(local, remote)

    expected = cross_val_score(_small_mlp(), X, y, cv=cv)
    with get_task_stream(client) as ts, joblib.parallel_config(backend="dask"):
        scores = cross_val_score(_small_mlp(), X, y, cv=cv, n_jobs=-1)
    assert ts.data
    np.testing.assert_array_equal(scores, expected)


def test_conv_grid_search_on_cluster_matches_local(client, data):
    ConvClassifier = sknn_estimator("ConvClassifier")
    X, y = data
    X, y = X[:240], y[:240]
    est = ConvClassifier(input_shape=(1, 8, 8), filters=(4,), max_iter=3,
                         random_state=0, n_jobs=1)
    grid = {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]}
    cv = StratifiedKFold(2)
    local = GridSearchCV(clone(est), grid, cv=cv).fit(X, y)
    remote, workers = _search_on_cluster(
        client, GridSearchCV(clone(est), grid, cv=cv, n_jobs=-1), X, y)
    assert workers
    _assert_same_search(local, remote)


# -- out of core: dask-ml's Incremental over chunked dask arrays -------------


def test_incremental_classifier_learns(client, data):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, y_train, X_test, y_test = X[:1500], y[:1500], X[1500:], y[1500:]
    Xd = da.from_array(X_train, chunks=(250, X.shape[1]))
    yd = da.from_array(y_train, chunks=250)
    inc = Incremental(MLPClassifierX(hidden_layer_sizes=(32,),
                                     learning_rate_init=0.01, random_state=0),
                      scoring="accuracy", shuffle_blocks=True, random_state=0)
    with get_task_stream(client) as ts:
        for _ in range(4):
            inc.partial_fit(Xd, yd, classes=np.arange(10))
    assert ts.data  # the partial_fit calls ran on the cluster
    assert isinstance(inc.estimator_, MLPClassifierX)
    assert inc.estimator_.t_ == 4 * X_train.shape[0]  # every block, every pass
    acc = inc.score(X_test, y_test)
    assert acc > 0.8, acc  # chance is 0.1
    # Prediction over a chunked array too.
    pred = inc.predict(da.from_array(X_test, chunks=100)).compute()
    np.testing.assert_array_equal(pred, inc.estimator_.predict(X_test))


def _reconstruction_error(ae, X):
    if hasattr(ae, "inverse_transform"):
        recon = ae.inverse_transform(ae.transform(X))
    else:
        recon = ae.predict(X)
    return float(np.mean((recon - X) ** 2))


def test_incremental_autoencoder_learns(client, data):
    AutoEncoderTransformer = sknn_estimator("AutoEncoderTransformer")
    from sklearn.datasets import load_digits

    X = load_digits().data[:1200] / 16.0
    Xd = da.from_array(X, chunks=(200, X.shape[1]))
    inc = Incremental(make(AutoEncoderTransformer, learning_rate_init=0.01,
                           random_state=0), shuffle_blocks=True, random_state=0)
    inc.partial_fit(Xd)
    first = _reconstruction_error(inc.estimator_, X)
    for _ in range(4):
        inc.partial_fit(Xd)
    last = _reconstruction_error(inc.estimator_, X)
    assert last < 0.8 * first, (first, last)
    codes = inc.transform(Xd).compute()
    np.testing.assert_allclose(codes, inc.estimator_.transform(X))
