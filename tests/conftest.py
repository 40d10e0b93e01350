"""Session-wide test setup.

Kernels compile once per dtype and are cached on disk (``cache=True``); the
session fixture below warms every estimator once at the start so individual
tests never pay compilation, and a fresh CI run pays it once per session.
"""

import warnings

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _warm_kernels():
    from sknn._precompile import warm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warm()
    yield


@pytest.fixture
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture
def rng():
    return np.random.default_rng(0)
