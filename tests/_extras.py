"""Test helpers: optional extras (skip with a clear reason locally, fail in
CI), estimators that land later, runs at several thread counts, and small
estimators of every kind for the reliability tests (``test_threads``,
``test_interruption``, ``test_persistence``, ``test_cache``).

CI (``CI=true``, set by the CI runner) installs every extra (``.ci/run``), so
a missing one there is a broken install, not a reason to skip.
"""

import importlib
import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

EXTRAS = {
    "distributed": ("dask", "dask.array", "distributed", "dask_ml"),
    "onnx": ("skl2onnx", "onnx", "onnxruntime"),
    "skops": ("skops", "skops.io"),
}


def in_ci():
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_extra(extra):
    """Import every module of ``extra``; skip (locally) or fail (CI) if absent.

    Returns the list of imported modules, in ``EXTRAS[extra]`` order.
    """
    modules = []
    for name in EXTRAS[extra]:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            msg = (
                f"the optional extra {extra!r} is not installed ({name} is missing: "
                f"{exc}); install it with: pip install -e '.[{extra}]'"
            )
            if in_ci():
                pytest.fail(f"CI=true but {msg}", pytrace=False)
            pytest.skip(msg, allow_module_level=True)
    return modules


def sknn_estimator(name):
    """The class ``sknn.<name>``, or skip: for estimators that land later."""
    import sknn

    cls = getattr(sknn, name, None)
    if cls is None:
        pytest.skip(f"sknn.{name} is not available in this version of sknn")
    return cls


def one_and_all_threads(run):
    """``(run() on 1 Numba thread, run() on all of them)``, for bit-identity
    tests; the caller's thread count is restored."""
    import numba

    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        return one, run()
    finally:
        numba.set_num_threads(previous)


# -- small estimators of every kind, for the reliability tests --------------
N_FEATURES = 16  # one 1x4x4 image for ConvClassifier
COMMON = dict(max_iter=3, random_state=0)
SPECS = {
    "MLPClassifierX": ("classifier", dict(hidden_layer_sizes=(8,))),
    "MLPRegressorX": ("regressor", dict(hidden_layer_sizes=(8,))),
    "ConvClassifier": ("classifier", dict(input_shape=(1, 4, 4), filters=(2,),
                                          kernel_size=3, hidden_layer_sizes=(8,))),
    "ConvRegressor": ("regressor", dict(input_shape=(1, 4, 4), filters=(2,),
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
