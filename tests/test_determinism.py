"""Same random_state: bit-identical weights across fits and thread counts."""

import warnings

import numba
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sknn import MLPClassifierX, MLPRegressorX


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _assert_same_weights(fits):
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_ + fits[0].intercepts_,
                        other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bit_identical_across_fits_and_n_jobs(digits, solver, dtype):
    X, y = digits
    X = X.astype(dtype)
    params = dict(hidden_layer_sizes=(64, 32), solver=solver, max_iter=4,
                  dropout=0.2 if solver != "lbfgs" else 0.0, random_state=0)
    fits = [_fit(MLPClassifierX(n_jobs=n, **params), X, y) for n in (1, 2, 1, 2)]
    _assert_same_weights(fits)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def test_n_jobs_is_restored_after_calls(digits):
    X, y = digits
    before = numba.get_num_threads()
    reg = _fit(MLPRegressorX(hidden_layer_sizes=(4,), max_iter=1, n_jobs=1), X, y)
    assert numba.get_num_threads() == before
    reg.predict(X)
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_chunked_digits_layer_same_bits_on_every_threading_layer(digits, dtype,
                                                                 monkeypatch):
    # hidden (100,) at batch 200: the first layer has 200 x 64 x 100 = 1.28M
    # multiply-adds, so its forward pass runs in two row chunks and its
    # backward pass computes the two halves of dw side by side.  On Numba's
    # workqueue layer the same calls run serially (the forward kernel's serial
    # twin, the serial backward kernel); the weights must not depend on which.
    from sknn import _layers
    from sknn._kernels.dense import (
        dense_backward,
        dense_backward_pair,
        dense_forward,
        dense_forward_parallel,
    )

    X, y = digits
    X = X.astype(dtype)
    monkeypatch.setattr(_layers, "work_split", lambda: 2)  # two CPUs, as here
    layer = _layers.Dense(64, 100, "relu")
    layer.allocate(200, dtype)
    assert layer._fwd is dense_forward_parallel
    assert layer._bwd is dense_backward_pair
    wide = _layers.Dense(784, 256, "relu")
    wide.allocate(1, dtype)  # 200k MACs, but one row: no chunks, so no launch
    assert wide._fwd is dense_forward
    params = dict(hidden_layer_sizes=(100,), max_iter=3, random_state=0)
    fits = [_fit(MLPClassifierX(n_jobs=n, **params), X, y) for n in (1, 2)]
    monkeypatch.setattr(_layers, "threading_layer", lambda: "workqueue")
    layer.allocate(300, dtype)  # a new size re-chooses the kernels
    assert layer._fwd is dense_forward_parallel.serial
    assert layer._bwd is dense_backward
    fits.append(_fit(MLPClassifierX(n_jobs=2, **params), X, y))
    monkeypatch.undo()
    monkeypatch.setattr(_layers, "work_split", lambda: 1)  # a one-CPU machine
    layer.allocate(400, dtype)
    assert layer._fwd is dense_forward_parallel.serial
    assert layer._bwd is dense_backward
    _assert_same_weights(fits)
