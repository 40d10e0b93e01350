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


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bit_identical_across_fits_and_n_jobs(digits, solver, dtype):
    X, y = digits
    X = X.astype(dtype)
    params = dict(hidden_layer_sizes=(64, 32), solver=solver, max_iter=4,
                  dropout=0.2 if solver != "lbfgs" else 0.0, random_state=0)
    fits = [_fit(MLPClassifierX(n_jobs=n, **params), X, y) for n in (1, 2, 1, 2)]
    for other in fits[1:]:
        for a, b in zip(fits[0].coefs_ + fits[0].intercepts_,
                        other.coefs_ + other.intercepts_):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


def test_n_jobs_is_restored_after_calls(digits):
    X, y = digits
    before = numba.get_num_threads()
    reg = _fit(MLPRegressorX(hidden_layer_sizes=(4,), max_iter=1, n_jobs=1), X, y)
    assert numba.get_num_threads() == before
    reg.predict(X)
    assert numba.get_num_threads() == before
